-- Case timeline and internal notes (issue 11). The timeline of a process is merged from
-- its audit rows, the process events below and its notes, each read newest first by id
-- through an index that starts with the process, so a page costs the same however long
-- the tables grow.

-- What the audit trail does not record of a process: each webhook notification
-- received, its entering the index and each change of its status at the gateway.
-- Written in the transaction that records the change (by the store's upsert and
-- MarkGone, by the triggers below for notifications); append-only. The process id has
-- no foreign key: a notification may name a process not indexed yet.
CREATE TABLE process_events (
	id         INTEGER PRIMARY KEY,
	process_id TEXT    NOT NULL CHECK (length(process_id) BETWEEN 1 AND 128),
	at         TEXT    NOT NULL,
	kind       TEXT    NOT NULL CHECK (kind IN ('notified', 'indexed', 'status', 'gone')),
	status     TEXT    NOT NULL DEFAULT '' CHECK (length(status) <= 64),
	stage      TEXT    NOT NULL DEFAULT '' CHECK (length(stage) <= 64),
	detail     TEXT    NOT NULL DEFAULT '' CHECK (length(detail) <= 200)
) STRICT;
CREATE INDEX process_events_process ON process_events (process_id, id);

-- Each notification received, duplicates too: written with the inbox row (a duplicate
-- folds into the waiting row and bumps its version), at the same instant.
CREATE TRIGGER process_events_notified AFTER INSERT ON webhook_inbox
BEGIN
	INSERT INTO process_events (process_id, at, kind, status) VALUES (NEW.process_id, NEW.received_at, 'notified', NEW.status);
END;
CREATE TRIGGER process_events_notified_again AFTER UPDATE OF version ON webhook_inbox
	WHEN NEW.version <> OLD.version
BEGIN
	INSERT INTO process_events (process_id, at, kind, status) VALUES (NEW.process_id, NEW.received_at, 'notified', NEW.status);
END;

CREATE TRIGGER process_events_no_update BEFORE UPDATE ON process_events
BEGIN
	SELECT RAISE(ABORT, 'process_events is append-only');
END;
CREATE TRIGGER process_events_no_delete BEFORE DELETE ON process_events
BEGIN
	SELECT RAISE(ABORT, 'process_events is append-only');
END;

-- Internal notes on a case: never sent to the gateway, never edited. A mistake is put
-- right by a later note that names it (corrects). The length and characters are
-- review.LimitCaseNote's to check; the CHECK here is only a backstop.
CREATE TABLE notes (
	id         INTEGER PRIMARY KEY,
	process_id TEXT    NOT NULL REFERENCES processes (id),
	author_id  INTEGER NOT NULL REFERENCES users (id),
	at         TEXT    NOT NULL,
	body       TEXT    NOT NULL CHECK (length(body) <= 4000),
	corrects   INTEGER REFERENCES notes (id),
	purged_at  TEXT,    -- retention cleared the body with the process's identity data
	CHECK ((purged_at IS NULL) = (length(body) > 0))
) STRICT;
CREATE INDEX notes_process ON notes (process_id, id);

-- A correction names an earlier note of the same process.
CREATE TRIGGER notes_corrects_same_process BEFORE INSERT ON notes
	WHEN NEW.corrects IS NOT NULL AND NOT EXISTS (SELECT 1 FROM notes WHERE id = NEW.corrects AND process_id = NEW.process_id)
BEGIN
	SELECT RAISE(ABORT, 'a correction names an earlier note of the same process');
END;

-- Append-only, but for the one change retention makes (P2): the body of a note of a
-- purged process is cleared once, everything else stays.
CREATE TRIGGER notes_no_update BEFORE UPDATE ON notes
	WHEN NOT (OLD.purged_at IS NULL AND NEW.purged_at IS NOT NULL AND NEW.body = ''
		AND NEW.id = OLD.id AND NEW.process_id = OLD.process_id AND NEW.author_id = OLD.author_id
		AND NEW.at = OLD.at AND NEW.corrects IS OLD.corrects)
BEGIN
	SELECT RAISE(ABORT, 'notes are append-only');
END;
CREATE TRIGGER notes_no_delete BEFORE DELETE ON notes
BEGIN
	SELECT RAISE(ABORT, 'notes are append-only');
END;
