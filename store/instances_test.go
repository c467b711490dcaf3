package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// Several instances on one database (issue 13): two handles on the same database, each
// standing for an instance, on one clock.

// openInstances opens the test's database once per name, every handle on one clock that
// starts at procBase.
func openInstances(t *testing.T, names ...string) ([]*store.DB, *procClock) {
	t.Helper()
	target := store.TargetForTest(t)
	clk := &procClock{t: procBase}
	var dbs []*store.DB
	for _, name := range names {
		db, err := store.Open(context.Background(), target)
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		t.Cleanup(func() { db.Close() })
		db.Now = clk.Now
		db.SetInstance(name)
		dbs = append(dbs, db)
	}
	return dbs, clk
}

func beat(t *testing.T, dbs ...*store.DB) {
	t.Helper()
	for _, db := range dbs {
		if err := db.TouchInstance(context.Background(), store.InstanceTTL); err != nil {
			t.Fatalf("heartbeat of %s: %v", db.Instance(), err)
		}
	}
}

// outbox is one of the three outboxes, seen through the calls its worker makes.
type outbox struct {
	name string
	// queue creates a queued, due row through db and returns its id.
	queue    func(t *testing.T, db *store.DB, n int) int64
	start    func(db *store.DB, id int64) (bool, error)
	finish   func(db *store.DB, id int64) error // the attempt succeeded, finished as the worker does
	recover  func(db *store.DB) (int64, error)  // at an instance's start
	takeOver func(db *store.DB) (int64, error)  // all the time
	// row reads the row's state, ambiguity and attempts.
	row func(t *testing.T, db *store.DB, id int64) (state string, ambiguous bool, attempts int)
}

