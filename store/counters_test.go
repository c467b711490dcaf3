package store_test

// The queue's counters and filter choices are kept by triggers (migration 0011); these
// tests compare them with a full recount after every kind of change, one at a time and
// from concurrent writers.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// recount counts the queue the slow way, as the portal did before the counters.
func recount(t *testing.T, db *store.DB, userID int64, target time.Duration) (store.QueueCounts, store.QueueOptions) {
	t.Helper()
	const layout = "2006-01-02T15:04:05.000000000Z"
	now := db.Now().UTC()
	var c store.QueueCounts
	err := db.SQL().QueryRow(`SELECT count(*),
		count(*) FILTER (WHERE claimed_by IS NULL OR claim_expires_at <= ?),
		count(*) FILTER (WHERE claimed_by = ? AND claim_expires_at > ?),
		count(*) FILTER (WHERE review_since <= ?)
		FROM processes WHERE reviewable = 1`, now.Format(layout), userID, now.Format(layout), now.Add(-target).Format(layout)).
		Scan(&c.InReview, &c.Unclaimed, &c.Mine, &c.OverTarget)
	if err != nil {
		t.Fatal(err)
	}
	var o store.QueueOptions
	for _, f := range []struct {
		col string
		dst *[]string
	}{{"country", &o.Countries}, {"doc_type", &o.DocTypes}} {
		rows, err := db.SQL().Query("SELECT DISTINCT " + f.col + " FROM processes WHERE reviewable = 1 AND " + f.col + " <> '' ORDER BY 1")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v string
			rows.Scan(&v)
			*f.dst = append(*f.dst, v)
		}
		rows.Close()
	}
	return c, o
}

// wantCountersExact fails unless the counters equal a full recount for both users and
// several targets, and the filter choices equal the distinct values in review.
func wantCountersExact(t *testing.T, db *store.DB, step string, users ...int64) {
	t.Helper()
	ctx := context.Background()
	for _, u := range users {
		for _, target := range []time.Duration{time.Minute, 90 * time.Second, time.Hour, 4 * time.Hour, 24 * time.Hour} {
			got, err := db.CountQueue(ctx, u, target)
			if err != nil {
				t.Fatalf("%s: CountQueue: %v", step, err)
			}
			if want, _ := recount(t, db, u, target); got != want {
				t.Fatalf("%s: counters for user %d, target %s: got %+v, recount %+v", step, u, target, got, want)
			}
		}
	}
	got, err := db.ListQueueOptions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, want := recount(t, db, 0, time.Hour); !slices.Equal(got.Countries, want.Countries) || !slices.Equal(got.DocTypes, want.DocTypes) {
		t.Fatalf("%s: choices %+v, recount %+v", step, got, want)
	}
	// The failed-check filter (read from queue_failed) lists what a scan would, in order,
	// page after page.
	for _, f := range failedPool {
		var want []string
		rows, err := db.SQL().Query("SELECT id FROM processes WHERE reviewable = 1 AND failed LIKE ? ORDER BY review_since, id", "%,"+f+",%")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			rows.Scan(&id)
			want = append(want, id)
		}
		rows.Close()
		var got []string
		q := store.QueueQuery{Failed: f, Limit: 7}
		for {
			ps, more, err := db.Queue(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				got = append(got, p.ID)
			}
			if !more {
				break
			}
			q.AfterSince, q.AfterID = ps[len(ps)-1].ReviewSince, ps[len(ps)-1].ID
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: failed %s: queue %v, scan %v", step, f, got, want)
		}
	}
}

var (
	failedPool  = []string{"validationMRZ", "validationLiveness", "validationFacialMatching"}
	countryPool = []string{"ESP", "FRA", "DEU", "PRT"}
	docPool     = []string{"IDCard", "Passport", "DriverLicense"}
)

// counterWorld drives random changes of every kind the portal makes to processes.
type counterWorld struct {
	t     *testing.T
	db    *store.DB
	clk   *procClock
	rng   *rand.Rand
	users []*store.User
	ids   []string // the processes this world knows
	name  string   // prefix of the ids it creates
}

func (w *counterWorld) id() string {
	if len(w.ids) == 0 {
		return "none"
	}
	return w.ids[w.rng.IntN(len(w.ids))]
}

func (w *counterWorld) newID() string {
	id := fmt.Sprintf("cp-%s%d", w.name, len(w.ids))
	w.ids = append(w.ids, id)
	return id
}

func (w *counterWorld) snapshot(id string, reviewable bool, updated time.Time) store.Snapshot {
	s := inReview(id, updated)
	s.Country, s.DocType = countryPool[w.rng.IntN(len(countryPool))], docPool[w.rng.IntN(len(docPool))]
	s.Failed = nil
	for _, f := range failedPool {
		if w.rng.IntN(3) == 0 {
			s.Failed = append(s.Failed, f)
		}
	}
	if !reviewable {
		s.Status, s.RawStatus, s.Stage, s.Reviewable, s.Final = "VERIFIED", "VERIFIED", "DONE", false, true
	}
	return s
}

