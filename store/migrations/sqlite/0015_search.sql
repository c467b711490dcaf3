-- The history of every process ("Processes") and its search.
--
-- process_history is a read model of processes kept current by triggers: one row per
-- process with what the history filters and sorts on (where the process stands, its live
-- decision, its last activity). It is written only by the triggers below; the store reads it.
--
-- Order: newest activity first. The activity of a process is the later of its last update
-- at Mobbscan (or, if Mobbscan gave none, when the portal first saw it) and the time of
-- its live decision. ak ("activity key") packs that instant, to the second, with seq:
--     ak = (seconds since 2000-01-01 UTC) << 31 | seq
-- so one unique integer orders the whole history (activity second, then seq) and is the
-- keyset cursor. It is also the rowid of the process's entry in process_search, so a
-- full-text match comes out of the index already in history order and a page of a common
-- name (thousands of matches) reads one page of matches, not all of them.
-- seq is the process's stable integer key (processes has a TEXT key, and its implicit
-- rowid may change on VACUUM); 31 bits of it leave 32 bits of seconds (until 2136).

CREATE TABLE process_history (
	seq        INTEGER PRIMARY KEY CHECK (seq BETWEEN 1 AND 2147483647),
	process_id TEXT    NOT NULL UNIQUE,
	state      TEXT    NOT NULL CHECK (state IN ('open', 'review', 'decided', 'accepted', 'rejected', 'gone', 'purged')),
	updated_at TEXT    NOT NULL,
	verdict    TEXT    CHECK (verdict IN ('accept', 'reject')),
	decided_by INTEGER,
	decided_at TEXT,
	ak         INTEGER NOT NULL GENERATED ALWAYS AS (
		(min(max(coalesce(unixepoch(max(updated_at, coalesce(decided_at, ''))), 0) - 946684800, 0), 4294967295) << 31) | seq) STORED
) STRICT;

-- One index per combination of the equality filters (state, verdict, decided by), each
-- ending in ak: every filtered first page (and a date range on it) is read in order from
-- its index and stops at the page's last row. Rows without a decision are left out of the
-- indexes that need one. store/history.go names them (INDEXED BY) after their columns.
CREATE UNIQUE INDEX process_history_ak ON process_history (ak);
CREATE INDEX process_history_state_ak ON process_history (state, ak);
CREATE INDEX process_history_verdict_ak ON process_history (verdict, ak) WHERE verdict IS NOT NULL;
CREATE INDEX process_history_state_verdict_ak ON process_history (state, verdict, ak) WHERE verdict IS NOT NULL;
CREATE INDEX process_history_by_ak ON process_history (decided_by, ak) WHERE decided_by IS NOT NULL;
CREATE INDEX process_history_by_verdict_ak ON process_history (decided_by, verdict, ak) WHERE decided_by IS NOT NULL;
CREATE INDEX process_history_by_state_ak ON process_history (decided_by, state, ak) WHERE decided_by IS NOT NULL;
CREATE INDEX process_history_by_state_verdict_ak ON process_history (decided_by, state, verdict, ak) WHERE decided_by IS NOT NULL;

-- Where a process stands, from its row in processes (the one place this is worked out;
-- store.HistoryState names the values), in this order:
--   purged    retention or an erasure cleared its identity data (process_history_source)
--   gone      Mobbscan no longer knows it
--   review    awaiting review
--   accepted  final at Mobbscan: VERIFIED
--   rejected  final at Mobbscan: NOT_VERIFIED
--   decided   decided here; Mobbscan has no final verdict yet (the delivery is under way)
--   open      anything else: the customer has not finished, the link expired, status unknown
CREATE VIEW process_history_state AS
SELECT p.id AS process_id,
	CASE
		WHEN p.gone = 1 THEN 'gone'
		WHEN p.reviewable = 1 THEN 'review'
		WHEN p.final = 1 AND p.status = 'VERIFIED' THEN 'accepted'
		WHEN p.final = 1 AND p.status = 'NOT_VERIFIED' THEN 'rejected'
		WHEN p.decided = 1 THEN 'decided'
		ELSE 'open'
	END AS state,
	coalesce(p.updated_at, p.first_seen_at) AS updated_at,
	p.holder_name, p.customer_ref
FROM processes p;

-- The same with purging first, and the text the search may index: a purged process is
-- found by its id only, even if its name or reference were left behind.
-- (processes.purged_at comes from migration 0010.)
CREATE VIEW process_history_source AS
SELECT s.process_id, iif(p.purged_at IS NULL, s.state, 'purged') AS state, s.updated_at,
	iif(p.purged_at IS NULL, s.holder_name, '') AS holder, iif(p.purged_at IS NULL, s.customer_ref, '') AS ref
FROM process_history_state s JOIN processes p ON p.id = s.process_id;

-- The live decision of a process: neither overturned nor superseded (the terms of the
-- partial unique index decisions_one_live, so a lookup by process id uses it).
CREATE VIEW process_history_decision AS
SELECT process_id, verdict, decided_by, decided_at
FROM decisions WHERE state <> 'overturned' AND superseded_at IS NULL;

-- The search index: verification id, holder name and customer reference, by trigrams
-- (partial words), case- and accent-insensitive. Contentless: the text stays in processes;
-- a purged process keeps only its id here.
CREATE VIRTUAL TABLE process_search USING fts5 (
	id, holder, ref,
	tokenize = 'trigram remove_diacritics 1',
	content = '',
	contentless_delete = 1
);