var outboxes = []outbox{
	{
		name: "decisions",
		queue: func(t *testing.T, db *store.DB, n int) int64 {
			id := fmt.Sprintf("inst-d-%d", n)
			upsert(t, db, store.SourceWebhook, inReview(id, procBase.Add(-time.Hour)))
			return mustDecide(t, db, newUser(t, db, id+"@example.com", store.RoleAgent), acceptOf(id)).ID
		},
		start: func(db *store.DB, id int64) (bool, error) { return db.StartDelivery(context.Background(), id) },
		finish: func(db *store.DB, id int64) error {
			d, err := db.GetDecision(context.Background(), id)
			if err != nil {
				return err
			}
			return db.FinishDelivery(context.Background(), d, store.DeliveryOutcome{State: store.StateDelivered, GatewayStatus: "VERIFIED", Audit: true})
		},
		recover:  func(db *store.DB) (int64, error) { return db.RecoverDeliveries(context.Background()) },
		takeOver: func(db *store.DB) (int64, error) { return db.TakeOverDeliveries(context.Background()) },
		row: func(t *testing.T, db *store.DB, id int64) (string, bool, int) {
			d := mustDecision(t, db, id)
			return string(d.State), d.Ambiguous, d.Attempts
		},
	},
	{
		name: "erasures",
		queue: func(t *testing.T, db *store.DB, n int) int64 {
			id := finalOld(t, db, fmt.Sprintf("inst-e-%d", n), 1, procBase.Add(-time.Hour))[0]
			e, err := db.EraseNow(context.Background(), store.System, id, "", allowPurge)
			if err != nil {
				t.Fatal(err)
			}
			return e.ID
		},
		start: func(db *store.DB, id int64) (bool, error) { return db.StartErasure(context.Background(), id) },
		finish: func(db *store.DB, id int64) error {
			e, err := db.GetErasure(context.Background(), id)
			if err != nil {
				return err
			}
			return db.FinishErasure(context.Background(), e, store.ErasureOutcome{State: store.ErasureDone, Audit: true, Note: "deleted"})
		},
		recover:  func(db *store.DB) (int64, error) { return db.RecoverErasures(context.Background()) },
		takeOver: func(db *store.DB) (int64, error) { return db.TakeOverErasures(context.Background()) },
		row: func(t *testing.T, db *store.DB, id int64) (string, bool, int) {
			e, err := db.GetErasure(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			return string(e.State), e.Ambiguous, e.Attempts
		},
	},
	{
		name: "send-backs",
		queue: func(t *testing.T, db *store.DB, n int) int64 {
			id := fmt.Sprintf("inst-s-%d", n)
			upsert(t, db, store.SourceWebhook, decided(id, "VERIFIED", procBase.Add(-time.Hour)))
			return requestSendBack(t, db, newUser(t, db, id+"@example.com", store.RoleAdmin), id, "second look").ID
		},
		start: func(db *store.DB, id int64) (bool, error) { return db.StartSendBack(context.Background(), id) },
		finish: func(db *store.DB, id int64) error {
			sb, err := db.GetSendBack(context.Background(), id)
			if err != nil {
				return err
			}
			return db.FinishSendBack(context.Background(), sb, store.ErasureOutcome{State: store.ErasureDone, Audit: true, Note: "back in review"})
		},
		recover:  func(db *store.DB) (int64, error) { return db.RecoverSendBacks(context.Background()) },
		takeOver: func(db *store.DB) (int64, error) { return db.TakeOverSendBacks(context.Background()) },
		row: func(t *testing.T, db *store.DB, id int64) (string, bool, int) {
			sb := mustSendBack(t, db, id)
			return string(sb.State), sb.Ambiguous, sb.Attempts
		},
	},
}

// TestRecoveryLeavesALiveInstancesRowsAlone: while its owner's heartbeat is alive, a row
// being sent is nobody else's, neither at another instance's start nor later; when the
// owner finishes, its outcome is recorded.
func TestRecoveryLeavesALiveInstancesRowsAlone(t *testing.T) {
	for i, ob := range outboxes {
		t.Run(ob.name, func(t *testing.T) {
			dbs, clk := openInstances(t, "portal-a:8080", "portal-b:8080")
			a, b := dbs[0], dbs[1]
			beat(t, a, b)
			id := ob.queue(t, a, i)
			if ok, err := ob.start(a, id); !ok || err != nil {
				t.Fatalf("start by a: %v %v", ok, err)
			}
			if ok, err := ob.start(b, id); ok || err != nil {
				t.Fatalf("start by b of a row a is sending: %v %v, want false", ok, err)
			}
			for range 3 { // a beats on; b looks again and again
				clk.Add(store.HeartbeatEvery)
				beat(t, a, b)
				if n, err := ob.takeOver(b); n != 0 || err != nil {
					t.Fatalf("b's takeover: %d %v, want 0", n, err)
				}
				if n, err := ob.recover(b); n != 0 || err != nil {
					t.Fatalf("b's recovery at start: %d %v, want 0", n, err)
				}
				// An instance never takes its own in-flight rows over.
				if n, err := ob.takeOver(a); n != 0 || err != nil {
					t.Fatalf("a's takeover: %d %v, want 0", n, err)
				}
			}
			if state, _, _ := ob.row(t, b, id); state != "sending" {
				t.Fatalf("state: %s, want sending", state)
			}
			if err := ob.finish(a, id); err != nil {
				t.Fatalf("a's finish: %v", err)
			}
			if state, ambiguous, attempts := ob.row(t, b, id); state == "sending" || state == "queued" || ambiguous || attempts != 1 {
				t.Errorf("after a's finish: %s ambiguous=%v attempts=%d, want settled after one clean attempt", state, ambiguous, attempts)
			}
			verifyAudit(t, a)
		})
	}
}

// TestRecoveryTakesOverAStoppedInstancesRows: once a's heartbeat has expired, b puts a's
// row back in the queue, ambiguous, and sends it; a's late outcome is refused and changes
// nothing (the fence), b's is recorded.
func TestRecoveryTakesOverAStoppedInstancesRows(t *testing.T) {
	for i, ob := range outboxes {
		t.Run(ob.name, func(t *testing.T) {
			dbs, clk := openInstances(t, "portal-a:8080", "portal-b:8080")
			a, b := dbs[0], dbs[1]
			beat(t, a, b)
			id := ob.queue(t, a, i)
			if ok, err := ob.start(a, id); !ok || err != nil {
				t.Fatalf("start by a: %v %v", ok, err)
			}
			// a stops beating (a crash, a hung process, a network partition); b beats on.
			clk.Add(store.InstanceTTL - time.Millisecond)
			beat(t, b)
			if n, err := ob.takeOver(b); n != 0 || err != nil {
				t.Fatalf("takeover before a's heartbeat expired: %d %v, want 0", n, err)
			}
			clk.Add(time.Millisecond)
			beat(t, b)
			if n, err := ob.takeOver(b); n != 1 || err != nil {
				t.Fatalf("takeover after a's heartbeat expired: %d %v, want 1", n, err)
			}
			if state, ambiguous, attempts := ob.row(t, b, id); state != "queued" || !ambiguous || attempts != 1 {
				t.Fatalf("taken over: %s ambiguous=%v attempts=%d, want queued, ambiguous, 1", state, ambiguous, attempts)
			}
			if n, err := ob.takeOver(b); n != 0 || err != nil {
				t.Errorf("second takeover: %d %v, want 0", n, err)
			}
			if ok, err := ob.start(b, id); !ok || err != nil {
				t.Fatalf("start by b: %v %v", ok, err)
			}
			// a comes back and reports its attempt: refused, nothing recorded.
			beat(t, a)
			err := ob.finish(a, id)
			if !errors.Is(err, store.ErrStaleAttempt) || !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a's late finish: %v, want ErrStaleAttempt", err)
			}
			if state, ambiguous, attempts := ob.row(t, b, id); state != "sending" || !ambiguous || attempts != 2 {
				t.Fatalf("after a's late finish: %s ambiguous=%v attempts=%d, want b's attempt 2 untouched", state, ambiguous, attempts)
			}
			if err := ob.finish(b, id); err != nil {
				t.Fatalf("b's finish: %v", err)
			}
			if state, _, attempts := ob.row(t, b, id); state == "sending" || state == "queued" || attempts != 2 {
				t.Errorf("after b's finish: %s attempts=%d, want settled after attempt 2", state, attempts)
			}
			verifyAudit(t, b)
		})
	}
}

