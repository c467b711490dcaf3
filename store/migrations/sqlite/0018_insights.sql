-- Insights (issue 11): figures kept by triggers in the very transactions that change
-- decisions, so that the insights page sums at most a row per day (and agent, verdict,
-- reason or duration bucket) of the chosen period and never scans decisions or processes.
-- Days are UTC calendar days (YYYY-MM-DD). Agent 0 in insight_durations is "everyone".
-- The backlog by age reads queue_minutes (migration 0011), kept the same way.

-- Duration buckets on a log scale: bucket 0 holds [0, 1 s); bucket b >= 1 holds
-- [2^((b-1)/4), 2^(b/4)) seconds, so one bucket spans 19 % (a quarter of a doubling);
-- bucket 101 starts at 2^25 s (388 days) and has no end. Medians and 90th percentiles over
-- any period come from summing these buckets (store/insights.go reads lo from here).
CREATE TABLE insight_buckets (
	bucket INTEGER PRIMARY KEY,
	lo     REAL    NOT NULL UNIQUE
) STRICT;
INSERT INTO insight_buckets (bucket, lo) VALUES
	(0, 0.0), (1, 1.000000), (2, 1.189207), (3, 1.414214), (4, 1.681793), (5, 2.000000),
	(6, 2.378414), (7, 2.828427), (8, 3.363586), (9, 4.000000), (10, 4.756828), (11, 5.656854),
	(12, 6.727171), (13, 8.000000), (14, 9.513657), (15, 11.313708), (16, 13.454343), (17, 16.000000),
	(18, 19.027314), (19, 22.627417), (20, 26.908685), (21, 32.000000), (22, 38.054628), (23, 45.254834),
	(24, 53.817371), (25, 64.000000), (26, 76.109255), (27, 90.509668), (28, 107.634741), (29, 128.000000),
	(30, 152.218511), (31, 181.019336), (32, 215.269482), (33, 256.000000), (34, 304.437021), (35, 362.038672),
	(36, 430.538965), (37, 512.000000), (38, 608.874043), (39, 724.077344), (40, 861.077929), (41, 1024.000000),
	(42, 1217.748086), (43, 1448.154688), (44, 1722.155858), (45, 2048.000000), (46, 2435.496172), (47, 2896.309376),
	(48, 3444.311717), (49, 4096.000000), (50, 4870.992343), (51, 5792.618751), (52, 6888.623434), (53, 8192.000000),
	(54, 9741.984686), (55, 11585.237503), (56, 13777.246868), (57, 16384.000000), (58, 19483.969372), (59, 23170.475006),
	(60, 27554.493735), (61, 32768.000000), (62, 38967.938744), (63, 46340.950012), (64, 55108.987470), (65, 65536.000000),
	(66, 77935.877489), (67, 92681.900024), (68, 110217.974940), (69, 131072.000000), (70, 155871.754978), (71, 185363.800047),
	(72, 220435.949880), (73, 262144.000000), (74, 311743.509955), (75, 370727.600095), (76, 440871.899761), (77, 524288.000000),
	(78, 623487.019911), (79, 741455.200189), (80, 881743.799521), (81, 1048576.000000), (82, 1246974.039821), (83, 1482910.400379),
	(84, 1763487.599042), (85, 2097152.000000), (86, 2493948.079642), (87, 2965820.800758), (88, 3526975.198084), (89, 4194304.000000),
	(90, 4987896.159284), (91, 5931641.601516), (92, 7053950.396169), (93, 8388608.000000), (94, 9975792.318569), (95, 11863283.203031),
	(96, 14107900.792337), (97, 16777216.000000), (98, 19951584.637137), (99, 23726566.406063), (100, 28215801.584675), (101, 33554432.000000);

-- Decisions made, by day of the decision, agent, verdict and rejection reason (0: none).
-- Every decision counts once, including those a second agent overturned later.
CREATE TABLE insight_decisions (
	day       TEXT    NOT NULL,
	agent     INTEGER NOT NULL,
	verdict   TEXT    NOT NULL,
	reason_id INTEGER NOT NULL,
	n         INTEGER NOT NULL CHECK (n >= 0),
	PRIMARY KEY (day, agent, verdict, reason_id)
) STRICT, WITHOUT ROWID;

