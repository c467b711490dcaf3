package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/store"
)

// TestProcessUnknownIsDenied: process routes answer 404 for ids the portal does not
// know, malformed or not, and audit the denial (Z2); the gateway is not asked.
func TestProcessUnknownIsDenied(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	g.reviewable(1)
	long := strings.Repeat("a", 300)
	tests := []struct {
		method, path, objectID string
	}{
		{"GET", "/processes/no-such-process", "no-such-process"},
		// Echo hands over the path parameter as sent when the path needs its raw form.
		{"GET", "/processes/" + url.PathEscape("<script>alert(1)</script>"), url.PathEscape("<script>alert(1)</script>")},
		{"GET", "/processes/" + url.PathEscape("bad id"), "bad id"},
		{"GET", "/processes/" + long, long[:128]},
		{"POST", "/processes/no-such-process/claim", "no-such-process"},
		{"POST", "/processes/no-such-process/heartbeat", "no-such-process"},
		{"POST", "/processes/no-such-process/release", "no-such-process"},
		{"GET", "/processes/no-such-process/evidence/document_front", "no-such-process"},
		{"GET", "/processes/no-such-process/evidence.zip", "no-such-process"},
	}
	before := g.gatewayRequests()
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path[:min(len(tt.path), 60)], func(t *testing.T) {
			n := g.countAudit("access.denied", store.OutcomeDenied)
			var r *response
			if tt.method == "GET" {
				r = g.agentB.get(tt.path)
			} else {
				r = g.agentB.post(tt.path, nil)
			}
			if r.Code != http.StatusNotFound {
				t.Fatalf("got %s, want 404", r)
			}
			wantNoLeak(t, r, tt.path)
			if strings.Contains(r.Body, "<script>alert(1)") {
				t.Errorf("the id is echoed unescaped")
			}
			ev := g.audit("access.denied")
			if got := len(ev); got != n+1 {
				t.Fatalf("access.denied rows: %d, want %d", got, n+1)
			}
			last := ev[len(ev)-1]
			if last.ObjectID != tt.objectID || last.ActorID != g.agent.ID || last.Outcome != store.OutcomeDenied {
				t.Errorf("audit row: object %q, user %d, outcome %q; want %q, %d, %q", last.ObjectID, last.ActorID, last.Outcome, tt.objectID, g.agent.ID, store.OutcomeDenied)
			}
		})
	}
	if got := g.gatewayRequests(); got != before {
		t.Errorf("gateway requests for unknown processes: %d, want 0", got-before)
	}
}

