package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Errors of deciding, beside the common sentinels.
var (
	// ErrAlreadyDecided: the process has a live decision already.
	ErrAlreadyDecided = fmt.Errorf("process already decided: %w", ErrConflict)
	// ErrReasonInactive: the rejection's reason is unknown or was retired meanwhile.
	ErrReasonInactive = fmt.Errorf("reason unknown or retired: %w", ErrInvalid)
)

// Decision is a verdict made in the portal and its delivery to the gateway.
type Decision struct {
	ID            int64
	ProcessID     string
	HolderName    string
	Verdict       Verdict
	ReasonID      int64
	ReasonLabel   string
	Comment       string // sent to the gateway as rejectionComment
	InternalNote  string // never sent
	Confirmations []string
	Corrections   map[string]string
	DecidedBy     int64
	DecidedByName string
	DecidedAt     time.Time
	State         DeliveryState
	SecondBy      int64
	SecondByName  string
	SecondAt      time.Time
	// DeliverableSince is when the decision became deliverable: decided, confirmed by a
	// second agent, or retried by a person. Parking counts from it.
	DeliverableSince time.Time
	Attempts         int
	NextAttemptAt    time.Time
	Ambiguous        bool
	LastError        string
	DeliveredAt      time.Time
	GatewayStatus    string
	UpdatedAt        time.Time
}

// NewDecision is what an agent decides.
type NewDecision struct {
	ProcessID     string
	Verdict       Verdict
	ReasonID      int64
	Comment       string
	InternalNote  string
	Confirmations []string
	Corrections   map[string]string
	SecondReview  bool // four-eyes: wait for a second agent before delivery
}

const decisionColumns = `d.id, d.process_id, coalesce(p.holder_name, ''), d.verdict, coalesce(d.reason_id, 0), coalesce(r.label, ''),
	d.comment, d.internal_note, d.confirmations, d.corrections, d.decided_by, coalesce(u.display_name, ''), d.decided_at, d.state,
	coalesce(d.second_by, 0), coalesce(s.display_name, ''), d.second_at, d.attempts, d.next_attempt_at, d.ambiguous, d.last_error,
	d.delivered_at, d.gateway_status, d.updated_at, d.deliverable_since`

const decisionFrom = ` FROM decisions d LEFT JOIN processes p ON p.id = d.process_id LEFT JOIN reasons r ON r.id = d.reason_id
	LEFT JOIN users u ON u.id = d.decided_by LEFT JOIN users s ON s.id = d.second_by`

func scanDecision(sc scanner) (*Decision, error) {
	var d Decision
	var confirmations, corrections, decidedAt, updatedAt string
	var secondAt, next, delivered, deliverable sql.NullString
	err := sc.Scan(&d.ID, &d.ProcessID, &d.HolderName, &d.Verdict, &d.ReasonID, &d.ReasonLabel, &d.Comment, &d.InternalNote,
		&confirmations, &corrections, &d.DecidedBy, &d.DecidedByName, &decidedAt, &d.State, &d.SecondBy, &d.SecondByName,
		&secondAt, &d.Attempts, &next, &d.Ambiguous, &d.LastError, &delivered, &d.GatewayStatus, &updatedAt, &deliverable)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("scan decision: %w", err)
	}
	d.Confirmations = splitList(confirmations)
	if corrections != "" {
		_ = json.Unmarshal([]byte(corrections), &d.Corrections)
	}
	d.DecidedAt, d.UpdatedAt = parseTime(decidedAt), parseTime(updatedAt)
	d.SecondAt, d.NextAttemptAt, d.DeliveredAt = nullTime(secondAt), nullTime(next), nullTime(delivered)
	d.DeliverableSince = nullTime(deliverable)
	return &d, nil
}

