package handlers_test

// Deciding: accept and reject from the process page's forms, the bad input that must
// change nothing (D1, Z2), four-eyes confirmation and overturn, delivery state and
// retry, and the audit rows of each (L1). Everything goes through the real router, a
// real SQLite file, the real review.Service and mobbscan client against the sandbox
// (newGateway); delivery runs by calling the worker's step, DeliverOnce.

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/store"
)

// decFailed are the failed checks of the processes whose accept needs confirmations.
var decFailed = []string{sandbox.ValidationLiveness, sandbox.ValidationFacialMatching}

// decPath is a process URL with an optional suffix ("accept", "delivery/retry", ...).
func decPath(id, suffix string) string {
	p := "/processes/" + id
	if suffix != "" {
		p += "/" + suffix
	}
	return p
}

// decSeed seeds one process in review at the sandbox, indexes it and returns its id.
// failed nil gives a clean process (no failed checks).
func decSeed(t *testing.T, g *gw, failed []string) string {
	t.Helper()
	spec := sandbox.SeedSpec{Outcome: "clean"}
	if len(failed) > 0 {
		spec.Failed = failed
	}
	id := g.seedReview(1, spec)[0]
	g.ingest(id)
	if got := slices.Sorted(slices.Values(g.process(id).Failed)); !slices.Equal(got, slices.Sorted(slices.Values(failed))) {
		t.Fatalf("process %s failed checks %v, want %v", id, got, failed)
	}
	return id
}

// decOpen opens the process page as b does in a browser: the page claims the process
// with a same-origin POST (D6), then its images load (D7). It fails unless the
// decision forms are on the page, and returns that page.
func decOpen(t *testing.T, g *gw, b *browser, id string) *response {
	t.Helper()
	r := b.get(decPath(id, ""))
	if r.Code == http.StatusOK && hasTestID(r.Body, "claim-form") {
		c := b.post(decPath(id, "claim"), nil)
		if c.Code != http.StatusSeeOther {
			t.Fatalf("claim %s: got %s, want 303", id, c)
		}
		r = b.get(c.location())
	}
	if r.Code != http.StatusOK || !hasTestID(r.Body, "decision-panel") {
		t.Fatalf("open %s: got %s, want 200 with the decision panel", id, r)
	}
	decLoadEvidence(t, b, r.Body)
	return r
}

var decImgRE = regexp.MustCompile(`<img [^>]*?src="(/processes/[^"]+/evidence/[a-z_]+)"`)

// decLoadEvidence fetches the page's evidence images, as the browser does.
func decLoadEvidence(t *testing.T, b *browser, body string) {
	t.Helper()
	for _, m := range decImgRE.FindAllStringSubmatch(body, -1) {
		if r := b.get(html.UnescapeString(m[1])); r.Code != http.StatusOK {
			t.Fatalf("evidence %s: got %s, want 200", m[1], r)
		}
	}
}

var decInputRE = regexp.MustCompile(`name="(claim|orig\.[^"]*|field\.[^"]*|corrections_seen)" value="([^"]*)"`)

// decForm is what the page's forms send: the page's claim, every correction input
// untouched with its original (a text input's value loses its line breaks, as HTML's
// value sanitization does), and the summary of corrections the page shows; then kv on
// top (a key in kv replaces the page's value).
func decForm(page *response, kv ...string) url.Values {
	f := url.Values{}
	for _, m := range decInputRE.FindAllStringSubmatch(page.Body, -1) {
		v := html.UnescapeString(m[2])
		if strings.HasPrefix(m[1], "field.") {
			v = strings.NewReplacer("\r", "", "\n", "").Replace(v)
		}
		f.Set(m[1], v)
	}
	extra := formOf(kv...)
	for k := range extra {
		f.Del(k)
	}
	for k, vs := range extra {
		f[k] = append(f[k], vs...)
	}
	return f
}

// decClaim is the claim sequence a page was rendered with.
func decClaim(page *response) string { return decForm(page).Get("claim") }

// wantDecided fails unless r is the redirect after a decision: to the next case, or to
// the queue when none is left.
func wantDecided(t *testing.T, r *response, what string) {
	t.Helper()
	if loc := r.location(); r.Code != http.StatusSeeOther || !strings.Contains(loc, "done=decided") ||
		!strings.HasPrefix(loc, "/processes/") && !strings.HasPrefix(loc, "/queue?") {
		t.Errorf("%s: got %s, want 303 to the next case or the queue with done=decided", what, r)
	}
}

// decReason returns the catalogue's reason with code.
func decReason(t *testing.T, g *gw, code string) *store.Reason {
	t.Helper()
	list, err := g.db.ListReasons(context.Background(), false)
	if err != nil {
		t.Fatalf("ListReasons: %v", err)
	}
	for _, r := range list {
		if r.Code == code {
			return r
		}
	}
	t.Fatalf("no reason %q", code)
	return nil
}

