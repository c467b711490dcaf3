package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The second factor (issue 9, item 1; quality bar A6, A8): one TOTP authenticator per
// account, an enrolment waiting for its first code, hashed single-use recovery codes,
// and the pending sign-ins between the password and the second factor.

// SettingSecondFactorRequired holds a SecondFactorPolicy: who must sign in with a
// second factor.
const SettingSecondFactorRequired = "second_factor_required"

// ErrCodeUsed is returned when a TOTP time step is not after the last one accepted: the
// code (or an older one) was used already.
var ErrCodeUsed = fmt.Errorf("code already used: %w", ErrConflict)

// TOTP is an account's confirmed authenticator. Secret is the base32 shared key: it is
// never logged nor audited.
type TOTP struct {
	UserID      int64
	Secret      string
	EnrolledAt  time.Time
	LastCounter int64     // time step of the last code accepted
	LastUsedAt  time.Time // zero before the first sign-in with it
}

// TOTPByUser returns the account's confirmed authenticator, or ErrNotFound.
func (db *DB) TOTPByUser(ctx context.Context, userID int64) (*TOTP, error) {
	var t TOTP
	var enrolled string
	var used sql.NullString
	err := db.queryRow(ctx, "SELECT user_id, secret, enrolled_at, last_counter, last_used_at FROM totp_secrets WHERE user_id = ?", userID).
		Scan(&t.UserID, &t.Secret, &enrolled, &t.LastCounter, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("totp of user %d: %w", userID, err)
	}
	t.EnrolledAt, t.LastUsedAt = parseTime(enrolled), nullTime(used)
	return &t, nil
}

// BeginTOTPEnrolment keeps secret as the account's enrolment waiting for a first code,
// replacing any earlier one; the confirmed authenticator, if any, stays until then.
func (db *DB) BeginTOTPEnrolment(ctx context.Context, userID int64, secret string, ttl time.Duration) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		now := db.now()
		_, err := tx.ExecContext(ctx, `INSERT INTO totp_enrolments (user_id, secret, created_at, expires_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, expires_at = excluded.expires_at`,
			userID, secret, formatTime(now), formatTime(now.Add(ttl)))
		if err != nil {
			return fmt.Errorf("begin totp enrolment: %w", err)
		}
		return nil
	})
}

// TOTPEnrolment returns the secret of the account's unexpired enrolment, or ErrNotFound.
func (db *DB) TOTPEnrolment(ctx context.Context, userID int64) (string, error) {
	var secret string
	err := db.queryRow(ctx, "SELECT secret FROM totp_enrolments WHERE user_id = ? AND expires_at > ?", userID, formatTime(db.now())).Scan(&secret)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("totp enrolment of user %d: %w", userID, err)
	}
	return secret, nil
}