// Decide records a decision by a if rule allows it (review's rule: the claim holder
// decides a process in review, after seeing the evidence). The decision (also the
// outbox row), the process leaving review and the audit row commit together,
// conditionally: of many agents deciding at once exactly one wins and the others get a
// conflict (D1).
func (db *DB) Decide(ctx context.Context, a Actor, nd NewDecision, rule Rule) (*Decision, error) {
	var id int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		c, err := db.loadCase(ctx, tx, nd.ProcessID, 0)
		if err != nil {
			return err
		}
		if err := rule(c); err != nil {
			return err
		}
		now := c.Now
		var reason any
		if nd.Verdict == VerdictReject {
			// The reason may have been retired since the form was filled in.
			var active bool
			err := tx.QueryRowContext(ctx, "SELECT active FROM reasons WHERE id = ?", nd.ReasonID).Scan(&active)
			if errors.Is(err, sql.ErrNoRows) || (err == nil && !active) {
				return ErrReasonInactive
			}
			if err != nil {
				return err
			}
			reason = nd.ReasonID
		} else {
			nd.ReasonID, nd.Comment = 0, ""
		}
		corrections := ""
		if len(nd.Corrections) > 0 {
			// Plain JSON, not HTML-escaped: "<" as \u003c would triple the size.
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(nd.Corrections); err != nil {
				return fmt.Errorf("corrections: %w", err)
			}
			corrections = strings.TrimSpace(b.String())
			if len(corrections) > 8000 {
				return fmt.Errorf("the corrections are too long: %w", ErrInvalid)
			}
		}
		state, next := StateQueued, any(formatTime(now))
		if nd.SecondReview {
			state, next = StateSecondReview, nil
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO decisions (process_id, verdict, reason_id, comment, internal_note, confirmations,
			corrections, decided_by, decided_at, state, next_attempt_at, updated_at, deliverable_since)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			nd.ProcessID, nd.Verdict, reason, nd.Comment, nd.InternalNote, joinList(nd.Confirmations), corrections,
			a.UserID, formatTime(now), state, next, formatTime(now), next).Scan(&id)
		if isUniqueViolation(err) {
			return ErrAlreadyDecided
		}
		if err != nil {
			return fmt.Errorf("record decision: %w", err)
		}
		// Who may decide was the rule's to judge; this only keeps D1 if a second
		// decision ever got past the unique index.
		if err := db.execOne(ctx, tx, `UPDATE processes SET decided = 1, reviewable = 0, review_since = NULL, claimed_by = NULL,
			claimed_at = NULL, claim_expires_at = NULL WHERE id = ? AND decided = 0`, nd.ProcessID); err != nil {
			return ErrAlreadyDecided
		}
		return db.appendAudit(ctx, tx, a, nd.Verdict.Action(), "process", nd.ProcessID, OutcomeSuccess, decisionDetail(nd))
	})
	if err != nil {
		return nil, err
	}
	return db.GetDecision(ctx, id)
}

