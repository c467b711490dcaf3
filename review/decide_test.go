package review_test

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

	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// inReviewClean seeds n processes in review without failed checks and indexes them.
func (h *harness) inReviewClean(n int) []string {
	h.t.Helper()
	ids, err := h.sb.Seed(sandbox.SeedSpec{Count: n, States: []string{"REVIEW"}, Outcome: "clean", Silent: true})
	if err != nil {
		h.t.Fatalf("seed: %v", err)
	}
	for _, id := range ids {
		h.track(id)
	}
	return ids
}

// inReviewFailed seeds n processes in review with the given failed checks and indexes them.
func (h *harness) inReviewFailed(n int, failed ...string) []string {
	h.t.Helper()
	ids := h.seedFailed(n, failed...)
	for _, id := range ids {
		h.track(id)
	}
	return ids
}

// newAgent creates another agent and returns how they act.
func (h *harness) newAgent(name string) store.Actor {
	h.t.Helper()
	u := &store.User{Email: name + "@example.com", DisplayName: "Agent " + name, Role: store.RoleAgent, Active: true, PasswordHash: "x"}
	if err := h.db.CreateUser(context.Background(), store.System, u); err != nil {
		h.t.Fatalf("create %s: %v", name, err)
	}
	return store.Actor{UserID: u.ID, Email: u.Email, IP: "192.0.2.8", RequestID: "req-" + name}
}

// reason returns the catalogue entry with code.
func (h *harness) reason(code string) *store.Reason {
	h.t.Helper()
	rs, err := h.db.ListReasons(context.Background(), false)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range rs {
		if r.Code == code {
			return r
		}
	}
	h.t.Fatalf("no reason %q", code)
	return nil
}

func accept(id string) review.DecideInput {
	return review.DecideInput{ProcessID: id, Verdict: store.VerdictAccept}
}

func (h *harness) rejectWith(id, code string) review.DecideInput {
	return review.DecideInput{ProcessID: id, Verdict: store.VerdictReject, ReasonID: h.reason(code).ID}
}

// decide records a decision that must succeed.
func (h *harness) decide(a store.Actor, in review.DecideInput) *store.Decision {
	h.t.Helper()
	d, err := h.svc.Decide(context.Background(), a, in)
	if err != nil {
		h.t.Fatalf("decide %s %s: %v", in.Verdict, in.ProcessID, err)
	}
	return d
}

func (h *harness) decision(id int64) *store.Decision {
	h.t.Helper()
	d, err := h.db.GetDecision(context.Background(), id)
	if err != nil {
		h.t.Fatalf("decision %d: %v", id, err)
	}
	return d
}

func (h *harness) deliverOnce() int {
	h.t.Helper()
	n, err := h.svc.DeliverOnce(context.Background())
	if err != nil {
		h.t.Fatalf("deliver: %v", err)
	}
	return n
}

// deliverAll runs the delivery worker until nothing is due and returns the attempts.
func (h *harness) deliverAll() int {
	h.t.Helper()
	total := 0
	for range 100 {
		n := h.deliverOnce()
		if n == 0 {
			return total
		}
		total += n
	}
	h.t.Fatal("the delivery worker never went idle")
	return total
}

// atGateway is the sandbox's own view of a process.
func (h *harness) atGateway(id string) sandbox.ProcessSnapshot {
	h.t.Helper()
	p, ok := h.sb.Get(id)
	if !ok {
		h.t.Fatalf("%s is not at the gateway", id)
	}
	return p
}

// untilDue moves the clock to a queued decision's next attempt.
func (h *harness) untilDue(d *store.Decision) {
	h.t.Helper()
	if d.State != store.StateQueued {
		h.t.Fatalf("decision %d: state %s, want queued", d.ID, d.State)
	}
	if wait := d.NextAttemptAt.Sub(h.clk.Now()); wait > 0 {
		h.clk.Add(wait)
	}
}

// deliveryAudits counts the delivery audit rows of a process by outcome.
func (h *harness) deliveryAudits(id string) map[string]int {
	h.t.Helper()
	out := map[string]int{}
	for _, e := range h.audits("decision.delivery", id) {
		out[e.Outcome]++
	}
	return out
}