// ConfirmTOTPEnrolment makes the enrolment with secret the account's authenticator, with
// counter (the step of the code that confirmed it) as its last accepted step, and
// replaces the account's recovery codes with codeHashes, in one transaction. An
// enrolment that expired, was replaced or was confirmed already is ErrNotFound.
func (db *DB) ConfirmTOTPEnrolment(ctx context.Context, a Actor, userID int64, secret string, counter int64, codeHashes []string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		now := db.now()
		if err := db.execOne(ctx, tx, "DELETE FROM totp_enrolments WHERE user_id = ? AND secret = ? AND expires_at > ?",
			userID, secret, formatTime(now)); err != nil {
			return fmt.Errorf("confirm totp enrolment: %w", err)
		}
		var replaced int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM totp_secrets WHERE user_id = ?", userID).Scan(&replaced); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO totp_secrets (user_id, secret, enrolled_at, last_counter, last_used_at) VALUES (?, ?, ?, ?, NULL)
			ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, enrolled_at = excluded.enrolled_at,
				last_counter = excluded.last_counter, last_used_at = NULL`, userID, secret, formatTime(now), counter); err != nil {
			return fmt.Errorf("store totp: %w", err)
		}
		if err := db.replaceRecoveryCodes(ctx, tx, userID, codeHashes, now); err != nil {
			return err
		}
		detail := "authenticator set up"
		if replaced > 0 {
			detail = "authenticator replaced"
		}
		return db.appendAudit(ctx, tx, a, ActionSecondFactorEnrol, "user", fmt.Sprint(userID), OutcomeSuccess, detail)
	})
}

// UseTOTPCounter records that the code of time step counter was accepted for the
// account. A step not after the last accepted one is ErrCodeUsed (a code works once,
// even against two requests at the same instant); no authenticator is ErrNotFound.
func (db *DB) UseTOTPCounter(ctx context.Context, userID, counter int64) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		now := db.now()
		err := db.execOne(ctx, tx, "UPDATE totp_secrets SET last_counter = ?, last_used_at = ? WHERE user_id = ? AND last_counter < ?",
			counter, formatTime(now), userID, counter)
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM totp_secrets WHERE user_id = ?", userID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return ErrCodeUsed
	})
}

// UseRecoveryCode spends the account's unused recovery code with codeHash and audits
// it, returning how many unused codes are left. A code that is unknown or used is
// ErrNotFound and changes nothing.
func (db *DB) UseRecoveryCode(ctx context.Context, a Actor, userID int64, codeHash string) (left int, err error) {
	err = db.tx(ctx, func(tx *sql.Tx) error {
		now := db.now()
		if err := db.execOne(ctx, tx, "UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL",
			formatTime(now), userID, codeHash); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL", userID).Scan(&left); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, a, ActionSecondFactor, "user", fmt.Sprint(userID), OutcomeSuccess,
			fmt.Sprintf("recovery code used, %d left", left))
	})
	return left, err
}

// CountRecoveryCodes returns how many unused recovery codes the account has.
func (db *DB) CountRecoveryCodes(ctx context.Context, userID int64) (int, error) {
	var n int
	err := db.queryRow(ctx, "SELECT count(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL", userID).Scan(&n)
	return n, err
}

// ReplaceRecoveryCodes replaces the account's recovery codes with codeHashes (the old
// ones stop working) and audits it. An account without an authenticator is ErrNotFound.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, a Actor, userID int64, codeHashes []string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM totp_secrets WHERE user_id = ?", userID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		if err := db.replaceRecoveryCodes(ctx, tx, userID, codeHashes, db.now()); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, a, ActionRecoveryCodes, "user", fmt.Sprint(userID), OutcomeSuccess, fmt.Sprintf("%d new codes", len(codeHashes)))
	})
}

func (db *DB) replaceRecoveryCodes(ctx context.Context, tx *sql.Tx, userID int64, codeHashes []string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM recovery_codes WHERE user_id = ?", userID); err != nil {
		return fmt.Errorf("drop recovery codes: %w", err)
	}
	for _, h := range codeHashes {
		if _, err := tx.ExecContext(ctx, "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (?, ?, ?)",
			userID, h, formatTime(now)); err != nil {
			return fmt.Errorf("store recovery code: %w", err)
		}
	}
	return nil
}

// ResetSecondFactor removes the account's authenticator, enrolment, recovery codes and
// pending sign-ins, ends its sessions (whoever holds the lost phone may hold a session
// too) and audits it with reason, in one transaction. An account with no second factor
// is ErrNotFound and changes nothing.
func (db *DB) ResetSecondFactor(ctx context.Context, a Actor, userID int64, reason string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM totp_secrets WHERE user_id = ?", userID)
		if err != nil {
			return fmt.Errorf("reset second factor: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		for _, q := range []string{"DELETE FROM totp_enrolments WHERE user_id = ?", "DELETE FROM recovery_codes WHERE user_id = ?",
			"DELETE FROM pending_signins WHERE user_id = ?"} {
			if _, err := tx.ExecContext(ctx, q, userID); err != nil {
				return fmt.Errorf("reset second factor: %w", err)
			}
		}
		if err := db.endUserSessions(ctx, tx, a, userID, "second factor reset"); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, a, ActionSecondFactorReset, "user", fmt.Sprint(userID), OutcomeSuccess, reason)
	})
}

// PendingPurpose is what a pending sign-in waits for.
type PendingPurpose string

// Purposes of a pending sign-in.
const (
	PendingVerify PendingPurpose = "verify" // a code from the account's authenticator, or a recovery code
	PendingEnrol  PendingPurpose = "enrol"  // the settings require a second factor the account does not have yet
)

// PendingSignIn is a right password waiting for the second step. It is not a session:
// it opens the second step only, once, for a few minutes.
type PendingSignIn struct {
	TokenHash string
	UserID    int64
	Purpose   PendingPurpose
	Next      string // where to go once signed in
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CreatePendingSignIn stores p, dropping every expired pending sign-in (so the table
// stays small without a worker) and the account's earlier ones (one at a time).
func (db *DB) CreatePendingSignIn(ctx context.Context, p *PendingSignIn) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		now := db.now()
		if _, err := tx.ExecContext(ctx, "DELETE FROM pending_signins WHERE expires_at <= ? OR user_id = ?", formatTime(now), p.UserID); err != nil {
			return fmt.Errorf("drop pending sign-ins: %w", err)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO pending_signins (token_hash, user_id, purpose, next, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
			p.TokenHash, p.UserID, string(p.Purpose), p.Next, formatTime(p.CreatedAt), formatTime(p.ExpiresAt))
		if err != nil {
			return fmt.Errorf("create pending sign-in: %w", err)
		}
		return nil
	})
}

// PendingSignInByTokenHash returns the unexpired pending sign-in and its account, or
// ErrNotFound.
func (db *DB) PendingSignInByTokenHash(ctx context.Context, tokenHash string) (*PendingSignIn, *User, error) {
	var p PendingSignIn
	var purpose, created, expires string
	err := db.queryRow(ctx, "SELECT token_hash, user_id, purpose, next, created_at, expires_at FROM pending_signins WHERE token_hash = ? AND expires_at > ?",
		tokenHash, formatTime(db.now())).Scan(&p.TokenHash, &p.UserID, &purpose, &p.Next, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("pending sign-in: %w", err)
	}
	p.Purpose, p.CreatedAt, p.ExpiresAt = PendingPurpose(purpose), parseTime(created), parseTime(expires)
	u, err := db.UserByID(ctx, p.UserID)
	if err != nil {
		return nil, nil, err
	}
	return &p, u, nil
}

// TakePendingSignIn spends the unexpired pending sign-in with tokenHash: only one
// request can, so it opens one session at most. Otherwise ErrNotFound.
func (db *DB) TakePendingSignIn(ctx context.Context, tokenHash string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		return db.execOne(ctx, tx, "DELETE FROM pending_signins WHERE token_hash = ? AND expires_at > ?", tokenHash, formatTime(db.now()))
	})
}

// DeletePendingSignIn drops a pending sign-in (the user went back to the password).
func (db *DB) DeletePendingSignIn(ctx context.Context, tokenHash string) error {
	_, err := db.exec(ctx, "DELETE FROM pending_signins WHERE token_hash = ?", tokenHash)
	return err
}
