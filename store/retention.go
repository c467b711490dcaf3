package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Retention and erasure: clearing the identity data of old final processes from the
// index (a purge), and the outbox of erasures at the gateway. Which processes may be
// purged or erased, and when, is review's to judge (review/retention.go): the store
// loads the rows inside the write's transaction and hands them to an ErasureRule.

// Settings keys of retention (days, as decimal text).
const (
	SettingRetentionDays  = "retention_days"   // identity data of final processes is kept this long
	SettingEraseAfterDays = "erase_after_days" // final processes are erased at the gateway after this; "0" never
)

// Erasure is the erasure of one process at the gateway: the outbox row.
type Erasure struct {
	ID              int64
	ProcessID       string
	State           ErasureState
	RequestedBy     int64 // 0: the retention worker
	RequestedByName string
	RequestedAt     time.Time
	// DeliverableSince is when the erasure was requested or put back in the queue by a
	// person; parking counts from it.
	DeliverableSince time.Time
	Attempts         int
	NextAttemptAt    time.Time // zero unless queued
	Ambiguous        bool      // an attempt may have reached the gateway without an answer
	LastError        string
	DoneAt           time.Time
	UpdatedAt        time.Time
}

// Retrying reports a queued erasure that failed at least once.
func (e *Erasure) Retrying() bool { return e.State == ErasureQueued && e.Attempts > 0 }

// StateLabel is the erasure's state for people ("Retrying" for a queued erasure that
// failed before).
func (e *Erasure) StateLabel() string {
	if e.Retrying() {
		return "Retrying"
	}
	return e.State.Label()
}

// ErasureCase is what the retention and erasure rules judge: the process case and the
// process's erasure (nil when none was ever queued), read inside the write's transaction.
type ErasureCase struct {
	*Case
	Erasure *Erasure
}

// ErasureRule judges an ErasureCase; an error refuses the write and is returned
// unchanged (by the batch methods: the process is skipped).
type ErasureRule func(*ErasureCase) error

const erasureColumns = `e.id, e.process_id, e.state, coalesce(e.requested_by, 0), coalesce(u.display_name, ''), e.requested_at,
	e.deliverable_since, e.attempts, e.next_attempt_at, e.ambiguous, e.last_error, e.done_at, e.updated_at`

const erasureFrom = ` FROM erasures e LEFT JOIN users u ON u.id = e.requested_by`

func scanErasure(sc scanner) (*Erasure, error) {
	var e Erasure
	var requested, deliverable, updated string
	var next, done sql.NullString
	err := sc.Scan(&e.ID, &e.ProcessID, &e.State, &e.RequestedBy, &e.RequestedByName, &requested, &deliverable, &e.Attempts,
		&next, &e.Ambiguous, &e.LastError, &done, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("scan erasure: %w", err)
	}
	e.RequestedAt, e.DeliverableSince, e.UpdatedAt = parseTime(requested), parseTime(deliverable), parseTime(updated)
	e.NextAttemptAt, e.DoneAt = nullTime(next), nullTime(done)
	return &e, nil
}

// loadErasureCase reads what the erasure rules judge, inside tx.
func (db *DB) loadErasureCase(ctx context.Context, tx querier, processID string) (*ErasureCase, error) {
	c, err := db.loadCase(ctx, tx, processID, 0)
	if err != nil {
		return nil, err
	}
	ec := &ErasureCase{Case: c}
	ec.Erasure, err = scanErasure(tx.QueryRowContext(ctx, "SELECT "+erasureColumns+erasureFrom+" WHERE e.process_id = ?", processID))
	if errors.Is(err, ErrNotFound) {
		ec.Erasure, err = nil, nil
	}
	return ec, err
}

// LoadErasureCase returns what the erasure rules would judge now, outside any write (for
// display: whether "Erase now" is offered).
func (db *DB) LoadErasureCase(ctx context.Context, processID string) (*ErasureCase, error) {
	return db.loadErasureCase(ctx, db.db, processID)
}

