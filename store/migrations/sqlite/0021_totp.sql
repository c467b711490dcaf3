-- TOTP second factor (RFC 6238, quality bar A6, A8): one authenticator per account, an
-- enrolment waiting for its first code, hashed single-use recovery codes, and the
-- pending sign-ins between the password and the second factor.

-- The confirmed authenticator of an account. last_counter is the time step of the last
-- code accepted: a code is accepted once only, so a step <= last_counter is refused.
CREATE TABLE totp_secrets (
	user_id      INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	secret       TEXT    NOT NULL CHECK (length(secret) BETWEEN 16 AND 128),
	enrolled_at  TEXT    NOT NULL,
	last_counter INTEGER NOT NULL DEFAULT 0 CHECK (last_counter >= 0),
	last_used_at TEXT
) STRICT;

-- An enrolment shown to the user (QR code and secret) that no code has confirmed yet.
-- At most one per account; confirming it moves the secret to totp_secrets.
CREATE TABLE totp_enrolments (
	user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	secret     TEXT    NOT NULL CHECK (length(secret) BETWEEN 16 AND 128),
	created_at TEXT    NOT NULL,
	expires_at TEXT    NOT NULL
) STRICT;

-- Recovery codes, shown once: only their SHA-256 is kept (they are 80 random bits, so a
-- fast hash is enough, as for session tokens). Each works once.
CREATE TABLE recovery_codes (
	id         INTEGER PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	code_hash  TEXT    NOT NULL CHECK (length(code_hash) = 64),
	created_at TEXT    NOT NULL,
	used_at    TEXT,
	UNIQUE (user_id, code_hash)
) STRICT;

-- A password that was right, waiting for the second factor (verify) or for the user to
-- set one up because the settings require it (enrol). Not a session: it opens nothing
-- but the second step. The cookie holds an opaque token; this table its SHA-256.
CREATE TABLE pending_signins (
	token_hash TEXT    PRIMARY KEY CHECK (length(token_hash) = 64),
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	purpose    TEXT    NOT NULL CHECK (purpose IN ('verify', 'enrol')),
	next       TEXT    NOT NULL DEFAULT '' CHECK (length(next) <= 512),
	created_at TEXT    NOT NULL,
	expires_at TEXT    NOT NULL
) STRICT;
CREATE INDEX pending_signins_user ON pending_signins (user_id);
CREATE INDEX pending_signins_expiry ON pending_signins (expires_at);
