-- Status re-reads that failed, by when they are due: the catch-up after a gateway outage
-- (O4) finds them through this index, whatever the number of processes waiting.
CREATE INDEX processes_sync_failed ON processes (sync_due_at) WHERE sync_failures > 0 AND final = 0 AND gone = 0;
