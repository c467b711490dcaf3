package review_test

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	return h.newUser(name, store.RoleAgent)
}

// newAdmin creates an administrator and returns how they act.
func (h *harness) newAdmin(name string) store.Actor {
	h.t.Helper()
	return h.newUser(name, store.RoleAdmin)
}

func (h *harness) newUser(name, role string) store.Actor {
	h.t.Helper()
	u := &store.User{Email: name + "@example.com", DisplayName: "Agent " + name, Role: role, Active: true, PasswordHash: "x"}
	if err := h.db.CreateUser(context.Background(), store.System, u); err != nil {
		h.t.Fatalf("create %s: %v", name, err)
	}
	return store.Actor{UserID: u.ID, Role: u.Role, Email: u.Email, IP: "192.0.2.8", RequestID: "req-" + name}
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

// claim claims a process for a as opening its page does, and returns the claim's
// number (the page's DecideInput.ClaimSeq).
func (h *harness) claim(a store.Actor, id string) int64 {
	h.t.Helper()
	p, err := h.svc.Claim(context.Background(), a, id, false)
	if err != nil {
		h.t.Fatalf("claim %s: %v", id, err)
	}
	return p.ClaimSeq
}

// serve streams one evidence item to a, reading it to the end, as the browser does.
func (h *harness) serve(a store.Actor, id string, kind store.EvidenceKind) error {
	ev, _, err := h.svc.Evidence(context.Background(), a, id, kind, "")
	if err != nil {
		return err
	}
	defer ev.Body.Close()
	_, err = io.Copy(io.Discard, ev.Body)
	return err
}

// see shows a what the process page shows: the process data and every image.
func (h *harness) see(a store.Actor, id string) {
	h.t.Helper()
	if _, err := h.svc.Info(context.Background(), a, id, false); err != nil {
		h.t.Fatalf("info %s: %v", id, err)
	}
	for _, k := range h.get(id).Images() {
		if err := h.serve(a, id, k); err != nil {
			h.t.Fatalf("evidence %s %s: %v", id, k, err)
		}
	}
}

// ready claims a process for a and shows them everything an accept needs (D6, D7); it
// returns the claim's number.
func (h *harness) ready(a store.Actor, id string) int64 {
	h.t.Helper()
	seq := h.claim(a, id)
	h.see(a, id)
	return seq
}

// decide records a decision that must succeed, as the agent who opened the process
// page (claimed it and saw everything) and submitted its form.
func (h *harness) decide(a store.Actor, in review.DecideInput) *store.Decision {
	h.t.Helper()
	in.ClaimSeq = h.ready(a, in.ProcessID)
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

// refusals counts the decision.refused audit rows of a process.
func (h *harness) refusals(id string) int {
	h.t.Helper()
	n := 0
	for _, e := range h.audits("decision.refused", id) {
		if e.Outcome != store.OutcomeDenied {
			h.t.Errorf("refusal audit %+v: outcome %q, want %q", e, e.Outcome, store.OutcomeDenied)
		}
		n++
	}
	return n
}

func gatewayStatus(verdict store.Verdict) string {
	if verdict == store.VerdictReject {
		return "NOT_VERIFIED"
	}
	return "VERIFIED"
}

func gatewayVerdict(verdict store.Verdict) string {
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

// TestDecideFiftyAgentsAtOnce is D1 and D6 through the service: of 50 agents deciding
// one process at once only the holder of its claim wins, the others get a clear
// conflict (each refusal audited), and the gateway receives the verdict exactly once.
func TestDecideFiftyAgentsAtOnce(t *testing.T) {
	h := newHarness(t, options{})
	ctx := context.Background()
	const n = 50
	agents := make([]store.Actor, n)
	for i := range agents {
		agents[i] = h.newAgent(fmt.Sprintf("d1-%02d", i))
	}
	reasonID := h.reason("face-mismatch").ID
	input := func(i int, id string, seq int64) review.DecideInput {
		if i%2 == 0 {
			return review.DecideInput{ProcessID: id, ClaimSeq: seq, Verdict: store.VerdictAccept}
		}
		return review.DecideInput{ProcessID: id, ClaimSeq: seq, Verdict: store.VerdictReject, ReasonID: reasonID, Addition: fmt.Sprintf("seen by agent %d", i)}
	}
	// decideAll lets the chosen agents decide at once and returns each one's decision
	// and error. Everyone sends the holder's claim number, as if they had guessed it.
	type result struct {
		d   *store.Decision
		err error
	}
	decideAll := func(id string, seq int64, who []int) map[int]result {
		var wg sync.WaitGroup
		var mu sync.Mutex
		start := make(chan struct{})
		out := map[int]result{}
		for k, i := range who {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				d, err := h.svc.Decide(ctx, agents[i], input(i, id, seq))
				mu.Lock()
				out[k] = result{d, err}
				mu.Unlock()
			}()
		}
		close(start)
		wg.Wait()
		return out
	}
	everyone := make([]int, n)
	for i := range everyone {
		everyone[i] = i
	}

	t.Run("nobody holds the claim: nobody decides", func(t *testing.T) {
		id := h.inReviewClean(1)[0]
		for k, r := range decideAll(id, 0, everyone) {
			if r.err == nil {
				t.Errorf("agent %d: decided %+v without a claim", k, r.d)
				continue
			}
			wantCode(t, r.err, review.CodeConflict)
		}
		if got := h.decisionRows(id); got != 0 {
			t.Errorf("decision rows: got %d, want 0", got)
		}
		if got := h.refusals(id); got != n {
			t.Errorf("refusal audit rows: got %d, want %d", got, n)
		}
		if p := h.get(id); !p.Reviewable || p.Decided || p.ClaimedBy != 0 {
			t.Errorf("process: got reviewable=%v decided=%v claimed=%d, want still in review, unclaimed", p.Reviewable, p.Decided, p.ClaimedBy)
		}
		if got := h.deliverAll(); got != 0 {
			t.Errorf("delivery attempts: got %d, want 0", got)
		}
	})
	t.Run("one agent holds the claim: only they decide", func(t *testing.T) {
		const holder = 16 // accepts: they saw everything first
		id := h.inReviewClean(1)[0]
		seq := h.ready(agents[holder], id)
		results := decideAll(id, seq, everyone)
		var winners []int
		for i, r := range results {
			if r.err == nil {
				winners = append(winners, i)
				continue
			}
			if e := wantCode(t, r.err, review.CodeConflict); e != nil && e.Message == "" {
				t.Errorf("agent %d: refused without a message", i)
			}
		}
		if len(winners) != 1 || winners[0] != holder {
			t.Fatalf("winners: got %v, want only the claim holder %d", winners, holder)
		}
		want := input(holder, id, seq)
		live, err := h.db.LiveDecision(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if live.ID != results[holder].d.ID || live.DecidedBy != agents[holder].UserID || live.Verdict != want.Verdict || live.State != store.StateQueued {
			t.Errorf("live decision: got %d by %d %s %s, want %d by %d %s queued", live.ID, live.DecidedBy, live.Verdict, live.State,
				results[holder].d.ID, agents[holder].UserID, want.Verdict)
		}
		if got := h.decisionRows(id); got != 1 {
			t.Errorf("decision rows: got %d, want 1", got)
		}
		if got := len(h.audits("decision.accept", id)) + len(h.audits("decision.reject", id)); got != 1 {
			t.Errorf("decision audit rows: got %d, want 1", got)
		}
		if got := h.refusals(id); got != n-1 {
			t.Errorf("refusal audit rows: got %d, want %d", got, n-1)
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
	t.Run("the holder's form submitted fifty times counts once", func(t *testing.T) {
		const holder = 7 // rejects
		id := h.inReviewClean(1)[0]
		seq := h.claim(agents[holder], id)
		same := make([]int, n)
		for i := range same {
			same[i] = holder
		}
		results := decideAll(id, seq, same)
		first := results[0].d
		for k, r := range results {
			if r.err != nil || r.d == nil || first == nil || r.d.ID != first.ID {
				t.Errorf("submission %d: got %+v %v, want the one decision", k, r.d, r.err)
			}
		}
		if got := h.decisionRows(id); got != 1 {
			t.Errorf("decision rows: got %d, want 1", got)
		}
		if got := len(h.audits("decision.reject", id)); got != 1 {
			t.Errorf("decision audit rows: got %d, want 1", got)
		}
		if got := h.refusals(id); got != 0 {
			t.Errorf("refusal audit rows: got %d, want 0 (a double submission is no refusal)", got)
		}
		if got := h.deliverAll(); got != 1 {
			t.Errorf("delivery attempts: got %d, want 1", got)
		}
		if first != nil {
			h.checkDeliveredOnce(first)
		}
	})
	h.verifyAudit()
}

// deliveredSoFar is the number of delivered decisions (for cross-checks across subtests).
func (h *harness) deliveredSoFar() int {
	h.t.Helper()
	ds, err := h.db.ListDecisions(context.Background(), store.DecisionFilter{States: []store.DeliveryState{store.StateDelivered}})
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
	// The agent holds the claim and saw everything: only the input is at fault.
	seq := h.ready(h.actor, id)
	info, err := h.svc.Info(ctx, h.actor, id, false)
	if err != nil || len(info.Personal) == 0 {
		t.Fatalf("info: got %v %v, want personal data", info, err)
	}
	originals := correctable(info)
	if _, ok := originals["name"]; !ok {
		t.Fatalf("personal data %v: no name", info.Personal)
	}
	with := func(key, value string) map[string]string {
		v := maps.Clone(originals)
		v[key] = value
		return v
	}
	retired := h.reason("under-age")
	if err := h.db.SetReasonActive(ctx, store.System, retired.ID, false); err != nil {
		t.Fatal(err)
	}
	confirmed := []string{sandbox.ValidationMRZ}
	expired := h.reason("document-expired").ID
	reject := func(addition, note string) review.DecideInput {
		return review.DecideInput{ProcessID: id, ClaimSeq: seq, Verdict: store.VerdictReject, ReasonID: expired, Addition: addition, InternalNote: note}
	}
	acceptWith := func(values map[string]string) review.DecideInput {
		return review.DecideInput{ProcessID: id, ClaimSeq: seq, Verdict: store.VerdictAccept, Confirmations: confirmed,
			Values: values, Originals: originals}
	}
	note := acceptWith(nil)
	note.InternalNote = strings.Repeat("x", review.LimitNote.Max+1)

	cases := []struct {
		name      string
		in        review.DecideInput
		code      review.Code
		field     string
		fieldsKey string // the key of Error.Fields that must be set, if any
	}{
		{"unknown verdict", review.DecideInput{ProcessID: id, ClaimSeq: seq, Verdict: "approve"}, review.CodeInvalid, "", ""},
		{"no verdict", review.DecideInput{ProcessID: id, ClaimSeq: seq}, review.CodeInvalid, "", ""},
		{"reject without a reason", review.DecideInput{ProcessID: id, ClaimSeq: seq, Verdict: store.VerdictReject, Addition: "bad photo"},
			review.CodeInvalid, review.FieldReason, ""},
		{"unknown reason", review.DecideInput{ProcessID: id, ClaimSeq: seq, Verdict: store.VerdictReject, ReasonID: 9999},
			review.CodeInvalid, review.FieldReason, ""},
		{"retired reason", review.DecideInput{ProcessID: id, ClaimSeq: seq, Verdict: store.VerdictReject, ReasonID: retired.ID},
			review.CodeInvalid, review.FieldReason, ""},
		{"addition too long", reject(strings.Repeat("é", review.LimitAddition.Max+1), ""), review.CodeInvalid, review.FieldAddition, ""},
		{"addition with NUL", reject("see\x00here", ""), review.CodeInvalid, review.FieldAddition, ""},
		{"addition with CR LF", reject("line one\r\nline two", ""), review.CodeInvalid, review.FieldAddition, ""},
		{"addition with LF", reject("line one\nline two", ""), review.CodeInvalid, review.FieldAddition, ""},
		{"addition with a right-to-left override", reject("Your document\u202Egpj.exe", ""), review.CodeInvalid, review.FieldAddition, ""},
		{"internal note too long on a reject", reject("", strings.Repeat("ñ", review.LimitNote.Max+1)), review.CodeInvalid, review.FieldNote, ""},
		{"internal note with a control character", reject("", "ok\x07"), review.CodeInvalid, review.FieldNote, ""},
		{"internal note too long on an accept", note, review.CodeInvalid, review.FieldNote, ""},
		{"accept without confirming the failed check", review.DecideInput{ProcessID: id, ClaimSeq: seq, Verdict: store.VerdictAccept},
			review.CodeInvalid, review.FieldConfirm, ""},
		{"correction of an unknown field", acceptWith(with("favouriteColour", "blue")), review.CodeInvalid, review.FieldFields, ""},
		{"correction of the MRZ", acceptWith(with("mrz", "P<ESPX")), review.CodeInvalid, review.FieldFields, ""},
		{"correction on two lines", acceptWith(with("name", "first\nsecond")), review.CodeInvalid, review.FieldFields, "field.name"},
		{"correction too long", acceptWith(with("name", strings.Repeat("ü", review.LimitCorrection+1))), review.CodeInvalid, review.FieldFields, "field.name"},
		{"correction with digits in a name", acceptWith(with("surname", "Sm1th")), review.CodeInvalid, review.FieldFields, "field.surname"},
		{"correction to a date that does not exist", acceptWith(with("dateOfBirth", "1990-02-30")), review.CodeInvalid, review.FieldFields, "field.dateOfBirth"},
		{"correction to an unknown nationality", acceptWith(with("nationality", "XYZ")), review.CodeInvalid, review.FieldFields, "field.nationality"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := h.svc.Decide(ctx, h.actor, tc.in)
			if d != nil {
				t.Errorf("recorded %+v", d)
			}
			e := wantField(t, err, tc.code, tc.field)
			if e != nil && tc.fieldsKey != "" && e.Fields[tc.fieldsKey] == "" {
				t.Errorf("fields: got %v, want a message for %s", e.Fields, tc.fieldsKey)
			}
		})
	}
	t.Run("unknown process", func(t *testing.T) {
		_, err := h.svc.Decide(ctx, h.actor, review.DecideInput{ProcessID: "not-indexed", Verdict: store.VerdictAccept})
		wantCode(t, err, review.CodeNotFound)
	})
	// Nothing was stored or sent; every refusal was audited; the process still awaits
	// review, claimed by the agent.
	if _, err := h.db.LiveDecision(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("live decision: got %v, want ErrNotFound", err)
	}
	if got := h.decisionRows(id); got != 0 {
		t.Errorf("decision rows: got %d, want 0", got)
	}
	if got := len(h.audits("decision.accept", id)) + len(h.audits("decision.reject", id)); got != 0 {
		t.Errorf("decision audit rows: got %d, want 0", got)
	}
	if got := h.refusals(id); got != len(cases) {
		t.Errorf("refusal audit rows: got %d, want %d", got, len(cases))
	}
	if p := h.get(id); !p.Reviewable || p.Decided || p.ClaimedBy != h.agent.ID || p.ClaimSeq != seq {
		t.Errorf("process: got reviewable=%v decided=%v claimed by %d seq %d, want in review, the agent's claim %d", p.Reviewable, p.Decided, p.ClaimedBy, p.ClaimSeq, seq)
	}
	if got := h.deliverAll(); got != 0 {
		t.Errorf("deliveries: got %d, want 0", got)
	}
	if g := h.atGateway(id); g.Accepts+g.Rejects != 0 || g.Verdict != "" {
		t.Errorf("gateway: got %+v, want undecided", g)
	}

	// The limits themselves are allowed, counted in characters, not bytes.
	atLimit := reject("  "+strings.Repeat("é", review.LimitAddition.Max)+"  ", strings.Repeat("ñ", review.LimitNote.Max))
	d, err := h.svc.Decide(ctx, h.actor, atLimit)
	if err != nil {
		t.Fatal(err)
	}
	if want := h.reason("document-expired").CustomerText + " " + strings.Repeat("é", review.LimitAddition.Max); d.Comment != want {
		t.Errorf("comment at the limit: got %d characters, want %d", len([]rune(d.Comment)), len([]rune(want)))
	}
	if d.InternalNote != atLimit.InternalNote {
		t.Errorf("internal note at the limit: got %d characters, want %d", len([]rune(d.InternalNote)), review.LimitNote.Max)
	}
	h.verifyAudit()
}

// TestRejectWithABlankWordingIsRefused: the admin pages never store a blank customer
// wording; should one exist, a reject with it and no addition must not send a blank
// rejection comment to the customer. (Before the refactor the store refused it.)
func TestRejectWithABlankWordingIsRefused(t *testing.T) {
	h := newHarness(t, options{})
	ctx := context.Background()
	id := h.inReviewClean(1)[0]
	blank := &store.Reason{Code: "blank-text", Label: "Blank", CustomerText: "   "}
	if err := h.db.CreateReason(ctx, store.System, blank); err != nil {
		t.Fatal(err)
	}
	in := h.rejectWith(id, "blank-text")
	in.ClaimSeq, in.Addition = h.claim(h.actor, id), "  "
	d, err := h.svc.Decide(ctx, h.actor, in)
	if d != nil {
		t.Errorf("recorded a rejection with comment %q", d.Comment)
	}
	wantCode(t, err, review.CodeInvalid)
	if got := h.decisionRows(id); got != 0 {
		t.Errorf("decision rows: got %d, want 0", got)
	}
}

// correctable returns the personal data of a process as the accept form sends it back
// unchanged: every field but the MRZ, which is never corrected.
func correctable(info *review.Details) map[string]string {
	out := map[string]string{}
	for _, f := range info.Personal {
		if f[0] != "mrz" {
			out[f[0]] = f[1]
		}
	}
	return out
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
	seq := h.ready(h.actor, id)
	cases := []struct {
		name      string
		confirmed []string
	}{
		{"none confirmed", nil},
		{"one confirmed", []string{sandbox.ValidationLiveness}},
		{"other checks confirmed", []string{sandbox.ValidationLegalAge, "bogus"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := accept(id)
			in.ClaimSeq, in.Confirmations = seq, tc.confirmed
			_, err := h.svc.Decide(context.Background(), h.actor, in)
			wantField(t, err, review.CodeInvalid, review.FieldConfirm)
		})
	}
	if got := h.decisionRows(id); got != 0 {
		t.Fatalf("decision rows after refusals: got %d, want 0", got)
	}
	in := accept(id)
	in.ClaimSeq, in.Confirmations = seq, append(slices.Clone(failed), "bogus")
	d, err := h.svc.Decide(context.Background(), h.actor, in)
	if err != nil {
		t.Fatal(err)
	}
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
		seq := h.ready(h.actor, id)
		info, err := h.svc.Info(ctx, h.actor, id, false)
		if err != nil {
			t.Fatal(err)
		}
		originals := correctable(info)
		values := maps.Clone(originals)
		values["name"] = "  Corrected   Value  "
		cs, errs := review.CheckCorrections(values, originals, h.clk.Now())
		if len(errs) != 0 || len(cs) != 1 || cs[0].New != "Corrected Value" {
			t.Fatalf("checked corrections: got %+v %v, want the name only", cs, errs)
		}
		in := accept(id)
		in.ClaimSeq, in.Values, in.Originals, in.CorrectionsSeen = seq, values, originals, review.CorrectionsSummary(values, originals)
		d, err := h.svc.Decide(ctx, h.actor, in)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"name": "Corrected Value"}
		if !maps.Equal(d.Corrections, want) {
			t.Errorf("stored corrections: got %v, want %v (normalised, unchanged fields dropped)", d.Corrections, want)
		}
		if rows := h.audits("decision.accept", id); len(rows) != 1 || !strings.Contains(rows[0].Detail, "corrected=name") ||
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
	verdict   store.Verdict
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
	// The agent opens each process (the evidence comes through the gateway) ...
	seqs := make([]int64, len(ids))
	for i, id := range ids {
		seqs[i] = h.ready(h.actor, id)
	}
	h.sb.SetTokenLifetime(time.Second)
	gw.Add(16 * time.Minute) // the token of the indexing and evidence calls has expired

	// ... and accepts them a minute apart, so that they fall due one by one. Accepting
	// without corrections calls no gateway (D8): the token is renewed by delivery.
	var ds []*store.Decision
	for i, id := range ids {
		in := accept(id)
		in.ClaimSeq = seqs[i]
		d, err := h.svc.Decide(ctx, h.actor, in)
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
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
	if left, _ := h.db.ListDecisions(ctx, store.DecisionFilter{States: []store.DeliveryState{store.StateQueued, store.StateParked, store.StateConflict}}); len(left) != 0 {
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
		verdict     store.Verdict
		elsewhere   string // "accept", "reject" or "delete"
		wantState   store.DeliveryState
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
	admin := h.newAdmin("admin")
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
		wantState store.DeliveryState
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
		wantCode(t, h.svc.Retry(ctx, admin, d.ID), review.CodeConflict)
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
	admin := h.newAdmin("admin")

	t.Run("a 400 is parked at once", func(t *testing.T) {
		id := h.inReviewClean(1)[0]
		// The service never lets such a value through; the gateway refuses it (400).
		d, err := h.db.Decide(ctx, h.actor, store.NewDecision{ProcessID: id, Verdict: store.VerdictAccept,
			Corrections: map[string]string{"name": strings.Repeat("x", 1100)}}, allow)
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
		if _, err := h.svc.ConfirmSecond(ctx, admin, d.ID, h.claim(admin, id)); err != nil {
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
			verdict store.Verdict
			failed  bool
			want    store.DeliveryState
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
				d := h.decide(first, in)
				if d.State != tc.want {
					t.Errorf("got %s, want %s", d.State, tc.want)
				}
				if p := h.get(id); p.AwaitingSecond != (tc.want == store.StateSecondReview) || p.ClaimedBy != 0 {
					t.Errorf("process: got awaiting second=%v claimed by %d, want %v unclaimed", p.AwaitingSecond, p.ClaimedBy, tc.want == store.StateSecondReview)
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

	t.Run("confirmed by another agent holding the claim after seeing the evidence, then delivered", func(t *testing.T) {
		id, d := acceptFailed()
		if n := h.deliverAll(); n != 0 {
			t.Errorf("awaiting the second agent: %d attempts, want 0", n)
		}
		if g := h.atGateway(id); g.Accepts != 0 {
			t.Fatal("delivered before the second review")
		}
		if p := h.get(id); p.Reviewable || !p.Decided || !p.AwaitingSecond {
			t.Errorf("awaiting the second agent: got reviewable=%v decided=%v awaiting=%v, want out of the queue, awaiting", p.Reviewable, p.Decided, p.AwaitingSecond)
		}
		// The decider may open it, but never review their own decision.
		seq := h.claim(first, id)
		_, err := h.svc.ConfirmSecond(ctx, first, d.ID, seq)
		wantCode(t, err, review.CodeForbidden)
		wantCode(t, h.svc.Overturn(ctx, first, d.ID, seq, "changed my mind"), review.CodeForbidden)
		if err := h.svc.Release(ctx, first, id, seq); err != nil {
			t.Fatal(err)
		}
		// The second agent needs the claim (D6) ...
		_, err = h.svc.ConfirmSecond(ctx, second, d.ID, 0)
		wantCode(t, err, review.CodeConflict)
		seq = h.claim(second, id)
		// ... and to have seen the evidence in it to confirm an accept (D7).
		missing, err := h.svc.Readiness(ctx, second, id, seq)
		if err != nil || len(missing) != 1+len(h.get(id).Images()) || missing[0] != store.ProcessData {
			t.Errorf("readiness of the second agent: got %v %v, want the data and every image", missing, err)
		}
		_, err = h.svc.ConfirmSecond(ctx, second, d.ID, seq)
		wantCode(t, err, review.CodeConflict)
		if got := h.decision(d.ID); got.State != store.StateSecondReview {
			t.Fatalf("after refusals: got %s, want second_review", got.State)
		}
		if got := h.refusals(id); got != 4 {
			t.Errorf("refusal audit rows: got %d, want 4", got)
		}
		h.see(second, id)
		c, err := h.svc.ConfirmSecond(ctx, second, d.ID, seq)
		if err != nil {
			t.Fatal(err)
		}
		if c.State != store.StateQueued || c.SecondBy != second.UserID || c.SecondAt.IsZero() {
			t.Errorf("confirmed: got %s by %d at %v, want queued by %d", c.State, c.SecondBy, c.SecondAt, second.UserID)
		}
		if p := h.get(id); p.ClaimedBy != 0 || p.AwaitingSecond {
			t.Errorf("after the confirmation: claimed by %d awaiting=%v, want unclaimed, not awaiting", p.ClaimedBy, p.AwaitingSecond)
		}
		if rows := h.audits("decision.confirm", id); len(rows) != 1 || rows[0].ActorID != second.UserID {
			t.Errorf("confirm audit: got %+v, want one row by the second agent", rows)
		}
		if n := h.deliverAll(); n != 1 {
			t.Errorf("deliveries: got %d, want 1", n)
		}
		h.checkDeliveredOnce(d)
		_, err = h.svc.ConfirmSecond(ctx, second, d.ID, seq)
		wantCode(t, err, review.CodeConflict)
		wantCode(t, h.svc.Overturn(ctx, second, d.ID, seq, "too late"), review.CodeConflict)
		_, err = h.svc.Claim(ctx, second, id, false)
		wantCode(t, err, review.CodeConflict)
	})
	t.Run("overturned by another agent, then decided anew", func(t *testing.T) {
		id, d := acceptFailed()
		seq := h.claim(second, id)
		wantField(t, h.svc.Overturn(ctx, second, d.ID, seq, "   "), review.CodeInvalid, review.FieldNote)
		wantField(t, h.svc.Overturn(ctx, second, d.ID, seq, "a photo\u202E of a screen"), review.CodeInvalid, review.FieldNote)
		// Overturning needs no evidence seen: it sends nothing.
		if err := h.svc.Overturn(ctx, second, d.ID, seq, "  the selfie is a photo of a screen  "); err != nil {
			t.Fatal(err)
		}
		got := h.decision(d.ID)
		if got.State != store.StateOverturned || got.SecondBy != second.UserID {
			t.Errorf("overturned: got %s by %d, want overturned by %d", got.State, got.SecondBy, second.UserID)
		}
		p := h.get(id)
		if !p.Reviewable || p.Decided || p.ClaimedBy != second.UserID || p.ClaimSeq == seq || !p.ClaimExpiresAt.Equal(h.clk.Now().Add(h.svc.Config().ClaimTTL)) {
			t.Errorf("process: got reviewable=%v decided=%v claimed by %d (seq %d) until %v, want back in review, claimed anew by the second agent",
				p.Reviewable, p.Decided, p.ClaimedBy, p.ClaimSeq, p.ClaimExpiresAt)
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
		_, err := h.svc.ConfirmSecond(ctx, second, d.ID, p.ClaimSeq)
		wantCode(t, err, review.CodeConflict)
		// The first agent no longer holds it; the second decides anew (a reject needs
		// a second agent too, and the first one may confirm it).
		again := h.rejectWith(id, "liveness-failed")
		again.ClaimSeq = p.ClaimSeq
		_, err = h.svc.Decide(ctx, first, again)
		wantCode(t, err, review.CodeConflict)
		nd, err := h.svc.Decide(ctx, second, again)
		if err != nil {
			t.Fatal(err)
		}
		if nd.State != store.StateSecondReview || nd.ID == d.ID {
			t.Fatalf("new decision: got %d %s, want a new one awaiting a second review", nd.ID, nd.State)
		}
		if live, err := h.db.LiveDecision(ctx, id); err != nil || live.ID != nd.ID {
			t.Errorf("live decision: got %v %v, want %d", live, err, nd.ID)
		}
		// Confirming a reject needs the claim, not the evidence.
		if _, err := h.svc.ConfirmSecond(ctx, first, nd.ID, h.claim(first, id)); err != nil {
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
	t.Run("a takeover starts the evidence afresh", func(t *testing.T) {
		third := h.newAgent("third")
		id, d := acceptFailed()
		seq := h.claim(second, id)
		h.see(second, id)
		h.clk.Add(time.Second)
		took, err := h.svc.Claim(ctx, third, id, true)
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.svc.ConfirmSecond(ctx, second, d.ID, seq)
		wantCode(t, err, review.CodeConflict)
		_, err = h.svc.ConfirmSecond(ctx, third, d.ID, took.ClaimSeq)
		wantCode(t, err, review.CodeConflict)
		h.see(third, id)
		if _, err := h.svc.ConfirmSecond(ctx, third, d.ID, took.ClaimSeq); err != nil {
			t.Fatal(err)
		}
		h.deliverAll()
		h.checkDeliveredOnce(d)
	})
	_, err := h.svc.ConfirmSecond(ctx, second, 987654, 1)
	wantCode(t, err, review.CodeNotFound)
	h.verifyAudit()
}
