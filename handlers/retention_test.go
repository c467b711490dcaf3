package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/store"
)

const eraseWarning = "This clears the identity data here and deletes the process at Mobbscan. It cannot be undone."

func erasePath(id string) string { return "/admin/processes/" + id + "/erase" }

func processURLOf(id string) string { return "/processes/" + id }

func adminActor(u *store.User) store.Actor {
	return store.Actor{UserID: u.ID, Role: u.Role, Email: u.Email, IP: "192.0.2.10", RequestID: "req-test"}
}

// TestRetentionSettingsForm: the settings page shows the effective periods with the
// server's limits; out-of-range values come back with a message beside the field and
// change nothing; valid ones are stored and audited; agents are refused.
func TestRetentionSettingsForm(t *testing.T) {
	f := newFixture(t)
	stored := func() int {
		return f.countRows("SELECT count(*) FROM settings WHERE key IN (?, ?)", store.SettingRetentionDays, store.SettingEraseAfterDays)
	}

	r := f.adminB.get("/admin/settings")
	wantPage(t, r, http.StatusOK, "settings page")
	for _, s := range []string{`data-testid="retention-form"`, `name="retention_days"`, `value="90"`, `name="erase_after_days"`, `value="0"`,
		`max="36500"`, `min="1"`, "Keep identity data of final processes for", `data-testid="no-erasures"`} {
		if !strings.Contains(r.Body, s) {
			t.Errorf("settings page lacks %s", s)
		}
	}

	bad := []struct{ keep, erase, field, message string }{
		{"0", "0", "retention_days", "a whole number from 1 to 36500"},
		{"36501", "0", "retention_days", "a whole number from 1 to 36500"},
		{"ninety", "0", "retention_days", "a whole number from 1 to 36500"},
		{"90", "-5", "erase_after_days", "Enter 0 to never erase processes at Mobbscan"},
		{"90", "99999", "erase_after_days", "Enter 0 to never erase processes at Mobbscan"},
	}
	for _, tc := range bad {
		r := f.adminB.submit("/admin/settings", "/admin/settings/retention", formOf("retention_days", tc.keep, "erase_after_days", tc.erase))
		wantPage(t, r, http.StatusUnprocessableEntity, "retention "+tc.keep+"/"+tc.erase)
		if !hasTestID(r.Body, "err-"+tc.field) || !strings.Contains(r.Body, esc(tc.message)) {
			t.Errorf("%s/%s: no message %q beside %s: %s", tc.keep, tc.erase, tc.message, tc.field, r)
		}
		if !strings.Contains(r.Body, `value="`+esc(tc.keep)+`"`) || !strings.Contains(r.Body, `value="`+esc(tc.erase)+`"`) {
			t.Errorf("%s/%s: the typed values are not shown again", tc.keep, tc.erase)
		}
		if n := stored(); n != 0 {
			t.Fatalf("%s/%s: %d settings stored, want none", tc.keep, tc.erase, n)
		}
	}

	before := f.countAudit(string(store.ActionSettingChange), store.OutcomeSuccess)
	r = f.adminB.submit("/admin/settings", "/admin/settings/retention", formOf("retention_days", "30", "erase_after_days", "365"))
	if r.Code != http.StatusSeeOther || r.location() != "/admin/settings?done=settings-saved#retention" {
		t.Fatalf("valid retention: got %s, want 303 back to the settings", r)
	}
	page := f.adminB.get("/admin/settings?done=settings-saved")
	if !strings.Contains(page.Body, `value="30"`) || !strings.Contains(page.Body, `value="365"`) || !strings.Contains(page.Body, "Settings saved.") {
		t.Errorf("after saving: the page does not show 30 / 365 and the confirmation")
	}
	if got := f.countAudit(string(store.ActionSettingChange), store.OutcomeSuccess) - before; got != 2 {
		t.Errorf("setting.change rows: %d, want 2", got)
	}
	for _, e := range f.audit(string(store.ActionSettingChange)) {
		if e.ObjectID == store.SettingRetentionDays && (e.ActorID != f.admin.ID || !strings.Contains(e.Detail, `"30"`)) {
			t.Errorf("retention setting audit: %+v", e)
		}
	}

	denied := f.countAudit(string(store.ActionAccessDenied), store.OutcomeDenied)
	if r := f.agentB.post("/admin/settings/retention", formOf("retention_days", "1", "erase_after_days", "1")); r.Code != http.StatusForbidden {
		t.Errorf("agent: got %s, want 403", r)
	}
	if f.countAudit(string(store.ActionAccessDenied), store.OutcomeDenied) != denied+1 {
		t.Error("the agent's attempt was not audited")
	}
	if v, _ := f.db.Setting(context.Background(), store.SettingRetentionDays, ""); v != "30" {
		t.Errorf("after the agent's attempt: %q, want 30", v)
	}
}

