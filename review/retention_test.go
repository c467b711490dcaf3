package review_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// The retention tests run the review service on a real SQLite file against the real
// sandbox; the sandbox counts the DELETE requests it receives.

const day = 24 * time.Hour

// finals seeds n processes that are final at the gateway (accepted or rejected there)
// and indexes them, with their identity data.
func (h *harness) finals(n int) []string {
	h.t.Helper()
	ids := h.seed(n, "VERIFIED", "NOT_VERIFIED")
	for _, id := range ids {
		if p := h.track(id); !p.Final || p.HolderName == "" {
			h.t.Fatalf("tracked %s: %+v, want final with a holder", id, p)
		}
	}
	return ids
}

func (h *harness) retain() review.RetentionReport {
	h.t.Helper()
	rep, err := h.svc.RetainOnce(context.Background())
	if err != nil {
		h.t.Fatalf("retain: %v", err)
	}
	return rep
}

func (h *harness) eraseOnce() int {
	h.t.Helper()
	n, err := h.svc.EraseOnce(context.Background())
	if err != nil {
		h.t.Fatalf("erase: %v", err)
	}
	return n
}

func (h *harness) erasure(id string) *store.Erasure {
	h.t.Helper()
	e, err := h.db.ErasureOf(context.Background(), id)
	if err != nil {
		h.t.Fatalf("erasure of %s: %v", id, err)
	}
	return e
}

func (h *harness) deletes() int { return h.requests(sandbox.RouteDelete) }

func (h *harness) atGatewayStill(id string) bool {
	_, ok := h.sb.Get(id)
	return ok
}

func (h *harness) setRetention(a store.Actor, keep, erase string) {
	h.t.Helper()
	if _, err := h.svc.SetRetention(context.Background(), a, keep, erase); err != nil {
		h.t.Fatalf("set retention %s/%s: %v", keep, erase, err)
	}
}

func (h *harness) wantPurged(id string) {
	h.t.Helper()
	p := h.get(id)
	if p.PurgedAt.IsZero() || p.HolderName != "" || p.CustomerRef != "" || len(p.Failed) != 0 || p.ScoreFacial != nil || p.OnboardingURL != "" {
		h.t.Errorf("%s: got holder %q ref %q failed %v purged %v, want its identity data cleared", id, p.HolderName, p.CustomerRef, p.Failed, p.PurgedAt)
	}
}

func (h *harness) wantKept(id string) {
	h.t.Helper()
	if p := h.get(id); !p.PurgedAt.IsZero() || p.HolderName == "" {
		h.t.Errorf("%s: got holder %q purged %v, want its identity data kept", id, p.HolderName, p.PurgedAt)
	}
}

