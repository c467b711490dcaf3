package store

// What the portal's metrics read from the store: the audit rows of committed
// transactions, told to an observer after the commit (a rolled-back transaction tells
// nothing), and the levels a scrape reads, each at a cost that does not grow with the
// number of processes or decisions kept.

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// AuditObserver is told of an audit row once the transaction that appended it has
// committed. It runs on the goroutine that committed, after the transaction is over, so
// it holds no lock of the database; it must not block (count, never wait).
type AuditObserver func(AuditEvent)

// observers keeps the audit rows of each open transaction until it ends. Every
// transaction goes through DB.tx, which ends the keeping whatever happens.
type observers struct {
	f       atomic.Pointer[AuditObserver]
	active  atomic.Bool // an observer was ever set: transactions keep their rows
	mu      sync.Mutex
	pending map[*sql.Tx][]AuditEvent
}

// SetAuditObserver sets f to be told of every audit row committed from now on; nil
// stops telling. Set it before the database is used.
func (db *DB) SetAuditObserver(f AuditObserver) {
	if f == nil {
		db.observe.f.Store(nil)
		return
	}
	db.observe.f.Store(&f)
	db.observe.active.Store(true)
}

// collect keeps e, just appended in tx, until tx ends.
func (o *observers) collect(tx *sql.Tx, e AuditEvent) {
	if o.f.Load() == nil {
		return
	}
	o.mu.Lock()
	if o.pending == nil {
		o.pending = map[*sql.Tx][]AuditEvent{}
	}
	o.pending[tx] = append(o.pending[tx], e)
	o.mu.Unlock()
}

// done ends tx's keeping: its rows are told, in order, when it committed, and
// dropped when it did not.
func (o *observers) done(tx *sql.Tx, committed bool) {
	if !o.active.Load() {
		return
	}
	o.mu.Lock()
	events, ok := o.pending[tx]
	if ok {
		delete(o.pending, tx)
	}
	o.mu.Unlock()
	if !committed || len(events) == 0 {
		return
	}
	f := o.f.Load()
	if f == nil {
		return
	}
	for _, e := range events {
		(*f)(e)
	}
}

// Gauges are the levels of the portal at one instant, for the metrics.
type Gauges struct {
	At            time.Time             // the instant read (DB.Now)
	InReview      int                   // processes awaiting review
	Claimed       int                   // of those, with a live claim
	OldestWaiting time.Time             // when the longest-waiting process entered review; zero when none (or unknown)
	Deliveries    map[DeliveryState]int // decisions in each undelivered state (DeliveryState.Undelivered)
	Sessions      int                   // sessions neither expired nor idle
}

// ReadGauges reads the gauges as of now, a session being live when seen within idle.
// Every part costs the same whatever the size of the tables: the queue's total is the
// counter migration 0011 keeps; live claims (a few per agent) are counted through
// their partial index; the oldest waiting process is the first entry of the queue's
// index; undelivered decisions, few by nature, are counted through the index on their
// state (delivered, overturned and resolved ones, which grow without end, are not
// counted); sessions are few and swept. INDEXED BY makes SQLite refuse a query rather
// than fall back to a scan.
func (db *DB) ReadGauges(ctx context.Context, idle time.Duration) (Gauges, error) {
	now := db.now()
	g := Gauges{At: now, Deliveries: map[DeliveryState]int{}}
	var oldest sql.NullString
	err := db.queryRow(ctx, `SELECT
		(SELECT n FROM queue_total WHERE id = 1),
		(SELECT count(*) FROM processes INDEXED BY processes_live_claims WHERE reviewable = 1 AND claimed_by IS NOT NULL AND claim_expires_at > ?1),
		(SELECT review_since FROM processes INDEXED BY processes_queue WHERE reviewable = 1 AND review_since IS NOT NULL ORDER BY review_since, id LIMIT 1),
		(SELECT count(*) FROM sessions WHERE expires_at > ?1 AND last_seen_at > ?2)`,
		formatTime(now), formatTime(now.Add(-idle))).Scan(&g.InReview, &g.Claimed, &oldest, &g.Sessions)
	if err != nil {
		return g, fmt.Errorf("read gauges: %w", err)
	}
	g.OldestWaiting = nullTime(oldest)

	var states []string
	var args []any
	for _, s := range DeliveryStates {
		if s.Undelivered() {
			g.Deliveries[s] = 0
			states, args = append(states, "?"), append(args, string(s))
		}
	}
	rows, err := db.query(ctx, "SELECT state, count(*) FROM decisions INDEXED BY decisions_due WHERE state IN ("+
		strings.Join(states, ", ")+") GROUP BY state", args...)
	if err != nil {
		return g, fmt.Errorf("read gauges: deliveries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return g, fmt.Errorf("read gauges: deliveries: %w", err)
		}
		g.Deliveries[DeliveryState(s)] = n
	}
	if err := rows.Err(); err != nil {
		return g, fmt.Errorf("read gauges: deliveries: %w", err)
	}
	return g, nil
}
