package store_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mobbscan-review/portal/store"
)

// reasonByCode returns a reason of the seeded catalogue.
func reasonByCode(t *testing.T, db *store.DB, code string) *store.Reason {
	t.Helper()
	rs, err := db.ListReasons(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Code == code {
			return r
		}
	}
	t.Fatalf("no reason %q", code)
	return nil
}

func mustDecide(t *testing.T, db *store.DB, u *store.User, nd store.NewDecision) *store.Decision {
	t.Helper()
	d, err := db.Decide(context.Background(), actorOf(u), nd)
	if err != nil {
		t.Fatalf("decide %s %s: %v", nd.Verdict, nd.ProcessID, err)
	}
	return d
}

func mustDecision(t *testing.T, db *store.DB, id int64) *store.Decision {
	t.Helper()
	d, err := db.GetDecision(context.Background(), id)
	if err != nil {
		t.Fatalf("decision %d: %v", id, err)
	}
	return d
}

func countDecisions(t *testing.T, db *store.DB, processID string) int {
	t.Helper()
	var n int
	if err := db.SQL().QueryRowContext(context.Background(), "SELECT count(*) FROM decisions WHERE process_id = ?", processID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func acceptOf(id string) store.NewDecision {
	return store.NewDecision{ProcessID: id, Verdict: store.VerdictAccept}
}

// deliver takes a queued decision through one attempt with outcome o.
func deliver(t *testing.T, db *store.DB, id int64, o store.DeliveryOutcome) *store.Decision {
	t.Helper()
	ctx := context.Background()
	d := mustDecision(t, db, id)
	if ok, err := db.StartDelivery(ctx, id); !ok || err != nil {
		t.Fatalf("start delivery of %d: got %v %v", id, ok, err)
	}
	if err := db.FinishDelivery(ctx, d, o); err != nil {
		t.Fatalf("finish delivery of %d: %v", id, err)
	}
	return mustDecision(t, db, id)
}

func TestDecideTakesTheProcessOutOfReview(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	a := newUser(t, db, "a@example.com", store.RoleAgent)
	upsert(t, db, store.SourceWebhook, inReview("p-1", procBase.Add(-time.Hour)))
	if _, err := db.Claim(ctx, actorOf(a), "p-1", a.ID, 5*time.Minute, false); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	now := clk.Now()
	d := mustDecide(t, db, a, store.NewDecision{
		ProcessID: "p-1", Verdict: store.VerdictAccept,
		ReasonID: reasonByCode(t, db, "unreadable").ID, Comment: "ignored for an accept",
		InternalNote: "customer sounded nervous", Confirmations: []string{"validationMRZ"},
		Corrections: map[string]string{"name": "Ana María"},
	})
	for _, c := range []struct{ name, got, want string }{
		{"process", d.ProcessID, "p-1"},
		{"holder", d.HolderName, "Ana García"},
		{"verdict", d.Verdict, store.VerdictAccept},
		{"state", d.State, store.StateQueued},
		{"decided by", d.DecidedByName, "Test a@example.com"},
		{"comment", d.Comment, ""},
		{"internal note", d.InternalNote, "customer sounded nervous"},
		{"confirmations", strings.Join(d.Confirmations, ","), "validationMRZ"},
		{"decided at", d.DecidedAt.String(), now.String()},
		{"next attempt", d.NextAttemptAt.String(), now.String()},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if d.DecidedBy != a.ID || d.ReasonID != 0 || d.Attempts != 0 || d.Ambiguous || !maps.Equal(d.Corrections, map[string]string{"name": "Ana María"}) {
		t.Errorf("decision: got by %d reason %d attempts %d ambiguous %v corrections %v", d.DecidedBy, d.ReasonID, d.Attempts, d.Ambiguous, d.Corrections)
	}
	if p := mustGet(t, db, "p-1"); !p.Decided || p.Reviewable || p.ClaimedBy != 0 || !p.ReviewSince.IsZero() || p.Final {
		t.Errorf("process: got decided=%v reviewable=%v claimed=%d since=%v final=%v, want decided, out of review, unclaimed, not final yet",
			p.Decided, p.Reviewable, p.ClaimedBy, p.ReviewSince, p.Final)
	}
	if ps, _, err := db.Queue(ctx, store.QueueQuery{}); err != nil || len(ps) != 0 {
		t.Errorf("queue: got %v %v, want empty", idsOf(ps), err)
	}
	if c, err := db.CountQueue(ctx, 0, time.Hour); err != nil || c.InReview != 0 {
		t.Errorf("count: got %+v %v, want 0 in review", c, err)
	}
	if due, err := db.DueDeliveries(ctx, 10); err != nil || len(due) != 1 || due[0].ID != d.ID {
		t.Errorf("due: got %v %v, want the decision", due, err)
	}
	if next, err := db.NextDeliveryDue(ctx); err != nil || !next.Equal(now) {
		t.Errorf("next due: got %v %v, want %v", next, err, now)
	}
	rows := auditRows(t, db, "decision.accept", "p-1")
	if len(rows) != 1 || rows[0].ActorID != a.ID || rows[0].IP != "192.0.2.1" || rows[0].RequestID != "req-1" || rows[0].Outcome != store.OutcomeSuccess || rows[0].At.Location() != time.UTC {
		t.Fatalf("audit: got %+v, want one row by the agent", rows)
	}
	for _, want := range []string{"decision=accept", "confirmed=validationMRZ", "corrected=name", "with internal note"} {
		if !strings.Contains(rows[0].Detail, want) {
			t.Errorf("audit detail %q lacks %q", rows[0].Detail, want)
		}
	}
	for _, never := range []string{"Ana María", "nervous"} {
		if strings.Contains(rows[0].Detail, never) {
			t.Errorf("audit detail %q carries %q", rows[0].Detail, never)
		}
	}

	// The gateway still says PENDING/REVIEW (the decision is not delivered yet): a newer
	// read does not put the process back in the queue.
	clk.Add(time.Minute)
	upsert(t, db, store.SourceWebhook, inReview("p-1", procBase.Add(time.Minute)))
	if p := mustGet(t, db, "p-1"); p.Reviewable || !p.Decided {
		t.Errorf("after a newer PENDING/REVIEW read: got reviewable=%v decided=%v, want still out of review", p.Reviewable, p.Decided)
	}
	if _, err := db.Claim(ctx, actorOf(a), "p-1", a.ID, 5*time.Minute, false); !errors.Is(err, store.ErrNotReviewable) {
		t.Errorf("claim after deciding: got %v, want ErrNotReviewable", err)
	}
	if _, err := db.Decide(ctx, actorOf(a), acceptOf("p-1")); !errors.Is(err, store.ErrAlreadyDecided) || !errors.Is(err, store.ErrConflict) {
		t.Errorf("deciding again: got %v, want ErrAlreadyDecided (a conflict)", err)
	}
	verifyAudit(t, db)
}

func TestDecideRefusals(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	a := newUser(t, db, "a@example.com", store.RoleAgent)
	b := newUser(t, db, "b@example.com", store.RoleAgent)
	for _, id := range []string{"p-review", "p-claimed", "p-decided"} {
		upsert(t, db, store.SourceWebhook, inReview(id, procBase.Add(-time.Hour)))
	}
	upsert(t, db, store.SourceTracked, inProgress("p-progress", procBase.Add(-time.Hour)))
	upsert(t, db, store.SourceTracked, decided("p-final", "VERIFIED", procBase.Add(-time.Hour)))
	if _, err := db.Claim(ctx, actorOf(b), "p-claimed", b.ID, 5*time.Minute, false); err != nil {
		t.Fatal(err)
	}
	mustDecide(t, db, b, acceptOf("p-decided"))
	retired := reasonByCode(t, db, "under-age")
	if err := db.SetReasonActive(ctx, store.System, retired.ID, false); err != nil {
		t.Fatal(err)
	}
	reason := reasonByCode(t, db, "face-mismatch")
	clk.Add(time.Minute)

	cases := []struct {
		name string
		nd   store.NewDecision
		want error
	}{
		{"reject without a reason", store.NewDecision{ProcessID: "p-review", Verdict: store.VerdictReject, Comment: "no"}, store.ErrInvalid},
		{"unknown reason", store.NewDecision{ProcessID: "p-review", Verdict: store.VerdictReject, ReasonID: 999, Comment: "no"}, store.ErrInvalid},
		{"retired reason", store.NewDecision{ProcessID: "p-review", Verdict: store.VerdictReject, ReasonID: retired.ID, Comment: retired.CustomerText}, store.ErrInvalid},
		{"blank comment", store.NewDecision{ProcessID: "p-review", Verdict: store.VerdictReject, ReasonID: reason.ID, Comment: " \t\n "}, store.ErrInvalid},
		{"unknown verdict", store.NewDecision{ProcessID: "p-review", Verdict: "maybe"}, store.ErrInvalid},
		{"unknown process", acceptOf("p-unknown"), store.ErrNotFound},
		{"not finished", acceptOf("p-progress"), store.ErrNotReviewable},
		{"final at the gateway", acceptOf("p-final"), store.ErrNotReviewable},
		{"claimed by another agent", acceptOf("p-claimed"), store.ErrClaimedByOther},
		{"decided already", acceptOf("p-decided"), store.ErrAlreadyDecided},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := db.Decide(ctx, actorOf(a), tc.nd)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v %v, want %v", d, err, tc.want)
			}
			var ce *store.ClaimError
			if errors.Is(tc.want, store.ErrClaimedByOther) && (!errors.As(err, &ce) || ce.HolderID != b.ID || ce.HolderName != "Test b@example.com") {
				t.Errorf("claim error: got %v, want one naming the holder", err)
			}
		})
	}
	// Only the decision made during setup exists; the refused ones left no trace.
	if ds, err := db.ListDecisions(ctx, store.DecisionFilter{}); err != nil || len(ds) != 1 || ds[0].ProcessID != "p-decided" {
		t.Errorf("decisions: got %d %v, want only the setup one", len(ds), err)
	}
	if rows := auditRows(t, db, "decision.accept", ""); len(rows) != 1 {
		t.Errorf("accept audit rows: got %d, want 1", len(rows))
	}
	if rows := auditRows(t, db, "decision.reject", ""); len(rows) != 0 {
		t.Errorf("reject audit rows: got %d, want 0", len(rows))
	}
	for _, id := range []string{"p-review", "p-claimed"} {
		if p := mustGet(t, db, id); !p.Reviewable || p.Decided {
			t.Errorf("%s: got reviewable=%v decided=%v, want still in review", id, p.Reviewable, p.Decided)
		}
	}
	if p := mustGet(t, db, "p-claimed"); p.ClaimedBy != b.ID {
		t.Errorf("p-claimed: claim moved to %d", p.ClaimedBy)
	}
	if r, _ := db.GetReason(ctx, reason.ID); r.InUse {
		t.Error("a refused reject marked its reason in use")
	}
}