// decLive returns the process's live decision, or nil when it has none.
func decLive(t *testing.T, g *gw, id string) *store.Decision {
	t.Helper()
	d, err := g.db.LiveDecision(context.Background(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("LiveDecision %s: %v", id, err)
	}
	return d
}

// decCount counts the decision rows of a process, overturned ones included.
func decCount(g *gw, id string) int {
	return g.countRows("SELECT count(*) FROM decisions WHERE process_id = ?", id)
}

// decAuditCount counts the audit rows of a process whose action starts with prefix,
// refusals (decision.refused) aside.
func decAuditCount(g *gw, id, prefix string) int {
	return g.countRows("SELECT count(*) FROM audit_events WHERE object_id = ? AND action LIKE ? AND action <> 'decision.refused'", id, prefix+"%")
}

// decRefusals counts the refused decisions audited on a process.
func decRefusals(g *gw, id string) int {
	return g.countRows("SELECT count(*) FROM audit_events WHERE object_id = ? AND action = 'decision.refused' AND outcome = 'denied'", id)
}

// wantNothingDecided fails unless the process has no decision, no decision audit row
// and is still in review, undecided.
func wantNothingDecided(t *testing.T, g *gw, id, what string) {
	t.Helper()
	if n := decCount(g, id); n != 0 {
		t.Errorf("%s: %d decision rows, want 0", what, n)
	}
	if n := decAuditCount(g, id, "decision."); n != 0 {
		t.Errorf("%s: %d decision.* audit rows, want 0", what, n)
	}
	if p := g.process(id); !p.Reviewable || p.Decided {
		t.Errorf("%s: process reviewable=%t decided=%t, want still in review", what, p.Reviewable, p.Decided)
	}
}

// wantFragment fails unless r is the htmx error fragment with status and msg.
func wantFragment(t *testing.T, r *response, status int, msg, what string) {
	t.Helper()
	if r.Code != status {
		t.Errorf("%s: got %s, want %d", what, r, status)
	}
	if !hasTestID(r.Body, "error-fragment") || strings.Contains(r.Body, "<html") {
		t.Errorf("%s: want just the error fragment, got %q", what, r.Body)
	}
	if !strings.Contains(r.Body, esc(msg)) {
		t.Errorf("%s: fragment lacks %q: %q", what, msg, r.Body)
	}
	wantNoLeak(t, r, what)
}

// decDeliver runs the delivery worker's step until nothing is due.
func decDeliver(t *testing.T, g *gw) {
	t.Helper()
	for range 10 {
		n, err := g.rv.DeliverOnce(context.Background())
		if err != nil {
			t.Fatalf("DeliverOnce: %v", err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatalf("DeliverOnce still attempting after 10 rounds")
}

// decTag returns the opening tag of the element with data-testid id ("" when none).
func decTag(body, id string) string {
	return regexp.MustCompile(`<[a-z]+[^>]*data-testid="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindString(body)
}

// decTextarea returns the content of the textarea with id (and whether it is there).
func decTextarea(body, id string) (string, bool) {
	m := regexp.MustCompile(`<textarea id="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)</textarea>`).FindStringSubmatch(body)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// decFormOpen reports whether the form with data-testid id is the open one.
func decFormOpen(body, id string) bool {
	tag := decTag(body, id)
	return regexp.MustCompile(`class="[^"]*\bopen\b`).MatchString(tag)
}

var decStateRE = regexp.MustCompile(`data-testid="delivery-state">([^<]*)<`)

// decState returns the label of the delivery state on a page or fragment.
func decState(body string) string {
	if m := decStateRE.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// TestDecideBadInput: every kind of bad input on the agent's own claim gets 422 with a
// clear message where it belongs, the agent's input comes back, nothing changes, and
// each refusal is audited.
func TestDecideBadInput(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	ctx := context.Background()
	id := decSeed(t, g, decFailed)
	page := decOpen(t, g, g.agentB, id)
	for _, f := range []string{"field-name", "field-dateOfBirth", "field-documentNumber"} {
		if !hasTestID(page.Body, f) {
			t.Fatalf("the accept form has no correction input %s: %s", f, page)
		}
	}
	face := decReason(t, g, "face-mismatch")
	retired := decReason(t, g, "under-age")
	if err := g.db.SetReasonActive(ctx, store.System, retired.ID, false); err != nil {
		t.Fatal(err)
	}
	reason := idStr(face.ID)
	form := func(kv ...string) url.Values { return decForm(page, kv...) }
	allConfirmed := func(kv ...string) url.Values {
		f := form(kv...)
		if f.Get("verdict") == "" {
			f.Set("verdict", "accept")
		}
		f["confirm"] = slices.Clone(decFailed)
		return f
	}
	const (
		msgReason   = "Choose a reason for the rejection."
		msgUnknown  = "That reason is unknown or retired; choose another."
		msgTampered = "The form was tampered with: its verdict does not match the button. Nothing was recorded."
		msgConfirm  = "Confirm each failed check before accepting: tick every box above."
		msgAddition = "The addition to the customer is too long: 500 characters at most (you wrote 501)."
		msgNote     = "The internal note is too long: 2000 characters at most (you wrote 2001)."
		msgBlank    = "Enter a value; to keep what was read, undo your change."
	)
	tests := []struct {
		name   string
		action string // accept or reject
		form   url.Values
		errID  string // data-testid of the message: err-<field> or form-error
		msg    string // the message, or its start when it ends with "…"
		open   string // the form shown open again
		check  func(t *testing.T, body string)
	}{
		{
			name: "reject without a reason", action: "reject",
			form:  form("verdict", "reject", "addition", "Please use the <b>original</b>.", "note", "Looked twice & unsure"),
			errID: "err-reason", msg: msgReason, open: "reject-form",
			check: func(t *testing.T, body string) {
				if got, _ := decTextarea(body, "reject-addition"); got != esc("Please use the <b>original</b>.") {
					t.Errorf("addition not kept: %q", got)
				}
				if got, _ := decTextarea(body, "reject-note"); got != esc("Looked twice & unsure") {
					t.Errorf("note not kept: %q", got)
				}
				if !strings.Contains(body, `aria-describedby="err-reason"`) {
					t.Errorf("the reason fieldset does not point at its message")
				}
			},
		},
		{
			name: "unknown reason id", action: "reject",
			form:  form("verdict", "reject", "reason", "987654"),
			errID: "err-reason", msg: msgUnknown, open: "reject-form",
		},
		{
			name: "retired reason", action: "reject",
			form:  form("verdict", "reject", "reason", idStr(retired.ID), "addition", "kept"),
			errID: "err-reason", msg: msgUnknown, open: "reject-form",
			check: func(t *testing.T, body string) {
				if hasTestID(body, "reason-"+idStr(retired.ID)) {
					t.Errorf("the retired reason is offered")
				}
				if got, _ := decTextarea(body, "reject-addition"); got != "kept" {
					t.Errorf("addition not kept: %q", got)
				}
			},
		},
		{
			name: "non-numeric reason", action: "reject",
			form:  form("verdict", "reject", "reason", "face-mismatch"),
			errID: "err-reason", msg: msgReason, open: "reject-form",
		},
		{
			name: "zero reason", action: "reject",
			form:  form("verdict", "reject", "reason", "0"),
			errID: "err-reason", msg: msgReason, open: "reject-form",
		},
		{
			name: "negative reason", action: "reject",
			form:  form("verdict", "reject", "reason", "-3"),
			errID: "err-reason", msg: msgReason, open: "reject-form",
		},
		{
			name: "over-long addition", action: "reject",
			form:  form("verdict", "reject", "reason", reason, "addition", strings.Repeat("é", 501)),
			errID: "err-addition", msg: msgAddition, open: "reject-form",
			check: func(t *testing.T, body string) {
				if tag := decTag(body, "reason-"+reason); !strings.Contains(tag, " checked") {
					t.Errorf("the chosen reason is not kept: %s", tag)
				}
			},
		},
		{
			name: "addition with a NUL", action: "reject",
			form:  form("verdict", "reject", "reason", reason, "addition", "Sorry\x00"),
			errID: "err-addition", msg: "The addition to the customer contains …", open: "reject-form",
		},
		{
			name: "addition on two lines", action: "reject",
			form:  form("verdict", "reject", "reason", reason, "addition", "Line one\r\nLine two"),
			errID: "err-addition", msg: "The addition to the customer contains a line break at character 9; it must be on one line.", open: "reject-form",
		},
		{
			name: "addition with a right-to-left override", action: "reject",
			form:  form("verdict", "reject", "reason", reason, "addition", "Please \u202Eecnalab"),
			errID: "err-addition", msg: "The addition to the customer contains an invisible direction-control character at character 8; …", open: "reject-form",
		},
		{
			name: "over-long note on a reject", action: "reject",
			form:  form("verdict", "reject", "reason", reason, "note", strings.Repeat("n", 2001)),
			errID: "err-note", msg: msgNote, open: "reject-form",
		},
		{
			// The note's message must not land under the reasons just because none
			// was chosen yet.
			name: "over-long note on a reject without a reason", action: "reject",
			form:  form("verdict", "reject", "note", strings.Repeat("n", 2001)),
			errID: "err-note", msg: msgNote, open: "reject-form",
		},
		{
			name: "forged verdict reject posted to accept", action: "accept",
			form:  allConfirmed("verdict", "reject"),
			errID: "form-error", msg: msgTampered, open: "accept-form",
		},
		{
			name: "forged verdict accept posted to reject", action: "reject",
			form:  form("verdict", "accept", "reason", reason),
			errID: "form-error", msg: msgTampered, open: "reject-form",
		},
		{
			name: "unknown verdict value", action: "reject",
			form:  form("verdict", "maybe", "reason", reason),
			errID: "form-error", msg: msgTampered, open: "reject-form",
		},
		{
			name: "accept with no confirmation", action: "accept",
			form:  form("verdict", "accept", "note", "no boxes"),
			errID: "err-confirm", msg: msgConfirm, open: "accept-form",
			check: func(t *testing.T, body string) {
				for _, code := range decFailed {
					if tag := decTag(body, "confirm-"+code); tag == "" || strings.Contains(tag, " checked") {
						t.Errorf("confirm %s: %q, want present and unticked", code, tag)
					}
				}
				if got, _ := decTextarea(body, "accept-note"); got != "no boxes" {
					t.Errorf("note not kept: %q", got)
				}
			},
		},
		{
			name: "accept with one of two confirmations", action: "accept",
			form:  form("verdict", "accept", "confirm", decFailed[0], "field.name", "Corrected Given"),
			errID: "err-confirm", msg: msgConfirm, open: "accept-form",
			check: func(t *testing.T, body string) {
				if tag := decTag(body, "confirm-"+decFailed[0]); !strings.Contains(tag, " checked") {
					t.Errorf("the ticked confirmation is not kept checked: %q", tag)
				}
				if tag := decTag(body, "confirm-"+decFailed[1]); tag == "" || strings.Contains(tag, " checked") {
					t.Errorf("the unticked confirmation: %q, want present and unticked", tag)
				}
				if tag := decTag(body, "field-name"); !strings.Contains(tag, `value="Corrected Given"`) || !strings.Contains(tag, "corrected") {
					t.Errorf("the correction is not kept and highlighted: %q", tag)
				}
			},
		},
		{
			name: "correction of a field that does not exist", action: "accept",
			form:  allConfirmed("field.nickname", "Bob"),
			errID: "err-fields", msg: "The corrections include a field this process does not have…", open: "accept-form",
			check: func(t *testing.T, body string) {
				for _, code := range decFailed {
					if tag := decTag(body, "confirm-"+code); !strings.Contains(tag, " checked") {
						t.Errorf("confirm %s not kept checked: %q", code, tag)
					}
				}
			},
		},
		{
			name: "date of birth that is not a date", action: "accept",
			form:  allConfirmed("field.dateOfBirth", "sometime in the 80s"),
			errID: "err-field-dateOfBirth", msg: "…", open: "accept-form",
			check: func(t *testing.T, body string) {
				if tag := decTag(body, "field-dateOfBirth"); !strings.Contains(tag, `value="sometime in the 80s"`) || !strings.Contains(tag, `aria-invalid="true"`) {
					t.Errorf("the bad date is not kept and marked: %q", tag)
				}
			},
		},
		{
			name: "blank document number", action: "accept",
			form:  allConfirmed("field.documentNumber", "  "),
			errID: "err-field-documentNumber", msg: msgBlank, open: "accept-form",
		},
		{
			name: "over-long correction", action: "accept",
			form:  allConfirmed("field.name", strings.Repeat("x", 201)),
			errID: "err-field-name", msg: "…", open: "accept-form",
		},
		{
			name: "correction on two lines", action: "accept",
			form:  allConfirmed("field.name", "Ann\nBob"),
			errID: "err-field-name", msg: "…", open: "accept-form",
		},
		{
			name: "over-long note on an accept", action: "accept",
			form:  allConfirmed("note", strings.Repeat("n", 2001)),
			errID: "err-note", msg: msgNote, open: "accept-form",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refusals := decRefusals(g, id)
			r := g.agentB.post(decPath(id, tt.action), tt.form)
			wantPage(t, r, http.StatusUnprocessableEntity, tt.name)
			tag := decTag(r.Body, tt.errID)
			if tag == "" {
				t.Fatalf("no %s in the answer: %s", tt.errID, r)
			}
			shown := html.UnescapeString(regexp.MustCompile(`data-testid="` + regexp.QuoteMeta(tt.errID) + `"[^>]*>([^<]*)<`).FindStringSubmatch(r.Body)[1])
			if want, prefix := strings.CutSuffix(tt.msg, "…"); shown == "" || prefix && !strings.HasPrefix(shown, want) || !prefix && shown != want {
				t.Errorf("message %q, want %q", shown, tt.msg)
			}
			for _, other := range []string{"err-reason", "err-addition", "err-confirm", "err-fields", "err-note", "form-error", "err-field-name", "err-field-dateOfBirth", "err-field-documentNumber"} {
				if other != tt.errID && hasTestID(r.Body, other) {
					t.Errorf("also a message in %s: want only %s", other, tt.errID)
				}
			}
			if !decFormOpen(r.Body, tt.open) {
				t.Errorf("the %s is not shown open again", tt.open)
			}
			if tt.check != nil {
				tt.check(t, r.Body)
			}
			wantNothingDecided(t, g, id, tt.name)
			if got := decRefusals(g, id); got != refusals+1 {
				t.Errorf("decision.refused audit rows: %d new, want 1", got-refusals)
			}
		})
	}
	if p := g.process(id); p.ClaimedBy != g.agent.ID {
		t.Errorf("after bad input the claim is %d's, want still the agent's %d", p.ClaimedBy, g.agent.ID)
	}
	// And after all that, a good form still decides.
	r := g.agentB.post(decPath(id, "reject"), form("verdict", "reject", "reason", reason))
	wantDecided(t, r, "good reject after bad input")
}

// TestDecideCorrections (D8): only changed fields are corrections; they are sent only
// after the agent saw them summarised old → new; an accept without corrections needs
// no gateway at all, is queued while the gateway is down and delivered once it is back.
func TestDecideCorrections(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	id := decSeed(t, g, nil)
	page := decOpen(t, g, g.agentB, id)
	old := decForm(page).Get("orig.dateOfBirth")
	if old == "" {
		t.Fatalf("no date of birth on the page")
	}
	// The first submit shows the summary and records nothing.
	r := g.agentB.post(decPath(id, "accept"), decForm(page, "verdict", "accept", "field.dateOfBirth", " 1991-02-03 ", "note", "kept"))
	wantPage(t, r, http.StatusUnprocessableEntity, "accept with a correction not yet confirmed")
	summary := decTag(r.Body, "corrections-summary")
	if summary == "" || !strings.Contains(r.Body, esc(old)+"</bdi> → <bdi>1991-02-03</bdi>") {
		t.Errorf("no old → new summary of the correction: %s", r)
	}
	if got, _ := decTextarea(r.Body, "accept-note"); got != "kept" {
		t.Errorf("note not kept: %q", got)
	}
	wantNothingDecided(t, g, id, "correction awaiting confirmation")
	if n := decRefusals(g, id); n != 0 {
		t.Errorf("the confirmation step was audited as a refusal (%d rows)", n)
	}
	// Sent again as shown: recorded with only the changed field.
	again := decForm(&response{Body: r.Body}, "verdict", "accept")
	if again.Get("corrections_seen") == "" {
		t.Fatalf("the page carries no summary to confirm: %s", r)
	}
	wantDecided(t, g.agentB.post(decPath(id, "accept"), again), "confirmed correction")
	d := decLive(t, g, id)
	if d == nil || len(d.Corrections) != 1 || d.Corrections["dateOfBirth"] != "1991-02-03" {
		t.Fatalf("decision %+v, want only dateOfBirth corrected", d)
	}

	// No corrections, gateway down: queued without a gateway call, delivered later.
	id2 := decSeed(t, g, nil)
	page2 := decOpen(t, g, g.agentB, id2)
	g.clock.Advance(time.Minute) // past the information cache
	for _, route := range []string{sandbox.RouteProcess, sandbox.RouteAccept, sandbox.RouteStatus} {
		g.fault(route, sandbox.Fault{Kind: sandbox.FaultUnavailable})
	}
	before := g.gatewayRequests()
	wantDecided(t, g.agentB.post(decPath(id2, "accept"), decForm(page2, "verdict", "accept")), "accept without corrections, gateway down")
	if got := g.gatewayRequests(); got != before {
		t.Errorf("gateway requests while deciding: %d, want 0", got-before)
	}
	if d := decLive(t, g, id2); d == nil || d.State != store.StateQueued || len(d.Corrections) != 0 {
		t.Fatalf("decision %+v, want queued without corrections", d)
	}
	for _, route := range []string{sandbox.RouteProcess, sandbox.RouteAccept, sandbox.RouteStatus} {
		g.sb.ClearFault(route)
	}
	decDeliver(t, g)
	if d := decLive(t, g, id2); d.State != store.StateDelivered {
		t.Errorf("after the gateway came back: %+v, want delivered", d)
	}
}

// TestDecideHTMXFormError: an htmx request with bad input gets the error fragment with
// the message, not a whole page to swap in; nothing changes.
func TestDecideHTMXFormError(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	id := decSeed(t, g, decFailed)
	page := decOpen(t, g, g.agentB, id)
	tests := []struct {
		name, action string
		form         url.Values
		msg          string
	}{
		{"reject without a reason", "reject", decForm(page, "verdict", "reject"), "Choose a reason for the rejection."},
		{"accept without confirmations", "accept", decForm(page, "verdict", "accept"), "Confirm each failed check before accepting: tick every box above."},
		{"forged verdict", "accept", decForm(page, "verdict", "reject"), "The form was tampered with: its verdict does not match the button. Nothing was recorded."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := g.agentB.post(decPath(id, tt.action), tt.form, htmxHeader)
			wantFragment(t, r, http.StatusUnprocessableEntity, tt.msg, tt.name)
			wantNothingDecided(t, g, id, tt.name)
		})
	}
}

// TestDecideOthersClaim (D6): only the agent holding the claim the page was rendered
// with may decide; another agent, a scripted post without a claim and a stale page of
// the same agent get 409 saying why, whatever the form holds; nothing changes and each
// refusal is audited.
func TestDecideOthersClaim(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	clean := decSeed(t, g, nil)
	failed := decSeed(t, g, decFailed)
	cleanPage := decOpen(t, g, g.agentB, clean)
	failedPage := decOpen(t, g, g.agentB, failed)
	reason := idStr(decReason(t, g, "face-mismatch").ID)
	const held = "Alan Agent is reviewing this process now; only the agent holding it may decide."
	tests := []struct {
		name, id, action string
		form             url.Values
		htmx             bool
	}{
		{"valid reject with the holder's page", clean, "reject", decForm(cleanPage, "verdict", "reject", "reason", reason), false},
		{"valid accept with the holder's page", clean, "accept", decForm(cleanPage, "verdict", "accept"), false},
		{"valid reject by htmx", clean, "reject", decForm(cleanPage, "verdict", "reject", "reason", reason), true},
		{"scripted reject without a claim", clean, "reject", formOf("verdict", "reject", "reason", reason), false},
		{"scripted accept without a claim", clean, "accept", formOf("verdict", "accept"), false},
		{"reject without a reason", clean, "reject", formOf("verdict", "reject"), false},
		{"accept without the confirmations", failed, "accept", decForm(failedPage, "verdict", "accept"), false},
		{"accept with confirmations", failed, "accept", decForm(failedPage, "verdict", "accept", "confirm", decFailed[0], "confirm", decFailed[1]), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refusals := decRefusals(g, tt.id)
			var r *response
			if tt.htmx {
				r = g.agent2B.post(decPath(tt.id, tt.action), tt.form, htmxHeader)
				wantFragment(t, r, http.StatusConflict, held, tt.name)
			} else {
				r = g.agent2B.post(decPath(tt.id, tt.action), tt.form)
				wantPage(t, r, http.StatusConflict, tt.name)
				if !strings.Contains(r.Body, esc(held)) {
					t.Errorf("answer does not name the holder: %s", r)
				}
			}
			wantNothingDecided(t, g, tt.id, tt.name)
			if p := g.process(tt.id); p.ClaimedBy != g.agent.ID {
				t.Errorf("claim moved to %d", p.ClaimedBy)
			}
			if got := decRefusals(g, tt.id); got != refusals+1 {
				t.Errorf("decision.refused audit rows: %d new, want 1", got-refusals)
			}
		})
	}

	// The holder's own scripted post without the page's claim, and a page made stale by
	// opening the process again elsewhere, are refused too; the text typed comes back
	// in a locked form.
	scripted := g.agentB.post(decPath(clean, "reject"), formOf("verdict", "reject", "reason", reason, "addition", "typed text"))
	wantPage(t, scripted, http.StatusConflict, "the holder's post without the page's claim")
	if !hasTestID(scripted.Body, "decision-locked") {
		t.Errorf("a refused post without a claim does not come back locked: %s", scripted)
	}
	if got, _ := decTextarea(scripted.Body, "reject-addition"); got != "typed text" {
		t.Errorf("the typed addition was lost: %q", got)
	}
	other := g.agentB.clone()
	if r := other.post(decPath(clean, "claim"), nil); r.Code != http.StatusSeeOther {
		t.Fatalf("claiming again in another window: %s", r)
	}
	stale := g.agentB.post(decPath(clean, "reject"), decForm(cleanPage, "verdict", "reject", "reason", reason))
	wantPage(t, stale, http.StatusConflict, "a stale page of the holder")
	if !strings.Contains(stale.Body, "You opened this process again in another tab or window") {
		t.Errorf("stale page: %s", stale)
	}
	wantNothingDecided(t, g, clean, "stale page")
}

// TestDecideNotInReview: a process the gateway already finished, or one decided here,
// gets 409 in plain words and nothing changes.
func TestDecideNotInReview(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	reason := idStr(decReason(t, g, "face-mismatch").ID)

	// Finished at the gateway: tracked, shown, never decidable.
	done, err := g.sb.Seed(sandbox.SeedSpec{Count: 1, States: []string{"VERIFIED"}, Outcome: "clean", Silent: true})
	if err != nil {
		t.Fatal(err)
	}
	fin := done[0]
	if r := g.agentB.post("/processes/track", formOf("id", fin)); r.Code != http.StatusSeeOther {
		t.Fatalf("track: got %s, want 303", r)
	}
	g.agentB.get(decPath(fin, ""))

	// Decided here by agent2.
	dec := decSeed(t, g, nil)
	decPage := decOpen(t, g, g.agent2B, dec)
	if r := g.agent2B.post(decPath(dec, "accept"), decForm(decPage, "verdict", "accept")); r.Code != http.StatusSeeOther {
		t.Fatalf("agent2's accept: got %s, want 303", r)
	}

	const notInReview = "This process is not awaiting review (it is decided, not finished or deleted). Nothing was changed."
	const decidedElse = "This process was already decided. Nothing was changed."
	tests := []struct {
		name, id, action string
		form             url.Values
		htmx             bool
		msg              string
	}{
		{"reject of a finished process", fin, "reject", formOf("verdict", "reject", "reason", reason), false, notInReview},
		{"accept of a finished process", fin, "accept", formOf("verdict", "accept"), false, notInReview},
		{"htmx reject of a finished process", fin, "reject", formOf("verdict", "reject", "reason", reason), true, notInReview},
		{"reject of a process decided by another", dec, "reject", formOf("verdict", "reject", "reason", reason), false, decidedElse},
		{"accept of a process decided by another", dec, "accept", formOf("verdict", "accept"), false, decidedElse},
		{"htmx accept of a process decided by another", dec, "accept", formOf("verdict", "accept"), true, decidedElse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, audits := decCount(g, tt.id), decAuditCount(g, tt.id, "decision.")
			var r *response
			if tt.htmx {
				r = g.agentB.post(decPath(tt.id, tt.action), tt.form, htmxHeader)
				wantFragment(t, r, http.StatusConflict, tt.msg, tt.name)
			} else {
				r = g.agentB.post(decPath(tt.id, tt.action), tt.form)
				wantPage(t, r, http.StatusConflict, tt.name)
				if !strings.Contains(r.Body, esc(tt.msg)) {
					t.Errorf("answer lacks %q: %s", tt.msg, r)
				}
			}
			if got := decCount(g, tt.id); got != rows {
				t.Errorf("decision rows %d, want %d", got, rows)
			}
			if got := decAuditCount(g, tt.id, "decision."); got != audits {
				t.Errorf("decision.* audit rows %d, want %d", got, audits)
			}
		})
	}
	if d := decLive(t, g, dec); d == nil || d.DecidedBy != g.agent2.ID || d.Verdict != store.VerdictAccept {
		t.Errorf("agent2's decision changed: %+v", d)
	}
	if p := g.process(fin); p.Reviewable || p.Decided {
		t.Errorf("finished process: reviewable=%t decided=%t, want neither", p.Reviewable, p.Decided)
	}
}

// TestDecideUnknownProcess: decision routes answer 404 for ids the portal does not
// know and audit the denial (Z2); the gateway is not asked.
func TestDecideUnknownProcess(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	reason := idStr(decReason(t, g, "face-mismatch").ID)
	tests := []struct {
		method, path, objectID string
		form                   url.Values
		htmx                   bool
	}{
		{"POST", "/processes/no-such-process/accept", "no-such-process", formOf("verdict", "accept"), false},
		{"POST", "/processes/no-such-process/reject", "no-such-process", formOf("verdict", "reject", "reason", reason), false},
		{"POST", "/processes/no-such-process/reject", "no-such-process", formOf("verdict", "reject", "reason", reason), true},
		{"POST", "/processes/" + url.PathEscape("bad id") + "/accept", "bad id", formOf("verdict", "accept"), false},
		{"GET", "/processes/no-such-process/delivery", "no-such-process", nil, true},
		{"POST", "/processes/no-such-process/delivery/retry", "no-such-process", nil, false},
	}
	before := g.gatewayRequests()
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s htmx=%t", tt.method, tt.path, tt.htmx), func(t *testing.T) {
			n := g.countAudit("access.denied", store.OutcomeDenied)
			var hs []header
			if tt.htmx {
				hs = append(hs, htmxHeader)
			}
			var r *response
			if tt.method == "GET" {
				r = g.agentB.get(tt.path, hs...)
			} else {
				r = g.agentB.post(tt.path, tt.form, hs...)
			}
			if tt.htmx {
				wantFragment(t, r, http.StatusNotFound, "Nothing here", tt.path)
			} else {
				wantPage(t, r, http.StatusNotFound, tt.path)
			}
			ev := g.audit("access.denied")
			if len(ev) != n+1 {
				t.Fatalf("access.denied rows: %d, want %d", len(ev), n+1)
			}
			last := ev[len(ev)-1]
			if last.ObjectID != tt.objectID || last.ActorID != g.agent.ID || last.ObjectType != "process" {
				t.Errorf("audit row: %s %q by %d, want process %q by %d", last.ObjectType, last.ObjectID, last.ActorID, tt.objectID, g.agent.ID)
			}
		})
	}
	if got := g.gatewayRequests(); got != before {
		t.Errorf("gateway requests for unknown processes: %d, want 0", got-before)
	}
	if n := g.countRows("SELECT count(*) FROM decisions"); n != 0 {
		t.Errorf("decision rows: %d, want 0", n)
	}
}

