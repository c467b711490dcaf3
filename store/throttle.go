package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Sign-in throttling per account (quality bar A3; issue 13): the state lives here, not
// in one instance's memory, so that instances behind one proxy count an account's
// failures together and a lock set through one holds on all. auth.Throttle owns the
// policy (how many failures lock, for how long); this file keeps the rows, serializes
// each read-then-write in one write transaction, and keeps the table bounded.

// LoginThrottle is one account's sign-in throttle state.
type LoginThrottle struct {
	Failures    int       // failures since the last lock or success
	Locks       int       // locks since the last success
	LockedUntil time.Time // zero or past when not locked
	LastFailure time.Time
	// ForgetAt is when nothing in the state matters any more: the lock is over and the
	// failures are old. From then on the state reads as zero and a sweep deletes it.
	ForgetAt time.Time
}

// maxThrottleKey is the longest account key stored as it is; longer ones (never a real
// email: those are at most 254) are stored as their SHA-256.
const maxThrottleKey = 300

// throttleKey is the stored form of an account key.
func throttleKey(key string) string {
	if len(key) <= maxThrottleKey {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// LoginThrottleState returns the state of the account key at now: the zero state when
// there is none or it is forgettable.
func (db *DB) LoginThrottleState(ctx context.Context, key string, now time.Time) (LoginThrottle, error) {
	return scanLoginThrottle(db.queryRow(ctx, `SELECT failures, locks, locked_until, last_failure, forget_at
		FROM login_throttle WHERE account = ? AND forget_at > ?`, throttleKey(key), formatTime(now)))
}

func scanLoginThrottle(row scanner) (LoginThrottle, error) {
	var st LoginThrottle
	var locked, last, forget string
	err := row.Scan(&st.Failures, &st.Locks, &locked, &last, &forget)
	if errors.Is(err, sql.ErrNoRows) {
		return LoginThrottle{}, nil
	}
	if err != nil {
		return LoginThrottle{}, fmt.Errorf("login throttle: %w", err)
	}
	st.LockedUntil, st.LastFailure, st.ForgetAt = parseTime(locked), parseTime(last), parseTime(forget)
	return st, nil
}

// UpdateLoginThrottle reads the state of the account key at now, lets fn change it, and
// stores the result, in one write transaction: attempts on several instances are
// serialized, so each is counted once. fn gets the zero state when there is none (or it
// was forgettable) and must not block; a result whose ForgetAt is not after now is
// deleted instead. created reports whether the account had no row before.
func (db *DB) UpdateLoginThrottle(ctx context.Context, key string, now time.Time, fn func(*LoginThrottle)) (created bool, err error) {
	key = throttleKey(key)
	err = db.tx(ctx, func(tx *sql.Tx) error {
		st, err := scanLoginThrottle(tx.QueryRowContext(ctx,
			"SELECT failures, locks, locked_until, last_failure, forget_at FROM login_throttle WHERE account = ?", key))
		if err != nil {
			return err
		}
		created = st.ForgetAt.IsZero()
		if !st.ForgetAt.After(now) {
			st = LoginThrottle{} // forgettable: as if swept already
		}
		fn(&st)
		if !st.ForgetAt.After(now) {
			if !created {
				_, err = tx.ExecContext(ctx, "DELETE FROM login_throttle WHERE account = ?", key)
			}
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO login_throttle (account, failures, locks, locked_until, last_failure, forget_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (account) DO UPDATE SET failures = excluded.failures, locks = excluded.locks,
				locked_until = excluded.locked_until, last_failure = excluded.last_failure, forget_at = excluded.forget_at`,
			key, st.Failures, st.Locks, formatTime(st.LockedUntil), formatTime(st.LastFailure), formatTime(st.ForgetAt))
		if err != nil {
			return fmt.Errorf("save login throttle: %w", err)
		}
		return nil
	})
	return created, err
}

// ForgetLoginThrottle deletes the state of the account key (a successful sign-in).
func (db *DB) ForgetLoginThrottle(ctx context.Context, key string) error {
	if _, err := db.exec(ctx, "DELETE FROM login_throttle WHERE account = ?", throttleKey(key)); err != nil {
		return fmt.Errorf("forget login throttle: %w", err)
	}
	return nil
}

// SweepLoginThrottle keeps the table bounded under a spray of made-up accounts: it
// deletes the states forgettable at now and then, while more than limit remain, the
// unlocked ones that would be forgotten soonest (those that failed longest ago), then,
// only when every remaining state is a lock, the locks that would be forgotten soonest.
// Dropping an unlocked state forgets fewer than MaxFailures failures; locks go last.
// It returns how many rows went.
func (db *DB) SweepLoginThrottle(ctx context.Context, now time.Time, limit int) (int64, error) {
	var total int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		at := formatTime(now)
		res, err := tx.ExecContext(ctx, "DELETE FROM login_throttle WHERE forget_at <= ?", at)
		if err != nil {
			return fmt.Errorf("sweep login throttle: %w", err)
		}
		total, _ = res.RowsAffected()
		var n int64
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM login_throttle").Scan(&n); err != nil {
			return fmt.Errorf("sweep login throttle: %w", err)
		}
		if n > int64(limit) {
			res, err := tx.ExecContext(ctx, `DELETE FROM login_throttle WHERE account IN
				(SELECT account FROM login_throttle WHERE locked_until <= ? ORDER BY forget_at LIMIT ?)`, at, n-int64(limit))
			if err != nil {
				return fmt.Errorf("sweep login throttle: %w", err)
			}
			gone, _ := res.RowsAffected()
			n, total = n-gone, total+gone
		}
		if n > int64(limit) {
			res, err := tx.ExecContext(ctx, `DELETE FROM login_throttle WHERE account IN
				(SELECT account FROM login_throttle ORDER BY forget_at LIMIT ?)`, n-int64(limit))
			if err != nil {
				return fmt.Errorf("sweep login throttle: %w", err)
			}
			gone, _ := res.RowsAffected()
			total += gone
		}
		return nil
	})
	return total, err
}
