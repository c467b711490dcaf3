package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/store/pgtest"
)

// history reads every page of q (Limit per page), failing the test on an error, and
// checks the pages join up: no row twice, keys strictly decreasing.
func history(t *testing.T, db *store.DB, q store.HistoryQuery) []*store.HistoryRow {
	t.Helper()
	var out []*store.HistoryRow
	seen := map[string]bool{}
	for page := 0; ; page++ {
		rows, more, err := db.History(context.Background(), q)
		if err != nil {
			t.Fatalf("history %+v: %v", q, err)
		}
		for _, r := range rows {
			if seen[r.ID] {
				t.Fatalf("history %+v: %s on two pages", q, r.ID)
			}
			seen[r.ID] = true
			if n := len(out); n > 0 && out[n-1].Key <= r.Key {
				t.Fatalf("history %+v: key %d after %d", q, r.Key, out[n-1].Key)
			}
			out = append(out, r)
		}
		if !more {
			return out
		}
		if len(rows) == 0 || page > 1000 {
			t.Fatalf("history %+v: more pages but no rows", q)
		}
		q.After = rows[len(rows)-1].Key
	}
}

func historyIDs(rows []*store.HistoryRow) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.ID)
	}
	return out
}

func TestHistoryFollowsEachProcess(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	a := newUser(t, db, "a@example.com", store.RoleAgent)
	b := newUser(t, db, "b@example.com", store.RoleAgent)
	reason := reasonByCode(t, db, "data-mismatch")
	reject := func(id string) store.NewDecision {
		return store.NewDecision{ProcessID: id, Verdict: store.VerdictReject, ReasonID: reason.ID, Comment: reason.CustomerText}
	}
	at := func(h int) time.Time { return procBase.Add(time.Duration(h) * time.Hour) }

	upsert(t, db, store.SourceCreated, inProgress("p-open", at(-10)))
	upsert(t, db, store.SourceWebhook, inReview("p-review", at(-9)))
	for _, id := range []string{"p-decided", "p-accepted", "p-rejected", "p-gone", "p-overturned", "p-purged", "p-parked"} {
		upsert(t, db, store.SourceWebhook, inReview(id, at(-8)))
	}
	clk.Set(at(-7))
	mustDecide(t, db, a, acceptOf("p-decided"))
	clk.Set(at(-6))
	d := mustDecide(t, db, b, acceptOf("p-accepted"))
	deliver(t, db, d.ID, store.DeliveryOutcome{State: store.StateDelivered, GatewayStatus: "VERIFIED", Audit: true})
	clk.Set(at(-5))
	d = mustDecide(t, db, a, reject("p-rejected"))
	deliver(t, db, d.ID, store.DeliveryOutcome{State: store.StateDelivered, GatewayStatus: "NOT_VERIFIED", Audit: true})
	clk.Set(at(-4))
	d = mustDecide(t, db, a, store.NewDecision{ProcessID: "p-overturned", Verdict: store.VerdictAccept, SecondReview: true})
	if err := db.Overturn(ctx, actorOf(b), d.ID, "face does not match", 5*time.Minute, allow); err != nil {
		t.Fatal(err)
	}
	clk.Set(at(-3))
	d = mustDecide(t, db, b, reject("p-parked"))
	deliver(t, db, d.ID, store.DeliveryOutcome{State: store.StateQueued, Next: at(-2), Error: "timeout"})
	if err := db.MarkGone(ctx, "p-gone"); err != nil {
		t.Fatal(err)
	}
	clk.Set(at(-2))
	d = mustDecide(t, db, b, acceptOf("p-purged"))
	deliver(t, db, d.ID, store.DeliveryOutcome{State: store.StateDelivered, GatewayStatus: "VERIFIED", Audit: true})
	if _, err := db.SQL().ExecContext(ctx, "UPDATE processes SET purged_at = ?, holder_name = '', customer_ref = '' WHERE id = 'p-purged'",
		"2026-05-04T13:00:00.000000000Z"); err != nil {
		t.Fatal(err)
	}

	type want struct {
		state     store.HistoryState
		verdict   store.Verdict
		by        int64
		delivery  string
		activity  time.Time
		reviewble bool
	}
	wants := map[string]want{
		"p-open":       {store.HistoryOpen, "", 0, "", at(-10), false},
		"p-review":     {store.HistoryReview, "", 0, "", at(-9), true},
		"p-decided":    {store.HistoryDecided, store.VerdictAccept, a.ID, "Queued", at(-7), false},
		"p-accepted":   {store.HistoryAccepted, store.VerdictAccept, b.ID, "Delivered", at(-6), false},
		"p-rejected":   {store.HistoryRejected, store.VerdictReject, a.ID, "Delivered", at(-5), false},
		"p-overturned": {store.HistoryReview, "", 0, "", at(-8), true}, // back in review; the overturned decision is not live
		"p-parked":     {store.HistoryDecided, store.VerdictReject, b.ID, "Retrying", at(-3), false},
		"p-gone":       {store.HistoryGone, "", 0, "", at(-8), false},
		"p-purged":     {store.HistoryPurged, store.VerdictAccept, b.ID, "Delivered", at(-2), false},
	}
	rows := history(t, db, store.HistoryQuery{})
	if len(rows) != len(wants) {
		t.Fatalf("history: got %q, want %d processes", historyIDs(rows), len(wants))
	}
	for _, r := range rows {
		w := wants[r.ID]
		if r.State != w.state || !r.ActivityAt.Equal(w.activity) || r.Reviewable != w.reviewble {
			t.Errorf("%s: got state %s activity %v reviewable %v, want %s %v %v", r.ID, r.State, r.ActivityAt, r.Reviewable, w.state, w.activity, w.reviewble)
		}
		switch {
		case w.verdict == "" && r.Decision != nil:
			t.Errorf("%s: got decision %+v, want none", r.ID, r.Decision)
		case w.verdict != "" && r.Decision == nil:
			t.Errorf("%s: no decision, want %s by %d", r.ID, w.verdict, w.by)
		case w.verdict != "":
			dn := r.Decision
			if dn.Verdict != w.verdict || dn.DecidedBy != w.by || dn.StateLabel() != w.delivery || !dn.DecidedAt.Equal(w.activity) {
				t.Errorf("%s: got %s by %d (%q) at %v %q, want %s by %d at %v %q", r.ID, dn.Verdict, dn.DecidedBy, dn.DecidedByName,
					dn.DecidedAt, dn.StateLabel(), w.verdict, w.by, w.activity, w.delivery)
			}
			if wantName := map[int64]string{a.ID: a.DisplayName, b.ID: b.DisplayName}[w.by]; dn.DecidedByName != wantName {
				t.Errorf("%s: decided by %q, want %q", r.ID, dn.DecidedByName, wantName)
			}
		}
	}
	// Newest activity first.
	wantOrder := []string{"p-purged", "p-parked", "p-rejected", "p-accepted", "p-decided", "p-overturned", "p-gone", "p-review", "p-open"}
	// Equal activity (the three at -8 h): the later indexed first.
	if got := historyIDs(rows); !slices.Equal(got, wantOrder) {
		t.Errorf("order: got %q, want %q", got, wantOrder)
	}
	if p := rows[0]; p.HolderName != "" || p.CustomerRef != "" || p.PurgedAt.IsZero() {
		t.Errorf("purged row: got %q %q purged %v", p.HolderName, p.CustomerRef, p.PurgedAt)
	}

	// Every filter and combination selects exactly its rows.
	filters := []struct {
		q    store.HistoryQuery
		want []string
	}{
		{store.HistoryQuery{State: store.HistoryOpen}, []string{"p-open"}},
		{store.HistoryQuery{State: store.HistoryReview}, []string{"p-overturned", "p-review"}},
		{store.HistoryQuery{State: store.HistoryDecided}, []string{"p-parked", "p-decided"}},
		{store.HistoryQuery{State: store.HistoryAccepted}, []string{"p-accepted"}},
		{store.HistoryQuery{State: store.HistoryRejected}, []string{"p-rejected"}},
		{store.HistoryQuery{State: store.HistoryGone}, []string{"p-gone"}},
		{store.HistoryQuery{State: store.HistoryPurged}, []string{"p-purged"}},
		{store.HistoryQuery{Verdict: store.VerdictAccept}, []string{"p-purged", "p-accepted", "p-decided"}},
		{store.HistoryQuery{Verdict: store.VerdictReject}, []string{"p-parked", "p-rejected"}},
		{store.HistoryQuery{DecidedBy: a.ID}, []string{"p-rejected", "p-decided"}},
		{store.HistoryQuery{DecidedBy: b.ID}, []string{"p-purged", "p-parked", "p-accepted"}},
		{store.HistoryQuery{DecidedBy: 9999}, nil},
		{store.HistoryQuery{DecidedBy: b.ID, Verdict: store.VerdictAccept}, []string{"p-purged", "p-accepted"}},
		{store.HistoryQuery{DecidedBy: b.ID, State: store.HistoryDecided}, []string{"p-parked"}},
		{store.HistoryQuery{State: store.HistoryDecided, Verdict: store.VerdictAccept}, []string{"p-decided"}},
		{store.HistoryQuery{DecidedBy: a.ID, State: store.HistoryRejected, Verdict: store.VerdictReject}, []string{"p-rejected"}},
		{store.HistoryQuery{DecidedBy: a.ID, State: store.HistoryRejected, Verdict: store.VerdictAccept}, nil},
		{store.HistoryQuery{Since: at(-7), Until: at(-4)}, []string{"p-rejected", "p-accepted", "p-decided"}},
		{store.HistoryQuery{Since: at(-8)}, []string{"p-purged", "p-parked", "p-rejected", "p-accepted", "p-decided", "p-overturned", "p-gone"}},
		{store.HistoryQuery{Until: at(-8)}, []string{"p-review", "p-open"}},
		{store.HistoryQuery{Since: at(-8), Until: at(-8).Add(time.Second), State: store.HistoryReview}, []string{"p-overturned"}},
		{store.HistoryQuery{Search: "garcia", State: store.HistoryReview}, []string{"p-overturned", "p-review"}},
		{store.HistoryQuery{Search: "p-parked"}, []string{"p-parked"}},
		{store.HistoryQuery{Search: "C-p-gone", Since: at(-9)}, []string{"p-gone"}},
		{store.HistoryQuery{Search: "garcia", DecidedBy: b.ID, Verdict: store.VerdictReject}, []string{"p-parked"}},
		{store.HistoryQuery{Search: "garcia", Until: at(-6)}, []string{"p-decided", "p-overturned", "p-gone", "p-review"}},
	}
	for _, f := range filters {
		for _, limit := range []int{1, 2, 50} {
			q := f.q
			q.Limit = limit
			if got := historyIDs(history(t, db, q)); !slices.Equal(got, f.want) && (len(got) > 0 || len(f.want) > 0) {
				t.Errorf("history %+v: got %q, want %q", q, got, f.want)
			}
		}
	}
}

