package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Running the desk: skipping a case, escalating it, sending a finished process back to
// manual review at the gateway (the send-back outbox) and QA sampling. Who may do what is
// review's to judge (review/rules.go); the store loads the rows inside the write's
// transaction, hands them to the rule, and writes.

// Settings keys of the desk.
const (
	SettingSkipMinutes     = "skip_minutes"      // a skipped case stays out of the agent's "Next case" this long
	SettingQASamplePercent = "qa_sample_percent" // share of automatically verified processes sent back for a human check
)

// releaseClaimSQL ends whoever's claim on a process.
const releaseClaimSQL = "UPDATE processes SET claimed_by = NULL, claimed_at = NULL, claim_expires_at = NULL WHERE id = ?"

// Skip releases a's claim on a process and keeps it out of a's "Next case" for d, if
// rule allows. Skipping again moves the time. Audited.
func (db *DB) Skip(ctx context.Context, a Actor, id string, d time.Duration, rule Rule) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		c, err := db.loadCase(ctx, tx, id, 0)
		if err != nil {
			return err
		}
		if err := rule(c); err != nil {
			return err
		}
		until, now := formatTime(c.Now.Add(d)), formatTime(c.Now)
		if _, err := tx.ExecContext(ctx, releaseClaimSQL, id); err != nil {
			return fmt.Errorf("skip: %w", err)
		}
		// The agent's own lapsed skips go as new ones come: the table stays as small as
		// the skips in force.
		if _, err := tx.ExecContext(ctx, "DELETE FROM skips WHERE user_id = ? AND until <= ?", a.UserID, now); err != nil {
			return fmt.Errorf("skip: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO skips (user_id, process_id, until) VALUES (?, ?, ?)
			ON CONFLICT (user_id, process_id) DO UPDATE SET until = excluded.until`, a.UserID, id, until); err != nil {
			return fmt.Errorf("skip: %w", err)
		}
		return db.appendAudit(ctx, tx, a, ActionProcessSkip, "process", id, OutcomeSuccess,
			fmt.Sprintf("released; kept out of their next case for %s", d))
	})
}

// Escalate moves a case to the Escalated view with a's note and releases the claim on
// it, if rule allows. Audited with the note.
func (db *DB) Escalate(ctx context.Context, a Actor, id, note string, rule Rule) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		c, err := db.loadCase(ctx, tx, id, 0)
		if err != nil {
			return err
		}
		if err := rule(c); err != nil {
			return err
		}
		if err := db.execOne(ctx, tx, `UPDATE processes SET escalated_at = ?, escalated_by = ?, escalation_note = ?,
			claimed_by = NULL, claimed_at = NULL, claim_expires_at = NULL WHERE id = ? AND reviewable = 1`,
			formatTime(c.Now), a.UserID, note, id); err != nil {
			return fmt.Errorf("escalate: %w", err)
		}
		return db.appendAudit(ctx, tx, a, ActionProcessEscalate, "process", id, OutcomeSuccess, "escalated: "+note)
	})
}

// Deescalate returns an escalated case to the queue, if rule allows. Audited.
func (db *DB) Deescalate(ctx context.Context, a Actor, id string, rule Rule) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		c, err := db.loadCase(ctx, tx, id, 0)
		if err != nil {
			return err
		}
		if err := rule(c); err != nil {
			return err
		}
		if err := db.execOne(ctx, tx, "UPDATE processes SET escalated_at = NULL, escalated_by = NULL, escalation_note = '' WHERE id = ?", id); err != nil {
			return fmt.Errorf("de-escalate: %w", err)
		}
		return db.appendAudit(ctx, tx, a, ActionProcessEscalate, "process", id, OutcomeSuccess, "returned to the queue")
	})
}

// CountEscalated returns how many cases in review are escalated (through the partial
// index processes_escalated: escalated cases are few).
func (db *DB) CountEscalated(ctx context.Context) (int, error) {
	var n int
	err := db.queryRow(ctx, "SELECT count(*) FROM processes INDEXED BY processes_escalated WHERE reviewable = 1 AND escalated_at IS NOT NULL").Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count escalated: %w", err)
	}
	return n, nil
}

// SendBack is a request to send a finished process back to manual review at the
// gateway: the outbox row. It moves through the erasures' states (queued, sending,
// done, failed, parked); ErasureOutcome reports its attempts.
type SendBack struct {
	ID              int64
	ProcessID       string
	State           ErasureState
	RequestedBy     int64 // 0: QA sampling
	RequestedByName string
	RequestedAt     time.Time
	Reason          string
	// DeliverableSince is when it was requested or put back in the queue by a person;
	// parking counts from it.
	DeliverableSince time.Time
	Attempts         int
	NextAttemptAt    time.Time // zero unless queued
	Ambiguous        bool
	LastError        string
	DoneAt           time.Time
	UpdatedAt        time.Time
}

// Open reports a request not settled yet (queued or being sent).
func (sb *SendBack) Open() bool { return sb.State == ErasureQueued || sb.State == ErasureSending }

// StateLabel names the request's state for people.
func (sb *SendBack) StateLabel() string {
	switch {
	case sb.State == ErasureQueued && sb.Attempts > 0:
		return "Retrying"
	case sb.State == ErasureDone:
		return "Sent back"
	}
	return sb.State.Label()
}

// SendBackCase is what the send-back rules judge: the process case and its latest
// send-back request (nil when none), read inside the write's transaction.
type SendBackCase struct {
	*Case
	Latest *SendBack
}

// SendBackRule judges a SendBackCase; an error refuses the write and is returned unchanged.
type SendBackRule func(*SendBackCase) error

const sendBackColumns = `s.id, s.process_id, s.state, coalesce(s.requested_by, 0), coalesce(u.display_name, ''), s.requested_at,
	s.reason, s.deliverable_since, s.attempts, s.next_attempt_at, s.ambiguous, s.last_error, s.done_at, s.updated_at`

const sendBackFrom = ` FROM send_backs s LEFT JOIN users u ON u.id = s.requested_by`

func scanSendBack(sc scanner) (*SendBack, error) {
	var sb SendBack
	var requested, deliverable, updated string
	var next, done sql.NullString
	err := sc.Scan(&sb.ID, &sb.ProcessID, &sb.State, &sb.RequestedBy, &sb.RequestedByName, &requested, &sb.Reason, &deliverable,
		&sb.Attempts, &next, &sb.Ambiguous, &sb.LastError, &done, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("scan send-back: %w", err)
	}
	sb.RequestedAt, sb.DeliverableSince, sb.UpdatedAt = parseTime(requested), parseTime(deliverable), parseTime(updated)
	sb.NextAttemptAt, sb.DoneAt = nullTime(next), nullTime(done)
	return &sb, nil
}

func (db *DB) loadSendBackCase(ctx context.Context, tx querier, processID string) (*SendBackCase, error) {
	c, err := db.loadCase(ctx, tx, processID, 0)
	if err != nil {
		return nil, err
	}
	sc := &SendBackCase{Case: c}
	sc.Latest, err = scanSendBack(tx.QueryRowContext(ctx, "SELECT "+sendBackColumns+sendBackFrom+
		" WHERE s.process_id = ? ORDER BY s.id DESC LIMIT 1", processID))
	if errors.Is(err, ErrNotFound) {
		sc.Latest, err = nil, nil
	}
	return sc, err
}

// LoadSendBackCase returns what the send-back rules would judge now (for display).
func (db *DB) LoadSendBackCase(ctx context.Context, processID string) (*SendBackCase, error) {
	return db.loadSendBackCase(ctx, db.db, processID)
}

// RequestSendBack queues a send-back of a process for a, with a reason, if rule allows.
// Audited.
func (db *DB) RequestSendBack(ctx context.Context, a Actor, processID, reason string, rule SendBackRule) (*SendBack, error) {
	var id int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		sc, err := db.loadSendBackCase(ctx, tx, processID)
		if err != nil {
			return err
		}
		if err := rule(sc); err != nil {
			return err
		}
		id, err = db.queueSendBack(ctx, tx, a, sc.Case, reason)
		if err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, a, ActionProcessSendBack, "process", processID, OutcomeSuccess,
			clipText(fmt.Sprintf("send-back %d requested: %s", id, reason), 1000))
	})
	if err != nil {
		return nil, err
	}
	return db.GetSendBack(ctx, id)
}

// SampleForQA marks a process as picked by QA sampling and queues its send-back, if rule
// allows (review: the gateway verified it automatically, it was never sampled, and it
// falls in the sample). It reports whether it did. Audited by the system.
func (db *DB) SampleForQA(ctx context.Context, processID string, rule SendBackRule) (bool, error) {
	sampled := false
	err := db.tx(ctx, func(tx *sql.Tx) error {
		sc, err := db.loadSendBackCase(ctx, tx, processID)
		if err != nil {
			return err
		}
		if rule(sc) != nil {
			return nil
		}
		if err := db.execOne(ctx, tx, "UPDATE processes SET qa_sampled = 1 WHERE id = ? AND qa_sampled = 0", processID); err != nil {
			return fmt.Errorf("sample: %w", err)
		}
		id, err := db.queueSendBack(ctx, tx, System, sc.Case, "QA sampling")
		if err != nil {
			return err
		}
		sampled = true
		return db.appendAudit(ctx, tx, System, ActionProcessSample, "process", processID, OutcomeSuccess,
			fmt.Sprintf("verified automatically; picked for a human check (send-back %d)", id))
	})
	return sampled, err
}

func (db *DB) queueSendBack(ctx context.Context, tx *sql.Tx, a Actor, c *Case, reason string) (int64, error) {
	now := formatTime(c.Now)
	var by any
	if a.UserID != 0 {
		by = a.UserID
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO send_backs (process_id, state, requested_by, requested_at, reason, deliverable_since,
		next_attempt_at, updated_at) VALUES (?, 'queued', ?, ?, ?, ?, ?, ?) RETURNING id`, c.Process.ID, by, now, reason, now, now, now).Scan(&id)
	if isUniqueViolation(err) {
		return 0, fmt.Errorf("process %s is already being sent back: %w", c.Process.ID, ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("queue send-back of %s: %w", c.Process.ID, err)
	}
	return id, nil
}

// RetrySendBack puts a failed or parked send-back back in the queue now, if rule allows.
func (db *DB) RetrySendBack(ctx context.Context, a Actor, id int64, rule SendBackRule) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var pid string
		err := tx.QueryRowContext(ctx, "SELECT process_id FROM send_backs WHERE id = ?", id).Scan(&pid)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		sc, err := db.loadSendBackCase(ctx, tx, pid)
		if err != nil {
			return err
		}
		if err := rule(sc); err != nil {
			return err
		}
		if sc.Latest == nil || sc.Latest.ID != id {
			return fmt.Errorf("send-back %d is not the latest of %s: %w", id, pid, ErrConflict)
		}
		now := formatTime(sc.Now)
		if err := db.execOne(ctx, tx, `UPDATE send_backs SET state = 'queued', next_attempt_at = ?, deliverable_since = ?, updated_at = ?
			WHERE id = ? AND state IN ('failed', 'parked')`, now, now, now, id); err != nil {
			return fmt.Errorf("retry send-back %d: %w", id, err)
		}
		return db.appendAudit(ctx, tx, a, ActionProcessSendBack, "process", pid, OutcomeSuccess,
			fmt.Sprintf("send-back %d queued again (was %s)", id, sc.Latest.State))
	})
}