// TestProcessClaims: opening a process claims it with a same-origin POST, never by a
// GET (D6); a second agent sees who reviews it and may take it over; heartbeats keep
// the page's claim and tell the loser; release frees it.
func TestProcessClaims(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	id := g.reviewable(1)[0]
	path := "/processes/" + id
	beat := func(b *browser, seq int64) *response {
		return b.post(path+"/heartbeat?seq="+idStr(seq), nil, htmxHeader)
	}

	// A navigation from another site shows the process read-only and claims nothing.
	r := g.agentB.get(path, header{"Sec-Fetch-Site", "cross-site"}, header{"Sec-Fetch-Mode", "navigate"})
	wantPage(t, r, http.StatusOK, "cross-site navigation to the process")
	if !hasTestID(r.Body, "not-claimed") || strings.Contains(r.Body, "data-auto-submit") || hasTestID(r.Body, "evidence-document_front") {
		t.Errorf("cross-site page: want the unclaimed notice, no auto-claim, no evidence: %s", r)
	}
	// The portal's own link gets the page that claims at once.
	r = g.agentB.get(path, header{"Sec-Fetch-Site", "same-origin"})
	if !hasTestID(r.Body, "claim-form") || !strings.Contains(r.Body, "data-auto-submit") {
		t.Errorf("same-origin page: want the auto-submitted claim form: %s", r)
	}
	if p := g.process(id); p.ClaimedBy != 0 {
		t.Fatalf("a GET claimed the process for %d", p.ClaimedBy)
	}
	claimed := g.agentB.post(path+"/claim", nil)
	if claimed.Code != http.StatusSeeOther || !strings.HasPrefix(claimed.location(), path+"?claimed=") {
		t.Fatalf("claim: got %s, want 303 to %s?claimed=…", claimed, path)
	}
	r = g.agentB.get(claimed.location())
	wantPage(t, r, http.StatusOK, "agent opens the process")
	if !hasTestID(r.Body, "claim-mine") || hasTestID(r.Body, "gateway-alert") {
		t.Errorf("agent's page: want claim-mine and no gateway alert: %s", r)
	}
	if p := g.process(id); p.ClaimedBy != g.agent.ID {
		t.Fatalf("claimed by %d, want the agent %d", p.ClaimedBy, g.agent.ID)
	}
	if got := g.countAudit("process.claim", store.OutcomeSuccess); got != 1 {
		t.Errorf("process.claim rows: %d, want 1", got)
	}
	if got := g.countAudit("process.view", store.OutcomeSuccess); got != 1 {
		t.Errorf("process.view rows: %d, want 1", got)
	}
	// Reopening renews the claim without another claim row.
	g.agentB.post(path+"/claim", nil)
	g.agentB.get(path)
	if got := g.countAudit("process.claim", ""); got != 1 {
		t.Errorf("process.claim rows after reopening: %d, want 1", got)
	}
	agentSeq := g.process(id).ClaimSeq

	r = g.agent2B.get(path)
	wantPage(t, r, http.StatusOK, "second agent opens the process")
	if !strings.Contains(r.Body, "Being reviewed by") || !strings.Contains(r.Body, "Alan Agent") || !hasTestID(r.Body, "take-over") {
		t.Errorf("second agent's page does not show the claim: %s", r)
	}
	if p := g.process(id); p.ClaimedBy != g.agent.ID {
		t.Errorf("claim moved to %d by merely looking, want the agent %d", p.ClaimedBy, g.agent.ID)
	}

	r = g.agent2B.post(path+"/claim", nil)
	if r.Code != http.StatusConflict || !strings.Contains(r.Body, "Alan Agent") {
		t.Errorf("claim without takeover: got %s, want 409 naming the holder", r)
	}
	r = g.agent2B.post(path+"/claim", formOf("takeover", "1"))
	if r.Code != http.StatusSeeOther || !strings.HasPrefix(r.location(), path+"?claimed=") {
		t.Fatalf("takeover: got %s, want 303 to %s?claimed=…", r, path)
	}
	if p := g.process(id); p.ClaimedBy != g.agent2.ID {
		t.Fatalf("after takeover claimed by %d, want agent2 %d", p.ClaimedBy, g.agent2.ID)
	}
	if got := g.countAudit("process.takeover", store.OutcomeSuccess); got != 1 {
		t.Errorf("process.takeover rows: %d, want 1", got)
	}

	r = beat(g.agentB, agentSeq)
	if r.Code != http.StatusConflict || !strings.Contains(r.Body, "Bea Checker") {
		t.Errorf("heartbeat of the lost claim: got %s, want 409 naming the new holder", r)
	}
	seq2 := g.process(id).ClaimSeq
	if r := beat(g.agent2B, seq2); r.Code != http.StatusNoContent {
		t.Errorf("holder's heartbeat: got %s, want 204", r)
	}
	if r := beat(g.agent2B, 0); r.Code != http.StatusConflict {
		t.Errorf("heartbeat without the page's claim: got %s, want 409", r)
	}
	// A heartbeat renews: after 4 + 4 minutes with a heartbeat between, the claim holds.
	g.clock.Advance(4 * time.Minute)
	beat(g.agent2B, seq2)
	g.clock.Advance(4 * time.Minute)
	if p := g.process(id); !p.ClaimActive(g.clock.Now()) || p.ClaimedBy != g.agent2.ID {
		t.Errorf("claim after heartbeats: %+v, want still agent2's", p)
	}
	// Take it back with htmx: 204 with HX-Redirect.
	r = g.agentB.post(path+"/claim", formOf("takeover", "1"), htmxHeader)
	if r.Code != http.StatusNoContent || !strings.HasPrefix(r.Header.Get("HX-Redirect"), path+"?claimed=") {
		t.Errorf("htmx takeover: got %s, want 204 with HX-Redirect %s", r, path)
	}

	// Releasing someone else's claim changes nothing; the holder's release frees it.
	if r := g.agent2B.post(path+"/release", nil); r.Code != http.StatusSeeOther {
		t.Errorf("release by a non-holder: got %s, want 303", r)
	}
	if p := g.process(id); p.ClaimedBy != g.agent.ID {
		t.Errorf("non-holder's release moved the claim to %d", p.ClaimedBy)
	}
	if r := g.agentB.post(path+"/release", nil); r.Code != http.StatusSeeOther || r.location() != "/queue" {
		t.Errorf("release: got %s, want 303 to /queue", r)
	}
	if p := g.process(id); p.ClaimedBy != 0 {
		t.Errorf("after release claimed by %d, want nobody", p.ClaimedBy)
	}
	if got := g.countAudit("process.release", store.OutcomeSuccess); got != 1 {
		t.Errorf("process.release rows: %d, want 1", got)
	}
	// The page's beacon on leaving (text/plain) and htmx get 204.
	g.agentB.post(path+"/claim", nil)
	for _, hs := range [][]header{{htmxHeader}, {{"Content-Type", "text/plain;charset=UTF-8"}}} {
		if r := g.agentB.post(path+"/release", nil, hs...); r.Code != http.StatusNoContent {
			t.Errorf("release with %v: got %s, want 204", hs, r)
		}
	}
	// A heartbeat after the claim expired and nobody took it keeps it: still the page's claim.
	g.agentB.post(path+"/claim", nil)
	seq := g.process(id).ClaimSeq
	g.clock.Advance(6 * time.Minute)
	if r := beat(g.agentB, seq); r.Code != http.StatusNoContent {
		t.Errorf("heartbeat after an untaken expiry: got %s, want 204", r)
	}
	if p := g.process(id); !p.ClaimActive(g.clock.Now()) || p.ClaimSeq != seq {
		t.Errorf("claim after the late heartbeat: %+v, want the same claim renewed", p)
	}
}

