package handlers_test

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// The gateway fixture's clock reads 2030-03-04; seedHistory has Alan accept and Bea
// reject that day.
const insightsDay = "2030-03-04"

// insightTable returns the cells of a table of the insights page by its id.
func insightTable(t *testing.T, body, id string) [][]string {
	t.Helper()
	start := strings.Index(body, `data-testid="table-`+id+`"`)
	if start < 0 {
		return nil
	}
	end := strings.Index(body[start:], "</table>")
	cellRE := regexp.MustCompile(`<t[hd][^>]*>(?:<bdi>)?([^<]*)(?:</bdi>)?</t[hd]>`)
	var rows [][]string
	for _, tr := range strings.Split(body[start:start+end], "<tr>")[1:] {
		var row []string
		for _, m := range cellRE.FindAllStringSubmatch(tr, -1) {
			row = append(row, m[1])
		}
		rows = append(rows, row)
	}
	return rows
}

func TestInsightsAdminSeesEveryone(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	seedHistory(g)
	r := g.adminB.get("/insights")
	wantPage(t, r, http.StatusOK, "GET /insights")
	agents := insightTable(t, r.Body, "agents")
	if len(agents) != 3 || !strings.Contains(r.Body, "<bdi>Alan Agent</bdi>") || !strings.Contains(r.Body, "<bdi>Bea Checker</bdi>") {
		t.Fatalf("agents table: %q, want a head and Alan's and Bea's rows", agents)
	}
	days := insightTable(t, r.Body, "days")
	if len(days) != 31 || days[0][0] != "Day" {
		t.Fatalf("days table has %d rows, want a head and 30 days", len(days))
	}
	if last := days[len(days)-1]; fmt.Sprint(last) != fmt.Sprint([]string{"4 Mar 2030", "1", "1", "2"}) {
		t.Errorf("today's row: %q, want one accepted and one rejected", last)
	}
	for _, s := range []string{
		// The chart: an accessible image with a title and description, then its table.
		`role="img" aria-labelledby="chart-days-title chart-days-desc"`, `<title id="chart-days-title">Decisions per day</title>`,
		`class="bar-accept"><title>4 Mar: 1 accepted</title>`, `class="bar-reject"><title>4 Mar: 1 rejected</title>`,
		// Every table downloads as CSV for the same period.
		`href="/insights/days.csv?from=2030-02-03&amp;to=2030-03-04"`, `href="/insights/reasons.csv?from=2030-02-03&amp;to=2030-03-04"`,
		// The admin chooses whose figures; the navigation entry is current.
		`data-testid="insights-agent"`, "Everyone&#39;s figures.", `href="/insights" class="active" aria-current="page" data-testid="nav-insights"`,
		// The backlog counts the processes in review.
		`data-testid="table-backlog"`,
	} {
		if !strings.Contains(r.Body, s) {
			t.Errorf("page lacks %q", s)
		}
	}
	if strings.Contains(r.Body, "<script>") || strings.Contains(r.Body, ` style=`) {
		t.Error("the page has inline script or style")
	}
	// One agent chosen: only their figures.
	r = g.adminB.get(fmt.Sprintf("/insights?agent=%d", g.agent2.ID))
	wantPage(t, r, http.StatusOK, "GET /insights?agent=Bea")
	if agents := insightTable(t, r.Body, "agents"); len(agents) != 2 || agents[1][0] != "Bea Checker" {
		t.Errorf("Bea's figures: agents %q", agents)
	}
	if !strings.Contains(r.Body, "Figures of Bea Checker.") {
		t.Error("the scope does not name Bea")
	}
}

func TestInsightsAgentSeesOnlyOwnFigures(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	seedHistory(g)
	for _, path := range []string{"/insights", fmt.Sprintf("/insights?agent=%d", g.agent2.ID), "/insights?agent=0", "/insights?agent=-3"} {
		r := g.agentB.get(path)
		wantPage(t, r, http.StatusOK, "agent GET "+path)
		agents := insightTable(t, r.Body, "agents")
		if len(agents) != 2 || agents[1][0] != "Alan Agent" || agents[1][1] != "1" {
			t.Errorf("%s: agents table %q, want only Alan's one decision", path, agents)
		}
		if strings.Contains(r.Body, "Bea Checker") || strings.Contains(r.Body, `data-testid="insights-agent"`) {
			t.Errorf("%s: an agent sees another agent or the choice of agent", path)
		}
		if !strings.Contains(r.Body, "Your own figures.") {
			t.Errorf("%s: the scope does not say these are the agent's own figures", path)
		}
		if v := insightTable(t, r.Body, "verdicts"); len(v) != 3 || v[1][1] != "1" || v[2][1] != "0" {
			t.Errorf("%s: verdicts %q, want Alan's one accept", path, v)
		}
	}
	// A crafted CSV link gives the agent's own figures too.
	r := g.agentB.get(fmt.Sprintf("/insights/agents.csv?agent=%d", g.agent2.ID))
	if r.Code != http.StatusOK || strings.Contains(r.Body, "Bea") || !strings.Contains(r.Body, "Alan Agent,1,1,0") {
		t.Errorf("agent's crafted CSV: %s", r)
	}
}