// TestRetentionPurgesOnlyWhatTheRulesAllow: final processes whose last activity (at the
// gateway or their decision here) is older than the period are purged; processes in
// review or with an undelivered decision never are; the admin setting overrides the
// configured period; decisions keep their rows and customer wording but lose their
// notes; nothing is erased at the gateway without an erasure period.
func TestRetentionPurgesOnlyWhatTheRulesAllow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{cfg: review.Config{RetryBase: time.Second}})
	ctx := context.Background()
	admin := h.newAdmin("ada")

	finals := h.finals(3)
	early := h.inReviewClean(2)
	rej := h.rejectWith(early[0], "unreadable")
	rej.InternalNote = "Called Ms Ruiz on +34 600 000 000"
	rejected := h.decide(h.actor, rej)
	acc := accept(early[1])
	acc.InternalNote = "Passport X1234567 checked by phone"
	accepted := h.decide(h.actor, acc)
	h.deliverAll()
	inReview := h.inReviewClean(1)[0]

	// Final at the gateway, but the portal's own decision has not reached it.
	stuck := h.inReviewClean(1)[0]
	stuckDecision := h.decide(h.actor, accept(stuck))
	h.fault(sandbox.RouteAccept, sandbox.Fault{Kind: sandbox.FaultUnavailable, Count: 1})
	h.deliverOnce()
	if n, err := h.db.ParkStale(ctx, 0); n != 1 || err != nil { // parked: needs a person
		t.Fatalf("park: %d %v", n, err)
	}
	if _, err := h.db.UpsertProcess(ctx, store.SourceWebhook, store.Snapshot{ID: stuck, Status: "VERIFIED", RawStatus: "VERIFIED",
		Stage: "DONE", Final: true, Partial: true}, h.clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if d := h.decision(stuckDecision.ID); d.State != store.StateParked || !h.get(stuck).Final {
		t.Fatalf("setup: decision %s, final %v; want a parked decision on a final process", d.State, h.get(stuck).Final)
	}

	h.clk.Add(60 * day)
	late := h.inReviewClean(1)[0] // decided 60 days after the others
	h.decide(h.actor, accept(late))
	h.deliverAll()
	if rep := h.retain(); rep != (review.RetentionReport{}) {
		t.Fatalf("after 60 days: %+v, want nothing purged (the period is 90 days)", rep)
	}

	h.clk.Add(31 * day)
	rep := h.retain()
	if rep.Purged != 5 || rep.Queued != 0 || rep.Skipped != 2 {
		t.Fatalf("after 91 days: %+v, want 5 purged (3 final, 2 decided early), 2 kept (undelivered, decided late), none queued", rep)
	}
	for _, id := range append(finals, early...) {
		h.wantPurged(id)
	}
	for _, id := range []string{inReview, stuck, late} {
		h.wantKept(id)
	}
	r, a := h.decision(rejected.ID), h.decision(accepted.ID)
	if r.InternalNote != "" || a.InternalNote != "" {
		t.Errorf("internal notes after the purge: %q, %q; want cleared", r.InternalNote, a.InternalNote)
	}
	if r.Comment == "" || r.Comment != rejected.Comment || r.State != store.StateDelivered {
		t.Errorf("rejection after the purge: %+v, want its wording to the customer and its state kept", r)
	}
	if h.eraseOnce() != 0 || h.deletes() != 0 {
		t.Error("something was erased at the gateway without an erasure period")
	}

	// Opening the page of a purged process reads the gateway again; the index stays purged.
	if _, err := h.svc.Info(ctx, admin, finals[0], true); err != nil {
		t.Fatalf("info of a purged process: %v", err)
	}
	h.wantPurged(finals[0])

	// The admin setting replaces the configured 90 days.
	h.setRetention(admin, "30", "0")
	if got, _ := h.svc.RetentionSettings(ctx); got != (review.Retention{KeepDays: 30}) {
		t.Errorf("effective retention: %+v, want 30 days, never erase", got)
	}
	if rep := h.retain(); rep.Purged != 1 || rep.Skipped != 1 {
		t.Errorf("with 30 days: %+v, want the late decision purged, the undelivered one kept", rep)
	}
	h.wantPurged(late)
	h.wantKept(stuck)
	h.wantKept(inReview)
	if rows := h.audits(string(store.ActionProcessPurge), late); len(rows) != 1 || rows[0].ActorID != 0 || !strings.Contains(rows[0].Detail, "30 days") {
		t.Errorf("purge audit: %+v, want one row by the system naming the period", rows)
	}
	h.verifyAudit()
}

