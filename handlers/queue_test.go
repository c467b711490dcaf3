package handlers_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

func score(v float64) *float64 { return &v }

// seedQueue indexes a small, varied queue and returns the ids in review, oldest first.
func seedQueue(g *gw) []string {
	now := g.clock.Now()
	snaps := []store.Snapshot{
		{ID: "q-deu-old", UpdatedAt: now.Add(-25 * time.Hour), Country: "DEU", DocType: "DriverLicense", HolderName: "Hans Müller", CustomerRef: "ACME-77"},
		{ID: "q-esp-1", UpdatedAt: now.Add(-5 * time.Hour), Country: "ESP", DocType: "IDCard", HolderName: "Lucía García", CustomerRef: "C-1", Failed: []string{"validationMRZ"}, Scores: [3]*float64{score(0.91), score(0.4), nil}},
		{ID: "q-esp-2", UpdatedAt: now.Add(-2 * time.Hour), Country: "ESP", DocType: "Passport", HolderName: "John Smith", CustomerRef: "C-2"},
		{ID: "q-fra-1", UpdatedAt: now.Add(-30 * time.Minute), Country: "FRA", DocType: "IDCard", HolderName: "Marie Curie", CustomerRef: "C-3", Failed: []string{"validationFacialMatching", "validationMRZ"}},
	}
	for _, s := range snaps {
		g.indexSnapshot(s)
	}
	// Not in review: never in the queue.
	g.indexSnapshot(store.Snapshot{ID: "q-esp-done", Status: "VERIFIED", RawStatus: "VERIFIED", Stage: "DONE", Final: true,
		UpdatedAt: now.Add(-10 * time.Hour), Country: "ESP", DocType: "IDCard", HolderName: "Done Person"})
	g.indexSnapshot(store.Snapshot{ID: "q-esp-waiting", Status: "PENDING", RawStatus: "PENDING", Stage: "IN_PROGRESS",
		UpdatedAt: now.Add(-10 * time.Hour), Country: "ESP", DocType: "IDCard"})
	return []string{"q-deu-old", "q-esp-1", "q-esp-2", "q-fra-1"}
}

// TestQueueFilters: the signed-in agent sees the processes in review; the filters in
// the query string narrow and order the rows.
func TestQueueFilters(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	all := seedQueue(g)
	tests := []struct {
		query string
		want  []string
	}{
		{"", all},
		{"sort=newest", []string{"q-fra-1", "q-esp-2", "q-esp-1", "q-deu-old"}},
		{"sort=bogus", all},
		{"country=ESP", []string{"q-esp-1", "q-esp-2"}},
		{"country=esp", []string{"q-esp-1", "q-esp-2"}},
		{"country=XXX", nil},
		{"doc=IDCard", []string{"q-esp-1", "q-fra-1"}},
		{"country=ESP&doc=Passport", []string{"q-esp-2"}},
		{"failed=validationMRZ", []string{"q-esp-1", "q-fra-1"}},
		{"failed=validationMR", nil},
		{"failed=validation%25", nil},
		{"older=4h", []string{"q-deu-old", "q-esp-1"}},
		{"older=24h", []string{"q-deu-old"}},
		{"older=7y", all},
		{"q=Smith", []string{"q-esp-2"}},
		{"q=ACME-77", []string{"q-deu-old"}},
		{"q=q-fra-1", []string{"q-fra-1"}},
		{"q=%25", nil},
		{"q=_", nil},
		{"q=Müller", []string{"q-deu-old"}},
		{"claim=mine", nil},
		{"claim=unclaimed", all},
		{"claim=other", all},
		{"country=ESP&sort=newest&older=1h", []string{"q-esp-2", "q-esp-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := g.agentB.get("/queue?" + tt.query)
			if r.Code != http.StatusOK {
				t.Fatalf("got %s, want 200", r)
			}
			if got := queueIDs(r.Body); !slices.Equal(got, tt.want) {
				t.Errorf("rows %v, want %v", got, tt.want)
			}
			if got := r.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
			if len(tt.want) == 0 && !hasTestID(r.Body, "queue-empty") {
				t.Errorf("no rows but no empty-queue message")
			}
		})
	}

	// Claims: the agent's claim shows in "mine" and leaves "unclaimed"; another agent
	// sees who holds it.
	if r := g.agentB.post("/processes/q-esp-2/claim", nil); r.Code != http.StatusSeeOther {
		t.Fatalf("claim q-esp-2: got %s, want 303", r)
	}
	for _, tt := range []struct {
		b     *browser
		query string
		want  []string
	}{
		{g.agentB, "claim=mine", []string{"q-esp-2"}},
		{g.agentB, "claim=unclaimed", []string{"q-deu-old", "q-esp-1", "q-fra-1"}},
		{g.agent2B, "claim=mine", nil},
		{g.agent2B, "claim=unclaimed", []string{"q-deu-old", "q-esp-1", "q-fra-1"}},
	} {
		got := queueIDs(tt.b.get("/queue?" + tt.query).Body)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s as %s: rows %v, want %v", tt.query, map[*browser]string{g.agentB: "agent", g.agent2B: "agent2"}[tt.b], got, tt.want)
		}
	}
	r := g.agent2B.get("/queue")
	if !hasTestID(r.Body, "claimed-by") || !strings.Contains(r.Body, esc("Alan Agent")) {
		t.Errorf("agent2's queue does not show who holds q-esp-2: %s", r)
	}
	// The claim expires with time: the row is unclaimed again.
	g.clock.Advance(6 * time.Minute)
	if got := queueIDs(g.agentB.get("/queue?claim=mine").Body); len(got) != 0 {
		t.Errorf("mine after the claim expired: %v, want none", got)
	}
}