func TestInsightsCSVDownloads(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	seedHistory(g)
	r := g.adminB.get("/insights/days.csv?from=2030-03-01&to=2030-03-04")
	if r.Code != http.StatusOK {
		t.Fatalf("days.csv: %s", r)
	}
	if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := r.Header.Get("Content-Disposition"); cd != "attachment; filename=insights-days-2030-03-01-to-2030-03-04.csv" {
		t.Errorf("Content-Disposition %q", cd)
	}
	rows, err := csv.NewReader(strings.NewReader(r.Body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"Day", "Accepted", "Rejected", "Total"}, {"2030-03-01", "0", "0", "0"}, {"2030-03-02", "0", "0", "0"},
		{"2030-03-03", "0", "0", "0"}, {"2030-03-04", "1", "1", "2"}}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("days.csv: %q, want %q", rows, want)
	}
	// Every table of the page downloads.
	page := g.adminB.get("/insights?days=7")
	links := regexp.MustCompile(`href="(/insights/[a-z]+\.csv\?[^"]*)"`).FindAllStringSubmatch(page.Body, -1)
	if len(links) != 10 {
		t.Fatalf("%d CSV links, want 10", len(links))
	}
	for _, l := range links {
		u := strings.ReplaceAll(l[1], "&amp;", "&")
		r := g.adminB.get(u)
		if r.Code != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment") {
			t.Errorf("%s: %s", u, r)
			continue
		}
		if rows, err := csv.NewReader(strings.NewReader(r.Body)).ReadAll(); err != nil || len(rows) < 1 {
			t.Errorf("%s: not CSV: %v", u, err)
		}
	}
	// A reason label that looks like a formula is not one in a spreadsheet.
	if _, err := g.db.SQL().Exec("UPDATE reasons SET label = '=HYPERLINK(1)' WHERE id = (SELECT reason_id FROM decisions WHERE verdict = 'reject')"); err != nil {
		t.Fatal(err)
	}
	if r := g.adminB.get("/insights/reasons.csv"); !strings.Contains(r.Body, "'=HYPERLINK(1),1,") {
		t.Errorf("reasons.csv: %q, want the label defused", r.Body)
	}
	// Unknown tables are not found.
	for _, p := range []string{"/insights/nope.csv", "/insights/days", "/insights/days.json"} {
		if r := g.adminB.get(p); r.Code != http.StatusNotFound {
			t.Errorf("%s: got %d, want 404", p, r.Code)
		}
	}
	// Signed out: the sign-in page, for the page and the CSV.
	for _, p := range []string{"/insights", "/insights/days.csv"} {
		if r := g.browser().get(p); r.Code != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/login") {
			t.Errorf("anonymous %s: %s", p, r)
		}
	}
}

