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
	d, err := db.Decide(context.Background(), actorOf(u), nd, allow)
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
	if _, err := db.Claim(ctx, actorOf(a), "p-1", 5*time.Minute, allow); err != nil {
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
		{"verdict", string(d.Verdict), string(store.VerdictAccept)},
		{"state", string(d.State), string(store.StateQueued)},
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
	// Whether it may be claimed again is review's rule: the store hands the rule the
	// decided process and its live decision, and writes nothing when it refuses.
	before := dump(t, db)
	r := refuse()
	_, err := db.Claim(ctx, actorOf(a), "p-1", 5*time.Minute, r.rule)
	wantRefusedUnchanged(t, "claim after deciding", err)
	if c := r.only(t); !c.Process.Decided || c.Process.Reviewable || c.Decision == nil || c.Decision.ID != d.ID || c.Decision.State != store.StateQueued {
		t.Errorf("case after deciding: got process decided=%v reviewable=%v decision %+v, want the decided process and its live decision",
			c.Process.Decided, c.Process.Reviewable, c.Decision)
	}
	wantUnchanged(t, db, "a refused claim", before)
	// One live decision per process is the store's own guarantee (D1), whatever the rule.
	if _, err := db.Decide(ctx, actorOf(a), acceptOf("p-1"), allow); !errors.Is(err, store.ErrAlreadyDecided) || !errors.Is(err, store.ErrConflict) {
		t.Errorf("deciding again: got %v, want ErrAlreadyDecided (a conflict)", err)
	}
	wantUnchanged(t, db, "a second decision", before)
	verifyAudit(t, db)
}

// TestDecideStoreRefusals: what the store refuses itself, whatever the rule says; a
// refused decision leaves no trace.
func TestDecideStoreRefusals(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	a := newUser(t, db, "a@example.com", store.RoleAgent)
	b := newUser(t, db, "b@example.com", store.RoleAgent)
	for _, id := range []string{"p-review", "p-decided"} {
		upsert(t, db, store.SourceWebhook, inReview(id, procBase.Add(-time.Hour)))
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
		want error // nil: any error will do (the schema refuses it)
	}{
		{"reject without a reason", store.NewDecision{ProcessID: "p-review", Verdict: store.VerdictReject, Comment: "no"}, store.ErrReasonInactive},
		{"unknown reason", store.NewDecision{ProcessID: "p-review", Verdict: store.VerdictReject, ReasonID: 999, Comment: "no"}, store.ErrReasonInactive},
		{"retired reason", store.NewDecision{ProcessID: "p-review", Verdict: store.VerdictReject, ReasonID: retired.ID, Comment: retired.CustomerText}, store.ErrReasonInactive},
		{"reject without a comment", store.NewDecision{ProcessID: "p-review", Verdict: store.VerdictReject, ReasonID: reason.ID}, nil},
		{"unknown verdict", store.NewDecision{ProcessID: "p-review", Verdict: "maybe"}, nil},
		{"corrections too long", store.NewDecision{ProcessID: "p-review", Verdict: store.VerdictAccept, Corrections: map[string]string{"name": strings.Repeat("x", 8000)}}, store.ErrInvalid},
		{"unknown process", acceptOf("p-unknown"), store.ErrNotFound},
		{"decided already", acceptOf("p-decided"), store.ErrAlreadyDecided},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := dump(t, db)
			d, err := db.Decide(ctx, actorOf(a), tc.nd, allow)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("got %v %v, want %v", d, err, tc.want)
			}
			wantUnchanged(t, db, "a refused decision", before)
		})
	}
	if !errors.Is(store.ErrReasonInactive, store.ErrInvalid) {
		t.Error("ErrReasonInactive does not wrap ErrInvalid")
	}
	// Only the decision made during setup exists; the refused ones left no trace.
	if ds, err := db.ListDecisions(ctx, store.DecisionFilter{}); err != nil || len(ds) != 1 || ds[0].ProcessID != "p-decided" {
		t.Errorf("decisions: got %d %v, want only the setup one", len(ds), err)
	}
	if p := mustGet(t, db, "p-review"); !p.Reviewable || p.Decided {
		t.Errorf("p-review: got reviewable=%v decided=%v, want still in review", p.Reviewable, p.Decided)
	}
	if r, _ := db.GetReason(ctx, reason.ID); r.InUse {
		t.Error("a refused reject marked its reason in use")
	}
}