// ErasureOf returns the erasure of a process, or ErrNotFound.
func (db *DB) ErasureOf(ctx context.Context, processID string) (*Erasure, error) {
	return scanErasure(db.queryRow(ctx, "SELECT "+erasureColumns+erasureFrom+" WHERE e.process_id = ?", processID))
}

// GetErasure returns an erasure by id.
func (db *DB) GetErasure(ctx context.Context, id int64) (*Erasure, error) {
	return scanErasure(db.queryRow(ctx, "SELECT "+erasureColumns+erasureFrom+" WHERE e.id = ?", id))
}

// ListErasures returns erasures in the given states (all when none), most recently
// changed first.
func (db *DB) ListErasures(ctx context.Context, states []ErasureState, limit int) ([]*Erasure, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	q, args := "SELECT "+erasureColumns+erasureFrom, []any{}
	if len(states) > 0 {
		q += " WHERE e.state IN (?" + strings.Repeat(", ?", len(states)-1) + ")"
		for _, s := range states {
			args = append(args, s)
		}
	}
	q += " ORDER BY e.updated_at DESC, e.id DESC LIMIT ?"
	return db.listErasures(ctx, "list erasures", q, append(args, limit)...)
}

func (db *DB) listErasures(ctx context.Context, what, q string, args ...any) ([]*Erasure, error) {
	rows, err := db.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []*Erasure
	for rows.Next() {
		e, err := scanErasure(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// RetentionCursor is a position in a retention pass: the last process looked at, by the
// time its retention counts from and its id.
type RetentionCursor struct {
	At time.Time
	ID string
}

// RetentionPass is one batch of a retention run.
type RetentionPass struct {
	// Before: only processes whose last update (at the gateway, else when the portal first
	// saw them) is before this are looked at; the rule judges the rest (decisions).
	Before time.Time
	After  RetentionCursor // continue after this position (zero: from the oldest)
	Limit  int             // processes looked at in the batch (default 100, at most 500)
	Detail string          // why, for the audit rows: "retention: final for more than 90 days"
}

// RetentionBatch is what a batch did.
type RetentionBatch struct {
	Purged  []string        // processes whose identity data was cleared
	Queued  []string        // processes whose erasure at the gateway was queued
	Skipped int             // processes the rule refused (in review, undelivered decision, recent)
	Next    RetentionCursor // where the next batch continues
	More    bool            // the batch was full: there may be more
}

// The candidate queries walk the partial indexes of migration 0010 in order, from the
// cursor (the ">= ?2" bounds the index range; the row-value form would not) to the
// period's end; their WHERE repeats the indexes' terms so that SQLite can use them, and
// INDEXED BY makes a query that could not use its index fail instead of scanning the
// history.
const (
	purgeCandidates = `SELECT id, coalesce(updated_at, first_seen_at) FROM processes INDEXED BY processes_purge_due
		WHERE purged_at IS NULL AND (final = 1 OR gone = 1) AND coalesce(updated_at, first_seen_at) < ?1
		AND coalesce(updated_at, first_seen_at) >= ?2 AND (coalesce(updated_at, first_seen_at) > ?2 OR id > ?3)
		ORDER BY coalesce(updated_at, first_seen_at), id LIMIT ?4`
	eraseCandidates = `SELECT id, coalesce(updated_at, first_seen_at) FROM processes INDEXED BY processes_erase_due
		WHERE erase_queued_at IS NULL AND (final = 1 OR gone = 1) AND coalesce(updated_at, first_seen_at) < ?1
		AND coalesce(updated_at, first_seen_at) >= ?2 AND (coalesce(updated_at, first_seen_at) > ?2 OR id > ?3)
		ORDER BY coalesce(updated_at, first_seen_at), id LIMIT ?4`
)

// PurgeCandidatesQuery and EraseCandidatesQuery are the candidate queries, for tests that
// check their plan (EXPLAIN QUERY PLAN) uses the indexes.
const (
	PurgeCandidatesQuery = purgeCandidates
	EraseCandidatesQuery = eraseCandidates
)

// PurgeDue clears, in one transaction, the identity data of up to p.Limit processes
// that are final (or gone), not purged yet and last updated before p.Before, where rule
// allows; one process.purge audit row each. The caller continues with the returned
// cursor while More is set.
func (db *DB) PurgeDue(ctx context.Context, p RetentionPass, rule ErasureRule) (RetentionBatch, error) {
	return db.retentionBatch(ctx, purgeCandidates, p, rule, false)
}

// EraseDue is PurgeDue for the erasure period: each process allowed by rule that has no
// erasure yet is purged (when it was not already) and its erasure at the gateway queued,
// in the same transaction; the erasure worker then sends it.
func (db *DB) EraseDue(ctx context.Context, p RetentionPass, rule ErasureRule) (RetentionBatch, error) {
	return db.retentionBatch(ctx, eraseCandidates, p, rule, true)
}

func (db *DB) retentionBatch(ctx context.Context, candidates string, p RetentionPass, rule ErasureRule, erase bool) (RetentionBatch, error) {
	if p.Limit <= 0 || p.Limit > 500 {
		p.Limit = 100
	}
	var b RetentionBatch
	err := db.tx(ctx, func(tx *sql.Tx) error {
		b = RetentionBatch{Next: p.After}
		after := ""
		if !p.After.At.IsZero() {
			after = formatTime(p.After.At)
		}
		rows, err := tx.QueryContext(ctx, candidates, formatTime(p.Before), after, p.After.ID, p.Limit)
		if err != nil {
			return fmt.Errorf("retention candidates: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id, at string
			if err := rows.Scan(&id, &at); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
			b.Next = RetentionCursor{At: parseTime(at), ID: id}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		b.More = len(ids) == p.Limit
		for _, id := range ids {
			ec, err := db.loadErasureCase(ctx, tx, id)
			if err != nil {
				return err
			}
			if rule(ec) != nil {
				b.Skipped++
				continue
			}
			if ec.Process.PurgedAt.IsZero() {
				if err := db.purge(ctx, tx, System, id, ec.Now, p.Detail); err != nil {
					return err
				}
				b.Purged = append(b.Purged, id)
			}
			if erase && ec.Erasure == nil {
				if _, err := db.queueErasure(ctx, tx, System, ec, p.Detail); err != nil {
					return err
				}
				b.Queued = append(b.Queued, id)
			}
		}
		return nil
	})
	if err != nil {
		return RetentionBatch{}, err
	}
	return b, nil
}

// purge clears the identity data of a process from the index (P2): the holder's name,
// the customer reference, the failed checks, the scores and the onboarding URL; the id,
// status, dates, country and document type stay. Its decisions keep their rows and the
// wording sent to the customer (their comment), but lose the internal notes and the
// corrections (values typed from the identity document), which may hold personal data.
// The audit row names the process only.
func (db *DB) purge(ctx context.Context, tx *sql.Tx, a Actor, id string, now time.Time, detail string) error {
	if err := db.execOne(ctx, tx, `UPDATE processes SET holder_name = '', customer_ref = '', failed = '', score_facial = NULL,
		score_liveness = NULL, score_document = NULL, onboarding_url = '', purged_at = ? WHERE id = ? AND purged_at IS NULL`,
		formatTime(now), id); err != nil {
		return fmt.Errorf("purge %s: %w", id, err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE decisions SET internal_note = '', corrections = ''
		WHERE process_id = ? AND (internal_note <> '' OR corrections <> '')`, id)
	if err != nil {
		return fmt.Errorf("purge the decisions of %s: %w", id, err)
	}
	d := "identity data cleared"
	if n, _ := res.RowsAffected(); n > 0 {
		d += fmt.Sprintf("; internal notes and corrections of %d decision(s) cleared", n)
	}
	// Case notes (issue 11): their bodies may hold personal data too.
	if n, err := db.purgeNotes(ctx, tx, id, now); err != nil {
		return err
	} else if n > 0 {
		d += fmt.Sprintf("; %d case note(s) cleared", n)
	}
	if detail != "" {
		d = detail + ": " + d
	}
	return db.appendAudit(ctx, tx, a, ActionProcessPurge, "process", id, OutcomeSuccess, d)
}

// queueErasure writes the erasure of ec's process in the queue inside tx: a new row, or
// the existing one (failed or parked, as the rule allowed) put back. It marks the
// process as having its erasure queued and audits the request.
func (db *DB) queueErasure(ctx context.Context, tx *sql.Tx, a Actor, ec *ErasureCase, detail string) (int64, error) {
	now, pid := formatTime(ec.Now), ec.Process.ID
	var id int64
	var what string
	if e := ec.Erasure; e != nil {
		id, what = e.ID, fmt.Sprintf("erasure %d queued again (was %s)", e.ID, e.State)
		if _, err := tx.ExecContext(ctx, `UPDATE erasures SET state = 'queued', next_attempt_at = ?, deliverable_since = ?, updated_at = ?
			WHERE id = ?`, now, now, now, e.ID); err != nil {
			return 0, fmt.Errorf("queue erasure of %s: %w", pid, err)
		}
	} else {
		var by any
		if a.UserID != 0 {
			by = a.UserID
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO erasures (process_id, state, requested_by, requested_at, deliverable_since,
			next_attempt_at, updated_at) VALUES (?, 'queued', ?, ?, ?, ?, ?) RETURNING id`, pid, by, now, now, now, now).Scan(&id)
		if isUniqueViolation(err) {
			return 0, fmt.Errorf("process %s already has an erasure: %w", pid, ErrConflict)
		}
		if err != nil {
			return 0, fmt.Errorf("queue erasure of %s: %w", pid, err)
		}
		what = fmt.Sprintf("erasure %d queued", id)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE processes SET erase_queued_at = ? WHERE id = ? AND erase_queued_at IS NULL", now, pid); err != nil {
		return 0, fmt.Errorf("queue erasure of %s: %w", pid, err)
	}
	if detail != "" {
		what = detail + ": " + what
	}
	return id, db.appendAudit(ctx, tx, a, ActionProcessErase, "process", pid, OutcomeSuccess, what)
}

// EraseNow purges a process at once (unless it was already) and queues its erasure at
// the gateway, whatever the retention periods, if rule allows (review: an administrator,
// a process neither in review nor with an undelivered decision, no erasure under way or
// done). a is the actor of both audit rows.
func (db *DB) EraseNow(ctx context.Context, a Actor, processID, detail string, rule ErasureRule) (*Erasure, error) {
	var id int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		ec, err := db.loadErasureCase(ctx, tx, processID)
		if err != nil {
			return err
		}
		if err := rule(ec); err != nil {
			return err
		}
		if ec.Process.PurgedAt.IsZero() {
			if err := db.purge(ctx, tx, a, processID, ec.Now, detail); err != nil {
				return err
			}
		}
		id, err = db.queueErasure(ctx, tx, a, ec, detail)
		return err
	})
	if err != nil {
		return nil, err
	}
	return db.GetErasure(ctx, id)
}

// RetryErasure puts an erasure back in the queue now, if rule allows (review: an
// administrator, a failed or parked erasure).
func (db *DB) RetryErasure(ctx context.Context, a Actor, id int64, rule ErasureRule) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var pid string
		err := tx.QueryRowContext(ctx, "SELECT process_id FROM erasures WHERE id = ?", id).Scan(&pid)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		ec, err := db.loadErasureCase(ctx, tx, pid)
		if err != nil {
			return err
		}
		if err := rule(ec); err != nil {
			return err
		}
		_, err = db.queueErasure(ctx, tx, a, ec, "retried by an administrator")
		return err
	})
}