// TestProcessNotReviewable: a process that is not in review is shown but cannot be
// claimed (409).
func TestProcessNotReviewable(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	ids, err := g.sb.Seed(sandbox.SeedSpec{Count: 1, States: []string{"VERIFIED"}, Silent: true})
	if err != nil {
		t.Fatal(err)
	}
	if r := g.agentB.post("/processes/track", formOf("id", ids[0])); r.Code != http.StatusSeeOther {
		t.Fatalf("track: got %s, want 303", r)
	}
	path := "/processes/" + ids[0]
	r := g.agentB.get(path)
	wantPage(t, r, http.StatusOK, "decided process")
	if hasTestID(r.Body, "claim-mine") {
		t.Errorf("a decided process was claimed")
	}
	if r := g.agentB.post(path+"/claim", nil); r.Code != http.StatusConflict {
		t.Errorf("claim of a decided process: got %s, want 409", r)
	}
	if r := g.agentB.post(path+"/heartbeat", nil, htmxHeader); r.Code != http.StatusConflict {
		t.Errorf("heartbeat on a decided process: got %s, want 409", r)
	}
	if got := g.countAudit("process.claim", ""); got != 0 {
		t.Errorf("process.claim rows: %d, want 0", got)
	}
}

// TestProcessGatewayFailing: whatever the gateway does wrong, the process page renders
// with the banner and the index data, never a 500; the claim still works.
func TestProcessGatewayFailing(t *testing.T) {
	t.Parallel()
	g := newGateway(t, withClientTimeouts(300*time.Millisecond, time.Second))
	faults := []sandbox.FaultKind{sandbox.FaultUnavailable, sandbox.FaultServerError, sandbox.FaultRateLimited,
		sandbox.FaultMalformed, sandbox.FaultTruncated, sandbox.FaultReset, sandbox.FaultLatency, sandbox.FaultUnauthorized}
	ids := g.reviewable(len(faults))
	// Let the information cached at ingestion go stale.
	g.clock.Advance(time.Minute)
	for i, kind := range faults {
		t.Run(string(kind), func(t *testing.T) {
			f := sandbox.Fault{Kind: kind}
			if kind == sandbox.FaultLatency {
				f.Latency = time.Minute
			}
			g.fault(sandbox.RouteProcess, f)
			defer g.sb.ClearFault(sandbox.RouteProcess)
			holder := g.process(ids[i]).HolderName
			c := g.agentB.post("/processes/"+ids[i]+"/claim", nil)
			if c.Code != http.StatusSeeOther {
				t.Fatalf("claim: %s", c)
			}
			r := g.agentB.get(c.location())
			wantPage(t, r, http.StatusOK, "process page with a failing gateway")
			if !hasTestID(r.Body, "gateway-alert") || !strings.Contains(r.Body, "not answering") {
				t.Errorf("no gateway banner: %s", r)
			}
			if !strings.Contains(r.Body, esc(holder)) {
				t.Errorf("index data (holder %q) not shown", holder)
			}
			if !hasTestID(r.Body, "claim-mine") {
				t.Errorf("the claim is not shown")
			}
			if p := g.process(ids[i]); p.ClaimedBy != g.agent.ID || p.Gone {
				t.Errorf("process after a failed fetch: claimed by %d, gone %v; want the agent's, not gone", p.ClaimedBy, p.Gone)
			}
			// D7: Accept is disabled and refused; Reject works.
			if tag := regexp.MustCompile(`<button[^>]*data-testid="accept-submit"[^>]*>`).FindString(r.Body); !strings.Contains(tag, "disabled") {
				t.Errorf("Accept is not disabled without the data: %q", tag)
			}
			if !hasTestID(r.Body, "accept-missing") || !strings.Contains(r.Body, "the identity data and checks") {
				t.Errorf("the page does not say what is missing: %s", r)
			}
			claim := idStr(g.process(ids[i]).ClaimSeq)
			form := formOf("verdict", "accept", "claim", claim)
			form["confirm"] = g.process(ids[i]).Failed
			a := g.agentB.post("/processes/"+ids[i]+"/accept", form)
			if a.Code != http.StatusConflict || !strings.Contains(a.Body, "the identity data and checks") {
				t.Errorf("blind accept: got %s, want 409 saying what is missing", a)
			}
			if hasTestID(a.Body, "decision-locked") || !hasTestID(a.Body, "form-error") {
				t.Errorf("blind accept: want the message on the live form, not a locked panel: %s", a)
			}
			if n := g.countRows("SELECT count(*) FROM decisions WHERE process_id = ?", ids[i]); n != 0 {
				t.Errorf("a blind accept was recorded")
			}
			if i == 0 {
				reasons, _ := g.db.ListReasons(context.Background(), true)
				rj := g.agentB.post("/processes/"+ids[i]+"/reject", formOf("verdict", "reject", "claim", claim, "reason", idStr(reasons[0].ID)))
				if rj.Code != http.StatusSeeOther {
					t.Errorf("reject with the gateway failing: got %s, want 303", rj)
				}
			}
		})
	}
	// Recovered: retry=1 fetches again and the banner goes.
	r := g.agentB.get("/processes/" + ids[1] + "?retry=1")
	if !strings.Contains(r.Body, `action="/processes/`+ids[1]+`/claim?retry=1"`) {
		t.Fatalf("the page of one's own claim claims again and keeps retry=1: %s", r)
	}
	c := g.agentB.post("/processes/"+ids[1]+"/claim?retry=1", nil)
	if c.Code != http.StatusSeeOther || !strings.HasSuffix(c.location(), "&retry=1") {
		t.Fatalf("claim with retry: %s", c)
	}
	r = g.agentB.get(c.location())
	if r.Code != http.StatusOK || hasTestID(r.Body, "gateway-alert") || !hasTestID(r.Body, "claim-mine") {
		t.Errorf("after recovery: got %s, want 200 without the banner", r)
	}

	// A process the gateway no longer knows: banner, and it leaves the queue.
	g.indexSnapshot(store.Snapshot{ID: "deleted-at-gateway", UpdatedAt: g.clock.Now(), Country: "ESP", DocType: "IDCard", HolderName: "Gone Person"})
	r = g.agentB.get(g.agentB.post("/processes/deleted-at-gateway/claim", nil).location())
	wantPage(t, r, http.StatusOK, "process unknown to the gateway")
	if !hasTestID(r.Body, "gateway-alert") || !strings.Contains(r.Body, "no longer knows") {
		t.Errorf("no 'no longer knows' banner: %s", r)
	}
	if p := g.process("deleted-at-gateway"); !p.Gone || p.Reviewable {
		t.Errorf("process unknown to the gateway: gone %v, reviewable %v; want gone, not reviewable", p.Gone, p.Reviewable)
	}
}