// TestDecideRefusedByTheRule: the store hands the rule the rows as they are inside the
// write's transaction (the process, its live decision, what the current claim holder
// was served during the current claim, the transaction's instant), and a refusal is
// returned unchanged with nothing written: no decision, no audit row, no state change.
func TestDecideRefusedByTheRule(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	a := newUser(t, db, "a@example.com", store.RoleAgent)
	b := newUser(t, db, "b@example.com", store.RoleAgent)
	for _, id := range []string{"p-claimed", "p-decided", "p-progress"} {
		upsert(t, db, store.SourceWebhook, inReview(id, procBase.Add(-time.Hour)))
	}
	upsert(t, db, store.SourceWebhook, inProgress("p-progress", procBase.Add(-time.Minute)))
	claimed, err := db.Claim(ctx, actorOf(b), "p-claimed", 5*time.Minute, allow)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []store.EvidenceKind{store.ProcessData, store.EvidenceDocumentFront} {
		if err := db.RecordServed(ctx, actorOf(b), "p-claimed", k); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.RecordServed(ctx, actorOf(a), "p-claimed", store.EvidenceFaceNow); err != nil { // not a's claim: not counted
		t.Fatal(err)
	}
	live := mustDecide(t, db, b, acceptOf("p-decided"))
	reason := reasonByCode(t, db, "face-mismatch")
	clk.Add(time.Minute)

	cases := []struct {
		name  string
		nd    store.NewDecision
		check func(t *testing.T, c *store.Case)
	}{
		{"claimed by another agent", acceptOf("p-claimed"), func(t *testing.T, c *store.Case) {
			if c.Process.ID != "p-claimed" || c.Process.ClaimedBy != b.ID || c.Process.ClaimSeq != claimed.ClaimSeq || c.Decision != nil {
				t.Errorf("got process %s claimed by %d seq %d decision %+v, want b's claim %d and no decision",
					c.Process.ID, c.Process.ClaimedBy, c.Process.ClaimSeq, c.Decision, claimed.ClaimSeq)
			}
			if got, want := servedKinds(c), []string{"data", "document_front"}; !slices.Equal(got, want) {
				t.Errorf("served: got %v, want %v (what b was served in b's claim)", got, want)
			}
		}},
		{"a reject with a valid reason", store.NewDecision{ProcessID: "p-claimed", Verdict: store.VerdictReject, ReasonID: reason.ID, Comment: reason.CustomerText}, nil},
		{"decided already", acceptOf("p-decided"), func(t *testing.T, c *store.Case) {
			if c.Decision == nil || c.Decision.ID != live.ID || c.Decision.State != store.StateQueued || !c.Process.Decided || len(c.Served) != 0 {
				t.Errorf("got decision %+v decided=%v served %v, want the live decision and nothing served", c.Decision, c.Process.Decided, c.Served)
			}
		}},
		{"not finished", acceptOf("p-progress"), func(t *testing.T, c *store.Case) {
			if c.Process.Reviewable || c.Process.Stage != "IN_PROGRESS" {
				t.Errorf("got reviewable=%v stage %s, want the process as stored", c.Process.Reviewable, c.Process.Stage)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := dump(t, db)
			r := refuse()
			d, err := db.Decide(ctx, actorOf(a), tc.nd, r.rule)
			if d != nil {
				t.Errorf("decision: got %+v, want none", d)
			}
			wantRefusedUnchanged(t, "decide", err)
			c := r.only(t)
			if !c.Now.Equal(clk.Now()) {
				t.Errorf("now: got %v, want the clock's %v", c.Now, clk.Now())
			}
			if tc.check != nil {
				tc.check(t, c)
			}
			wantUnchanged(t, db, "a decision the rule refused", before)
		})
	}
	if rows := auditRows(t, db, "decision.reject", ""); len(rows) != 0 {
		t.Errorf("reject audit rows: got %d, want 0", len(rows))
	}
	if p := mustGet(t, db, "p-claimed"); !p.Reviewable || p.Decided || p.ClaimedBy != b.ID {
		t.Errorf("p-claimed: got reviewable=%v decided=%v holder %d, want still in review, b's", p.Reviewable, p.Decided, p.ClaimedBy)
	}
	if r, _ := db.GetReason(ctx, reason.ID); r.InUse {
		t.Error("a refused reject marked its reason in use")
	}
	verifyAudit(t, db)
}

// TestDecideAfterAClaimLapsed: the store's conditional change does not refuse a
// decision on a process whose claim lapsed with nobody else taking it (review's rule
// lets its holder decide then: a heartbeat lost to a sleeping laptop).
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
			if _, err := db.Claim(ctx, actorOf(a), id, 5*time.Minute, allow); err != nil {
				t.Fatal(err)
			}
			clk.Add(5 * time.Minute) // exactly at expiry the claim is no longer active
			d, err := db.Decide(ctx, actorOf(tc.by), acceptOf(id), allow)
			if err != nil {
				t.Fatalf("got %v, want the decision (nobody holds the claim)", err)
			}
			if p := mustGet(t, db, id); p.ClaimedBy != 0 || !p.Decided {
				t.Errorf("process: got holder %d decided=%v, want the lapsed claim cleared, decided", p.ClaimedBy, p.Decided)
			}
			if d.DecidedBy != tc.by.ID {
				t.Errorf("decided by: got %d, want %d", d.DecidedBy, tc.by.ID)
			}
		})
	}
}

