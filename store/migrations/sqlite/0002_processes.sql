-- The local index of Mobbscan processes (there is no list endpoint at the gateway), the
-- durable inbox of webhook notifications and the record of evidence views per claim.
-- Only what the queue needs is kept (P2): no identity data beyond the holder's name.

CREATE TABLE processes (
	id                 TEXT    PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
	source             TEXT    NOT NULL CHECK (source IN ('webhook', 'created', 'tracked')),
	status             TEXT    NOT NULL DEFAULT 'UNKNOWN' CHECK (status IN ('PENDING', 'VERIFIED', 'NOT_VERIFIED', 'UNKNOWN')),
	raw_status         TEXT    NOT NULL DEFAULT '' CHECK (length(raw_status) <= 64),
	stage              TEXT    NOT NULL DEFAULT '' CHECK (length(stage) <= 64),
	reviewable         INTEGER NOT NULL DEFAULT 0 CHECK (reviewable IN (0, 1)),
	final              INTEGER NOT NULL DEFAULT 0 CHECK (final IN (0, 1)),
	gone               INTEGER NOT NULL DEFAULT 0 CHECK (gone IN (0, 1)),
	created_at         TEXT,
	updated_at         TEXT,
	review_since       TEXT,
	country            TEXT    NOT NULL DEFAULT '' CHECK (length(country) <= 8),
	doc_type           TEXT    NOT NULL DEFAULT '' CHECK (length(doc_type) <= 64),
	holder_name        TEXT    NOT NULL DEFAULT '' CHECK (length(holder_name) <= 300),
	customer_ref       TEXT    NOT NULL DEFAULT '' CHECK (length(customer_ref) <= 200),
	failed             TEXT    NOT NULL DEFAULT '' CHECK (length(failed) <= 2000),
	score_facial       REAL,
	score_liveness     REAL,
	score_document     REAL,
	onboarding_url     TEXT    NOT NULL DEFAULT '' CHECK (length(onboarding_url) <= 2000),
	claimed_by         INTEGER REFERENCES users (id),
	claimed_at         TEXT,
	claim_expires_at   TEXT,
	first_seen_at      TEXT    NOT NULL,
	synced_at          TEXT,
	sync_due_at        TEXT    NOT NULL,
	sync_failures      INTEGER NOT NULL DEFAULT 0 CHECK (sync_failures >= 0),
	sync_error         TEXT    NOT NULL DEFAULT '' CHECK (length(sync_error) <= 500),
	CHECK ((claimed_by IS NULL) = (claim_expires_at IS NULL))
) STRICT;
CREATE INDEX processes_queue ON processes (reviewable, review_since, id);
CREATE INDEX processes_sync ON processes (final, gone, sync_due_at);
CREATE INDEX processes_claims ON processes (claimed_by, claim_expires_at);
CREATE INDEX processes_customer_ref ON processes (customer_ref);

-- One row per process with a notification not yet acted on: duplicates fold into it.
CREATE TABLE webhook_inbox (
	process_id      TEXT    PRIMARY KEY CHECK (length(process_id) BETWEEN 1 AND 128),
	status          TEXT    NOT NULL DEFAULT '' CHECK (length(status) <= 64),
	received_at     TEXT    NOT NULL,
	notifications   INTEGER NOT NULL DEFAULT 1 CHECK (notifications >= 1),
	version         INTEGER NOT NULL DEFAULT 1,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at TEXT    NOT NULL,
	last_error      TEXT    NOT NULL DEFAULT '' CHECK (length(last_error) <= 500)
) STRICT;
CREATE INDEX webhook_inbox_due ON webhook_inbox (next_attempt_at);

-- Evidence views, one per claim, user and kind: the audit row is written once.
CREATE TABLE evidence_views (
	process_id TEXT    NOT NULL,
	user_id    INTEGER NOT NULL REFERENCES users (id),
	claimed_at TEXT    NOT NULL,
	kind       TEXT    NOT NULL,
	viewed_at  TEXT    NOT NULL,
	PRIMARY KEY (process_id, user_id, claimed_at, kind)
) STRICT, WITHOUT ROWID;