// TestDecideUnknownDecision: the four-eyes routes answer 404 for decision ids the
// portal does not know and audit the denial (Z2).
func TestDecideUnknownDecision(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	tests := []struct {
		path, objectID string
		htmx           bool
	}{
		{"/decisions/987654/confirm", "987654", false},
		{"/decisions/987654/overturn", "987654", true},
		{"/decisions/abc/confirm", "abc", false},
		{"/decisions/0/overturn", "0", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			n := g.countAudit("access.denied", store.OutcomeDenied)
			var r *response
			if tt.htmx {
				r = g.agent2B.post(tt.path, formOf("note", "why not"), htmxHeader)
				wantFragment(t, r, http.StatusNotFound, "Nothing here", tt.path)
			} else {
				r = g.agent2B.post(tt.path, formOf("note", "why not"))
				wantPage(t, r, http.StatusNotFound, tt.path)
			}
			ev := g.audit("access.denied")
			if len(ev) != n+1 {
				t.Fatalf("access.denied rows: %d, want %d", len(ev), n+1)
			}
			if last := ev[len(ev)-1]; last.ObjectType != "decision" || last.ObjectID != tt.objectID || last.ActorID != g.agent2.ID {
				t.Errorf("audit row: %s %q by %d, want decision %q by %d", last.ObjectType, last.ObjectID, last.ActorID, tt.objectID, g.agent2.ID)
			}
		})
	}
}

