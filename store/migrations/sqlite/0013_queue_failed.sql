-- The failed checks of the processes in review, one row per check in queue order, kept
-- by triggers: a "failed check" filter reads the rows it shows, not the whole queue.
CREATE TABLE queue_failed (
	name         TEXT NOT NULL,
	review_since TEXT NOT NULL,
	process_id   TEXT NOT NULL,
	PRIMARY KEY (name, review_since, process_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX queue_failed_process ON queue_failed (process_id);

INSERT INTO queue_failed (name, review_since, process_id)
	SELECT j.value, coalesce(p.review_since, ''), p.id
	FROM processes p, json_each('["' || replace(trim(p.failed, ','), ',', '","') || '"]') j
	WHERE p.reviewable = 1 AND p.failed <> '';

CREATE TRIGGER queue_failed_insert AFTER INSERT ON processes WHEN NEW.reviewable = 1 AND NEW.failed <> ''
BEGIN
	INSERT OR IGNORE INTO queue_failed (name, review_since, process_id)
		SELECT value, coalesce(NEW.review_since, ''), NEW.id FROM json_each('["' || replace(trim(NEW.failed, ','), ',', '","') || '"]');
END;

CREATE TRIGGER queue_failed_update AFTER UPDATE OF reviewable, review_since, failed ON processes
	WHEN NEW.reviewable IS NOT OLD.reviewable OR NEW.review_since IS NOT OLD.review_since OR NEW.failed IS NOT OLD.failed
BEGIN
	DELETE FROM queue_failed WHERE process_id = OLD.id;
	INSERT OR IGNORE INTO queue_failed (name, review_since, process_id)
		SELECT value, coalesce(NEW.review_since, ''), NEW.id FROM json_each('["' || replace(trim(NEW.failed, ','), ',', '","') || '"]')
		WHERE NEW.reviewable = 1 AND NEW.failed <> '';
END;

CREATE TRIGGER queue_failed_delete AFTER DELETE ON processes
BEGIN
	DELETE FROM queue_failed WHERE process_id = OLD.id;
END;