var nextPageRE = regexp.MustCompile(`href="([^"]*)" data-testid="next-page"`)

// TestQueuePagination: pages of 50 follow a keyset cursor; a malformed cursor is a 400
// page, never a 500.
func TestQueuePagination(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	now := g.clock.Now()
	var want []string
	for i := 0; i < 70; i++ {
		id := fmt.Sprintf("pg-%03d", i)
		// Pairs share a review time, so the cursor must order by id too.
		g.indexSnapshot(store.Snapshot{ID: id, UpdatedAt: now.Add(-time.Duration(100-i/2) * time.Minute), Country: "ESP", DocType: "IDCard", HolderName: "Person " + id})
		want = append(want, id)
	}
	for _, sort := range []string{"oldest", "newest"} {
		t.Run(sort, func(t *testing.T) {
			exp := slices.Clone(want)
			if sort == "newest" {
				slices.Reverse(exp)
			}
			var got []string
			path := "/queue?country=ESP&sort=" + sort
			pages := 0
			for path != "" {
				pages++
				if pages > 4 {
					t.Fatal("more than 4 pages for 70 rows")
				}
				r := g.agentB.get(path)
				if r.Code != http.StatusOK {
					t.Fatalf("GET %s: got %s, want 200", path, r)
				}
				rows := queueIDs(r.Body)
				if pages > 1 && !hasTestID(r.Body, "first-page") {
					t.Errorf("page %d has no link back to the first page", pages)
				}
				if len(rows) > 50 {
					t.Errorf("page %d has %d rows, want at most 50", pages, len(rows))
				}
				got = append(got, rows...)
				path = ""
				if m := nextPageRE.FindStringSubmatch(r.Body); m != nil {
					path = html.UnescapeString(m[1])
					if u, err := url.Parse(path); err != nil || u.Query().Get("country") != "ESP" {
						t.Errorf("next-page link %q loses the filters", path)
					}
				}
			}
			if pages != 2 {
				t.Errorf("pages: %d, want 2 (50 + 20)", pages)
			}
			if !slices.Equal(got, exp) {
				t.Errorf("rows over all pages:\n got %v\nwant %v", got, exp)
			}
		})
	}

	for _, after := range []string{"abc", "123", "123.", ".pg-001", "x.pg-001", "123.bad id", "123.<script>", "99999999999999999999.pg-001", strings.Repeat("1", 20) + "." + strings.Repeat("a", 200)} {
		t.Run("after="+after, func(t *testing.T) {
			r := g.agentB.get("/queue?after=" + url.QueryEscape(after))
			wantPage(t, r, http.StatusBadRequest, "malformed cursor")
			if !strings.Contains(r.Body, "page link is broken") {
				t.Errorf("400 page without the explanation: %s", r)
			}
		})
	}
	for _, q := range []string{"q=" + strings.Repeat("a", 201), "country=" + strings.Repeat("E", 9), "doc=" + strings.Repeat("d", 65)} {
		if r := g.agentB.get("/queue?" + q); r.Code != http.StatusBadRequest {
			t.Errorf("GET /queue?%.20s…: got %s, want 400", q, r)
		}
	}
}