// TestScoresOutOfRange: scores outside [0, 1] from the gateway are shown as invalid
// data, never as a percentage or styled as good, in the queue and on the page.
func TestScoresOutOfRange(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	high, low, good := 1.5, -0.2, 0.91
	g.indexSnapshot(store.Snapshot{ID: "odd-scores", UpdatedAt: g.clock.Now().Add(-time.Hour), Country: "ESP", DocType: "IDCard",
		HolderName: "Odd Scores", Scores: [3]*float64{&high, &low, &good}})
	r := g.agentB.get("/queue")
	wantPage(t, r, http.StatusOK, "queue")
	if n := strings.Count(r.Body, `data-level="invalid"`); n != 2 || !strings.Contains(r.Body, "91%") {
		t.Errorf("queue: %d invalid scores shown (want 2) and 91%% present=%t", n, strings.Contains(r.Body, "91%"))
	}
	g.fault(sandbox.RouteProcess, sandbox.Fault{Kind: sandbox.FaultUnavailable}) // the page shows the index's scores
	defer g.sb.ClearFault(sandbox.RouteProcess)
	c := g.agentB.post("/processes/odd-scores/claim", nil)
	if c.Code != http.StatusSeeOther {
		t.Fatalf("claim: %s", c)
	}
	r = g.agentB.get(c.location())
	wantPage(t, r, http.StatusOK, "process page")
	if n := strings.Count(r.Body, `data-testid="score-invalid"`); n != 2 {
		t.Errorf("process page: %d invalid scores shown, want 2", n)
	}
	for _, bad := range []string{"-9223372036854775808", "150%", "-20%", `score-good" aria-label="Face`} {
		if strings.Contains(r.Body, bad) || strings.Contains(r.Body, esc(bad)) {
			t.Errorf("process page shows %q", bad)
		}
	}
}