func TestDecideAfterAClaimLapsed(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	a := newUser(t, db, "a@example.com", store.RoleAgent)
	b := newUser(t, db, "b@example.com", store.RoleAgent)
	cases := []struct {
		name string
		by   *store.User
	}{
		{"its former holder", a},
		{"another agent", b},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("p-%d", i)
			upsert(t, db, store.SourceWebhook, inReview(id, procBase.Add(-time.Hour)))
			if _, err := db.Claim(ctx, actorOf(a), id, a.ID, 5*time.Minute, false); err != nil {
				t.Fatal(err)
			}
			clk.Add(5 * time.Minute) // exactly at expiry the claim is no longer active
			d, err := db.Decide(ctx, actorOf(tc.by), acceptOf(id))
			if err != nil {
				t.Fatalf("got %v, want the decision (nobody holds the claim)", err)
			}
			if d.DecidedBy != tc.by.ID {
				t.Errorf("decided by: got %d, want %d", d.DecidedBy, tc.by.ID)
			}
		})
	}
}

// TestDecideFiftyAgentsAtOnceInTheStore is D1 at the store: the conditional change and
// the partial unique index let exactly one of 50 concurrent deciders win.
func TestDecideFiftyAgentsAtOnceInTheStore(t *testing.T) {
	db, _ := openClockedDB(t)
	ctx := context.Background()
	const n = 50
	agents := make([]*store.User, n)
	for i := range agents {
		agents[i] = newUser(t, db, fmt.Sprintf("agent%02d@example.com", i), store.RoleAgent)
	}
	reason := reasonByCode(t, db, "suspected-forgery")
	nd := func(i int, id string) store.NewDecision {
		if i%2 == 0 {
			return acceptOf(id)
		}
		return store.NewDecision{ProcessID: id, Verdict: store.VerdictReject, ReasonID: reason.ID, Comment: reason.CustomerText}
	}
	decideAll := func(id string, who []int) map[int]error {
		var wg sync.WaitGroup
		var mu sync.Mutex
		start := make(chan struct{})
		errs := map[int]error{}
		for _, i := range who {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := db.Decide(ctx, actorOf(agents[i]), nd(i, id))
				mu.Lock()
				errs[i] = err
				mu.Unlock()
			}()
		}
		close(start)
		wg.Wait()
		return errs
	}
	everyone := make([]int, n)
	for i := range everyone {
		everyone[i] = i
	}
	cases := []struct {
		name   string
		holder int // index of the claim holder, or -1
	}{
		{"nobody holds the claim", -1},
		{"one agent holds the claim", 33},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := strings.ReplaceAll(tc.name, " ", "-")
			upsert(t, db, store.SourceWebhook, inReview(id, procBase.Add(-time.Hour)))
			if tc.holder >= 0 {
				holder := agents[tc.holder]
				if _, err := db.Claim(ctx, actorOf(holder), id, holder.ID, 5*time.Minute, false); err != nil {
					t.Fatal(err)
				}
				// The 49 others alone, at once: each is told who holds it.
				others := slices.DeleteFunc(slices.Clone(everyone), func(i int) bool { return i == tc.holder })
				for i, err := range decideAll(id, others) {
					var ce *store.ClaimError
					if !errors.As(err, &ce) || ce.HolderID != holder.ID {
						t.Errorf("agent %d: got %v, want a ClaimError naming the holder", i, err)
					}
				}
				if got := countDecisions(t, db, id); got != 0 {
					t.Fatalf("decisions after the refusals: got %d, want 0", got)
				}
			}
			var winners []int
			for i, err := range decideAll(id, everyone) {
				if err == nil {
					winners = append(winners, i)
					continue
				}
				var ce *store.ClaimError
				clear := errors.Is(err, store.ErrAlreadyDecided) || errors.Is(err, store.ErrNotReviewable) ||
					(tc.holder >= 0 && errors.As(err, &ce) && ce.HolderID == agents[tc.holder].ID)
				if !clear || !errors.Is(err, store.ErrConflict) {
					t.Errorf("agent %d: got %v, want a conflict", i, err)
				}
			}
			if len(winners) != 1 || (tc.holder >= 0 && winners[0] != tc.holder) {
				t.Fatalf("winners: got %v, want exactly one (the holder, if any: %d)", winners, tc.holder)
			}
			live, err := db.LiveDecision(ctx, id)
			if err != nil || live.DecidedBy != agents[winners[0]].ID || live.Verdict != nd(winners[0], id).Verdict {
				t.Errorf("live decision: got %+v %v, want the winner's", live, err)
			}
			if got := countDecisions(t, db, id); got != 1 {
				t.Errorf("decision rows: got %d, want 1", got)
			}
			if got := len(auditRows(t, db, "decision.accept", id)) + len(auditRows(t, db, "decision.reject", id)); got != 1 {
				t.Errorf("decision audit rows: got %d, want 1", got)
			}
		})
	}
	verifyAudit(t, db)
}

