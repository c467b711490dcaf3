-- Indexes for the queue's common filters: a country or document type filter reads its
-- page in order without visiting the rest of the index, and the filter choices are found
-- by skipping from one value to the next instead of scanning every process in review.
CREATE INDEX processes_queue_country ON processes (reviewable, country, review_since, id);
CREATE INDEX processes_queue_doc ON processes (reviewable, doc_type, review_since, id);