// TestRecoveryAtStartTakesThePreviousLife: an instance restarted under its name takes
// back at once what its previous life left sending, although that life's heartbeat has
// not expired yet; another instance does not, until it has.
func TestRecoveryAtStartTakesThePreviousLife(t *testing.T) {
	for i, ob := range outboxes {
		t.Run(ob.name, func(t *testing.T) {
			dbs, clk := openInstances(t, "portal-a:8080", "portal-b:8080", "portal-a:8080")
			a, b, again := dbs[0], dbs[1], dbs[2]
			beat(t, a, b)
			id := ob.queue(t, a, i)
			if ok, err := ob.start(a, id); !ok || err != nil {
				t.Fatalf("start by a: %v %v", ok, err)
			}
			clk.Add(time.Second) // kill -9, and a restart on the same address
			if n, err := ob.recover(b); n != 0 || err != nil {
				t.Fatalf("b's recovery: %d %v, want 0 (a's heartbeat is alive)", n, err)
			}
			beat(t, again) // a previous life is no namesake: no ErrInstanceNameInUse
			if n, err := ob.recover(again); n != 1 || err != nil {
				t.Fatalf("recovery by a's next life: %d %v, want 1", n, err)
			}
			if state, ambiguous, _ := ob.row(t, b, id); state != "queued" || !ambiguous {
				t.Fatalf("recovered: %s ambiguous=%v, want queued, ambiguous", state, ambiguous)
			}
			if ok, err := ob.start(again, id); !ok || err != nil {
				t.Fatalf("start by a's next life: %v %v", ok, err)
			}
			if err := ob.finish(again, id); err != nil {
				t.Fatalf("finish by a's next life: %v", err)
			}
			if state, _, attempts := ob.row(t, b, id); state == "sending" || state == "queued" || attempts != 2 {
				t.Errorf("after the next life's finish: %s attempts=%d, want settled after attempt 2", state, attempts)
			}
		})
	}
}

// TestRecoveryTakesRowsOfAGracefulStop: an instance that stopped gracefully removed its
// row, so anything it left sending (it should be nothing) is taken at once.
func TestRecoveryTakesRowsOfAGracefulStop(t *testing.T) {
	dbs, _ := openInstances(t, "portal-a:8080", "portal-b:8080")
	a, b := dbs[0], dbs[1]
	beat(t, a, b)
	ob := outboxes[0]
	id := ob.queue(t, a, 0)
	if ok, err := ob.start(a, id); !ok || err != nil {
		t.Fatalf("start by a: %v %v", ok, err)
	}
	if err := a.RemoveInstance(context.Background()); err != nil {
		t.Fatal(err)
	}
	if live, err := b.LiveInstances(context.Background()); err != nil || len(live) != 1 || live[0].Name != "portal-b:8080" {
		t.Fatalf("live instances: %+v %v, want b only", live, err)
	}
	if n, err := ob.takeOver(b); n != 1 || err != nil {
		t.Fatalf("takeover: %d %v, want 1", n, err)
	}
}

