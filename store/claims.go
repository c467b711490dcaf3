package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Case is what a workflow rule judges before a write on a process: the rows as they are
// inside the write's transaction, and that transaction's one instant.
type Case struct {
	Process *Process
	// Decision is the decision the write is about, else the process's live decision;
	// nil when there is none.
	Decision *Decision
	// Served is what the current claim holder was served during the current claim:
	// evidence kinds, and ProcessData for the process data.
	Served map[EvidenceKind]bool
	Now    time.Time
}

// Rule judges a Case; an error refuses the write and is returned unchanged. The rules
// themselves live in review/rules.go: the store only reads the rows and writes.
type Rule func(*Case) error

// ProcessData stands in Case.Served for the process data (identity data, checks and
// scores) read from the gateway and shown to the agent. It is not an evidence kind.
const ProcessData EvidenceKind = "data"

// loadCase reads what rules judge, inside tx. decisionID names the decision the write
// is about; 0 means the process's live decision.
func (db *DB) loadCase(ctx context.Context, tx querier, processID string, decisionID int64) (*Case, error) {
	c := &Case{Now: db.now(), Served: map[EvidenceKind]bool{}}
	var err error
	if c.Process, err = scanProcess(tx.QueryRowContext(ctx, "SELECT "+processColumns+processFrom+" WHERE p.id = ?", processID)); err != nil {
		return nil, err
	}
	q, arg := "SELECT "+decisionColumns+decisionFrom+" WHERE d.process_id = ? AND d.state <> 'overturned' AND d.superseded_at IS NULL", any(processID)
	if decisionID != 0 {
		q, arg = "SELECT "+decisionColumns+decisionFrom+" WHERE d.id = ?", decisionID
	}
	c.Decision, err = scanDecision(tx.QueryRowContext(ctx, q, arg))
	if errors.Is(err, ErrNotFound) {
		c.Decision, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	if c.Process.ClaimedBy == 0 {
		return c, nil
	}
	rows, err := tx.QueryContext(ctx, "SELECT kind FROM evidence_views WHERE process_id = ? AND user_id = ? AND claimed_at = ?",
		processID, c.Process.ClaimedBy, formatTime(c.Process.ClaimedAt))
	if err != nil {
		return nil, fmt.Errorf("served evidence: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		c.Served[EvidenceKind(k)] = true
	}
	return c, rows.Err()
}

// querier is a transaction, or the database for reads that need none.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// LoadCase returns what the rules would judge now, outside any write (for display).
func (db *DB) LoadCase(ctx context.Context, processID string) (*Case, error) {
	return db.loadCase(ctx, db.db, processID, 0)
}

// Claim gives a an expiring lock on a process, if rule allows. Claiming one's own live
// claim renews it (a new sequence number, the same claim); taking another agent's live
// claim is a takeover. New claims and takeovers are audited.
func (db *DB) Claim(ctx context.Context, a Actor, id string, ttl time.Duration, rule Rule) (*Process, error) {
	var p *Process
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var err error
		p, err = db.claim(ctx, tx, a, id, ttl, rule)
		return err
	})
	return p, err
}

func (db *DB) claim(ctx context.Context, tx *sql.Tx, a Actor, id string, ttl time.Duration, rule Rule) (*Process, error) {
	c, err := db.loadCase(ctx, tx, id, 0)
	if err != nil {
		return nil, err
	}
	if err := rule(c); err != nil {
		return c.Process, err
	}
	p, now := c.Process, c.Now
	mine := p.ClaimedBy == a.UserID && p.ClaimActive(now)
	other := p.ClaimActive(now) && p.ClaimedBy != a.UserID
	claimedAt := now
	if mine {
		claimedAt = p.ClaimedAt
	}
	if _, err := tx.ExecContext(ctx, "UPDATE processes SET claimed_by = ?, claimed_at = ?, claim_expires_at = ?, claim_seq = claim_seq + 1 WHERE id = ?",
		a.UserID, formatTime(claimedAt), formatTime(now.Add(ttl)), id); err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	switch {
	case other:
		if err := db.appendAudit(ctx, tx, a, ActionProcessTakeover, "process", id, OutcomeSuccess, fmt.Sprintf("from user %d (%s)", p.ClaimedBy, p.ClaimedByName)); err != nil {
			return nil, err
		}
	case !mine:
		if err := db.appendAudit(ctx, tx, a, ActionProcessClaim, "process", id, OutcomeSuccess, ""); err != nil {
			return nil, err
		}
	}
	return scanProcess(tx.QueryRowContext(ctx, "SELECT "+processColumns+processFrom+" WHERE p.id = ?", id))
}

