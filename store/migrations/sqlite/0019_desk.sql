-- Running the desk: skipped cases, escalation, sending finished processes back to review
-- at the gateway (an outbox like decisions and erasures) and QA sampling.

-- A skip keeps a case out of one agent's "Next case" until a time. One row per agent and
-- process: skipping again moves the time.
CREATE TABLE skips (
	user_id    INTEGER NOT NULL REFERENCES users (id),
	process_id TEXT    NOT NULL REFERENCES processes (id),
	until      TEXT    NOT NULL,
	PRIMARY KEY (user_id, process_id)
) STRICT, WITHOUT ROWID;

-- An escalated case waits in the Escalated view for an administrator; the escalation
-- ends when the case leaves review (decided, gone, put back by the gateway).
ALTER TABLE processes ADD COLUMN escalated_at TEXT;
ALTER TABLE processes ADD COLUMN escalated_by INTEGER REFERENCES users (id);
ALTER TABLE processes ADD COLUMN escalation_note TEXT NOT NULL DEFAULT '' CHECK (length(escalation_note) <= 2000);
-- Picked by QA sampling: the gateway verified it automatically and the portal sent it
-- back for a human check. Kept for the history.
ALTER TABLE processes ADD COLUMN qa_sampled INTEGER NOT NULL DEFAULT 0 CHECK (qa_sampled IN (0, 1));

-- The Escalated view reads only escalated cases, in queue order.
CREATE INDEX processes_escalated ON processes (review_since, id) WHERE reviewable = 1 AND escalated_at IS NOT NULL;

CREATE TRIGGER processes_escalation_ends AFTER UPDATE OF reviewable ON processes
	WHEN NEW.reviewable = 0 AND NEW.escalated_at IS NOT NULL
BEGIN
	UPDATE processes SET escalated_at = NULL, escalated_by = NULL, escalation_note = '' WHERE id = NEW.id;
END;

-- Requests to send a finished process back to manual review at the gateway
-- (POST /mobbscan-agent/pending): never lost, never sent twice at once; the gateway
-- leaves a process already in review alone, so a repeat after a lost answer is harmless.
CREATE TABLE send_backs (
	id                INTEGER PRIMARY KEY,
	process_id        TEXT    NOT NULL REFERENCES processes (id),
	state             TEXT    NOT NULL CHECK (state IN ('queued', 'sending', 'done', 'failed', 'parked')),
	requested_by      INTEGER REFERENCES users (id), -- NULL: QA sampling
	requested_at      TEXT    NOT NULL,
	reason            TEXT    NOT NULL DEFAULT '' CHECK (length(reason) <= 2000),
	deliverable_since TEXT    NOT NULL,
	attempts          INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	next_attempt_at   TEXT,
	ambiguous         INTEGER NOT NULL DEFAULT 0 CHECK (ambiguous IN (0, 1)),
	last_error        TEXT    NOT NULL DEFAULT '' CHECK (length(last_error) <= 500),
	done_at           TEXT,
	updated_at        TEXT    NOT NULL,
	CHECK ((state = 'queued') = (next_attempt_at IS NOT NULL)),
	CHECK ((state = 'done') = (done_at IS NOT NULL))
) STRICT;
CREATE INDEX send_backs_due ON send_backs (state, next_attempt_at);
-- At most one open request per process.
CREATE UNIQUE INDEX send_backs_open ON send_backs (process_id) WHERE state IN ('queued', 'sending');
CREATE INDEX send_backs_process ON send_backs (process_id, id);