// TestDecideDoubleSubmit: the same agent posting the same decision twice gets the same
// redirect both times and there is exactly one decision; a different verdict after
// that is a conflict that does not blame someone else.
func TestDecideDoubleSubmit(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	reason := idStr(decReason(t, g, "face-mismatch").ID)
	tests := []struct {
		name, action string
		form         url.Values
		other        string // the other verdict's action
		otherForm    url.Values
	}{
		{"accept", "accept", formOf("verdict", "accept"), "reject", formOf("verdict", "reject", "reason", reason)},
		{"reject", "reject", formOf("verdict", "reject", "reason", reason, "addition", "Sorry."), "accept", formOf("verdict", "accept")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := g.agentB.post("/account/preferences", url.Values{}); r.Code != http.StatusSeeOther {
				t.Fatalf("settings: got %s", r) // back to the queue, so no next case is claimed
			}
			id := decSeed(t, g, nil)
			page := decOpen(t, g, g.agentB, id)
			form := decForm(page)
			for k, v := range tt.form {
				form[k] = v
			}
			first := g.agentB.post(decPath(id, tt.action), form)
			second := g.agentB.post(decPath(id, tt.action), form)
			for i, r := range []*response{first, second} {
				if r.Code != http.StatusSeeOther || r.location() != "/queue?done=decided" {
					t.Errorf("submit %d: got %s, want 303 to /queue?done=decided", i+1, r)
				}
			}
			if n := decCount(g, id); n != 1 {
				t.Errorf("decision rows: %d, want 1", n)
			}
			if n := decAuditCount(g, id, "decision."+tt.action); n != 1 {
				t.Errorf("decision.%s audit rows: %d, want 1", tt.action, n)
			}
			otherForm := decForm(page)
			for k, v := range tt.otherForm {
				otherForm[k] = v
			}
			r := g.agentB.post(decPath(id, tt.other), otherForm)
			wantPage(t, r, http.StatusConflict, "other verdict")
			if !strings.Contains(r.Body, "already decided") {
				t.Errorf("other verdict after one's own decision: %s, want a conflict saying it is decided already", r)
			}
			if d := decLive(t, g, id); d == nil || string(d.Verdict) != tt.action || decCount(g, id) != 1 {
				t.Errorf("decision after the other verdict: %+v", d)
			}
		})
	}
}

