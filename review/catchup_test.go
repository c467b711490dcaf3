package review_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/mobbscan"
	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// onTestClock gives the harness a client whose clock is the test's (the client tells
// an outage by how long calls have been failing) and whose pauses between read
// attempts are short, and a service built on it.
func (h *harness) onTestClock(cfg review.Config) {
	h.t.Helper()
	client, err := mobbscan.New(mobbscan.Config{
		BaseURL: h.srv.URL, APIKey: sandbox.DefaultAPIKey, APISecret: sandbox.DefaultAPISecret,
		DialTimeout: 5 * time.Second, HeaderTimeout: 5 * time.Second, CallTimeout: 15 * time.Second,
		RetryDelay: time.Millisecond, Now: h.clk.Now,
	})
	if err != nil {
		h.t.Fatalf("client: %v", err)
	}
	h.client = client
	h.svc = review.New(h.db, client, slog.New(slog.DiscardHandler), cfg)
}

// outage makes every route of the gateway answer 503.
func (h *harness) outage() {
	h.t.Helper()
	for _, route := range sandbox.Routes {
		h.fault(route, sandbox.Fault{Kind: sandbox.FaultUnavailable})
	}
}

// until waits for cond, which the catch-up running in the background makes true. The
// deadline only stops a broken test from hanging; nothing is timed.
func (h *harness) until(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: never happened", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCatchUpAfterAnOutage is O4: during a two-minute outage the deliveries, the
// status re-read and the webhook re-read fail again and again until their backoffs
// reach minutes; once the gateway answers one call, they are all due again, and the
// next worker steps deliver and index them without the clock moving.
func TestCatchUpAfterAnOutage(t *testing.T) {
	h := newHarness(t, options{})
	h.onTestClock(review.Config{RetryBase: 10 * time.Second, RetryMax: 10 * time.Minute})
	ctx := context.Background()

	// A process whose customer has not finished, due for its status check when the
	// outage begins, and one in review whose check is not due for ten minutes.
	waiting := h.track(h.seed(1, "IN_PROGRESS")[0]).ID
	bystander := h.track(h.seed(1)[0]).ID
	h.clk.Add(90 * time.Second)
	bystanderDue := h.get(bystander).SyncDueAt
	// Two decisions waiting for delivery, and a notification to act on.
	ids := h.inReviewClean(2)
	accepted := h.decide(h.actor, accept(ids[0]))
	rejected := h.decide(h.actor, h.rejectWith(ids[1], "unreadable"))
	notified := h.seed(1)[0]

	h.outage()
	h.receive(notified, "PENDING")
	start := h.clk.Now()
	lastWait := map[int64]time.Duration{} // the backoff after each decision's latest attempt
	attempts := map[int64]int{}
	for {
		h.deliverOnce()
		h.ingest()
		h.reconcile()
		if _, err := h.svc.ProbeOnce(ctx); err != nil {
			t.Fatal(err)
		}
		for _, d := range []*store.Decision{accepted, rejected} {
			if got := h.decision(d.ID); got.Attempts != attempts[d.ID] {
				attempts[d.ID], lastWait[d.ID] = got.Attempts, got.NextAttemptAt.Sub(h.clk.Now())
			}
		}
		if h.clk.Now().Sub(start) >= 2*time.Minute {
			break
		}
		h.clk.Add(5 * time.Second)
	}

	// The outage as the portal sees it: nothing delivered, nothing indexed, every
	// retry put off, the deliveries' by more than a minute.
	if !h.client.Failing() {
		t.Fatal("the client does not see the outage")
	}
	now := h.clk.Now()
	for _, d := range []*store.Decision{accepted, rejected} {
		got := h.decision(d.ID)
		if got.State != store.StateQueued || got.Attempts < 4 || !got.NextAttemptAt.After(now) {
			t.Fatalf("decision %d during the outage: %s after %d attempts, next in %v; want queued, retried, later",
				d.ID, got.State, got.Attempts, got.NextAttemptAt.Sub(now))
		}
		if lastWait[d.ID] < time.Minute {
			t.Errorf("decision %d: last backoff %v, want minutes", d.ID, lastWait[d.ID])
		}
		t.Logf("decision %d: %d attempts, next in %v", d.ID, got.Attempts, got.NextAttemptAt.Sub(now))
	}
	p := h.get(waiting)
	if p.SyncFailures < 3 || !p.SyncDueAt.After(now) {
		t.Fatalf("status re-read during the outage: %d failures, next in %v; want several, later", p.SyncFailures, p.SyncDueAt.Sub(now))
	}
	t.Logf("status re-read: %d failures, next in %v", p.SyncFailures, p.SyncDueAt.Sub(now))
	due, err := h.db.DueNotifications(ctx, 10)
	if err != nil || len(due) != 0 || h.waiting() != 1 {
		t.Fatalf("notification during the outage: due %v %v, waiting %d; want one, later", due, err, h.waiting())
	}
	h.notFound(notified)

	// The gateway answers again; the customer finished meanwhile (its webhook was
	// lost). One successful call: the probe.
	h.sb.ClearFaults()
	if err := h.sb.Complete(waiting, nil); err != nil {
		t.Fatal(err)
	}
	probed, err := h.svc.ProbeOnce(ctx)
	if err != nil || !probed {
		t.Fatalf("probe: %v %v, want a probe", probed, err)
	}
	if h.client.Failing() {
		t.Error("the client still sees an outage after an answer")
	}
	h.until("the held-back work is due", func() bool {
		d, _ := h.db.DueDeliveries(ctx, 10)
		s, _ := h.db.DueForSync(ctx, 10)
		n, _ := h.db.DueNotifications(ctx, 10)
		return len(d) == 2 && len(s) == 1 && len(n) == 1
	})
	if got := h.get(bystander).SyncDueAt; !got.Equal(bystanderDue) {
		t.Errorf("a process that never failed: next check moved from %v to %v", bystanderDue, got)
	}

	// The next worker steps, at the same instant.
	if n := h.deliverOnce(); n != 2 {
		t.Fatalf("deliveries after the recovery: %d attempts, want 2", n)
	}
	h.checkDeliveredOnce(accepted)
	h.checkDeliveredOnce(rejected)
	if n := h.ingest(); n != 1 {
		t.Fatalf("notifications after the recovery: handled %d, want 1", n)
	}
	if p := h.checkIndexed(notified, store.SourceWebhook); !p.Reviewable {
		t.Errorf("notified process: %+v, want reviewable", p)
	}
	if n := h.reconcile(); n != 1 {
		t.Fatalf("re-reads after the recovery: checked %d, want 1", n)
	}
	if p := h.checkIndexed(waiting, store.SourceTracked); !p.Reviewable || p.SyncFailures != 0 {
		t.Errorf("process whose customer finished: reviewable %v, failures %d; want reviewable, 0", p.Reviewable, p.SyncFailures)
	}
	h.verifyAudit()
}

// TestRunWorkersProbesAndCatchesUp: while the gateway is failing the worker probes it
// by itself; when it answers, the worker is woken and re-reads what failed, although
// its own reconcile tick is an hour away.
func TestRunWorkersProbesAndCatchesUp(t *testing.T) {
	h := newHarness(t, options{})
	h.onTestClock(review.Config{})
	waiting := h.track(h.seed(1, "IN_PROGRESS")[0]).ID
	h.clk.Add(90 * time.Second)

	h.outage()
	for range 3 {
		h.reconcile()
		h.clk.Add(h.get(waiting).SyncDueAt.Sub(h.clk.Now()))
	}
	h.clk.Add(-time.Second) // the next re-read is not due
	if !h.client.Failing() || h.get(waiting).SyncFailures != 3 {
		t.Fatalf("outage: failing %v, failures %d", h.client.Failing(), h.get(waiting).SyncFailures)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.svc.RunWorkers(ctx, h.inbox, time.Hour); close(done) }()
	defer func() { cancel(); <-done }()

	statusReads := h.requests(sandbox.RouteStatus)
	h.until("a probe while the gateway fails", func() bool { return h.requests(sandbox.RouteStatus) > statusReads })
	if err := h.sb.Complete(waiting, nil); err != nil {
		t.Fatal(err)
	}
	h.sb.ClearFaults()
	h.until("re-read after the recovery", func() bool {
		p, err := h.db.GetProcess(context.Background(), waiting)
		return err == nil && p.Reviewable
	})
	if p := h.get(waiting); p.SyncFailures != 0 {
		t.Errorf("after the recovery: %d failures, want 0", p.SyncFailures)
	}
}

// TestFailuresThatAreNotAnOutagePullNothingForward: a gateway that refuses one
// decision with 503 while answering the status reads around it is not in an outage;
// the delivery keeps its backoff.
func TestFailuresThatAreNotAnOutagePullNothingForward(t *testing.T) {
	h := newHarness(t, options{})
	h.onTestClock(review.Config{RetryBase: 10 * time.Second, RetryMax: 10 * time.Minute})
	ctx := context.Background()
	id := h.inReviewClean(1)[0]
	d := h.decide(h.actor, accept(id))
	h.fault(sandbox.RouteAccept, sandbox.Fault{Kind: sandbox.FaultUnavailable})
	for range 4 {
		if n := h.deliverOnce(); n != 1 { // a status read (answered), then the accept (503)
			t.Fatalf("got %d attempts, want 1", n)
		}
		h.untilDue(h.decision(d.ID))
	}
	h.deliverOnce()
	if h.client.Failing() {
		t.Fatal("Failing() while the status reads succeed")
	}
	before := h.decision(d.ID)
	if _, err := h.client.Status(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got := h.decision(d.ID); !got.NextAttemptAt.Equal(before.NextAttemptAt) || !got.NextAttemptAt.After(h.clk.Now()) {
		t.Errorf("next attempt moved from %v to %v", before.NextAttemptAt, got.NextAttemptAt)
	}
	if due, _ := h.db.DueDeliveries(ctx, 10); len(due) != 0 {
		t.Errorf("due: %d, want the delivery to keep its backoff", len(due))
	}
}
