package review_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// TestProcessPutBackIntoReviewAfterDelivery: when Mobbscan puts a process back into
// review after the portal's verdict was delivered, the portal reviews it again; a read
// taken before the delivery never does that.
func TestProcessPutBackIntoReviewAfterDelivery(t *testing.T) {
	h := newHarness(t, options{})
	ctx := context.Background()
	id := h.inReviewClean(1)[0]
	// The index's clock runs a little behind the gateway's, so that the gateway's next
	// update is unmistakably later than the delivery.
	h.clk.Add(-5 * time.Second)
	d := h.decide(h.actor, accept(id))
	h.deliverAll()
	if got := h.decision(d.ID); got.State != store.StateDelivered {
		t.Fatalf("decision: %s, want delivered", got.State)
	}

	// A stale read (from before the delivery) leaves the process decided.
	stale := store.Snapshot{ID: id, Status: "PENDING", RawStatus: "PENDING", Stage: "REVIEW", Reviewable: true, UpdatedAt: d.DecidedAt.Add(-time.Minute)}
	if _, err := h.db.UpsertProcess(ctx, store.SourceWebhook, stale, h.clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if p, _ := h.db.GetProcess(ctx, id); p.Reviewable || !p.Decided {
		t.Fatalf("after a stale read: reviewable %v, decided %v; want false, true", p.Reviewable, p.Decided)
	}

	// Mobbscan puts it back into review and notifies.
	if err := h.client.Pending(ctx, id); err != nil {
		t.Fatalf("pending: %v", err)
	}
	h.receive(id, "PENDING")
	h.ingest()
	p, err := h.db.GetProcess(ctx, id)
	if err != nil || !p.Reviewable || p.Decided || p.Final {
		t.Fatalf("after pending: %+v %v; want reviewable, not decided, not final", p, err)
	}
	if _, err := h.db.LiveDecision(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("live decision after reopening: %v, want none", err)
	}
	if n := len(h.audits("process.reopen", id)); n != 1 {
		t.Fatalf("process.reopen audit rows: %d, want 1", n)
	}

	// It can be decided again, and that decision reaches the gateway.
	again := h.decide(h.actor, h.rejectWith(id, "unreadable"))
	h.deliverAll()
	if got := h.decision(again.ID); got.State != store.StateDelivered {
		t.Fatalf("second decision: %s, want delivered", got.State)
	}
	if g := h.atGateway(id); g.Status != "NOT_VERIFIED" {
		t.Fatalf("gateway: %s, want NOT_VERIFIED", g.Status)
	}
	if _, err := h.db.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
}