// TestDecideConcurrent: many requests deciding one process at once, from the agent
// holding it and two others: exactly one decision; the winner's repeats are
// redirects, everyone else gets a clear conflict (D1, D6).
func TestDecideConcurrent(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	id := decSeed(t, g, nil)
	page := decOpen(t, g, g.agentB, id)
	reason := idStr(decReason(t, g, "face-mismatch").ID)
	type shot struct {
		who  int64
		verb store.Verdict
		r    *response
	}
	users := []struct {
		id int64
		b  *browser
	}{{g.agent.ID, g.agentB}, {g.agent2.ID, g.agent2B}, {g.admin.ID, g.adminB}}
	const perUser = 6
	var wg sync.WaitGroup
	shots := make([]shot, 0, len(users)*perUser)
	var mu sync.Mutex
	start := make(chan struct{})
	for _, u := range users {
		for i := range perUser {
			b := u.b.clone()
			verb, form := store.VerdictReject, decForm(page, "verdict", "reject", "reason", reason)
			if i%2 == 1 {
				verb, form = store.VerdictAccept, decForm(page, "verdict", "accept")
			}
			wg.Go(func() {
				<-start
				r := b.post(decPath(id, string(verb)), form)
				mu.Lock()
				shots = append(shots, shot{u.id, verb, r})
				mu.Unlock()
			})
		}
	}
	close(start)
	wg.Wait()
	if n := decCount(g, id); n != 1 {
		t.Fatalf("decision rows: %d, want exactly 1", n)
	}
	if n := decAuditCount(g, id, "decision."); n != 1 {
		t.Errorf("decision.* audit rows: %d, want 1", n)
	}
	d := decLive(t, g, id)
	if d.DecidedBy != g.agent.ID {
		t.Errorf("decided by %d, want the claim holder %d", d.DecidedBy, g.agent.ID)
	}
	for _, s := range shots {
		switch {
		case s.who == d.DecidedBy && s.verb == d.Verdict:
			if s.r.Code != http.StatusSeeOther {
				t.Errorf("winner's %s: got %s, want 303", s.verb, s.r)
			}
		case s.who == d.DecidedBy && (s.r.Code != http.StatusConflict || !strings.Contains(s.r.Body, "already decided")):
			t.Errorf("the holder's %s after their %s: got %s, want 409 already decided", s.verb, d.Verdict, s.r)
		case s.r.Code != http.StatusConflict:
			t.Errorf("user %d's %s: got %s, want 409", s.who, s.verb, s.r)
		}
	}
}

// TestDecideRejectSuccess: a reject with a reason and an addition records the
// customer text plus the addition, audits it with who, where and which request (L1),
// and goes to the next case; with the account setting off it goes to the queue.
func TestDecideRejectSuccess(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	face := decReason(t, g, "face-mismatch")

	id := decSeed(t, g, decFailed) // failed checks need no confirmation to reject
	page := decOpen(t, g, g.agentB, id)
	r := g.agentB.post(decPath(id, "reject"), decForm(page, "verdict", "reject", "reason", idStr(face.ID),
		"addition", "  Please retake the selfie in daylight.  ", "note", "Selfie is a printed photo"))
	if r.Code != http.StatusSeeOther || r.location() != "/queue?done=decided&empty=1" {
		t.Fatalf("reject: got %s, want 303 to the queue, empty (no next case)", r)
	}
	d := decLive(t, g, id)
	if d == nil {
		t.Fatal("no decision recorded")
	}
	want := face.CustomerText + " " + "Please retake the selfie in daylight."
	if d.Comment != want || d.Verdict != store.VerdictReject || d.ReasonID != face.ID || d.DecidedBy != g.agent.ID ||
		d.State != store.StateQueued || d.InternalNote != "Selfie is a printed photo" || len(d.Confirmations) != 0 {
		t.Errorf("decision: %+v\nwant comment %q, reject, reason %d, by %d, queued, the note, no confirmations", d, want, face.ID, g.agent.ID)
	}
	if p := g.process(id); p.Reviewable || !p.Decided || p.ClaimedBy != 0 {
		t.Errorf("process after reject: reviewable=%t decided=%t claimed by %d", p.Reviewable, p.Decided, p.ClaimedBy)
	}
	ev := g.audit("decision.reject")
	if len(ev) != 1 {
		t.Fatalf("decision.reject audit rows: %d, want 1", len(ev))
	}
	e := ev[0]
	if e.ActorID != g.agent.ID || e.Actor != g.agent.Email || e.IP != "192.0.2.10" || e.RequestID == "" ||
		e.RequestID != r.Header.Get(echo.HeaderXRequestID) || e.ObjectType != "process" || e.ObjectID != id ||
		e.Outcome != store.OutcomeSuccess || !e.At.Equal(g.clock.Now()) || e.At.Location() != time.UTC {
		t.Errorf("audit row %+v: want the agent, 192.0.2.10, the request id %q, process %s, success, now in UTC", e, r.Header.Get(echo.HeaderXRequestID), id)
	}
	if !strings.Contains(e.Detail, "reason="+idStr(face.ID)) || strings.Contains(e.Detail, "printed photo") {
		t.Errorf("audit detail %q: want the reason id and not the note's text", e.Detail)
	}

	// The account setting off: back to the queue.
	r = g.agentB.post("/account/preferences", url.Values{})
	if r.Code != http.StatusSeeOther || r.location() != "/account?done=prefs" {
		t.Fatalf("settings: got %s, want 303 to /account?done=prefs", r)
	}
	if got := g.countAudit("user.setting", store.OutcomeSuccess); got != 1 {
		t.Errorf("user.setting audit rows: %d, want 1", got)
	}
	tests := []struct {
		name, setting, action string
		form                  url.Values
		want                  string
	}{
		{"reject with the setting off", "", "reject", formOf("verdict", "reject", "reason", idStr(face.ID)), "/queue?done=decided"},
		{"accept with the setting off", "", "accept", formOf("verdict", "accept"), "/queue?done=decided"},
		{"accept with the setting on again", "on", "accept", formOf("verdict", "accept"), "next"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{}
			if tt.setting != "" {
				form.Set("next_after_decision", tt.setting)
			}
			if r := g.agentB.post("/account/preferences", form); r.Code != http.StatusSeeOther {
				t.Fatalf("settings: got %s, want 303", r)
			}
			id := decSeed(t, g, nil)
			decSeed(t, g, nil) // waiting in the queue
			page := decOpen(t, g, g.agentB, id)
			decided := decForm(page)
			for k, v := range tt.form {
				decided[k] = v
			}
			r := g.agentB.post(decPath(id, tt.action), decided)
			if tt.want != "next" {
				if r.Code != http.StatusSeeOther || r.location() != tt.want {
					t.Errorf("got %s, want 303 to %s", r, tt.want)
				}
			} else { // the next case is claimed for the agent and opened
				next, ok := strings.CutSuffix(strings.TrimPrefix(r.location(), "/processes/"), "&done=decided")
				next, _, claimed := strings.Cut(next, "?claimed=")
				if r.Code != http.StatusSeeOther || !ok || !claimed || next == id || next == r.location() {
					t.Fatalf("got %s, want 303 to the next case", r)
				}
				if p := g.process(next); p.ClaimedBy != g.agent.ID {
					t.Errorf("the next case is claimed by %d, want the agent", p.ClaimedBy)
				}
				if r := g.agentB.post(decPath(next, "release"), nil); r.Code != http.StatusSeeOther {
					t.Errorf("release: %s", r)
				}
			}
			if decLive(t, g, id) == nil {
				t.Errorf("no decision recorded")
			}
		})
	}
}

