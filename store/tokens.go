package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// CreateSetPasswordToken stores the hash of a one-time set-password link for a user.
func (db *DB) CreateSetPasswordToken(ctx context.Context, a Actor, userID int64, tokenHash string, ttl time.Duration) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		now := db.now()
		var by any
		if a.UserID != 0 {
			by = a.UserID
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO set_password_tokens (token_hash, user_id, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
			tokenHash, userID, by, formatTime(now), formatTime(now.Add(ttl))); err != nil {
			return fmt.Errorf("create set-password link: %w", err)
		}
		return db.appendAudit(ctx, tx, a, ActionPasswordLink, "user", fmt.Sprint(userID), OutcomeSuccess, "")
	})
}

// SetPasswordTokenUser returns the account a valid (unused, unexpired) link belongs to.
func (db *DB) SetPasswordTokenUser(ctx context.Context, tokenHash string) (*User, error) {
	var userID int64
	err := db.queryRow(ctx, "SELECT user_id FROM set_password_tokens WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
		tokenHash, formatTime(db.now())).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("set-password link: %w", err)
	}
	return db.UserByID(ctx, userID)
}

// UseSetPasswordToken spends a link and sets the password in one transaction; a used,
// expired or unknown link is ErrNotFound.
func (db *DB) UseSetPasswordToken(ctx context.Context, a Actor, tokenHash, passwordHash string) (*User, error) {
	var userID int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		now := formatTime(db.now())
		err := tx.QueryRowContext(ctx, "UPDATE set_password_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ? RETURNING user_id",
			now, tokenHash, now).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("use set-password link: %w", err)
		}
		// Spending one link retires the user's other outstanding links.
		if _, err := tx.ExecContext(ctx, "UPDATE set_password_tokens SET used_at = ? WHERE user_id = ? AND used_at IS NULL", now, userID); err != nil {
			return err
		}
		if a.UserID == 0 {
			a.UserID = userID
		}
		return db.setPassword(ctx, tx, a, userID, passwordHash, false)
	})
	if err != nil {
		return nil, err
	}
	return db.UserByID(ctx, userID)
}
