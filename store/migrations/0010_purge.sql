-- When retention or an erasure cleared the process's identity data from the index
-- (name, reference, scores); the id, status and decision stay.
ALTER TABLE processes ADD COLUMN purged_at TEXT;
