-- A process the gateway puts back into review after the portal's verdict was delivered
-- (Mobbscan's "pending") is reviewed again: its delivered decision is superseded, and
-- only decisions not superseded nor overturned count as the process's live one.
ALTER TABLE decisions ADD COLUMN superseded_at TEXT;
DROP INDEX decisions_one_live;
CREATE UNIQUE INDEX decisions_one_live ON decisions (process_id) WHERE state <> 'overturned' AND superseded_at IS NULL;
