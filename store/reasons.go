package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Reason is an entry of the rejection reason catalogue.
type Reason struct {
	ID           int64
	Code         string
	Label        string // what agents see
	CustomerText string // what is sent to the customer as the rejection comment
	Position     int
	Active       bool
	InUse        bool // some decision refers to it: it can be retired, never deleted
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

const reasonColumns = `r.id, r.code, r.label, r.customer_text, r.position, r.active,
	EXISTS (SELECT 1 FROM decisions d WHERE d.reason_id = r.id), r.created_at, r.updated_at`

func scanReason(s scanner) (*Reason, error) {
	var r Reason
	var created, updated string
	err := s.Scan(&r.ID, &r.Code, &r.Label, &r.CustomerText, &r.Position, &r.Active, &r.InUse, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("scan reason: %w", err)
	}
	r.CreatedAt, r.UpdatedAt = parseTime(created), parseTime(updated)
	return &r, nil
}

// ListReasons returns the catalogue in its order; activeOnly leaves out retired ones.
func (db *DB) ListReasons(ctx context.Context, activeOnly bool) ([]*Reason, error) {
	q := "SELECT " + reasonColumns + " FROM reasons r"
	if activeOnly {
		q += " WHERE r.active = 1"
	}
	rows, err := db.query(ctx, q+" ORDER BY r.active DESC, r.position, r.id")
	if err != nil {
		return nil, fmt.Errorf("list reasons: %w", err)
	}
	defer rows.Close()
	var out []*Reason
	for rows.Next() {
		r, err := scanReason(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// GetReason returns a reason by id.
func (db *DB) GetReason(ctx context.Context, id int64) (*Reason, error) {
	return scanReason(db.queryRow(ctx, "SELECT "+reasonColumns+" FROM reasons r WHERE r.id = ?", id))
}

// CreateReason adds a reason at the end of the catalogue; a duplicate code is ErrConflict.
func (db *DB) CreateReason(ctx context.Context, a Actor, r *Reason) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		now := formatTime(db.now())
		err := tx.QueryRowContext(ctx, `INSERT INTO reasons (code, label, customer_text, position, active, created_at, updated_at)
			VALUES (?, ?, ?, (SELECT coalesce(max(position), 0) + 1 FROM reasons), 1, ?, ?) RETURNING id`, r.Code, r.Label, r.CustomerText, now, now).Scan(&r.ID)
		if isUniqueViolation(err) {
			return fmt.Errorf("reason code %q in use: %w", r.Code, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("create reason: %w", err)
		}
		return db.appendAudit(ctx, tx, a, ActionReasonCreate, "reason", fmt.Sprint(r.ID), OutcomeSuccess, r.Code)
	})
}

// UpdateReason changes a reason's label and customer wording (the code stays).
func (db *DB) UpdateReason(ctx context.Context, a Actor, id int64, label, customerText string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.execOne(ctx, tx, "UPDATE reasons SET label = ?, customer_text = ?, updated_at = ? WHERE id = ?",
			label, customerText, formatTime(db.now()), id); err != nil {
			return fmt.Errorf("update reason: %w", err)
		}
		return db.appendAudit(ctx, tx, a, ActionReasonUpdate, "reason", fmt.Sprint(id), OutcomeSuccess, "")
	})
}

// SetReasonActive retires or restores a reason.
func (db *DB) SetReasonActive(ctx context.Context, a Actor, id int64, active bool) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.execOne(ctx, tx, "UPDATE reasons SET active = ?, updated_at = ? WHERE id = ?", boolInt(active), formatTime(db.now()), id); err != nil {
			return fmt.Errorf("set reason active: %w", err)
		}
		action := ActionReasonRestore
		if !active {
			action = ActionReasonRetire
		}
		return db.appendAudit(ctx, tx, a, action, "reason", fmt.Sprint(id), OutcomeSuccess, "")
	})
}

// MoveReason swaps a reason with its neighbour among the active ones (delta -1 up, +1 down).
func (db *DB) MoveReason(ctx context.Context, a Actor, id int64, delta int) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var pos int
		if err := tx.QueryRowContext(ctx, "SELECT position FROM reasons WHERE id = ?", id).Scan(&pos); errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		q := "SELECT id, position FROM reasons WHERE active = 1 AND position < ? ORDER BY position DESC LIMIT 1"
		if delta > 0 {
			q = "SELECT id, position FROM reasons WHERE active = 1 AND position > ? ORDER BY position LIMIT 1"
		}
		var otherID int64
		var otherPos int
		if err := tx.QueryRowContext(ctx, q, pos).Scan(&otherID, &otherPos); errors.Is(err, sql.ErrNoRows) {
			return nil // already first or last
		} else if err != nil {
			return err
		}
		now := formatTime(db.now())
		if _, err := tx.ExecContext(ctx, "UPDATE reasons SET position = ?, updated_at = ? WHERE id = ?", otherPos, now, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE reasons SET position = ?, updated_at = ? WHERE id = ?", pos, now, otherID); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, a, ActionReasonMove, "reason", fmt.Sprint(id), OutcomeSuccess, fmt.Sprintf("delta=%d", delta))
	})
}
