package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

// seedHistory indexes processes in every state and returns their ids, newest activity
// first.
func seedHistory(g *gw) []string {
	g.t.Helper()
	ctx := context.Background()
	now := g.clock.Now()
	decide := func(id string, v store.Verdict, by *store.User) {
		g.t.Helper()
		nd := store.NewDecision{ProcessID: id, Verdict: v}
		if v == store.VerdictReject {
			rs, err := g.db.ListReasons(ctx, false)
			if err != nil || len(rs) == 0 {
				g.t.Fatalf("reasons: %v", err)
			}
			nd.ReasonID, nd.Comment = rs[0].ID, rs[0].CustomerText
		}
		if _, err := g.db.Decide(ctx, store.Actor{UserID: by.ID, Email: by.Email}, nd, func(*store.Case) error { return nil }); err != nil {
			g.t.Fatalf("decide %s: %v", id, err)
		}
	}
	g.indexSnapshot(store.Snapshot{ID: "h-open", Status: "PENDING", RawStatus: "PENDING", Stage: "IN_PROGRESS",
		UpdatedAt: now.Add(-9 * time.Hour), Country: "ESP", DocType: "IDCard"})
	g.indexSnapshot(store.Snapshot{ID: "h-review", UpdatedAt: now.Add(-8 * time.Hour), Country: "ESP", DocType: "IDCard",
		HolderName: "María Núñez", CustomerRef: "ACME-1"})
	g.indexSnapshot(store.Snapshot{ID: "h-final", Status: "VERIFIED", RawStatus: "VERIFIED", Stage: "DONE", Final: true,
		UpdatedAt: now.Add(-7 * time.Hour), Country: "PRT", DocType: "Passport", HolderName: "João Gómez", CustomerRef: "ACME-2"})
	g.indexSnapshot(store.Snapshot{ID: "h-gone", UpdatedAt: now.Add(-6 * time.Hour), Country: "ESP", DocType: "IDCard", HolderName: "Gone Person"})
	if err := g.db.MarkGone(ctx, "h-gone"); err != nil {
		g.t.Fatal(err)
	}
	g.indexSnapshot(store.Snapshot{ID: "h-purged", Status: "NOT_VERIFIED", RawStatus: "NOT_VERIFIED", Stage: "DONE", Final: true,
		UpdatedAt: now.Add(-5 * time.Hour), Country: "ESP", DocType: "IDCard", HolderName: "Purged Núñez", CustomerRef: "ACME-3"})
	if _, err := g.db.SQL().ExecContext(ctx, "UPDATE processes SET purged_at = ?, holder_name = '', customer_ref = '' WHERE id = 'h-purged'",
		now.UTC().Format("2006-01-02T15:04:05.000000000Z")); err != nil {
		g.t.Fatal(err)
	}
	g.indexSnapshot(store.Snapshot{ID: "h-accepted", UpdatedAt: now.Add(-4 * time.Hour), Country: "ESP", DocType: "IDCard", HolderName: "Ana García"})
	g.clock.Advance(time.Minute)
	decide("h-accepted", store.VerdictAccept, g.agent)
	g.indexSnapshot(store.Snapshot{ID: "h-rejected", UpdatedAt: now.Add(-3 * time.Hour), Country: "ESP", DocType: "IDCard",
		HolderName: "\u202eEvil Name", CustomerRef: "ACME-4"})
	g.clock.Advance(time.Minute)
	decide("h-rejected", store.VerdictReject, g.agent2)
	return []string{"h-rejected", "h-accepted", "h-purged", "h-gone", "h-final", "h-review", "h-open"}
}

func historyRowIDs(body string) []string { return queueIDs(body) }

var stateRE = regexp.MustCompile(`<tr data-row data-id="([^"]*)" data-state="([^"]*)"`)