// Heartbeat extends the claim a page holds, if rule allows (the rule checks the page's
// claim is still the one on the process).
func (db *DB) Heartbeat(ctx context.Context, id string, ttl time.Duration, rule Rule) (*Process, error) {
	var p *Process
	err := db.tx(ctx, func(tx *sql.Tx) error {
		c, err := db.loadCase(ctx, tx, id, 0)
		if err != nil {
			return err
		}
		p = c.Process
		if err := rule(c); err != nil {
			return err
		}
		p.ClaimExpiresAt = c.Now.Add(ttl)
		_, err = tx.ExecContext(ctx, "UPDATE processes SET claim_expires_at = ? WHERE id = ?", formatTime(p.ClaimExpiresAt), id)
		return err
	})
	return p, err
}

// Release gives up userID's claim; releasing a claim one does not hold does nothing.
// A non-zero seq releases only the claim with that sequence number (the one a page
// made), not a newer one.
func (db *DB) Release(ctx context.Context, a Actor, id string, seq int64) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE processes SET claimed_by = NULL, claimed_at = NULL, claim_expires_at = NULL
			WHERE id = ? AND claimed_by = ? AND (? = 0 OR claim_seq = ?)`, id, a.UserID, seq, seq)
		if err != nil {
			return fmt.Errorf("release: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return db.appendAudit(ctx, tx, a, ActionProcessRelease, "process", id, OutcomeSuccess, "")
	})
}

// ClaimNext claims the oldest unclaimed process matching q for a, in one immediate
// transaction, so two agents never get the same process. ErrNotFound when the queue
// has nothing for them.
func (db *DB) ClaimNext(ctx context.Context, a Actor, ttl time.Duration, q QueueQuery, rule Rule) (*Process, error) {
	var p *Process
	err := db.tx(ctx, func(tx *sql.Tx) error {
		q.Claim, q.AfterID, q.Newest = ClaimUnclaimed, "", false
		from, where, args := q.clauses(db.now())
		var id string
		err := tx.QueryRowContext(ctx, "SELECT p.id"+from+" WHERE "+where+q.order()+" LIMIT 1", args...).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("next case: %w", err)
		}
		p, err = db.claim(ctx, tx, a, id, ttl, rule)
		return err
	})
	return p, err
}

// RecordServed records that a was served kind (an evidence kind, the ZIP, or
// ProcessData) of a process, and audits evidence access (L4): inside a's own live claim
// once per kind (what the accept rule counts), outside it every time.
func (db *DB) RecordServed(ctx context.Context, a Actor, id string, kind EvidenceKind) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		now := formatTime(db.now())
		var claimedAt string
		err := tx.QueryRowContext(ctx, "SELECT claimed_at FROM processes WHERE id = ? AND claimed_by = ? AND claim_expires_at > ?",
			id, a.UserID, now).Scan(&claimedAt)
		inClaim := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("served: %w", err)
		}
		detail := string(kind)
		if inClaim {
			res, err := tx.ExecContext(ctx, "INSERT INTO evidence_views (process_id, user_id, claimed_at, kind, viewed_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
				id, a.UserID, claimedAt, string(kind), now)
			if err != nil {
				return fmt.Errorf("served: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil // audited once in this claim already
			}
		} else {
			detail += "; outside the viewer's own claim"
		}
		if kind == ProcessData {
			return nil // the page view is audited as process.view
		}
		return db.appendAudit(ctx, tx, a, ActionEvidenceView, "process", id, OutcomeSuccess, detail)
	})
}