func (h *harness) decisionRows(id string) int {
	h.t.Helper()
	var n int
	if err := h.db.SQL().QueryRowContext(context.Background(), "SELECT count(*) FROM decisions WHERE process_id = ?", id).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

func gatewayStatus(verdict string) string {
	if verdict == store.VerdictReject {
		return "NOT_VERIFIED"
	}
	return "VERIFIED"
}

func gatewayVerdict(verdict string) string {
	if verdict == store.VerdictReject {
		return sandbox.VerdictRejected
	}
	return sandbox.VerdictAccepted
}

// checkDeliveredOnce checks that the gateway holds the verdict, applied exactly once,
// and that the portal recorded one successful delivery.
func (h *harness) checkDeliveredOnce(d *store.Decision) {
	h.t.Helper()
	got := h.decision(d.ID)
	if got.State != store.StateDelivered || got.DeliveredAt.IsZero() || got.GatewayStatus != gatewayStatus(d.Verdict) {
		h.t.Errorf("decision %d: got state %s delivered %v gateway %q (%s), want delivered with %s",
			d.ID, got.State, got.DeliveredAt, got.GatewayStatus, got.LastError, gatewayStatus(d.Verdict))
	}
	g := h.atGateway(d.ProcessID)
	wantAccepts, wantRejects := 1, 0
	if d.Verdict == store.VerdictReject {
		wantAccepts, wantRejects = 0, 1
	}
	if g.Verdict != gatewayVerdict(d.Verdict) || g.Accepts != wantAccepts || g.Rejects != wantRejects {
		h.t.Errorf("gateway %s: got verdict %q accepts=%d rejects=%d, want %q %d %d",
			d.ProcessID, g.Verdict, g.Accepts, g.Rejects, gatewayVerdict(d.Verdict), wantAccepts, wantRejects)
	}
	p := h.get(d.ProcessID)
	if p.Status != gatewayStatus(d.Verdict) || !p.Final || p.Reviewable {
		h.t.Errorf("index %s: got %s final=%v reviewable=%v, want %s final", d.ProcessID, p.Status, p.Final, p.Reviewable, gatewayStatus(d.Verdict))
	}
	if got := h.deliveryAudits(d.ProcessID); got[store.OutcomeSuccess] != 1 {
		h.t.Errorf("delivery audit of %s: got %v, want one success", d.ProcessID, got)
	}
}

// TestDecideFiftyAgentsAtOnce is D1 through the service: of 50 agents deciding one
// process at once exactly one wins, the others get a clear conflict, and the gateway
// receives the winner's verdict exactly once.
func TestDecideFiftyAgentsAtOnce(t *testing.T) {
	h := newHarness(t, options{})
	ctx := context.Background()
	const n = 50
	agents := make([]store.Actor, n)
	for i := range agents {
		agents[i] = h.newAgent(fmt.Sprintf("d1-%02d", i))
	}
	reasonID := h.reason("face-mismatch").ID
	input := func(i int, id string) review.DecideInput {
		if i%2 == 0 {
			return accept(id)
		}
		return review.DecideInput{ProcessID: id, Verdict: store.VerdictReject, ReasonID: reasonID, Addition: fmt.Sprintf("seen by agent %d", i)}
	}
	// decideAll lets the chosen agents decide at once and returns each one's error.
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
				_, err := h.svc.Decide(ctx, agents[i], input(i, id))
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
		holder int // index of the agent holding the claim, or -1
	}{
		{"nobody holds the claim", -1},
		{"one agent holds the claim", 17},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := h.inReviewClean(1)[0]
			if tc.holder >= 0 {
				if _, err := h.svc.Claim(ctx, agents[tc.holder], id, false); err != nil {
					t.Fatal(err)
				}
			}

			errs := decideAll(id, everyone)
			var winners []int
			for i, err := range errs {
				if err == nil {
					winners = append(winners, i)
					continue
				}
				// Before the holder decided, the others are told who holds it; after, that
				// it is decided.
				var ce *store.ClaimError
				clear := errors.Is(err, store.ErrAlreadyDecided) || errors.Is(err, store.ErrNotReviewable)
				if tc.holder >= 0 {
					clear = clear || errors.As(err, &ce) && ce.HolderID == agents[tc.holder].UserID
				}
				if !clear || !errors.Is(err, store.ErrConflict) {
					t.Errorf("agent %d: got %v, want a conflict (already decided, not reviewable or claimed)", i, err)
				}
			}
			if len(winners) != 1 {
				t.Fatalf("winners: got %v, want exactly one", winners)
			}
			w := winners[0]
			if tc.holder >= 0 && w != tc.holder {
				t.Errorf("winner: got agent %d, want the claim holder %d", w, tc.holder)
			}
			want := input(w, id)
			live, err := h.db.LiveDecision(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if live.DecidedBy != agents[w].UserID || live.Verdict != want.Verdict || live.State != store.StateQueued {
				t.Errorf("live decision: got by %d %s %s, want by %d %s queued", live.DecidedBy, live.Verdict, live.State, agents[w].UserID, want.Verdict)
			}
			if got := h.decisionRows(id); got != 1 {
				t.Errorf("decision rows: got %d, want 1", got)
			}
			if got := len(h.audits("decision.accept", id)) + len(h.audits("decision.reject", id)); got != 1 {
				t.Errorf("decision audit rows: got %d, want 1", got)
			}
			if p := h.get(id); !p.Decided || p.Reviewable || p.ClaimedBy != 0 {
				t.Errorf("process: got decided=%v reviewable=%v claimed=%d, want decided, out of review, unclaimed", p.Decided, p.Reviewable, p.ClaimedBy)
			}

			if got := h.deliverAll(); got != 1 {
				t.Errorf("delivery attempts: got %d, want 1", got)
			}
			h.checkDeliveredOnce(live)
			// One decision request per delivered decision: no agent's attempt reached the gateway.
			if got, want := h.requests(sandbox.RouteAccept)+h.requests(sandbox.RouteReject), h.deliveredSoFar(); got != want {
				t.Errorf("decision requests at the gateway: got %d, want %d", got, want)
			}
		})
	}
	h.verifyAudit()
}

// deliveredSoFar is the number of delivered decisions (for cross-checks across subtests).
func (h *harness) deliveredSoFar() int {
	h.t.Helper()
	ds, err := h.db.ListDecisions(context.Background(), store.DecisionFilter{States: []string{store.StateDelivered}})
	if err != nil {
		h.t.Fatal(err)
	}
	return len(ds)
}

func TestDecideRefusesInvalidInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	ctx := context.Background()
	id := h.inReviewFailed(1, sandbox.ValidationMRZ)[0]
	info, err := h.svc.Info(ctx, id, true)
	if err != nil || len(info.Personal) == 0 {
		t.Fatalf("info: got %v %v, want personal data", info, err)
	}
	field := info.Personal[0][0]
	retired := h.reason("under-age")
	if err := h.db.SetReasonActive(ctx, store.System, retired.ID, false); err != nil {
		t.Fatal(err)
	}
	blank := &store.Reason{Code: "blank-text", Label: "Blank", CustomerText: "   "}
	if err := h.db.CreateReason(ctx, store.System, blank); err != nil {
		t.Fatal(err)
	}
	confirmed := []string{sandbox.ValidationMRZ}
	expired := h.reason("document-expired").ID

	cases := []struct {
		name string
		in   review.DecideInput
		want error
	}{
		{"unknown verdict", review.DecideInput{ProcessID: id, Verdict: "approve"}, review.ErrBadInput},
		{"no verdict", review.DecideInput{ProcessID: id}, review.ErrBadInput},
		{"reject without a reason", review.DecideInput{ProcessID: id, Verdict: store.VerdictReject, Addition: "bad photo"}, review.ErrBadInput},
		{"unknown reason", review.DecideInput{ProcessID: id, Verdict: store.VerdictReject, ReasonID: 9999}, review.ErrBadInput},
		{"retired reason", review.DecideInput{ProcessID: id, Verdict: store.VerdictReject, ReasonID: retired.ID}, review.ErrBadInput},
		// The admin pages never store a blank wording; should one exist, the store refuses it.
		{"blank comment", review.DecideInput{ProcessID: id, Verdict: store.VerdictReject, ReasonID: blank.ID, Addition: "  "}, store.ErrInvalid},
		{"addition too long", review.DecideInput{ProcessID: id, Verdict: store.VerdictReject, ReasonID: expired,
			Addition: strings.Repeat("é", review.MaxAddition+1)}, review.ErrBadInput},
		{"internal note too long on a reject", review.DecideInput{ProcessID: id, Verdict: store.VerdictReject, ReasonID: expired,
			InternalNote: strings.Repeat("ñ", review.MaxNote+1)}, review.ErrBadInput},
		{"internal note too long on an accept", review.DecideInput{ProcessID: id, Verdict: store.VerdictAccept, Confirmations: confirmed,
			InternalNote: strings.Repeat("x", review.MaxNote+1)}, review.ErrBadInput},
		{"accept without confirming the failed check", review.DecideInput{ProcessID: id, Verdict: store.VerdictAccept}, review.ErrBadInput},
		{"correction of an unknown field", review.DecideInput{ProcessID: id, Verdict: store.VerdictAccept, Confirmations: confirmed,
			Corrections: map[string]string{"favouriteColour": "blue"}}, review.ErrBadInput},
		{"correction on two lines", review.DecideInput{ProcessID: id, Verdict: store.VerdictAccept, Confirmations: confirmed,
			Corrections: map[string]string{field: "first\nsecond"}}, review.ErrBadInput},
		{"correction too long", review.DecideInput{ProcessID: id, Verdict: store.VerdictAccept, Confirmations: confirmed,
			Corrections: map[string]string{field: strings.Repeat("ü", review.MaxCorrection+1)}}, review.ErrBadInput},
		{"unknown process", review.DecideInput{ProcessID: "not-indexed", Verdict: store.VerdictAccept}, store.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := h.svc.Decide(ctx, h.actor, tc.in)
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v %v, want %v", d, err, tc.want)
			}
		})
	}
	// Nothing was stored, audited or sent; the process still awaits review.
	if _, err := h.db.LiveDecision(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("live decision: got %v, want ErrNotFound", err)
	}
	if got := h.decisionRows(id); got != 0 {
		t.Errorf("decision rows: got %d, want 0", got)
	}
	if got := len(h.audits("decision.accept", id)) + len(h.audits("decision.reject", id)); got != 0 {
		t.Errorf("decision audit rows: got %d, want 0", got)
	}
	if p := h.get(id); !p.Reviewable || p.Decided {
		t.Errorf("process: got reviewable=%v decided=%v, want in review", p.Reviewable, p.Decided)
	}
	if got := h.deliverAll(); got != 0 {
		t.Errorf("deliveries: got %d, want 0", got)
	}
	if g := h.atGateway(id); g.Accepts+g.Rejects != 0 || g.Verdict != "" {
		t.Errorf("gateway: got %+v, want undecided", g)
	}

	// The limits themselves are allowed, counted in characters, not bytes.
	atLimit := h.rejectWith(id, "document-expired")
	atLimit.Addition = "  " + strings.Repeat("é", review.MaxAddition) + "  "
	atLimit.InternalNote = strings.Repeat("ñ", review.MaxNote)
	d := h.decide(h.actor, atLimit)
	if want := h.reason("document-expired").CustomerText + " " + strings.Repeat("é", review.MaxAddition); d.Comment != want {
		t.Errorf("comment at the limit: got %d characters, want %d", len([]rune(d.Comment)), len([]rune(want)))
	}
	if d.InternalNote != atLimit.InternalNote {
		t.Errorf("internal note at the limit: got %d characters, want %d", len([]rune(d.InternalNote)), review.MaxNote)
	}
}

