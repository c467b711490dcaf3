package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Notification is a webhook notification waiting to be acted on.
type Notification struct {
	ProcessID     string
	Status        string
	ReceivedAt    time.Time
	Notifications int
	Version       int64
	Attempts      int
	LastError     string
}

// EnqueueNotifications records notifications durably in one transaction. Duplicates
// fold into the row already waiting for the process (W2).
func (db *DB) EnqueueNotifications(ctx context.Context, ns []Notification) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO webhook_inbox (process_id, status, received_at, next_attempt_at)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (process_id) DO UPDATE SET status = excluded.status, received_at = excluded.received_at,
				notifications = webhook_inbox.notifications + 1, version = webhook_inbox.version + 1, next_attempt_at = excluded.next_attempt_at`)
		if err != nil {
			return fmt.Errorf("enqueue notification: %w", err)
		}
		defer stmt.Close()
		now := formatTime(db.now())
		for _, n := range ns {
			if _, err := stmt.ExecContext(ctx, n.ProcessID, n.Status, now, now); err != nil {
				return fmt.Errorf("enqueue notification: %w", err)
			}
		}
		return nil
	})
}

// DueNotifications returns notifications whose next attempt is due, oldest first.
func (db *DB) DueNotifications(ctx context.Context, limit int) ([]Notification, error) {
	rows, err := db.query(ctx, `SELECT process_id, status, received_at, notifications, version, attempts, last_error
		FROM webhook_inbox WHERE next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?`, formatTime(db.now()), limit)
	if err != nil {
		return nil, fmt.Errorf("due notifications: %w", err)
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		var n Notification
		var received string
		if err := rows.Scan(&n.ProcessID, &n.Status, &received, &n.Notifications, &n.Version, &n.Attempts, &n.LastError); err != nil {
			return nil, err
		}
		n.ReceivedAt = parseTime(received)
		out = append(out, n)
	}
	return out, rows.Err()
}

// CountNotifications returns how many notifications wait.
func (db *DB) CountNotifications(ctx context.Context) (int, error) {
	var n int
	err := db.queryRow(ctx, "SELECT count(*) FROM webhook_inbox").Scan(&n)
	return n, err
}

// IngestNotification applies what the gateway said of a notified process and removes
// the notification, in one transaction, unless a newer notification arrived meanwhile.
func (db *DB) IngestNotification(ctx context.Context, n Notification, s Snapshot, nextSync time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := db.upsertProcess(ctx, tx, SourceWebhook, s, nextSync); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM webhook_inbox WHERE process_id = ? AND version = ?", n.ProcessID, n.Version)
		return err
	})
}

// DropNotification removes a notification that needs no more work (the gateway does not
// know the process), unless a newer one arrived.
func (db *DB) DropNotification(ctx context.Context, n Notification) error {
	_, err := db.exec(ctx, "DELETE FROM webhook_inbox WHERE process_id = ? AND version = ?", n.ProcessID, n.Version)
	return err
}

// RetryNotification records a failed attempt and when to try again.
func (db *DB) RetryNotification(ctx context.Context, n Notification, errText string, next time.Time) error {
	if len(errText) > 500 {
		errText = errText[:500]
	}
	_, err := db.exec(ctx, "UPDATE webhook_inbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE process_id = ?",
		errText, formatTime(next), n.ProcessID)
	return err
}
