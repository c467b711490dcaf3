package store

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/mobbscan-review/portal/store/pgtest"
)

// postgresOnly skips t on the SQLite pass, saying why.
func postgresOnly(t *testing.T, why string) {
	t.Helper()
	if pgtest.Engine() != "postgres" {
		t.Skipf("PostgreSQL only: %s", why)
	}
}

// TestSearchFoldMatchesFTS5 checks PostgreSQL's process_search_fold (migrations/postgres/
// 0002_search.sql) against the folding of SQLite's search index, FTS5's trigram tokenizer
// with remove_diacritics 1, character by character up to the end of Deseret (the Basic
// Multilingual Plane has every other character FTS5 folds): the two engines find the
// same processes only if they fold names alike.
func TestSearchFoldMatchesFTS5(t *testing.T) {
	postgresOnly(t, "compares PostgreSQL's folding with SQLite's")
	ctx := context.Background()
	const last = 0x1044F
	want := fts5Folds(t, last)

	db, err := Open(ctx, TargetForTest(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := foldsOf(t, db.db, `SELECT c, f FROM (SELECT c, process_search_fold(chr(c)) AS f FROM generate_series(1, ?) c
		WHERE c NOT BETWEEN 55296 AND 57343) folds WHERE f <> chr(c)`, last)
	if len(want) < 1000 {
		t.Fatalf("FTS5 folds only %d characters", len(want))
	}
	bad := 0
	for c := rune(1); c <= last && bad < 20; c++ {
		w, wok := want[c]
		g, gok := got[c]
		if w != g || wok != gok {
			bad++
			t.Errorf("%U %q: PostgreSQL folds to %q, FTS5 to %q", c, string(c), g, w)
		}
	}
}

// fts5Folds returns the characters from U+0001 to last (surrogates left out) that FTS5's
// trigram tokenizer (remove_diacritics 1) changes, with what it makes of them ("" when
// it drops them). Each is indexed after "xx", so its only trigram ends with its folding.
func fts5Folds(t *testing.T, last rune) map[rune]string {
	t.Helper()
	lite, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	lite.SetMaxOpenConns(1) // one in-memory database
	for _, q := range []string{
		"CREATE VIRTUAL TABLE f USING fts5 (x, tokenize = 'trigram remove_diacritics 1')",
		"CREATE VIRTUAL TABLE v USING fts5vocab (f, 'instance')",
		`WITH RECURSIVE c (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < ?)
			INSERT INTO f (rowid, x) SELECT n, 'xx' || char(n) FROM c WHERE n NOT BETWEEN 55296 AND 57343`,
	} {
		if _, err := lite.ExecContext(context.Background(), q, last); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	terms := foldsOf(t, lite, "SELECT doc, substr(term, 3) FROM v")
	out := map[rune]string{}
	for c := rune(1); c <= last; c++ {
		if c < 0xD800 || c > 0xDFFF {
			if f := terms[c]; f != string(c) { // "" when FTS5 dropped it: no trigram
				out[c] = f
			}
		}
	}
	return out
}

// foldsOf reads (code point, folding) rows.
func foldsOf(t *testing.T, db *sql.DB, query string, args ...any) map[rune]string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[rune]string{}
	for rows.Next() {
		var c rune
		var folded string
		if err := rows.Scan(&c, &folded); err != nil {
			t.Fatal(err)
		}
		out[c] = folded
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSearchPlansPostgres checks that PostgreSQL inlines process_search(?) into the
// queries that read it (no opaque function scan) and that a search can read its matches
// from the trigram index. Sequential scans are disabled: the test's tables are too small
// for the planner to prefer an index on its own.
func TestSearchPlansPostgres(t *testing.T) {
	postgresOnly(t, "reads PostgreSQL's query plans")
	ctx := context.Background()
	db, err := Open(ctx, TargetForTest(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	explain := func(query string, args ...any) string {
		t.Helper()
		rows, err := conn.QueryContext(ctx, "EXPLAIN (FORMAT TEXT) "+query, args...)
		if err != nil {
			t.Fatalf("explain %s: %v", query, err)
		}
		defer rows.Close()
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		return strings.Join(plan, "\n")
	}
	for _, text := range []string{"nunez", "jose gomez", "li wei"} {
		where, args, _ := SearchMatch(text)
		recent, recentArgs, _ := searchRecentIDs(text)
		history, historyArgs := HistoryQuery{Search: text, State: HistoryReview}.sqlOn(true, false)
		for _, c := range []struct {
			query string
			args  []any
			gin   bool // the trigram index must be used (else the planner may walk ak)
		}{
			{"SELECT p.id FROM processes p WHERE " + where, args, true},
			{recent, recentArgs, false},
			{history, historyArgs, false},
		} {
			plan := explain(c.query, c.args...)
			if strings.Contains(plan, "Function Scan") {
				t.Errorf("%q: process_search(?) not inlined:\n%s", text, plan)
			}
			if !strings.Contains(plan, "process_search_trgm") && !strings.Contains(plan, "process_search_pkey") {
				t.Errorf("%q: process_search read through no index:\n%s", text, plan)
			}
			if c.gin && !strings.Contains(plan, "process_search_trgm") {
				t.Errorf("%q: the trigram index not used:\n%s", text, plan)
			}
		}
	}
}
