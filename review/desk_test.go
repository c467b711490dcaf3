package review_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// The desk tests (issue 11: skip, escalate, send back to review, QA sampling) run the
// review service on a real SQLite file against the real sandbox, which counts the
// POST /mobbscan-agent/pending requests it receives and how many it applied.

// setDesk stores the desk settings as an administrator.
func (h *harness) setDesk(admin store.Actor, skip, sample string) {
	h.t.Helper()
	if _, err := h.svc.SetDeskSettings(context.Background(), admin, skip, sample); err != nil {
		h.t.Fatalf("set desk settings %s/%s: %v", skip, sample, err)
	}
}

// next is "Next case" for a; "" when the queue has nothing for them.
func (h *harness) next(a store.Actor) (string, int64) {
	h.t.Helper()
	p, err := h.svc.NextCase(context.Background(), a, store.QueueQuery{})
	if review.ErrorCode(err) == review.CodeNotFound {
		return "", 0
	}
	if err != nil {
		h.t.Fatalf("next case: %v", err)
	}
	return p.ID, p.ClaimSeq
}

// indexFinal seeds processes the gateway has finished (verified there, not by the
// portal) and indexes them as the gateway's webhook makes the portal do.
func (h *harness) indexFinal(n int, state string) []string {
	h.t.Helper()
	ids := h.seed(n, state)
	for _, id := range ids {
		h.receive(id, state)
	}
	h.ingest()
	for _, id := range ids {
		if p := h.get(id); !p.Final || p.Reviewable {
			h.t.Fatalf("indexed %s: final %v reviewable %v, want final", id, p.Final, p.Reviewable)
		}
	}
	return ids
}

func (h *harness) pendings() int { return h.requests(sandbox.RoutePending) }

func (h *harness) sendBackOnce() int {
	h.t.Helper()
	n, err := h.svc.SendBackOnce(context.Background())
	if err != nil {
		h.t.Fatalf("send back: %v", err)
	}
	return n
}

func (h *harness) latestSendBack(id string) *store.SendBack {
	h.t.Helper()
	sb, err := h.db.LatestSendBack(context.Background(), id)
	if err != nil {
		h.t.Fatalf("latest send-back of %s: %v", id, err)
	}
	return sb
}

