package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Claim gives userID an expiring lock on a process awaiting review. Holding it already
// renews it. Another agent's unexpired claim is a *ClaimError unless takeover is set,
// which is audited. The claim is audited when it is new.
func (db *DB) Claim(ctx context.Context, a Actor, id string, userID int64, ttl time.Duration, takeover bool) (*Process, error) {
	var p *Process
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var err error
		p, err = db.claim(ctx, tx, a, id, userID, ttl, takeover)
		return err
	})
	return p, err
}

func (db *DB) claim(ctx context.Context, tx *sql.Tx, a Actor, id string, userID int64, ttl time.Duration, takeover bool) (*Process, error) {
	now := db.now()
	p, err := scanProcess(tx.QueryRowContext(ctx, "SELECT "+processColumns+processFrom+" WHERE p.id = ?", id))
	if err != nil {
		return nil, err
	}
	if !p.Reviewable {
		return p, ErrNotReviewable
	}
	mine := p.ClaimedBy == userID && p.ClaimActive(now)
	other := p.ClaimActive(now) && p.ClaimedBy != userID
	if other && !takeover {
		return p, &ClaimError{HolderID: p.ClaimedBy, HolderName: p.ClaimedByName, Since: p.ClaimedAt}
	}
	claimedAt := now
	if mine {
		claimedAt = p.ClaimedAt
	}
	if _, err := tx.ExecContext(ctx, "UPDATE processes SET claimed_by = ?, claimed_at = ?, claim_expires_at = ?, claim_seq = claim_seq + 1 WHERE id = ?",
		userID, formatTime(claimedAt), formatTime(now.Add(ttl)), id); err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	switch {
	case other:
		if err := db.appendAudit(ctx, tx, a, "process.takeover", "process", id, OutcomeSuccess, fmt.Sprintf("from user %d (%s)", p.ClaimedBy, p.ClaimedByName)); err != nil {
			return nil, err
		}
	case !mine:
		if err := db.appendAudit(ctx, tx, a, "process.claim", "process", id, OutcomeSuccess, ""); err != nil {
			return nil, err
		}
	}
	return scanProcess(tx.QueryRowContext(ctx, "SELECT "+processColumns+processFrom+" WHERE p.id = ?", id))
}

// Heartbeat extends userID's claim on a process; a lost claim is a *ClaimError or
// ErrNotReviewable.
func (db *DB) Heartbeat(ctx context.Context, a Actor, id string, ttl time.Duration) (*Process, error) {
	userID := a.UserID
	var p *Process
	err := db.tx(ctx, func(tx *sql.Tx) error {
		now := db.now()
		res, err := tx.ExecContext(ctx, "UPDATE processes SET claim_expires_at = ? WHERE id = ? AND reviewable = 1 AND claimed_by = ? AND claim_expires_at > ?",
			formatTime(now.Add(ttl)), id, userID, formatTime(now))
		if err != nil {
			return fmt.Errorf("heartbeat: %w", err)
		}
		p, err = scanProcess(tx.QueryRowContext(ctx, "SELECT "+processColumns+processFrom+" WHERE p.id = ?", id))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		if !p.Reviewable {
			return ErrNotReviewable
		}
		if p.ClaimActive(now) {
			return &ClaimError{HolderID: p.ClaimedBy, HolderName: p.ClaimedByName, Since: p.ClaimedAt}
		}
		// The claim expired and nobody took it: take it again.
		p, err = db.claim(ctx, tx, a, id, userID, ttl, false)
		return err
	})
	return p, err
}

// Release gives up userID's claim; releasing a claim one does not hold does nothing.
// A non-zero seq releases only the claim with that sequence number (the one a page
// made), not a newer one.
func (db *DB) Release(ctx context.Context, a Actor, id string, userID, seq int64) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE processes SET claimed_by = NULL, claimed_at = NULL, claim_expires_at = NULL
			WHERE id = ? AND claimed_by = ? AND (? = 0 OR claim_seq = ?)`, id, userID, seq, seq)
		if err != nil {
			return fmt.Errorf("release: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return db.appendAudit(ctx, tx, a, "process.release", "process", id, OutcomeSuccess, "")
	})
}

// ClaimNext claims the oldest unclaimed process matching q for userID, in one
// immediate transaction, so two agents never get the same process. ErrNotFound when
// the queue has nothing for them.
func (db *DB) ClaimNext(ctx context.Context, a Actor, userID int64, ttl time.Duration, q QueueQuery) (*Process, error) {
	var p *Process
	err := db.tx(ctx, func(tx *sql.Tx) error {
		q.Claim, q.AfterID, q.Newest = ClaimUnclaimed, "", false
		where, args := q.where(db.now())
		var id string
		err := tx.QueryRowContext(ctx, "SELECT p.id"+processFrom+" WHERE "+where+q.order()+" LIMIT 1", args...).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("next case: %w", err)
		}
		p, err = db.claim(ctx, tx, a, id, userID, ttl, false)
		return err
	})
	return p, err
}

// RecordEvidenceView audits userID's view of one kind of evidence once per claim.
func (db *DB) RecordEvidenceView(ctx context.Context, a Actor, id string, claimedAt time.Time, kind string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO evidence_views (process_id, user_id, claimed_at, kind, viewed_at) VALUES (?, ?, ?, ?, ?)",
			id, a.UserID, formatTime(claimedAt), kind, formatTime(db.now()))
		if err != nil {
			return fmt.Errorf("evidence view: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return db.appendAudit(ctx, tx, a, "evidence.view", "process", id, OutcomeSuccess, kind)
	})
}