func TestDeliveryAttemptsAndOutcomes(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	a := newUser(t, db, "a@example.com", store.RoleAgent)
	upsert(t, db, store.SourceWebhook, inReview("p-1", procBase.Add(-time.Hour)))
	d := mustDecide(t, db, a, acceptOf("p-1"))

	due, err := db.DueDeliveries(ctx, 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("due: got %v %v, want one", due, err)
	}
	if ok, err := db.StartDelivery(ctx, d.ID); !ok || err != nil {
		t.Fatalf("start: got %v %v, want true", ok, err)
	}
	if ok, err := db.StartDelivery(ctx, d.ID); ok || err != nil {
		t.Errorf("second start: got %v %v, want false (someone else is sending it)", ok, err)
	}
	if due, _ := db.DueDeliveries(ctx, 10); len(due) != 0 {
		t.Errorf("due while sending: got %d, want 0", len(due))
	}
	// A retry: not audited, scheduled, the long error cut to fit on a character boundary.
	longErr := "x" + strings.Repeat("é", 300)
	if err := db.FinishDelivery(ctx, due[0], store.DeliveryOutcome{State: store.StateQueued, Next: procBase.Add(time.Minute), Ambiguous: true, Error: longErr}); err != nil {
		t.Fatal(err)
	}
	got := mustDecision(t, db, d.ID)
	if got.State != store.StateQueued || got.Attempts != 1 || !got.Ambiguous || !got.NextAttemptAt.Equal(procBase.Add(time.Minute)) {
		t.Errorf("after a retry: got %s attempts=%d ambiguous=%v next=%v", got.State, got.Attempts, got.Ambiguous, got.NextAttemptAt)
	}
	if len(got.LastError) > 500 || !utf8.ValidString(got.LastError) || !strings.HasPrefix(longErr, got.LastError) || len(got.LastError) < 490 {
		t.Errorf("last error: got %d bytes (valid UTF-8 %v), want the first ≤500 bytes of the error, whole characters only", len(got.LastError), utf8.ValidString(got.LastError))
	}
	if rows := auditRows(t, db, "decision.delivery", "p-1"); len(rows) != 0 {
		t.Errorf("audit after a plain retry: got %d rows, want 0", len(rows))
	}
	if next, _ := db.NextDeliveryDue(ctx); !next.Equal(procBase.Add(time.Minute)) {
		t.Errorf("next due: got %v, want %v", next, procBase.Add(time.Minute))
	}
	if due, _ := db.DueDeliveries(ctx, 10); len(due) != 0 {
		t.Errorf("due before the retry time: got %d, want 0", len(due))
	}
	// Finishing a decision that is not being sent is refused.
	if err := db.FinishDelivery(ctx, got, store.DeliveryOutcome{State: store.StateDelivered, Audit: true}); err == nil {
		t.Error("finish of a queued decision: got nil, want an error")
	}
	clk.Add(time.Minute)
	due, _ = db.DueDeliveries(ctx, 10)
	if len(due) != 1 || due[0].Attempts != 1 {
		t.Fatalf("due at the retry time: got %v", due)
	}
	if ok, _ := db.StartDelivery(ctx, d.ID); !ok {
		t.Fatal("start of the retry failed")
	}
	if err := db.FinishDelivery(ctx, due[0], store.DeliveryOutcome{State: store.StateDelivered, GatewayStatus: "VERIFIED", Audit: true}); err != nil {
		t.Fatal(err)
	}
	got = mustDecision(t, db, d.ID)
	if got.State != store.StateDelivered || got.Attempts != 2 || !got.DeliveredAt.Equal(clk.Now()) || got.GatewayStatus != "VERIFIED" ||
		!got.NextAttemptAt.IsZero() || got.LastError != "" {
		t.Errorf("delivered: got %s attempts=%d at %v gateway %q next %v error %q", got.State, got.Attempts, got.DeliveredAt, got.GatewayStatus, got.NextAttemptAt, got.LastError)
	}
	rows := auditRows(t, db, "decision.delivery", "p-1")
	if len(rows) != 1 || rows[0].Outcome != store.OutcomeSuccess || rows[0].Actor != "system" ||
		rows[0].Detail != fmt.Sprintf("decision %d delivered; attempt 2", d.ID) {
		t.Errorf("audit: got %+v, want one success by the system for attempt 2", rows)
	}
	if next, err := db.NextDeliveryDue(ctx); err != nil || !next.IsZero() {
		t.Errorf("next due: got %v %v, want none", next, err)
	}
	verifyAudit(t, db)
}