// TestDecideAcceptAndDeliver: an accept with confirmations and a corrected field is
// recorded with both; the process page then shows the delivery panel, the polling
// route answers the panel alone, and after the worker delivers it the gateway holds
// the verdict and the correction and the panel says Delivered.
func TestDecideAcceptAndDeliver(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	id := decSeed(t, g, decFailed)
	page := decOpen(t, g, g.agentB, id)
	m := regexp.MustCompile(`data-original="([^"]*)"[^>]*data-testid="field-surname"`).FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("no surname field in the accept form")
	}
	original := m[1]
	// Unchanged fields are not corrections; the first submit shows the summary.
	form := decForm(page, "verdict", "accept", "confirm", decFailed[0], "confirm", decFailed[1],
		"field.surname", "  Corrected-Surname ", "note", "Checked against the video")
	r := g.agentB.post(decPath(id, "accept"), form)
	wantPage(t, r, http.StatusUnprocessableEntity, "the summary of the correction")
	form = decForm(r, "verdict", "accept", "confirm", decFailed[0], "confirm", decFailed[1], "note", "Checked against the video")
	r = g.agentB.post(decPath(id, "accept"), form)
	wantDecided(t, r, "accept")
	d := decLive(t, g, id)
	if d == nil {
		t.Fatal("no decision recorded")
	}
	if !slices.Equal(slices.Sorted(slices.Values(d.Confirmations)), slices.Sorted(slices.Values(decFailed))) {
		t.Errorf("confirmations %v, want %v", d.Confirmations, decFailed)
	}
	if len(d.Corrections) != 1 || d.Corrections["surname"] != "Corrected-Surname" {
		t.Errorf("corrections %v, want only surname=Corrected-Surname (was %q)", d.Corrections, original)
	}
	if d.Verdict != store.VerdictAccept || d.Comment != "" || d.ReasonID != 0 || d.State != store.StateQueued {
		t.Errorf("decision %+v, want a queued accept without reason or comment", d)
	}
	ev := g.audit("decision.accept")
	if len(ev) != 1 || ev[0].ObjectID != id || !strings.Contains(ev[0].Detail, "corrected=surname") ||
		!strings.Contains(ev[0].Detail, "confirmed="+strings.Join(decFailed, ",")) || strings.Contains(ev[0].Detail, "Corrected-Surname") {
		t.Errorf("decision.accept audit rows %+v: want one naming the confirmed checks and the corrected field, not its value", ev)
	}

	// The deciding agent's page: the delivery panel, no forms.
	r = g.agentB.get(decPath(id, ""))
	wantPage(t, r, http.StatusOK, "process page after the accept")
	if !hasTestID(r.Body, "delivery") || hasTestID(r.Body, "decision-panel") || hasTestID(r.Body, "second-review") {
		t.Errorf("page after the accept: want the delivery panel and no forms: %s", r)
	}
	if got := decState(r.Body); got != "Queued" {
		t.Errorf("state on the page %q, want Queued", got)
	}
	if !strings.Contains(r.Body, "Checked against the video") {
		t.Errorf("the deciding agent does not see the internal note")
	}

	// The polling fragment, for the agent and for a colleague (who does not see the note).
	tests := []struct {
		name string
		b    *browser
		note bool
	}{{"deciding agent", g.agentB, true}, {"colleague", g.agent2B, false}, {"admin", g.adminB, true}}
	for _, tt := range tests {
		t.Run("fragment for the "+tt.name, func(t *testing.T) {
			r := tt.b.get(decPath(id, "delivery"), htmxHeader, pollHeader)
			if r.Code != http.StatusOK || !strings.HasPrefix(strings.TrimSpace(r.Body), "<section") ||
				strings.Contains(r.Body, "<html") || !hasTestID(r.Body, "delivery") {
				t.Fatalf("got %s, want 200 with just the delivery panel", r)
			}
			if !strings.Contains(r.Body, `hx-get="`+decPath(id, "delivery")+`"`) {
				t.Errorf("a queued delivery does not poll")
			}
			if got := strings.Contains(r.Body, "Checked against the video"); got != tt.note {
				t.Errorf("internal note shown: %t, want %t", got, tt.note)
			}
		})
	}
	if r := g.agentB.get(decPath(id, "delivery")); r.Code != http.StatusSeeOther || r.location() != decPath(id, "") {
		t.Errorf("plain GET of the delivery route: got %s, want 303 to the process page", r)
	}

	decDeliver(t, g)
	d = decLive(t, g, id)
	if d.State != store.StateDelivered || d.Attempts != 1 || d.DeliveredAt.IsZero() {
		t.Fatalf("after delivery: %+v, want delivered in one attempt", d)
	}
	snap, ok := g.sb.Get(id)
	if !ok || snap.State != sandbox.StatusVerified || snap.Corrections["surname"] != "Corrected-Surname" || snap.Accepts != 1 {
		t.Errorf("the gateway holds %+v, want verified once with the corrected surname", snap)
	}
	r = g.agentB.get(decPath(id, "delivery"), htmxHeader, pollHeader)
	if got := decState(r.Body); r.Code != http.StatusOK || got != "Delivered" {
		t.Errorf("fragment after delivery: state %q (%s), want Delivered", got, r)
	}
	if strings.Contains(r.Body, "hx-get=") {
		t.Errorf("a delivered decision still polls")
	}
	if got := g.countAudit("decision.delivery", store.OutcomeSuccess); got != 1 {
		t.Errorf("decision.delivery success audit rows: %d, want 1", got)
	}
	// A double submit after delivery still counts once.
	if r := g.agentB.post(decPath(id, "accept"), form); r.Code != http.StatusSeeOther {
		t.Errorf("resubmit after delivery: got %s, want 303", r)
	}
	if n := decCount(g, id); n != 1 {
		t.Errorf("decision rows: %d, want 1", n)
	}
	// A known process without a decision has no delivery panel.
	other := decSeed(t, g, nil)
	if r := g.agentB.get(decPath(other, "delivery"), htmxHeader); r.Code != http.StatusNotFound {
		t.Errorf("delivery of an undecided process: got %s, want 404", r)
	}
}

