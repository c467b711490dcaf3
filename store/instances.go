package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Several portal instances on one database (issue 13). Each running portal has a name,
// unique among the instances running at the same time (PORTAL_INSTANCE; by default the
// host name and the listening port, so a portal restarted on the same address is the
// same instance), and keeps a row in instances alive with a heartbeat.
//
//   - The outboxes (decisions, erasures, send-backs) are worked by every instance: a
//     row is taken by the conditional update of its Start, which exactly one instance
//     wins, and carries its owner's name in sending_by while it is being sent. Its
//     Finish is fenced on that owner and the attempt number it started, so an outcome
//     that comes back after someone else took the row over is refused (ErrStaleAttempt)
//     instead of overwriting a newer attempt.
//   - A row left "sending" by an instance that stopped is put back in the queue,
//     ambiguous, so that its status is read before it is sent again (D3): at start by
//     the instance itself, whatever its previous life left (Recover…), and all the time
//     by the others once the owner's heartbeat has expired (TakeOver…).
//   - Work that must run once across instances (webhook ingestion, reconciliation,
//     retention, sweeps) runs where the "leader" lease is held (HoldLease).
//
// The expiry times are written by one instance's clock and read by another's: the
// instances' clocks must agree to well within InstanceTTL (NTP does).

// The heartbeat and the leases: an instance beats every HeartbeatEvery; an instance or
// a lease not renewed for InstanceTTL (LeaseTTL) is taken as stopped, and its in-flight
// outbox rows and its lease pass to the others. A crashed instance's in-flight delivery
// is so taken over within InstanceTTL plus one takeover round (HeartbeatEvery).
const (
	HeartbeatEvery = 2 * time.Second
	InstanceTTL    = 10 * time.Second
	LeaseTTL       = InstanceTTL
	// LeaderLease is the lease of the singleton work.
	LeaderLease = "leader"
	// DefaultInstance names a handle whose instance was never set (tests, commands): all
	// such handles are one instance.
	DefaultInstance = "portal"
	// MaxInstanceName is the longest instance name (the tables' CHECK).
	MaxInstanceName = 255
)

var (
	// ErrStaleAttempt: the outbox row is no longer in the attempt this instance started
	// (another instance took it over after this one's heartbeat expired, or it was
	// settled meanwhile); the outcome is not recorded. It wraps ErrNotFound.
	ErrStaleAttempt = fmt.Errorf("the attempt is no longer this instance's: %w", ErrNotFound)
	// ErrInstanceNameInUse: another running process beats under this instance's name.
	ErrInstanceNameInUse = errors.New("another running portal uses this instance name: give each instance its own PORTAL_INSTANCE")
)

// instanceState is what a handle knows of the instance it stands for.
type instanceState struct {
	mu      sync.Mutex
	name    string
	started time.Time // this life's first heartbeat; zero before it
	// attempts: the attempt number each Start of this handle set, by outbox row, for
	// the Finish that fences on it; an entry lives from a Start to its Finish.
	attempts map[outboxRow]int
}

type outboxRow struct {
	table string
	id    int64
}

func newInstanceState() *instanceState {
	return &instanceState{name: DefaultInstance, attempts: map[outboxRow]int{}}
}

func (db *DB) instanceOf() *instanceState { return db.instance }

// SetInstance names the instance this handle stands for; call it before the handle's
// first write (main does, with PORTAL_INSTANCE).
func (db *DB) SetInstance(name string) {
	st := db.instanceOf()
	st.mu.Lock()
	st.name = name
	st.mu.Unlock()
}

// Instance is the name of the instance this handle stands for.
func (db *DB) Instance() string {
	st := db.instanceOf()
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.name
}

// started records the attempt number a Start set on a row; startedAttempt takes it
// back for the Finish. A Finish without a Start on this handle (a test finishing what
// another handle started) falls back to the row as the caller read it: before its Start
// (queued, one attempt fewer) or after (sending).
func (db *DB) started(table string, id int64, attempt int) {
	st := db.instanceOf()
	st.mu.Lock()
	st.attempts[outboxRow{table, id}] = attempt
	st.mu.Unlock()
}

func (db *DB) startedAttempt(table string, id int64, readState string, readAttempts int) int {
	st := db.instanceOf()
	st.mu.Lock()
	n, ok := st.attempts[outboxRow{table, id}]
	delete(st.attempts, outboxRow{table, id})
	st.mu.Unlock()
	switch {
	case ok:
		return n
	case readState == "sending":
		return readAttempts
	}
	return readAttempts + 1
}

// startOutbox marks a queued, due row of table as being sent by this instance and
// counts the attempt, in one conditional update: of several instances starting the
// same row exactly one wins. It reports false when the row is not queued and due any
// more (someone else took it, or a list read before a retry was scheduled is stale).
// set is the table's extra assignments ("" or ", col = …"). table is a constant of this
// package.
func (db *DB) startOutbox(ctx context.Context, table, set string, id int64) (bool, error) {
	now := formatTime(db.now())
	attempt := 0
	err := db.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, "UPDATE "+table+" SET state = 'sending', sending_by = ?, attempts = attempts + 1, updated_at = ?"+set+
			" WHERE id = ? AND state = 'queued' AND coalesce(next_attempt_at, '') <= ? RETURNING attempts", db.Instance(), now, id, now).Scan(&attempt)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("start %s %d: %w", table, id, err)
	}
	if attempt == 0 {
		return false, nil
	}
	db.started(table, id, attempt)
	return true, nil
}