// TestDecideFiftyAgentsAtOnceInTheStore is D1 at the store: the conditional change and
// the partial unique index let exactly one of 50 concurrent deciders win, and the rule
// judges the rows as they are inside each decider's transaction.
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
	decideAll := func(id string, who []int, rule func(a store.Actor) store.Rule) map[int]error {
		var wg sync.WaitGroup
		var mu sync.Mutex
		start := make(chan struct{})
		errs := map[int]error{}
		for _, i := range who {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				a := actorOf(agents[i])
				_, err := db.Decide(ctx, a, nd(i, id), rule(a))
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
	permissive := func(store.Actor) store.Rule { return allow }
	cases := []struct {
		name   string
		holder int // index of the claim holder, or -1
		rule   func(a store.Actor) store.Rule
	}{
		{"nobody holds the claim, every write allowed", -1, permissive},
		{"one agent holds the claim, the rule refuses the others", 33, notOthersClaim},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := strings.ReplaceAll(tc.name, " ", "-")
			upsert(t, db, store.SourceWebhook, inReview(id, procBase.Add(-time.Hour)))
			if tc.holder >= 0 {
				holder := agents[tc.holder]
				if _, err := db.Claim(ctx, actorOf(holder), id, 5*time.Minute, allow); err != nil {
					t.Fatal(err)
				}
				// The 49 others alone, at once: the rule refuses each, nothing is written.
				before := dump(t, db)
				others := slices.DeleteFunc(slices.Clone(everyone), func(i int) bool { return i == tc.holder })
				for i, err := range decideAll(id, others, tc.rule) {
					if !errors.Is(err, errRefused) {
						t.Errorf("agent %d: got %v, want the rule's refusal", i, err)
					}
				}
				wantUnchanged(t, db, "49 refused deciders", before)
			}
			var winners []int
			for i, err := range decideAll(id, everyone, tc.rule) {
				if err == nil {
					winners = append(winners, i)
					continue
				}
				// A loser is refused by the rule (it saw the holder's claim) or, once the
				// winner committed, by the store: a clear conflict either way.
				if !errors.Is(err, store.ErrAlreadyDecided) && !(tc.holder >= 0 && errors.Is(err, errRefused)) {
					t.Errorf("agent %d: got %v, want ErrAlreadyDecided or the rule's refusal", i, err)
				}
				if errors.Is(err, store.ErrAlreadyDecided) && !errors.Is(err, store.ErrConflict) {
					t.Errorf("agent %d: %v is not a conflict", i, err)
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
	for _, state := range []store.DeliveryState{store.StateConflict, store.StateParked} {
		id := "p-" + string(state)
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
		state     store.DeliveryState
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
	if _, err := db.ConfirmSecond(ctx, actorOf(b), confirmedLate.ID, allow); err != nil {
		t.Fatal(err)
	}
	clk.Add(15 * time.Minute)

	n, err := db.ParkStale(ctx, time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("park stale: got %d %v, want 1", n, err)
	}
	for _, c := range []struct {
		d    *store.Decision
		want store.DeliveryState
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

// decisionInState returns a new decision by a brought to state through the store's
// own calls (b gives four-eyes decisions their second review, admin resolves).
func decisionInState(t *testing.T, db *store.DB, clk *procClock, a, b, admin *store.User, state store.DeliveryState) *store.Decision {
	t.Helper()
	ctx := context.Background()
	id := "p-" + string(state) + "-" + fmt.Sprint(clk.Now().UnixNano())
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
		if err := db.ResolveDecision(ctx, actorOf(admin), d.ID, "settled by phone", allow); err != nil {
			t.Fatal(err)
		}
	case store.StateOverturned:
		if err := db.Overturn(ctx, actorOf(b), d.ID, "no", time.Minute, allow); err != nil {
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

// TestRetryAndResolveHandTheDecisionToTheRule: which states can be retried or resolved,
// and by whom, is review's rule. The store hands it the decision the write is about
// (even one that is not live any more) and writes nothing when it refuses.
func TestRetryAndResolveHandTheDecisionToTheRule(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	a := newUser(t, db, "a@example.com", store.RoleAgent)
	b := newUser(t, db, "b@example.com", store.RoleAgent)
	admin := newUser(t, db, "admin@example.com", store.RoleAdmin)
	writes := []struct {
		name string
		do   func(id int64, rule store.Rule) error
	}{
		{"retry", func(id int64, rule store.Rule) error { return db.RetryDelivery(ctx, actorOf(admin), id, rule) }},
		{"resolve", func(id int64, rule store.Rule) error {
			return db.ResolveDecision(ctx, actorOf(admin), id, "settled", rule)
		}},
	}
	for _, state := range store.DeliveryStates {
		d := decisionInState(t, db, clk, a, b, admin, state)
		for _, w := range writes {
			t.Run(string(state)+"/"+w.name, func(t *testing.T) {
				before := dump(t, db)
				r := refuse()
				wantRefusedUnchanged(t, w.name, w.do(d.ID, r.rule))
				c := r.only(t)
				if c.Decision == nil || c.Decision.ID != d.ID || c.Decision.State != state || c.Decision.DecidedBy != a.ID {
					t.Errorf("decision: got %+v, want decision %d in state %s", c.Decision, d.ID, state)
				}
				if c.Process == nil || c.Process.ID != d.ProcessID || !c.Now.Equal(clk.Now()) {
					t.Errorf("case: got process %+v now %v, want %s at %v", c.Process, c.Now, d.ProcessID, clk.Now())
				}
				wantUnchanged(t, db, w.name+" refused by the rule", before)
			})
		}
	}
	for _, w := range writes {
		r := judge()
		if err := w.do(9999, r.rule); !errors.Is(err, store.ErrNotFound) || r.calls() != 0 {
			t.Errorf("%s of an unknown decision: got %v after %d rule calls, want ErrNotFound, the rule not asked", w.name, err, r.calls())
		}
	}
	verifyAudit(t, db)
}

// TestRetryAndResolveWrite: what a retry and a resolution the rule allows write.
func TestRetryAndResolveWrite(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	a := newUser(t, db, "a@example.com", store.RoleAgent)
	b := newUser(t, db, "b@example.com", store.RoleAgent)
	admin := newUser(t, db, "admin@example.com", store.RoleAdmin)

	retrying := decisionInState(t, db, clk, a, b, admin, store.StateQueued)
	retrying = deliver(t, db, retrying.ID, store.DeliveryOutcome{State: store.StateQueued, Next: clk.Now().Add(time.Hour), Error: "503"})
	if !retrying.Retrying() {
		t.Fatalf("setup: %+v is not retrying", retrying)
	}
	for _, d := range []*store.Decision{
		retrying,
		decisionInState(t, db, clk, a, b, admin, store.StateParked),
		decisionInState(t, db, clk, a, b, admin, store.StateConflict),
	} {
		t.Run("retry "+d.StateLabel(), func(t *testing.T) {
			clk.Add(time.Minute)
			if err := db.RetryDelivery(ctx, actorOf(admin), d.ID, allow); err != nil {
				t.Fatal(err)
			}
			got := mustDecision(t, db, d.ID)
			if got.State != store.StateQueued || !got.Ambiguous || !got.NextAttemptAt.Equal(clk.Now()) || !got.DeliverableSince.Equal(clk.Now()) {
				t.Errorf("retry: got %s ambiguous=%v next=%v deliverable since %v, want queued, ambiguous, due now, deliverable from now",
					got.State, got.Ambiguous, got.NextAttemptAt, got.DeliverableSince)
			}
			rows := auditRows(t, db, "decision.retry", d.ProcessID)
			if want := fmt.Sprintf("decision %d (was %s)", d.ID, d.State); len(rows) != 1 || rows[0].ActorID != admin.ID || rows[0].Detail != want {
				t.Errorf("retry audit: got %+v, want one by the admin saying %q", rows, want)
			}
			if due, _ := db.DueDeliveries(ctx, 10); !slices.ContainsFunc(due, func(x *store.Decision) bool { return x.ID == d.ID }) {
				t.Error("a retried decision is not due")
			}
		})
	}
	for _, state := range []store.DeliveryState{store.StateParked, store.StateConflict} {
		t.Run("resolve "+string(state), func(t *testing.T) {
			d := decisionInState(t, db, clk, a, b, admin, state)
			if err := db.ResolveDecision(ctx, actorOf(admin), d.ID, "customer called; settled by phone", allow); err != nil {
				t.Fatal(err)
			}
			got := mustDecision(t, db, d.ID)
			rows := auditRows(t, db, "decision.resolve", d.ProcessID)
			if got.State != store.StateResolved || !got.UpdatedAt.Equal(clk.Now()) || len(rows) != 1 || rows[0].ActorID != admin.ID ||
				!strings.Contains(rows[0].Detail, "settled by phone") {
				t.Errorf("resolve: got %s updated %v, audit %+v, want resolved now with the note audited", got.State, got.UpdatedAt, rows)
			}
		})
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
		if p := mustGet(t, db, id); p.Reviewable || !p.Decided || !p.AwaitingSecond || p.ClaimedBy != 0 {
			t.Errorf("process: got reviewable=%v decided=%v awaiting second=%v holder %d, want out of the queue, awaiting a second review, unclaimed",
				p.Reviewable, p.Decided, p.AwaitingSecond, p.ClaimedBy)
		}
		return d
	}
	// secondClaim: b claims the decided process for its second review and is served
	// the process data and the document front.
	secondClaim := func(id string) *store.Process {
		t.Helper()
		p, err := db.Claim(ctx, actorOf(b), id, 5*time.Minute, allow)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []store.EvidenceKind{store.ProcessData, store.EvidenceDocumentFront} {
			if err := db.RecordServed(ctx, actorOf(b), id, k); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}

	t.Run("confirm", func(t *testing.T) {
		d := fourEyes("p-confirm")
		if rows := auditRows(t, db, "decision.accept", "p-confirm"); len(rows) != 1 || !strings.Contains(rows[0].Detail, "awaits second review") {
			t.Errorf("decision audit: got %+v, want it to say it awaits a second review", rows)
		}
		if due, _ := db.DueDeliveries(ctx, 10); len(due) != 0 {
			t.Errorf("due before the second review: got %d, want 0", len(due))
		}
		clk.Add(time.Minute)
		claimed := secondClaim("p-confirm")
		// Who may confirm is review's rule: it gets the decision, b's claim and what b
		// was served; a refusal (its author confirming, say) writes nothing.
		before := dump(t, db)
		r := refuse()
		got, err := db.ConfirmSecond(ctx, actorOf(a), d.ID, r.rule)
		if got != nil {
			t.Errorf("refused confirmation returned %+v", got)
		}
		wantRefusedUnchanged(t, "confirmation refused by the rule", err)
		c := r.only(t)
		if c.Decision == nil || c.Decision.ID != d.ID || c.Decision.State != store.StateSecondReview || c.Decision.DecidedBy != a.ID {
			t.Errorf("case decision: got %+v, want %d awaiting its second review", c.Decision, d.ID)
		}
		if c.Process.ClaimedBy != b.ID || c.Process.ClaimSeq != claimed.ClaimSeq || !c.Process.AwaitingSecond || !c.Now.Equal(clk.Now()) {
			t.Errorf("case process: got holder %d seq %d awaiting=%v now %v, want b's claim %d at %v",
				c.Process.ClaimedBy, c.Process.ClaimSeq, c.Process.AwaitingSecond, c.Now, claimed.ClaimSeq, clk.Now())
		}
		if got, want := servedKinds(c), []string{"data", "document_front"}; !slices.Equal(got, want) {
			t.Errorf("served: got %v, want %v", got, want)
		}
		wantUnchanged(t, db, "a refused confirmation", before)

		clk.Add(time.Hour)
		got, err = db.ConfirmSecond(ctx, actorOf(b), d.ID, allow)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != store.StateQueued || got.SecondBy != b.ID || got.SecondByName != "Test b@example.com" || !got.SecondAt.Equal(clk.Now()) ||
			!got.NextAttemptAt.Equal(clk.Now()) || !got.DeliverableSince.Equal(clk.Now()) || !got.DecidedAt.Equal(procBase) {
			t.Errorf("confirmed: got %s by %d (%s) at %v next %v deliverable %v decided %v",
				got.State, got.SecondBy, got.SecondByName, got.SecondAt, got.NextAttemptAt, got.DeliverableSince, got.DecidedAt)
		}
		// The confirmation ends the second agent's claim.
		if p := mustGet(t, db, "p-confirm"); p.ClaimedBy != 0 || !p.ClaimedAt.IsZero() || !p.ClaimExpiresAt.IsZero() || p.AwaitingSecond || !p.Decided || p.Reviewable {
			t.Errorf("process: got holder %d at %v until %v awaiting=%v decided=%v reviewable=%v, want unclaimed, decided, not awaiting",
				p.ClaimedBy, p.ClaimedAt, p.ClaimExpiresAt, p.AwaitingSecond, p.Decided, p.Reviewable)
		}
		if rows := auditRows(t, db, "decision.confirm", "p-confirm"); len(rows) != 1 || rows[0].ActorID != b.ID {
			t.Errorf("confirm audit: got %+v, want one by the second agent", rows)
		}
		if due, _ := db.DueDeliveries(ctx, 10); len(due) != 1 || due[0].ID != d.ID {
			t.Errorf("due after the confirmation: got %v, want it", due)
		}
		// A later second-review write hands the rule the confirmed decision.
		before = dump(t, db)
		r = refuse()
		wantRefusedUnchanged(t, "overturn after confirmation", db.Overturn(ctx, actorOf(b), d.ID, "", time.Minute, r.rule))
		if c := r.only(t); c.Decision.State != store.StateQueued || c.Decision.SecondBy != b.ID {
			t.Errorf("case after confirmation: got %s second by %d, want queued, confirmed by b", c.Decision.State, c.Decision.SecondBy)
		}
		wantUnchanged(t, db, "a refused overturn", before)
	})
	t.Run("overturn, then a new decision", func(t *testing.T) {
		d := fourEyes("p-overturn")
		clk.Add(time.Minute)
		claimed := secondClaim("p-overturn")
		before := dump(t, db)
		r := refuse()
		wantRefusedUnchanged(t, "overturn refused by the rule", db.Overturn(ctx, actorOf(a), d.ID, "", 5*time.Minute, r.rule))
		if c := r.only(t); c.Decision.ID != d.ID || c.Decision.State != store.StateSecondReview || c.Process.ClaimedBy != b.ID {
			t.Errorf("case: got decision %d %s holder %d, want %d awaiting review, b's claim", c.Decision.ID, c.Decision.State, c.Process.ClaimedBy, d.ID)
		}
		wantUnchanged(t, db, "a refused overturn", before)

		clk.Add(time.Minute)
		if err := db.Overturn(ctx, actorOf(b), d.ID, "the document is a photocopy", 5*time.Minute, allow); err != nil {
			t.Fatal(err)
		}
		got := mustDecision(t, db, d.ID)
		if got.State != store.StateOverturned || got.SecondBy != b.ID || !got.SecondAt.Equal(clk.Now()) {
			t.Errorf("overturned: got %s by %d at %v", got.State, got.SecondBy, got.SecondAt)
		}
		// Back in review, claimed by the second agent in a new claim.
		p := mustGet(t, db, "p-overturn")
		if !p.Reviewable || p.Decided || p.AwaitingSecond || p.ClaimedBy != b.ID || p.ClaimSeq != claimed.ClaimSeq+1 || !p.ClaimedAt.Equal(clk.Now()) ||
			!p.ClaimExpiresAt.Equal(clk.Now().Add(5*time.Minute)) || !p.ReviewSince.Equal(clk.Now()) {
			t.Errorf("process: got reviewable=%v decided=%v awaiting=%v claimed by %d (seq %d) at %v until %v since %v, want back in review, claimed by the second agent (seq %d)",
				p.Reviewable, p.Decided, p.AwaitingSecond, p.ClaimedBy, p.ClaimSeq, p.ClaimedAt, p.ClaimExpiresAt, p.ReviewSince, claimed.ClaimSeq+1)
		}
		if rows := auditRows(t, db, "decision.overturn", "p-overturn"); len(rows) != 1 || rows[0].ActorID != b.ID || !strings.Contains(rows[0].Detail, "photocopy") {
			t.Errorf("overturn audit: got %+v, want one by b with the note", rows)
		}
		if ps, _, _ := db.Queue(ctx, store.QueueQuery{}); !slices.Contains(idsOf(ps), "p-overturn") {
			t.Errorf("queue: got %v, want p-overturn back", idsOf(ps))
		}
		if _, err := db.LiveDecision(ctx, "p-overturn"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("live decision after overturning: got %v, want ErrNotFound", err)
		}
		// Overturning again: the rule gets the overturned decision.
		r = refuse()
		wantRefusedUnchanged(t, "overturned twice", db.Overturn(ctx, actorOf(b), d.ID, "", time.Minute, r.rule))
		if c := r.only(t); c.Decision.State != store.StateOverturned {
			t.Errorf("case: got %s, want overturned", c.Decision.State)
		}
		// The first agent deciding again: the rule sees b's claim and no live decision
		// (the overturned one does not count).
		r = refuse()
		if _, err := db.Decide(ctx, actorOf(a), acceptOf("p-overturn"), r.rule); !errors.Is(err, errRefused) {
			t.Errorf("first agent deciding again: got %v, want the rule's refusal", err)
		}
		if c := r.only(t); c.Decision != nil || c.Process.ClaimedBy != b.ID || !c.Process.Reviewable || c.Process.Decided {
			t.Errorf("case: got decision %+v holder %d reviewable=%v decided=%v, want no live decision, b's claim, in review",
				c.Decision, c.Process.ClaimedBy, c.Process.Reviewable, c.Process.Decided)
		}
		// The second agent's decision is allowed by the partial unique index.
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
		if err == nil || !strings.Contains(strings.ToUpper(err.Error()), "UNIQUE") {
			t.Errorf("a second live decision: got %v, want a UNIQUE violation", err)
		}
	})
	verifyAudit(t, db)
}