func TestAcceptNeedsEveryFailedCheckConfirmed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	failed := []string{sandbox.ValidationMRZ, sandbox.ValidationLiveness}
	id := h.inReviewFailed(1, failed...)[0]
	indexed := h.get(id).Failed
	if !slices.Equal(indexed, failed) {
		t.Fatalf("indexed failed checks: got %v, want %v", indexed, failed)
	}
	cases := []struct {
		name        string
		confirmed   []string
		wantMissing []string
	}{
		{"none confirmed", nil, failed},
		{"one confirmed", []string{sandbox.ValidationLiveness}, []string{sandbox.ValidationMRZ}},
		{"other checks confirmed", []string{sandbox.ValidationLegalAge, "bogus"}, failed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := accept(id)
			in.Confirmations = tc.confirmed
			_, err := h.svc.Decide(context.Background(), h.actor, in)
			var ce *review.ConfirmationError
			if !errors.As(err, &ce) || !errors.Is(err, review.ErrBadInput) {
				t.Fatalf("got %v, want a ConfirmationError (ErrBadInput)", err)
			}
			if !slices.Equal(ce.Missing, tc.wantMissing) {
				t.Errorf("missing: got %v, want %v", ce.Missing, tc.wantMissing)
			}
			for _, m := range tc.wantMissing {
				if !strings.Contains(ce.Error(), m) {
					t.Errorf("message %q does not name %s", ce.Error(), m)
				}
			}
		})
	}
	if got := h.decisionRows(id); got != 0 {
		t.Fatalf("decision rows after refusals: got %d, want 0", got)
	}
	in := accept(id)
	in.Confirmations = append(slices.Clone(failed), "bogus")
	d := h.decide(h.actor, in)
	if !slices.Equal(d.Confirmations, failed) {
		t.Errorf("stored confirmations: got %v, want %v (the failed checks only)", d.Confirmations, failed)
	}
	rows := h.audits("decision.accept", id)
	if len(rows) != 1 || !strings.Contains(rows[0].Detail, "confirmed="+strings.Join(failed, ",")) || rows[0].ActorID != h.agent.ID {
		t.Errorf("audit: got %+v, want one row by the agent naming the confirmed checks", rows)
	}
	h.deliverAll()
	h.checkDeliveredOnce(d)
	h.verifyAudit()
}

func TestDecisionContentReachesTheGateway(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	ctx := context.Background()
	ids := h.inReviewClean(2)

	t.Run("corrections are sent as personalData", func(t *testing.T) {
		id := ids[0]
		info, err := h.svc.Info(ctx, id, true)
		if err != nil || len(info.Personal) < 2 {
			t.Fatalf("info: got %v %v, want two personal fields", info, err)
		}
		changed, same := info.Personal[0], info.Personal[1]
		in := accept(id)
		in.Corrections = map[string]string{changed[0]: "  Corrected Value  ", same[0]: same[1]}
		d := h.decide(h.actor, in)
		want := map[string]string{changed[0]: "Corrected Value"}
		if !maps.Equal(d.Corrections, want) {
			t.Errorf("stored corrections: got %v, want %v (trimmed, unchanged fields dropped)", d.Corrections, want)
		}
		if rows := h.audits("decision.accept", id); len(rows) != 1 || !strings.Contains(rows[0].Detail, "corrected="+changed[0]) ||
			strings.Contains(rows[0].Detail, "Corrected Value") {
			t.Errorf("audit: got %+v, want the corrected field named, never its value", rows)
		}
		if got := h.deliverAll(); got != 1 {
			t.Errorf("deliveries: got %d, want 1", got)
		}
		h.checkDeliveredOnce(d)
		g := h.atGateway(id)
		if !maps.Equal(g.Corrections, want) || g.DecisionType != "MANUAL" {
			t.Errorf("gateway: got corrections %v type %q, want %v MANUAL", g.Corrections, g.DecisionType, want)
		}
	})
	t.Run("the rejection comment is the reason's wording plus the addition", func(t *testing.T) {
		id := ids[1]
		in := h.rejectWith(id, "document-expired")
		in.Addition = "  The passport expired in 2020.  "
		in.InternalNote = "customer was rude on the phone"
		d := h.decide(h.actor, in)
		want := h.reason("document-expired").CustomerText + " The passport expired in 2020."
		if d.Comment != want || d.ReasonID != in.ReasonID || d.ReasonLabel != "Document expired" {
			t.Errorf("stored: got comment %q reason %d %q, want %q", d.Comment, d.ReasonID, d.ReasonLabel, want)
		}
		h.deliverAll()
		h.checkDeliveredOnce(d)
		if g := h.atGateway(id); g.RejectionComment != want {
			t.Errorf("gateway comment: got %q, want %q (never the internal note)", g.RejectionComment, want)
		}
		if r := h.reason("document-expired"); !r.InUse {
			t.Error("reason used by a decision is not marked in use")
		}
	})
	h.verifyAudit()
}