// TestQueueFragment: htmx swaps of the list get only the list plus the counters out of
// band; boosted navigation and other targets get the full page.
func TestQueueFragment(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	seedQueue(g)
	r := g.agentB.get("/queue?country=ESP", htmxHeader, header{"HX-Target", views.IDQueueList})
	if r.Code != http.StatusOK {
		t.Fatalf("fragment: got %s, want 200", r)
	}
	if !strings.HasPrefix(strings.TrimSpace(r.Body), `<div id="`+views.IDQueueList+`"`) {
		t.Errorf("fragment does not start with the list: %.200q", r.Body)
	}
	if strings.Contains(r.Body, "<html") || strings.Contains(r.Body, "<header") || hasTestID(r.Body, "queue-filters") || hasTestID(r.Body, "track-form") {
		t.Errorf("fragment carries more than the list: %.300q", r.Body)
	}
	oob := regexp.MustCompile(`<span id="` + views.IDQueueCounts + `"[^>]*hx-swap-oob="true"`)
	if !oob.MatchString(r.Body) {
		t.Errorf("fragment without the out-of-band counters: %q", r.Body)
	}
	if got, want := queueIDs(r.Body), []string{"q-esp-1", "q-esp-2"}; !slices.Equal(got, want) {
		t.Errorf("fragment rows %v, want %v", got, want)
	}
	if v := r.Header.Values("Vary"); !slices.Contains(v, "HX-Request") {
		t.Errorf("Vary %v, want HX-Request", v)
	}
	// The list polls itself with its own filters and the poll header.
	if !strings.Contains(r.Body, `hx-get="/queue?country=ESP"`) || !strings.Contains(r.Body, "X-Portal-Poll") {
		t.Errorf("list does not poll its own URL with the poll header: %.400q", r.Body)
	}

	for _, tt := range []struct {
		name string
		hs   []header
	}{
		{"plain", nil},
		{"boosted", []header{htmxHeader, {"HX-Boosted", "true"}, {"HX-Target", views.IDQueueList}}},
		{"history restore", []header{htmxHeader, {"HX-History-Restore-Request", "true"}, {"HX-Target", views.IDQueueList}}},
		{"other target", []header{htmxHeader, {"HX-Target", "main"}}},
	} {
		r := g.agentB.get("/queue", tt.hs...)
		if r.Code != http.StatusOK || !strings.Contains(r.Body, "<html") || !hasTestID(r.Body, "queue-filters") {
			t.Errorf("%s: got %s, want the full page", tt.name, r)
		}
		if strings.Contains(r.Body, "hx-swap-oob") {
			t.Errorf("%s: full page carries an out-of-band swap", tt.name)
		}
	}
}

