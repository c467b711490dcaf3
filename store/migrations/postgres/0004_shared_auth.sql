-- PostgreSQL twin of migrations/sqlite/0025_shared_auth.sql: the same tables, BIGINT for
-- integers, no STRICT.
-- Sign-in state every portal instance shares (issue 13, item 2): what used to live in
-- one instance's memory, so that with several instances behind a proxy an attacker
-- does not get one password budget per instance, and a single sign-on's callback may
-- land on another instance than the one that started it. Times are store.timeLayout
-- text. Neither table refers to users: an account key may name no account (A4).

-- Per-account sign-in throttle (A3): failures since the last lock or success, locks
-- since the last success, the current lock. forget_at is when nothing here matters any
-- more (the lock is over and the last failure is old): rows are read as gone from then
-- and swept, and a sweep also caps the row count (auth.ThrottleConfig.MaxAccounts).
CREATE TABLE login_throttle (
	account      TEXT    NOT NULL PRIMARY KEY CHECK (length(account) <= 300), -- folded email, or "second factor: " + email
	failures     BIGINT  NOT NULL CHECK (failures >= 0),
	locks        BIGINT  NOT NULL CHECK (locks >= 0),
	locked_until TEXT    NOT NULL,
	last_failure TEXT    NOT NULL,
	forget_at    TEXT    NOT NULL
);
CREATE INDEX login_throttle_forget ON login_throttle (forget_at);

-- Started single sign-ons (A7), each spent by its first callback (DELETE … RETURNING).
-- The key is the SHA-256 of the state, never the state: the browser holds that.
CREATE TABLE oidc_pending (
	state_hash TEXT NOT NULL PRIMARY KEY CHECK (length(state_hash) = 64),
	nonce      TEXT NOT NULL CHECK (length(nonce) BETWEEN 1 AND 256),
	verifier   TEXT NOT NULL CHECK (length(verifier) BETWEEN 43 AND 128), -- RFC 7636
	next       TEXT NOT NULL CHECK (length(next) <= 2048),
	expires_at TEXT NOT NULL
);
-- Expiry sweeps and the count of sign-ins in progress (OIDCConfig.MaxPending) use it.
CREATE INDEX oidc_pending_expires ON oidc_pending (expires_at);
