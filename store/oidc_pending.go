package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Single sign-on's started sign-ins (quality bar A7; issue 13): kept here rather than
// in the memory of the instance that started them, so that the provider's callback may
// land on any instance behind the proxy. The key is the SHA-256 of the state, never the
// state itself: the state is the browser's half of the binding (its cookie), and a copy
// of the database must not be enough to finish someone's sign-in.

// OIDCPending is a started single sign-on, waiting for the provider's callback.
type OIDCPending struct {
	StateHash string // HashToken of the state
	Nonce     string // the nonce the ID token must carry
	Verifier  string // the PKCE code verifier, sent with the code
	Next      string // where to go after signing in
	ExpiresAt time.Time
}

// ErrTooManyOIDCPending: as many single sign-ons are in progress as are allowed.
var ErrTooManyOIDCPending = errors.New("too many single sign-ons in progress")

// The queries of CreateOIDCPending that must walk the expiry index, never the table
// (oidc_pending_test.go checks SQLite's plans).
const (
	expireOIDCPendingQuery = "DELETE FROM oidc_pending WHERE expires_at <= ?"
	countOIDCPendingQuery  = "SELECT count(*) FROM oidc_pending WHERE expires_at > ?"
)

// CreateOIDCPending stores p unless max unexpired sign-ins are already in progress at
// now (ErrTooManyOIDCPending). Expired ones are deleted first, so the table holds at
// most max rows plus those that expired since the last start. The count walks the
// expiry index, not the table.
func (db *DB) CreateOIDCPending(ctx context.Context, p OIDCPending, now time.Time, max int) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		at := formatTime(now)
		if _, err := tx.ExecContext(ctx, expireOIDCPendingQuery, at); err != nil {
			return fmt.Errorf("expire single sign-ons: %w", err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, countOIDCPendingQuery, at).Scan(&n); err != nil {
			return fmt.Errorf("count single sign-ons: %w", err)
		}
		if n >= max {
			return ErrTooManyOIDCPending
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO oidc_pending (state_hash, nonce, verifier, next, expires_at) VALUES (?, ?, ?, ?, ?)",
			p.StateHash, p.Nonce, p.Verifier, p.Next, formatTime(p.ExpiresAt))
		if err != nil {
			return fmt.Errorf("start single sign-on: %w", err)
		}
		return nil
	})
}

// TakeOIDCPending spends the started sign-in of stateHash: it is deleted and returned,
// so a second callback with the same state finds nothing, on whichever instance it
// lands. One that expired by now is spent too, and is ErrNotFound like an unknown one.
func (db *DB) TakeOIDCPending(ctx context.Context, stateHash string, now time.Time) (OIDCPending, error) {
	p := OIDCPending{StateHash: stateHash}
	var expires string
	err := db.tx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, "DELETE FROM oidc_pending WHERE state_hash = ? RETURNING nonce, verifier, next, expires_at",
			stateHash).Scan(&p.Nonce, &p.Verifier, &p.Next, &expires)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return OIDCPending{}, ErrNotFound
	case err != nil:
		return OIDCPending{}, fmt.Errorf("take single sign-on: %w", err)
	}
	p.ExpiresAt = parseTime(expires)
	if !now.Before(p.ExpiresAt) {
		return OIDCPending{}, ErrNotFound
	}
	return p, nil
}

// SweepOIDCPending deletes the sign-ins expired at now and returns how many went; a
// start does it too, so this only tidies up after a burst when nobody starts again.
func (db *DB) SweepOIDCPending(ctx context.Context, now time.Time) (int64, error) {
	res, err := db.exec(ctx, expireOIDCPendingQuery, formatTime(now))
	if err != nil {
		return 0, fmt.Errorf("sweep single sign-ons: %w", err)
	}
	return res.RowsAffected()
}