// TestQueuePollIsNotActivity: the list's background poll does not refresh the session's
// activity (S4); a person's request does.
func TestQueuePollIsNotActivity(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	seedQueue(g)
	seen := func() time.Time { return g.sessionsOf(g.agent.ID)[0].LastSeenAt }
	start := seen()
	g.clock.Advance(time.Minute)
	r := g.agentB.get("/queue", htmxHeader, header{"HX-Target", views.IDQueueList}, pollHeader)
	if r.Code != http.StatusOK || len(queueIDs(r.Body)) != 4 {
		t.Fatalf("poll: got %s, want 200 with 4 rows", r)
	}
	if got := seen(); !got.Equal(start) {
		t.Errorf("last seen after a poll: %v, want %v (unchanged)", got, start)
	}
	g.clock.Advance(time.Minute)
	if r := g.agentB.get("/queue"); r.Code != http.StatusOK {
		t.Fatalf("queue: got %s", r)
	}
	if got, want := seen(), g.clock.Now(); !got.Equal(want) {
		t.Errorf("last seen after a person's request: %v, want %v", got, want)
	}
	// Polling alone lets the session go idle.
	for i := 0; i < 15; i++ {
		g.clock.Advance(time.Minute)
		g.agentB.get("/queue", htmxHeader, header{"HX-Target", views.IDQueueList}, pollHeader)
	}
	r = g.agentB.get("/queue", htmxHeader, header{"HX-Target", views.IDQueueList}, pollHeader)
	if r.Code != http.StatusUnauthorized || r.Header.Get("HX-Redirect") == "" {
		t.Errorf("poll after 15 idle minutes of polling: got %s, want 401 with HX-Redirect", r)
	}
}

// TestQueueHostileStrings: names and references from the gateway render escaped, however
// long or strange (C4).
func TestQueueHostileStrings(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	now := g.clock.Now()
	hostile := []struct{ id, name, ref string }{
		{"h-script", `<script>alert("x")</script>`, `"><img src=x onerror=alert(1)>`},
		{"h-long", strings.Repeat("Ω", 300), strings.Repeat("R", 200)},
		{"h-unicode", "\u202eevil\u202c Zoë 🙂 e\u0301 \u200d\u00a0x", "ref\u2028line"},
		{"h-attr", `' onmouseover='alert(1)`, `javascript:alert(1)`},
	}
	for i, h := range hostile {
		g.indexSnapshot(store.Snapshot{ID: h.id, UpdatedAt: now.Add(-time.Duration(i+1) * time.Hour), Country: "ESP", DocType: "IDCard",
			HolderName: h.name, CustomerRef: h.ref, Failed: []string{"validationMRZ"}})
	}
	r := g.agentB.get("/queue")
	if r.Code != http.StatusOK || len(queueIDs(r.Body)) != len(hostile) {
		t.Fatalf("queue: got %s, want 200 with %d rows", r, len(hostile))
	}
	for _, bad := range []string{`<script>alert`, `<img src=x`, `"><img`, `' onmouseover='`, `href="javascript:`} {
		if strings.Contains(r.Body, bad) {
			t.Errorf("queue page contains unescaped %q", bad)
		}
	}
	for _, h := range hostile {
		if !strings.Contains(r.Body, esc(h.name)) {
			t.Errorf("holder of %s not shown escaped (%.40q…)", h.id, esc(h.name))
		}
	}
	// Searching for the hostile text echoes it escaped in the search box.
	r = g.agentB.get("/queue?q=" + url.QueryEscape(`"><script>alert(1)</script>`))
	if r.Code != http.StatusOK || strings.Contains(r.Body, `<script>alert(1)`) {
		t.Errorf("search echo: got %s, want 200 and escaped", r)
	}
}

// TestQueuePageSize: the first page of 50 processes as the sandbox makes them is under
// 30 KiB of HTML (quality bar, "Pages small").
func TestQueuePageSize(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	g.reviewable(60)
	r := g.agentB.get("/queue")
	if n := len(queueIDs(r.Body)); n != 50 {
		t.Fatalf("rows: %d, want 50", n)
	}
	if len(r.Body) >= 30<<10 {
		t.Errorf("queue page of 50 rows is %d bytes, want under %d", len(r.Body), 30<<10)
	}
}