// TestEraseAfterErasesAtTheGateway: with an erasure period, old final processes are
// purged and their erasure queued in one go, then deleted at the gateway once each.
func TestEraseAfterErasesAtTheGateway(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	admin := h.newAdmin("ada")
	h.setRetention(admin, "90", "30")
	ids := h.finals(4)
	kept := h.inReviewClean(1)[0]

	h.clk.Add(31 * day)
	if rep := h.retain(); rep.Purged != 4 || rep.Queued != 4 {
		t.Fatalf("retention: %+v, want 4 purged and 4 erasures queued", rep)
	}
	for _, id := range ids {
		h.wantPurged(id)
		if e := h.erasure(id); e.State != store.ErasureQueued || e.RequestedBy != 0 {
			t.Errorf("erasure of %s: %+v, want queued by retention", id, e)
		}
	}
	if n := h.eraseOnce(); n != 4 {
		t.Fatalf("erasure attempts: %d, want 4", n)
	}
	for _, id := range ids {
		if e := h.erasure(id); e.State != store.ErasureDone || e.Attempts != 1 {
			t.Errorf("erasure of %s: %+v, want done in one attempt", id, e)
		}
		if h.atGatewayStill(id) {
			t.Errorf("%s is still at the gateway", id)
		}
		if !h.get(id).Gone {
			t.Errorf("%s: not marked gone", id)
		}
		rows := h.audits(string(store.ActionProcessErase), id)
		if len(rows) != 2 || rows[0].Outcome != store.OutcomeSuccess || !strings.Contains(rows[0].Detail, "deleted") {
			t.Errorf("erase audit of %s: %+v, want the request and the outcome", id, rows)
		}
	}
	if h.deletes() != 4 {
		t.Errorf("DELETE requests: %d, want 4", h.deletes())
	}
	if !h.atGatewayStill(kept) {
		t.Error("a process in review was erased")
	}
	h.clk.Add(day)
	if rep := h.retain(); rep.Purged+rep.Queued != 0 || h.eraseOnce() != 0 {
		t.Errorf("second run: %+v, want nothing more", rep)
	}
	h.verifyAudit()
}

type eraseFault struct {
	name      string
	fault     sandbox.Fault
	failures  int  // attempts that fail before the one that succeeds
	ambiguous bool // the failures are ambiguous (the DELETE may have been applied)
	deletes   int  // DELETE requests the gateway receives in all
	applied   bool // the first failed attempt deleted the process (the last answers 404)
}

// TestEraseRecoversFromGatewayFaults: a failed attempt is retried later with backoff;
// after an ambiguous one the DELETE is simply sent again (idempotent: a 404 is done);
// plain retries are not audited, the outcome is, once.
func TestEraseRecoversFromGatewayFaults(t *testing.T) {
	t.Parallel()
	cases := []eraseFault{
		{name: "503 three times", fault: sandbox.Fault{Kind: sandbox.FaultUnavailable, Count: 3}, failures: 3, ambiguous: true, deletes: 4},
		{name: "429 with Retry-After", fault: sandbox.Fault{Kind: sandbox.FaultRateLimited, Count: 1, RetryAfter: 40 * time.Second}, failures: 1, deletes: 2},
		{name: "reset after the gateway deleted it", fault: sandbox.Fault{Kind: sandbox.FaultReset, Count: 1}, failures: 1, ambiguous: true, deletes: 2, applied: true},
		{name: "reset before the gateway deleted it", fault: sandbox.Fault{Kind: sandbox.FaultReset, Count: 1, NotApplied: true}, failures: 1, ambiguous: true, deletes: 2},
		// A DELETE's answer has no body the portal needs: a 200 is enough.
		{name: "malformed body of a 200", fault: sandbox.Fault{Kind: sandbox.FaultMalformed, Count: 1}, deletes: 1},
		{name: "401 once: one renewal, same attempt", fault: sandbox.Fault{Kind: sandbox.FaultUnauthorized, Count: 1}, deletes: 2},
	}
	h := newHarness(t, options{cfg: review.Config{RetryBase: time.Second, RetryMax: time.Minute}})
	admin := h.newAdmin("ada")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { h.checkEraseFault(t, admin, tc) })
	}
	h.verifyAudit()
}

// TestEraseAfterATimeoutSendsAgain: the gateway holds the DELETE beyond the client's
// timeout (and never applies it); the next attempt sends it again.
func TestEraseAfterATimeoutSendsAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{timeout: 2 * time.Second, cfg: review.Config{RetryBase: time.Second, RetryMax: time.Minute}})
	t.Cleanup(func() { h.sb.Close() })
	h.checkEraseFault(t, h.newAdmin("ada"), eraseFault{name: "timeout",
		fault: sandbox.Fault{Kind: sandbox.FaultLatency, Latency: time.Minute, Count: 1}, failures: 1, ambiguous: true, deletes: 2})
	h.verifyAudit()
}

