-- Every claim (and every renewal by opening the page again) gets a new sequence number.
-- A page releases only the claim it made, so the release sent by a page being left
-- cannot end the claim the next page load of the same process has just renewed.
ALTER TABLE processes ADD COLUMN claim_seq INTEGER NOT NULL DEFAULT 0;
