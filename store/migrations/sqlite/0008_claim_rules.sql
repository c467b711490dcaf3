-- The evidence kinds the gateway lists for a process, as ",kind,kind,": the rules need
-- them to know which images an agent must have been served before accepting (D7).
ALTER TABLE processes ADD COLUMN evidence TEXT NOT NULL DEFAULT '' CHECK (length(evidence) <= 200);
