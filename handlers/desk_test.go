package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/mobbscan-review/portal/store"
)

// deskURL finds the action of the form with data-testid on page (the URLs carry the
// page's claim).
func deskURL(t *testing.T, body, testid string) string {
	t.Helper()
	i := strings.Index(body, `data-testid="`+testid+`"`)
	if i < 0 {
		t.Fatalf("no %s on the page", testid)
	}
	j := strings.LastIndex(body[:i], `action="`)
	if j < 0 {
		t.Fatalf("no form around %s", testid)
	}
	rest := body[j+len(`action="`):]
	return strings.ReplaceAll(rest[:strings.Index(rest, `"`)], "&amp;", "&")
}

// TestSkipKeepsCaseOutOfNextCase: "Skip" releases the claim the page holds, audits it and
// keeps the case out of that agent's "Next case" (another agent still gets it); the
// queue says so.
func TestSkipKeepsCaseOutOfNextCase(t *testing.T) {
	g := newGateway(t)
	ids := g.reviewable(2)
	next := g.agentB.post("/queue/next", nil)
	oldest, _, ok := strings.Cut(strings.TrimPrefix(next.location(), "/processes/"), "?claimed=")
	if next.Code != http.StatusSeeOther || !ok {
		t.Fatalf("first next case: %s", next)
	}
	other := ids[0]
	if other == oldest {
		other = ids[1]
	}
	page := g.agentB.get(next.location())
	wantPage(t, page, http.StatusOK, "claimed page")
	skip := deskURL(t, page.Body, "skip")
	r := g.agentB.post(skip, nil)
	if r.Code != http.StatusSeeOther || r.location() != "/queue?done=skipped" {
		t.Fatalf("skip: got %s, want 303 to the queue", r)
	}
	if p := g.process(oldest); p.ClaimedBy != 0 {
		t.Errorf("after skip the claim is still held by %d", p.ClaimedBy)
	}
	if n := g.countAudit(string(store.ActionProcessSkip), store.OutcomeSuccess); n != 1 {
		t.Errorf("process.skip audit rows: %d, want 1", n)
	}
	q := g.agentB.get("/queue?done=skipped")
	if !strings.Contains(q.Body, "stays out of your next case for 30 min") {
		t.Errorf("queue notice after skip missing: %s", q.Body[:min(len(q.Body), 400)])
	}
	if r := g.agentB.post("/queue/next", nil); r.Code != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/processes/"+other+"?") {
		t.Fatalf("next case after skip: %s, want the other case %s", r, other)
	}
	if r := g.agent2B.post("/queue/next", nil); r.Code != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/processes/"+oldest+"?") {
		t.Fatalf("another agent's next case: %s, want the skipped case %s", r, oldest)
	}
	// A stale page (its claim gone) cannot skip: the page comes back with why.
	if r := g.agentB.post(skip, nil); r.Code != http.StatusConflict || !hasTestID(r.Body, "process-head") {
		t.Errorf("skip with a stale claim: got %s, want 409 with the page", r)
	}
}

// TestEscalateToAdmins: the agent escalates with a note (a blank or bad note comes back
// beside the field with the text kept); the case leaves the queue for the Escalated
// view, agents may not claim it, an admin claims it and may return it to the queue.
func TestEscalateToAdmins(t *testing.T) {
	g := newGateway(t)
	id := g.reviewable(1)[0]
	page := decOpen(t, g, g.agentB, id)
	esc := deskURL(t, page.Body, "escalate-submit")

	r := g.agentB.post(esc, formOf("escalation_note", "   "))
	wantPage(t, r, http.StatusUnprocessableEntity, "blank escalation note")
	if !hasTestID(r.Body, "err-escalation-note") {
		t.Errorf("blank note: no message beside the field")
	}
	bad := "Looks odd\u202e reversed"
	r = g.agentB.post(esc, formOf("escalation_note", bad))
	wantPage(t, r, http.StatusUnprocessableEntity, "escalation note with a bidi override")
	if !hasTestID(r.Body, "err-escalation-note") || !strings.Contains(r.Body, "Looks odd") {
		t.Errorf("bad note: the message or the typed text is missing")
	}
	if n := g.countRows("SELECT count(*) FROM processes WHERE escalated_at IS NOT NULL"); n != 0 {
		t.Fatalf("a refused escalation escalated %d cases", n)
	}

	r = g.agentB.post(esc, formOf("escalation_note", "Document looks tampered; please check the MRZ."))
	if r.Code != http.StatusSeeOther || r.location() != "/queue?done=escalated" {
		t.Fatalf("escalate: got %s", r)
	}
	p := g.process(id)
	if !p.Escalated() || p.ClaimedBy != 0 || p.EscalationNote == "" {
		t.Fatalf("after escalating: %+v", p)
	}
	q := g.agentB.get("/queue")
	if strings.Contains(q.Body, `data-id="`+id+`"`) {
		t.Error("the escalated case is still in the queue view")
	}
	ev := g.agentB.get("/queue?view=escalated")
	if !strings.Contains(ev.Body, `data-id="`+id+`"`) || !strings.Contains(ev.Body, "please check the MRZ") {
		t.Error("the Escalated view does not list the case with its note")
	}
	if r := g.agentB.post("/queue/next", nil); r.Code != http.StatusSeeOther || !strings.Contains(r.location(), "empty=1") {
		t.Errorf("next case with only an escalated case: %s, want the empty queue", r)
	}
	if r := g.agentB.post(decPath(id, "claim"), nil); r.Code != http.StatusForbidden || !strings.Contains(r.Body, "only an administrator may decide it") {
		t.Errorf("agent claims the escalated case: got %s, want 403 with why", r)
	}
	if r := g.agentB.post("/admin/processes/"+id+"/deescalate", nil); r.Code != http.StatusForbidden {
		t.Errorf("agent de-escalates: got %s, want 403", r)
	}

	admin := decOpen(t, g, g.adminB, id)
	if !hasTestID(admin.Body, "escalated") || !hasTestID(admin.Body, "deescalate") || hasTestID(admin.Body, "escalate-form") {
		t.Error("the admin's page lacks the escalation, its withdrawal, or offers escalating again")
	}
	if r := g.adminB.post("/admin/processes/"+id+"/deescalate", nil); r.Code != http.StatusSeeOther {
		t.Fatalf("de-escalate: got %s", r)
	}
	if g.process(id).Escalated() {
		t.Error("still escalated after its withdrawal")
	}
	if n := g.countAudit(string(store.ActionProcessEscalate), store.OutcomeSuccess); n != 2 {
		t.Errorf("process.escalate audit rows: %d, want 2 (escalated, returned)", n)
	}
}

