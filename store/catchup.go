package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Catching up after a gateway outage (O4): work that failed while the gateway was down
// waits for a backoff that grew to minutes; once the gateway answers again, these pull
// it forward to now, so that the workers' next step does it. Each is one UPDATE of at
// most limit rows; call again while it returns limit.

// PullForwardDeliveries makes queued decisions whose last attempt failed (attempts > 0,
// next attempt in the future) due now. It returns how many it changed. The index
// decisions_due (state, next_attempt_at) bounds the work to the queued decisions waiting
// for a retry.
func (db *DB) PullForwardDeliveries(ctx context.Context, limit int) (int, error) {
	now := formatTime(db.now())
	res, err := db.exec(ctx, `UPDATE decisions SET next_attempt_at = ?, updated_at = ?
		WHERE id IN (SELECT id FROM decisions WHERE state = 'queued' AND next_attempt_at > ? AND attempts > 0
			ORDER BY next_attempt_at LIMIT ?)`, now, now, now, limit)
	return affected(res, err, "pull forward deliveries")
}

// PullForwardSyncs makes the status re-reads that failed (non-final processes with
// sync_failures > 0 whose next check is in the future) due now. It returns how many it
// changed. The failure count is kept: it still sets the backoff if the re-read fails
// again.
//
// Cost: processes_sync (final, gone, sync_due_at) narrows the search to non-final
// processes due later, but the failed ones among them are found by visiting each row;
// a partial index on (sync_due_at) WHERE sync_failures > 0 AND final = 0 AND gone = 0
// would make it proportional to the failed ones only. limit bounds the rows written.
func (db *DB) PullForwardSyncs(ctx context.Context, limit int) (int, error) {
	now := formatTime(db.now())
	res, err := db.exec(ctx, `UPDATE processes SET sync_due_at = ?
		WHERE id IN (SELECT id FROM processes WHERE final = 0 AND gone = 0 AND sync_due_at > ? AND sync_failures > 0
			ORDER BY sync_due_at LIMIT ?)`, now, now, limit)
	return affected(res, err, "pull forward status re-reads")
}

// PullForwardNotifications makes webhook notifications whose re-read failed (attempts >
// 0, next attempt in the future) due now. It returns how many it changed. The index
// webhook_inbox_due (next_attempt_at) bounds the work to notifications waiting for a
// retry.
func (db *DB) PullForwardNotifications(ctx context.Context, limit int) (int, error) {
	now := formatTime(db.now())
	res, err := db.exec(ctx, `UPDATE webhook_inbox SET next_attempt_at = ?
		WHERE process_id IN (SELECT process_id FROM webhook_inbox WHERE next_attempt_at > ? AND attempts > 0
			ORDER BY next_attempt_at LIMIT ?)`, now, now, limit)
	return affected(res, err, "pull forward notifications")
}

// ProbeTarget returns the id of a process the portal is waiting on the gateway for: the
// process of the next queued decision, else the non-final process due soonest for a
// status check, else the oldest waiting notification; "" when there is none. Reading its
// status tells whether the gateway answers again. Each look-up reads one index entry.
func (db *DB) ProbeTarget(ctx context.Context) (string, error) {
	for _, q := range []string{
		"SELECT process_id FROM decisions WHERE state = 'queued' ORDER BY next_attempt_at LIMIT 1",
		"SELECT id FROM processes WHERE final = 0 AND gone = 0 ORDER BY sync_due_at LIMIT 1",
		"SELECT process_id FROM webhook_inbox ORDER BY next_attempt_at LIMIT 1",
	} {
		var id string
		err := db.queryRow(ctx, q).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("probe target: %w", err)
		}
		return id, nil
	}
	return "", nil
}

func affected(res sql.Result, err error, what string) (int, error) {
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return int(n), nil
}