// TestReloadClaimsAgain (D6): a visit to the page of a process one holds that is not
// the claim's own redirect (a reload, a second tab) claims it again with a new number,
// so the release the replaced page sends as it goes ends nothing.
func TestReloadClaimsAgain(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	id := g.reviewable(1)[0]
	page := decOpen(t, g, g.agentB, id)
	seq := decClaim(page)
	claims := g.countAudit("process.claim", store.OutcomeSuccess)

	r := g.agentB.get(decPath(id, "")) // the reload
	if !hasTestID(r.Body, "claim-form") || !strings.Contains(r.Body, "data-auto-submit") || hasTestID(r.Body, "decision-panel") {
		t.Fatalf("reload of one's own claim: want the page that claims again: %s", r)
	}
	c := g.agentB.post(decPath(id, "claim"), nil)
	reloaded := g.agentB.get(c.location())
	if !hasTestID(reloaded.Body, "decision-panel") || decClaim(reloaded) == seq {
		t.Fatalf("after claiming again: want the panel with a new claim number (old %s): %s", seq, reloaded)
	}
	// The replaced page's release, with its old number, arrives last.
	g.agentB.post(decPath(id, "release")+"?seq="+seq, nil, header{"Content-Type", "text/plain"})
	if p := g.process(id); p.ClaimedBy != g.agent.ID || idStr(p.ClaimSeq) != decClaim(reloaded) {
		t.Fatalf("the old page's release ended the new page's claim: %+v", p)
	}
	if got := g.countAudit("process.claim", store.OutcomeSuccess); got != claims {
		t.Errorf("process.claim rows %d, want %d: claiming one's own claim again is a renewal", got, claims)
	}
}
