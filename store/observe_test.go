package store

// An internal test: it needs a transaction that appends an audit row and then fails,
// which no exported method does on purpose.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func openObserved(t *testing.T) (*DB, *eventLog) {
	t.Helper()
	db, err := Open(context.Background(), TargetForTest(t))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	log := &eventLog{db: db, t: t}
	db.SetAuditObserver(log.observe)
	return db, log
}

// eventLog records what the observer is told, and checks that each row it is told of
// is already visible to another connection: told after commit, never before.
type eventLog struct {
	db     *DB
	t      *testing.T
	mu     sync.Mutex
	events []AuditEvent
}

func (l *eventLog) observe(e AuditEvent) {
	var n int
	if err := l.db.SQL().QueryRow("SELECT count(*) FROM audit_events WHERE id = ? AND hash = ?", e.ID, e.Hash).Scan(&n); err != nil || n != 1 {
		l.t.Errorf("told of audit row %d (%s) that is not committed: n=%d err=%v", e.ID, e.Action, n, err)
	}
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) actions() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		out = append(out, e.Action+"/"+e.Outcome)
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAuditObserverIsToldCommittedRowsOnly(t *testing.T) {
	db, log := openObserved(t)
	ctx := context.Background()

	// Committed: one row through Audit, two in one transaction, in order.
	if err := db.Audit(ctx, System, ActionAccessDenied, "route", "/admin", OutcomeDenied, ""); err != nil {
		t.Fatal(err)
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.appendAudit(ctx, tx, System, ActionProcessClaim, "process", "p-1", OutcomeSuccess, ""); err != nil {
			return err
		}
		if got := log.actions(); len(got) != 1 {
			t.Errorf("told before the commit: %v", got)
		}
		return db.appendAudit(ctx, tx, System, ActionDecisionAccept, "process", "p-1", OutcomeSuccess, "")
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"access.denied/denied", "process.claim/success", "decision.accept/success"}
	if got := log.actions(); !equalStrings(got, want) {
		t.Fatalf("after commits: got %v, want %v", got, want)
	}

	// Rolled back after appending a row: nothing is told, and nothing is kept for later.
	refused := errors.New("refused after the audit row")
	err = db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.appendAudit(ctx, tx, System, ActionDecisionReject, "process", "p-2", OutcomeSuccess, ""); err != nil {
			return err
		}
		return refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("rolled-back transaction: got %v, want %v", err, refused)
	}
	if got := log.actions(); !equalStrings(got, want) {
		t.Fatalf("after a rollback: got %v, want %v", got, want)
	}
	db.observe.mu.Lock()
	kept := len(db.observe.pending)
	db.observe.mu.Unlock()
	if kept != 0 {
		t.Errorf("transactions still kept after they ended: %d", kept)
	}

	// Without an observer nothing is told, and the store works as before.
	db.SetAuditObserver(nil)
	if err := db.Audit(ctx, System, ActionAccessDenied, "route", "/admin", OutcomeDenied, ""); err != nil {
		t.Fatal(err)
	}
	if got := log.actions(); len(got) != len(want) {
		t.Fatalf("after removing the observer: got %v", got)
	}
	if n, err := db.VerifyAudit(ctx); err != nil || n != 4 {
		t.Fatalf("audit chain: got %d rows, %v; want 4 and intact", n, err)
	}
}