func TestInsightsBadPeriods(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	seedHistory(g)
	for _, c := range []struct {
		query, field, message, kept string
	}{
		{"from=2031-01-01", "from", "starts in the future", `value="2031-01-01"`},
		{"from=2030-03-04&to=2030-03-01", "to", "before the start", `value="2030-03-01"`},
		{"from=2020-01-01&to=2030-03-04", "from", "longer than 366 days", `value="2020-01-01"`},
		{"from=yesterday", "from", "not a date", `value="yesterday"`},
		{"to=" + url.QueryEscape(`"><script>x</script>`), "to", "not a date", `value="&#34;&gt;&lt;script&gt;x&lt;/script&gt;"`},
		{"days=0", "days", "1 to 366 days", ""},
		{"days=99999999999999999999", "days", "1 to 366 days", ""},
	} {
		for _, b := range []*browser{g.adminB, g.agentB} {
			r := b.get("/insights?" + c.query)
			if r.Code != http.StatusUnprocessableEntity {
				t.Errorf("%s: got %d, want 422", c.query, r.Code)
				continue
			}
			if !regexp.MustCompile(`data-testid="err-` + c.field + `">[^<]*` + c.message).MatchString(r.Body) {
				t.Errorf("%s: no message %q beside %s", c.query, c.message, c.field)
			}
			if !strings.Contains(r.Body, c.kept) || !strings.Contains(r.Body, `data-testid="insights-empty"`) {
				t.Errorf("%s: the text is not kept or figures are shown", c.query)
			}
			if csvR := b.get("/insights/days.csv?" + c.query); csvR.Code != http.StatusUnprocessableEntity {
				t.Errorf("%s: CSV got %d, want 422", c.query, csvR.Code)
			}
		}
	}
	// An end in the future is today, with a note; a period long ago is empty.
	r := g.adminB.get("/insights?from=2030-03-01&to=2099-12-31")
	wantPage(t, r, http.StatusOK, "future end")
	if !strings.Contains(r.Body, `data-testid="insights-notice"`) || !strings.Contains(r.Body, `value="2030-03-04"`) {
		t.Error("a future end is not brought back to today with a note")
	}
	r = g.adminB.get("/insights?from=1999-01-01&to=1999-01-31")
	wantPage(t, r, http.StatusOK, "long ago")
	if v := insightTable(t, r.Body, "verdicts"); len(v) != 3 || v[1][1] != "0" || v[2][1] != "0" {
		t.Errorf("long ago: verdicts %q, want none", v)
	}
	// The presets: 7 days is marked when chosen.
	r = g.agentB.get("/insights?days=7")
	wantPage(t, r, http.StatusOK, "7 days")
	if !strings.Contains(r.Body, `value="2030-02-26"`) || !regexp.MustCompile(`aria-current="true"[^>]*>Last 7 days<`).MatchString(r.Body) {
		t.Error("the 7-day preset is not applied or not marked")
	}
}

// TestInsightsInSpanish: the page speaks the request's language (tables, charts, numbers
// and days); the CSV of the same table stays English with plain numbers and ISO days,
// for programs and spreadsheets.
func TestInsightsInSpanish(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	seedHistory(g)
	es := header{"Accept-Language", "es-ES,es;q=0.9"}
	r := g.adminB.get("/insights", es)
	wantPage(t, r, http.StatusOK, "GET /insights in Spanish")
	days := insightTable(t, r.Body, "days")
	if len(days) != 31 || fmt.Sprint(days[0]) != fmt.Sprint([]string{"Día", "Aceptado", "Rechazado", "Total"}) {
		t.Fatalf("days table head %q, want it in Spanish", days[0])
	}
	if last := days[len(days)-1]; fmt.Sprint(last) != fmt.Sprint([]string{"4 mar 2030", "1", "1", "2"}) {
		t.Errorf("today's row: %q, want the day in Spanish", last)
	}
	for _, s := range []string{
		`<h1>Estadísticas</h1>`, `<title id="chart-days-title">Decisiones por día</title>`,
		`<title>4 mar: 1 aceptadas</title>`, "Las cifras de todos.", "Descargar CSV", "Últimos 7 días",
		`<caption class="visually-hidden">Motivos de rechazo</caption>`, "50,0 %",
	} {
		if !strings.Contains(r.Body, s) {
			t.Errorf("Spanish page lacks %q", s)
		}
	}
	for _, s := range []string{"Decisions per day", "Download CSV", "Last 7 days", "50.0 %"} {
		if strings.Contains(r.Body, s) {
			t.Errorf("Spanish page still says %q", s)
		}
	}
	c := g.adminB.get("/insights/days.csv?from=2030-03-03&to=2030-03-04", es)
	rows, err := csv.NewReader(strings.NewReader(c.Body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"Day", "Accepted", "Rejected", "Total"}, {"2030-03-03", "0", "0", "0"}, {"2030-03-04", "1", "1", "2"}}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("days.csv asked in Spanish: %q, want %q (English, machine-readable)", rows, want)
	}
	// A bad period: the message beside its field, in Spanish, the field marked invalid.
	bad := g.adminB.get("/insights?from=2030-03-04&to=2030-03-01", es)
	if bad.Code != http.StatusUnprocessableEntity || !strings.Contains(bad.Body, `aria-invalid="true"`) || strings.Contains(bad.Body, "swap the dates") {
		t.Errorf("bad period in Spanish: %s", bad)
	}
}