// GetSendBack returns a send-back by id, or ErrNotFound.
func (db *DB) GetSendBack(ctx context.Context, id int64) (*SendBack, error) {
	return scanSendBack(db.queryRow(ctx, "SELECT "+sendBackColumns+sendBackFrom+" WHERE s.id = ?", id))
}

// LatestSendBack returns the latest send-back of a process, or ErrNotFound.
func (db *DB) LatestSendBack(ctx context.Context, processID string) (*SendBack, error) {
	return scanSendBack(db.queryRow(ctx, "SELECT "+sendBackColumns+sendBackFrom+" WHERE s.process_id = ? ORDER BY s.id DESC LIMIT 1", processID))
}

// DueSendBacks returns queued send-backs whose next attempt is due, oldest due first.
func (db *DB) DueSendBacks(ctx context.Context, limit int) ([]*SendBack, error) {
	rows, err := db.query(ctx, "SELECT "+sendBackColumns+sendBackFrom+
		" WHERE s.state = 'queued' AND s.next_attempt_at <= ? ORDER BY s.next_attempt_at LIMIT ?", formatTime(db.now()), limit)
	if err != nil {
		return nil, fmt.Errorf("due send-backs: %w", err)
	}
	defer rows.Close()
	var out []*SendBack
	for rows.Next() {
		sb, err := scanSendBack(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sb)
	}
	return out, rows.Err()
}