func TestFinishDeliveryMarksTheProcessFinal(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	a := newUser(t, db, "a@example.com", store.RoleAgent)
	reason := reasonByCode(t, db, "data-mismatch")
	cases := []struct {
		nd         store.NewDecision
		wantStatus string
	}{
		{acceptOf("p-accept"), "VERIFIED"},
		{store.NewDecision{ProcessID: "p-reject", Verdict: store.VerdictReject, ReasonID: reason.ID, Comment: reason.CustomerText}, "NOT_VERIFIED"},
	}
	for _, tc := range cases {
		t.Run(tc.nd.ProcessID, func(t *testing.T) {
			upsert(t, db, store.SourceWebhook, inReview(tc.nd.ProcessID, procBase.Add(-time.Hour)))
			d := mustDecide(t, db, a, tc.nd)
			clk.Add(time.Second)
			deliver(t, db, d.ID, store.DeliveryOutcome{State: store.StateDelivered, GatewayStatus: tc.wantStatus, Audit: true})
			p := mustGet(t, db, tc.nd.ProcessID)
			if p.Status != tc.wantStatus || p.RawStatus != tc.wantStatus || p.Stage != "DONE" || !p.Final || p.Reviewable {
				t.Errorf("process: got %s/%s/%s final=%v reviewable=%v, want %s DONE final", p.Status, p.RawStatus, p.Stage, p.Final, p.Reviewable, tc.wantStatus)
			}
			// A final process is not checked again, and a later read that still says
			// REVIEW does not bring it back to the queue.
			if ids, _ := db.DueForSync(ctx, 100); slices.Contains(ids, tc.nd.ProcessID) {
				t.Error("a delivered process is still due for a status check")
			}
			upsert(t, db, store.SourceWebhook, inReview(tc.nd.ProcessID, procBase.Add(time.Second)))
			if p := mustGet(t, db, tc.nd.ProcessID); p.Reviewable {
				t.Error("a delivered decision's process came back to the queue")
			}
		})
	}
	// The outcomes that are not deliveries leave the process as it was.
	for _, state := range []string{store.StateConflict, store.StateParked} {
		id := "p-" + state
		upsert(t, db, store.SourceWebhook, inReview(id, procBase.Add(-time.Hour)))
		d := mustDecide(t, db, a, acceptOf(id))
		got := deliver(t, db, d.ID, store.DeliveryOutcome{State: state, GatewayStatus: "NOT_VERIFIED", Error: "refused", Audit: true})
		if got.State != state || got.LastError != "refused" || !got.DeliveredAt.IsZero() || !got.NextAttemptAt.IsZero() {
			t.Errorf("%s: got %s error %q delivered %v next %v", state, got.State, got.LastError, got.DeliveredAt, got.NextAttemptAt)
		}
		if p := mustGet(t, db, id); p.Status != "PENDING" || p.Final || !p.Decided {
			t.Errorf("%s: process got %s final=%v decided=%v, want PENDING, decided, not final", state, p.Status, p.Final, p.Decided)
		}
		if rows := auditRows(t, db, "decision.delivery", id); len(rows) != 1 || rows[0].Outcome != store.OutcomeFailure {
			t.Errorf("%s: audit got %+v, want one failure", state, rows)
		}
	}
	verifyAudit(t, db)
}

