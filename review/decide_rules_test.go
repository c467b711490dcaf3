package review_test

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// gatewayRequests is the number of requests the gateway has seen, on every route.
func (h *harness) gatewayRequests() int {
	n := 0
	for _, c := range h.sb.Stats().Requests {
		n += c
	}
	return n
}

// opened claims a process for the agent, shows them everything and returns an accept
// form as the page renders it: the claim's number, the correctable fields as read.
func (h *harness) opened(id string) review.DecideInput {
	h.t.Helper()
	seq := h.ready(h.actor, id)
	info, err := h.svc.Info(context.Background(), h.actor, id, false)
	if err != nil {
		h.t.Fatalf("info: %v", err)
	}
	originals := correctable(info)
	return review.DecideInput{ProcessID: id, ClaimSeq: seq, Verdict: store.VerdictAccept,
		Values: maps.Clone(originals), Originals: originals}
}

// TestAcceptWithoutCorrectionsCallsNoGateway is D8: an accept with nothing corrected is
// recorded while the gateway is down, and delivered once it is back.
func TestAcceptWithoutCorrectionsCallsNoGateway(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	ctx := context.Background()
	id := h.inReviewClean(1)[0]
	in := h.opened(id)
	in.Values["surname"] = "  " + in.Originals["surname"] + " " // the form sends every field; trimmed, nothing changed
	h.svc.Forget(id)                                            // no cached copy to hide a call
	for _, route := range sandbox.Routes {
		h.fault(route, sandbox.Fault{Kind: sandbox.FaultUnavailable})
	}
	before := h.gatewayRequests()
	d, err := h.svc.Decide(ctx, h.actor, in)
	if err != nil {
		t.Fatalf("accept while the gateway is down: %v", err)
	}
	if got := h.gatewayRequests() - before; got != 0 {
		t.Errorf("gateway requests while accepting: got %d, want 0", got)
	}
	if d.State != store.StateQueued || len(d.Corrections) != 0 {
		t.Errorf("decision: got %s with corrections %v, want queued without", d.State, d.Corrections)
	}
	if n := h.deliverOnce(); n != 1 {
		t.Fatalf("attempts while down: got %d, want 1", n)
	}
	got := h.decision(d.ID)
	if got.State != store.StateQueued || got.Attempts != 1 {
		t.Fatalf("after a failed attempt: got %s after %d attempts, want queued for a retry", got.State, got.Attempts)
	}
	h.sb.ClearFaults()
	h.untilDue(got)
	h.deliverAll()
	h.checkDeliveredOnce(d)
	h.verifyAudit()
}

