package review_test

import (
	"context"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/store"
)

// TestManualRetryGetsAFullPeriod: a decision parked after failing for PARK_AFTER and
// retried by a person is retried with backoff for another full period, not parked again
// at its next failure.
func TestManualRetryGetsAFullPeriod(t *testing.T) {
	h := newHarness(t, options{})
	ctx := context.Background()
	id := h.inReviewClean(1)[0]
	if err := h.sb.SetFault(sandbox.RouteAccept, sandbox.Fault{Kind: sandbox.FaultUnavailable, NotApplied: true}); err != nil {
		t.Fatal(err)
	}
	d := h.decide(h.actor, accept(id))
	h.deliverOnce()
	if got := h.decision(d.ID); got.State != store.StateQueued {
		t.Fatalf("after a failure: %s, want queued", got.State)
	}
	h.clk.Add(25 * time.Hour)
	h.deliverOnce()
	if got := h.decision(d.ID); got.State != store.StateParked {
		t.Fatalf("after a day of failures: %s, want parked", got.State)
	}
	if err := h.svc.Retry(ctx, h.actor, d.ID); err != nil {
		t.Fatal(err)
	}
	h.deliverOnce()
	if got := h.decision(d.ID); got.State != store.StateQueued {
		t.Fatalf("retried by a person, failing again: %s, want queued (a new period)", got.State)
	}
	h.sb.ClearFaults()
	h.untilDue(h.decision(d.ID))
	h.deliverAll()
	if got := h.decision(d.ID); got.State != store.StateDelivered {
		t.Fatalf("after the gateway recovered: %s, want delivered", got.State)
	}
	if g := h.atGateway(id); g.Accepts != 1 {
		t.Fatalf("accepts applied: %d, want 1", g.Accepts)
	}
}