func (h *harness) sendBacks(id string) int {
	h.t.Helper()
	var n int
	if err := h.db.SQL().QueryRowContext(context.Background(), "SELECT count(*) FROM send_backs WHERE process_id = ?", id).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// outcomes returns the send-back outcome audit rows of a process (by the system).
func (h *harness) sendBackOutcomes(id string) []store.AuditEvent {
	h.t.Helper()
	var out []store.AuditEvent
	for _, r := range h.audits(string(store.ActionProcessSendBack), id) {
		if r.ActorID == 0 {
			out = append(out, r)
		}
	}
	return out
}

// wantBackInReview checks that a process sent back is in review in the index and in
// the queue, once.
func (h *harness) wantBackInReview(id string) {
	h.t.Helper()
	p := h.get(id)
	if !p.Reviewable || p.Final || p.Status != "PENDING" {
		h.t.Errorf("%s: got %s reviewable %v final %v, want back in review", id, p.Status, p.Reviewable, p.Final)
	}
	if g := h.gateway(id); !g.Reviewable() {
		h.t.Errorf("%s at the gateway: got %s, want in review", id, g.Status)
	}
	ps, _, err := h.db.Queue(context.Background(), store.QueueQuery{Search: id})
	if err != nil {
		h.t.Fatal(err)
	}
	n := 0
	for _, q := range ps {
		if q.ID == id {
			n++
		}
	}
	if n != 1 {
		h.t.Errorf("%s: in the queue %d times, want once", id, n)
	}
}

// TestSkipKeepsTheCaseOutOfTheAgentsNextCase: skipping needs the page's claim, releases
// it and is audited; for the configured time "Next case" gives that agent other cases
// (or none) while other agents still get it; then it comes back.
func TestSkipKeepsTheCaseOutOfTheAgentsNextCase(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	ctx := context.Background()
	admin := h.newAdmin("ada")
	other := h.newAgent("olga")
	h.setDesk(admin, "10", "0")
	h.inReviewClean(2)

	x, seq := h.next(h.actor)
	if x == "" {
		t.Fatal("no next case")
	}
	wantCode(t, h.svc.Skip(ctx, h.actor, x, seq+1), review.CodeConflict) // another page's claim
	wantCode(t, h.svc.Skip(ctx, other, x, seq), review.CodeConflict)     // not theirs
	wantCode(t, h.svc.Skip(ctx, h.actor, "not-indexed", seq), review.CodeNotFound)
	if got := h.get(x); got.ClaimedBy != h.agent.ID {
		t.Fatalf("after refused skips: claimed by %d, want the agent", got.ClaimedBy)
	}
	if err := h.svc.Skip(ctx, h.actor, x, seq); err != nil {
		t.Fatalf("skip: %v", err)
	}
	if got := h.get(x); got.ClaimedBy != 0 {
		t.Errorf("after the skip: claimed by %d, want released", got.ClaimedBy)
	}
	rows := h.audits(string(store.ActionProcessSkip), x)
	if len(rows) != 1 || rows[0].ActorID != h.agent.ID || rows[0].IP != h.actor.IP || !strings.Contains(rows[0].Detail, "10m") {
		t.Errorf("skip audit: got %+v, want one row by the agent naming the configured 10m", rows)
	}
	wantCode(t, h.svc.Skip(ctx, h.actor, x, seq), review.CodeConflict) // released already

	y, _ := h.next(h.actor)
	if y == "" || y == x {
		t.Fatalf("next case after the skip: got %q, want the other case than %s", y, x)
	}
	if got, _ := h.next(h.actor); got != "" {
		t.Fatalf("next case with the only other case skipped: got %q, want none", got)
	}
	got, otherSeq := h.next(other)
	if got != x {
		t.Fatalf("another agent's next case: got %q, want the skipped %s", got, x)
	}
	if err := h.svc.Release(ctx, other, x, otherSeq); err != nil {
		t.Fatal(err)
	}
	// Nine minutes on the agent's claim of y has lapsed (five minutes): "Next case" gives
	// y back, not the skipped x.
	h.clk.Add(9 * time.Minute)
	if got, s := h.next(h.actor); got != y {
		t.Fatalf("next case within the skip: got %q, want %s", got, y)
	} else if err := h.svc.Release(ctx, h.actor, y, s); err != nil {
		t.Fatal(err)
	}
	h.clk.Add(2 * time.Minute)
	if got, _ := h.next(h.actor); got != x {
		t.Errorf("next case once the skip lapsed: got %q, want %s back", got, x)
	}
	h.verifyAudit()
}

// TestEscalationRules: an agent escalates the case they hold with a note and releases
// it; the note is required, bounded and free of control characters; administrators do
// not escalate; an escalated case is neither claimed nor decided by an agent, but an
// administrator claims and decides it, which ends the escalation, or returns it to the
// queue.
func TestEscalationRules(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	ctx := context.Background()
	admin := h.newAdmin("ada")
	other := h.newAgent("olga")
	ids := h.inReviewClean(2)
	z, w := ids[0], ids[1]
	seq := h.claim(h.actor, z)

	field := review.LimitEscalationNote.Field
	for _, bad := range []struct{ name, note string }{
		{"blank", "  \n "},
		{"too long", strings.Repeat("x", review.LimitEscalationNote.Max+1)},
		{"a control character", "look at the \x07 video"},
		{"a direction override", "look \u202e at it"},
	} {
		t.Run("note "+bad.name, func(t *testing.T) {
			e := wantField(t, h.svc.Escalate(ctx, h.actor, z, seq, bad.note), review.CodeInvalid, field)
			if e != nil && e.Message == "" {
				t.Error("no message beside the field")
			}
		})
	}
	wantCode(t, h.svc.Escalate(ctx, h.actor, z, seq+1, "why"), review.CodeConflict) // not this page's claim
	wantCode(t, h.svc.Escalate(ctx, other, z, seq, "why"), review.CodeConflict)     // not theirs
	adminSeq := h.claim(admin, w)
	wantCode(t, h.svc.Escalate(ctx, admin, w, adminSeq, "why"), review.CodeForbidden) // nobody to escalate to
	if err := h.svc.Release(ctx, admin, w, adminSeq); err != nil {
		t.Fatal(err)
	}
	if p := h.get(z); p.Escalated() || p.ClaimedBy != h.agent.ID {
		t.Fatalf("after refused escalations: escalated %v claimed by %d, want neither changed", p.Escalated(), p.ClaimedBy)
	}
	if n, _ := h.svc.CountEscalated(ctx); n != 0 {
		t.Fatalf("escalated after refusals: %d, want 0", n)
	}

	const note = "The portrait looks like a photo of a screen.\nPlease check the video."
	if err := h.svc.Escalate(ctx, h.actor, z, seq, "  "+note+"  "); err != nil {
		t.Fatalf("escalate: %v", err)
	}
	p := h.get(z)
	if !p.Escalated() || p.EscalatedByName != h.agent.DisplayName || p.EscalationNote != note || p.ClaimedBy != 0 {
		t.Errorf("escalated: got by %q note %q claimed by %d, want by the agent, the trimmed note, released",
			p.EscalatedByName, p.EscalationNote, p.ClaimedBy)
	}
	if rows := h.audits(string(store.ActionProcessEscalate), z); len(rows) != 1 || rows[0].ActorID != h.agent.ID || !strings.Contains(rows[0].Detail, note) {
		t.Errorf("escalation audit: got %+v, want one row by the agent with the note", rows)
	}
	if n, err := h.svc.CountEscalated(ctx); err != nil || n != 1 {
		t.Errorf("escalated: got %d %v, want 1", n, err)
	}
	if !review.MayEscalate(h.actor, h.get(w)) || review.MayEscalate(h.actor, p) || review.MayEscalate(admin, h.get(w)) {
		t.Error("MayEscalate: want it offered to an agent on a case in review only, never to an administrator")
	}

	// Agents: no claim, no takeover, no decision, no "Next case", no second escalation.
	for _, a := range []store.Actor{h.actor, other} {
		for _, takeover := range []bool{false, true} {
			_, err := h.svc.Claim(ctx, a, z, takeover)
			if e := wantCode(t, err, review.CodeForbidden); e != nil && !strings.Contains(e.Message, h.agent.DisplayName) {
				t.Errorf("refusal %q does not name who escalated it", e.Message)
			}
		}
	}
	in := accept(z)
	in.ClaimSeq = seq
	_, err := h.svc.Decide(ctx, h.actor, in)
	wantCode(t, err, review.CodeForbidden)
	wantCode(t, h.svc.Escalate(ctx, h.actor, z, seq, "again"), review.CodeConflict)
	got, otherSeq := h.next(other)
	if got != w {
		t.Errorf("an agent's next case: got %q, want %s (the escalated %s left out)", got, w, z)
	}
	if err := h.svc.Release(ctx, other, w, otherSeq); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.next(admin); got != w {
		t.Errorf("an administrator's next case: got %q, want %s (escalated cases are taken from their view)", got, w)
	} else if err := h.svc.Release(ctx, admin, w, 0); err != nil {
		t.Fatal(err)
	}
	if p := h.get(z); p.ClaimedBy != 0 || p.Decided {
		t.Fatalf("after the agents' attempts: claimed by %d decided %v, want neither", p.ClaimedBy, p.Decided)
	}

	// De-escalation: administrators only, escalated cases only.
	seqW := h.claim(other, w)
	if err := h.svc.Escalate(ctx, other, w, seqW, "Second opinion please"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, h.svc.Deescalate(ctx, h.actor, w), review.CodeForbidden)
	if err := h.svc.Deescalate(ctx, admin, w); err != nil {
		t.Fatalf("de-escalate: %v", err)
	}
	if p := h.get(w); p.Escalated() || p.EscalationNote != "" {
		t.Errorf("de-escalated: escalated %v note %q, want neither", p.Escalated(), p.EscalationNote)
	}
	wantCode(t, h.svc.Deescalate(ctx, admin, w), review.CodeConflict)
	wantCode(t, h.svc.Deescalate(ctx, admin, "not-indexed"), review.CodeNotFound)
	if got, s := h.next(h.actor); got != w {
		t.Errorf("next case after the de-escalation: got %q, want %s back", got, w)
	} else if err := h.svc.Release(ctx, h.actor, w, s); err != nil {
		t.Fatal(err)
	}

	// The longest note allowed is stored whole.
	long := strings.Repeat("é", review.LimitEscalationNote.Max)
	seqW = h.claim(h.actor, w)
	if err := h.svc.Escalate(ctx, h.actor, w, seqW, long); err != nil {
		t.Fatalf("escalate with the longest note: %v", err)
	}
	if p := h.get(w); p.EscalationNote != long {
		t.Errorf("longest note: stored %d bytes, want %d", len(p.EscalationNote), len(long))
	}
	if err := h.svc.Deescalate(ctx, admin, w); err != nil {
		t.Fatal(err)
	}

	// An administrator claims and decides the escalated case: the escalation ends.
	d := h.decide(admin, accept(z))
	if d.DecidedBy != admin.UserID {
		t.Errorf("decision by %d, want the administrator", d.DecidedBy)
	}
	if p := h.get(z); p.Escalated() || p.EscalationNote != "" || p.Reviewable {
		t.Errorf("decided: escalated %v note %q reviewable %v, want the escalation ended", p.Escalated(), p.EscalationNote, p.Reviewable)
	}
	if n, _ := h.svc.CountEscalated(ctx); n != 0 {
		t.Errorf("escalated after the decision: %d, want 0", n)
	}
	h.deliverAll()
	h.verifyAudit()
}

// TestSendBackToReview: an administrator sends a finished process back with a reason;
// the worker asks the gateway (POST pending) and the process is back in review in the
// index at once, audited; agents may not; a process not finished, or already being sent
// back, conflicts; the reason is checked.
func TestSendBackToReview(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	ctx := context.Background()
	admin := h.newAdmin("ada")
	id := h.indexFinal(1, "VERIFIED")[0]
	inReview := h.inReviewClean(1)[0]

	_, err := h.svc.SendBack(ctx, h.actor, id, "Customer complaint")
	wantCode(t, err, review.CodeForbidden)
	_, err = h.svc.SendBack(ctx, admin, inReview, "Customer complaint")
	wantCode(t, err, review.CodeConflict)
	_, err = h.svc.SendBack(ctx, admin, "not-indexed", "Customer complaint")
	wantCode(t, err, review.CodeNotFound)
	field := review.LimitSendBackReason.Field
	for _, bad := range []string{"", "   ", strings.Repeat("r", review.LimitSendBackReason.Max+1), "two\nlines", "bell \x07"} {
		_, err := h.svc.SendBack(ctx, admin, id, bad)
		wantField(t, err, review.CodeInvalid, field)
	}
	if n := h.sendBacks(id) + h.sendBacks(inReview); n != 0 {
		t.Fatalf("refused requests left %d send-backs", n)
	}

	longest := h.indexFinal(1, "VERIFIED")[0]
	reason := strings.Repeat("ü", review.LimitSendBackReason.Max)
	if sb, err := h.svc.SendBack(ctx, admin, longest, reason); err != nil || sb.Reason != reason {
		t.Errorf("the longest reason: got %v, want stored whole", err)
	}

	sb, err := h.svc.SendBack(ctx, admin, id, " The customer disputes the verification ")
	if err != nil {
		t.Fatalf("send back: %v", err)
	}
	if sb.State != store.ErasureQueued || sb.RequestedBy != admin.UserID || sb.Reason != "The customer disputes the verification" {
		t.Errorf("requested: got %+v", sb)
	}
	_, err = h.svc.SendBack(ctx, admin, id, "again")
	wantCode(t, err, review.CodeConflict)

	before := h.pendings()
	if n := h.sendBackOnce(); n != 2 {
		t.Fatalf("send-back attempts: got %d, want 2 (the longest reason's and this one)", n)
	}
	if got := h.pendings() - before; got != 2 {
		t.Errorf("POST pending requests: got %d, want 2", got)
	}
	h.wantBackInReview(longest)
	if got := h.latestSendBack(id); got.State != store.ErasureDone || got.Attempts != 1 || got.DoneAt.IsZero() {
		t.Errorf("send-back: got %+v, want done after one attempt", got)
	}
	if g := h.atGateway(id); g.Pendings != 1 {
		t.Errorf("gateway: %d pendings applied, want 1", g.Pendings)
	}
	h.wantBackInReview(id)
	rows := h.audits(string(store.ActionProcessSendBack), id)
	if len(rows) != 2 || rows[1].ActorID != admin.UserID || !strings.Contains(rows[1].Detail, "disputes") ||
		rows[0].ActorID != 0 || rows[0].Outcome != store.OutcomeSuccess {
		t.Errorf("audit: got %+v, want the admin's request then the system's success", rows)
	}
	if n := h.sendBackOnce(); n != 0 {
		t.Errorf("after the send-back: %d more attempts", n)
	}
	// Back in review: it is not finished, so it cannot be sent back again.
	_, err = h.svc.SendBack(ctx, admin, id, "again")
	wantCode(t, err, review.CodeConflict)
	// An agent reviews it again.
	d := h.decide(h.actor, h.rejectWith(id, "unreadable"))
	h.deliverAll()
	if got := h.decision(d.ID); got.State != store.StateDelivered {
		t.Errorf("the new decision: %s, want delivered", got.State)
	}
	if g := h.atGateway(id); g.State != sandbox.StatusNotVerified {
		t.Errorf("gateway after the second review: %s, want NOT_VERIFIED", g.Status)
	}

	// A process the portal decided: not before the gateway has the decision; then its
	// decision is superseded when the gateway puts it back, and it is reviewed afresh.
	// The index tells a process put back after its decision by the gateway's last update
	// (whole seconds) being later than the delivery: the decision is made and delivered
	// two seconds before the test's real time, as a person's send-back comes later.
	h.clk.Add(-2 * time.Second)
	mine := h.inReviewClean(1)[0]
	first := h.decide(h.actor, accept(mine))
	_, err = h.svc.SendBack(ctx, admin, mine, "Second look")
	wantCode(t, err, review.CodeConflict)
	h.deliverAll()
	if _, err := h.svc.SendBack(ctx, admin, mine, "Second look"); err != nil {
		t.Fatalf("send back a delivered decision: %v", err)
	}
	h.sendBackOnce()
	h.wantBackInReview(mine)
	if p := h.get(mine); p.Decided {
		t.Error("sent back: the process still counts as decided")
	}
	var superseded any
	if err := h.db.SQL().QueryRowContext(ctx, "SELECT superseded_at FROM decisions WHERE id = ?", first.ID).Scan(&superseded); err != nil || superseded == nil {
		t.Errorf("the first decision: superseded at %v %v, want set", superseded, err)
	}
	if rows := h.audits(string(store.ActionProcessReopen), mine); len(rows) != 1 {
		t.Errorf("reopen audit: got %d rows, want 1", len(rows))
	}
	second := h.decide(h.actor, h.rejectWith(mine, "unreadable"))
	h.deliverAll()
	if got := h.decision(second.ID); got.State != store.StateDelivered {
		t.Errorf("the second decision: %s, want delivered", got.State)
	}
	h.verifyAudit()
}

// TestSendBackRecoversFromGatewayFaults: a 503 is retried later (not audited) and the
// catch-up after an outage makes it due at once; a refusal (404, 409) fails for a
// person, whom only an administrator may retry; one failing for ParkAfter is parked.
func TestSendBackRecoversFromGatewayFaults(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{cfg: review.Config{RetryBase: time.Second, RetryMax: time.Minute, ParkAfter: time.Hour}})
	ctx := context.Background()
	admin := h.newAdmin("ada")

	t.Run("503 then success", func(t *testing.T) {
		id := h.indexFinal(1, "NOT_VERIFIED")[0]
		if _, err := h.svc.SendBack(ctx, admin, id, "Second look"); err != nil {
			t.Fatal(err)
		}
		h.fault(sandbox.RoutePending, sandbox.Fault{Kind: sandbox.FaultUnavailable, Count: 2})
		before := h.pendings()
		if n := h.sendBackOnce(); n != 1 {
			t.Fatalf("first attempt: %d attempts, want 1", n)
		}
		sb := h.latestSendBack(id)
		wait := sb.NextAttemptAt.Sub(h.clk.Now())
		if sb.State != store.ErasureQueued || sb.Attempts != 1 || sb.LastError == "" || wait <= 0 {
			t.Fatalf("after a 503: %+v (next in %v), want queued for later with the error", sb, wait)
		}
		if strings.Contains(sb.LastError, sandbox.DefaultAPISecret) {
			t.Errorf("last error carries the API secret: %q", sb.LastError)
		}
		if n := h.sendBackOnce(); n != 0 {
			t.Fatalf("right after the 503: %d attempts, want the retry later", n)
		}
		h.clk.Add(wait)
		if n := h.sendBackOnce(); n != 1 {
			t.Fatalf("second attempt: %d attempts, want 1", n)
		}
		// The catch-up after an outage makes the retry due without waiting.
		if sb := h.latestSendBack(id); sb.State != store.ErasureQueued || sb.Attempts != 2 || !sb.NextAttemptAt.After(h.clk.Now()) {
			t.Fatalf("after the second 503: %+v, want queued for later", sb)
		}
		r, err := h.svc.CatchUp(ctx)
		if err != nil || r.SendBacks != 1 {
			t.Fatalf("catch-up: got %+v %v, want one send-back made due", r, err)
		}
		if n := h.sendBackOnce(); n != 1 {
			t.Fatalf("after the catch-up: %d attempts, want 1 at once", n)
		}
		if sb := h.latestSendBack(id); sb.State != store.ErasureDone || sb.Attempts != 3 {
			t.Errorf("send-back: got %+v, want done after 3 attempts", sb)
		}
		if got := h.pendings() - before; got != 3 {
			t.Errorf("POST pending requests: got %d, want 3", got)
		}
		if g := h.atGateway(id); g.Pendings != 1 {
			t.Errorf("gateway: %d pendings applied, want 1", g.Pendings)
		}
		h.wantBackInReview(id)
		if rows := h.sendBackOutcomes(id); len(rows) != 1 || rows[0].Outcome != store.OutcomeSuccess {
			t.Errorf("outcome audit: got %+v, want one success (retries are not audited)", rows)
		}
	})

	t.Run("404: failed, retried by an administrator", func(t *testing.T) {
		id := h.indexFinal(1, "VERIFIED")[0]
		sb, err := h.svc.SendBack(ctx, admin, id, "Second look")
		if err != nil {
			t.Fatal(err)
		}
		if err := h.client.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
		h.sendBackOnce()
		failed := h.latestSendBack(id)
		if failed.State != store.ErasureFailed || !strings.Contains(failed.LastError, "refused") {
			t.Fatalf("after a 404: %+v, want failed saying the gateway refused", failed)
		}
		rows := h.sendBackOutcomes(id)
		if len(rows) != 1 || rows[0].Outcome != store.OutcomeFailure {
			t.Errorf("failure audit: got %+v, want one failure", rows)
		}
		if n := h.sendBackOnce(); n != 0 {
			t.Errorf("a failed send-back was attempted again by itself (%d)", n)
		}
		wantCode(t, h.svc.RetrySendBack(ctx, h.actor, sb.ID), review.CodeForbidden)
		if err := h.svc.RetrySendBack(ctx, admin, sb.ID); err != nil {
			t.Fatalf("admin retry: %v", err)
		}
		if got := h.latestSendBack(id); got.State != store.ErasureQueued || !got.NextAttemptAt.Equal(h.clk.Now()) {
			t.Errorf("retried: got %+v, want queued now", got)
		}
		wantCode(t, h.svc.RetrySendBack(ctx, admin, sb.ID), review.CodeConflict)
		wantCode(t, h.svc.RetrySendBack(ctx, admin, 999999), review.CodeNotFound)
		h.sendBackOnce()
		if got := h.latestSendBack(id); got.State != store.ErasureFailed || got.Attempts != 2 {
			t.Errorf("after the retry against a gateway that still does not know it: %+v, want failed again", got)
		}
	})

	t.Run("409: failed, retried once the gateway can", func(t *testing.T) {
		// The index holds the process as finished while the gateway still waits for the
		// customer (a stale index): the gateway refuses with 409.
		id := h.seed(1, "IN_PROGRESS")[0]
		h.track(id)
		if _, err := h.db.UpsertProcess(ctx, store.SourceWebhook, store.Snapshot{ID: id, Status: "VERIFIED", RawStatus: "VERIFIED",
			Stage: "DONE", Final: true, Partial: true}, h.clk.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		sb, err := h.svc.SendBack(ctx, admin, id, "Second look")
		if err != nil {
			t.Fatal(err)
		}
		h.sendBackOnce()
		if got := h.latestSendBack(id); got.State != store.ErasureFailed || !strings.Contains(got.LastError, "409") {
			t.Fatalf("after a 409: %+v, want failed with the 409", got)
		}
		// The customer finishes; the gateway puts it in review itself; the retried
		// request finds it there and is done (the gateway leaves it alone).
		if err := h.sb.Complete(id, nil); err != nil {
			t.Fatal(err)
		}
		if err := h.svc.RetrySendBack(ctx, admin, sb.ID); err != nil {
			t.Fatal(err)
		}
		h.sendBackOnce()
		if got := h.latestSendBack(id); got.State != store.ErasureDone {
			t.Errorf("after the retry: %+v, want done", got)
		}
		if g := h.atGateway(id); g.Pendings != 0 {
			t.Errorf("gateway: %d pendings applied, want 0 (it was in review already)", g.Pendings)
		}
		h.wantBackInReview(id)
	})

	t.Run("parked after ParkAfter", func(t *testing.T) {
		id := h.indexFinal(1, "VERIFIED")[0]
		sb, err := h.svc.SendBack(ctx, admin, id, "Second look")
		if err != nil {
			t.Fatal(err)
		}
		h.fault(sandbox.RoutePending, sandbox.Fault{Kind: sandbox.FaultServerError})
		h.sendBackOnce()
		h.clk.Add(2 * time.Hour)
		h.sendBackOnce()
		got := h.latestSendBack(id)
		if got.State != store.ErasureParked || !strings.Contains(got.LastError, "not sent back within 1h0m0s") {
			t.Fatalf("after ParkAfter: %+v, want parked saying why", got)
		}
		if rows := h.sendBackOutcomes(id); len(rows) != 1 || rows[0].Outcome != store.OutcomeFailure || !strings.Contains(rows[0].Detail, "parked") {
			t.Errorf("park audit: got %+v", rows)
		}
		h.clk.Add(time.Hour)
		if n := h.sendBackOnce(); n != 0 {
			t.Fatal("a parked send-back was attempted")
		}
		h.sb.ClearFault(sandbox.RoutePending)
		if err := h.svc.RetrySendBack(ctx, admin, sb.ID); err != nil {
			t.Fatal(err)
		}
		h.sendBackOnce()
		if got := h.latestSendBack(id); got.State != store.ErasureDone {
			t.Errorf("after the retry: %+v, want done", got)
		}
		h.wantBackInReview(id)
	})
	h.verifyAudit()
}

// TestSendBackSurvivesACrash: a send-back left "sending" by a stop (before or after the
// gateway got the request) is recovered when the worker starts again and sent again:
// the gateway leaves a process already in review alone, so it is back in review once.
func TestSendBackSurvivesACrash(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	ctx := context.Background()
	admin := h.newAdmin("ada")
	for _, gatewayGot := range []bool{false, true} {
		t.Run(fmt.Sprintf("gateway got it %v", gatewayGot), func(t *testing.T) {
			id := h.indexFinal(1, "VERIFIED")[0]
			sb, err := h.svc.SendBack(ctx, admin, id, "Second look")
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := h.db.StartSendBack(ctx, sb.ID); !ok || err != nil {
				t.Fatalf("start: %v %v", ok, err)
			}
			if gatewayGot {
				if err := h.client.Pending(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			if n := h.sendBackOnce(); n != 0 {
				t.Fatal("a send-back being sent was attempted by another worker")
			}
			// The restart: a new service on the same database runs the worker.
			before := h.pendings()
			svc := review.New(h.db, h.client, slog.New(slog.DiscardHandler), review.Config{})
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { svc.RunRetention(runCtx); close(done) }()
			h.until("the recovered send-back is done", func() bool {
				got, err := h.db.LatestSendBack(ctx, id)
				return err == nil && got.State == store.ErasureDone
			})
			cancel()
			<-done
			got := h.latestSendBack(id)
			if !got.Ambiguous || got.Attempts != 2 {
				t.Errorf("send-back: got %+v, want done after a second attempt, ambiguous", got)
			}
			if n := h.pendings() - before; n != 1 {
				t.Errorf("POST pending after the restart: %d, want 1", n)
			}
			if g := h.atGateway(id); g.Pendings != 1 {
				t.Errorf("gateway: %d pendings applied, want 1", g.Pendings)
			}
			h.wantBackInReview(id)
			if rows := h.sendBackOutcomes(id); len(rows) != 1 || rows[0].Outcome != store.OutcomeSuccess {
				t.Errorf("outcome audit: got %+v, want one success", rows)
			}
		})
	}
	h.verifyAudit()
}

// TestQASampling: with the sample at 100 %, a process the gateway verified without the
// portal is sent back for a human check when the portal learns of it (webhook or status
// check), exactly once; at 0 % nothing is; a process the portal decided is never
// sampled.
func TestQASampling(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	ctx := context.Background()
	admin := h.newAdmin("ada")

	h.setDesk(admin, "30", "0")
	off := h.indexFinal(1, "VERIFIED")[0]
	if p := h.get(off); p.QASampled || h.sendBacks(off) != 0 || len(h.audits(string(store.ActionProcessSample), off)) != 0 {
		t.Errorf("sample at 0 %%: sampled %v, %d send-backs", p.QASampled, h.sendBacks(off))
	}

	h.setDesk(admin, "30", "100")
	id := h.indexFinal(1, "VERIFIED")[0]
	p := h.get(id)
	if !p.QASampled {
		t.Fatal("at 100 %: an automatically verified process was not sampled")
	}
	rows := h.audits(string(store.ActionProcessSample), id)
	if len(rows) != 1 || rows[0].ActorID != 0 || rows[0].Outcome != store.OutcomeSuccess {
		t.Errorf("sample audit: got %+v, want one success by the system", rows)
	}
	sb := h.latestSendBack(id)
	if sb.State != store.ErasureQueued || sb.RequestedBy != 0 || sb.Reason != "QA sampling" {
		t.Errorf("sample's send-back: got %+v, want queued by QA sampling", sb)
	}
	// Ingested again (a repeated webhook): not sampled twice.
	h.receive(id, "VERIFIED")
	h.ingest()
	if n := h.sendBacks(id); n != 1 {
		t.Errorf("send-backs after a second ingestion: %d, want 1", n)
	}
	if n := len(h.audits(string(store.ActionProcessSample), id)); n != 1 {
		t.Errorf("sample audit rows after a second ingestion: %d, want 1", n)
	}
	// Sent back, reviewed by an agent, verified again: the sample is done.
	h.sendBackOnce()
	h.wantBackInReview(id)
	if p := h.get(id); !p.QASampled {
		t.Error("the sampled mark was lost when the process came back")
	}
	check := accept(id)
	check.Confirmations = h.get(id).Failed
	h.decide(h.actor, check)
	h.deliverAll()
	if p := h.get(id); !p.Final || p.Status != "VERIFIED" {
		t.Fatalf("after the human check: %s final %v, want VERIFIED", p.Status, p.Final)
	}
	h.receive(id, "VERIFIED")
	h.ingest()
	if n := h.sendBacks(id); n != 1 {
		t.Errorf("send-backs after the human check: %d, want 1", n)
	}

	// A process the portal decided itself is never sampled.
	mine := h.inReviewClean(1)[0]
	h.decide(h.actor, accept(mine))
	h.deliverAll()
	h.receive(mine, "VERIFIED")
	h.ingest()
	if p := h.get(mine); !p.Final || p.QASampled || h.sendBacks(mine) != 0 {
		t.Errorf("decided by the portal: final %v sampled %v, %d send-backs; want final, never sampled", p.Final, p.QASampled, h.sendBacks(mine))
	}

	// Verified at the gateway by someone else while in review here: the status check
	// finds it and samples it.
	elsewhere := h.inReviewClean(1)[0]
	if _, err := h.client.Accept(ctx, elsewhere, nil); err != nil {
		t.Fatal(err)
	}
	h.clk.Add(13 * time.Minute) // past the re-check of processes in review (10 min ± 20 %)
	h.reconcile()
	if p := h.get(elsewhere); !p.Final || !p.QASampled || h.sendBacks(elsewhere) != 1 {
		t.Errorf("verified elsewhere: final %v sampled %v, %d send-backs; want sampled once", p.Final, p.QASampled, h.sendBacks(elsewhere))
	}
	// A rejection is not sampled.
	rejected := h.indexFinal(1, "NOT_VERIFIED")[0]
	if p := h.get(rejected); p.QASampled || h.sendBacks(rejected) != 0 {
		t.Errorf("rejected at the gateway: sampled %v, want not", p.QASampled)
	}
	h.verifyAudit()
}

// TestInSample: the draw is a function of the id (the same every time) and the share
// drawn over many ids is close to the percentage; a larger sample contains a smaller.
func TestInSample(t *testing.T) {
	t.Parallel()
	const n = 10000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x-%04x-4000-8000-%012x", i*7919, i%65536, i)
	}
	for _, tc := range []struct{ percent, min, max int }{{0, 0, 0}, {5, 350, 650}, {25, 2200, 2800}, {50, 4700, 5300}, {100, n, n}} {
		drawn := 0
		for _, id := range ids {
			in := review.InSample(id, tc.percent)
			if in != review.InSample(id, tc.percent) {
				t.Fatalf("%s at %d %%: not the same draw twice", id, tc.percent)
			}
			if in {
				drawn++
				if tc.percent < 100 && !review.InSample(id, tc.percent+10) {
					t.Errorf("%s: in the %d %% sample but not the %d %% one", id, tc.percent, tc.percent+10)
				}
			}
		}
		if drawn < tc.min || drawn > tc.max {
			t.Errorf("%d %%: drew %d of %d, want between %d and %d", tc.percent, drawn, n, tc.min, tc.max)
		}
	}
}

// TestDeskSettings: the form's values are checked with a message per wrong field;
// nothing is stored unless both are valid; only an administrator changes them.
func TestDeskSettings(t *testing.T) {
	t.Parallel()
	max := strconv.Itoa(review.MaxSkipMinutes)
	for _, tc := range []struct {
		skip, sample string
		bad          []string // fields with a message
		want         review.DeskSettings
	}{
		{"30", "10", nil, review.DeskSettings{SkipMinutes: 30, SamplePercent: 10}},
		{" 1 ", " 0 ", nil, review.DeskSettings{SkipMinutes: 1, SamplePercent: 0}},
		{max, "100%", nil, review.DeskSettings{SkipMinutes: review.MaxSkipMinutes, SamplePercent: 100}},
		{"abc", "10", []string{review.FieldSkipMinutes}, review.DeskSettings{}},
		{"0", "10", []string{review.FieldSkipMinutes}, review.DeskSettings{}},
		{"-5", "10", []string{review.FieldSkipMinutes}, review.DeskSettings{}},
		{strconv.Itoa(review.MaxSkipMinutes + 1), "10", []string{review.FieldSkipMinutes}, review.DeskSettings{}},
		{"2.5", "10", []string{review.FieldSkipMinutes}, review.DeskSettings{}},
		{"30", "101", []string{review.FieldSamplePercent}, review.DeskSettings{}},
		{"30", "-1", []string{review.FieldSamplePercent}, review.DeskSettings{}},
		{"30", "ten", []string{review.FieldSamplePercent}, review.DeskSettings{}},
		{"", "", []string{review.FieldSkipMinutes, review.FieldSamplePercent}, review.DeskSettings{}},
		{"x", "200", []string{review.FieldSkipMinutes, review.FieldSamplePercent}, review.DeskSettings{}},
	} {
		got, err := review.ParseDeskSettings(tc.skip, tc.sample)
		if tc.bad == nil {
			if err != nil || got != tc.want {
				t.Errorf("%q/%q: got %+v %v, want %+v", tc.skip, tc.sample, got, err, tc.want)
			}
			continue
		}
		e := wantCode(t, err, review.CodeInvalid)
		if e == nil {
			continue
		}
		if len(e.Fields) != len(tc.bad) {
			t.Errorf("%q/%q: messages for %v, want for %v", tc.skip, tc.sample, e.Fields, tc.bad)
		}
		for _, f := range tc.bad {
			if e.Fields[f] == "" {
				t.Errorf("%q/%q: no message beside %s", tc.skip, tc.sample, f)
			}
		}
		if e.Field != tc.bad[0] || e.Message == "" {
			t.Errorf("%q/%q: field %q message %q, want %s and a message", tc.skip, tc.sample, e.Field, e.Message, tc.bad[0])
		}
	}

	h := newHarness(t, options{})
	ctx := context.Background()
	admin := h.newAdmin("ada")
	if d, err := h.svc.DeskSettings(ctx); err != nil || d != (review.DeskSettings{SkipMinutes: review.DefaultSkipMinutes}) {
		t.Errorf("defaults: got %+v %v, want %d minutes, no sampling", d, err, review.DefaultSkipMinutes)
	}
	_, err := h.svc.SetDeskSettings(ctx, h.actor, "15", "20")
	wantCode(t, err, review.CodeForbidden)
	_, err = h.svc.SetDeskSettings(ctx, admin, "15", "200")
	wantField(t, err, review.CodeInvalid, review.FieldSamplePercent)
	if d, _ := h.svc.DeskSettings(ctx); d != (review.DeskSettings{SkipMinutes: review.DefaultSkipMinutes}) {
		t.Errorf("after refused changes: got %+v, want the defaults", d)
	}
	if rows := h.audits(string(store.ActionSettingChange), ""); len(rows) != 0 {
		t.Errorf("refused changes audited as changes: %+v", rows)
	}
	h.setDesk(admin, "15", "20")
	if d, _ := h.svc.DeskSettings(ctx); d != (review.DeskSettings{SkipMinutes: 15, SamplePercent: 20}) {
		t.Errorf("after the change: got %+v, want 15 minutes, 20 %%", d)
	}
	if rows := h.audits(string(store.ActionSettingChange), ""); len(rows) != 2 || rows[0].ActorID != admin.UserID {
		t.Errorf("setting audit: got %+v, want two rows by the admin", rows)
	}
	// A stored value the portal never wrote falls back to the default.
	if err := h.db.SetSetting(ctx, store.System, store.SettingSkipMinutes, "forever"); err != nil {
		t.Fatal(err)
	}
	if d, _ := h.svc.DeskSettings(ctx); d.SkipMinutes != review.DefaultSkipMinutes || d.SamplePercent != 20 {
		t.Errorf("with a bad stored value: got %+v, want the default skip", d)
	}
}
