package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/store/pgtest"
)

// searchPeople are the processes the search tests look for.
var searchPeople = []struct{ id, holder, ref string }{
	{"7f3c9a1e-5b2d-4c6a-8e0f-1a2b3c4d5e6f", "María Núñez Ibáñez", "CUST-2024-0042"},
	{"p-gomez", "José Gómez", "ACME/991"},
	{"p-garcia", "JOSÉ LUIS GARCÍA", ""},
	{"p-perez", "Ana Pérez-Gómez", "ref (draft) 7"},
	{"p-obrien", "Zoë O'Brien", `quote"ref`},
	{"p-li", "Li Wei", "42"},
	{"ab", "Short Id", "ZZ-1"},
	{"p-near", "Near Andor", "NOT-AND-OR"},
	{"p-acme", "Acme Person", "ACME"},
}

// searchWorld indexes searchPeople, a few in review, the rest decided and final.
func searchWorld(t *testing.T) *store.DB {
	t.Helper()
	db, _ := openClockedDB(t)
	for i, p := range searchPeople {
		s := inReview(p.id, procBase.Add(-time.Duration(i+1)*time.Minute))
		if i%2 == 1 {
			s = decided(p.id, "VERIFIED", procBase.Add(-time.Duration(i+1)*time.Minute))
		}
		s.HolderName, s.CustomerRef = p.holder, p.ref
		upsert(t, db, store.SourceWebhook, s)
	}
	return db
}

// found returns the ids SearchMatch selects over every process, sorted, failing the test
// on any error; it checks that History's search finds the same ones.
func found(t *testing.T, db *store.DB, text string) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	where, args, ok := store.SearchMatch(text)
	if !ok {
		where = "1 = 1"
	}
	rows, err := db.SQL().QueryContext(ctx, "SELECT p.id FROM processes p WHERE "+where+" ORDER BY p.id", args...)
	if err != nil {
		t.Fatalf("search %q: %v", text, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("search %q: %v", text, err)
	}
	page, _, err := db.History(ctx, store.HistoryQuery{Search: text, Limit: 200})
	if err != nil {
		t.Fatalf("history search %q: %v", text, err)
	}
	var hist []string
	for _, r := range page {
		hist = append(hist, r.ID)
	}
	slices.Sort(hist)
	if !slices.Equal(hist, ids) {
		t.Errorf("search %q: History found %q, SearchMatch %q", text, hist, ids)
	}
	return ids
}