// StartSendBack marks a queued, due send-back as being sent by this instance (committed
// before the gateway is called, so a crash leaves a trace RecoverSendBacks or another
// instance's TakeOverSendBacks finds); false when another worker took it.
func (db *DB) StartSendBack(ctx context.Context, id int64) (bool, error) {
	return db.outboxStart(ctx, "send_backs", id)
}

// FinishSendBack records the outcome of the attempt this instance started on sb (read
// before or after its StartSendBack); it returns ErrStaleAttempt, recording nothing, when
// the row is no longer in that attempt (instances.go). A done send-back supersedes the
// portal's settled decision on the process, if any (the portal asked for the review
// again; it does not wait for the gateway's timestamps to say so), and makes the process
// due for a status check at once, so it is back in the queue as soon as the gateway says
// it is in review.
func (db *DB) FinishSendBack(ctx context.Context, sb *SendBack, o ErasureOutcome) error {
	o.Error = clipText(o.Error, 500)
	attempt, fence := db.fenceArgs("send_backs", sb.ID, string(sb.State), sb.Attempts)
	return db.tx(ctx, func(tx *sql.Tx) error {
		now := db.now()
		var next, done any
		if o.State == ErasureQueued {
			next = formatTime(o.Next)
		}
		if o.State == ErasureDone {
			done = formatTime(now)
		}
		err := db.execOne(ctx, tx, `UPDATE send_backs SET state = ?, next_attempt_at = ?, ambiguous = ?, last_error = ?, done_at = ?,
			updated_at = ?, sending_by = NULL`+finishFence,
			append([]any{o.State, next, boolInt(o.Ambiguous), o.Error, done, formatTime(now)}, fence...)...)
		if errors.Is(err, ErrNotFound) {
			err = ErrStaleAttempt
		}
		if err != nil {
			return fmt.Errorf("finish send-back %d, attempt %d: %w", sb.ID, attempt, err)
		}
		if o.State == ErasureDone {
			var live int64
			err := tx.QueryRowContext(ctx, `SELECT id FROM decisions WHERE process_id = ? AND state IN ('delivered', 'resolved')
				AND superseded_at IS NULL`, sb.ProcessID).Scan(&live)
			switch {
			case err == nil:
				if err := db.reopen(ctx, tx, sb.ProcessID, live, fmt.Sprintf("sent back to review (send-back %d) after decision %d", sb.ID, live)); err != nil {
					return err
				}
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("finish send-back %d: %w", sb.ID, err)
			}
			if _, err := tx.ExecContext(ctx, "UPDATE processes SET final = 0, sync_due_at = ? WHERE id = ? AND gone = 0",
				formatTime(now), sb.ProcessID); err != nil {
				return err
			}
		}
		if !o.Audit {
			return nil
		}
		outcome := OutcomeSuccess
		if o.State != ErasureDone {
			outcome = OutcomeFailure
		}
		detail := fmt.Sprintf("send-back %d %s; attempt %d", sb.ID, o.State, attempt)
		for _, s := range []string{o.Note, o.Error} {
			if s != "" {
				detail += ": " + s
			}
		}
		return db.appendAudit(ctx, tx, System, ActionProcessSendBack, "process", sb.ProcessID, outcome, clipText(detail, 1000))
	})
}