// finalAtGateway seeds a process that is final at the sandbox and indexes it.
func (g *gw) finalAtGateway() string {
	g.t.Helper()
	ids, err := g.sb.Seed(sandbox.SeedSpec{Count: 1, States: []string{"VERIFIED"}, Silent: true})
	if err != nil {
		g.t.Fatal(err)
	}
	p, err := g.rv.Track(context.Background(), adminActor(g.admin), ids[0])
	if err != nil || !p.Final || p.HolderName == "" {
		g.t.Fatalf("track %s: %+v %v", ids[0], p, err)
	}
	return ids[0]
}

// TestEraseNowConfirmationFlow: an admin sees "Erase now" on the process page, confirms
// on a page that says what it does, and the POST purges at once and queues the erasure
// (audited as the admin); the worker then deletes the process at the gateway. Agents
// see no control and get 403.
func TestEraseNowConfirmationFlow(t *testing.T) {
	g := newGateway(t)
	id := g.finalAtGateway()
	holder := g.process(id).HolderName

	r := g.agentB.get(processURLOf(id))
	wantPage(t, r, http.StatusOK, "agent's process page")
	if hasTestID(r.Body, "erase-control") || strings.Contains(r.Body, erasePath(id)) {
		t.Error("an agent is offered the erase control")
	}
	r = g.adminB.get(processURLOf(id))
	wantPage(t, r, http.StatusOK, "admin's process page")
	if !hasTestID(r.Body, "erase-now") || !strings.Contains(r.Body, `href="`+erasePath(id)+`"`) {
		t.Fatalf("admin's process page has no Erase now link: %s", r)
	}

	denied := g.countAudit(string(store.ActionAccessDenied), store.OutcomeDenied)
	if r := g.agentB.get(erasePath(id)); r.Code != http.StatusForbidden {
		t.Errorf("agent GET: got %s, want 403", r)
	}
	if r := g.agentB.post(erasePath(id), nil); r.Code != http.StatusForbidden {
		t.Errorf("agent POST: got %s, want 403", r)
	}
	if got := g.countAudit(string(store.ActionAccessDenied), store.OutcomeDenied) - denied; got != 2 {
		t.Errorf("agent's denials audited: %d, want 2", got)
	}
	if p := g.process(id); !p.PurgedAt.IsZero() {
		t.Fatal("the agent's POST purged the process")
	}

	r = g.adminB.get(erasePath(id))
	wantPage(t, r, http.StatusOK, "erase confirmation")
	if !strings.Contains(r.Body, esc(eraseWarning)) || !hasTestID(r.Body, "erase-form") || !strings.Contains(r.Body, esc(holder)) {
		t.Fatalf("confirmation page lacks the warning, the form or the holder: %s", r)
	}
	r = g.adminB.post(erasePath(id), nil)
	if r.Code != http.StatusSeeOther || r.location() != erasePath(id) {
		t.Fatalf("confirm: got %s, want 303 to the erase page", r)
	}
	p := g.process(id)
	if p.PurgedAt.IsZero() || p.HolderName != "" || p.CustomerRef != "" {
		t.Errorf("after Erase now: %+v, want purged at once", p)
	}
	e, err := g.db.ErasureOf(context.Background(), id)
	if err != nil || e.State != store.ErasureQueued || e.RequestedBy != g.admin.ID {
		t.Fatalf("erasure: %+v %v, want queued by the admin", e, err)
	}
	for _, action := range []store.Action{store.ActionProcessPurge, store.ActionProcessErase} {
		var mine int
		for _, row := range g.audit(string(action)) {
			if row.ObjectID == id && row.ActorID == g.admin.ID && row.Outcome == store.OutcomeSuccess {
				mine++
				if strings.Contains(row.Detail, holder) {
					t.Errorf("%s audit carries the holder's name: %q", action, row.Detail)
				}
			}
		}
		if mine != 1 {
			t.Errorf("%s audit rows by the admin: %d, want 1", action, mine)
		}
	}
	r = g.adminB.get(erasePath(id))
	wantPage(t, r, http.StatusOK, "erase page after the request")
	if hasTestID(r.Body, "erase-form") || !hasTestID(r.Body, "purged") || !strings.Contains(r.Body, ">Queued<") {
		t.Errorf("erase page after the request: want purged, queued, no form: %s", r)
	}
	r = g.adminB.post(erasePath(id), nil)
	wantPage(t, r, http.StatusConflict, "second Erase now")
	if !strings.Contains(r.Body, "already under way") {
		t.Errorf("second Erase now: %s", r)
	}

	if n, err := g.rv.EraseOnce(context.Background()); n != 1 || err != nil {
		t.Fatalf("erase worker: %d %v", n, err)
	}
	if _, ok := g.sb.Get(id); ok {
		t.Error("the process is still at the gateway")
	}
	r = g.adminB.get(erasePath(id))
	if !strings.Contains(r.Body, ">Erased<") {
		t.Errorf("erase page after the erasure: %s", r)
	}
	r = g.adminB.post(erasePath(id), nil)
	if r.Code != http.StatusConflict || !strings.Contains(r.Body, "already erased") {
		t.Errorf("Erase now of an erased process: got %s, want 409", r)
	}
	if r := g.adminB.get(erasePath("no-such-process")); r.Code != http.StatusNotFound {
		t.Errorf("unknown process: got %s, want 404", r)
	}
}