func TestSearchMatchNamesIdsAndReferences(t *testing.T) {
	db := searchWorld(t)
	nunez := searchPeople[0].id
	all := make([]string, 0, len(searchPeople))
	for _, p := range searchPeople {
		all = append(all, p.id)
	}
	slices.Sort(all)
	cases := []struct {
		text string
		want []string
	}{
		// Accents, case and partial words.
		{"nunez", []string{nunez}},
		{"NÚÑEZ", []string{nunez}},
		{"Ibanez", []string{nunez}},
		{"gom", []string{"p-gomez", "p-perez"}},
		{"GÓM", []string{"p-gomez", "p-perez"}},
		{"jose", []string{"p-garcia", "p-gomez"}},
		{"josé", []string{"p-garcia", "p-gomez"}},
		{"garcia", []string{"p-garcia"}},
		{"zoe", []string{"p-obrien"}},
		{"o'brien", []string{"p-obrien"}},
		// Every term must occur, in any order.
		{"gomez jose", []string{"p-gomez"}},
		{"  José   Gómez  ", []string{"p-gomez"}},
		{"jose nunez", nil},
		// Ids: exact, partial, any case; references likewise.
		{nunez, []string{nunez}},
		{"9A1E-5B2D", []string{nunez}},
		{"p-gomez", []string{"p-gomez"}},
		{"CUST-2024-0042", []string{nunez}},
		{"cust-2024", []string{nunez}},
		{"acme/991", []string{"p-gomez"}},
		// An exact id or reference finds that process only; otherwise any part matches.
		{"ACME", []string{"p-acme"}},
		{"acme", []string{"p-acme", "p-gomez"}},
		{"p-li", []string{"p-li"}},
		{"P-LI", []string{"p-li"}},
		// One or two characters: an exact id or reference only.
		{"ab", []string{"ab"}},
		{"AB", nil},
		{"42", []string{"p-li"}},
		{"4", nil},
		{"e", nil},
		// All terms short: the whole text is one term.
		{"li wei", []string{"p-li"}},
		{"Li We", []string{"p-li"}},
		// Short terms beside a long one are left out.
		{"a nunez", []string{nunez}},
		// FTS5 syntax is plain text.
		{`"nunez"`, nil},
		{`nunez*`, nil},
		{`nu*`, nil},
		{`-gom`, []string{"p-gomez", "p-perez"}}, // "-gom" is in the id p-gomez too
		{`ez-gó`, []string{"p-perez"}},
		{`holder:nunez`, nil},
		{`(draft)`, []string{"p-perez"}},
		{`(nunez)`, nil},
		{`nunez OR gomez`, nil},
		{`NOT nunez`, []string{}},
		{`NEAR(nunez gomez)`, nil},
		{`NOT-AND-OR`, []string{"p-near"}},
		{`near`, []string{"p-near"}},
		{`AND`, []string{"p-near"}},
		{`quote"ref`, []string{"p-obrien"}},
		{`"`, nil},
		{`""""`, nil},
		{`*`, nil},
		{`^nunez`, nil},
		{`{holder ref}: nunez`, nil},
		// NUL, control characters and invalid UTF-8 separate terms; nothing left means
		// no search at all.
		{"nunez\x00", []string{nunez}},
		{"\x00nu\x00nez", []string{nunez}},
		{"nu\xffñez", []string{nunez}},
		{"ga\xffrcia", []string{"p-garcia"}},
		{"garc\xff\xfe", []string{"p-garcia"}},
		{"\xff\xfe\xfd", all},
		{"\x00", all},
		{"\t\n\r ", all},
		{"", all},
	}
	for _, tc := range cases {
		got := found(t, db, tc.text)
		if len(tc.want) == 0 && len(got) == 0 {
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("search %q: got %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestSearchMatchHostileText(t *testing.T) {
	db := searchWorld(t)
	long := strings.Repeat("a", 10000)
	for _, text := range []string{
		long,
		strings.Repeat(`"`, 10000),
		strings.Repeat("ab ", 3400),
		strings.Repeat("nunez ", 2000),
		strings.Repeat("NEAR(", 2000),
		strings.Repeat("\x00", 10000),
		strings.Repeat("\xff", 10000),
		strings.Repeat("ñ", 10000),
		strings.Repeat("\u0301", 300),
		"a\u0301b",
		"\u202enunez\u202c",
		"𝔫𝔲𝔫𝔢𝔷",
		"🙂🙂🙂",
	} {
		found(t, db, text) // fails the test on any error
	}
	// Text after SearchMaxRunes is ignored: a match at the start is found.
	if got := found(t, db, "nunez "+long); len(got) != 0 {
		t.Errorf("nunez + 10,000 a: got %q, want nothing (the cut term does not occur)", got)
	}
	if got := found(t, db, "nunez"+strings.Repeat(" ", 500)+"gomez"); !slices.Equal(got, []string{searchPeople[0].id}) {
		t.Errorf("nunez, 500 spaces, gomez: got %q, want Núñez only (gomez is past the cut)", got)
	}
}

func TestSearchMatchPurgedFoundByIdOnly(t *testing.T) {
	db := searchWorld(t)
	ctx := context.Background()
	nunez := searchPeople[0].id
	// Retention clears the name and reference and marks the process purged.
	if _, err := db.SQL().ExecContext(ctx, "UPDATE processes SET purged_at = ?, holder_name = '', customer_ref = '' WHERE id = ?",
		"2026-05-05T00:00:00.000000000Z", nunez); err != nil {
		t.Fatal(err)
	}
	// An erasure that marks it purged and (by mistake) leaves the name behind.
	if _, err := db.SQL().ExecContext(ctx, "UPDATE processes SET purged_at = ? WHERE id = ?", "2026-05-05T00:00:00.000000000Z", "p-gomez"); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"nunez", "Ibáñez", "CUST-2024-0042", "cust-2024", "ACME/991"} {
		if got := found(t, db, text); len(got) != 0 {
			t.Errorf("search %q after purging: got %q, want nothing", text, got)
		}
	}
	if got := found(t, db, "jose"); !slices.Equal(got, []string{"p-garcia"}) {
		t.Errorf("search jose after purging Gómez: got %q, want p-garcia", got)
	}
	for _, text := range []string{nunez, "9a1e-5b2d", "p-gomez"} {
		if got := found(t, db, text); len(got) != 1 {
			t.Errorf("search %q after purging: got %q, want the purged process by its id", text, got)
		}
	}
	// A process whose name changes is found by its new name only.
	s := inReview("p-obrien", procBase.Add(time.Minute))
	s.HolderName = "Zoë Smith"
	upsert(t, db, store.SourceWebhook, s)
	if got := found(t, db, "o'brien"); len(got) != 0 {
		t.Errorf("old name: got %q, want nothing", got)
	}
	if got := found(t, db, "smith"); !slices.Equal(got, []string{"p-obrien"}) {
		t.Errorf("new name: got %q", got)
	}
	// A deleted process leaves the index.
	if _, err := db.SQL().ExecContext(ctx, "DELETE FROM processes WHERE id = ?", "p-li"); err != nil {
		t.Fatal(err)
	}
	if got := found(t, db, "li wei"); len(got) != 0 {
		t.Errorf("deleted process: got %q", got)
	}
	checkSearchIndex(t, db)
}

// checkSearchIndex runs FTS5's integrity check and compares the index with processes:
// one entry per process under its history key.
func checkSearchIndex(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	if pgtest.Engine() == "postgres" {
		// Every entry holds its process's text as the triggers write it.
		var stale int
		if err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM process_search e JOIN process_history h ON h.ak = e.ak
			JOIN process_history_source s ON s.process_id = h.process_id
			WHERE e.text <> process_search_text(s.process_id, s.holder, s.ref)`).Scan(&stale); err != nil || stale != 0 {
			t.Errorf("search index integrity: %d stale entries, %v", stale, err)
		}
	} else if _, err := db.SQL().ExecContext(ctx, "INSERT INTO process_search (process_search) VALUES ('integrity-check')"); err != nil {
		t.Errorf("search index integrity: %v", err)
	}
	var processes, history, entries, orphans int
	err := db.SQL().QueryRowContext(ctx, `SELECT (SELECT count(*) FROM processes), (SELECT count(*) FROM process_history),
		(SELECT count(*) FROM process_search), (SELECT count(*) FROM process_history h LEFT JOIN processes p ON p.id = h.process_id WHERE p.id IS NULL)`).
		Scan(&processes, &history, &entries, &orphans)
	if err != nil {
		t.Fatal(err)
	}
	if history != processes || entries != processes || orphans != 0 {
		t.Errorf("index: %d processes, %d history rows, %d search entries, %d orphans", processes, history, entries, orphans)
	}
}
