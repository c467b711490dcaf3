-- When a decision became deliverable: decided (or confirmed by a second agent), or put
-- back in the queue by a person. Parking after PORTAL_DELIVERY_PARK_AFTER counts from here,
-- so a manual retry gets a full period again.
ALTER TABLE decisions ADD COLUMN deliverable_since TEXT;
UPDATE decisions SET deliverable_since = coalesce(second_at, decided_at);