// faultCase is a gateway fault during delivery and what the worker must do about it.
type faultCase struct {
	name      string
	verdict   string
	fault     sandbox.Fault
	timeout   time.Duration // client timeout; 0 for the harness default
	failures  int           // failed attempts before the delivery succeeds
	ambiguous bool          // whether the failures leave the outcome open (read first)
	sends     int           // decision requests the gateway sees in all
	reads     int           // status reads before re-sending
	tokens    int           // token renewals during delivery
}

func TestDeliveryRecoversFromGatewayFaults(t *testing.T) {
	t.Parallel()
	a, r := store.VerdictAccept, store.VerdictReject
	cases := []faultCase{
		{name: "500 three times", verdict: a, fault: sandbox.Fault{Kind: sandbox.FaultServerError, Count: 3}, failures: 3, ambiguous: true, sends: 4, reads: 3},
		{name: "503 three times", verdict: r, fault: sandbox.Fault{Kind: sandbox.FaultUnavailable, Count: 3}, failures: 3, ambiguous: true, sends: 4, reads: 3},
		{name: "reset after the gateway applied it", verdict: a, fault: sandbox.Fault{Kind: sandbox.FaultReset, Count: 1},
			failures: 1, ambiguous: true, sends: 1, reads: 1},
		{name: "reset after the gateway applied a reject", verdict: r, fault: sandbox.Fault{Kind: sandbox.FaultReset, Count: 1},
			failures: 1, ambiguous: true, sends: 1, reads: 1},
		{name: "reset before the gateway applied it", verdict: a, fault: sandbox.Fault{Kind: sandbox.FaultReset, Count: 1, NotApplied: true},
			failures: 1, ambiguous: true, sends: 2, reads: 1},
		{name: "malformed answer after applying", verdict: a, fault: sandbox.Fault{Kind: sandbox.FaultMalformed, Count: 1},
			failures: 1, ambiguous: true, sends: 1, reads: 1},
		{name: "truncated answer after applying", verdict: r, fault: sandbox.Fault{Kind: sandbox.FaultTruncated, Count: 1},
			failures: 1, ambiguous: true, sends: 1, reads: 1},
		{name: "401 once: one renewal, same attempt", verdict: a, fault: sandbox.Fault{Kind: sandbox.FaultUnauthorized, Count: 1},
			failures: 0, sends: 2, reads: 0, tokens: 1},
	}
	h := newHarness(t, options{cfg: review.Config{RetryBase: time.Second, RetryMax: time.Minute}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { h.checkFaultRecovery(t, tc) })
	}
	h.verifyAudit()
}

// TestDeliveryAfterATimeoutReadsTheStatusFirst: the gateway holds the request beyond
// the client's timeout; the next attempt reads the status, then sends again.
func TestDeliveryAfterATimeoutReadsTheStatusFirst(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{timeout: 2 * time.Second, cfg: review.Config{RetryBase: time.Second, RetryMax: time.Minute}})
	// The request the gateway still holds ends, unapplied, when the sandbox closes; the
	// server then closes without waiting for the fault's latency.
	t.Cleanup(func() { h.sb.Close() })
	h.checkFaultRecovery(t, faultCase{name: "timeout", verdict: store.VerdictAccept,
		fault:    sandbox.Fault{Kind: sandbox.FaultLatency, Latency: time.Minute, Count: 1},
		failures: 1, ambiguous: true, sends: 2, reads: 1})
	h.verifyAudit()
}

// checkFaultRecovery decides a new process, injects the fault and delivers until the
// gateway has the verdict, checking every attempt.
func (h *harness) checkFaultRecovery(t *testing.T, tc faultCase) {
	t.Helper()
	ctx := context.Background()
	id := h.inReviewClean(1)[0]
	in := accept(id)
	route := sandbox.RouteAccept
	if tc.verdict == store.VerdictReject {
		in, route = h.rejectWith(id, "unreadable"), sandbox.RouteReject
	}
	d := h.decide(h.actor, in)
	h.fault(route, tc.fault)
	sends, reads, tokens := h.requests(route), h.requests(sandbox.RouteStatus), h.sb.Stats().TokensIssued

	for i := 1; i <= tc.failures; i++ {
		if n := h.deliverOnce(); n != 1 {
			t.Fatalf("attempt %d: got %d attempts, want 1", i, n)
		}
		got := h.decision(d.ID)
		if got.State != store.StateQueued || got.Attempts != i || got.Ambiguous != tc.ambiguous || got.LastError == "" ||
			!got.NextAttemptAt.After(h.clk.Now()) {
			t.Fatalf("after failure %d: got state %s attempts %d ambiguous %v error %q next in %v, want queued, %d, %v, an error, later",
				i, got.State, got.Attempts, got.Ambiguous, got.LastError, got.NextAttemptAt.Sub(h.clk.Now()), i, tc.ambiguous)
		}
		if strings.Contains(got.LastError, sandbox.DefaultAPISecret) {
			t.Errorf("last error carries the API secret: %q", got.LastError)
		}
		if due, _ := h.db.DueDeliveries(ctx, 10); len(due) != 0 {
			t.Errorf("after failure %d: due right away, want the retry later", i)
		}
		if rows := h.audits("decision.delivery", id); len(rows) != 0 {
			t.Errorf("after failure %d: %d delivery audit rows, want none for a plain retry", i, len(rows))
		}
		h.untilDue(got)
	}
	if n := h.deliverOnce(); n != 1 {
		t.Fatalf("last attempt: got %d attempts, want 1", n)
	}
	h.checkDeliveredOnce(d)
	if got := h.decision(d.ID); got.Attempts != tc.failures+1 {
		t.Errorf("attempts: got %d, want %d", got.Attempts, tc.failures+1)
	}
	if got := h.requests(route) - sends; got != tc.sends {
		t.Errorf("decision requests: got %d, want %d", got, tc.sends)
	}
	if got := h.requests(sandbox.RouteStatus) - reads; got != tc.reads {
		t.Errorf("status reads: got %d, want %d (read before every re-send after an ambiguous failure)", got, tc.reads)
	}
	if got := h.sb.Stats().TokensIssued - tokens; got != tc.tokens {
		t.Errorf("token renewals: got %d, want %d", got, tc.tokens)
	}
	if got := h.deliveryAudits(id); got[store.OutcomeFailure] != 0 {
		t.Errorf("delivery audit: got %v, want no failure (retries are not audited)", got)
	}
	h.clk.Add(24 * time.Hour)
	if n := h.deliverAll(); n != 0 {
		t.Errorf("after delivery: %d more attempts, want 0", n)
	}
}

func TestDeliveryBacksOffAndHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{cfg: review.Config{RetryBase: time.Second, RetryMax: 8 * time.Second}})
	ctx := context.Background()
	ids := h.inReviewClean(2)

	t.Run("capped exponential backoff with jitter", func(t *testing.T) {
		d := h.decide(h.actor, accept(ids[0]))
		h.fault(sandbox.RouteAccept, sandbox.Fault{Kind: sandbox.FaultServerError})
		defer h.sb.ClearFault(sandbox.RouteAccept)
		for i, base := range []time.Duration{1, 2, 4, 8, 8, 8} {
			base *= time.Second
			if n := h.deliverOnce(); n != 1 {
				t.Fatalf("attempt %d: got %d, want 1", i+1, n)
			}
			got := h.decision(d.ID)
			wait := got.NextAttemptAt.Sub(h.clk.Now())
			if lo, hi := base-base/5, base+base/5; wait < lo || wait > hi {
				t.Errorf("attempt %d: next in %v, want %v ±20%%", i+1, wait, base)
			}
			h.untilDue(got)
		}
		h.sb.ClearFault(sandbox.RouteAccept)
		h.deliverOnce()
		h.checkDeliveredOnce(d)
	})
	t.Run("429 with Retry-After", func(t *testing.T) {
		d := h.decide(h.actor, accept(ids[1]))
		h.fault(sandbox.RouteAccept, sandbox.Fault{Kind: sandbox.FaultRateLimited, RetryAfter: 30 * time.Second, Count: 1})
		reads := h.requests(sandbox.RouteStatus)
		if n := h.deliverOnce(); n != 1 {
			t.Fatalf("got %d attempts, want 1", n)
		}
		got := h.decision(d.ID)
		if got.State != store.StateQueued || got.Ambiguous || got.NextAttemptAt.Before(h.clk.Now().Add(30*time.Second)) {
			t.Fatalf("after 429: got %s ambiguous=%v next in %v, want queued, not ambiguous, at least 30s", got.State, got.Ambiguous,
				got.NextAttemptAt.Sub(h.clk.Now()))
		}
		h.clk.Add(29 * time.Second)
		if due, _ := h.db.DueDeliveries(ctx, 10); len(due) != 0 {
			t.Error("due before the Retry-After")
		}
		h.untilDue(got)
		if n := h.deliverOnce(); n != 1 {
			t.Fatalf("after Retry-After: got %d attempts, want 1", n)
		}
		h.checkDeliveredOnce(d)
		if got := h.requests(sandbox.RouteStatus) - reads; got != 0 {
			t.Errorf("status reads: got %d, want 0 (a 429 is not ambiguous)", got)
		}
	})
}

func TestDeliveryRenewsAnExpiredTokenOnceEachTime(t *testing.T) {
	t.Parallel()
	gw := &clock{t: time.Now().UTC()}
	h := newHarness(t, options{sandbox: sandbox.Config{Now: gw.Now}})
	ctx := context.Background()
	ids := h.inReviewClean(4)
	h.sb.SetTokenLifetime(time.Second)
	gw.Add(16 * time.Minute) // the token of the indexing calls has expired

	// Decided a minute apart, so that they fall due one by one.
	var ds []*store.Decision
	for _, id := range ids {
		ds = append(ds, h.decide(h.actor, accept(id)))
		h.clk.Add(time.Minute)
	}
	h.clk.Add(-time.Duration(len(ids)) * time.Minute)
	for i, d := range ds {
		tokens := h.sb.Stats().TokensIssued
		if n := h.deliverOnce(); n != 1 {
			t.Fatalf("delivery %d: got %d attempts, want 1", i, n)
		}
		if got := h.sb.Stats().TokensIssued - tokens; got != 1 {
			t.Errorf("delivery %d: got %d token renewals, want 1", i, got)
		}
		h.checkDeliveredOnce(d)
		gw.Add(2 * time.Second) // the token expires before the next one
		h.clk.Add(time.Minute)
	}
	if left, _ := h.db.ListDecisions(ctx, store.DecisionFilter{States: []string{store.StateQueued, store.StateParked, store.StateConflict}}); len(left) != 0 {
		t.Errorf("undelivered: got %d, want 0", len(left))
	}
	if got := h.requests(sandbox.RouteStatus); got != 0 {
		t.Errorf("status reads: got %d, want 0", got)
	}
}

func TestDeliveryWhenTheGatewayDecidedElsewhere(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	ctx := context.Background()
	cases := []struct {
		name        string
		verdict     string
		elsewhere   string // "accept", "reject" or "delete"
		wantState   string
		wantGateway string
		wantError   string
	}{
		{"rejected elsewhere, we accept", store.VerdictAccept, "reject", store.StateConflict, "NOT_VERIFIED", "not in review (status NOT_VERIFIED)"},
		{"accepted elsewhere, we reject", store.VerdictReject, "accept", store.StateConflict, "VERIFIED", "not in review (status VERIFIED)"},
		{"accepted elsewhere too", store.VerdictAccept, "accept", store.StateDelivered, "VERIFIED", ""},
		{"rejected elsewhere too", store.VerdictReject, "reject", store.StateDelivered, "NOT_VERIFIED", ""},
		{"deleted at the gateway", store.VerdictAccept, "delete", store.StateConflict, "", "no longer knows"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := h.inReviewClean(1)[0]
			in := accept(id)
			if tc.verdict == store.VerdictReject {
				in = h.rejectWith(id, "suspected-forgery")
			}
			d := h.decide(h.actor, in)
			var err error
			switch tc.elsewhere {
			case "accept":
				_, err = h.client.Accept(ctx, id, nil)
			case "reject":
				_, err = h.client.Reject(ctx, id, "decided in another tool")
			case "delete":
				err = h.client.Delete(ctx, id)
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := h.deliverOnce(); n != 1 {
				t.Fatalf("got %d attempts, want 1", n)
			}
			got := h.decision(d.ID)
			if got.State != tc.wantState || got.GatewayStatus != tc.wantGateway || !strings.Contains(got.LastError, tc.wantError) ||
				(tc.wantError == "") != (got.LastError == "") {
				t.Errorf("got state %s gateway %q error %q, want %s %q %q", got.State, got.GatewayStatus, got.LastError, tc.wantState, tc.wantGateway, tc.wantError)
			}
			wantOutcome := store.OutcomeFailure
			if tc.wantState == store.StateDelivered {
				wantOutcome = store.OutcomeSuccess
			}
			if rows := h.audits("decision.delivery", id); len(rows) != 1 || rows[0].Outcome != wantOutcome {
				t.Errorf("delivery audit: got %+v, want one %s", rows, wantOutcome)
			}
			// Decided once, by the other tool: ours was never applied on top.
			if g, ok := h.sb.Get(id); ok && g.Accepts+g.Rejects != 1 {
				t.Errorf("gateway: got accepts=%d rejects=%d, want one decision in all", g.Accepts, g.Rejects)
			}
			// Not retried, however long we wait.
			h.clk.Add(48 * time.Hour)
			if n := h.deliverAll(); n != 0 {
				t.Errorf("later: %d more attempts, want 0", n)
			}
			if got := h.decision(d.ID); got.State != tc.wantState || got.Attempts != 1 {
				t.Errorf("later: got %s after %d attempts, want %s after 1", got.State, got.Attempts, tc.wantState)
			}
		})
	}
	h.verifyAudit()
}

