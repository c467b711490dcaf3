-- Per-user preferences of the page shell (issue 12): the language ('' = the browser's),
-- the colour theme ('auto' follows the system's) and the time zone ('' = the browser's,
-- else an IANA name, checked by the handler). A user without a row has the defaults.
CREATE TABLE user_preferences (
	user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	language   TEXT    NOT NULL DEFAULT '' CHECK (language IN ('', 'en', 'es')),
	theme      TEXT    NOT NULL DEFAULT 'auto' CHECK (theme IN ('auto', 'light', 'dark')),
	time_zone  TEXT    NOT NULL DEFAULT '' CHECK (length(time_zone) <= 64),
	updated_at TEXT    NOT NULL
) STRICT;
