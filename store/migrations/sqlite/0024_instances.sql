-- Several portal instances on one database (issue 13; store/instances.go). Each running
-- instance keeps its row alive with a heartbeat; a row whose expires_at has passed is an
-- instance that stopped. Names are PORTAL_INSTANCE (unique among running instances).
-- Times are store.timeLayout text.
CREATE TABLE instances (
	name       TEXT NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 255),
	started_at TEXT NOT NULL, -- this life's start: tells a previous life from a namesake
	seen_at    TEXT NOT NULL,
	expires_at TEXT NOT NULL
) STRICT;

-- Leases of the work that runs on one instance at a time (the "leader" lease: webhook
-- ingestion, reconciliation, retention, sweeps): taken when free or expired, renewed by
-- its holder.
CREATE TABLE job_leases (
	name       TEXT NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
	holder     TEXT NOT NULL CHECK (length(holder) BETWEEN 1 AND 255),
	expires_at TEXT NOT NULL
) STRICT;

-- The instance sending an outbox row (state 'sending'); NULL otherwise. A row whose
-- owner stopped is put back in the queue by the others; the owner's outcome is recorded
-- only while the row is still its attempt.
ALTER TABLE decisions ADD COLUMN sending_by TEXT CHECK (sending_by IS NULL OR length(sending_by) BETWEEN 1 AND 255);
ALTER TABLE erasures ADD COLUMN sending_by TEXT CHECK (sending_by IS NULL OR length(sending_by) BETWEEN 1 AND 255);
ALTER TABLE send_backs ADD COLUMN sending_by TEXT CHECK (sending_by IS NULL OR length(sending_by) BETWEEN 1 AND 255);