func (h *harness) checkEraseFault(t *testing.T, admin store.Actor, tc eraseFault) {
	t.Helper()
	id := h.finals(1)[0]
	if _, err := h.svc.EraseNow(context.Background(), admin, id); err != nil {
		t.Fatalf("erase now: %v", err)
	}
	h.fault(sandbox.RouteDelete, tc.fault)
	defer h.sb.ClearFault(sandbox.RouteDelete)
	before := h.deletes()
	for i := 1; i <= tc.failures; i++ {
		if n := h.eraseOnce(); n != 1 {
			t.Fatalf("attempt %d: %d attempts, want 1", i, n)
		}
		e := h.erasure(id)
		wait := e.NextAttemptAt.Sub(h.clk.Now())
		if e.State != store.ErasureQueued || e.Attempts != i || e.Ambiguous != tc.ambiguous || e.LastError == "" || wait <= 0 {
			t.Fatalf("after failure %d: %+v (next in %v), want queued, attempt %d, ambiguous %v, an error, a later retry", i, e, wait, i, tc.ambiguous)
		}
		if tc.fault.RetryAfter > 0 && wait < tc.fault.RetryAfter {
			t.Errorf("next attempt in %v, want at least the Retry-After %v", wait, tc.fault.RetryAfter)
		}
		if strings.Contains(e.LastError, sandbox.DefaultAPISecret) {
			t.Errorf("last error carries the API secret: %q", e.LastError)
		}
		if n := h.eraseOnce(); n != 0 {
			t.Fatalf("after failure %d: %d attempts right away, want the retry later", i, n)
		}
		if i == 1 && h.atGatewayStill(id) == tc.applied {
			t.Errorf("after the first failure: at the gateway %v, want %v", h.atGatewayStill(id), !tc.applied)
		}
		h.clk.Add(wait)
	}
	if n := h.eraseOnce(); n != 1 {
		t.Fatalf("last attempt: %d attempts, want 1", n)
	}
	e := h.erasure(id)
	if e.State != store.ErasureDone || e.Attempts != tc.failures+1 {
		t.Errorf("erasure: %+v, want done after %d attempts", e, tc.failures+1)
	}
	if h.atGatewayStill(id) {
		t.Errorf("%s is still at the gateway", id)
	}
	if got := h.deletes() - before; got != tc.deletes {
		t.Errorf("DELETE requests: %d, want %d", got, tc.deletes)
	}
	var outcomes []store.AuditEvent
	for _, r := range h.audits(string(store.ActionProcessErase), id) {
		if r.ActorID == 0 {
			outcomes = append(outcomes, r)
		}
	}
	if len(outcomes) != 1 || outcomes[0].Outcome != store.OutcomeSuccess {
		t.Fatalf("erasure outcome audit: %+v, want one success (retries are not audited)", outcomes)
	}
	if got := strings.Contains(outcomes[0].Detail, "404"); got != tc.applied {
		t.Errorf("outcome %q: mentions the 404 = %v, want %v (the earlier attempt deleted it)", outcomes[0].Detail, got, tc.applied)
	}
	h.clk.Add(day)
	if n := h.eraseOnce(); n != 0 {
		t.Errorf("after the erasure: %d more attempts", n)
	}
}