func TestHistoryPageListsEveryProcess(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	want := seedHistory(g)
	r := g.agentB.get("/processes")
	wantPage(t, r, http.StatusOK, "GET /processes")
	if got := historyRowIDs(r.Body); !slices.Equal(got, want) {
		t.Fatalf("rows: got %q, want %q", got, want)
	}
	states := map[string]string{}
	for _, m := range stateRE.FindAllStringSubmatch(r.Body, -1) {
		states[m[1]] = m[2]
	}
	wantStates := map[string]store.HistoryState{"h-open": store.HistoryOpen, "h-review": store.HistoryReview, "h-final": store.HistoryAccepted,
		"h-gone": store.HistoryGone, "h-purged": store.HistoryPurged, "h-accepted": store.HistoryDecided, "h-rejected": store.HistoryDecided}
	for id, s := range wantStates {
		if states[id] != string(s) {
			t.Errorf("%s: state %q, want %q", id, states[id], s)
		}
	}
	for _, s := range []string{
		// Status in plain words (purged shown as such), the customer's stage for one not in review yet.
		">Purged<", ">In review<", ">Accepted (final)<", ">Gone from Mobbscan<", ">Decided, awaiting delivery<", ">Customer is capturing<",
		// The decision, who made it (isolated) and its delivery.
		`<td data-testid="history-verdict">Accepted</td>`, `<td data-testid="history-verdict">Rejected</td>`,
		"<bdi>Alan Agent</bdi>", "<bdi>Bea Checker</bdi>", `>Queued</span>`,
		// Names and references isolated; links to each process.
		"<bdi>" + esc("María Núñez") + "</bdi>", "<bdi>" + esc("\u202eEvil Name") + "</bdi>", "Ref. <bdi>ACME-2</bdi>",
		`href="/processes/h-purged"`, `href="/processes/h-open"`, "(identity data cleared)",
		// The navigation entry, current.
		`href="/processes" class="active" aria-current="page" data-testid="nav-processes"`,
	} {
		if !strings.Contains(r.Body, s) {
			t.Errorf("page lacks %q", s)
		}
	}
	if strings.Contains(r.Body, "Purged Núñez") || strings.Contains(r.Body, "ACME-3") {
		t.Error("the purged process's name or reference is shown")
	}
	// The filters offer the states, verdicts and agents (names isolated).
	for _, s := range []string{`<option value="purged">Purged</option>`, `<option value="reject">Rejected</option>`,
		fmt.Sprintf(`<option value="%d" dir="auto">Bea Checker</option>`, g.agent2.ID)} {
		if !strings.Contains(r.Body, s) {
			t.Errorf("filters lack %q", s)
		}
	}
}

func TestHistoryNavigationEntry(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	for who, b := range map[string]*browser{"admin": g.adminB, "agent": g.agentB} {
		body := b.get("/queue").Body
		q, p := strings.Index(body, `data-testid="nav-queue"`), strings.Index(body, `data-testid="nav-processes"`)
		if q < 0 || p < q {
			t.Errorf("%s: Processes entry at %d, Queue at %d: want it after the queue", who, p, q)
		}
		if a := strings.Index(body, `data-testid="nav-admin"`); who == "admin" && (a < 0 || a < p) {
			t.Errorf("admin: Processes entry at %d, admin menu at %d: want it before the admin menu", p, a)
		}
	}
	// Signed out: the sign-in page.
	r := g.browser().get("/processes")
	if r.Code != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/login") {
		t.Errorf("anonymous GET /processes: got %s, want 303 to /login", r)
	}
}