// TestCorrectionsAreCheckedAndConfirmed is D8: only changed fields are corrections, each
// is validated, and they are sent only once the agent confirmed the summary they saw,
// against the data the gateway holds.
func TestCorrectionsAreCheckedAndConfirmed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	ctx := context.Background()

	t.Run("invalid fields each get a message", func(t *testing.T) {
		id := h.inReviewClean(1)[0]
		in := h.opened(id)
		in.Values["dateOfBirth"] = "2001-02-29"
		in.Values["nationality"] = "Spain"
		in.Values["name"] = "Ana María" // valid: reported only with the others
		in.CorrectionsSeen = review.CorrectionsSummary(in.Values, in.Originals)
		_, err := h.svc.Decide(ctx, h.actor, in)
		e := wantField(t, err, review.CodeInvalid, review.FieldFields)
		if e != nil {
			for _, key := range []string{"field.dateOfBirth", "field.nationality"} {
				if e.Fields[key] == "" {
					t.Errorf("fields: got %v, want a message for %s", e.Fields, key)
				}
			}
			if len(e.Fields) != 2 {
				t.Errorf("fields: got %v, want the two invalid ones only", e.Fields)
			}
		}
		if got := h.decisionRows(id); got != 0 {
			t.Errorf("decision rows: got %d, want 0", got)
		}
	})
	t.Run("the summary seen must be the corrections sent", func(t *testing.T) {
		id := h.inReviewClean(1)[0]
		in := h.opened(id)
		in.Values["name"] = "Corrected"
		other := maps.Clone(in.Values)
		other["name"] = "Something Else"
		for _, seen := range []string{"", "not json", "[]", review.CorrectionsSummary(other, in.Originals)} {
			in.CorrectionsSeen = seen
			_, err := h.svc.Decide(ctx, h.actor, in)
			wantField(t, err, review.CodeConfirm, review.FieldFields)
		}
		if got := h.decisionRows(id); got != 0 {
			t.Errorf("decision rows: got %d, want 0", got)
		}
		if got := h.refusals(id); got != 0 {
			t.Errorf("refusal audit rows: got %d, want 0 (asking to confirm is no refusal)", got)
		}
		in.CorrectionsSeen = review.CorrectionsSummary(in.Values, in.Originals)
		d, err := h.svc.Decide(ctx, h.actor, in)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]string{"name": "Corrected"}; !maps.Equal(d.Corrections, want) {
			t.Errorf("corrections: got %v, want %v", d.Corrections, want)
		}
		h.deliverAll()
		h.checkDeliveredOnce(d)
		if g := h.atGateway(id); g.Corrections["name"] != "Corrected" {
			t.Errorf("gateway corrections: got %v", g.Corrections)
		}
	})
	t.Run("the data at the gateway changed since the page was read", func(t *testing.T) {
		id := h.inReviewClean(1)[0]
		in := h.opened(id)
		in.Originals["surname"] = in.Originals["surname"] + "x" // what the page showed is no longer true
		in.Values["surname"] = "Newsurname"
		in.CorrectionsSeen = review.CorrectionsSummary(in.Values, in.Originals)
		_, err := h.svc.Decide(ctx, h.actor, in)
		wantCode(t, err, review.CodeConflict)
		if got := h.decisionRows(id); got != 0 {
			t.Errorf("decision rows: got %d, want 0", got)
		}
	})
	t.Run("corrections need the gateway", func(t *testing.T) {
		id := h.inReviewClean(1)[0]
		in := h.opened(id)
		in.Values["name"] = "Corrected"
		in.CorrectionsSeen = review.CorrectionsSummary(in.Values, in.Originals)
		h.svc.Forget(id)
		h.fault(sandbox.RouteProcess, sandbox.Fault{Kind: sandbox.FaultUnavailable})
		defer h.sb.ClearFault(sandbox.RouteProcess)
		_, err := h.svc.Decide(ctx, h.actor, in)
		wantField(t, err, review.CodeUnavailable, review.FieldFields)
		if got := h.decisionRows(id); got != 0 {
			t.Errorf("decision rows: got %d, want 0", got)
		}
		// Accepting without them needs no gateway.
		in.Values, in.CorrectionsSeen = maps.Clone(in.Originals), ""
		if _, err := h.svc.Decide(ctx, h.actor, in); err != nil {
			t.Errorf("accept without the corrections: %v", err)
		}
	})
	h.verifyAudit()
}