// TestEraseParksAndAnAdminRetries: an erasure failing for ParkAfter is parked and
// audited; only an administrator may retry it.
func TestEraseParksAndAnAdminRetries(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{cfg: review.Config{RetryBase: time.Second, RetryMax: time.Minute, ParkAfter: time.Hour}})
	ctx := context.Background()
	admin := h.newAdmin("ada")
	id := h.finals(1)[0]
	if _, err := h.svc.EraseNow(ctx, admin, id); err != nil {
		t.Fatal(err)
	}
	h.fault(sandbox.RouteDelete, sandbox.Fault{Kind: sandbox.FaultServerError})
	h.eraseOnce()
	h.clk.Add(2 * time.Hour)
	h.eraseOnce()
	e := h.erasure(id)
	if e.State != store.ErasureParked || !strings.Contains(e.LastError, "not erased within 1h0m0s") {
		t.Fatalf("after ParkAfter: %+v, want parked saying why", e)
	}
	rows := h.audits(string(store.ActionProcessErase), id)
	if rows[0].Outcome != store.OutcomeFailure || !strings.Contains(rows[0].Detail, "parked") {
		t.Errorf("park audit: %+v", rows[0])
	}
	h.clk.Add(time.Hour)
	if h.eraseOnce() != 0 {
		t.Fatal("a parked erasure was attempted")
	}
	wantCode(t, h.svc.RetryErasure(ctx, h.actor, e.ID), review.CodeForbidden)
	if len(h.audits(string(store.ActionAccessDenied), id)) != 1 {
		t.Error("the agent's retry was not audited as denied")
	}
	h.sb.ClearFault(sandbox.RouteDelete)
	if err := h.svc.RetryErasure(ctx, admin, e.ID); err != nil {
		t.Fatalf("admin retry: %v", err)
	}
	wantCode(t, h.svc.RetryErasure(ctx, admin, e.ID), review.CodeConflict)
	if h.eraseOnce() != 1 || h.erasure(id).State != store.ErasureDone || h.atGatewayStill(id) {
		t.Errorf("after the retry: %+v, want done", h.erasure(id))
	}
	h.verifyAudit()
}

// TestEraseSurvivesACrashBetweenPurgeAndGatewayCall: the intention is committed with the
// purge; a stop at any point before the outcome is recorded leaves a queued or sending
// row, which the next start recovers and erases; the gateway deletes the process once.
func TestEraseSurvivesACrashBetweenPurgeAndGatewayCall(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		started    bool // the worker had marked it sending
		gatewayGot bool // the DELETE reached the gateway before the crash
		deletes    int  // DELETE requests after the restart
	}{
		{"before the worker took it", false, false, 1},
		{"sending, before the DELETE left", true, false, 1},
		{"sending, after the gateway deleted it", true, true, 1},
	}
	h := newHarness(t, options{})
	ctx := context.Background()
	admin := h.newAdmin("ada")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := h.finals(1)[0]
			e, err := h.svc.EraseNow(ctx, admin, id)
			if err != nil {
				t.Fatal(err)
			}
			h.wantPurged(id)
			if tc.started {
				if ok, err := h.db.StartErasure(ctx, e.ID); !ok || err != nil {
					t.Fatalf("start: %v %v", ok, err)
				}
				if h.eraseOnce() != 0 {
					t.Fatal("a sending erasure was attempted by someone else before recovery")
				}
			}
			if tc.gatewayGot {
				if err := h.client.Delete(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			// The restart: a new service on the same database runs the worker.
			before := h.deletes()
			svc := review.New(h.db, h.client, slog.New(slog.DiscardHandler), review.Config{})
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { svc.RunRetention(runCtx); close(done) }()
			deadline := time.Now().Add(20 * time.Second)
			for h.erasure(id).State != store.ErasureDone {
				if time.Now().After(deadline) {
					cancel()
					<-done
					t.Fatalf("never erased: %+v", h.erasure(id))
				}
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			<-done
			if got := h.deletes() - before; got != tc.deletes {
				t.Errorf("DELETE requests after the restart: %d, want %d", got, tc.deletes)
			}
			if h.atGatewayStill(id) {
				t.Errorf("%s is still at the gateway", id)
			}
			got := h.erasure(id)
			if got.Ambiguous != tc.started {
				t.Errorf("erasure %+v: ambiguous %v, want %v (recovered from sending)", got, got.Ambiguous, tc.started)
			}
			var outcomes int
			for _, r := range h.audits(string(store.ActionProcessErase), id) {
				if r.ActorID == 0 && r.Outcome == store.OutcomeSuccess {
					outcomes++
					if tc.gatewayGot && !strings.Contains(r.Detail, "earlier attempt") {
						t.Errorf("outcome %q: want it to say an earlier attempt deleted it", r.Detail)
					}
				}
			}
			if outcomes != 1 {
				t.Errorf("erasure outcomes audited: %d, want 1", outcomes)
			}
		})
	}
	h.verifyAudit()
}

