-- The health check's write probe (O3): /healthz upserts this single row in an
-- immediate transaction, so a full disk or a read-only database makes it fail.
CREATE TABLE health_probe (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	at TEXT NOT NULL
) STRICT;