// DueErasures returns queued erasures whose next attempt is due, oldest due first.
func (db *DB) DueErasures(ctx context.Context, limit int) ([]*Erasure, error) {
	return db.listErasures(ctx, "due erasures", "SELECT "+erasureColumns+erasureFrom+
		" WHERE e.state = 'queued' AND e.next_attempt_at <= ? ORDER BY e.next_attempt_at LIMIT ?", formatTime(db.now()), limit)
}

// StartErasure marks a queued, due erasure as being sent by this instance and counts the
// attempt. It reports false when the erasure is not queued and due any more (another
// worker took it). The row is committed 'sending' before the gateway is called, so a
// crash leaves a trace that RecoverErasures, or another instance's TakeOverErasures,
// finds.
func (db *DB) StartErasure(ctx context.Context, id int64) (bool, error) {
	return db.outboxStart(ctx, "erasures", id)
}

// ErasureOutcome is the result of an erasure attempt.
type ErasureOutcome struct {
	State     ErasureState // ErasureDone, ErasureQueued (retry), ErasureFailed or ErasureParked
	Next      time.Time    // next attempt, for ErasureQueued
	Ambiguous bool         // an attempt may have reached the gateway without an answer (a done erasure keeps it as history)
	Error     string       // what went wrong, for people
	Note      string       // how it ended, for the audit row ("Mobbscan deleted it")
	Audit     bool         // write an audit row (every outcome but a plain retry)
}

