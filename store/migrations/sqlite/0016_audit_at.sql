-- The audit export filters by period (at). Audit ids and times both grow, but a clock
-- that steps back can break that, so the export does not trust it: it reads the exact
-- id range of the period from this index (min and max id of the rows whose time is in
-- the period), then walks that id range by primary key. Without the index a period at
-- the end of a large log would scan the whole table first.
CREATE INDEX audit_events_at ON audit_events (at);
