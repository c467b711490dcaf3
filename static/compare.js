// compare.js: issue 12
"use strict";