func TestRetryDeliveryOfAConflict(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	ctx := context.Background()
	admin := h.newAgent("admin")
	// conflicted decides an accept that the gateway refuses because it was rejected elsewhere.
	conflicted := func(t *testing.T) (*store.Decision, string) {
		t.Helper()
		id := h.inReviewClean(1)[0]
		d := h.decide(h.actor, accept(id))
		if _, err := h.client.Reject(ctx, id, "decided in another tool"); err != nil {
			t.Fatal(err)
		}
		h.deliverOnce()
		if got := h.decision(d.ID); got.State != store.StateConflict {
			t.Fatalf("setup: got %s, want conflict", got.State)
		}
		return d, id
	}
	cases := []struct {
		name      string
		meanwhile func(t *testing.T, id string)
		wantState string
		wantSends int // accept requests of the retried attempt
		wantError string
	}{
		{"reopened at the gateway: delivered", func(t *testing.T, id string) {
			if err := h.client.Pending(ctx, id); err != nil {
				t.Fatal(err)
			}
		}, store.StateDelivered, 1, ""},
		{"still rejected elsewhere: conflict again", func(t *testing.T, id string) {}, store.StateConflict, 0, "another verdict: NOT_VERIFIED"},
		{"deleted meanwhile: conflict, not retried", func(t *testing.T, id string) {
			if err := h.client.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
		}, store.StateConflict, 0, "no longer knows"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, id := conflicted(t)
			tc.meanwhile(t, id)
			if err := h.svc.Retry(ctx, admin, d.ID); err != nil {
				t.Fatal(err)
			}
			if got := h.decision(d.ID); got.State != store.StateQueued || !got.Ambiguous || got.NextAttemptAt.After(h.clk.Now()) {
				t.Fatalf("after retry: got %s ambiguous=%v next in %v, want queued, ambiguous, due now", got.State, got.Ambiguous, got.NextAttemptAt.Sub(h.clk.Now()))
			}
			if rows := h.audits("decision.retry", id); len(rows) != 1 || rows[0].ActorID != admin.UserID {
				t.Errorf("retry audit: got %+v, want one row by the admin", rows)
			}
			reads, sends := h.requests(sandbox.RouteStatus), h.requests(sandbox.RouteAccept)
			if n := h.deliverOnce(); n != 1 {
				t.Fatalf("got %d attempts, want 1", n)
			}
			if got := h.requests(sandbox.RouteStatus) - reads; got != 1 {
				t.Errorf("status reads: got %d, want 1 (read before re-sending)", got)
			}
			if got := h.requests(sandbox.RouteAccept) - sends; got != tc.wantSends {
				t.Errorf("accept requests: got %d, want %d", got, tc.wantSends)
			}
			got := h.decision(d.ID)
			if got.State != tc.wantState || !strings.Contains(got.LastError, tc.wantError) {
				t.Errorf("got %s %q, want %s %q", got.State, got.LastError, tc.wantState, tc.wantError)
			}
			h.clk.Add(48 * time.Hour)
			if n := h.deliverAll(); n != 0 {
				t.Errorf("later: %d more attempts, want 0", n)
			}
		})
	}
	t.Run("a delivered decision cannot be retried", func(t *testing.T) {
		id := h.inReviewClean(1)[0]
		d := h.decide(h.actor, accept(id))
		h.deliverAll()
		if err := h.svc.Retry(ctx, admin, d.ID); !errors.Is(err, store.ErrConflict) {
			t.Errorf("got %v, want ErrConflict", err)
		}
		if got := h.atGateway(id); got.Accepts != 1 {
			t.Errorf("accepts: got %d, want 1", got.Accepts)
		}
	})
	h.verifyAudit()
}

func TestDeliveryParks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{cfg: review.Config{RetryBase: time.Second, RetryMax: time.Minute, ParkAfter: time.Hour}})
	ctx := context.Background()
	admin := h.newAgent("admin")

	t.Run("a 400 is parked at once", func(t *testing.T) {
		id := h.inReviewClean(1)[0]
		// The service never lets such a value through; the gateway refuses it (400).
		d, err := h.db.Decide(ctx, h.actor, store.NewDecision{ProcessID: id, Verdict: store.VerdictAccept,
			Corrections: map[string]string{"name": strings.Repeat("x", 1100)}})
		if err != nil {
			t.Fatal(err)
		}
		if n := h.deliverOnce(); n != 1 {
			t.Fatalf("got %d attempts, want 1", n)
		}
		got := h.decision(d.ID)
		if got.State != store.StateParked || !strings.Contains(got.LastError, "refused the request") || strings.Contains(got.LastError, "xxxxxxxx") {
			t.Errorf("got %s %q, want parked with the refusal (without the data)", got.State, got.LastError)
		}
		if rows := h.audits("decision.delivery", id); len(rows) != 1 || rows[0].Outcome != store.OutcomeFailure {
			t.Errorf("audit: got %+v, want one failure", rows)
		}
		h.clk.Add(48 * time.Hour)
		if n := h.deliverAll(); n != 0 {
			t.Errorf("later: %d attempts, want 0", n)
		}
		if g := h.atGateway(id); g.Accepts != 0 {
			t.Errorf("gateway accepts: got %d, want 0", g.Accepts)
		}
	})
	t.Run("retries stop after ParkAfter; a person retries", func(t *testing.T) {
		id := h.inReviewClean(1)[0]
		d := h.decide(h.actor, accept(id))
		h.fault(sandbox.RouteAccept, sandbox.Fault{Kind: sandbox.FaultUnavailable})
		h.deliverOnce()
		got := h.decision(d.ID)
		if got.State != store.StateQueued {
			t.Fatalf("first failure: got %s, want queued", got.State)
		}
		h.clk.Add(time.Hour)
		h.deliverOnce()
		got = h.decision(d.ID)
		if got.State != store.StateParked || !strings.Contains(got.LastError, "not delivered within 1h0m0s") || !got.Ambiguous {
			t.Fatalf("after ParkAfter: got %s ambiguous=%v %q, want parked, ambiguous, saying why", got.State, got.Ambiguous, got.LastError)
		}
		if rows := h.audits("decision.delivery", id); len(rows) != 1 || rows[0].Outcome != store.OutcomeFailure {
			t.Errorf("audit: got %+v, want one failure", rows)
		}
		h.clk.Add(time.Hour)
		if n := h.deliverAll(); n != 0 {
			t.Errorf("parked: %d attempts, want 0", n)
		}
		h.sb.ClearFaults()
		if err := h.svc.Retry(ctx, admin, d.ID); err != nil {
			t.Fatal(err)
		}
		if n := h.deliverAll(); n != 1 {
			t.Errorf("after retry: %d attempts, want 1", n)
		}
		h.checkDeliveredOnce(d)
	})
	t.Run("a four-eyes decision may be delivered for ParkAfter from its confirmation", func(t *testing.T) {
		if err := h.db.SetSetting(ctx, store.System, store.SettingFourEyesReject, "on"); err != nil {
			t.Fatal(err)
		}
		defer h.db.SetSetting(ctx, store.System, store.SettingFourEyesReject, "off")
		id := h.inReviewClean(1)[0]
		d := h.decide(h.actor, h.rejectWith(id, "wrong-document"))
		h.clk.Add(3 * time.Hour) // the second agent came back after the weekend, say
		if _, err := h.svc.ConfirmSecond(ctx, admin, d.ID); err != nil {
			t.Fatal(err)
		}
		if n, err := h.db.ParkStale(ctx, time.Hour); err != nil || n != 0 {
			t.Errorf("park stale right after the confirmation: got %d %v, want 0", n, err)
		}
		h.fault(sandbox.RouteReject, sandbox.Fault{Kind: sandbox.FaultUnavailable, Count: 1})
		h.deliverOnce()
		got := h.decision(d.ID)
		if got.State != store.StateQueued {
			t.Fatalf("first failure after the confirmation: got %s %q, want queued for a retry", got.State, got.LastError)
		}
		h.untilDue(got)
		h.deliverOnce()
		h.checkDeliveredOnce(d)
	})
	t.Run("ParkStale parks what waited too long", func(t *testing.T) {
		ids := h.inReviewClean(2)
		old := h.decide(h.actor, accept(ids[0]))
		h.clk.Add(50 * time.Minute)
		young := h.decide(h.actor, accept(ids[1]))
		h.clk.Add(15 * time.Minute)
		n, err := h.db.ParkStale(ctx, time.Hour)
		if err != nil || n != 1 {
			t.Fatalf("park stale: got %d %v, want 1", n, err)
		}
		if got := h.decision(old.ID); got.State != store.StateParked {
			t.Errorf("old: got %s, want parked", got.State)
		}
		if got := h.decision(young.ID); got.State != store.StateQueued {
			t.Errorf("young: got %s, want queued", got.State)
		}
		if n := h.deliverAll(); n != 1 {
			t.Errorf("deliveries: got %d, want 1 (the young one)", n)
		}
		h.checkDeliveredOnce(young)
		if g := h.atGateway(ids[0]); g.Accepts != 0 {
			t.Errorf("parked one reached the gateway")
		}
	})
	h.verifyAudit()
}

