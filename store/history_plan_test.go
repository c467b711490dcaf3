package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// queryPlan returns SQLite's plan for query, one step a line.
func queryPlan(t *testing.T, db *DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", query, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return plan
}

// TestHistoryPlansReadOnlyWhatTheyShow checks the plan of the first (and a later) page of
// every filter and combination: processes are only looked up by id; the history is read
// from an index that holds the filters' columns before ak, in ak order, so the page
// stops at its last row (no sort); a search is driven by the full-text index in ak order.
func TestHistoryPlansReadOnlyWhatTheyShow(t *testing.T) {
	SQLiteOnly(t, "reads SQLite's query plans")
	db, err := Open(context.Background(), TargetForTest(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	day := time.Date(2030, 3, 4, 0, 0, 0, 0, time.UTC)
	var queries []HistoryQuery
	for _, state := range []HistoryState{"", HistoryAccepted, HistoryPurged} {
		for _, verdict := range []Verdict{"", VerdictReject} {
			for _, by := range []int64{0, 7} {
				for _, dates := range [][2]time.Time{{}, {day, {}}, {{}, day}, {day, day.AddDate(0, 0, 1)}} {
					for _, after := range []int64{0, 1 << 40} {
						for _, search := range []string{"", "nunez", "jose gomez", "li wei", `"NEAR(*)"`} {
							queries = append(queries, HistoryQuery{State: state, Verdict: verdict, DecidedBy: by,
								Since: dates[0], Until: dates[1], After: after, Search: search})
						}
					}
				}
			}
		}
	}
	for _, q := range queries {
		for _, exact := range []bool{false, true} {
			historyPlanCheck(t, db, q, exact)
		}
	}
}

func historyPlanCheck(t *testing.T, db *DB, q HistoryQuery, exact bool) {
	t.Helper()
	{
		query, args := q.sql(exact)
		plan := queryPlan(t, db, query, args...)
		text := strings.Join(plan, "\n")
		fail := func(why string) { t.Errorf("%+v (exact %v): %s:\n%s", q, exact, why, text) }
		s, searching := parseSearch(q.Search)
		// An exact id or reference: a handful of rows, sorted.
		lookup := searching && (exact || s.match == "")
		for _, step := range plan {
			switch {
			case step == "SCAN p", strings.HasPrefix(step, "SCAN p "), strings.HasPrefix(step, "SCAN processes"):
				fail("scans processes")
			case step == "SCAN h", strings.HasPrefix(step, "SCAN h ") && step != "SCAN h USING INDEX process_history_ak":
				fail("scans the history")
			case strings.HasPrefix(step, "SCAN process_search") && !strings.Contains(step, "INDEX 192:M"):
				fail("the full-text index does not hand over matches newest first")
			case strings.Contains(step, "TEMP B-TREE") && !lookup:
				fail("sorts")
			case strings.HasPrefix(step, "SEARCH p ") && step != "SEARCH p USING INDEX sqlite_autoindex_processes_1 (id=?)":
				fail("reads processes other than by id")
			}
		}
		if searching && !lookup {
			if !strings.HasPrefix(plan[0], "SCAN process_search") {
				fail("a search not driven by the full-text index")
			}
			return
		}
		if lookup {
			if !strings.Contains(text, "LIST SUBQUERY") || !strings.Contains(text, "MULTI-INDEX OR") {
				fail("an exact id or reference not looked up through the indexes")
			}
			return
		}
		// The index that holds every equality filter, ranged on ak.
		want := "process_history_"
		var cols []string
		if q.DecidedBy != 0 {
			want, cols = want+"by_", append(cols, "decided_by=?")
		}
		if q.State != "" {
			want, cols = want+"state_", append(cols, "state=?")
		}
		if q.Verdict != "" {
			want, cols = want+"verdict_", append(cols, "verdict=?")
		}
		want += "ak"
		if len(cols) == 0 && q.Since.IsZero() && q.Until.IsZero() && q.After == 0 {
			want = "SCAN h USING INDEX " + want
		} else {
			want = "SEARCH h USING INDEX " + want + " (" + strings.Join(cols, " AND ")
		}
		if !strings.HasPrefix(plan[0], want) {
			fail("want " + want)
		}
		if (!q.Since.IsZero() || !q.Until.IsZero() || q.After != 0) && !strings.Contains(plan[0], "ak") {
			fail("the date range or cursor is not a range of the index")
		}
	}
}

// TestSearchMatchPlans checks that SearchMatch's condition finds its matches through an
// index (the search index, or the id and reference indexes), alone and in a queue-like
// query, and never scans processes. (In the queue-like query SQLite walks the queue's
// index in order and checks each process against the set of matches.)
func TestSearchMatchPlans(t *testing.T) {
	SQLiteOnly(t, "reads SQLite's query plans")
	db, err := Open(context.Background(), TargetForTest(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, text := range []string{"nunez", "ab", "jose gomez", `"a" OR b*`} {
		where, args, ok := SearchMatch(text)
		if !ok {
			t.Fatalf("%q: no condition", text)
		}
		for _, query := range []string{
			"SELECT p.id FROM processes p WHERE " + where,
			"SELECT p.id FROM processes p WHERE p.reviewable = 1 AND " + where + " ORDER BY p.review_since, p.id LIMIT 51",
		} {
			plan := strings.Join(queryPlan(t, db, query, args...), "\n")
			t.Logf("%q in %s:\n%s", text, query, plan)
			if strings.Contains(plan+"\n", "SCAN p\n") || strings.Contains(plan, "SCAN processes") || strings.Contains(plan, "SCAN sh") {
				t.Errorf("%q in %s: scans a table:\n%s", text, query, plan)
			}
			if !strings.Contains(plan, "LIST SUBQUERY") || !strings.Contains(plan, "process_search VIRTUAL TABLE INDEX 0:M") &&
				!strings.Contains(plan, "processes_customer_ref") {
				t.Errorf("%q in %s: no index lookup:\n%s", text, query, plan)
			}
		}
	}
	if _, _, ok := SearchMatch(" \x00 "); ok {
		t.Error("blank text: got a condition")
	}
}

func TestHistoryKeyPacksSecondsBeforeSeq(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want int64
	}{
		{time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{time.Date(2000, 1, 1, 0, 0, 1, 999, time.UTC), 1 << 31},
		{time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), (1<<32 - 1) << 31},
	} {
		if got := historyKey(tc.t); got != tc.want {
			t.Errorf("historyKey(%v): got %d, want %d", tc.t, got, tc.want)
		}
	}
	// The key the migration computes for a process agrees with historyKey.
	db, err := Open(context.Background(), TargetForTest(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2030, 3, 4, 9, 10, 11, 123456789, time.UTC)
	if _, err := db.UpsertProcess(context.Background(), SourceTracked, Snapshot{ID: "p", Status: "PENDING", UpdatedAt: at}, at); err != nil {
		t.Fatal(err)
	}
	var seq, ak int64
	if err := db.db.QueryRow("SELECT seq, ak FROM process_history WHERE process_id = 'p'").Scan(&seq, &ak); err != nil {
		t.Fatal(err)
	}
	if want := historyKey(at) | seq; ak != want {
		t.Errorf("ak: got %d, want %d (%s)", ak, want, fmt.Sprint(at))
	}
}