// TestEraseNowRules: only an administrator erases; never a process in review or with an
// undelivered decision; a process whose customer never finished may be; it purges at
// once and queues the erasure whatever the periods; it is audited with the admin as
// actor, refusals too; a second request is refused.
func TestEraseNowRules(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	ctx := context.Background()
	admin := h.newAdmin("ada")
	final := h.finals(1)[0]
	inReview := h.inReviewClean(2)
	undelivered := inReview[1]
	h.decide(h.actor, accept(undelivered)) // never delivered in this test
	open := h.seed(1, "IN_PROGRESS")[0]
	h.track(open)

	denied := func(id string, code review.Code) {
		t.Helper()
		_, err := h.svc.EraseNow(ctx, h.actor, id)
		if code != review.CodeForbidden {
			_, err = h.svc.EraseNow(ctx, admin, id)
		}
		wantCode(t, err, code)
		rows := h.audits(string(store.ActionProcessErase), id)
		if len(rows) == 0 || rows[0].Outcome != store.OutcomeDenied || !strings.Contains(rows[0].Detail, string(code)) {
			t.Errorf("refusal of %s: audit %+v, want a denied row", id, rows)
		}
		h.wantKept(id)
		if _, err := h.db.ErasureOf(ctx, id); err == nil {
			t.Errorf("%s: an erasure was queued despite the refusal", id)
		}
	}
	denied(final, review.CodeForbidden)
	denied(inReview[0], review.CodeConflict)
	denied(undelivered, review.CodeConflict)

	for _, id := range []string{final, open} {
		e, err := h.svc.EraseNow(ctx, admin, id)
		if err != nil {
			t.Fatalf("erase now %s: %v", id, err)
		}
		h.wantPurged(id)
		if e.State != store.ErasureQueued || e.RequestedBy != admin.UserID {
			t.Errorf("erasure of %s: %+v, want queued, requested by the admin", id, e)
		}
		for _, action := range []store.Action{store.ActionProcessPurge, store.ActionProcessErase} {
			rows := h.audits(string(action), id)
			if len(rows) == 0 || rows[0].ActorID != admin.UserID || rows[0].IP != admin.IP || rows[0].Outcome != store.OutcomeSuccess {
				t.Errorf("%s audit of %s: %+v, want a success row by the admin", action, id, rows)
			}
		}
	}
	err := func() error { _, err := h.svc.EraseNow(ctx, admin, final); return err }()
	if e := wantCode(t, err, review.CodeConflict); e != nil && !strings.Contains(e.Message, "under way") {
		t.Errorf("second request: %q", e.Message)
	}
	if n := h.eraseOnce(); n != 2 {
		t.Fatalf("erasure attempts: %d, want 2", n)
	}
	err = func() error { _, err := h.svc.EraseNow(ctx, admin, final); return err }()
	if e := wantCode(t, err, review.CodeConflict); e != nil && !strings.Contains(e.Message, "already erased") {
		t.Errorf("request after the erasure: %q", e.Message)
	}
	_, err = h.svc.EraseNow(ctx, admin, "no-such-process")
	wantCode(t, err, review.CodeNotFound)
	if h.deletes() != 2 || h.atGatewayStill(final) || h.atGatewayStill(open) || !h.atGatewayStill(inReview[0]) {
		t.Errorf("gateway after the erasures: %d DELETE requests", h.deletes())
	}
	h.verifyAudit()
}

