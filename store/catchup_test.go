package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// TestPullForwardAfterAnOutage: the work that failed and waits for a retry is made
// due now; work that is due anyway, never failed, or is settled is left alone; the
// failure counts stay; a second pass changes nothing; limit bounds each pass.
func TestPullForwardAfterAnOutage(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	a := newUser(t, db, "a@example.com", store.RoleAgent)

	// Decisions: one failed and waiting for its retry, one never attempted (due), one
	// delivered.
	for _, id := range []string{"p-failed", "p-new", "p-done"} {
		upsert(t, db, store.SourceWebhook, inReview(id, procBase.Add(-time.Hour)))
	}
	failed := mustDecide(t, db, a, acceptOf("p-failed"))
	deliver(t, db, failed.ID, store.DeliveryOutcome{State: store.StateQueued, Next: procBase.Add(10 * time.Minute), Ambiguous: true, Error: "503"})
	fresh := mustDecide(t, db, a, acceptOf("p-new"))
	done := mustDecide(t, db, a, acceptOf("p-done"))
	deliver(t, db, done.ID, store.DeliveryOutcome{State: store.StateDelivered, GatewayStatus: "VERIFIED", Audit: true})

	// Processes: two whose status re-read failed, one that never failed, and a final
	// one with an old failure.
	for _, id := range []string{"s-failed-1", "s-failed-2", "s-healthy"} {
		upsert(t, db, store.SourceTracked, inProgress(id, procBase.Add(-time.Hour)))
	}
	upsert(t, db, store.SourceTracked, decided("s-final", "VERIFIED", procBase.Add(-time.Hour)))
	for i, id := range []string{"s-failed-1", "s-failed-2", "s-final"} {
		if err := db.MarkSyncFailed(ctx, id, "503", procBase.Add(time.Duration(20+i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	healthyDue := mustGet(t, db, "s-healthy").SyncDueAt

	// Notifications: one whose re-read failed, one not yet tried.
	if err := db.EnqueueNotifications(ctx, []store.Notification{{ProcessID: "n-failed", Status: "PENDING"}, {ProcessID: "n-new", Status: "PENDING"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.RetryNotification(ctx, store.Notification{ProcessID: "n-failed"}, "503", procBase.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}

	clk.Add(time.Minute)
	now := clk.Now()

	if n, err := db.PullForwardDeliveries(ctx, 500); err != nil || n != 1 {
		t.Fatalf("deliveries: got %d %v, want 1", n, err)
	}
	if d := mustDecision(t, db, failed.ID); d.State != store.StateQueued || !d.NextAttemptAt.Equal(now) || d.Attempts != 1 || !d.Ambiguous {
		t.Errorf("failed delivery: got %s next %v attempts %d ambiguous %v, want queued, now, 1, true", d.State, d.NextAttemptAt, d.Attempts, d.Ambiguous)
	}
	if d := mustDecision(t, db, fresh.ID); !d.NextAttemptAt.Equal(fresh.NextAttemptAt) {
		t.Errorf("new delivery: next moved from %v to %v", fresh.NextAttemptAt, d.NextAttemptAt)
	}
	if d := mustDecision(t, db, done.ID); d.State != store.StateDelivered {
		t.Errorf("delivered decision: got %s", d.State)
	}
	if due, err := db.DueDeliveries(ctx, 10); err != nil || len(due) != 2 {
		t.Errorf("due deliveries: got %d %v, want 2", len(due), err)
	}

	// limit 1: one process per pass, the earliest due first.
	for i, want := range []int{1, 1, 0} {
		if n, err := db.PullForwardSyncs(ctx, 1); err != nil || n != want {
			t.Fatalf("syncs, pass %d: got %d %v, want %d", i+1, n, err, want)
		}
	}
	for _, id := range []string{"s-failed-1", "s-failed-2"} {
		if p := mustGet(t, db, id); !p.SyncDueAt.Equal(now) || p.SyncFailures != 1 || p.SyncError != "503" {
			t.Errorf("%s: got next %v failures %d error %q, want now, 1, the error", id, p.SyncDueAt, p.SyncFailures, p.SyncError)
		}
	}
	if p := mustGet(t, db, "s-healthy"); !p.SyncDueAt.Equal(healthyDue) {
		t.Errorf("healthy process: next moved from %v to %v", healthyDue, p.SyncDueAt)
	}
	if p := mustGet(t, db, "s-final"); p.SyncDueAt.Equal(now) {
		t.Errorf("final process: pulled forward")
	}
	due, err := db.DueForSync(ctx, 10)
	slices.Sort(due)
	if err != nil || !slices.Equal(due, []string{"s-failed-1", "s-failed-2"}) {
		t.Errorf("due for sync: got %v %v", due, err)
	}

	if n, err := db.PullForwardNotifications(ctx, 500); err != nil || n != 1 {
		t.Fatalf("notifications: got %d %v, want 1", n, err)
	}
	ns, err := db.DueNotifications(ctx, 10)
	if err != nil || len(ns) != 2 {
		t.Fatalf("due notifications: got %+v %v, want 2", ns, err)
	}
	for _, n := range ns {
		if n.ProcessID == "n-failed" && n.Attempts != 1 {
			t.Errorf("failed notification: attempts %d, want 1", n.Attempts)
		}
	}

	// Nothing is left to pull.
	for name, pull := range map[string]func(context.Context, int) (int, error){
		"deliveries": db.PullForwardDeliveries, "syncs": db.PullForwardSyncs, "notifications": db.PullForwardNotifications,
	} {
		if n, err := pull(ctx, 500); err != nil || n != 0 {
			t.Errorf("%s, second pass: got %d %v, want 0", name, n, err)
		}
	}
}

// TestProbeTarget: the process of the next queued decision, else the non-final
// process due soonest, else a waiting notification, else none.
func TestProbeTarget(t *testing.T) {
	db, _ := openClockedDB(t)
	ctx := context.Background()
	if id, err := db.ProbeTarget(ctx); err != nil || id != "" {
		t.Fatalf("empty database: got %q %v, want none", id, err)
	}
	if err := db.EnqueueNotifications(ctx, []store.Notification{{ProcessID: "n-1", Status: "PENDING"}}); err != nil {
		t.Fatal(err)
	}
	if id, err := db.ProbeTarget(ctx); err != nil || id != "n-1" {
		t.Errorf("a notification: got %q %v, want n-1", id, err)
	}
	upsert(t, db, store.SourceTracked, decided("final", "VERIFIED", procBase.Add(-time.Hour)))
	upsert(t, db, store.SourceTracked, inProgress("open", procBase.Add(-time.Hour)))
	if id, err := db.ProbeTarget(ctx); err != nil || id != "open" {
		t.Errorf("a non-final process: got %q %v, want open", id, err)
	}
	upsert(t, db, store.SourceWebhook, inReview("decided", procBase.Add(-time.Hour)))
	mustDecide(t, db, newUser(t, db, "a@example.com", store.RoleAgent), acceptOf("decided"))
	if id, err := db.ProbeTarget(ctx); err != nil || id != "decided" {
		t.Errorf("a queued decision: got %q %v, want decided", id, err)
	}
}