func TestRecoverDeliveriesRequeuesWhatWasBeingSent(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	a := newUser(t, db, "a@example.com", store.RoleAgent)
	var ds []*store.Decision
	for _, id := range []string{"p-sending", "p-waiting", "p-delivered"} {
		upsert(t, db, store.SourceWebhook, inReview(id, procBase.Add(-time.Hour)))
		ds = append(ds, mustDecide(t, db, a, acceptOf(id)))
	}
	deliver(t, db, ds[1].ID, store.DeliveryOutcome{State: store.StateQueued, Next: procBase.Add(time.Hour), Error: "503"})
	deliver(t, db, ds[2].ID, store.DeliveryOutcome{State: store.StateDelivered, Audit: true})
	if ok, err := db.StartDelivery(ctx, ds[0].ID); !ok || err != nil {
		t.Fatal(err)
	}
	// The crash; the restart a while later.
	clk.Add(10 * time.Minute)
	n, err := db.RecoverDeliveries(ctx)
	if err != nil || n != 1 {
		t.Fatalf("recover: got %d %v, want 1", n, err)
	}
	want := []struct {
		state     string
		ambiguous bool
		next      time.Time
	}{
		{store.StateQueued, true, clk.Now()},
		{store.StateQueued, false, procBase.Add(time.Hour)},
		{store.StateDelivered, false, time.Time{}},
	}
	for i, w := range want {
		got := mustDecision(t, db, ds[i].ID)
		if got.State != w.state || got.Ambiguous != w.ambiguous || !got.NextAttemptAt.Equal(w.next) || got.Attempts != 1 {
			t.Errorf("%s: got %s ambiguous=%v next=%v attempts=%d, want %s %v %v 1", ds[i].ProcessID, got.State, got.Ambiguous, got.NextAttemptAt, got.Attempts, w.state, w.ambiguous, w.next)
		}
	}
	if due, _ := db.DueDeliveries(ctx, 10); len(due) != 1 || due[0].ID != ds[0].ID {
		t.Errorf("due after recovery: got %v, want the interrupted one", due)
	}
	if n, err := db.RecoverDeliveries(ctx); err != nil || n != 0 {
		t.Errorf("second recovery: got %d %v, want 0", n, err)
	}
}

