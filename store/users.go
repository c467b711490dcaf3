package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Roles.
const (
	RoleAgent = "agent"
	RoleAdmin = "admin"
)

// ValidRole reports whether r is a known role.
func ValidRole(r string) bool { return r == RoleAgent || r == RoleAdmin }

// User is a reviewer account.
type User struct {
	ID                 int64
	Email              string
	DisplayName        string
	Role               string
	PasswordHash       string
	MustChangePassword bool
	Active             bool
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// IsAdmin reports whether the user has the admin role.
func (u *User) IsAdmin() bool { return u.Role == RoleAdmin }

const userColumns = "id, email, display_name, role, password_hash, must_change_password, active, created_at, updated_at"

type scanner interface{ Scan(...any) error }

func scanUser(s scanner) (*User, error) {
	var u User
	var created, updated string
	if err := s.Scan(&u.ID, &u.Email, &u.DisplayName, &u.Role, &u.PasswordHash, &u.MustChangePassword, &u.Active, &created, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("scan user: %w", err)
	}
	u.CreatedAt, u.UpdatedAt = parseTime(created), parseTime(updated)
	return &u, nil
}

// NormalizeEmail lower-cases and trims an email address for lookups.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// CreateUser inserts u (its ID and times are set) and audits it. A duplicate email is ErrConflict.
func (db *DB) CreateUser(ctx context.Context, a Actor, u *User) error {
	return db.tx(ctx, func(tx *sql.Tx) error { return db.createUser(ctx, tx, a, u) })
}

func (db *DB) createUser(ctx context.Context, tx *sql.Tx, a Actor, u *User) error {
	u.Email = NormalizeEmail(u.Email)
	if !ValidRole(u.Role) {
		return fmt.Errorf("create user: role %q: %w", u.Role, ErrInvalid)
	}
	now := db.now()
	err := tx.QueryRowContext(ctx, `INSERT INTO users (email, display_name, role, password_hash, must_change_password, active, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, u.Email, u.DisplayName, u.Role, u.PasswordHash, boolInt(u.MustChangePassword), boolInt(u.Active), formatTime(now), formatTime(now)).Scan(&u.ID)
	if isUniqueViolation(err) {
		return fmt.Errorf("create user: email in use: %w", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	u.CreatedAt, u.UpdatedAt = now, now
	return db.appendAudit(ctx, tx, a, ActionUserCreate, "user", fmt.Sprint(u.ID), OutcomeSuccess, "role="+u.Role)
}

// CountUsers returns the number of accounts.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := db.queryRow(ctx, "SELECT count(*) FROM users").Scan(&n)
	return n, err
}

// UserByID returns the account with id, or ErrNotFound.
func (db *DB) UserByID(ctx context.Context, id int64) (*User, error) {
	return scanUser(db.queryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", id))
}

// UserByEmail returns the account with email (case-insensitive), or ErrNotFound.
func (db *DB) UserByEmail(ctx context.Context, email string) (*User, error) {
	return scanUser(db.queryRow(ctx, "SELECT "+userColumns+" FROM users WHERE email = ?", NormalizeEmail(email)))
}

// ListUsers returns accounts whose email or display name contains query, by email.
func (db *DB) ListUsers(ctx context.Context, query string) ([]*User, error) {
	// lower() on both sides: SQLite's LIKE ignores case, PostgreSQL's does not.
	q := strings.ToLower(containsPattern(strings.TrimSpace(query)))
	rows, err := db.query(ctx, "SELECT "+userColumns+` FROM users
		WHERE lower(email) LIKE ? ESCAPE '\' OR lower(display_name) LIKE ? ESCAPE '\' ORDER BY email LIMIT 500`, q, q)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []*User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// SetUserActive enables or disables an account; disabling ends its sessions.
func (db *DB) SetUserActive(ctx context.Context, a Actor, id int64, active bool) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.execOne(ctx, tx, "UPDATE users SET active = ?, updated_at = ? WHERE id = ?", boolInt(active), formatTime(db.now()), id); err != nil {
			return fmt.Errorf("set active: %w", err)
		}
		action := ActionUserEnable
		if !active {
			action = ActionUserDisable
			if err := db.endUserSessions(ctx, tx, a, id, "account disabled"); err != nil {
				return err
			}
		}
		return db.appendAudit(ctx, tx, a, action, "user", fmt.Sprint(id), OutcomeSuccess, "")
	})
}

// SetUserRole changes an account's role and ends its sessions.
func (db *DB) SetUserRole(ctx context.Context, a Actor, id int64, role string) error {
	if !ValidRole(role) {
		return fmt.Errorf("set role %q: %w", role, ErrInvalid)
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.execOne(ctx, tx, "UPDATE users SET role = ?, updated_at = ? WHERE id = ?", role, formatTime(db.now()), id); err != nil {
			return fmt.Errorf("set role: %w", err)
		}
		if err := db.endUserSessions(ctx, tx, a, id, "role changed"); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, a, ActionUserRole, "user", fmt.Sprint(id), OutcomeSuccess, "role="+role)
	})
}

// SetPassword stores a new password hash and ends every session of the account.
func (db *DB) SetPassword(ctx context.Context, a Actor, id int64, hash string, mustChange bool) error {
	return db.tx(ctx, func(tx *sql.Tx) error { return db.setPassword(ctx, tx, a, id, hash, mustChange) })
}

func (db *DB) setPassword(ctx context.Context, tx *sql.Tx, a Actor, id int64, hash string, mustChange bool) error {
	if err := db.execOne(ctx, tx, "UPDATE users SET password_hash = ?, must_change_password = ?, updated_at = ? WHERE id = ?",
		hash, boolInt(mustChange), formatTime(db.now()), id); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if err := db.endUserSessions(ctx, tx, a, id, "password changed"); err != nil {
		return err
	}
	return db.appendAudit(ctx, tx, a, ActionUserPassword, "user", fmt.Sprint(id), OutcomeSuccess, "")
}

// RehashPassword replaces a hash with a stronger one of the same password. It is not a
// password change: sessions stay.
func (db *DB) RehashPassword(ctx context.Context, id int64, hash string) error {
	_, err := db.exec(ctx, "UPDATE users SET password_hash = ? WHERE id = ?", hash, id)
	return err
}

// execOne runs a statement that must change exactly one row, else ErrNotFound.
func (db *DB) execOne(ctx context.Context, tx *sql.Tx, q string, args ...any) error {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return ErrNotFound
	}
	return nil
}

// BootstrapAdmin creates u only when there are no accounts at all, in one transaction,
// and reports whether it did.
func (db *DB) BootstrapAdmin(ctx context.Context, u *User) (bool, error) {
	created := false
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		created = true
		return db.createUser(ctx, tx, System, u)
	})
	return created, err
}
