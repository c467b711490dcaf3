package review_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

func TestIngestIndexesNotifiedProcesses(t *testing.T) {
	h := newHarness(t, options{})
	ctx := context.Background()
	failed := []string{sandbox.ValidationFacialMatching, sandbox.ValidationLiveness}
	ids := h.seedFailed(3, failed...)
	for _, id := range ids {
		h.receive(id, "PENDING")
	}
	if n := h.waiting(); n != 3 {
		t.Fatalf("inbox: got %d, want 3", n)
	}
	if n := h.ingest(); n != 3 {
		t.Fatalf("ingested %d, want 3", n)
	}
	for _, id := range ids {
		p := h.checkIndexed(id, store.SourceWebhook)
		if !p.Reviewable || p.HolderName == "" || !slices.Equal(p.Failed, failed) || p.ScoreFacial == nil {
			t.Errorf("%s: got reviewable=%v holder=%q failed=%v facial=%v", id, p.Reviewable, p.HolderName, p.Failed, p.ScoreFacial)
		}
		if p.ReviewSince.IsZero() || !p.SyncDueAt.After(h.clk.Now()) {
			t.Errorf("%s: got review since %v, next check %v", id, p.ReviewSince, p.SyncDueAt)
		}
	}
	if n := h.waiting(); n != 0 {
		t.Errorf("inbox after ingestion: got %d, want 0", n)
	}
	ps, _, err := h.db.Queue(ctx, store.QueueQuery{Failed: sandbox.ValidationLiveness})
	if err != nil || len(ps) != 3 {
		t.Errorf("queue filtered by a failed validation: got %d %v, want 3", len(ps), err)
	}
	if n := h.ingest(); n != 0 {
		t.Errorf("second pass: got %d, want 0", n)
	}
}