func TestHistoryPagesAndActivity(t *testing.T) {
	db, clk := openClockedDB(t)
	a := newUser(t, db, "a@example.com", store.RoleAgent)
	var want []string
	// 130 processes a minute apart, then 7 whose last update is the same second.
	for i := range 130 {
		id := fmt.Sprintf("p-%03d", i)
		upsert(t, db, store.SourceWebhook, inReview(id, procBase.Add(-time.Duration(200-i)*time.Minute)))
		want = append([]string{id}, want...)
	}
	for i := range 7 {
		id := fmt.Sprintf("tie-%d", i)
		upsert(t, db, store.SourceWebhook, inReview(id, procBase.Add(-10*time.Minute+time.Duration(i)*time.Millisecond)))
		want = append([]string{id}, want...) // equal seconds: the later indexed first
	}
	for _, limit := range []int{1, 3, 7, 50, 136, 137, 200} {
		rows, more, err := db.History(context.Background(), store.HistoryQuery{Limit: limit})
		if wantRows, wantMore := min(limit, len(want)), limit < len(want); err != nil || len(rows) != wantRows || more != wantMore {
			t.Fatalf("first page of %d: got %d rows, more %v, err %v; want %d, more %v", limit, len(rows), more, err, wantRows, wantMore)
		}
		if got := historyIDs(history(t, db, store.HistoryQuery{Limit: limit})); !slices.Equal(got, want) {
			t.Errorf("pages of %d: got %q, want %q", limit, got, want)
		}
	}
	if rows, _, _ := db.History(context.Background(), store.HistoryQuery{Limit: 1000}); len(rows) != 50 {
		t.Errorf("limit 1000: got %d rows, want the default 50", len(rows))
	}
	// Deciding the oldest process makes it the newest activity.
	clk.Set(procBase)
	mustDecide(t, db, a, acceptOf("p-000"))
	rows, _, err := db.History(context.Background(), store.HistoryQuery{Limit: 2})
	if err != nil || len(rows) != 2 || rows[0].ID != "p-000" || !rows[0].ActivityAt.Equal(procBase) {
		t.Fatalf("after deciding p-000: got %q, %v", historyIDs(rows), err)
	}
	// A later update from Mobbscan moves a process up, and the search follows it.
	s := inReview("p-050", procBase.Add(time.Minute))
	s.HolderName = "Zoë Núñez"
	upsert(t, db, store.SourceWebhook, s)
	rows, _, _ = db.History(context.Background(), store.HistoryQuery{Search: "nunez", Limit: 5})
	if len(rows) != 1 || rows[0].ID != "p-050" || !rows[0].ActivityAt.Equal(procBase.Add(time.Minute)) {
		t.Errorf("search after the update: got %q", historyIDs(rows))
	}
	rows, _, _ = db.History(context.Background(), store.HistoryQuery{Limit: 1})
	if len(rows) != 1 || rows[0].ID != "p-050" {
		t.Errorf("newest after the update: got %q, want p-050", historyIDs(rows))
	}
	// A malformed or foreign cursor is a page, never an error.
	for _, after := range []int64{1, -5, 1 << 62, 9223372036854775807} {
		if _, _, err := db.History(context.Background(), store.HistoryQuery{After: after, Search: "gar"}); err != nil {
			t.Errorf("after %d: %v", after, err)
		}
	}
	checkSearchIndex(t, db)
}