-- The existing processes.
INSERT INTO process_history (process_id, state, updated_at, verdict, decided_by, decided_at)
SELECT s.process_id, s.state, s.updated_at, d.verdict, d.decided_by, d.decided_at
FROM process_history_source s LEFT JOIN process_history_decision d ON d.process_id = s.process_id
ORDER BY s.updated_at, s.process_id;

INSERT INTO process_search (rowid, id, holder, ref)
SELECT h.ak, s.process_id, s.holder, s.ref
FROM process_history h JOIN process_history_source s ON s.process_id = h.process_id
ORDER BY h.ak; -- in rowid order FTS5 writes one segment, not one per row

-- process_history follows processes and decisions.
CREATE TRIGGER processes_history_insert AFTER INSERT ON processes
BEGIN
	INSERT INTO process_history (process_id, state, updated_at, verdict, decided_by, decided_at)
	SELECT s.process_id, s.state, s.updated_at, d.verdict, d.decided_by, d.decided_at
	FROM process_history_source s LEFT JOIN process_history_decision d ON d.process_id = s.process_id
	WHERE s.process_id = new.id;
END;

CREATE TRIGGER processes_history_update AFTER UPDATE OF id, status, reviewable, final, gone, decided, updated_at, first_seen_at, purged_at ON processes
WHEN old.id IS NOT new.id OR old.status IS NOT new.status OR old.reviewable IS NOT new.reviewable OR old.final IS NOT new.final
	OR old.gone IS NOT new.gone OR old.decided IS NOT new.decided OR old.updated_at IS NOT new.updated_at
	OR old.first_seen_at IS NOT new.first_seen_at OR old.purged_at IS NOT new.purged_at
BEGIN
	UPDATE process_history SET (process_id, state, updated_at) =
		(SELECT s.process_id, s.state, s.updated_at FROM process_history_source s WHERE s.process_id = new.id)
	WHERE process_id = old.id;
END;

CREATE TRIGGER processes_history_delete AFTER DELETE ON processes
BEGIN
	DELETE FROM process_history WHERE process_id = old.id;
END;

CREATE TRIGGER decisions_history_insert AFTER INSERT ON decisions
BEGIN
	UPDATE process_history SET (verdict, decided_by, decided_at) =
		(SELECT d.verdict, d.decided_by, d.decided_at FROM process_history_decision d WHERE d.process_id = process_history.process_id)
	WHERE process_id = new.process_id;
END;

-- Only a change of the live decision matters: delivery attempts do not fire it.
CREATE TRIGGER decisions_history_update AFTER UPDATE OF process_id, verdict, decided_by, decided_at, state, superseded_at ON decisions
WHEN old.process_id IS NOT new.process_id OR old.verdict IS NOT new.verdict OR old.decided_by IS NOT new.decided_by
	OR old.decided_at IS NOT new.decided_at OR (old.state = 'overturned') IS NOT (new.state = 'overturned')
	OR old.superseded_at IS NOT new.superseded_at
BEGIN
	UPDATE process_history SET (verdict, decided_by, decided_at) =
		(SELECT d.verdict, d.decided_by, d.decided_at FROM process_history_decision d WHERE d.process_id = process_history.process_id)
	WHERE process_id IN (old.process_id, new.process_id);
END;

CREATE TRIGGER decisions_history_delete AFTER DELETE ON decisions
BEGIN
	UPDATE process_history SET (verdict, decided_by, decided_at) =
		(SELECT d.verdict, d.decided_by, d.decided_at FROM process_history_decision d WHERE d.process_id = process_history.process_id)
	WHERE process_id = old.process_id;
END;

-- process_search follows process_history (its rowid is ak, which moves with the
-- activity) and the text of processes.
CREATE TRIGGER process_history_search_insert AFTER INSERT ON process_history
BEGIN
	INSERT INTO process_search (rowid, id, holder, ref)
	SELECT new.ak, s.process_id, s.holder, s.ref
	FROM process_history_source s WHERE s.process_id = new.process_id;
END;

CREATE TRIGGER process_history_search_move AFTER UPDATE ON process_history
WHEN old.ak IS NOT new.ak
BEGIN
	DELETE FROM process_search WHERE rowid = old.ak;
	INSERT INTO process_search (rowid, id, holder, ref)
	SELECT new.ak, s.process_id, s.holder, s.ref
	FROM process_history_source s WHERE s.process_id = new.process_id;
END;

CREATE TRIGGER process_history_search_delete AFTER DELETE ON process_history
BEGIN
	DELETE FROM process_search WHERE rowid = old.ak;
END;

CREATE TRIGGER processes_search_update AFTER UPDATE OF id, holder_name, customer_ref, purged_at ON processes
WHEN old.id IS NOT new.id OR old.holder_name IS NOT new.holder_name OR old.customer_ref IS NOT new.customer_ref
	OR (old.purged_at IS NULL) IS NOT (new.purged_at IS NULL)
BEGIN
	UPDATE process_search SET (id, holder, ref) =
		(SELECT s.process_id, s.holder, s.ref FROM process_history_source s WHERE s.process_id = new.id)
	WHERE rowid = (SELECT ak FROM process_history WHERE process_id IN (old.id, new.id));
END;