func TestDuplicateAndOutOfOrderNotificationsAreHarmless(t *testing.T) {
	h := newHarness(t, options{})
	ctx := context.Background()
	id := h.seed(1)[0]

	// Five copies at once fold into one notification and one gateway read.
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.inbox.Receive(ctx, notificationBody(id, "PENDING")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := h.waiting(); n != 1 {
		t.Errorf("inbox after duplicates: got %d, want 1", n)
	}
	before := h.requests(sandbox.RouteProcess)
	h.ingest()
	if got := h.requests(sandbox.RouteProcess) - before; got != 1 {
		t.Errorf("gateway reads for five duplicates: got %d, want 1", got)
	}
	if p := h.get(id); !p.Reviewable {
		t.Fatalf("after ingestion: got %+v, want reviewable", p)
	}
	if _, err := h.svc.Claim(ctx, h.actor, id, false); err != nil {
		t.Fatal(err)
	}

	// Decided elsewhere; the decision's notification and a late copy of the older one
	// arrive in the wrong order.
	if _, err := h.client.Accept(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name     string
		statuses []string
	}{
		{"decision then a late PENDING", []string{"VERIFIED", "PENDING"}},
		{"another late PENDING", []string{"PENDING"}},
		{"a duplicate of the decision", []string{"VERIFIED", "VERIFIED"}},
	}
	for _, st := range steps {
		for _, s := range st.statuses {
			h.receive(id, s)
		}
		h.ingest()
		p := h.get(id)
		if p.Status != "VERIFIED" || !p.Final || p.Reviewable || p.ClaimedBy != 0 || !p.ReviewSince.IsZero() {
			t.Errorf("%s: got %s final=%v reviewable=%v claimed=%d, want VERIFIED, final, out of review, unclaimed",
				st.name, p.Status, p.Final, p.Reviewable, p.ClaimedBy)
		}
	}
	if n := h.waiting(); n != 0 {
		t.Errorf("inbox: got %d, want 0", n)
	}
	_, err := h.svc.Claim(ctx, h.actor, id, false)
	wantCode(t, err, review.CodeConflict)
}

func TestNotificationStatusIsOnlyAHint(t *testing.T) {
	cases := []struct {
		state, notified string
		wantStatus      string
		wantStage       string
		wantReviewable  bool
	}{
		{"VERIFIED", "PENDING", "VERIFIED", sandbox.StageDone, false},
		{"NOT_VERIFIED", "VERIFIED", "NOT_VERIFIED", sandbox.StageDone, false},
		{"IN_PROGRESS", "PENDING", "PENDING", sandbox.StageInProgress, false},
		{"EXPIRED", "PENDING", "PENDING", sandbox.StageExpired, false},
		{"REVIEW", "NOT_VERIFIED", "PENDING", sandbox.StageReview, true},
		{"REVIEW", "SOMETHING_NEW", "PENDING", sandbox.StageReview, true},
	}
	h := newHarness(t, options{})
	for _, tc := range cases {
		t.Run(tc.state+" notified as "+tc.notified, func(t *testing.T) {
			id := h.seed(1, tc.state)[0]
			h.receive(id, tc.notified)
			if n := h.ingest(); n != 1 {
				t.Fatalf("ingested %d, want 1", n)
			}
			p := h.checkIndexed(id, store.SourceWebhook)
			if p.Status != tc.wantStatus || p.Stage != tc.wantStage || p.Reviewable != tc.wantReviewable {
				t.Errorf("got %s/%s reviewable=%v, want %s/%s %v", p.Status, p.Stage, p.Reviewable, tc.wantStatus, tc.wantStage, tc.wantReviewable)
			}
		})
	}
}

func TestNotificationForUnknownProcessIsDropped(t *testing.T) {
	h := newHarness(t, options{})
	ctx := context.Background()
	const unknown = "00000000-0000-4000-8000-00000000dead"
	h.receive(unknown, "PENDING")
	if n := h.ingest(); n != 1 {
		t.Fatalf("ingested %d, want 1", n)
	}
	h.notFound(unknown)
	if n := h.waiting(); n != 0 {
		t.Errorf("inbox: got %d, want 0 (dropped)", n)
	}

	// An indexed process deleted at the gateway is marked gone, not left in the queue.
	id := h.seed(1)[0]
	h.receive(id, "PENDING")
	h.ingest()
	if err := h.client.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	h.receive(id, "PENDING")
	h.ingest()
	if p := h.get(id); !p.Gone || p.Reviewable {
		t.Errorf("deleted: got gone=%v reviewable=%v, want true false", p.Gone, p.Reviewable)
	}
	if ps, _, _ := h.db.Queue(ctx, store.QueueQuery{}); len(ps) != 0 {
		t.Errorf("queue: got %v, want empty", ps)
	}
	if n := h.waiting(); n != 0 {
		t.Errorf("inbox: got %d, want 0", n)
	}
}

func TestReceiveRejectsBodiesThatAreNotNotifications(t *testing.T) {
	h := newHarness(t, options{})
	ctx := context.Background()
	for _, body := range []string{
		"", "not json", "[]", `"x"`, "{}", `{"status":"PENDING"}`,
		`{"verificationId":""}`, `{"verificationId":"has space"}`, `{"verificationId":"../x"}`,
		`{"verificationId":"` + strings.Repeat("a", 129) + `"}`,
		`{"verificationId":"abc"`,
	} {
		if err := h.inbox.Receive(ctx, []byte(body)); !errors.Is(err, review.ErrWebhookBody) {
			t.Errorf("body %.40q: got %v, want ErrWebhookBody", body, err)
		}
	}
	if n := h.waiting(); n != 0 {
		t.Errorf("inbox: got %d, want 0", n)
	}
	// Other fields are ignored; the status is optional; a numeric id is read as text
	// (the client decodes tolerantly, and the notification is only a hint).
	for _, body := range []string{
		`{"verificationId":"abc-1","status":"PENDING","stage":"REVIEW","extra":{"x":[1,2]}}`,
		`{"verificationId":"abc-2"}`,
		`{"verificationId":42}`,
	} {
		if err := h.inbox.Receive(ctx, []byte(body)); err != nil {
			t.Errorf("body %q: got %v, want nil", body, err)
		}
	}
	if n := h.waiting(); n != 3 {
		t.Errorf("inbox: got %d, want 3", n)
	}
}

func TestReceiveWithoutRunHonoursTheContext(t *testing.T) {
	h := newHarness(t, options{})
	in := review.NewInbox(h.db) // Run never started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := in.Receive(ctx, notificationBody("abc", "PENDING")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want context.DeadlineExceeded", err)
	}
}