// TestRecoverAfterACrashDuringDelivery: a worker stopped between marking a decision
// "sending" and recording the outcome. After the restart the status is read first, so
// the decision is applied exactly once whether or not the gateway got it (D3, D4).
func TestRecoverAfterACrashDuringDelivery(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		gatewayGot bool
		wantSends  int
	}{
		{"the gateway got it", true, 0},
		{"the gateway never got it", false, 1},
	}
	h := newHarness(t, options{})
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := h.inReviewClean(1)[0]
			d := h.decide(h.actor, accept(id))
			if ok, err := h.db.StartDelivery(ctx, d.ID); !ok || err != nil {
				t.Fatalf("start delivery: got %v %v", ok, err)
			}
			if tc.gatewayGot {
				if _, err := h.client.Accept(ctx, id, nil); err != nil {
					t.Fatal(err)
				}
			}
			// The crash: nothing else happens. A sending decision is nobody's to deliver.
			h.clk.Add(time.Hour)
			if n := h.deliverAll(); n != 0 {
				t.Fatalf("before recovery: %d attempts, want 0", n)
			}
			n, err := h.db.RecoverDeliveries(ctx)
			if err != nil || n != 1 {
				t.Fatalf("recover: got %d %v, want 1", n, err)
			}
			got := h.decision(d.ID)
			if got.State != store.StateQueued || !got.Ambiguous || got.Attempts != 1 {
				t.Fatalf("recovered: got %s ambiguous=%v attempts=%d, want queued, ambiguous, 1", got.State, got.Ambiguous, got.Attempts)
			}
			reads, sends := h.requests(sandbox.RouteStatus), h.requests(sandbox.RouteAccept)
			if n := h.deliverAll(); n != 1 {
				t.Fatalf("after recovery: %d attempts, want 1", n)
			}
			h.checkDeliveredOnce(d)
			if got := h.requests(sandbox.RouteStatus) - reads; got != 1 {
				t.Errorf("status reads: got %d, want 1", got)
			}
			if got := h.requests(sandbox.RouteAccept) - sends; got != tc.wantSends {
				t.Errorf("accept requests: got %d, want %d", got, tc.wantSends)
			}
		})
	}
	h.verifyAudit()
}