// RecoverSendBacks is for an instance's start: it puts the send-backs its previous life
// left "sending", and those of instances that stopped, back in the queue, marked
// ambiguous (the gateway leaves a process already in review alone, so sending again is safe).
func (db *DB) RecoverSendBacks(ctx context.Context) (int64, error) {
	return db.recoverSending(ctx, "send_backs", true)
}

// TakeOverSendBacks puts the send-backs left "sending" by instances that stopped back in
// the queue, marked ambiguous; the running instances call it all the time.
func (db *DB) TakeOverSendBacks(ctx context.Context) (int64, error) {
	return db.recoverSending(ctx, "send_backs", false)
}

// PullForwardSendBacks makes failed-and-waiting send-backs due now, for the catch-up
// after a gateway outage; see PullForwardErasures.
func (db *DB) PullForwardSendBacks(ctx context.Context, limit int) (int, error) {
	return db.outboxPullForward(ctx, "send_backs", limit)
}

// The outboxes of gateway requests other than decisions (erasures, send-backs) share
// their states and these moves (the start and the recovery with the decisions:
// instances.go); table is a constant of this package.

func (db *DB) outboxStart(ctx context.Context, table string, id int64) (bool, error) {
	return db.startOutbox(ctx, table, ", next_attempt_at = NULL", id)
}

func (db *DB) outboxPullForward(ctx context.Context, table string, limit int) (int, error) {
	now := formatTime(db.now())
	res, err := db.exec(ctx, "UPDATE "+table+" SET next_attempt_at = ?, updated_at = ? WHERE id IN (SELECT id FROM "+table+
		" WHERE state = 'queued' AND next_attempt_at > ? AND attempts > 0 ORDER BY next_attempt_at LIMIT ?)", now, now, now, limit)
	if err != nil {
		return 0, fmt.Errorf("pull forward %s: %w", table, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