func TestIngestKeepsNotificationsWhileTheGatewayFails(t *testing.T) {
	cases := []struct {
		name     string
		fault    sandbox.Fault
		minDelay time.Duration // the wait the gateway asked for
	}{
		{"500", sandbox.Fault{Kind: sandbox.FaultServerError}, 0},
		{"503", sandbox.Fault{Kind: sandbox.FaultUnavailable}, 0},
		{"429 with Retry-After", sandbox.Fault{Kind: sandbox.FaultRateLimited, RetryAfter: 30 * time.Second}, 30 * time.Second},
		{"connection reset", sandbox.Fault{Kind: sandbox.FaultReset}, 0},
		{"latency beyond the client timeout", sandbox.Fault{Kind: sandbox.FaultLatency, Latency: time.Minute}, 0},
		{"malformed JSON", sandbox.Fault{Kind: sandbox.FaultMalformed}, 0},
		{"truncated answer", sandbox.Fault{Kind: sandbox.FaultTruncated}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Only the latency fault needs a short client timeout; a generous one
			// elsewhere keeps the test steady on a loaded machine.
			timeout := 5 * time.Second
			if tc.fault.Kind == sandbox.FaultLatency {
				timeout = time.Second
			}
			h := newHarness(t, options{timeout: timeout})
			ctx := context.Background()
			id := h.seed(1)[0]
			h.receive(id, "PENDING")
			h.fault(sandbox.RouteProcess, tc.fault)

			for attempt := 1; attempt <= 2; attempt++ {
				if n := h.ingest(); n != 1 {
					t.Fatalf("attempt %d: handled %d, want 1", attempt, n)
				}
				h.notFound(id)
				if due, _ := h.db.DueNotifications(ctx, 10); len(due) != 0 {
					t.Errorf("attempt %d: due right away %+v, want it scheduled later", attempt, due)
				}
				if tc.minDelay > 0 {
					h.clk.Add(tc.minDelay - time.Second)
					if due, _ := h.db.DueNotifications(ctx, 10); len(due) != 0 {
						t.Errorf("attempt %d: due before the Retry-After", attempt)
					}
				}
				h.clk.Add(time.Minute)
				due, err := h.db.DueNotifications(ctx, 10)
				if err != nil || len(due) != 1 {
					t.Fatalf("attempt %d: due a minute later: got %+v %v, want the notification", attempt, due, err)
				}
				if n := due[0]; n.ProcessID != id || n.Attempts != attempt || n.LastError == "" {
					t.Errorf("attempt %d: got %+v, want attempts=%d and the error", attempt, n, attempt)
				}
				if strings.Contains(due[0].LastError, sandbox.DefaultAPISecret) {
					t.Errorf("last error carries the API secret: %q", due[0].LastError)
				}
			}

			h.sb.ClearFaults()
			h.eventually("ingested after recovery", func() bool {
				if n := h.ingest(); n != 1 {
					t.Fatalf("after recovery: handled %d, want 1", n)
				}
				_, err := h.db.GetProcess(ctx, id)
				return err == nil
			})
			if p := h.checkIndexed(id, store.SourceWebhook); !p.Reviewable {
				t.Errorf("after recovery: got %+v, want reviewable", p)
			}
			if n := h.waiting(); n != 0 {
				t.Errorf("inbox after recovery: got %d, want 0", n)
			}
		})
	}
}

func TestReceiveAcknowledgesWhileTheGatewayHangs(t *testing.T) {
	// The client waits as long as the gateway takes: intake must not care (W2).
	h := newHarness(t, options{timeout: time.Minute})
	ctx := context.Background()
	id := h.seed(1)[0]
	h.fault(sandbox.RouteProcess, sandbox.Fault{Kind: sandbox.FaultLatency, Latency: 10 * time.Minute})
	h.fault(sandbox.RouteStatus, sandbox.Fault{Kind: sandbox.FaultLatency, Latency: 10 * time.Minute})
	h.receive(id, "PENDING")

	ingestCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := h.svc.IngestOnce(ingestCtx)
		done <- err
	}()
	// Wait until the ingestion worker is stuck on the gateway.
	deadline := time.Now().Add(10 * time.Second)
	for h.requests(sandbox.RouteProcess) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the ingestion worker never called the gateway")
		}
		time.Sleep(5 * time.Millisecond)
	}

	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
			defer rcancel()
			errs <- h.inbox.Receive(rctx, notificationBody(fmt.Sprintf("hang-%03d", i), "PENDING"))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("receive while the gateway hangs: %v", err)
		}
	}
	select {
	case err := <-done:
		t.Errorf("the ingestion worker returned (%v) while the gateway still hangs", err)
	default:
	}
	if got := h.requests(sandbox.RouteProcess); got != 1 {
		t.Errorf("gateway process requests: got %d, want 1 (intake never calls the gateway)", got)
	}
	cancel()
	<-done
	if got := h.waiting(); got != n+1 {
		t.Errorf("inbox: got %d, want %d (nothing lost)", got, n+1)
	}
}