// TestInstanceNameClash: two running processes beating under one name are told so.
func TestInstanceNameClash(t *testing.T) {
	dbs, clk := openInstances(t, "portal-a:8080", "portal-a:8080")
	one, two := dbs[0], dbs[1]
	beat(t, one)
	clk.Add(time.Second)
	beat(t, two) // one may have crashed a moment ago: not told yet
	clk.Add(store.HeartbeatEvery)
	if err := one.TouchInstance(context.Background(), store.InstanceTTL); !errors.Is(err, store.ErrInstanceNameInUse) {
		t.Errorf("one's heartbeat: %v, want ErrInstanceNameInUse", err)
	}
	clk.Add(store.HeartbeatEvery)
	if err := two.TouchInstance(context.Background(), store.InstanceTTL); !errors.Is(err, store.ErrInstanceNameInUse) {
		t.Errorf("two's heartbeat: %v, want ErrInstanceNameInUse", err)
	}
	if live, err := one.LiveInstances(context.Background()); err != nil || len(live) != 1 {
		t.Errorf("live instances: %+v %v, want one row", live, err)
	}
}

// TestLeaseHasOneHolder: of 20 holders asking at once through two handles exactly one
// gets the lease; it keeps it while it renews, and it passes to another when it stops
// renewing (or gives it up).
func TestLeaseHasOneHolder(t *testing.T) {
	dbs, clk := openInstances(t, "portal-a:8080", "portal-b:8080")
	ctx := context.Background()
	const n = 20
	var wg sync.WaitGroup
	got := make([]bool, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got[i], errs[i] = dbs[i%2].HoldLease(ctx, store.LeaderLease, fmt.Sprintf("holder-%02d", i), store.LeaseTTL)
		}()
	}
	close(start)
	wg.Wait()
	holder := -1
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("holder-%02d: %v", i, errs[i])
		}
		if got[i] {
			if holder >= 0 {
				t.Fatalf("holder-%02d and holder-%02d both hold the lease", holder, i)
			}
			holder = i
		}
	}
	if holder < 0 {
		t.Fatal("nobody holds the lease")
	}
	name := fmt.Sprintf("holder-%02d", holder)
	other := fmt.Sprintf("holder-%02d", (holder+1)%n)
	hold := func(db *store.DB, who string) bool {
		t.Helper()
		ok, err := db.HoldLease(ctx, store.LeaderLease, who, store.LeaseTTL)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	// Renewed on every tick, it stays; the other asks in vain.
	for range 10 {
		clk.Add(store.HeartbeatEvery)
		if !hold(dbs[holder%2], name) {
			t.Fatal("the holder lost the lease while renewing it")
		}
		if hold(dbs[(holder+1)%2], other) {
			t.Fatal("another took a lease that was being renewed")
		}
	}
	// The holder stops renewing: the lease is its own until it expires, then another's.
	clk.Add(store.LeaseTTL - time.Millisecond)
	if hold(dbs[(holder+1)%2], other) {
		t.Fatal("another took the lease before it expired")
	}
	clk.Add(time.Millisecond)
	if !hold(dbs[(holder+1)%2], other) {
		t.Fatal("the expired lease did not pass to another")
	}
	if hold(dbs[holder%2], name) {
		t.Fatal("the old holder still holds the lease")
	}
	// Given up, it passes at once.
	if err := dbs[0].ReleaseLease(ctx, store.LeaderLease, other); err != nil {
		t.Fatal(err)
	}
	if !hold(dbs[holder%2], name) {
		t.Fatal("a released lease did not pass at once")
	}
	// Leases of other names are other leases.
	if ok, err := dbs[0].HoldLease(ctx, "another-job", other, store.LeaseTTL); !ok || err != nil {
		t.Errorf("a lease of another name: %v %v, want it free", ok, err)
	}
}