// TestNextCase: "next case" claims the oldest unclaimed process matching the filters
// and opens it; with nothing left it goes back to the queue with empty=1.
func TestNextCase(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	seedQueue(g)
	for _, want := range []string{"q-esp-1", "q-esp-2"} {
		r := g.agentB.post("/queue/next?country=ESP", nil)
		if r.Code != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/processes/"+want+"?claimed=") {
			t.Fatalf("next case: got %s, want 303 to /processes/%s", r, want)
		}
		if p := g.process(want); p.ClaimedBy != g.agent.ID {
			t.Errorf("%s claimed by %d, want the agent (%d)", want, p.ClaimedBy, g.agent.ID)
		}
	}
	r := g.agentB.post("/queue/next?country=ESP", nil)
	if r.Code != http.StatusSeeOther || r.location() != "/queue?country=ESP&empty=1" {
		t.Fatalf("nothing left: got %s, want 303 to /queue?country=ESP&empty=1", r)
	}
	r = g.agentB.get(r.location())
	if r.Code != http.StatusOK || !hasTestID(r.Body, "queue-notice") {
		t.Errorf("queue after an empty next case: got %s, want 200 with the notice", r)
	}
	// Another agent gets what is left, never the agent's claims.
	r = g.agent2B.post("/queue/next", nil)
	if r.Code != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/processes/q-deu-old?claimed=") {
		t.Errorf("agent2's next case: got %s, want 303 to /processes/q-deu-old", r)
	}
	if got := g.countAudit("process.claim", store.OutcomeSuccess); got != 3 {
		t.Errorf("process.claim audit rows: %d, want 3", got)
	}
	if r := g.agentB.post("/queue/next?after=garbage", nil); r.Code != http.StatusBadRequest {
		t.Errorf("next case with a malformed cursor: got %s, want 400", r)
	}
	// A GET (a link, a cross-site navigation) claims nothing (D6).
	if r := g.agent2B.get("/queue/next"); r.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /queue/next: got %s, want 405", r)
	}
	if got := g.countAudit("process.claim", store.OutcomeSuccess); got != 3 {
		t.Errorf("process.claim audit rows after a GET: %d, want 3", got)
	}
}

// TestTrackProcess: tracking adds a process the gateway confirms; malformed or unknown
// ids and a gateway that is down are explained and store nothing.
func TestTrackProcess(t *testing.T) {
	t.Parallel()
	g := newGateway(t, withClientTimeouts(time.Second, 2*time.Second))
	ids := g.seedReview(2, sandbox.SeedSpec{})
	tests := []struct {
		name     string
		id       string
		fault    sandbox.FaultKind
		want     int
		msg      string
		echo     bool // the id is kept in the form
		gwCalled bool
	}{
		{"malformed", "not an id!", "", http.StatusUnprocessableEntity, "not a verification id", true, false},
		{"markup", `<script>alert(1)</script>`, "", http.StatusUnprocessableEntity, "not a verification id", true, false},
		{"empty", "   ", "", http.StatusUnprocessableEntity, "not a verification id", false, false},
		{"too long", strings.Repeat("a", 129), "", http.StatusUnprocessableEntity, "not a verification id", false, false},
		{"unknown", "no-such-process-42", "", http.StatusUnprocessableEntity, "does not know", true, true},
		{"gateway down (503)", ids[0], sandbox.FaultUnavailable, http.StatusServiceUnavailable, "not answering", true, true},
		{"gateway hangs", ids[0], sandbox.FaultLatency, http.StatusServiceUnavailable, "not answering", true, true},
		{"gateway resets", ids[0], sandbox.FaultReset, http.StatusServiceUnavailable, "not answering", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fault != "" {
				g.fault(sandbox.RouteProcess, sandbox.Fault{Kind: tt.fault, Latency: map[bool]time.Duration{true: time.Minute}[tt.fault == sandbox.FaultLatency]})
				defer g.sb.ClearFault(sandbox.RouteProcess)
			}
			before := g.sb.Stats().Requests[sandbox.RouteProcess]
			r := g.agentB.post("/processes/track", formOf("id", tt.id))
			wantPage(t, r, tt.want, tt.name)
			if !strings.Contains(r.Body, tt.msg) || !hasTestID(r.Body, "err-track") {
				t.Errorf("page lacks the message %q: %s", tt.msg, r)
			}
			if tt.echo && !strings.Contains(r.Body, `value="`+esc(strings.TrimSpace(tt.id))+`"`) {
				t.Errorf("the id is not kept in the form")
			}
			if strings.Contains(r.Body, "<script>alert(1)") {
				t.Errorf("the id is echoed unescaped")
			}
			if n := g.countProcesses(); n != 0 {
				t.Errorf("processes indexed: %d, want 0", n)
			}
			if n := g.countAudit("process.track", ""); n != 0 {
				t.Errorf("process.track audit rows: %d, want 0", n)
			}
			called := g.sb.Stats().Requests[sandbox.RouteProcess] > before
			if called != tt.gwCalled {
				t.Errorf("gateway called = %v, want %v", called, tt.gwCalled)
			}
		})
	}

	r := g.agentB.post("/processes/track", formOf("id", "  "+ids[1]+" "))
	if r.Code != http.StatusSeeOther || r.location() != "/processes/"+ids[1] {
		t.Fatalf("known id: got %s, want 303 to /processes/%s", r, ids[1])
	}
	p := g.process(ids[1])
	if p == nil || p.Source != store.SourceTracked || !p.Reviewable || p.HolderName == "" {
		t.Fatalf("tracked process: %+v, want tracked, reviewable, with a holder", p)
	}
	if n := g.countAudit("process.track", store.OutcomeSuccess); n != 1 {
		t.Errorf("process.track audit rows: %d, want 1", n)
	}
	// Tracking it again is harmless and opens it.
	if r := g.agentB.post("/processes/track", formOf("id", ids[1])); r.Code != http.StatusSeeOther {
		t.Errorf("tracking again: got %s, want 303", r)
	}
	if n := g.countProcesses(); n != 1 {
		t.Errorf("processes after tracking twice: %d, want 1", n)
	}
}