func TestRunWorkersIngestsWhenWoken(t *testing.T) {
	h := newHarness(t, options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.svc.RunWorkers(ctx, h.inbox, time.Hour); close(done) }()
	defer func() { cancel(); <-done }()

	ids := h.seed(2)
	for _, id := range ids {
		h.receive(id, "PENDING")
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, id := range ids {
		for {
			if _, err := h.db.GetProcess(context.Background(), id); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s was never ingested", id)
			}
			time.Sleep(10 * time.Millisecond)
		}
		h.checkIndexed(id, store.SourceWebhook)
	}
}

// track indexes a process through Track.
func (h *harness) track(id string) *store.Process {
	h.t.Helper()
	p, err := h.svc.Track(context.Background(), h.actor, id)
	if err != nil {
		h.t.Fatalf("track %s: %v", id, err)
	}
	return p
}

func TestReconcileFindsAMissedWebhook(t *testing.T) {
	cases := []struct {
		name   string
		index  func(h *harness) string
		source string
	}{
		{"tracked", func(h *harness) string { return h.track(h.seed(1, "CREATED")[0]).ID }, store.SourceTracked},
		{"created by the portal", func(h *harness) string {
			p, err := h.svc.CreateOnboarding(context.Background(), h.actor, review.NewOnboarding{Country: "ESP", DocType: "IDCard"})
			if err != nil {
				h.t.Fatal(err)
			}
			return p.ID
		}, store.SourceCreated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, options{})
			id := tc.index(h)
			if p := h.get(id); p.Reviewable || p.Stage != sandbox.StageCreated {
				t.Fatalf("indexed: got %s/%s reviewable=%v, want PENDING/CREATED not reviewable", p.Status, p.Stage, p.Reviewable)
			}
			// Nothing changed yet: a due check reads only the status.
			h.clk.Add(2 * time.Minute)
			procBefore, statusBefore := h.requests(sandbox.RouteProcess), h.requests(sandbox.RouteStatus)
			if n := h.reconcile(); n != 1 {
				t.Fatalf("unchanged: checked %d, want 1", n)
			}
			if gotP, gotS := h.requests(sandbox.RouteProcess)-procBefore, h.requests(sandbox.RouteStatus)-statusBefore; gotP != 0 || gotS != 1 {
				t.Errorf("unchanged: got %d process and %d status reads, want 0 and 1", gotP, gotS)
			}
			p := h.get(id)
			if !p.SyncDueAt.After(h.clk.Now()) || p.SyncedAt.IsZero() {
				t.Errorf("unchanged: got next check %v synced %v", p.SyncDueAt, p.SyncedAt)
			}

			// The customer finishes; the webhook is lost (none is configured).
			if err := h.sb.Complete(id, []string{sandbox.ValidationLiveness}); err != nil {
				t.Fatal(err)
			}
			if n := h.reconcile(); n != 0 {
				t.Errorf("before it is due: checked %d, want 0", n)
			}
			if h.get(id).Reviewable {
				t.Fatal("reviewable before the check was due")
			}
			h.clk.Add(p.SyncDueAt.Sub(h.clk.Now()) + time.Second)
			if n := h.reconcile(); n != 1 {
				t.Fatalf("due: checked %d, want 1", n)
			}
			p = h.checkIndexed(id, tc.source)
			if !p.Reviewable || !slices.Equal(p.Failed, []string{sandbox.ValidationLiveness}) || p.HolderName == "" || p.ReviewSince.IsZero() {
				t.Errorf("after reconcile: got reviewable=%v failed=%v holder=%q since=%v", p.Reviewable, p.Failed, p.HolderName, p.ReviewSince)
			}
			if p.SyncFailures != 0 || p.SyncError != "" || p.SyncDueAt.Before(h.clk.Now().Add(7*time.Minute)) {
				t.Errorf("after reconcile: got failures=%d error=%q next=%v, want a re-check in about 10 min", p.SyncFailures, p.SyncError, p.SyncDueAt.Sub(h.clk.Now()))
			}
		})
	}
}

