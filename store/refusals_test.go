package store_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// refusalClock is a controlled clock for the refusal windows.
type refusalClock struct{ t time.Time }

func (c *refusalClock) now() time.Time      { return c.t }
func (c *refusalClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newRefusalClock(db *store.DB) *refusalClock {
	c := &refusalClock{t: time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)}
	db.Now = c.now
	return c
}

func countRows(t *testing.T, db *store.DB, action store.Action) int {
	t.Helper()
	var n int
	if err := db.SQL().QueryRow("SELECT count(*) FROM audit_events WHERE action = ?", string(action)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// refusalsIn sums what the audit says about refusals of action: one per recorded row,
// plus N per summary row "N more refusals …".
func refusalsIn(t *testing.T, db *store.DB, action store.Action) int {
	t.Helper()
	events, err := db.ListAudit(context.Background(), store.AuditFilter{Action: string(action), Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	more := regexp.MustCompile(`(\d+) more refusals for `)
	total := 0
	for _, e := range events {
		m := more.FindStringSubmatchIndex(e.Detail)
		if m == nil || m[0] > 0 {
			total++ // a refusal recorded one by one (perhaps telling the window before it)
		}
		if m != nil {
			n, _ := strconv.Atoi(e.Detail[m[2]:m[3]])
			total += n
		}
	}
	return total
}

// TestAuditRefusalBoundsGrowth: 5,000 refusals from one client over a few hours add a
// handful of audit rows, none is lost from the count, and the chain still verifies (L3).
func TestAuditRefusalBoundsGrowth(t *testing.T) {
	db := openDB(t)
	clock := newRefusalClock(db)
	ctx := context.Background()
	a := store.Actor{Email: "victim@example.com", IP: "203.0.113.7"}
	recorded := 0
	for i := range 5000 {
		ok, err := db.AuditRefusal(ctx, a, store.Refusal{Key: "ip:203.0.113.7", Action: store.ActionLogin,
			ObjectType: "user", Outcome: store.OutcomeFailure, Detail: fmt.Sprintf("bad credentials #%d", i)})
		if err != nil {
			t.Fatalf("refusal %d: %v", i, err)
		}
		if ok {
			recorded++
		}
		clock.add(3 * time.Second) // 5,000 refusals at the throttle's pace, over 4 h 10 min: five windows
	}
	clock.add(store.RefusalWindow)
	if _, err := db.SweepRefusals(ctx); err != nil {
		t.Fatal(err)
	}
	rows := countRows(t, db, store.ActionLogin)
	if rows >= 20 {
		t.Errorf("5,000 refusals added %d audit rows, want fewer than 20", rows)
	}
	if recorded != 5 {
		t.Errorf("recorded %d refusals one by one, want 5 (one per window)", recorded)
	}
	if got := refusalsIn(t, db, store.ActionLogin); got != 5000 {
		t.Errorf("the audit accounts for %d refusals, want all 5000", got)
	}
	if n, err := db.VerifyAudit(ctx); err != nil || n != rows {
		t.Errorf("verify: %d events, %v; want %d, intact", n, err, rows)
	}
}

// TestAuditRefusalRecordFirst: RecordFirst refusals are rows, the rest of the window is
// counted; keys and actions have their own windows.
func TestAuditRefusalRecordFirst(t *testing.T) {
	db := openDB(t)
	clock := newRefusalClock(db)
	ctx := context.Background()
	deny := func(key string, action store.Action) bool {
		t.Helper()
		ok, err := db.AuditRefusal(ctx, store.Actor{UserID: 0, Email: "x", IP: "192.0.2.1"}, store.Refusal{Key: key, RecordFirst: 3,
			Action: action, ObjectType: "process", ObjectID: "p1", Outcome: store.OutcomeDenied, Detail: "unknown process"})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	var got []bool
	for range 5 {
		got = append(got, deny("user:1", store.ActionAccessDenied))
	}
	if want := []bool{true, true, true, false, false}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("recorded %v, want %v", got, want)
	}
	if !deny("user:2", store.ActionAccessDenied) || !deny("user:1", store.ActionLogin) {
		t.Error("another key or action shared the window")
	}
	if deny("user:1", store.ActionAccessDenied) {
		t.Error("a refusal beyond RecordFirst was recorded")
	}
	clock.add(store.RefusalWindow)
	if !deny("user:1", store.ActionAccessDenied) {
		t.Error("the first refusal of a new window was not recorded")
	}
	events, err := db.ListAudit(ctx, store.AuditFilter{Action: string(store.ActionAccessDenied), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	// The new window's row tells the old window's count (3), no row of its own.
	if len(events) != 5 || !strings.Contains(events[0].Detail, "; before this, 3 more refusals for user:1 ") {
		t.Fatalf("want 5 rows (3 + user:2 + the new window's), the newest telling the old window's count, got %+v", events)
	}
}

// TestSweepRefusalsClosesQuietWindows: a burst that stops is summed up by the sweep; a
// window with nothing counted closes without a row.
func TestSweepRefusalsClosesQuietWindows(t *testing.T) {
	db := openDB(t)
	clock := newRefusalClock(db)
	ctx := context.Background()
	for i := range 4 {
		if _, err := db.AuditRefusal(ctx, store.Actor{IP: "198.51.100.9"}, store.Refusal{Key: "ip:198.51.100.9",
			Action: store.ActionLogin, Outcome: store.OutcomeDenied, Detail: "throttled"}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if _, err := db.AuditRefusal(ctx, store.Actor{IP: "198.51.100.10"}, store.Refusal{Key: "ip:198.51.100.10",
				Action: store.ActionLogin, Outcome: store.OutcomeDenied, Detail: "throttled"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n, err := db.SweepRefusals(ctx); err != nil || n != 0 {
		t.Fatalf("sweep inside the window closed %d, %v; want 0", n, err)
	}
	clock.add(store.RefusalWindow + time.Second)
	if n, err := db.SweepRefusals(ctx); err != nil || n != 2 {
		t.Fatalf("sweep closed %d windows, %v; want 2", n, err)
	}
	if got, want := countRows(t, db, store.ActionLogin), 3; got != want { // 2 first rows + 1 summary
		t.Errorf("rows %d, want %d", got, want)
	}
	if got := refusalsIn(t, db, store.ActionLogin); got != 5 {
		t.Errorf("the audit accounts for %d refusals, want 5", got)
	}
	if _, err := db.VerifyAudit(ctx); err != nil {
		t.Error(err)
	}
}

// TestSafeAuditText: control and bidi characters never reach the audit as they are (C5).
func TestSafeAuditText(t *testing.T) {
	tests := []struct {
		in        string
		max       int
		multiLine bool
		want      string
	}{
		{"alice@example.com", 254, false, "alice@example.com"},
		{"victim@example.com\u202e | auth.login | success", 254, false, `victim@example.com\u202e | auth.login | success`},
		{"a\nb\tc\x00", 254, false, `a\u000ab\u0009c\u0000`},
		{"line one\nline two", 254, true, "line one\nline two"},
		{"zero\u200bwidth\ufeff\u2066iso\u2069", 254, false, `zero\u200bwidth\ufeff\u2066iso\u2069`},
		{"bad \xff byte", 254, false, `bad \xff byte`},
		{"tag \U000E0041", 254, false, `tag \U000e0041`},
		{"Núñez", 254, false, "Núñez"},
		{strings.Repeat("é", 10), 4, false, "éééé…"},
	}
	for _, tt := range tests {
		if got := store.SafeAuditText(tt.in, tt.max, tt.multiLine); got != tt.want {
			t.Errorf("SafeAuditText(%q, %d, %t) = %q, want %q", tt.in, tt.max, tt.multiLine, got, tt.want)
		}
	}
}

// TestAuditStoresSafeActor: an audit row written with a hostile actor keeps it escaped,
// and the chain verifies.
func TestAuditStoresSafeActor(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	a := store.Actor{Email: "victim@example.com\u202e\n | auth.login | success", IP: "192.0.2.1"}
	if err := db.Audit(ctx, a, store.ActionLogin, "user", "x\u202ey", store.OutcomeFailure, "bad credentials\u2028"); err != nil {
		t.Fatal(err)
	}
	events, err := db.ListAudit(ctx, store.AuditFilter{Limit: 1})
	if err != nil || len(events) != 1 {
		t.Fatalf("list: %v %v", events, err)
	}
	e := events[0]
	if e.Actor != `victim@example.com\u202e\u000a | auth.login | success` || e.ObjectID != `x\u202ey` || e.Detail != `bad credentials\u2028` {
		t.Errorf("stored %q / %q / %q", e.Actor, e.ObjectID, e.Detail)
	}
	if _, err := db.VerifyAudit(ctx); err != nil {
		t.Error(err)
	}
}

// TestCreateSessionCapsSessions: signing in beyond MaxSessionsPerUser ends the oldest
// sessions, each end audited; other users' sessions are untouched.
func TestCreateSessionCapsSessions(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	u := newUser(t, db, "many@example.com", store.RoleAgent)
	other := newUser(t, db, "other@example.com", store.RoleAgent)
	newSession(t, db, other, "other-token")
	start := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	var ids []int64
	for i := range store.MaxSessionsPerUser + 2 {
		at := start.Add(time.Duration(i) * time.Minute)
		s := &store.Session{TokenHash: store.HashToken(fmt.Sprint("t", i)), UserID: u.ID, CreatedAt: at, LastSeenAt: at, ExpiresAt: at.Add(8 * time.Hour)}
		if err := db.CreateSession(ctx, store.Actor{UserID: u.ID, Email: u.Email}, s); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	list, err := db.ListUserSessions(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != store.MaxSessionsPerUser {
		t.Fatalf("%d sessions, want %d", len(list), store.MaxSessionsPerUser)
	}
	for _, s := range list {
		if s.ID == ids[0] || s.ID == ids[1] {
			t.Errorf("session %d, one of the two oldest, is still there", s.ID)
		}
	}
	if o, _ := db.ListUserSessions(ctx, other.ID); len(o) != 1 {
		t.Errorf("the other user has %d sessions, want 1", len(o))
	}
	ends, err := db.ListAudit(ctx, store.AuditFilter{Action: string(store.ActionSessionEnd), ObjectType: "user", ObjectID: fmt.Sprint(u.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ends) != 2 || !strings.Contains(ends[0].Detail, "oldest session ended") {
		t.Errorf("session.end rows %+v, want 2 naming the cap", ends)
	}
}

// TestRecentSuccesses counts a user's successful rows of an action since a time.
func TestRecentSuccesses(t *testing.T) {
	db := openDB(t)
	clock := newRefusalClock(db)
	ctx := context.Background()
	u := newUser(t, db, "creator@example.com", store.RoleAgent)
	a := store.Actor{UserID: u.ID, Email: u.Email}
	first := clock.now()
	for i := range 3 {
		if err := db.Audit(ctx, a, store.ActionProcessCreate, "process", fmt.Sprint("p", i), store.OutcomeSuccess, ""); err != nil {
			t.Fatal(err)
		}
		clock.add(10 * time.Minute)
	}
	if err := db.Audit(ctx, a, store.ActionProcessCreate, "process", "failed", store.OutcomeFailure, ""); err != nil {
		t.Fatal(err)
	}
	n, oldest, err := db.RecentSuccesses(ctx, u.ID, store.ActionProcessCreate, first.Add(5*time.Minute))
	if err != nil || n != 2 || !oldest.Equal(first.Add(10*time.Minute)) {
		t.Errorf("got %d, %v, %v; want 2 since the second, oldest %v", n, oldest, err, first.Add(10*time.Minute))
	}
}