func decisionDetail(nd NewDecision) string {
	var parts []string
	parts = append(parts, fmt.Sprintf("decision=%s", nd.Verdict))
	if nd.ReasonID != 0 {
		parts = append(parts, fmt.Sprintf("reason=%d", nd.ReasonID))
	}
	if len(nd.Confirmations) > 0 {
		parts = append(parts, "confirmed="+strings.Join(nd.Confirmations, ","))
	}
	if len(nd.Corrections) > 0 {
		keys := make([]string, 0, len(nd.Corrections))
		for k := range nd.Corrections {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts = append(parts, "corrected="+strings.Join(keys, ","))
	}
	if nd.InternalNote != "" {
		parts = append(parts, "with internal note")
	}
	if nd.SecondReview {
		parts = append(parts, "awaits second review")
	}
	return strings.Join(parts, "; ")
}

// GetDecision returns a decision by id.
func (db *DB) GetDecision(ctx context.Context, id int64) (*Decision, error) {
	return scanDecision(db.queryRow(ctx, "SELECT "+decisionColumns+decisionFrom+" WHERE d.id = ?", id))
}

// LiveDecision returns the process's decision that is neither overturned nor
// superseded (by the gateway putting the process back into review), or ErrNotFound.
func (db *DB) LiveDecision(ctx context.Context, processID string) (*Decision, error) {
	return scanDecision(db.queryRow(ctx, "SELECT "+decisionColumns+decisionFrom+
		" WHERE d.process_id = ? AND d.state <> 'overturned' AND d.superseded_at IS NULL", processID))
}

// DecisionFilter selects decisions; zero fields match everything.
type DecisionFilter struct {
	DecidedBy int64
	States    []DeliveryState
	Limit     int
}

// ListDecisions returns decisions, newest first.
func (db *DB) ListDecisions(ctx context.Context, f DecisionFilter) ([]*Decision, error) {
	var where []string
	var args []any
	if f.DecidedBy != 0 {
		where, args = append(where, "d.decided_by = ?"), append(args, f.DecidedBy)
	}
	if len(f.States) > 0 {
		where = append(where, "d.state IN (?"+strings.Repeat(", ?", len(f.States)-1)+")")
		for _, s := range f.States {
			args = append(args, s)
		}
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	q := "SELECT " + decisionColumns + decisionFrom
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY d.decided_at DESC, d.id DESC LIMIT ?"
	return db.listDecisions(ctx, "list decisions", q, append(args, f.Limit)...)
}

// listDecisions runs a query selecting decisionColumns and scans every row.
func (db *DB) listDecisions(ctx context.Context, what, q string, args ...any) ([]*Decision, error) {
	rows, err := db.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []*Decision
	for rows.Next() {
		d, err := scanDecision(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// DueDeliveries returns queued decisions whose next attempt is due.
func (db *DB) DueDeliveries(ctx context.Context, limit int) ([]*Decision, error) {
	return db.listDecisions(ctx, "due deliveries", "SELECT "+decisionColumns+decisionFrom+
		" WHERE d.state = 'queued' AND d.next_attempt_at <= ? ORDER BY d.next_attempt_at LIMIT ?", formatTime(db.now()), limit)
}

// NextDeliveryDue returns when the next queued delivery falls due (zero if none).
func (db *DB) NextDeliveryDue(ctx context.Context) (time.Time, error) {
	var due sql.NullString
	err := db.queryRow(ctx, "SELECT min(next_attempt_at) FROM decisions WHERE state = 'queued'").Scan(&due)
	return nullTime(due), err
}

// StartDelivery marks a queued, due decision as being sent by this instance and counts
// the attempt. It reports false when the decision is not queued and due any more
// (someone else took it; instances.go).
func (db *DB) StartDelivery(ctx context.Context, id int64) (bool, error) {
	return db.startOutbox(ctx, "decisions", "", id)
}

// DeliveryOutcome is the result of a delivery attempt.
type DeliveryOutcome struct {
	State         DeliveryState // StateDelivered, StateQueued (retry), StateConflict or StateParked
	Next          time.Time     // next attempt, for StateQueued
	Ambiguous     bool          // the gateway may have applied it: read the status first next time
	Error         string        // what went wrong, for people
	GatewayStatus string        // the process status the gateway reported
	Audit         bool          // write an audit row (every outcome but a plain retry)
}

// FinishDelivery records the outcome of the attempt this instance started on decision d
// (d as read before or after its StartDelivery); a delivered decision marks the process
// final with its verdict. It returns ErrStaleAttempt, recording nothing, when the
// decision is no longer in that attempt (instances.go).
func (db *DB) FinishDelivery(ctx context.Context, d *Decision, o DeliveryOutcome) error {
	if len(o.Error) > 500 {
		o.Error = strings.ToValidUTF8(o.Error[:500], "") // never half a character
	}
	attempt, fence := db.fenceArgs("decisions", d.ID, string(d.State), d.Attempts)
	return db.tx(ctx, func(tx *sql.Tx) error {
		now := db.now()
		var next, delivered any
		if o.State == StateQueued {
			next = formatTime(o.Next)
		}
		if o.State == StateDelivered {
			delivered = formatTime(now)
		}
		err := db.execOne(ctx, tx, `UPDATE decisions SET state = ?, next_attempt_at = ?, ambiguous = ?, last_error = ?,
			delivered_at = coalesce(?, delivered_at), gateway_status = ?, updated_at = ?, sending_by = NULL`+finishFence,
			append([]any{o.State, next, boolInt(o.Ambiguous), o.Error, delivered, o.GatewayStatus, formatTime(now)}, fence...)...)
		if errors.Is(err, ErrNotFound) {
			err = ErrStaleAttempt
		}
		if err != nil {
			return fmt.Errorf("finish delivery of decision %d, attempt %d: %w", d.ID, attempt, err)
		}
		if o.State == StateDelivered {
			status := d.Verdict.GatewayStatus()
			if _, err := tx.ExecContext(ctx, "UPDATE processes SET status = ?, raw_status = ?, stage = 'DONE', final = 1 WHERE id = ?",
				status, status, d.ProcessID); err != nil {
				return err
			}
		}
		if !o.Audit {
			return nil
		}
		outcome := OutcomeSuccess
		if o.State != StateDelivered {
			outcome = OutcomeFailure
		}
		detail := fmt.Sprintf("decision %d %s; attempt %d", d.ID, o.State, attempt)
		if o.Error != "" {
			detail += ": " + o.Error
		}
		return db.appendAudit(ctx, tx, System, ActionDelivery, "process", d.ProcessID, outcome, detail)
	})
}

// RecoverDeliveries is for an instance's start: it puts the decisions its previous life
// left "sending", and those of instances that stopped, back in the queue, marked
// ambiguous so that the worker reads the status before sending again (D3, D4).
func (db *DB) RecoverDeliveries(ctx context.Context) (int64, error) {
	return db.recoverSending(ctx, "decisions", true)
}

// TakeOverDeliveries puts the decisions left "sending" by instances that stopped back
// in the queue, marked ambiguous; the running instances call it all the time.
func (db *DB) TakeOverDeliveries(ctx context.Context) (int64, error) {
	return db.recoverSending(ctx, "decisions", false)
}

// ParkStale parks queued decisions not delivered within maxAge of being decided (of
// being confirmed, for a four-eyes decision).
func (db *DB) ParkStale(ctx context.Context, maxAge time.Duration) (int, error) {
	n := 0
	err := db.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT id, process_id FROM decisions WHERE state = 'queued' AND deliverable_since <= ?",
			formatTime(db.now().Add(-maxAge)))
		if err != nil {
			return err
		}
		type row struct {
			id  int64
			pid string
		}
		var stale []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.pid); err != nil {
				rows.Close()
				return err
			}
			stale = append(stale, r)
		}
		rows.Close()
		for _, r := range stale {
			if _, err := tx.ExecContext(ctx, "UPDATE decisions SET state = 'parked', updated_at = ? WHERE id = ?", formatTime(db.now()), r.id); err != nil {
				return err
			}
			if err := db.appendAudit(ctx, tx, System, ActionDelivery, "process", r.pid, OutcomeFailure,
				fmt.Sprintf("decision %d parked: not delivered within %s", r.id, maxAge)); err != nil {
				return err
			}
		}
		n = len(stale)
		return nil
	})
	return n, err
}

