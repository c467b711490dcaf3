package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Settings keys.
const (
	SettingFourEyesAcceptFailed = "four_eyes_accept_failed" // accepts with failed checks need a second agent
	SettingFourEyesReject       = "four_eyes_reject"        // every reject needs a second agent
	SettingFourEyesAccept       = "four_eyes_accept"        // every accept needs a second agent
)

// Setting returns a setting's value, or def when unset.
func (db *DB) Setting(ctx context.Context, key, def string) (string, error) {
	var v string
	err := db.queryRow(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return def, nil
	}
	if err != nil {
		return def, fmt.Errorf("setting %s: %w", key, err)
	}
	return v, nil
}

// SetSetting stores a setting and audits the change.
func (db *DB) SetSetting(ctx context.Context, a Actor, key, value string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var old string
		err := tx.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&old)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err == nil && old == value {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, key, value, formatTime(db.now())); err != nil {
			return fmt.Errorf("set %s: %w", key, err)
		}
		return db.appendAudit(ctx, tx, a, ActionSettingChange, "setting", key, OutcomeSuccess, fmt.Sprintf("%q -> %q", old, value))
	})
}
