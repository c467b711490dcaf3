// shell.js: issue 12
"use strict";