func TestReconcileBacksOffOnFaultsAndRecovers(t *testing.T) {
	h := newHarness(t, options{timeout: time.Second})
	ctx := context.Background()
	id := h.track(h.seed(1)[0]).ID
	h.clk.Add(15 * time.Minute) // the 10 min re-check of a process in review is due

	steps := []struct {
		name     string
		fault    sandbox.Fault
		minDelay time.Duration
	}{
		{"500", sandbox.Fault{Kind: sandbox.FaultServerError}, 0},
		{"503", sandbox.Fault{Kind: sandbox.FaultUnavailable}, 0},
		{"429 with Retry-After", sandbox.Fault{Kind: sandbox.FaultRateLimited, RetryAfter: 5 * time.Minute}, 5 * time.Minute},
		{"reset", sandbox.Fault{Kind: sandbox.FaultReset}, 0},
		{"latency", sandbox.Fault{Kind: sandbox.FaultLatency, Latency: time.Minute}, 0},
	}
	var prevWait time.Duration
	for i, st := range steps {
		h.fault(sandbox.RouteStatus, st.fault)
		if n := h.reconcile(); n != 1 {
			t.Fatalf("%s: checked %d, want 1", st.name, n)
		}
		p := h.get(id)
		wait := p.SyncDueAt.Sub(h.clk.Now())
		if p.SyncFailures != i+1 || p.SyncError == "" {
			t.Errorf("%s: got failures=%d error=%q, want %d and the error", st.name, p.SyncFailures, p.SyncError, i+1)
		}
		if wait <= prevWait || wait < st.minDelay {
			t.Errorf("%s: next check in %v, want later than the previous %v and at least %v", st.name, wait, prevWait, st.minDelay)
		}
		if !p.Reviewable {
			t.Errorf("%s: a failed check took the process out of review", st.name)
		}
		if n := h.reconcile(); n != 0 {
			t.Errorf("%s: checked %d before the next check was due, want 0", st.name, n)
		}
		if st.minDelay == 0 {
			prevWait = wait
		}
		h.clk.Add(wait + time.Second)
	}
	if ps, _, _ := h.db.Queue(ctx, store.QueueQuery{}); len(ps) != 1 {
		t.Errorf("queue during the outage: got %d, want 1", len(ps))
	}

	h.sb.ClearFaults()
	h.eventually("synced after recovery", func() bool {
		if n := h.reconcile(); n != 1 {
			t.Fatalf("recovery: checked %d, want 1", n)
		}
		return h.get(id).SyncFailures == 0
	})
	p := h.get(id)
	if p.SyncFailures != 0 || p.SyncError != "" || p.SyncDueAt.Sub(h.clk.Now()) < 7*time.Minute {
		t.Errorf("recovery: got failures=%d error=%q next in %v, want 0, empty, about 10 min", p.SyncFailures, p.SyncError, p.SyncDueAt.Sub(h.clk.Now()))
	}
}

func TestReconcileFollowsDecisionsAndDeletions(t *testing.T) {
	h := newHarness(t, options{})
	ctx := context.Background()
	ids := h.seed(3)
	for _, id := range ids {
		h.track(id)
		if _, err := h.svc.Claim(ctx, h.actor, id, false); err != nil {
			t.Fatal(err)
		}
	}
	decidedID, deletedID, untouchedID := ids[0], ids[1], ids[2]
	if _, err := h.client.Reject(ctx, decidedID, "document is a photocopy"); err != nil {
		t.Fatal(err)
	}
	if err := h.client.Delete(ctx, deletedID); err != nil {
		t.Fatal(err)
	}
	h.clk.Add(15 * time.Minute)
	if n := h.reconcile(); n != 3 {
		t.Fatalf("checked %d, want 3", n)
	}
	if p := h.checkIndexed(decidedID, store.SourceTracked); p.Status != "NOT_VERIFIED" || !p.Final || p.ClaimedBy != 0 {
		t.Errorf("decided elsewhere: got %s final=%v claimed=%d, want NOT_VERIFIED, final, unclaimed", p.Status, p.Final, p.ClaimedBy)
	}
	if p := h.get(deletedID); !p.Gone || p.Reviewable || p.ClaimedBy != 0 {
		t.Errorf("deleted: got gone=%v reviewable=%v claimed=%d, want gone, out of review, unclaimed", p.Gone, p.Reviewable, p.ClaimedBy)
	}
	ps, _, err := h.db.Queue(ctx, store.QueueQuery{})
	if err != nil || len(ps) != 1 || ps[0].ID != untouchedID {
		t.Errorf("queue: got %v %v, want only %s", ps, err, untouchedID)
	}
	// Neither the decided nor the gone process is checked again.
	h.clk.Add(48 * time.Hour)
	due, err := h.db.DueForSync(ctx, 10)
	if err != nil || !slices.Equal(due, []string{untouchedID}) {
		t.Errorf("due for sync: got %v %v, want [%s]", due, err, untouchedID)
	}
}
