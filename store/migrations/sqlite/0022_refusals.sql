-- Refusal windows (quality bar L3): refused or anonymous traffic (failed sign-ins,
-- throttled attempts, denied URLs, unknown ids) must not grow the append-only audit
-- without bound. The first refusal of an action for a key (an IP, an account, a user) in
-- a window is an audit row; later ones only count here; when the window is over, one
-- summary audit row records how many more there were. The audit stays append-only and
-- gets at most two rows per key per window (a caller may ask for the first few to be
-- recorded one by one: recorded counts them). Times are store.timeLayout text.
CREATE TABLE refusal_windows (
	action      TEXT    NOT NULL CHECK (length(action) BETWEEN 1 AND 64),
	key         TEXT    NOT NULL CHECK (length(key) BETWEEN 1 AND 300),
	started_at  TEXT    NOT NULL,
	last_at     TEXT    NOT NULL,
	count       INTEGER NOT NULL DEFAULT 0 CHECK (count >= 0), -- refusals counted, not recorded
	recorded    INTEGER NOT NULL DEFAULT 1 CHECK (recorded >= 0), -- refusals recorded one by one
	actor_id    INTEGER,
	actor       TEXT    NOT NULL DEFAULT '',
	ip          TEXT    NOT NULL DEFAULT '',
	object_type TEXT    NOT NULL DEFAULT '',
	object_id   TEXT    NOT NULL DEFAULT '',
	outcome     TEXT    NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
	last_detail TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (action, key)
) STRICT;
CREATE INDEX refusal_windows_started ON refusal_windows (started_at);
