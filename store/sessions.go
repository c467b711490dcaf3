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

// Session is a server-side session. The browser holds only the opaque token; the
// database keeps its SHA-256, so a copy of the database opens no session.
type Session struct {
	ID         int64
	TokenHash  string
	UserID     int64
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute expiry
	IP         string
	UserAgent  string
	Method     SignInMethod // how it was signed in
}

// HashToken returns the hex SHA-256 of a secret token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// CreateSession stores s and audits the sign-in that opened it.
func (db *DB) CreateSession(ctx context.Context, a Actor, s *Session) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if len(s.UserAgent) > 512 {
			s.UserAgent = s.UserAgent[:512]
		}
		if s.Method == "" {
			s.Method = SignInPassword
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at, ip, user_agent, method)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, s.TokenHash, s.UserID, formatTime(s.CreatedAt), formatTime(s.LastSeenAt),
			formatTime(s.ExpiresAt), s.IP, s.UserAgent, s.Method).Scan(&s.ID)
		if err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		if err := db.appendAudit(ctx, tx, a, ActionLogin, "user", fmt.Sprint(s.UserID), OutcomeSuccess, "method: "+string(s.Method)); err != nil {
			return err
		}
		return db.capSessions(ctx, tx, a, s.UserID)
	})
}

// MaxSessionsPerUser is how many sessions one account may hold (issue 9): signing in
// beyond it ends the oldest ones, audited.
const MaxSessionsPerUser = 10

// capSessions ends userID's oldest sessions beyond MaxSessionsPerUser, one audit row each.
func (db *DB) capSessions(ctx context.Context, tx *sql.Tx, a Actor, userID int64) error {
	// The newest first; the ones past the cap are ended. (An OFFSET alone is PostgreSQL's
	// spelling and LIMIT -1 SQLite's, and an account holds a handful of sessions.)
	rows, err := tx.QueryContext(ctx, "SELECT id FROM sessions WHERE user_id = ? ORDER BY created_at DESC, id DESC", userID)
	if err != nil {
		return fmt.Errorf("cap sessions: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("cap sessions: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cap sessions: %w", err)
	}
	for _, id := range ids[min(len(ids), MaxSessionsPerUser):] {
		if err := db.execOne(ctx, tx, "DELETE FROM sessions WHERE id = ?", id); err != nil {
			return fmt.Errorf("cap sessions: %w", err)
		}
		detail := fmt.Sprintf("oldest session ended: more than %d sessions (session %d)", MaxSessionsPerUser, id)
		if err := db.appendAudit(ctx, tx, a, ActionSessionEnd, "user", fmt.Sprint(userID), OutcomeSuccess, detail); err != nil {
			return err
		}
	}
	return nil
}

const sessionColumns = "s.id, s.token_hash, s.user_id, s.created_at, s.last_seen_at, s.expires_at, s.ip, s.user_agent, s.method"

func scanSession(s scanner) (*Session, error) {
	var ss Session
	var created, seen, expires string
	if err := s.Scan(&ss.ID, &ss.TokenHash, &ss.UserID, &created, &seen, &expires, &ss.IP, &ss.UserAgent, &ss.Method); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("scan session: %w", err)
	}
	ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt = parseTime(created), parseTime(seen), parseTime(expires)
	return &ss, nil
}

// SessionByTokenHash returns the session and its account.
func (db *DB) SessionByTokenHash(ctx context.Context, tokenHash string) (*Session, *User, error) {
	row := db.queryRow(ctx, "SELECT "+sessionColumns+", u.id, u.email, u.display_name, u.role, u.password_hash, u.must_change_password, u.active, u.created_at, u.updated_at FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?", tokenHash)
	var ss Session
	var u User
	var created, seen, expires, ucreated, uupdated string
	err := row.Scan(&ss.ID, &ss.TokenHash, &ss.UserID, &created, &seen, &expires, &ss.IP, &ss.UserAgent, &ss.Method,
		&u.ID, &u.Email, &u.DisplayName, &u.Role, &u.PasswordHash, &u.MustChangePassword, &u.Active, &ucreated, &uupdated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("session: %w", err)
	}
	ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt = parseTime(created), parseTime(seen), parseTime(expires)
	u.CreatedAt, u.UpdatedAt = parseTime(ucreated), parseTime(uupdated)
	return &ss, &u, nil
}

// TouchSession records activity on a session.
func (db *DB) TouchSession(ctx context.Context, id int64, at time.Time) error {
	_, err := db.exec(ctx, "UPDATE sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?", formatTime(at), id, formatTime(at))
	return err
}

// ListUserSessions returns the sessions of a user, newest first.
func (db *DB) ListUserSessions(ctx context.Context, userID int64) ([]*Session, error) {
	rows, err := db.query(ctx, "SELECT "+sessionColumns+" FROM sessions s WHERE s.user_id = ? ORDER BY s.created_at DESC", userID)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []*Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// EndSession deletes one session of a user and audits why ("logout", "ended by admin",
// "idle timeout", ...). Ending a session that is already gone is ErrNotFound.
func (db *DB) EndSession(ctx context.Context, a Actor, userID, sessionID int64, reason string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.execOne(ctx, tx, "DELETE FROM sessions WHERE id = ? AND user_id = ?", sessionID, userID); err != nil {
			return fmt.Errorf("end session: %w", err)
		}
		action := ActionSessionEnd
		if reason == "logout" {
			action = ActionLogout
		}
		return db.appendAudit(ctx, tx, a, action, "user", fmt.Sprint(userID), OutcomeSuccess, reason)
	})
}

// EndUserSessions deletes every session of a user.
func (db *DB) EndUserSessions(ctx context.Context, a Actor, userID int64, reason string) error {
	return db.tx(ctx, func(tx *sql.Tx) error { return db.endUserSessions(ctx, tx, a, userID, reason) })
}

func (db *DB) endUserSessions(ctx context.Context, tx *sql.Tx, a Actor, userID int64, reason string) error {
	res, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ?", userID)
	if err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return db.appendAudit(ctx, tx, a, ActionSessionEndAll, "user", fmt.Sprint(userID), OutcomeSuccess, fmt.Sprintf("%s (%d)", reason, n))
	}
	return nil
}

// DeleteExpiredSessions removes sessions past their absolute expiry or idle for longer
// than idle, and returns how many went.
func (db *DB) DeleteExpiredSessions(ctx context.Context, idle time.Duration) (int64, error) {
	now := db.now()
	res, err := db.exec(ctx, "DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?",
		formatTime(now), formatTime(now.Add(-idle)))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return res.RowsAffected()
}
