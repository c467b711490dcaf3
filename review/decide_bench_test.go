package review_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/mobbscan"
	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/store/pgtest"
)

// BenchmarkDecideToDelivered measures decisions per second end to end, one at a time:
// Service.Decide (checks, then the decision, its outbox row and the audit row in one
// transaction with synchronous=FULL), then DeliverOnce (the accept through the real
// client to the sandbox over HTTP, and the outcome recorded), after which the gateway
// holds the verdict. The b.N processes are seeded, indexed, claimed by the agent and
// marked as shown to them (the data and every image, D6 and D7) before the timer starts.
func BenchmarkDecideToDelivered(b *testing.B) {
	benchDecideToDelivered(b, filepath.Join(b.TempDir(), "portal.db"))
}

// BenchmarkEnginesDecideToDelivered is BenchmarkDecideToDelivered on each engine in one
// run, for the ratio in the README (issue 13): SQLite in a file, PostgreSQL on the test
// server (loopback, fsync off on the throwaway cluster: the ratio shows what the
// engine's round trips cost, not a disk).
func BenchmarkEnginesDecideToDelivered(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchDecideToDelivered(b, filepath.Join(b.TempDir(), "portal.db")) })
	b.Run("postgres", func(b *testing.B) { benchDecideToDelivered(b, pgtest.Database(b)) })
}

func benchDecideToDelivered(b *testing.B, target string) {
	ctx := context.Background()
	db, err := store.Open(ctx, target)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	sb, err := sandbox.New(sandbox.Config{Control: true, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sb.Close() })
	srv := httptest.NewServer(sb)
	b.Cleanup(srv.Close)
	client, err := mobbscan.New(mobbscan.Config{BaseURL: srv.URL, APIKey: sandbox.DefaultAPIKey, APISecret: sandbox.DefaultAPISecret})
	if err != nil {
		b.Fatal(err)
	}
	svc := review.New(db, client, slog.New(slog.DiscardHandler), review.Config{})
	agent := &store.User{Email: "bench@example.com", DisplayName: "Bench", Role: store.RoleAgent, Active: true, PasswordHash: "x"}
	if err := db.CreateUser(ctx, store.System, agent); err != nil {
		b.Fatal(err)
	}
	actor := store.Actor{UserID: agent.ID, Role: agent.Role, Email: agent.Email, IP: "192.0.2.9", RequestID: "bench"}

	// Clean processes in review, indexed as the webhook ingestion would.
	ids := make([]string, 0, b.N)
	for len(ids) < b.N {
		got, err := sb.Seed(sandbox.SeedSpec{Count: min(1000, b.N-len(ids)), States: []string{"REVIEW"}, Outcome: "clean", Silent: true})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, got...)
	}
	seqs := make([]int64, len(ids))
	for i, id := range ids {
		p, _ := sb.Get(id)
		snap := store.Snapshot{ID: id, Status: "PENDING", RawStatus: "PENDING", Stage: p.Stage, Reviewable: true,
			CreatedAt: p.Created, UpdatedAt: p.Updated, Country: p.CountryID, DocType: p.DocType}
		for _, e := range p.Evidences {
			if k, ok := store.EvidenceKindOf(e); ok {
				snap.Evidence = append(snap.Evidence, k)
			}
		}
		if _, err := db.UpsertProcess(ctx, store.SourceWebhook, snap, time.Now().Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
		claimed, err := svc.Claim(ctx, actor, id, false)
		if err != nil {
			b.Fatal(err)
		}
		seqs[i] = claimed.ClaimSeq
		// What Info and Evidence record when they serve the agent, without the traffic.
		for _, k := range append([]store.EvidenceKind{store.ProcessData}, claimed.Images()...) {
			if err := db.RecordServed(ctx, actor, id, k); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := client.Status(ctx, ids[0]); err != nil { // the access token, outside the timer
		b.Fatal(err)
	}

	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := svc.Decide(ctx, actor, review.DecideInput{ProcessID: ids[i], ClaimSeq: seqs[i], Verdict: store.VerdictAccept}); err != nil {
			b.Fatalf("decide %d: %v", i, err)
		}
		if n, err := svc.DeliverOnce(ctx); err != nil || n != 1 {
			b.Fatalf("deliver %d: got %d %v, want 1", i, n, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")

	for _, id := range ids {
		if p, ok := sb.Get(id); !ok || p.Accepts != 1 || p.Verdict != sandbox.VerdictAccepted {
			b.Fatalf("gateway %s: got %+v, want accepted once", id, p)
		}
	}
	left, err := db.ListDecisions(ctx, store.DecisionFilter{States: []store.DeliveryState{store.StateQueued, store.StateSending, store.StateConflict, store.StateParked}})
	if err != nil || len(left) != 0 {
		b.Fatalf("undelivered: got %d %v, want 0", len(left), err)
	}
}