// step makes one random change; errors the portal's rules would prevent (a claim on a
// process out of review, deciding twice) are part of the walk and ignored.
func (w *counterWorld) step() string {
	ctx := context.Background()
	allow := func(*store.Case) error { return nil }
	inReviewOnly := func(c *store.Case) error {
		if !c.Process.Reviewable || c.Process.Decided {
			return store.ErrNotReviewable
		}
		return nil
	}
	now := w.clk.Now()
	u := w.users[w.rng.IntN(len(w.users))]
	a := store.Actor{UserID: u.ID, Email: u.Email}
	switch op := w.rng.IntN(11); op {
	case 0, 1: // a new process in review, entered up to 30 h ago (often on a minute's edge)
		since := now.Add(-time.Duration(w.rng.IntN(30*60)) * time.Minute)
		if w.rng.IntN(3) == 0 {
			since = since.Truncate(time.Minute)
		}
		w.db.UpsertProcess(ctx, store.SourceWebhook, w.snapshot(w.newID(), true, since), now)
		return "new"
	case 2: // the gateway says something new: still in review (country may change) or final
		w.db.UpsertProcess(ctx, store.SourceWebhook, w.snapshot(w.id(), w.rng.IntN(2) == 0, now), now)
		return "gateway"
	case 3, 4:
		w.db.Claim(ctx, a, w.id(), 5*time.Minute, inReviewOnly)
		return "claim"
	case 5:
		w.db.Release(ctx, a, w.id(), 0)
		return "release"
	case 6: // a decision, sometimes for a second review
		nd := store.NewDecision{ProcessID: w.id(), Verdict: store.VerdictAccept, SecondReview: w.rng.IntN(2) == 0}
		w.db.Decide(ctx, a, nd, inReviewOnly)
		return "decide"
	case 7: // overturned: back in review, claimed by the second agent
		if ds, _ := w.db.ListDecisions(ctx, store.DecisionFilter{States: []store.DeliveryState{store.StateSecondReview}, Limit: 5}); len(ds) > 0 {
			w.db.Overturn(ctx, a, ds[0].ID, "no", 5*time.Minute, allow)
		}
		return "overturn"
	case 8: // delivered, then Mobbscan puts it back into review (reopened)
		ds, _ := w.db.ListDecisions(ctx, store.DecisionFilter{States: []store.DeliveryState{store.StateQueued}, Limit: 5})
		if len(ds) == 0 {
			return "reopen (none)"
		}
		d := ds[0]
		if ok, _ := w.db.StartDelivery(ctx, d.ID); ok {
			w.db.FinishDelivery(ctx, d, store.DeliveryOutcome{State: store.StateDelivered, GatewayStatus: "VERIFIED"})
			w.clk.Add(time.Second)
			w.db.UpsertProcess(ctx, store.SourceWebhook, w.snapshot(d.ProcessID, true, w.clk.Now()), w.clk.Now())
		}
		return "reopen"
	case 9:
		w.db.MarkGone(ctx, w.id())
		return "gone"
	default: // time passes: claims expire, processes cross the targets
		w.clk.Add(time.Duration(w.rng.IntN(20*60)) * time.Second)
		return "time"
	}
}

func newCounterWorld(t *testing.T, seed uint64) *counterWorld {
	db, clk := openClockedDB(t)
	w := &counterWorld{t: t, db: db, clk: clk, rng: rand.New(rand.NewPCG(seed, 7))}
	for _, e := range []string{"ana@example.com", "bob@example.com", "cy@example.com"} {
		w.users = append(w.users, newUser(t, db, e, store.RoleAgent))
	}
	return w
}

func (w *counterWorld) userIDs() []int64 {
	ids := []int64{0}
	for _, u := range w.users {
		ids = append(ids, u.ID)
	}
	return ids
}

// TestCountersMatchARecount: after each of 800 random changes (new processes, gateway
// updates, claims, releases, decisions, overturns, reopenings, processes gone, time
// passing) the counters and choices equal a full recount.
func TestCountersMatchARecount(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	w := newCounterWorld(t, seed)
	wantCountersExact(t, w.db, "empty", w.userIDs()...)
	for i := range 800 {
		op := w.step()
		wantCountersExact(t, w.db, fmt.Sprintf("step %d (%s)", i, op), w.userIDs()...)
	}
}

// TestCountersUnderConcurrentWriters: four writers changing processes at once leave
// the counters equal to a full recount.
func TestCountersUnderConcurrentWriters(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	w := newCounterWorld(t, seed)
	for range 100 {
		w.db.UpsertProcess(context.Background(), store.SourceWebhook, w.snapshot(w.newID(), true, w.clk.Now().Add(-time.Duration(w.rng.IntN(600))*time.Minute)), w.clk.Now())
	}
	var wg sync.WaitGroup
	for g := range 4 {
		ww := &counterWorld{t: t, db: w.db, clk: w.clk, rng: rand.New(rand.NewPCG(seed+uint64(g)+1, 9)), users: w.users,
			ids: slices.Clone(w.ids), name: fmt.Sprintf("w%d-", g)} // new ids of each writer do not collide
		wg.Go(func() {
			for range 150 {
				ww.step()
			}
		})
	}
	wg.Wait()
	wantCountersExact(t, w.db, "after concurrent writers", w.userIDs()...)
}