func TestRunDeliveryRecoversThenDeliversWhenKicked(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	ctx := context.Background()
	ids := h.inReviewClean(2)
	crashed := h.decide(h.actor, accept(ids[0]))
	if ok, err := h.db.StartDelivery(ctx, crashed.ID); !ok || err != nil {
		t.Fatalf("start delivery: got %v %v", ok, err)
	}
	if _, err := h.client.Accept(ctx, ids[0], nil); err != nil { // it reached the gateway
		t.Fatal(err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { h.svc.RunDelivery(runCtx); close(done) }()
	defer func() { cancel(); <-done }()

	waitDelivered := func(d *store.Decision) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for h.decision(d.ID).State != store.StateDelivered {
			if time.Now().After(deadline) {
				t.Fatalf("decision %d was never delivered: %+v", d.ID, h.decision(d.ID))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitDelivered(crashed)
	h.checkDeliveredOnce(crashed)

	fresh := h.decide(h.actor, h.rejectWith(ids[1], "liveness-failed"))
	waitDelivered(fresh)
	h.checkDeliveredOnce(fresh)
	if got := h.requests(sandbox.RouteAccept); got != 1 {
		t.Errorf("accept requests: got %d, want 1 (the recovered one was not sent again)", got)
	}
}

func TestFourEyes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	ctx := context.Background()
	first, second := h.actor, h.newAgent("second")
	setting := func(key, value string) {
		t.Helper()
		if err := h.db.SetSetting(ctx, store.System, key, value); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("which decisions wait for a second agent", func(t *testing.T) {
		cases := []struct {
			setting string
			verdict string
			failed  bool
			want    string
		}{
			{"", store.VerdictAccept, true, store.StateQueued},
			{store.SettingFourEyesAcceptFailed, store.VerdictAccept, true, store.StateSecondReview},
			{store.SettingFourEyesAcceptFailed, store.VerdictAccept, false, store.StateQueued},
			{store.SettingFourEyesAcceptFailed, store.VerdictReject, true, store.StateQueued},
			{store.SettingFourEyesReject, store.VerdictReject, false, store.StateSecondReview},
			{store.SettingFourEyesReject, store.VerdictAccept, false, store.StateQueued},
			{store.SettingFourEyesAccept, store.VerdictAccept, false, store.StateSecondReview},
			{store.SettingFourEyesAccept, store.VerdictReject, false, store.StateQueued},
		}
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s on, %s, failed %v", tc.setting, tc.verdict, tc.failed), func(t *testing.T) {
				for _, k := range []string{store.SettingFourEyesAccept, store.SettingFourEyesAcceptFailed, store.SettingFourEyesReject} {
					setting(k, map[bool]string{true: "on", false: "off"}[k == tc.setting])
				}
				var id string
				in := review.DecideInput{Verdict: tc.verdict}
				if tc.failed {
					id = h.inReviewFailed(1, sandbox.ValidationFacialMatching)[0]
					in.Confirmations = []string{sandbox.ValidationFacialMatching}
				} else {
					id = h.inReviewClean(1)[0]
				}
				in.ProcessID = id
				if tc.verdict == store.VerdictReject {
					in.ReasonID = h.reason("face-mismatch").ID
				}
				if d := h.decide(first, in); d.State != tc.want {
					t.Errorf("got %s, want %s", d.State, tc.want)
				}
			})
		}
		// Leave nothing for the cases below to deliver.
		h.deliverAll()
	})

	setting(store.SettingFourEyesAccept, "off")
	setting(store.SettingFourEyesAcceptFailed, "on")
	setting(store.SettingFourEyesReject, "on")
	acceptFailed := func() (string, *store.Decision) {
		t.Helper()
		id := h.inReviewFailed(1, sandbox.ValidationLiveness)[0]
		in := accept(id)
		in.Confirmations = []string{sandbox.ValidationLiveness}
		d := h.decide(first, in)
		if d.State != store.StateSecondReview || !d.NextAttemptAt.IsZero() {
			t.Fatalf("got %s next %v, want second_review, not scheduled", d.State, d.NextAttemptAt)
		}
		return id, d
	}

	t.Run("confirmed by another agent, then delivered", func(t *testing.T) {
		id, d := acceptFailed()
		if n := h.deliverAll(); n != 0 {
			t.Errorf("awaiting the second agent: %d attempts, want 0", n)
		}
		if g := h.atGateway(id); g.Accepts != 0 {
			t.Fatal("delivered before the second review")
		}
		if p := h.get(id); p.Reviewable || !p.Decided {
			t.Errorf("awaiting the second agent: got reviewable=%v decided=%v, want out of the queue", p.Reviewable, p.Decided)
		}
		if _, err := h.svc.ConfirmSecond(ctx, first, d.ID); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("confirmed by the first agent: got %v, want ErrInvalid", err)
		}
		if err := h.svc.Overturn(ctx, first, d.ID, "changed my mind"); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("overturned by the first agent: got %v, want ErrInvalid", err)
		}
		if got := h.decision(d.ID); got.State != store.StateSecondReview {
			t.Fatalf("after refusals: got %s, want second_review", got.State)
		}
		c, err := h.svc.ConfirmSecond(ctx, second, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.State != store.StateQueued || c.SecondBy != second.UserID || c.SecondAt.IsZero() {
			t.Errorf("confirmed: got %s by %d at %v, want queued by %d", c.State, c.SecondBy, c.SecondAt, second.UserID)
		}
		if rows := h.audits("decision.confirm", id); len(rows) != 1 || rows[0].ActorID != second.UserID {
			t.Errorf("confirm audit: got %+v, want one row by the second agent", rows)
		}
		if n := h.deliverAll(); n != 1 {
			t.Errorf("deliveries: got %d, want 1", n)
		}
		h.checkDeliveredOnce(d)
		if _, err := h.svc.ConfirmSecond(ctx, second, d.ID); !errors.Is(err, store.ErrConflict) {
			t.Errorf("confirmed twice: got %v, want ErrConflict", err)
		}
		if err := h.svc.Overturn(ctx, second, d.ID, "too late"); !errors.Is(err, store.ErrConflict) {
			t.Errorf("overturned after delivery: got %v, want ErrConflict", err)
		}
	})
	t.Run("overturned by another agent, then decided anew", func(t *testing.T) {
		id, d := acceptFailed()
		if err := h.svc.Overturn(ctx, second, d.ID, "  the selfie is a photo of a screen  "); err != nil {
			t.Fatal(err)
		}
		got := h.decision(d.ID)
		if got.State != store.StateOverturned || got.SecondBy != second.UserID {
			t.Errorf("overturned: got %s by %d, want overturned by %d", got.State, got.SecondBy, second.UserID)
		}
		p := h.get(id)
		if !p.Reviewable || p.Decided || p.ClaimedBy != second.UserID || !p.ClaimExpiresAt.Equal(h.clk.Now().Add(h.svc.Config().ClaimTTL)) {
			t.Errorf("process: got reviewable=%v decided=%v claimed by %d until %v, want back in review, claimed by the second agent",
				p.Reviewable, p.Decided, p.ClaimedBy, p.ClaimExpiresAt)
		}
		if rows := h.audits("decision.overturn", id); len(rows) != 1 || rows[0].ActorID != second.UserID ||
			!strings.Contains(rows[0].Detail, "photo of a screen") {
			t.Errorf("overturn audit: got %+v, want one row by the second agent with the note", rows)
		}
		if n := h.deliverAll(); n != 0 {
			t.Errorf("overturned: %d attempts, want 0", n)
		}
		if g := h.atGateway(id); g.Accepts+g.Rejects != 0 {
			t.Errorf("gateway: got accepts=%d rejects=%d, want nothing", g.Accepts, g.Rejects)
		}
		if _, err := h.svc.ConfirmSecond(ctx, second, d.ID); !errors.Is(err, store.ErrConflict) {
			t.Errorf("confirming an overturned decision: got %v, want ErrConflict", err)
		}
		// The first agent no longer holds it; the second decides anew (a reject needs
		// a second agent too, and the first one may confirm it).
		if _, err := h.svc.Decide(ctx, first, h.rejectWith(id, "liveness-failed")); !errors.As(err, new(*store.ClaimError)) {
			t.Errorf("first agent deciding again: got %v, want a ClaimError", err)
		}
		nd := h.decide(second, h.rejectWith(id, "liveness-failed"))
		if nd.State != store.StateSecondReview || nd.ID == d.ID {
			t.Fatalf("new decision: got %d %s, want a new one awaiting a second review", nd.ID, nd.State)
		}
		if live, err := h.db.LiveDecision(ctx, id); err != nil || live.ID != nd.ID {
			t.Errorf("live decision: got %v %v, want %d", live, err, nd.ID)
		}
		if _, err := h.svc.ConfirmSecond(ctx, first, nd.ID); err != nil {
			t.Fatal(err)
		}
		if n := h.deliverAll(); n != 1 {
			t.Errorf("deliveries: got %d, want 1", n)
		}
		h.checkDeliveredOnce(nd)
		if got := h.decisionRows(id); got != 2 {
			t.Errorf("decision rows: got %d, want 2 (the overturned one is kept)", got)
		}
	})
	h.verifyAudit()
}