// TestDecideFourEyes: with four-eyes on for rejects, a reject waits for a second
// agent; the first agent sees the panel without buttons and may not confirm or
// overturn it; another agent confirms it, or overturns it with a note (and then holds
// the process).
func TestDecideFourEyes(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	ctx := context.Background()
	if err := g.db.SetSetting(ctx, store.System, store.SettingFourEyesReject, "on"); err != nil {
		t.Fatal(err)
	}
	reason := idStr(decReason(t, g, "face-mismatch").ID)
	reject := func(t *testing.T) (string, *store.Decision) {
		t.Helper()
		id := decSeed(t, g, nil)
		page := decOpen(t, g, g.agentB, id)
		r := g.agentB.post(decPath(id, "reject"), decForm(page, "verdict", "reject", "reason", reason, "note", "four eyes please"))
		if r.Code != http.StatusSeeOther {
			t.Fatalf("reject: got %s, want 303", r)
		}
		d := decLive(t, g, id)
		if d == nil || d.State != store.StateSecondReview {
			t.Fatalf("decision %+v, want awaiting second review", d)
		}
		return id, d
	}
	decURL := func(d *store.Decision, action string) string { return "/decisions/" + idStr(d.ID) + "/" + action }

	t.Run("first agent", func(t *testing.T) {
		id, d := reject(t)
		r := g.agentB.get(decPath(id, ""))
		wantPage(t, r, http.StatusOK, "first agent's page")
		if !hasTestID(r.Body, "second-review") || hasTestID(r.Body, "confirm-second") || hasTestID(r.Body, "overturn") {
			t.Errorf("first agent's page: want the second-review panel without buttons")
		}
		if got := decState(r.Body); got != "Awaiting second review" {
			t.Errorf("state %q, want Awaiting second review", got)
		}
		// Nothing is delivered while it waits.
		decDeliver(t, g)
		if s, _ := g.sb.Get(id); s.Rejects != 0 {
			t.Errorf("a decision awaiting second review was delivered")
		}
		for _, c := range []struct {
			action string
			htmx   bool
			msg    string
		}{
			{"confirm", false, "You made this decision; another agent must review it."},
			{"confirm", true, "You made this decision; another agent must review it."},
			{"overturn", false, "You made this decision; another agent must review it."},
		} {
			form := formOf("note", "changed my mind")
			if c.htmx {
				wantFragment(t, g.agentB.post(decURL(d, c.action), form, htmxHeader), http.StatusForbidden, c.msg, c.action)
			} else {
				r := g.agentB.post(decURL(d, c.action), form)
				wantPage(t, r, http.StatusForbidden, c.action)
				if !strings.Contains(r.Body, esc(c.msg)) {
					t.Errorf("%s by the first agent: %s, want %q", c.action, r, c.msg)
				}
			}
		}
		if got := decLive(t, g, id); got.State != store.StateSecondReview || got.SecondBy != 0 {
			t.Errorf("after the first agent's attempts: %+v, want still awaiting a second review", got)
		}
		if n := decAuditCount(g, id, "decision.confirm") + decAuditCount(g, id, "decision.overturn"); n != 0 {
			t.Errorf("confirm/overturn audit rows: %d, want 0", n)
		}
	})

	t.Run("second agent confirms", func(t *testing.T) {
		id, d := reject(t)
		// Without the claim (a scripted post) the confirmation is refused.
		if r := g.agent2B.post(decURL(d, "confirm"), nil); r.Code != http.StatusConflict {
			t.Errorf("confirm without a claim: got %s, want 409", r)
		}
		r := decOpenSecond(t, g, g.agent2B, id)
		if strings.Contains(r.Body, "four eyes please") {
			t.Errorf("the second agent sees the first agent's internal note")
		}
		r = g.agent2B.post(decURL(d, "confirm"), formOf("claim", decClaim(r)))
		if r.Code != http.StatusSeeOther || r.location() != decPath(id, "") {
			t.Fatalf("confirm: got %s, want 303 to the process", r)
		}
		got := decLive(t, g, id)
		if got.State != store.StateQueued || got.SecondBy != g.agent2.ID {
			t.Errorf("after confirm: %+v, want queued, second by agent2", got)
		}
		if ev := g.audit("decision.confirm"); len(ev) == 0 || ev[len(ev)-1].ActorID != g.agent2.ID || ev[len(ev)-1].ObjectID != id {
			t.Errorf("decision.confirm audit: %+v", ev)
		}
		// Confirming or overturning again: no longer awaits a second review.
		for _, action := range []string{"confirm", "overturn"} {
			r := g.adminB.post(decURL(d, action), formOf("note", "late"))
			if r.Code != http.StatusConflict || !strings.Contains(r.Body, "no longer awaits a second review") {
				t.Errorf("%s after the confirmation: got %s, want 409", action, r)
			}
		}
		decDeliver(t, g)
		if s, _ := g.sb.Get(id); s.State != sandbox.StatusNotVerified || s.Rejects != 1 {
			t.Errorf("gateway after delivery: %+v, want rejected once", s)
		}
	})

	t.Run("second agent overturns", func(t *testing.T) {
		id, d := reject(t)
		page := decOpenSecond(t, g, g.agent2B, id)
		claim := decClaim(page)
		const noNote = "Enter the reason for overturning."
		for _, note := range []string{"", "   "} {
			r := g.agent2B.post(decURL(d, "overturn"), formOf("note", note, "claim", claim))
			wantPage(t, r, http.StatusUnprocessableEntity, "overturn without a note")
			if !strings.Contains(r.Body, noNote) {
				t.Errorf("overturn without a note: %s", r)
			}
		}
		wantFragment(t, g.agent2B.post(decURL(d, "overturn"), formOf("claim", claim), htmxHeader), http.StatusUnprocessableEntity, noNote, "htmx overturn without a note")
		if got := decLive(t, g, id); got.State != store.StateSecondReview {
			t.Fatalf("after overturns without a note: %+v, want unchanged", got)
		}
		r := g.agent2B.post(decURL(d, "overturn"), formOf("note", "The face matches; the selfie is just dark.", "claim", claim))
		if r.Code != http.StatusSeeOther || r.location() != decPath(id, "") {
			t.Fatalf("overturn: got %s, want 303 to the process", r)
		}
		got, err := g.db.GetDecision(ctx, d.ID)
		if err != nil || got.State != store.StateOverturned || got.SecondBy != g.agent2.ID {
			t.Errorf("after overturn: %+v, %v, want overturned by agent2", got, err)
		}
		p := g.process(id)
		if !p.Reviewable || p.Decided || p.ClaimedBy != g.agent2.ID {
			t.Errorf("process after overturn: reviewable=%t decided=%t claimed by %d, want in review, agent2's", p.Reviewable, p.Decided, p.ClaimedBy)
		}
		if ev := g.audit("decision.overturn"); len(ev) != 1 || ev[0].ActorID != g.agent2.ID || !strings.Contains(ev[0].Detail, "selfie is just dark") {
			t.Errorf("decision.overturn audit: %+v", ev)
		}
		// agent2 now holds it and decides it; the first agent may not.
		r = decOpen(t, g, g.agent2B, id)
		if hasTestID(r.Body, "delivery") {
			t.Errorf("agent2's page after overturn: want the decision forms, no delivery panel")
		}
		if r := g.agentB.post(decPath(id, "reject"), formOf("verdict", "reject", "reason", reason)); r.Code != http.StatusConflict ||
			!strings.Contains(r.Body, "Bea Checker") {
			t.Errorf("first agent deciding again: got %s, want 409 naming Bea Checker", r)
		}
		if r := g.agent2B.post(decPath(id, "accept"), decForm(r, "verdict", "accept")); r.Code != http.StatusSeeOther {
			t.Errorf("agent2's accept after overturn: got %s, want 303", r)
		}
		if n, live := decCount(g, id), decLive(t, g, id); n != 2 || live == nil || live.DecidedBy != g.agent2.ID || live.State != store.StateQueued {
			t.Errorf("after agent2's accept: %d rows, live %+v; want 2 rows, agent2's queued accept", n, live)
		}
	})
}