// finishFence is the WHERE of an outbox Finish: the row is still in the attempt this
// instance started. Its arguments are fenceArgs.
const finishFence = " WHERE id = ? AND state = 'sending' AND sending_by = ? AND attempts = ?"

func (db *DB) fenceArgs(table string, id int64, readState string, readAttempts int) (attempt int, args []any) {
	attempt = db.startedAttempt(table, id, readState, readAttempts)
	return attempt, []any{id, db.Instance(), attempt}
}

// ownerGone is true of a row whose owner has no live heartbeat: it stopped (its row
// expired, or was removed at a graceful stop), or it never was (a row from before
// owners were recorded). Its argument is now.
const ownerGone = " NOT EXISTS (SELECT 1 FROM instances i WHERE i.name = sending_by AND i.expires_at > ?)"

// recoverSending puts rows of table left "sending" back in the queue, due now and
// ambiguous (the attempt may have reached the gateway: D3). At start (own) it takes what
// this instance's previous life left as well as the rows of stopped instances; later
// only the latter, never this instance's own in-flight rows. A read comes first, so a
// round with nothing to take writes nothing. table is a constant of this package.
func (db *DB) recoverSending(ctx context.Context, table string, own bool) (int64, error) {
	now := formatTime(db.now())
	cond := " WHERE state = 'sending' AND coalesce(sending_by, '') <> ? AND" + ownerGone
	if own {
		cond = " WHERE state = 'sending' AND (sending_by = ? OR" + ownerGone + ")"
	}
	var found int
	if err := db.queryRow(ctx, "SELECT count(*) FROM (SELECT 1 FROM "+table+cond+" LIMIT 1) x", db.Instance(), now).Scan(&found); err != nil {
		return 0, fmt.Errorf("recover %s: %w", table, err)
	}
	if found == 0 {
		return 0, nil
	}
	res, err := db.exec(ctx, "UPDATE "+table+" SET state = 'queued', ambiguous = 1, next_attempt_at = ?, updated_at = ?, sending_by = NULL"+cond,
		now, now, db.Instance(), now)
	if err != nil {
		return 0, fmt.Errorf("recover %s: %w", table, err)
	}
	return res.RowsAffected()
}

// Instance is a running portal instance as its heartbeat row says.
type Instance struct {
	Name      string
	StartedAt time.Time
	SeenAt    time.Time
	ExpiresAt time.Time
}

// TouchInstance is the heartbeat: it writes this instance's row, alive for ttl more.
// It returns ErrInstanceNameInUse (after writing) when the row shows another process
// beating under the same name since this one started; a previous life of this
// instance, which stopped before this one started, is not that.
func (db *DB) TouchInstance(ctx context.Context, ttl time.Duration) error {
	st := db.instanceOf()
	now := db.now()
	st.mu.Lock()
	if st.started.IsZero() {
		st.started = now
	}
	name, started := st.name, formatTime(st.started)
	st.mu.Unlock()
	clash := false
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var prevStarted, prevSeen string
		err := tx.QueryRowContext(ctx, "SELECT started_at, seen_at FROM instances WHERE name = ?", name).Scan(&prevStarted, &prevSeen)
		switch {
		case err == nil:
			clash = prevStarted != started && prevSeen > started
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO instances (name, started_at, seen_at, expires_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET started_at = excluded.started_at, seen_at = excluded.seen_at, expires_at = excluded.expires_at`,
			name, started, formatTime(now), formatTime(now.Add(ttl)))
		return err
	})
	if err != nil {
		return fmt.Errorf("instance heartbeat: %w", err)
	}
	if clash {
		return ErrInstanceNameInUse
	}
	return nil
}

// RemoveInstance deletes this instance's row at a graceful stop, after its in-flight
// work has finished: nothing of it is left to take over.
func (db *DB) RemoveInstance(ctx context.Context) error {
	if _, err := db.exec(ctx, "DELETE FROM instances WHERE name = ?", db.Instance()); err != nil {
		return fmt.Errorf("remove instance: %w", err)
	}
	return nil
}

// LiveInstances returns the instances whose heartbeat has not expired, by name.
func (db *DB) LiveInstances(ctx context.Context) ([]Instance, error) {
	rows, err := db.query(ctx, "SELECT name, started_at, seen_at, expires_at FROM instances WHERE expires_at > ? ORDER BY name", formatTime(db.now()))
	if err != nil {
		return nil, fmt.Errorf("live instances: %w", err)
	}
	defer rows.Close()
	var out []Instance
	for rows.Next() {
		var in Instance
		var started, seen, expires string
		if err := rows.Scan(&in.Name, &started, &seen, &expires); err != nil {
			return nil, err
		}
		in.StartedAt, in.SeenAt, in.ExpiresAt = parseTime(started), parseTime(seen), parseTime(expires)
		out = append(out, in)
	}
	return out, rows.Err()
}

// HoldLease takes the lease name for holder for ttl when it is free or expired, or
// renews it when holder has it already, and reports whether holder holds it now. One
// conditional upsert decides, so of many instances asking at once exactly one holds it.
func (db *DB) HoldLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := db.now()
	var got string
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO job_leases (name, holder, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE job_leases.holder = excluded.holder OR job_leases.expires_at <= ?`,
			name, holder, formatTime(now.Add(ttl)), formatTime(now)); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, "SELECT holder FROM job_leases WHERE name = ?", name).Scan(&got)
	})
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", name, err)
	}
	return got == holder, nil
}

// ReleaseLease gives up holder's lease name (at a graceful stop), so that another
// instance takes it at its next try instead of after the lease expires.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := db.exec(ctx, "DELETE FROM job_leases WHERE name = ? AND holder = ?", name, holder); err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}