func TestHistoryDatesOutsideTheKeyRange(t *testing.T) {
	db, _ := openClockedDB(t)
	upsert(t, db, store.SourceWebhook, inReview("p-old", time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)))
	upsert(t, db, store.SourceWebhook, inReview("p-now", procBase))
	for _, q := range []store.HistoryQuery{
		{Since: time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC)},
		{Until: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Since: time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if got := historyIDs(history(t, db, q)); !slices.Equal(got, []string{"p-now", "p-old"}) {
			t.Errorf("%+v: got %q", q, got)
		}
	}
}

// TestHistoryMigrationIndexesExistingProcesses applies 0015 to a database that already
// has processes and decisions (an existing installation, where 0010 came first).
func TestHistoryMigrationIndexesExistingProcesses(t *testing.T) {
	ctx := context.Background()
	path := store.TargetForTest(t)
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	clk := &procClock{t: procBase}
	db.Now = clk.Now
	a := newUser(t, db, "a@example.com", store.RoleAgent)
	for i, id := range []string{"p-1", "p-2", "p-3"} {
		s := inReview(id, procBase.Add(-time.Duration(3-i)*time.Hour))
		s.HolderName = []string{"María Núñez", "José Gómez", "Ana García"}[i]
		upsert(t, db, store.SourceWebhook, s)
	}
	mustDecide(t, db, a, acceptOf("p-1"))
	undoSearchMigration(t, db)
	db.Close()

	db, err = store.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	got := history(t, db, store.HistoryQuery{})
	if ids := historyIDs(got); !slices.Equal(ids, []string{"p-1", "p-3", "p-2"}) {
		t.Fatalf("history after the migration: got %q", ids)
	}
	if got[0].State != store.HistoryDecided || got[0].Decision == nil || got[0].Decision.DecidedBy != a.ID {
		t.Errorf("p-1: got %s %+v, want decided by %d", got[0].State, got[0].Decision, a.ID)
	}
	if ids := historyIDs(history(t, db, store.HistoryQuery{Search: "nunez"})); !slices.Equal(ids, []string{"p-1"}) {
		t.Errorf("search nunez: got %q", ids)
	}
	checkSearchIndex(t, db)
	// And the triggers work on the upgraded database.
	upsert(t, db, store.SourceWebhook, inProgress("p-4", procBase))
	if ids := historyIDs(history(t, db, store.HistoryQuery{State: store.HistoryOpen})); !slices.Equal(ids, []string{"p-4"}) {
		t.Errorf("new process: got %q", ids)
	}
	checkSearchIndex(t, db)
}

// undoSearchMigration drops what migration 0015 made, as if it had never run.
func undoSearchMigration(t testing.TB, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	if pgtest.Engine() == "postgres" {
		// process_history is 0001's there: undo 0002, the search.
		for _, q := range []string{"DROP TABLE process_search CASCADE",
			"DROP FUNCTION process_search(text), process_search_patterns(text), process_search_text(text, text, text), process_search_fold(text)",
			"DROP FUNCTION process_history_search_insert, process_history_search_move, process_history_search_delete, processes_search_update CASCADE",
			"DELETE FROM schema_migrations WHERE version = 2"} {
			if _, err := db.SQL().ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		return
	}
	var drops []string
	rows, err := db.SQL().QueryContext(ctx, `SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'view')
		AND (sql LIKE '%process_history%' OR sql LIKE '%process_search%')`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var typ, name string
		if err := rows.Scan(&typ, &name); err != nil {
			t.Fatal(err)
		}
		drops = append(drops, fmt.Sprintf("DROP %s %s", typ, name))
	}
	rows.Close()
	drops = append(drops, "DROP TABLE process_search", "DROP TABLE process_history", "DELETE FROM schema_migrations WHERE version = 15")
	for _, q := range drops {
		if _, err := db.SQL().ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