// TestEraseNowRefusedWhileInTheWorkflow: a process in review, or with a decision the
// gateway does not have yet, is not erased: the page says why, the POST answers 409,
// and the refusal is audited.
func TestEraseNowRefusedWhileInTheWorkflow(t *testing.T) {
	g := newGateway(t)
	ctx := context.Background()
	inReview := g.reviewable(2)
	undelivered := inReview[1]
	if _, err := g.db.Decide(ctx, adminActor(g.agent), store.NewDecision{ProcessID: undelivered, Verdict: store.VerdictAccept},
		func(*store.Case) error { return nil }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ id, why string }{
		{inReview[0], "This process is in review."},
		{undelivered, "has not reached Mobbscan yet"},
	} {
		r := g.adminB.get(erasePath(tc.id))
		wantPage(t, r, http.StatusOK, "erase page of "+tc.id)
		if hasTestID(r.Body, "erase-form") || !hasTestID(r.Body, "erase-blocked") || !strings.Contains(r.Body, tc.why) {
			t.Errorf("erase page of %s: want no form and why (%q): %s", tc.id, tc.why, r)
		}
		r = g.adminB.post(erasePath(tc.id), nil)
		wantPage(t, r, http.StatusConflict, "Erase now of "+tc.id)
		if !hasTestID(r.Body, "erase-notice") || !strings.Contains(r.Body, tc.why) {
			t.Errorf("refused Erase now of %s: %s", tc.id, r)
		}
		var refusals int
		for _, row := range g.audit(string(store.ActionProcessErase)) {
			if row.ObjectID == tc.id && row.Outcome == store.OutcomeDenied && row.ActorID == g.admin.ID {
				refusals++
			}
		}
		if refusals != 1 {
			t.Errorf("refusals of %s audited: %d, want 1", tc.id, refusals)
		}
		if p := g.process(tc.id); !p.PurgedAt.IsZero() || p.HolderName == "" {
			t.Errorf("%s was purged despite the refusal", tc.id)
		}
	}
	if n := g.countRows("SELECT count(*) FROM erasures"); n != 0 {
		t.Errorf("erasures: %d, want none", n)
	}
}

// TestEraseRetryFromTheSettingsPage: parked and refused erasures are listed on the
// settings page with "Retry now"; an admin's retry queues them again.
func TestEraseRetryFromTheSettingsPage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	snap := store.Snapshot{ID: "proc-1", Status: "VERIFIED", RawStatus: "VERIFIED", Stage: "DONE", Final: true,
		UpdatedAt: f.clock.Now().Add(-time.Hour), Country: "ESP", DocType: "IDCard", HolderName: "Ana García", CustomerRef: "C-1"}
	if _, err := f.db.UpsertProcess(ctx, store.SourceWebhook, snap, f.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	e, err := f.db.EraseNow(ctx, adminActor(f.admin), "proc-1", "erase now", func(*store.ErasureCase) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := f.db.StartErasure(ctx, e.ID); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := f.db.FinishErasure(ctx, e, store.ErasureOutcome{State: store.ErasureParked, Audit: true, Error: "not erased within 24h0m0s"}); err != nil {
		t.Fatal(err)
	}

	r := f.adminB.get("/admin/settings")
	wantPage(t, r, http.StatusOK, "settings with a parked erasure")
	if !strings.Contains(r.Body, `data-state="parked"`) || !hasTestID(r.Body, "erasure-retry") || !strings.Contains(r.Body, "not erased within 24h0m0s") {
		t.Fatalf("settings page does not list the parked erasure with Retry now: %s", r)
	}
	retry := "/admin/erasures/" + idStr(e.ID) + "/retry"
	if r := f.agentB.post(retry, nil); r.Code != http.StatusForbidden {
		t.Errorf("agent retry: got %s, want 403", r)
	}
	r = f.adminB.post(retry, nil)
	if r.Code != http.StatusSeeOther || r.location() != "/admin/settings?erasure=retried#erasures" {
		t.Fatalf("retry: got %s, want 303 to the list", r)
	}
	page := f.adminB.get("/admin/settings?erasure=retried")
	if !hasTestID(page.Body, "erasures-notice") || !strings.Contains(page.Body, `data-state="queued"`) || hasTestID(page.Body, "erasure-retry") {
		t.Errorf("after the retry: want the notice and the erasure queued: %s", page)
	}
	if got, _ := f.db.GetErasure(ctx, e.ID); got.State != store.ErasureQueued {
		t.Errorf("erasure: %+v, want queued", got)
	}
	if r := f.adminB.post(retry, nil); r.Code != http.StatusConflict {
		t.Errorf("retry of a queued erasure: got %s, want 409", r)
	}
	if r := f.adminB.post("/admin/erasures/999/retry", nil); r.Code != http.StatusNotFound {
		t.Errorf("retry of an unknown erasure: got %s, want 404", r)
	}
}