// decisionCase loads the decision id and its process for a rule, inside tx.
func (db *DB) decisionCase(ctx context.Context, tx *sql.Tx, id int64, rule Rule) (*Case, error) {
	var pid string
	err := tx.QueryRowContext(ctx, "SELECT process_id FROM decisions WHERE id = ?", id).Scan(&pid)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	c, err := db.loadCase(ctx, tx, pid, id)
	if err != nil {
		return nil, err
	}
	return c, rule(c)
}

// RetryDelivery puts a decision back in the delivery queue now, if rule allows (review
// says which states can be retried, and by whom).
func (db *DB) RetryDelivery(ctx context.Context, a Actor, id int64, rule Rule) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		c, err := db.decisionCase(ctx, tx, id, rule)
		if err != nil {
			return err
		}
		now := formatTime(c.Now)
		if _, err := tx.ExecContext(ctx, `UPDATE decisions SET state = 'queued', next_attempt_at = ?, ambiguous = 1, updated_at = ?,
			deliverable_since = ? WHERE id = ?`, now, now, now, id); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, a, ActionRetry, "process", c.Process.ID, OutcomeSuccess, fmt.Sprintf("decision %d (was %s)", id, c.Decision.State))
	})
}

// ResolveDecision records that a person settled a decision by hand, with a note, if
// rule allows.
func (db *DB) ResolveDecision(ctx context.Context, a Actor, id int64, note string, rule Rule) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		c, err := db.decisionCase(ctx, tx, id, rule)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE decisions SET state = 'resolved', updated_at = ? WHERE id = ?", formatTime(c.Now), id); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, a, ActionResolve, "process", c.Process.ID, OutcomeSuccess, fmt.Sprintf("decision %d: %s", id, note))
	})
}

