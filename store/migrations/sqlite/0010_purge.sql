-- When retention or an erasure cleared the process's identity data from the index
-- (name, reference, scores); the id, status and decision stay.
ALTER TABLE processes ADD COLUMN purged_at TEXT;

-- When the gateway erasure of the process was queued (by retention or an admin's
-- "Erase now"); NULL while none was. Kept beside purged_at so that the retention worker
-- finds what is due through the partial indexes below.
ALTER TABLE processes ADD COLUMN erase_queued_at TEXT;

-- What the retention worker walks, oldest first: final (or gone) processes not purged
-- yet, and not erased yet, by the time of their last update at the gateway (or when the
-- portal first saw them). A purged or erased process leaves its index, so a batch costs
-- the same however long the history grows. The queries repeat these expressions and
-- terms exactly, so that SQLite uses the partial indexes.
CREATE INDEX processes_purge_due ON processes (coalesce(updated_at, first_seen_at), id)
	WHERE purged_at IS NULL AND (final = 1 OR gone = 1);
CREATE INDEX processes_erase_due ON processes (coalesce(updated_at, first_seen_at), id)
	WHERE erase_queued_at IS NULL AND (final = 1 OR gone = 1);

-- A purged process stays purged: a later read of the gateway (opening its page, a
-- webhook) must not put the identity data back into the index (P2). A process the
-- gateway puts back into review is in the workflow again: it is no longer purged, so
-- the queue shows its holder and retention starts over once it is final again.
CREATE TRIGGER processes_stay_purged AFTER UPDATE OF holder_name, customer_ref, failed, score_facial, score_liveness,
	score_document, onboarding_url ON processes
	WHEN NEW.purged_at IS NOT NULL AND NEW.reviewable = 0 AND (NEW.holder_name <> '' OR NEW.customer_ref <> ''
		OR NEW.failed <> '' OR NEW.onboarding_url <> '' OR NEW.score_facial IS NOT NULL
		OR NEW.score_liveness IS NOT NULL OR NEW.score_document IS NOT NULL)
BEGIN
	UPDATE processes SET holder_name = '', customer_ref = '', failed = '', score_facial = NULL, score_liveness = NULL,
		score_document = NULL, onboarding_url = '' WHERE id = NEW.id;
END;
CREATE TRIGGER processes_unpurge_on_review AFTER UPDATE OF reviewable ON processes
	WHEN NEW.reviewable = 1 AND NEW.purged_at IS NOT NULL
BEGIN
	UPDATE processes SET purged_at = NULL WHERE id = NEW.id;
END;

-- Erasures at the gateway (DELETE …/verification/{id}): the outbox of the retention
-- worker and of "Erase now", with the discipline of the decision outbox. A row is written
-- in the transaction that purges the process; the worker marks it 'sending' before the
-- call, so a crash leaves it 'sending' and the next start puts it back in the queue. One
-- row per process, ever: a process is erased once.
CREATE TABLE erasures (
	id                INTEGER PRIMARY KEY,
	process_id        TEXT    NOT NULL UNIQUE REFERENCES processes (id),
	state             TEXT    NOT NULL CHECK (state IN ('queued', 'sending', 'done', 'failed', 'parked')),
	requested_by      INTEGER REFERENCES users (id), -- NULL: the retention worker
	requested_at      TEXT    NOT NULL,
	deliverable_since TEXT    NOT NULL,             -- requested, or put back in the queue by a person: parking counts from here
	attempts          INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	next_attempt_at   TEXT,
	ambiguous         INTEGER NOT NULL DEFAULT 0 CHECK (ambiguous IN (0, 1)),
	last_error        TEXT    NOT NULL DEFAULT '' CHECK (length(last_error) <= 500),
	done_at           TEXT,
	updated_at        TEXT    NOT NULL,
	CHECK ((state = 'queued') = (next_attempt_at IS NOT NULL)),
	CHECK ((state = 'done') = (done_at IS NOT NULL))
) STRICT;
CREATE INDEX erasures_due ON erasures (state, next_attempt_at);

-- A purge clears the internal notes and corrections of every decision of the process
-- (overturned and superseded ones too), found by process id whatever their state.
CREATE INDEX decisions_process ON decisions (process_id);