// TestRetentionSettingsAreChecked: the periods are whole numbers of days in range; a
// refused form stores nothing; only an administrator changes them.
func TestRetentionSettingsAreChecked(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{cfg: review.Config{Retention: 120 * day, EraseAfter: 400 * day}})
	ctx := context.Background()
	admin := h.newAdmin("ada")
	if got, _ := h.svc.RetentionSettings(ctx); got != (review.Retention{KeepDays: 120, EraseDays: 400}) {
		t.Errorf("defaults: %+v, want the configuration's 120 / 400", got)
	}
	bad := []struct{ keep, erase, field string }{
		{"0", "0", review.FieldRetentionDays},
		{"36501", "0", review.FieldRetentionDays},
		{"ninety", "0", review.FieldRetentionDays},
		{"1.5", "0", review.FieldRetentionDays},
		{"", "0", review.FieldRetentionDays},
		{"90", "-1", review.FieldEraseAfterDays},
		{"90", "36501", review.FieldEraseAfterDays},
		{"90", "30d", review.FieldEraseAfterDays},
	}
	for _, tc := range bad {
		_, err := h.svc.SetRetention(ctx, admin, tc.keep, tc.erase)
		if e := wantField(t, err, review.CodeInvalid, tc.field); e != nil && (e.Fields[tc.field] == "" || !strings.Contains(e.Message, "36500")) {
			t.Errorf("%q/%q: %+v, want a message naming the range", tc.keep, tc.erase, e)
		}
	}
	if _, err := h.svc.SetRetention(ctx, admin, "0", "-1"); err != nil {
		if e := review.ErrorOf(err); e == nil || len(e.Fields) != 2 {
			t.Errorf("both wrong: %v, want a message per field", err)
		}
	}
	_, err := h.svc.SetRetention(ctx, h.actor, "30", "0")
	wantCode(t, err, review.CodeForbidden)
	if got, _ := h.svc.RetentionSettings(ctx); got != (review.Retention{KeepDays: 120, EraseDays: 400}) {
		t.Errorf("after refused changes: %+v, want the defaults", got)
	}
	h.setRetention(admin, " 36500 ", "")
	if got, _ := h.svc.RetentionSettings(ctx); got != (review.Retention{KeepDays: 36500, EraseDays: 0}) {
		t.Errorf("after saving: %+v, want 36500 days, never erase", got)
	}
	if rows := h.audits(string(store.ActionSettingChange), store.SettingRetentionDays); len(rows) != 1 || rows[0].ActorID != admin.UserID {
		t.Errorf("setting audit: %+v", rows)
	}
}

// TestEraseIsNotSentForAProcessBackInReview: Mobbscan puts a process back into review
// after its erasure was queued; the index takes its data back, and the worker does not
// delete it under the agents' feet: the erasure fails, for an administrator to look at.
func TestEraseIsNotSentForAProcessBackInReview(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	ctx := context.Background()
	admin := h.newAdmin("ada")
	id := h.finals(1)[0]
	if _, err := h.svc.EraseNow(ctx, admin, id); err != nil {
		t.Fatal(err)
	}
	if err := h.client.Pending(ctx, id); err != nil {
		t.Fatalf("pending: %v", err)
	}
	if _, err := h.svc.Info(ctx, admin, id, true); err != nil {
		t.Fatalf("info: %v", err)
	}
	if p := h.get(id); !p.Reviewable || !p.PurgedAt.IsZero() || p.HolderName == "" {
		t.Fatalf("back in review: %+v, want reviewable with its data, not purged", p)
	}
	if n := h.eraseOnce(); n != 1 {
		t.Fatalf("attempts: %d, want 1", n)
	}
	e := h.erasure(id)
	if e.State != store.ErasureFailed || !strings.Contains(e.LastError, "in review") {
		t.Errorf("erasure: %+v, want failed saying the process is in review", e)
	}
	if h.deletes() != 0 || !h.atGatewayStill(id) {
		t.Errorf("the process was deleted at the gateway while in review")
	}
	h.verifyAudit()
}