func TestHistoryFilters(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	all := seedHistory(g)
	day := g.clock.Now().Format("2006-01-02") // 2030-03-04: every process's activity
	tests := []struct {
		query string
		want  []string
	}{
		{"", all},
		{"state=purged", []string{"h-purged"}},
		{"state=review", []string{"h-review"}},
		{"state=decided", []string{"h-rejected", "h-accepted"}},
		{"state=accepted", []string{"h-final"}},
		{"state=gone", []string{"h-gone"}},
		{"state=open", []string{"h-open"}},
		{"verdict=reject", []string{"h-rejected"}},
		{"verdict=accept&state=decided", []string{"h-accepted"}},
		{fmt.Sprintf("by=%d", g.agent2.ID), []string{"h-rejected"}},
		{fmt.Sprintf("by=%d&verdict=accept", g.agent2.ID), nil},
		{"q=nunez", []string{"h-review"}},
		{"q=N%C3%9A%C3%91EZ", []string{"h-review"}},
		{"q=gom", []string{"h-final"}},
		{"q=h-gone", []string{"h-gone"}},
		{"q=acme", []string{"h-rejected", "h-final", "h-review"}},
		{"q=ACME-2", []string{"h-final"}},
		{"q=h-purged", []string{"h-purged"}},
		{"q=purged+nunez", nil},
		{"from=" + day + "&to=" + day, all},
		{"from=" + day + "&state=decided", []string{"h-rejected", "h-accepted"}},
		{"to=2030-03-03", nil},
		{"from=2030-03-05", nil},
		{"from=2030-03-05&to=2030-03-01", nil},
		// Unknown choices are ignored.
		{"state=bogus", all},
		{"verdict=maybe", all},
		{"by=abc", all},
		{"by=-3", all},
		{"by=99999", nil},
		// Text from a person is never syntax, never an error.
		{"q=" + url.QueryEscape(`"*NEAR(nu:nez) OR -x`), nil},
		{"q=%00", all},
		{"q=nu%00nez", []string{"h-review"}},
		{"q=%FF%FE", all},
		{"q=" + url.QueryEscape(strings.Repeat("ñ", 200)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.query[:min(len(tt.query), 40)], func(t *testing.T) {
			r := g.agentB.get("/processes?" + tt.query)
			if r.Code != http.StatusOK {
				t.Fatalf("got %s, want 200", r)
			}
			wantNoLeak(t, r, tt.query)
			if got := historyRowIDs(r.Body); !slices.Equal(got, tt.want) && (len(got) > 0 || len(tt.want) > 0) {
				t.Errorf("rows: got %q, want %q", got, tt.want)
			}
		})
	}
	// What was searched for stays out of the logs (P2).
	if logs := g.logs.String(); strings.Contains(logs, "nunez") || strings.Contains(logs, "ACME") {
		t.Errorf("the logs carry a search: %s", logs)
	}
}

func TestHistoryBadInput(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	seedHistory(g)
	for _, tt := range []struct{ query, message string }{
		{"from=2024-13-45", "The start date is not a date"},
		{"to=yesterday", "The end date is not a date"},
		{"after=xyz", "That page link is broken"},
		{"after=-1", "That page link is broken"},
		{"after=99999999999999999999999", "That page link is broken"},
		{"q=" + strings.Repeat("a", 201), "The search is too long (200 characters at most)."},
	} {
		r := g.agentB.get("/processes?" + tt.query)
		wantPage(t, r, http.StatusBadRequest, tt.query)
		if !strings.Contains(r.Body, esc(tt.message)) {
			t.Errorf("%s: body lacks %q", tt.query, tt.message)
		}
		// An htmx swap gets the message as a fragment.
		r = g.agentB.get("/processes?"+tt.query, htmxHeader, header{"HX-Target", views.IDHistoryList})
		if r.Code != http.StatusBadRequest || !strings.Contains(r.Body, `data-testid="error-fragment"`) || strings.Contains(r.Body, "<html") {
			t.Errorf("%s (htmx): got %s, want a 400 fragment", tt.query, r)
		}
	}
	// What is typed is shown back escaped.
	r := g.agentB.get("/processes?q=" + url.QueryEscape(`<script>alert(1)</script>`))
	if r.Code != http.StatusOK || strings.Contains(r.Body, "<script>alert") || !strings.Contains(r.Body, esc(`<script>alert(1)</script>`)) {
		t.Errorf("script in the search: got %s", r)
	}
	// The routes beside /processes are untouched.
	if r := g.agentB.get("/processes/unknown-id"); r.Code != http.StatusNotFound {
		t.Errorf("GET /processes/unknown-id: got %s, want 404", r)
	}
	if r := g.agentB.post("/processes", url.Values{}); r.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /processes: got %s, want 405", r)
	}
}