func TestReadGauges(t *testing.T) {
	db, _ := openObserved(t)
	ctx := context.Background()
	now := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	allow := func(*Case) error { return nil }

	g, err := db.ReadGauges(ctx, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if g.InReview != 0 || g.Claimed != 0 || !g.OldestWaiting.IsZero() || g.Sessions != 0 {
		t.Fatalf("empty database: got %+v, want zeros", g)
	}
	for _, s := range DeliveryStates {
		if _, ok := g.Deliveries[s]; ok != s.Undelivered() {
			t.Errorf("empty database: state %s reported %v, want %v (undelivered states only)", s, ok, s.Undelivered())
		}
	}

	// Three processes in review, waiting 3 h, 2 h and 1 h.
	for i, id := range []string{"p-3h", "p-2h", "p-1h"} {
		since := now.Add(-time.Duration(3-i) * time.Hour)
		s := Snapshot{ID: id, Status: "PENDING", RawStatus: "PENDING", Stage: "REVIEW", Reviewable: true,
			CreatedAt: since.Add(-time.Minute), UpdatedAt: since, Country: "ESP", DocType: "IDCard"}
		if _, err := db.UpsertProcess(ctx, SourceWebhook, s, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	agent := &User{Email: "a@example.com", DisplayName: "A", Role: RoleAgent, Active: true, PasswordHash: "x"}
	if err := db.CreateUser(ctx, System, agent); err != nil {
		t.Fatal(err)
	}
	actor := Actor{UserID: agent.ID, Email: agent.Email}
	for _, id := range []string{"p-2h", "p-1h"} {
		if _, err := db.Claim(ctx, actor, id, 5*time.Minute, allow); err != nil {
			t.Fatal(err)
		}
	}
	// One decision queued, one awaiting a second review (each leaves the queue).
	if _, err := db.Decide(ctx, actor, NewDecision{ProcessID: "p-2h", Verdict: VerdictAccept}, allow); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Decide(ctx, actor, NewDecision{ProcessID: "p-1h", Verdict: VerdictAccept, SecondReview: true}, allow); err != nil {
		t.Fatal(err)
	}
	// Sessions: one live, one idle too long, one past its absolute expiry.
	for _, s := range []Session{
		{TokenHash: HashToken("live"), CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)},
		{TokenHash: HashToken("idle"), CreatedAt: now.Add(-time.Hour), LastSeenAt: now.Add(-20 * time.Minute), ExpiresAt: now.Add(time.Hour)},
		{TokenHash: HashToken("expired"), CreatedAt: now.Add(-9 * time.Hour), LastSeenAt: now, ExpiresAt: now.Add(-time.Second)},
	} {
		s.UserID = agent.ID
		if err := db.CreateSession(ctx, actor, &s); err != nil {
			t.Fatal(err)
		}
	}

	g, err = db.ReadGauges(ctx, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"in review", g.InReview, 1},
		{"claimed", g.Claimed, 0},
		{"queued", g.Deliveries[StateQueued], 1},
		{"second review", g.Deliveries[StateSecondReview], 1},
		{"parked", g.Deliveries[StateParked], 0},
		{"sessions", g.Sessions, 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, c.got, c.want)
		}
	}
	if want := now.Add(-3 * time.Hour); !g.OldestWaiting.Equal(want) {
		t.Errorf("oldest waiting: got %v, want %v", g.OldestWaiting, want)
	}

	// A claim on the one left; the oldest waiting stays the same.
	if _, err := db.Claim(ctx, actor, "p-3h", 5*time.Minute, allow); err != nil {
		t.Fatal(err)
	}
	if g, err = db.ReadGauges(ctx, 15*time.Minute); err != nil || g.Claimed != 1 || g.InReview != 1 {
		t.Fatalf("after a claim: got %+v, %v; want 1 claimed of 1 in review", g, err)
	}
	// Its claim lapses: no longer counted.
	now = now.Add(6 * time.Minute)
	if g, err = db.ReadGauges(ctx, 15*time.Minute); err != nil || g.Claimed != 0 {
		t.Fatalf("after the claim lapsed: got %+v, %v; want 0 claimed", g, err)
	}
}

// BenchmarkReadGauges reads the gauges of one scrape over databases of growing size:
// n processes in review and n delivered decisions (plus 20 queued ones), written
// through the triggers that keep the counters. The time per scrape must not grow with n.
//
//	go test -run '^$' -bench ReadGauges ./store/
func BenchmarkReadGauges(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			ctx := context.Background()
			db, err := Open(ctx, filepath.Join(b.TempDir(), "portal.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			u := &User{Email: "a@example.com", DisplayName: "A", Role: RoleAgent, Active: true, PasswordHash: "x"}
			if err := db.CreateUser(ctx, System, u); err != nil {
				b.Fatal(err)
			}
			at := formatTime(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			for _, q := range []string{
				// n in review, n decided and delivered, 20 decided and queued.
				`WITH RECURSIVE i(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM i WHERE k < ?1)
				INSERT INTO processes (id, source, status, reviewable, review_since, first_seen_at, sync_due_at, country, doc_type)
				SELECT 'r-' || k, 'webhook', 'PENDING', 1, ?2, ?2, ?2, 'ESP', 'IDCard' FROM i`,
				`WITH RECURSIVE i(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM i WHERE k < ?1 + 20)
				INSERT INTO processes (id, source, status, final, decided, first_seen_at, sync_due_at)
				SELECT 'd-' || k, 'webhook', 'VERIFIED', 1, 1, ?2, ?2 FROM i`,
				`INSERT INTO decisions (process_id, verdict, decided_by, decided_at, state, updated_at, deliverable_since)
				SELECT id, 'accept', ?3, ?2, CASE WHEN CAST(substr(id, 3) AS INTEGER) > ?1 THEN 'queued' ELSE 'delivered' END, ?2, ?2
				FROM processes WHERE id LIKE 'd-%'`,
			} {
				if _, err := db.SQL().ExecContext(ctx, q, n, at, u.ID); err != nil {
					b.Fatal(err)
				}
			}
			g, err := db.ReadGauges(ctx, 15*time.Minute)
			if err != nil || g.InReview != n || g.Deliveries[StateQueued] != 20 {
				b.Fatalf("gauges: got %+v, %v; want %d in review and 20 queued", g, err, n)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := db.ReadGauges(ctx, 15*time.Minute); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