-- Histograms of durations, by agent (0: everyone), kind and day of the decision:
-- "wait" is from entering review (processes.review_since) to the decision, "handle"
-- from the decider's claim (processes.claimed_at) to the decision. Both are read from the
-- process row as it stands when the decision is inserted, before Decide clears them.
CREATE TABLE insight_durations (
	agent  INTEGER NOT NULL,
	kind   TEXT    NOT NULL CHECK (kind IN ('wait', 'handle')),
	day    TEXT    NOT NULL,
	bucket INTEGER NOT NULL,
	n      INTEGER NOT NULL CHECK (n >= 0),
	PRIMARY KEY (agent, kind, day, bucket)
) STRICT, WITHOUT ROWID;

-- Second reviews (four-eyes) by day of the second review, the first decider and outcome.
CREATE TABLE insight_seconds (
	day     TEXT    NOT NULL,
	agent   INTEGER NOT NULL,
	outcome TEXT    NOT NULL CHECK (outcome IN ('confirmed', 'overturned')),
	n       INTEGER NOT NULL CHECK (n >= 0),
	PRIMARY KEY (day, agent, outcome)
) STRICT, WITHOUT ROWID;

-- Delivery outcomes by day, decider and outcome: delivered, a failed attempt put back
-- for a retry, a conflict, parked, or resolved by an administrator.
CREATE TABLE insight_deliveries (
	day     TEXT    NOT NULL,
	agent   INTEGER NOT NULL,
	outcome TEXT    NOT NULL CHECK (outcome IN ('delivered', 'retry', 'conflict', 'parked', 'resolved')),
	n       INTEGER NOT NULL CHECK (n >= 0),
	PRIMARY KEY (day, agent, outcome)
) STRICT, WITHOUT ROWID;

-- Decisions now in each delivery state, by decider; "retrying" is a queued decision that
-- failed at least once (store.Decision.Retrying).
CREATE TABLE insight_states (
	agent INTEGER NOT NULL,
	state TEXT    NOT NULL,
	n     INTEGER NOT NULL CHECK (n >= 0),
	PRIMARY KEY (agent, state)
) STRICT, WITHOUT ROWID;