// TestSendBackToReview: an admin sends a finished process back with a reason; the
// outbox worker calls the gateway's pending endpoint and the process is back in the
// queue. A blank reason comes back beside the field; agents get 403.
func TestSendBackToReview(t *testing.T) {
	g := newGateway(t)
	id := g.finalAtGateway()
	page := g.adminB.get(processURLOf(id))
	wantPage(t, page, http.StatusOK, "admin's page of a final process")
	if !hasTestID(page.Body, "send-back-form") {
		t.Fatal("no send-back form for the admin")
	}
	if r := g.agentB.get(processURLOf(id)); hasTestID(r.Body, "send-back") {
		t.Error("an agent is offered the send-back")
	}
	if r := g.agentB.post("/admin/processes/"+id+"/send-back", formOf("send_back_reason", "x")); r.Code != http.StatusForbidden {
		t.Errorf("agent: got %s, want 403", r)
	}
	r := g.adminB.post("/admin/processes/"+id+"/send-back", formOf("send_back_reason", ""))
	wantPage(t, r, http.StatusUnprocessableEntity, "blank reason")
	if !hasTestID(r.Body, "err-send-back-reason") {
		t.Error("blank reason: no message beside the field")
	}
	r = g.adminB.post("/admin/processes/"+id+"/send-back", formOf("send_back_reason", "Customer complaint: re-check"))
	if r.Code != http.StatusSeeOther {
		t.Fatalf("send back: got %s", r)
	}
	if r := g.adminB.post("/admin/processes/"+id+"/send-back", formOf("send_back_reason", "again")); r.Code != http.StatusConflict {
		t.Errorf("a second request while one is open: got %s, want 409", r)
	}
	if n, err := g.rv.SendBackOnce(context.Background()); err != nil || n != 1 {
		t.Fatalf("SendBackOnce: %d %v", n, err)
	}
	p := g.process(id)
	if !p.Reviewable || p.Final {
		t.Fatalf("after the send-back: %+v, want back in review", p)
	}
	if q := g.agentB.get("/queue"); !strings.Contains(q.Body, `data-id="`+id+`"`) {
		t.Error("the process is not back in the queue")
	}
	if n := g.countAudit(string(store.ActionProcessSendBack), store.OutcomeSuccess); n != 2 {
		t.Errorf("process.send_back rows: %d, want 2 (requested, done)", n)
	}
}

// TestDeskSettingsForm: the skip time and the QA sample are validated beside their
// fields, stored and audited; agents are refused.
func TestDeskSettingsForm(t *testing.T) {
	f := newFixture(t)
	r := f.adminB.get("/admin/settings")
	if !hasTestID(r.Body, "desk-form") || !strings.Contains(r.Body, `name="skip_minutes"`) {
		t.Fatal("no desk form on the settings page")
	}
	r = f.adminB.submit("/admin/settings", "/admin/settings/desk", formOf("skip_minutes", "0", "qa_sample_percent", "101"))
	wantPage(t, r, http.StatusUnprocessableEntity, "bad desk settings")
	for _, id := range []string{"err-skip_minutes", "err-qa_sample_percent"} {
		if !hasTestID(r.Body, id) {
			t.Errorf("no %s", id)
		}
	}
	r = f.adminB.submit("/admin/settings", "/admin/settings/desk", formOf("skip_minutes", "45", "qa_sample_percent", "10"))
	if r.Code != http.StatusSeeOther {
		t.Fatalf("save: %s", r)
	}
	if v, _ := f.db.Setting(context.Background(), store.SettingQASamplePercent, ""); v != "10" {
		t.Errorf("sample stored %q, want 10", v)
	}
	if r := f.agentB.post("/admin/settings/desk", formOf("skip_minutes", "1", "qa_sample_percent", "0")); r.Code != http.StatusForbidden {
		t.Errorf("agent: got %s, want 403", r)
	}
}
