package handlers_test

import (
	"encoding/csv"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// The audit export (/admin/audit/export) through the real router.

var exportFormRE = regexp.MustCompile(`(?s)<form method="get" action="/admin/audit/export".*?</form>`)

// exportURL is the export with these query parameters.
func exportURL(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return "/admin/audit/export?" + v.Encode()
}

func TestExportAuditDownloadsCSVAndJSONL(t *testing.T) {
	f := newFixture(t)
	before, err := f.db.AuditHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	r := f.adminB.get(exportURL("from", "", "to", "", "actor", "", "action", "", "format", "csv"))
	if r.Code != http.StatusOK {
		t.Fatalf("CSV export: got %s, want 200", r)
	}
	for k, want := range map[string]string{
		"Content-Type":           "text/csv; charset=utf-8",
		"Content-Disposition":    `attachment; filename=audit-start-2030-03-04.csv`,
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}
	recs, err := csv.NewReader(strings.NewReader(r.Body)).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v", err)
	}
	if !slices.Equal(recs[0], store.AuditColumns) || int64(len(recs)-1) != before {
		t.Fatalf("CSV: header %q and %d rows, want %q and %d (the log before the export)", recs[0], len(recs)-1, store.AuditColumns, before)
	}
	exports := f.audit(string(store.ActionAuditExport))
	if len(exports) != 1 || exports[0].ActorID != f.admin.ID || exports[0].Outcome != store.OutcomeSuccess ||
		exports[0].Detail != "format=csv to=2030-03-04T09:00:00.000000001Z" || exports[0].ID != before+1 {
		t.Fatalf("export audit rows: %+v, want one by the admin with the filter, right after the exported rows", exports)
	}

	// JSON Lines of one account's logins on one day.
	r = f.adminB.get(exportURL("from", "2030-03-04", "to", "2030-03-04", "actor", "AGENT@example.com", "action", "auth.login", "format", "jsonl"))
	if r.Code != http.StatusOK || r.Header.Get("Content-Type") != "application/jsonl; charset=utf-8" ||
		r.Header.Get("Content-Disposition") != "attachment; filename=audit-2030-03-04-2030-03-04.jsonl" {
		t.Fatalf("JSONL export: got %s, headers %v", r, r.Header)
	}
	lines := strings.Split(strings.TrimSuffix(r.Body, "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("JSONL: got %d lines, want the agent's one sign-in: %q", len(lines), r.Body)
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &row); err != nil {
		t.Fatalf("JSONL: %v", err)
	}
	if row["action"] != "auth.login" || row["actor"] != "agent@example.com" || len(row) != len(store.AuditColumns) {
		t.Fatalf("JSONL row: %v", row)
	}
	if got := len(f.audit(string(store.ActionAuditExport))); got != 2 {
		t.Errorf("export audit rows: got %d, want 2", got)
	}

	// A period with nothing in it is an empty file, not an error.
	r = f.adminB.get(exportURL("from", "2020-01-01", "to", "2020-01-31", "format", "csv"))
	if r.Code != http.StatusOK || strings.TrimSpace(r.Body) != strings.Join(store.AuditColumns, ",") {
		t.Fatalf("empty period: got %s, want the header only", r)
	}
}

func TestExportAuditRefusesAgents(t *testing.T) {
	f := newFixture(t)
	r := f.agentB.get(exportURL("format", "csv"))
	wantPage(t, r, http.StatusForbidden, "agent export")
	if r.Header.Get("Content-Disposition") != "" {
		t.Errorf("agent got a download: %v", r.Header)
	}
	r = f.agentB.get("/admin/audit/export")
	wantPage(t, r, http.StatusForbidden, "agent export page")
	if n := f.countAudit(string(store.ActionAuditExport), store.OutcomeSuccess); n != 0 {
		t.Errorf("successful exports recorded: %d", n)
	}
}

func TestExportAuditBadInputShowsMessagesBesideFields(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name  string
		query []string
		field string
		text  string
	}{
		{"future period", []string{"from", "2031-01-01", "to", "2031-01-31"}, "from", "starts in the future"},
		{"reversed period", []string{"from", "2030-03-01", "to", "2030-02-01"}, "to", "ends before it starts"},
		{"not a date", []string{"from", "yesterday"}, "from", "Write the start as a day"},
		{"impossible date", []string{"to", "2030-02-30"}, "to", "Write the end as a day"},
		{"unknown actor", []string{"actor", "ghost@example.com"}, "actor", "There is no account"},
		{"unknown actor id", []string{"actor", "424242"}, "actor", "There is no account"},
		{"actor too long", []string{"actor", strings.Repeat("x", 300)}, "actor", "too long"},
		{"unknown action", []string{"action", "drop.table"}, "action", "no action called"},
		{"unknown format", []string{"format", "xlsx"}, "format", "CSV or JSON Lines"},
		{"huge numbers", []string{"from", "99999-01-01", "actor", "99999999999999999999999"}, "from", "Write the start as a day"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.adminB.get(exportURL(tt.query...))
			wantPage(t, r, http.StatusUnprocessableEntity, tt.name)
			if r.Header.Get("Content-Disposition") != "" {
				t.Errorf("a refused export downloads: %v", r.Header)
			}
			msg := regexp.MustCompile(`data-testid="err-` + tt.field + `">([^<]*)<`).FindStringSubmatch(r.Body)
			if msg == nil || !strings.Contains(html.UnescapeString(msg[1]), tt.text) {
				t.Errorf("message beside %s: got %v, want it to contain %q", tt.field, msg, tt.text)
			}
			// What was typed is kept.
			for i := 0; i+1 < len(tt.query); i += 2 {
				if k, v := tt.query[i], tt.query[i+1]; k != "action" && k != "format" &&
					!strings.Contains(r.Body, `name="`+k+`" value="`+html.EscapeString(v)+`"`) {
					t.Errorf("%s=%q is not kept in the form", k, v)
				}
			}
		})
	}
	if n := f.countAudit(string(store.ActionAuditExport), ""); n != 0 {
		t.Errorf("refused exports recorded as exports: %d", n)
	}
}

// The form on the audit log page is built from the views' defaults; the export page's
// from review's limit and the store's formats: they must render alike.
func TestExportFormOnAuditPageMatchesExportPage(t *testing.T) {
	f := newFixture(t)
	page := f.adminB.get("/admin/audit")
	wantPage(t, page, http.StatusOK, "audit page")
	own := f.adminB.get("/admin/audit/export")
	wantPage(t, own, http.StatusOK, "export page")
	a, b := exportFormRE.FindString(page.Body), exportFormRE.FindString(own.Body)
	if a == "" || a != b {
		t.Fatalf("export forms differ:\naudit page:  %s\nexport page: %s", a, b)
	}
	if want := `maxlength="` + idStr(int64(review.LimitExportActor.Max)) + `"`; !strings.Contains(b, want) {
		t.Errorf("actor field: want %s", want)
	}
	if n := f.countAudit(string(store.ActionAuditExport), ""); n != 0 {
		t.Errorf("showing the form recorded an export")
	}
}