func TestParkStale(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	a := newUser(t, db, "a@example.com", store.RoleAgent)
	b := newUser(t, db, "b@example.com", store.RoleAgent)
	decide := func(id string, second bool) *store.Decision {
		upsert(t, db, store.SourceWebhook, inReview(id, procBase.Add(-time.Hour)))
		nd := acceptOf(id)
		nd.SecondReview = second
		return mustDecide(t, db, a, nd)
	}
	old := decide("p-old", false)
	waiting := decide("p-second-review", true)
	confirmedLate := decide("p-confirmed-late", true)
	sending := decide("p-sending", false)
	if _, err := db.StartDelivery(ctx, sending.ID); err != nil {
		t.Fatal(err)
	}
	clk.Add(50 * time.Minute)
	young := decide("p-young", false)
	if _, err := db.ConfirmSecond(ctx, actorOf(b), confirmedLate.ID); err != nil {
		t.Fatal(err)
	}
	clk.Add(15 * time.Minute)

	n, err := db.ParkStale(ctx, time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("park stale: got %d %v, want 1", n, err)
	}
	for _, c := range []struct {
		d    *store.Decision
		want string
	}{
		{old, store.StateParked},
		{waiting, store.StateSecondReview},
		{confirmedLate, store.StateQueued}, // deliverable for 15 minutes only
		{sending, store.StateSending},
		{young, store.StateQueued},
	} {
		if got := mustDecision(t, db, c.d.ID); got.State != c.want {
			t.Errorf("%s: got %s, want %s", c.d.ProcessID, got.State, c.want)
		}
	}
	rows := auditRows(t, db, "decision.delivery", "p-old")
	if len(rows) != 1 || rows[0].Outcome != store.OutcomeFailure || !strings.Contains(rows[0].Detail, "not delivered within 1h0m0s") {
		t.Errorf("audit: got %+v, want one failure saying why", rows)
	}
	if due, _ := db.DueDeliveries(ctx, 10); slices.ContainsFunc(due, func(d *store.Decision) bool { return d.ID == old.ID }) {
		t.Error("a parked decision is due")
	}
	if n, err := db.ParkStale(ctx, time.Hour); err != nil || n != 0 {
		t.Errorf("second pass: got %d %v, want 0", n, err)
	}
	verifyAudit(t, db)
}