// TestRetryAndResolveRules: the author or an admin retries a delivery that can be
// retried (parked, conflict, or queued after a failed attempt); only an admin resolves
// a parked or conflicting one, with a note.
func TestRetryAndResolveRules(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	ctx := context.Background()
	author, other, admin := h.actor, h.newAgent("other"), h.newAdmin("admin")

	// failedOnce decides an accept whose first delivery attempt fails.
	failedOnce := func(t *testing.T) (*store.Decision, string) {
		t.Helper()
		id := h.inReviewClean(1)[0]
		d := h.decide(author, accept(id))
		h.fault(sandbox.RouteAccept, sandbox.Fault{Kind: sandbox.FaultUnavailable, Count: 1, NotApplied: true})
		h.deliverOnce()
		if got := h.decision(d.ID); got.State != store.StateQueued || got.Attempts != 1 {
			t.Fatalf("setup: got %s after %d attempts, want queued after 1", got.State, got.Attempts)
		}
		return d, id
	}
	// inConflict decides an accept the gateway refuses: it was rejected elsewhere.
	inConflict := func(t *testing.T) (*store.Decision, string) {
		t.Helper()
		id := h.inReviewClean(1)[0]
		d := h.decide(author, accept(id))
		if _, err := h.client.Reject(ctx, id, "decided in another tool"); err != nil {
			t.Fatal(err)
		}
		h.deliverOnce()
		if got := h.decision(d.ID); got.State != store.StateConflict {
			t.Fatalf("setup: got %s, want conflict", got.State)
		}
		return d, id
	}
	// parked decides an accept the gateway does not take for longer than ParkAfter.
	parked := func(t *testing.T) (*store.Decision, string) {
		t.Helper()
		id := h.inReviewClean(1)[0]
		d := h.decide(author, accept(id))
		h.fault(sandbox.RouteAccept, sandbox.Fault{Kind: sandbox.FaultUnavailable, NotApplied: true})
		defer h.sb.ClearFault(sandbox.RouteAccept)
		h.deliverOnce()
		h.clk.Add(25 * time.Hour)
		h.deliverOnce()
		if got := h.decision(d.ID); got.State != store.StateParked {
			t.Fatalf("setup: got %s, want parked", got.State)
		}
		return d, id
	}

	t.Run("queued after a failed attempt: the author retries now", func(t *testing.T) {
		d, id := failedOnce(t)
		wantCode(t, h.svc.Retry(ctx, other, d.ID), review.CodeForbidden)
		if rows := h.audits("access.denied", id); len(rows) != 1 || rows[0].ActorID != other.UserID || rows[0].Outcome != store.OutcomeDenied {
			t.Errorf("denial audit: got %+v, want one row by the other agent", rows)
		}
		wantCode(t, h.svc.Resolve(ctx, admin, d.ID, "settled by phone"), review.CodeConflict)
		if err := h.svc.Retry(ctx, author, d.ID); err != nil {
			t.Fatal(err)
		}
		got := h.decision(d.ID)
		if got.State != store.StateQueued || got.NextAttemptAt.After(h.clk.Now()) || !got.Ambiguous {
			t.Errorf("after retry: got %s next in %v ambiguous=%v, want queued, due now, ambiguous", got.State, got.NextAttemptAt.Sub(h.clk.Now()), got.Ambiguous)
		}
		if rows := h.audits("decision.retry", id); len(rows) != 1 || rows[0].ActorID != author.UserID {
			t.Errorf("retry audit: got %+v, want one row by the author", rows)
		}
		h.deliverAll()
		h.checkDeliveredOnce(d)
	})
	t.Run("states that cannot be retried nor resolved", func(t *testing.T) {
		ids := h.inReviewClean(3)
		never := h.decide(author, accept(ids[0])) // queued, never attempted
		sending := h.decide(author, accept(ids[1]))
		if ok, err := h.db.StartDelivery(ctx, sending.ID); !ok || err != nil {
			t.Fatalf("start delivery: %v %v", ok, err)
		}
		if err := h.db.SetSetting(ctx, store.System, store.SettingFourEyesAccept, "on"); err != nil {
			t.Fatal(err)
		}
		second := h.decide(author, accept(ids[2]))
		if err := h.db.SetSetting(ctx, store.System, store.SettingFourEyesAccept, "off"); err != nil {
			t.Fatal(err)
		}
		for _, d := range []*store.Decision{never, sending, second} {
			state := h.decision(d.ID).State
			wantCode(t, h.svc.Retry(ctx, author, d.ID), review.CodeConflict)
			wantCode(t, h.svc.Retry(ctx, admin, d.ID), review.CodeConflict)
			wantCode(t, h.svc.Resolve(ctx, admin, d.ID, "settled by phone"), review.CodeConflict)
			if got := h.decision(d.ID).State; got != state {
				t.Errorf("decision %d: state %s, want %s unchanged", d.ID, got, state)
			}
		}
		if _, err := h.db.RecoverDeliveries(ctx); err != nil { // the one left sending
			t.Fatal(err)
		}
		h.deliverAll()
		delivered := h.decision(never.ID)
		if delivered.State != store.StateDelivered {
			t.Fatalf("got %s, want delivered", delivered.State)
		}
		wantCode(t, h.svc.Retry(ctx, author, delivered.ID), review.CodeConflict)
		wantCode(t, h.svc.Resolve(ctx, admin, delivered.ID, "settled by phone"), review.CodeConflict)
	})
	t.Run("parked: the author or an admin retries, another agent may not", func(t *testing.T) {
		d, _ := parked(t)
		wantCode(t, h.svc.Retry(ctx, other, d.ID), review.CodeForbidden)
		if err := h.svc.Retry(ctx, admin, d.ID); err != nil {
			t.Errorf("retry by an admin: %v", err)
		}
		d, _ = parked(t)
		if err := h.svc.Retry(ctx, author, d.ID); err != nil {
			t.Errorf("retry by the author: %v", err)
		}
	})
	t.Run("conflict: the author retries", func(t *testing.T) {
		d, _ := inConflict(t)
		if err := h.svc.Retry(ctx, author, d.ID); err != nil {
			t.Errorf("retry by the author: %v", err)
		}
	})
	t.Run("only an admin resolves, with a note", func(t *testing.T) {
		for _, setup := range []func(*testing.T) (*store.Decision, string){parked, inConflict} {
			d, id := setup(t)
			wantCode(t, h.svc.Resolve(ctx, author, d.ID, "settled by phone"), review.CodeForbidden)
			wantCode(t, h.svc.Resolve(ctx, other, d.ID, "settled by phone"), review.CodeForbidden)
			wantField(t, h.svc.Resolve(ctx, admin, d.ID, "   "), review.CodeInvalid, review.FieldNote)
			wantField(t, h.svc.Resolve(ctx, admin, d.ID, "settled\u202Eby phone"), review.CodeInvalid, review.FieldNote)
			wantField(t, h.svc.Resolve(ctx, admin, d.ID, "settled\x00"), review.CodeInvalid, review.FieldNote)
			wantField(t, h.svc.Resolve(ctx, admin, d.ID, strings.Repeat("n", review.LimitResolveNote.Max+1)), review.CodeInvalid, review.FieldNote)
			if got := h.decision(d.ID).State; got != store.StateParked && got != store.StateConflict {
				t.Fatalf("after the refusals: got %s", got)
			}
			if err := h.svc.Resolve(ctx, admin, d.ID, "  settled with Mobbscan by phone  "); err != nil {
				t.Fatal(err)
			}
			if got := h.decision(d.ID); got.State != store.StateResolved {
				t.Errorf("after resolving: got %s, want resolved", got.State)
			}
			if rows := h.audits("decision.resolve", id); len(rows) != 1 || rows[0].ActorID != admin.UserID ||
				!strings.HasSuffix(rows[0].Detail, ": settled with Mobbscan by phone") {
				t.Errorf("resolve audit: got %+v, want one row by the admin with the trimmed note", rows)
			}
			wantCode(t, h.svc.Resolve(ctx, admin, d.ID, "again"), review.CodeConflict)
			wantCode(t, h.svc.Retry(ctx, admin, d.ID), review.CodeConflict)
			h.clk.Add(48 * time.Hour)
			if n := h.deliverAll(); n != 0 {
				t.Errorf("resolved: %d attempts, want 0", n)
			}
		}
	})
	t.Run("unknown decisions", func(t *testing.T) {
		wantCode(t, h.svc.Retry(ctx, admin, 987654), review.CodeNotFound)
		wantCode(t, h.svc.Resolve(ctx, admin, 987654, "settled"), review.CodeNotFound)
	})
	h.verifyAudit()
}