// TestQueueInSpanish: the queue in the request's language; how long a case has waited
// against the targets is said in words as well as by the row's colour.
func TestQueueInSpanish(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	seedQueue(g)
	r := g.agentB.get("/queue", header{"Accept-Language", "es"})
	if r.Code != http.StatusOK {
		t.Fatalf("queue in Spanish: %s", r)
	}
	for _, s := range []string{"<h1>Cola de revisión</h1>", "Siguiente caso", "Comprobaciones fallidas", "Cualquier país",
		"Más antiguos primero", "⚠ Atrasado", "Fuera de plazo", `<caption class="visually-hidden">Procesos pendientes de revisión`,
		"Seguir un proceso", "Todavía no ha decidido nada."} {
		if !strings.Contains(r.Body, s) {
			t.Errorf("Spanish queue lacks %q", s)
		}
	}
	for _, s := range []string{"Review queue", "Next case", "Over target", "Oldest first"} {
		if strings.Contains(r.Body, s) {
			t.Errorf("Spanish queue still says %q", s)
		}
	}
	// In English: the oldest case (25 h) is over target, in words.
	r = g.agentB.get("/queue")
	if !strings.Contains(r.Body, "⚠ Overdue") || !strings.Contains(r.Body, "Over target: waiting over") {
		t.Errorf("English queue: want the aging in words: %s", r)
	}
	// Notices and errors a handler writes are translated where they are shown.
	r = g.agentB.post("/processes/track", url.Values{"id": {"no such id!"}}, header{"Accept-Language", "es"})
	if !hasTestID(r.Body, "err-track") || !strings.Contains(r.Body, `aria-invalid="true"`) {
		t.Errorf("track error: want the message beside the field, marked invalid: %s", r)
	}
	r = g.agentB.get("/queue?empty=1", header{"Accept-Language", "es"})
	if !strings.Contains(r.Body, "Ahora mismo ningún proceso sin tomar coincide con estos filtros.") {
		t.Errorf("empty notice in Spanish: %s", r)
	}
}
