-- The queue's counters and filter choices, kept current by triggers in the very
-- transactions that change processes, so that no request counts the queue: its cost
-- does not grow with the number of processes in review.

-- How many processes are in review.
CREATE TABLE queue_total (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	n  INTEGER NOT NULL CHECK (n >= 0)
) STRICT;

-- Processes in review by the minute they entered review (unix time / 60; -1 when the
-- time is unknown): "waiting longer than the target" is the total minus the recent
-- minutes, so a count reads at most the minutes of the target, never the queue.
CREATE TABLE queue_minutes (
	minute INTEGER PRIMARY KEY,
	n      INTEGER NOT NULL CHECK (n >= 0)
) STRICT;

-- Processes in review by country and by document type: the queue's filter choices.
CREATE TABLE queue_choices (
	kind  TEXT    NOT NULL CHECK (kind IN ('country', 'doc_type')),
	value TEXT    NOT NULL,
	n     INTEGER NOT NULL CHECK (n >= 0),
	PRIMARY KEY (kind, value)
) STRICT, WITHOUT ROWID;

-- Live claims are few (one or two per agent): counted through this index by their
-- expiry, whatever the size of the queue.
CREATE INDEX processes_live_claims ON processes (claim_expires_at) WHERE reviewable = 1 AND claimed_by IS NOT NULL;

INSERT INTO queue_total (id, n) SELECT 1, count(*) FROM processes WHERE reviewable = 1;
INSERT INTO queue_minutes (minute, n)
	SELECT coalesce(unixepoch(substr(review_since, 1, 19)) / 60, -1), count(*) FROM processes WHERE reviewable = 1 GROUP BY 1;
INSERT INTO queue_choices (kind, value, n) SELECT 'country', country, count(*) FROM processes WHERE reviewable = 1 GROUP BY country;
INSERT INTO queue_choices (kind, value, n) SELECT 'doc_type', doc_type, count(*) FROM processes WHERE reviewable = 1 GROUP BY doc_type;

-- A process enters the counters when it is in review, and leaves them when it is not.
CREATE TRIGGER queue_counters_insert AFTER INSERT ON processes WHEN NEW.reviewable = 1
BEGIN
	UPDATE queue_total SET n = n + 1 WHERE id = 1;
	INSERT OR IGNORE INTO queue_minutes (minute, n) VALUES (coalesce(unixepoch(substr(NEW.review_since, 1, 19)) / 60, -1), 0);
	UPDATE queue_minutes SET n = n + 1 WHERE minute = coalesce(unixepoch(substr(NEW.review_since, 1, 19)) / 60, -1);
	INSERT OR IGNORE INTO queue_choices (kind, value, n) VALUES ('country', NEW.country, 0), ('doc_type', NEW.doc_type, 0);
	UPDATE queue_choices SET n = n + 1 WHERE (kind = 'country' AND value = NEW.country) OR (kind = 'doc_type' AND value = NEW.doc_type);
END;

CREATE TRIGGER queue_counters_delete AFTER DELETE ON processes WHEN OLD.reviewable = 1
BEGIN
	UPDATE queue_total SET n = n - 1 WHERE id = 1;
	UPDATE queue_minutes SET n = n - 1 WHERE minute = coalesce(unixepoch(substr(OLD.review_since, 1, 19)) / 60, -1);
	DELETE FROM queue_minutes WHERE minute = coalesce(unixepoch(substr(OLD.review_since, 1, 19)) / 60, -1) AND n = 0;
	UPDATE queue_choices SET n = n - 1 WHERE (kind = 'country' AND value = OLD.country) OR (kind = 'doc_type' AND value = OLD.doc_type);
	DELETE FROM queue_choices WHERE n = 0 AND ((kind = 'country' AND value = OLD.country) OR (kind = 'doc_type' AND value = OLD.doc_type));
END;

-- An update takes the old row out of the counters and puts the new one in, each only
-- when it is in review; updates that change none of the counted columns do nothing.
CREATE TRIGGER queue_counters_update_out AFTER UPDATE OF reviewable, review_since, country, doc_type ON processes
	WHEN OLD.reviewable = 1 AND (NEW.reviewable IS NOT OLD.reviewable OR NEW.review_since IS NOT OLD.review_since
		OR NEW.country IS NOT OLD.country OR NEW.doc_type IS NOT OLD.doc_type)
BEGIN
	UPDATE queue_total SET n = n - 1 WHERE id = 1;
	UPDATE queue_minutes SET n = n - 1 WHERE minute = coalesce(unixepoch(substr(OLD.review_since, 1, 19)) / 60, -1);
	DELETE FROM queue_minutes WHERE minute = coalesce(unixepoch(substr(OLD.review_since, 1, 19)) / 60, -1) AND n = 0;
	UPDATE queue_choices SET n = n - 1 WHERE (kind = 'country' AND value = OLD.country) OR (kind = 'doc_type' AND value = OLD.doc_type);
	DELETE FROM queue_choices WHERE n = 0 AND ((kind = 'country' AND value = OLD.country) OR (kind = 'doc_type' AND value = OLD.doc_type));
END;

CREATE TRIGGER queue_counters_update_in AFTER UPDATE OF reviewable, review_since, country, doc_type ON processes
	WHEN NEW.reviewable = 1 AND (NEW.reviewable IS NOT OLD.reviewable OR NEW.review_since IS NOT OLD.review_since
		OR NEW.country IS NOT OLD.country OR NEW.doc_type IS NOT OLD.doc_type)
BEGIN
	UPDATE queue_total SET n = n + 1 WHERE id = 1;
	INSERT OR IGNORE INTO queue_minutes (minute, n) VALUES (coalesce(unixepoch(substr(NEW.review_since, 1, 19)) / 60, -1), 0);
	UPDATE queue_minutes SET n = n + 1 WHERE minute = coalesce(unixepoch(substr(NEW.review_since, 1, 19)) / 60, -1);
	INSERT OR IGNORE INTO queue_choices (kind, value, n) VALUES ('country', NEW.country, 0), ('doc_type', NEW.doc_type, 0);
	UPDATE queue_choices SET n = n + 1 WHERE (kind = 'country' AND value = NEW.country) OR (kind = 'doc_type' AND value = NEW.doc_type);
END;