func TestRetryAndResolveByState(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	a := newUser(t, db, "a@example.com", store.RoleAgent)
	b := newUser(t, db, "b@example.com", store.RoleAgent)
	admin := newUser(t, db, "admin@example.com", store.RoleAdmin)
	// inState returns a new decision brought to state through the store's own calls.
	inState := func(state string) *store.Decision {
		t.Helper()
		id := "p-" + state + "-" + fmt.Sprint(clk.Now().UnixNano())
		upsert(t, db, store.SourceWebhook, inReview(id, procBase.Add(-time.Hour)))
		nd := acceptOf(id)
		nd.SecondReview = state == store.StateSecondReview || state == store.StateOverturned
		d := mustDecide(t, db, a, nd)
		switch state {
		case store.StateSending:
			if _, err := db.StartDelivery(ctx, d.ID); err != nil {
				t.Fatal(err)
			}
		case store.StateDelivered, store.StateConflict, store.StateParked:
			deliver(t, db, d.ID, store.DeliveryOutcome{State: state, Audit: true})
		case store.StateResolved:
			deliver(t, db, d.ID, store.DeliveryOutcome{State: store.StateConflict, Audit: true})
			if err := db.ResolveDecision(ctx, actorOf(admin), d.ID, "settled by phone"); err != nil {
				t.Fatal(err)
			}
		case store.StateOverturned:
			if err := db.Overturn(ctx, actorOf(b), d.ID, "no", time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		d = mustDecision(t, db, d.ID)
		if d.State != state {
			t.Fatalf("setup: got %s, want %s", d.State, state)
		}
		clk.Add(time.Second)
		return d
	}
	cases := []struct {
		state                string
		canRetry, canResolve bool
	}{
		{store.StateQueued, true, false},
		{store.StateParked, true, true},
		{store.StateConflict, true, true},
		{store.StateSending, false, false},
		{store.StateDelivered, false, false},
		{store.StateSecondReview, false, false},
		{store.StateOverturned, false, false},
		{store.StateResolved, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.state, func(t *testing.T) {
			d := inState(tc.state)
			err := db.RetryDelivery(ctx, actorOf(admin), d.ID)
			got := mustDecision(t, db, d.ID)
			if tc.canRetry {
				if err != nil || got.State != store.StateQueued || !got.Ambiguous || !got.NextAttemptAt.Equal(clk.Now()) {
					t.Errorf("retry: got %v, %s ambiguous=%v next=%v, want queued, ambiguous, due now", err, got.State, got.Ambiguous, got.NextAttemptAt)
				}
				if rows := auditRows(t, db, "decision.retry", d.ProcessID); len(rows) != 1 || rows[0].ActorID != admin.ID {
					t.Errorf("retry audit: got %+v, want one by the admin", rows)
				}
			} else if !errors.Is(err, store.ErrConflict) || got.State != tc.state {
				t.Errorf("retry: got %v, state %s, want ErrConflict and %s", err, got.State, tc.state)
			}

			d = inState(tc.state)
			err = db.ResolveDecision(ctx, actorOf(admin), d.ID, "customer called; settled by phone")
			got = mustDecision(t, db, d.ID)
			if tc.canResolve {
				rows := auditRows(t, db, "decision.resolve", d.ProcessID)
				if err != nil || got.State != store.StateResolved || len(rows) != 1 || !strings.Contains(rows[0].Detail, "settled by phone") {
					t.Errorf("resolve: got %v, %s, audit %+v, want resolved with the note audited", err, got.State, rows)
				}
			} else if !errors.Is(err, store.ErrConflict) || got.State != tc.state {
				t.Errorf("resolve: got %v, state %s, want ErrConflict and %s", err, got.State, tc.state)
			}
		})
	}
	if err := db.RetryDelivery(ctx, actorOf(admin), 9999); !errors.Is(err, store.ErrConflict) {
		t.Errorf("retry of an unknown decision: got %v, want ErrConflict", err)
	}
	if err := db.ResolveDecision(ctx, actorOf(admin), 9999, ""); !errors.Is(err, store.ErrConflict) {
		t.Errorf("resolve of an unknown decision: got %v, want ErrConflict", err)
	}
	verifyAudit(t, db)
}

func TestSecondReview(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	a := newUser(t, db, "a@example.com", store.RoleAgent)
	b := newUser(t, db, "b@example.com", store.RoleAgent)
	for _, id := range []string{"p-confirm", "p-overturn"} {
		upsert(t, db, store.SourceWebhook, inReview(id, procBase.Add(-time.Hour)))
	}
	fourEyes := func(id string) *store.Decision {
		nd := acceptOf(id)
		nd.SecondReview = true
		d := mustDecide(t, db, a, nd)
		if d.State != store.StateSecondReview || !d.NextAttemptAt.IsZero() {
			t.Fatalf("got %s next %v, want second_review, not scheduled", d.State, d.NextAttemptAt)
		}
		return d
	}

	t.Run("confirm", func(t *testing.T) {
		d := fourEyes("p-confirm")
		if rows := auditRows(t, db, "decision.accept", "p-confirm"); len(rows) != 1 || !strings.Contains(rows[0].Detail, "awaits second review") {
			t.Errorf("decision audit: got %+v, want it to say it awaits a second review", rows)
		}
		if due, _ := db.DueDeliveries(ctx, 10); len(due) != 0 {
			t.Errorf("due before the second review: got %d, want 0", len(due))
		}
		if p := mustGet(t, db, "p-confirm"); p.Reviewable || !p.Decided {
			t.Errorf("process: got reviewable=%v decided=%v, want out of the queue", p.Reviewable, p.Decided)
		}
		if _, err := db.ConfirmSecond(ctx, actorOf(a), d.ID); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("confirmed by its author: got %v, want ErrInvalid", err)
		}
		clk.Add(time.Hour)
		got, err := db.ConfirmSecond(ctx, actorOf(b), d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != store.StateQueued || got.SecondBy != b.ID || got.SecondByName != "Test b@example.com" ||
			!got.SecondAt.Equal(clk.Now()) || !got.NextAttemptAt.Equal(clk.Now()) || !got.DecidedAt.Equal(procBase) {
			t.Errorf("confirmed: got %s by %d (%s) at %v next %v decided %v", got.State, got.SecondBy, got.SecondByName, got.SecondAt, got.NextAttemptAt, got.DecidedAt)
		}
		if rows := auditRows(t, db, "decision.confirm", "p-confirm"); len(rows) != 1 || rows[0].ActorID != b.ID {
			t.Errorf("confirm audit: got %+v, want one by the second agent", rows)
		}
		if due, _ := db.DueDeliveries(ctx, 10); len(due) != 1 || due[0].ID != d.ID {
			t.Errorf("due after the confirmation: got %v, want it", due)
		}
		if _, err := db.ConfirmSecond(ctx, actorOf(b), d.ID); !errors.Is(err, store.ErrConflict) {
			t.Errorf("confirmed twice: got %v, want ErrConflict", err)
		}
		if err := db.Overturn(ctx, actorOf(b), d.ID, "", time.Minute); !errors.Is(err, store.ErrConflict) {
			t.Errorf("overturn after confirmation: got %v, want ErrConflict", err)
		}
	})
	t.Run("overturn, then a new decision", func(t *testing.T) {
		d := fourEyes("p-overturn")
		if err := db.Overturn(ctx, actorOf(a), d.ID, "", 5*time.Minute); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("overturned by its author: got %v, want ErrInvalid", err)
		}
		clk.Add(time.Minute)
		if err := db.Overturn(ctx, actorOf(b), d.ID, "the document is a photocopy", 5*time.Minute); err != nil {
			t.Fatal(err)
		}
		got := mustDecision(t, db, d.ID)
		if got.State != store.StateOverturned || got.SecondBy != b.ID || !got.SecondAt.Equal(clk.Now()) {
			t.Errorf("overturned: got %s by %d at %v", got.State, got.SecondBy, got.SecondAt)
		}
		p := mustGet(t, db, "p-overturn")
		if !p.Reviewable || p.Decided || p.ClaimedBy != b.ID || !p.ClaimExpiresAt.Equal(clk.Now().Add(5*time.Minute)) || !p.ReviewSince.Equal(clk.Now()) {
			t.Errorf("process: got reviewable=%v decided=%v claimed by %d until %v since %v, want back in review, claimed by the second agent",
				p.Reviewable, p.Decided, p.ClaimedBy, p.ClaimExpiresAt, p.ReviewSince)
		}
		if rows := auditRows(t, db, "decision.overturn", "p-overturn"); len(rows) != 1 || !strings.Contains(rows[0].Detail, "photocopy") {
			t.Errorf("overturn audit: got %+v, want one with the note", rows)
		}
		if ps, _, _ := db.Queue(ctx, store.QueueQuery{}); !slices.Contains(idsOf(ps), "p-overturn") {
			t.Errorf("queue: got %v, want p-overturn back", idsOf(ps))
		}
		if _, err := db.LiveDecision(ctx, "p-overturn"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("live decision after overturning: got %v, want ErrNotFound", err)
		}
		if err := db.Overturn(ctx, actorOf(b), d.ID, "", time.Minute); !errors.Is(err, store.ErrConflict) {
			t.Errorf("overturned twice: got %v, want ErrConflict", err)
		}
		// The first agent no longer holds it; the second agent's decision is allowed
		// by the partial unique index (the overturned row does not count).
		if _, err := db.Decide(ctx, actorOf(a), acceptOf("p-overturn")); !errors.Is(err, store.ErrClaimedByOther) {
			t.Errorf("first agent deciding again: got %v, want ErrClaimedByOther", err)
		}
		reason := reasonByCode(t, db, "photocopy-or-screen")
		nd := mustDecide(t, db, b, store.NewDecision{ProcessID: "p-overturn", Verdict: store.VerdictReject, ReasonID: reason.ID, Comment: reason.CustomerText})
		if live, err := db.LiveDecision(ctx, "p-overturn"); err != nil || live.ID != nd.ID || live.State != store.StateQueued {
			t.Errorf("live decision: got %+v %v, want the new one, queued", live, err)
		}
		if got := countDecisions(t, db, "p-overturn"); got != 2 {
			t.Errorf("decision rows: got %d, want 2", got)
		}
		// The index itself refuses a second live decision, whatever the caller.
		_, err := db.SQL().ExecContext(ctx, `INSERT INTO decisions (process_id, verdict, decided_by, decided_at, state, updated_at)
			VALUES ('p-overturn', 'accept', ?, 'x', 'queued', 'x')`, a.ID)
		if err == nil || !strings.Contains(err.Error(), "UNIQUE") {
			t.Errorf("a second live decision: got %v, want a UNIQUE violation", err)
		}
	})
	verifyAudit(t, db)
}