// TestDecideRetry: a parked decision offers a retry to its author (and admins): the
// author's retry queues it again; another agent's is refused (403, audited); a
// delivered one cannot be retried (409).
func TestDecideRetry(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	ctx := context.Background()
	reason := idStr(decReason(t, g, "face-mismatch").ID)
	id := decSeed(t, g, nil)
	page := decOpen(t, g, g.agentB, id)
	if r := g.agentB.post(decPath(id, "reject"), decForm(page, "verdict", "reject", "reason", reason)); r.Code != http.StatusSeeOther {
		t.Fatalf("reject: got %s, want 303", r)
	}
	// The gateway fails; the worker retries later, then parks it (a zero age parks
	// what the worker would park after ParkAfter).
	g.fault(sandbox.RouteReject, sandbox.Fault{Kind: sandbox.FaultUnavailable})
	decDeliver(t, g)
	if d := decLive(t, g, id); d.State != store.StateQueued || d.Attempts != 1 || d.LastError == "" {
		t.Fatalf("after a failed attempt: %+v, want queued for a retry", d)
	}
	if _, err := g.db.ParkStale(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if d := decLive(t, g, id); d.State != store.StateParked {
		t.Fatalf("after parking: %+v, want parked", d)
	}
	retry := decPath(id, "delivery/retry")

	r := g.agentB.get(decPath(id, ""))
	if got := decState(r.Body); got != "Parked" || !hasTestID(r.Body, "retry-delivery") {
		t.Errorf("author's page: state %q, retry button %t; want Parked with the button", got, hasTestID(r.Body, "retry-delivery"))
	}
	if r := g.agent2B.get(decPath(id, "")); hasTestID(r.Body, "retry-delivery") {
		t.Errorf("another agent is offered the retry button")
	}

	tests := []struct {
		name string
		b    *browser
		htmx bool
		want int
	}{
		{"another agent", g.agent2B, false, http.StatusForbidden},
		{"another agent by htmx", g.agent2B, true, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := g.countAudit("access.denied", store.OutcomeDenied)
			const msg = "Only the agent who decided or an administrator may retry the delivery."
			if tt.htmx {
				wantFragment(t, tt.b.post(retry, nil, htmxHeader), tt.want, msg, tt.name)
			} else {
				r := tt.b.post(retry, nil)
				wantPage(t, r, tt.want, tt.name)
				if !strings.Contains(r.Body, esc(msg)) {
					t.Errorf("%s: %s, want %q", tt.name, r, msg)
				}
			}
			if d := decLive(t, g, id); d.State != store.StateParked {
				t.Errorf("state %s, want still parked", d.State)
			}
			ev := g.audit("access.denied")
			if len(ev) != n+1 || ev[len(ev)-1].ObjectID != id || ev[len(ev)-1].ActorID != g.agent2.ID {
				t.Errorf("the refused retry is not audited as access.denied on %s by agent2: %+v", id, ev)
			}
		})
	}
	if n := decAuditCount(g, id, "decision.retry"); n != 0 {
		t.Errorf("decision.retry audit rows after refusals: %d, want 0", n)
	}

	r = g.agentB.post(retry, nil)
	if r.Code != http.StatusSeeOther || r.location() != decPath(id, "") {
		t.Fatalf("author's retry: got %s, want 303 to the process", r)
	}
	if d := decLive(t, g, id); d.State != store.StateQueued {
		t.Errorf("after retry: %+v, want queued", d)
	}
	if ev := g.audit("decision.retry"); len(ev) != 1 || ev[0].ActorID != g.agent.ID || ev[0].ObjectID != id {
		t.Errorf("decision.retry audit: %+v", ev)
	}
	g.sb.ClearFault(sandbox.RouteReject)
	decDeliver(t, g)
	if d := decLive(t, g, id); d.State != store.StateDelivered {
		t.Fatalf("after the retry's delivery: %+v, want delivered", d)
	}
	if s, _ := g.sb.Get(id); s.Rejects != 1 {
		t.Errorf("gateway rejects applied: %d, want 1", s.Rejects)
	}
	const notWaiting = "Mobbscan already has this decision."
	r = g.agentB.post(retry, nil)
	wantPage(t, r, http.StatusConflict, "retry of a delivered decision")
	if !strings.Contains(r.Body, esc(notWaiting)) {
		t.Errorf("retry of a delivered decision: %s", r)
	}
	wantFragment(t, g.adminB.post(retry, nil, htmxHeader), http.StatusConflict, notWaiting, "admin's htmx retry of a delivered decision")
	if n := decAuditCount(g, id, "decision.retry"); n != 1 {
		t.Errorf("decision.retry audit rows: %d, want 1", n)
	}

	// An htmx retry by its author is a 204 with HX-Redirect.
	id2 := decSeed(t, g, nil)
	page2 := decOpen(t, g, g.agentB, id2)
	g.agentB.post(decPath(id2, "accept"), decForm(page2, "verdict", "accept"))
	if _, err := g.db.ParkStale(ctx, 0); err != nil {
		t.Fatal(err)
	}
	r = g.agentB.post(decPath(id2, "delivery/retry"), nil, htmxHeader)
	if r.Code != http.StatusNoContent || r.Header.Get("HX-Redirect") != decPath(id2, "") {
		t.Errorf("htmx retry: got %s, want 204 with HX-Redirect", r)
	}
	if d := decLive(t, g, id2); d.State != store.StateQueued {
		t.Errorf("after htmx retry: %+v, want queued", d)
	}
}

// TestDecideGatewayTrouble: an accept with corrections compares them with the
// gateway's data; when it does not answer, or no longer knows the process, the agent
// gets a clear answer with what they typed, and nothing changes.
func TestDecideGatewayTrouble(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	ctx := context.Background()
	// withCorrection posts a correction of the surname and confirms its summary.
	withCorrection := func(t *testing.T, id string, page *response) url.Values {
		t.Helper()
		r := g.agentB.post(decPath(id, "accept"), decForm(page, "verdict", "accept", "field.surname", "Other", "note", "kept"))
		wantPage(t, r, http.StatusUnprocessableEntity, "summary")
		return decForm(r, "verdict", "accept", "note", "kept")
	}

	t.Run("gateway down", func(t *testing.T) {
		id := decSeed(t, g, nil)
		form := withCorrection(t, id, decOpen(t, g, g.agentB, id))
		g.clock.Advance(time.Minute) // past the information cache
		g.fault(sandbox.RouteProcess, sandbox.Fault{Kind: sandbox.FaultUnavailable})
		r := g.agentB.post(decPath(id, "accept"), form)
		g.sb.ClearFault(sandbox.RouteProcess)
		wantPage(t, r, http.StatusServiceUnavailable, "accept with corrections while the gateway is down")
		const msg = "Mobbscan is not answering, so the corrections could not be checked against the data it holds. Try again in a moment, or accept without corrections."
		if !strings.Contains(r.Body, esc(msg)) || !hasTestID(r.Body, "err-fields") {
			t.Errorf("answer lacks %q beside the corrections: %s", msg, r)
		}
		if got, _ := decTextarea(r.Body, "accept-note"); got != "kept" {
			t.Errorf("note not kept: %q", got)
		}
		if tag := decTag(r.Body, "field-surname"); !strings.Contains(tag, `value="Other"`) {
			t.Errorf("the correction is not kept: %s", tag)
		}
		wantNothingDecided(t, g, id, "gateway down")
	})

	t.Run("process deleted at the gateway", func(t *testing.T) {
		id := decSeed(t, g, nil)
		form := withCorrection(t, id, decOpen(t, g, g.agentB, id))
		if err := g.client.Delete(ctx, id); err != nil {
			t.Fatalf("Delete at the gateway: %v", err)
		}
		g.clock.Advance(time.Minute)
		r := g.agentB.post(decPath(id, "accept"), form)
		wantPage(t, r, http.StatusConflict, "accept with corrections of a process the gateway no longer knows")
		const msg = "Mobbscan no longer knows this process (it may have been deleted). Nothing was changed."
		if !strings.Contains(r.Body, esc(msg)) {
			t.Errorf("answer lacks %q: %s", msg, r)
		}
		if n := decCount(g, id); n != 0 {
			t.Errorf("decision rows: %d, want 0", n)
		}
	})
}

// decOpenSecond opens a process awaiting its second review as b: claimed with a POST,
// its evidence loaded; it fails unless the confirm and overturn buttons are there.
func decOpenSecond(t *testing.T, g *gw, b *browser, id string) *response {
	t.Helper()
	r := b.get(decPath(id, ""))
	if hasTestID(r.Body, "claim-form") {
		c := b.post(decPath(id, "claim"), nil)
		if c.Code != http.StatusSeeOther {
			t.Fatalf("claim for the second review: %s", c)
		}
		r = b.get(c.location())
	}
	if !hasTestID(r.Body, "confirm-second") || !hasTestID(r.Body, "overturn") {
		t.Fatalf("second agent's page: want confirm and overturn buttons: %s", r)
	}
	decLoadEvidence(t, b, r.Body)
	return r
}

// TestDecideUntouchedFormCorrectsNothing: accepting with the correction inputs left as
// they were records no correction and sends none to the gateway, whatever the fields
// hold (the MRZ has two or three lines).
func TestDecideUntouchedFormCorrectsNothing(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	for _, doc := range []string{sandbox.DocPassport, sandbox.DocIDCard} {
		t.Run(doc, func(t *testing.T) {
			id := g.seedReview(1, sandbox.SeedSpec{Outcome: "clean", DocType: doc})[0]
			g.ingest(id)
			page := decOpen(t, g, g.agentB, id)
			form := decForm(page, "verdict", "accept")
			if form.Get("field.surname") == "" {
				t.Fatalf("no correction inputs in the form")
			}
			r := g.agentB.post(decPath(id, "accept"), form)
			if r.Code != http.StatusSeeOther {
				t.Fatalf("accept: got %s, want 303", r)
			}
			if d := decLive(t, g, id); d == nil || len(d.Corrections) != 0 {
				t.Errorf("decision %+v, want one without corrections", d)
			}
			decDeliver(t, g)
			if s, _ := g.sb.Get(id); s.State != sandbox.StatusVerified || len(s.Corrections) != 0 {
				t.Errorf("gateway: state %s, corrections %v; want verified without corrections", s.State, s.Corrections)
			}
		})
	}
}