// ConfirmSecond is the second agent's confirmation of a four-eyes decision, if rule
// allows: it is queued for delivery and the second agent's claim ends.
func (db *DB) ConfirmSecond(ctx context.Context, a Actor, id int64, rule Rule) (*Decision, error) {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		c, err := db.decisionCase(ctx, tx, id, rule)
		if err != nil {
			return err
		}
		d, now := c.Decision, formatTime(c.Now)
		if _, err := tx.ExecContext(ctx, `UPDATE decisions SET state = 'queued', second_by = ?, second_at = ?, next_attempt_at = ?, updated_at = ?,
			deliverable_since = ? WHERE id = ?`, a.UserID, now, now, now, now, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE processes SET claimed_by = NULL, claimed_at = NULL, claim_expires_at = NULL WHERE id = ?", d.ProcessID); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, a, ActionConfirm, "process", d.ProcessID, OutcomeSuccess, fmt.Sprintf("decision %d (%s by user %d) confirmed", id, d.Verdict, d.DecidedBy))
	})
	if err != nil {
		return nil, err
	}
	return db.GetDecision(ctx, id)
}

// Overturn is the second agent's refusal of a four-eyes decision, if rule allows: it is
// never delivered and the process returns to review, claimed by the second agent.
func (db *DB) Overturn(ctx context.Context, a Actor, id int64, note string, claimTTL time.Duration, rule Rule) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		c, err := db.decisionCase(ctx, tx, id, rule)
		if err != nil {
			return err
		}
		d, now := c.Decision, c.Now
		if _, err := tx.ExecContext(ctx, "UPDATE decisions SET state = 'overturned', second_by = ?, second_at = ?, updated_at = ? WHERE id = ?",
			a.UserID, formatTime(now), formatTime(now), id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE processes SET decided = 0, reviewable = 1, review_since = ?, claimed_by = ?, claimed_at = ?,
			claim_expires_at = ?, claim_seq = claim_seq + 1 WHERE id = ?`, formatTime(now), a.UserID, formatTime(now), formatTime(now.Add(claimTTL)), d.ProcessID); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, a, ActionOverturn, "process", d.ProcessID, OutcomeSuccess, fmt.Sprintf("decision %d (%s by user %d) overturned: %s", id, d.Verdict, d.DecidedBy, note))
	})
}

// SetNextAfterDecision stores the user's choice of going to the next case after deciding.
func (db *DB) SetNextAfterDecision(ctx context.Context, a Actor, userID int64, on bool) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.execOne(ctx, tx, "UPDATE users SET next_after_decision = ? WHERE id = ?", boolInt(on), userID); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, a, ActionUserSetting, "user", fmt.Sprint(userID), OutcomeSuccess, fmt.Sprintf("next_after_decision=%t", on))
	})
}

// NextAfterDecision returns the user's choice (default on).
func (db *DB) NextAfterDecision(ctx context.Context, userID int64) (bool, error) {
	var on bool
	err := db.queryRow(ctx, "SELECT next_after_decision FROM users WHERE id = ?", userID).Scan(&on)
	if errors.Is(err, sql.ErrNoRows) {
		return true, ErrNotFound
	}
	return on, err
}