// FinishErasure records the outcome of the attempt this instance started on e (read
// before or after its StartErasure); a done erasure marks the process as unknown to the
// gateway (gone). It returns ErrStaleAttempt, recording nothing, when the erasure is no
// longer in that attempt (instances.go).
func (db *DB) FinishErasure(ctx context.Context, e *Erasure, o ErasureOutcome) error {
	if len(o.Error) > 500 {
		o.Error = strings.ToValidUTF8(o.Error[:500], "")
	}
	attempt, fence := db.fenceArgs("erasures", e.ID, string(e.State), e.Attempts)
	return db.tx(ctx, func(tx *sql.Tx) error {
		now := db.now()
		var next, done any
		if o.State == ErasureQueued {
			next = formatTime(o.Next)
		}
		if o.State == ErasureDone {
			done = formatTime(now)
		}
		err := db.execOne(ctx, tx, `UPDATE erasures SET state = ?, next_attempt_at = ?, ambiguous = ?, last_error = ?, done_at = ?,
			updated_at = ?, sending_by = NULL`+finishFence,
			append([]any{o.State, next, boolInt(o.Ambiguous), o.Error, done, formatTime(now)}, fence...)...)
		if errors.Is(err, ErrNotFound) {
			err = ErrStaleAttempt
		}
		if err != nil {
			return fmt.Errorf("finish erasure %d, attempt %d: %w", e.ID, attempt, err)
		}
		if o.State == ErasureDone {
			if _, err := tx.ExecContext(ctx, `UPDATE processes SET gone = 1, reviewable = 0, review_since = NULL, claimed_by = NULL,
				claimed_at = NULL, claim_expires_at = NULL, synced_at = ?, sync_error = 'erased at the gateway' WHERE id = ?`,
				formatTime(now), e.ProcessID); err != nil {
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
		detail := fmt.Sprintf("erasure %d %s; attempt %d", e.ID, o.State, attempt)
		if o.Note != "" {
			detail += ": " + o.Note
		}
		if o.Error != "" {
			detail += ": " + o.Error
		}
		return db.appendAudit(ctx, tx, System, ActionProcessErase, "process", e.ProcessID, outcome, clipText(detail, 1000))
	})
}

// RecoverErasures is for an instance's start: it puts the erasures its previous life
// left "sending", and those of instances that stopped, back in the queue, marked
// ambiguous: the DELETE may have reached the gateway.
func (db *DB) RecoverErasures(ctx context.Context) (int64, error) {
	return db.recoverSending(ctx, "erasures", true)
}

// TakeOverErasures puts the erasures left "sending" by instances that stopped back in
// the queue, marked ambiguous; the running instances call it all the time.
func (db *DB) TakeOverErasures(ctx context.Context) (int64, error) {
	return db.recoverSending(ctx, "erasures", false)
}

// clipText cuts s to at most n bytes without splitting a character.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// PullForwardErasures makes queued erasures whose last attempt failed (attempts > 0,
// next attempt in the future) due now, for the catch-up after a gateway outage (O4); the
// erasure worker looks for due erasures every two seconds. It changes at most limit rows
// (through erasures_due) and returns how many; call again while it returns limit.
func (db *DB) PullForwardErasures(ctx context.Context, limit int) (int, error) {
	return db.outboxPullForward(ctx, "erasures", limit)
}