func TestHistoryFragmentAndPages(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	now := g.clock.Now()
	var want []string
	for i := range 60 {
		id := fmt.Sprintf("page-%02d", i)
		g.indexSnapshot(store.Snapshot{ID: id, UpdatedAt: now.Add(-time.Duration(100-i) * time.Minute), Country: "ESP", DocType: "IDCard",
			HolderName: "Núñez " + id})
		want = append([]string{id}, want...)
	}
	r := g.agentB.get("/processes?q=nunez")
	first := historyRowIDs(r.Body)
	if !slices.Equal(first, want[:50]) || !hasTestID(r.Body, "next-page") || hasTestID(r.Body, "first-page") {
		t.Fatalf("first page: got %q (next %v)", first, hasTestID(r.Body, "next-page"))
	}
	next := regexp.MustCompile(`href="([^"]*)" hx-get="[^"]*" hx-target="#history-list" hx-swap="outerHTML" hx-push-url="true" data-testid="next-page"`).FindStringSubmatch(r.Body)
	if next == nil {
		t.Fatalf("no next-page link with hx-get in %s", r)
	}
	nextURL := strings.ReplaceAll(next[1], "&amp;", "&")
	if !strings.Contains(nextURL, "q=nunez") || !strings.Contains(nextURL, "after=") {
		t.Errorf("next page link %q does not keep the search", nextURL)
	}
	// The pager and the filters swap the list: an htmx request for it gets the list only.
	r = g.agentB.get(nextURL, htmxHeader, header{"HX-Target", views.IDHistoryList})
	if r.Code != http.StatusOK || strings.Contains(r.Body, "<html") || !strings.HasPrefix(r.Body, `<div id="history-list"`) {
		t.Fatalf("fragment: got %s", r)
	}
	if got := historyRowIDs(r.Body); !slices.Equal(got, want[50:]) || hasTestID(r.Body, "next-page") || !hasTestID(r.Body, "first-page") {
		t.Errorf("second page: got %q", got)
	}
	if !strings.Contains(r.Header.Get("Vary"), "HX-Request") {
		t.Errorf("Vary: %q", r.Header.Get("Vary"))
	}
	// The same URL without htmx is the full page, as after a reload.
	if r := g.agentB.get(nextURL); !strings.Contains(r.Body, "<html") || !slices.Equal(historyRowIDs(r.Body), want[50:]) {
		t.Errorf("full second page: got %s", r)
	}
	// The filter form targets the list through the same id.
	r = g.agentB.get("/processes")
	for _, s := range []string{`hx-get="/processes"`, `hx-target="#history-list"`, `hx-push-url="true"`, `id="history-list"`, `maxlength="200"`} {
		if !strings.Contains(r.Body, s) {
			t.Errorf("page lacks %q", s)
		}
	}
}

// TestHistoryInSpanish: the history in the request's language: headings, filters, the
// status and decision labels, the delivery, and a bad date's message.
func TestHistoryInSpanish(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	seedHistory(g)
	es := header{"Accept-Language", "es"}
	r := g.adminB.get("/processes", es)
	wantPage(t, r, http.StatusOK, "GET /processes in Spanish")
	for _, s := range []string{"<h1>Procesos</h1>", "Última actividad", "Cualquier estado", "Con actividad desde",
		`<caption class="visually-hidden">Procesos, la actividad más reciente primero</caption>`,
		`<td data-testid="history-verdict">Aceptado</td>`, ">En revisión<", "(datos de identidad borrados)"} {
		if !strings.Contains(r.Body, s) {
			t.Errorf("Spanish history lacks %q", s)
		}
	}
	for _, s := range []string{"Last activity", "Any status", "(identity data cleared)"} {
		if strings.Contains(r.Body, s) {
			t.Errorf("Spanish history still says %q", s)
		}
	}
}