-- Backfill from the rows there are. Durations cannot be recovered (Decide clears the
-- process's review_since and claim), so the histograms start empty; retries of the past
-- are not recorded either.
INSERT INTO insight_decisions (day, agent, verdict, reason_id, n)
	SELECT substr(decided_at, 1, 10), decided_by, verdict, coalesce(reason_id, 0), count(*) FROM decisions GROUP BY 1, 2, 3, 4;
INSERT INTO insight_seconds (day, agent, outcome, n)
	SELECT substr(second_at, 1, 10), decided_by, CASE state WHEN 'overturned' THEN 'overturned' ELSE 'confirmed' END, count(*)
	FROM decisions WHERE second_at IS NOT NULL AND state <> 'second_review' GROUP BY 1, 2, 3;
INSERT INTO insight_deliveries (day, agent, outcome, n)
	SELECT substr(CASE WHEN state = 'delivered' THEN coalesce(delivered_at, updated_at) ELSE updated_at END, 1, 10), decided_by, state, count(*)
	FROM decisions WHERE state IN ('delivered', 'conflict', 'parked', 'resolved') GROUP BY 1, 2, 3;
INSERT INTO insight_states (agent, state, n)
	SELECT decided_by, CASE WHEN state = 'queued' AND attempts > 0 THEN 'retrying' ELSE state END, count(*) FROM decisions GROUP BY 1, 2;

-- A decision: counted, its durations put in their buckets, its state counted.
CREATE TRIGGER insight_decision_insert AFTER INSERT ON decisions
BEGIN
	INSERT INTO insight_decisions (day, agent, verdict, reason_id, n)
		VALUES (substr(NEW.decided_at, 1, 10), NEW.decided_by, NEW.verdict, coalesce(NEW.reason_id, 0), 1)
		ON CONFLICT (day, agent, verdict, reason_id) DO UPDATE SET n = n + 1;
	INSERT INTO insight_durations (agent, kind, day, bucket, n)
		SELECT who.agent, d.kind, substr(NEW.decided_at, 1, 10),
			(SELECT b.bucket FROM insight_buckets b WHERE b.lo <= d.seconds ORDER BY b.lo DESC LIMIT 1), 1
		FROM (SELECT 'wait' AS kind, max(0, unixepoch(substr(NEW.decided_at, 1, 19)) - unixepoch(substr(p.review_since, 1, 19))) AS seconds
				FROM processes p WHERE p.id = NEW.process_id AND p.review_since IS NOT NULL
			UNION ALL
			SELECT 'handle', max(0, unixepoch(substr(NEW.decided_at, 1, 19)) - unixepoch(substr(p.claimed_at, 1, 19)))
				FROM processes p WHERE p.id = NEW.process_id AND p.claimed_by = NEW.decided_by AND p.claimed_at IS NOT NULL) d,
			(SELECT 0 AS agent UNION ALL SELECT NEW.decided_by) who
		WHERE d.seconds IS NOT NULL
		ON CONFLICT (agent, kind, day, bucket) DO UPDATE SET n = n + 1;
	INSERT INTO insight_states (agent, state, n)
		VALUES (NEW.decided_by, CASE WHEN NEW.state = 'queued' AND NEW.attempts > 0 THEN 'retrying' ELSE NEW.state END, 1)
		ON CONFLICT (agent, state) DO UPDATE SET n = n + 1;
END;

-- A change of delivery state (or of attempts, which turns "queued" into "retrying").
CREATE TRIGGER insight_decision_state AFTER UPDATE OF state, attempts, decided_by ON decisions
	WHEN NEW.state IS NOT OLD.state OR NEW.decided_by IS NOT OLD.decided_by
		OR (NEW.state = 'queued' AND (NEW.attempts > 0) IS NOT (OLD.attempts > 0))
BEGIN
	UPDATE insight_states SET n = n - 1
		WHERE agent = OLD.decided_by AND state = CASE WHEN OLD.state = 'queued' AND OLD.attempts > 0 THEN 'retrying' ELSE OLD.state END;
	INSERT INTO insight_states (agent, state, n)
		VALUES (NEW.decided_by, CASE WHEN NEW.state = 'queued' AND NEW.attempts > 0 THEN 'retrying' ELSE NEW.state END, 1)
		ON CONFLICT (agent, state) DO UPDATE SET n = n + 1;
END;

-- A second review ends: confirmed (queued for delivery) or overturned.
CREATE TRIGGER insight_second_review AFTER UPDATE OF state ON decisions
	WHEN OLD.state = 'second_review' AND NEW.state IN ('queued', 'overturned')
BEGIN
	INSERT INTO insight_seconds (day, agent, outcome, n)
		VALUES (substr(coalesce(NEW.second_at, NEW.updated_at), 1, 10), NEW.decided_by,
			CASE NEW.state WHEN 'overturned' THEN 'overturned' ELSE 'confirmed' END, 1)
		ON CONFLICT (day, agent, outcome) DO UPDATE SET n = n + 1;
END;

-- A delivery outcome: delivered, conflict, parked or resolved, or an attempt that failed
-- and goes back to the queue for a retry.
CREATE TRIGGER insight_delivery_outcome AFTER UPDATE OF state ON decisions
	WHEN NEW.state IS NOT OLD.state AND (NEW.state IN ('delivered', 'conflict', 'parked', 'resolved')
		OR (OLD.state = 'sending' AND NEW.state = 'queued'))
BEGIN
	INSERT INTO insight_deliveries (day, agent, outcome, n)
		VALUES (substr(NEW.updated_at, 1, 10), NEW.decided_by, CASE NEW.state WHEN 'queued' THEN 'retry' ELSE NEW.state END, 1)
		ON CONFLICT (day, agent, outcome) DO UPDATE SET n = n + 1;
END;

-- Decisions are never deleted by the portal; if one ever is, its state leaves the counts
-- (the history of what happened stays).
CREATE TRIGGER insight_decision_delete AFTER DELETE ON decisions
BEGIN
	UPDATE insight_states SET n = n - 1
		WHERE agent = OLD.decided_by AND state = CASE WHEN OLD.state = 'queued' AND OLD.attempts > 0 THEN 'retrying' ELSE OLD.state END;
END;
