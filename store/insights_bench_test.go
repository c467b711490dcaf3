package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// Benchmarks of the insights (README, "Insights"):
//
//	go test -run '^$' -bench 'Insights' -benchtime 200x -timeout 60m ./store/
//
// BenchmarkInsightsRead reads the figures of a period from histories of 10,000,
// 100,000 and 1,000,000 decisions spread over a year, 20 agents and the 9 reasons, all
// written through the triggers of migration 0018: the cost is bounded by the days of the
// period (and agents, reasons, duration buckets), not by the size of the history.
// BenchmarkInsightsDecide measures what the triggers add to a decision.

// benchInsightsDB builds a database with n decisions written by SQL through the
// triggers, each on its own process (out of review, as after a decision, but keeping
// when it entered review and the claim, which the triggers read), decided over the year
// before insightsBenchNow by 20 agents: waits from a minute to three days, handling
// from 30 s to 30 min (log-uniform), a third rejected with one of the 9 reasons.
func benchInsightsDB(b *testing.B, n int) *store.DB {
	b.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "portal.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	db.Now = func() time.Time { return insightsBenchNow }
	var users []int64
	for i := range 20 {
		u := &store.User{Email: fmt.Sprintf("agent%d@example.com", i), DisplayName: fmt.Sprintf("Agent %d", i), Role: store.RoleAgent, Active: true, PasswordHash: "x"}
		if err := db.CreateUser(ctx, store.System, u); err != nil {
			b.Fatal(err)
		}
		users = append(users, u.ID)
	}
	var reasons []int64
	rows, err := db.SQL().Query("SELECT id FROM reasons")
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		reasons = append(reasons, id)
	}
	rows.Close()
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }
	rng := rand.New(rand.NewPCG(7, uint64(n)))
	logUniform := func(lo, hi time.Duration) time.Duration {
		return time.Duration(float64(lo) * math.Pow(float64(hi)/float64(lo), rng.Float64()))
	}
	year := 365 * 24 * time.Hour
	states := []store.DeliveryState{store.StateDelivered, store.StateDelivered, store.StateDelivered, store.StateQueued, store.StateConflict, store.StateParked}
	var tx *sql.Tx
	var insProc, insDec *sql.Stmt
	begin := func() {
		var err error
		if tx, err = db.SQL().Begin(); err != nil {
			b.Fatal(err)
		}
		if insProc, err = tx.Prepare(`INSERT INTO processes (id, source, status, stage, reviewable, decided, review_since, claimed_by, claimed_at,
			claim_expires_at, first_seen_at, sync_due_at) VALUES (?, 'webhook', 'PENDING', 'REVIEW', 0, 1, ?, ?, ?, ?, ?, ?)`); err != nil {
			b.Fatal(err)
		}
		if insDec, err = tx.Prepare(`INSERT INTO decisions (process_id, verdict, reason_id, comment, decided_by, decided_at, state, attempts, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`); err != nil {
			b.Fatal(err)
		}
	}
	begin()
	for i := range n {
		if i > 0 && i%20000 == 0 {
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			begin()
		}
		at := insightsBenchNow.Add(-time.Duration(rng.Int64N(int64(year))))
		id, by := fmt.Sprintf("bench-%d", i), users[rng.IntN(len(users))]
		since, claimed := at.Add(-logUniform(time.Minute, 72*time.Hour)), at.Add(-logUniform(30*time.Second, 30*time.Minute))
		if _, err := insProc.Exec(id, ts(since), by, ts(claimed), ts(at.Add(5*time.Minute)), ts(since), ts(insightsBenchNow)); err != nil {
			b.Fatal(err)
		}
		verdict, reason, comment := "accept", any(nil), ""
		if rng.IntN(3) == 0 {
			verdict, reason, comment = "reject", reasons[rng.IntN(len(reasons))], "no"
		}
		if _, err := insDec.Exec(id, verdict, reason, comment, by, ts(at), states[rng.IntN(len(states))], rng.IntN(3), ts(at)); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return db
}

var insightsBenchNow = time.Date(2031, 6, 30, 15, 0, 0, 0, time.UTC)

func BenchmarkInsightsRead(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("%dk", n/1000), func(b *testing.B) {
			start := time.Now()
			db := benchInsightsDB(b, n)
			b.Logf("%d decisions written through the triggers in %s", n, time.Since(start).Round(time.Second))
			today := insightsBenchNow.Truncate(24 * time.Hour)
			for _, c := range []struct {
				name  string
				days  int
				agent int64
			}{{"30days-everyone", 30, 0}, {"30days-one-agent", 30, 1}, {"366days-everyone", 366, 0}} {
				q := store.InsightsQuery{From: today.AddDate(0, 0, 1-c.days), To: today, Agent: c.agent, Amber: 4 * time.Hour, Red: 24 * time.Hour}
				b.Run(c.name, func(b *testing.B) {
					var in *store.Insights
					for b.Loop() {
						var err error
						if in, err = db.Insights(ctx, q); err != nil {
							b.Fatal(err)
						}
					}
					if in.Decisions() == 0 || in.Wait.N == 0 {
						b.Fatalf("no figures: %+v", in)
					}
				})
			}
		})
	}
}

// BenchmarkInsightsDecide: a decision through store.Decide with the insight triggers and,
// on a twin database, without them.
func BenchmarkInsightsDecide(b *testing.B) {
	for _, with := range []bool{true, false} {
		name := "with-insight-triggers"
		if !with {
			name = "without"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			db, err := store.Open(ctx, filepath.Join(b.TempDir(), "portal.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			u := &store.User{Email: "a@example.com", DisplayName: "A", Role: store.RoleAgent, Active: true, PasswordHash: "x"}
			if err := db.CreateUser(ctx, store.System, u); err != nil {
				b.Fatal(err)
			}
			if !with {
				for _, tr := range []string{"insight_decision_insert", "insight_decision_state", "insight_second_review", "insight_delivery_outcome", "insight_decision_delete"} {
					if _, err := db.SQL().Exec("DROP TRIGGER " + tr); err != nil {
						b.Fatal(err)
					}
				}
			}
			a := store.Actor{UserID: u.ID, Email: u.Email}
			allow := func(*store.Case) error { return nil }
			now := time.Now()
			ids := make([]string, b.N)
			for i := range ids {
				ids[i] = fmt.Sprintf("dec-%d", i)
				s := inReview(ids[i], now.Add(-time.Duration(i%600)*time.Minute))
				if _, err := db.UpsertProcess(ctx, store.SourceWebhook, s, now); err != nil {
					b.Fatal(err)
				}
				if _, err := db.Claim(ctx, a, ids[i], time.Hour, allow); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := range b.N {
				if _, err := db.Decide(ctx, a, store.NewDecision{ProcessID: ids[i], Verdict: store.VerdictAccept}, allow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
