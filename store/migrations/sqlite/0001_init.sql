-- Accounts, server-side sessions, one-time set-password links and the audit trail.
-- Times are UTC text in the fixed-width layout of store.timeLayout, so they sort as text.

CREATE TABLE users (
	id                   INTEGER PRIMARY KEY,
	email                TEXT    NOT NULL UNIQUE COLLATE NOCASE CHECK (length(email) BETWEEN 3 AND 254 AND email LIKE '%_@_%'),
	display_name         TEXT    NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
	role                 TEXT    NOT NULL CHECK (role IN ('agent', 'admin')),
	password_hash        TEXT    NOT NULL DEFAULT '',
	must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
	active               INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
	created_at           TEXT    NOT NULL,
	updated_at           TEXT    NOT NULL
) STRICT;

CREATE TABLE sessions (
	id           INTEGER PRIMARY KEY,
	token_hash   TEXT    NOT NULL UNIQUE CHECK (length(token_hash) = 64),
	user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at   TEXT    NOT NULL,
	last_seen_at TEXT    NOT NULL,
	expires_at   TEXT    NOT NULL,
	ip           TEXT    NOT NULL DEFAULT '',
	user_agent   TEXT    NOT NULL DEFAULT '' CHECK (length(user_agent) <= 512)
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE set_password_tokens (
	token_hash TEXT    PRIMARY KEY CHECK (length(token_hash) = 64),
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_by INTEGER REFERENCES users (id),
	created_at TEXT    NOT NULL,
	expires_at TEXT    NOT NULL,
	used_at    TEXT
) STRICT;
CREATE INDEX set_password_tokens_user ON set_password_tokens (user_id);

CREATE TABLE audit_events (
	id          INTEGER PRIMARY KEY,
	at          TEXT    NOT NULL,
	actor_id    INTEGER,
	actor       TEXT    NOT NULL DEFAULT '',
	ip          TEXT    NOT NULL DEFAULT '',
	request_id  TEXT    NOT NULL DEFAULT '',
	action      TEXT    NOT NULL CHECK (length(action) BETWEEN 1 AND 64),
	object_type TEXT    NOT NULL DEFAULT '',
	object_id   TEXT    NOT NULL DEFAULT '',
	outcome     TEXT    NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
	detail      TEXT    NOT NULL DEFAULT '',
	prev_hash   TEXT    NOT NULL,
	hash        TEXT    NOT NULL UNIQUE
) STRICT;
CREATE INDEX audit_events_object ON audit_events (object_type, object_id);
CREATE INDEX audit_events_actor ON audit_events (actor_id);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
	SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
	SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TABLE settings (
	key        TEXT PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 64),
	value      TEXT NOT NULL,
	updated_at TEXT NOT NULL
) STRICT;
