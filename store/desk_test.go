package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// The desk tests (skip, escalation, the send-back outbox, QA sampling) run on real
// SQLite files with small rules of their own: the real rules (review/rules.go, "Running
// the desk") are tested in review against the sandbox.

// allowSendBack is the permissive send-back rule.
func allowSendBack(*store.SendBackCase) error { return nil }

// refuseSendBack refuses every send-back write with errRefused.
func refuseSendBack(*store.SendBackCase) error { return errRefused }

// nextFor is "Next case" as review asks for it: the agent's own skips left out.
func nextFor(t *testing.T, db *store.DB, u *store.User) string {
	t.Helper()
	p, err := db.ClaimNext(context.Background(), actorOf(u), 5*time.Minute, store.QueueQuery{SkippedBy: u.ID}, allow)
	if errors.Is(err, store.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatalf("next case for %s: %v", u.Email, err)
	}
	return p.ID
}

// skipRows returns the skips table as "user process until" lines, sorted.
func skipRows(t *testing.T, db *store.DB) []string {
	t.Helper()
	rows, err := db.SQL().QueryContext(context.Background(), "SELECT user_id, process_id, until FROM skips ORDER BY user_id, process_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var user int64
		var id, until string
		if err := rows.Scan(&user, &id, &until); err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Join([]string{itoa(user), id, until}, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// skipUntil is how the skips table stores a time.
func skipUntil(at time.Time) string { return at.UTC().Format("2006-01-02T15:04:05.000000000Z") }

// deskDump is dump with the desk's own tables: a refused desk write changes none.
func deskDump(t *testing.T, db *store.DB) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(dump(t, db))
	for _, table := range []string{"skips", "send_backs"} {
		rows, err := db.SQL().QueryContext(context.Background(), "SELECT * FROM "+table)
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("dump %s: %v", table, err)
			}
			lines = append(lines, fmt.Sprint(vals...))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		slices.Sort(lines)
		fmt.Fprintf(&b, "%s (%d rows)\n%s\n", table, len(lines), strings.Join(lines, "\n"))
	}
	return b.String()
}

func wantDeskUnchanged(t *testing.T, db *store.DB, what, before string) {
	t.Helper()
	if after := deskDump(t, db); after != before {
		t.Errorf("%s wrote something:\nbefore:\n%s\nafter:\n%s", what, before, after)
	}
}

// queueIDs lists the ids of a queue page.
func queueIDs(t *testing.T, db *store.DB, q store.QueueQuery) []string {
	t.Helper()
	ps, _, err := db.Queue(context.Background(), q)
	if err != nil {
		t.Fatalf("queue %+v: %v", q, err)
	}
	return idsOf(ps)
}

func countSendBacks(t *testing.T, db *store.DB, processID string) int {
	t.Helper()
	var n int
	if err := db.SQL().QueryRowContext(context.Background(), "SELECT count(*) FROM send_backs WHERE process_id = ?", processID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func mustSendBack(t *testing.T, db *store.DB, id int64) *store.SendBack {
	t.Helper()
	sb, err := db.GetSendBack(context.Background(), id)
	if err != nil {
		t.Fatalf("send-back %d: %v", id, err)
	}
	return sb
}

// startSendBack marks a queued send-back as being sent, as the worker does.
func startSendBack(t *testing.T, db *store.DB, id int64) *store.SendBack {
	t.Helper()
	if ok, err := db.StartSendBack(context.Background(), id); !ok || err != nil {
		t.Fatalf("start send-back %d: got %v %v, want true", id, ok, err)
	}
	return mustSendBack(t, db, id)
}

// finishSendBack takes a queued send-back through one attempt with outcome o, as the
// worker does: it finishes the row as it read it when due (before the start counted the
// attempt).
func finishSendBack(t *testing.T, db *store.DB, id int64, o store.ErasureOutcome) *store.SendBack {
	t.Helper()
	sb := mustSendBack(t, db, id)
	startSendBack(t, db, id)
	if err := db.FinishSendBack(context.Background(), sb, o); err != nil {
		t.Fatalf("finish send-back %d: %v", id, err)
	}
	return mustSendBack(t, db, id)
}

func requestSendBack(t *testing.T, db *store.DB, u *store.User, id, reason string) *store.SendBack {
	t.Helper()
	sb, err := db.RequestSendBack(context.Background(), actorOf(u), id, reason, allowSendBack)
	if err != nil {
		t.Fatalf("request send-back of %s: %v", id, err)
	}
	return sb
}

func dueSendBackIDs(t *testing.T, db *store.DB) []int64 {
	t.Helper()
	due, err := db.DueSendBacks(context.Background(), 50)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, sb := range due {
		out = append(out, sb.ID)
	}
	return out
}

// TestSkipKeepsTheCaseOutOfTheAgentsNextCase: a skip releases the agent's claim and is
// audited; while it lasts, that agent's "Next case" leaves the case out and other
// agents still get it; skipping again moves the time; the agent's lapsed skips go
// when they skip again; a refused skip changes nothing.
func TestSkipKeepsTheCaseOutOfTheAgentsNextCase(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	ana := newUser(t, db, "ana@example.com", store.RoleAgent)
	bob := newUser(t, db, "bob@example.com", store.RoleAgent)
	upsert(t, db, store.SourceWebhook, inReview("s-old", procBase.Add(-2*time.Hour)))
	upsert(t, db, store.SourceWebhook, inReview("s-new", procBase.Add(-time.Hour)))
	const skipFor = 30 * time.Minute

	if got := nextFor(t, db, ana); got != "s-old" {
		t.Fatalf("ana's first next case: got %q, want the oldest, s-old", got)
	}
	// A refused skip changes nothing at all.
	before := deskDump(t, db)
	wantRefusedUnchanged(t, "refused skip", db.Skip(ctx, actorOf(ana), "s-old", skipFor, func(*store.Case) error { return errRefused }))
	wantDeskUnchanged(t, db, "refused skip", before)
	if len(skipRows(t, db)) != 0 {
		t.Fatal("a refused skip left a row")
	}

	// The rule judges the rows inside the write's transaction.
	r := judge()
	if err := db.Skip(ctx, actorOf(ana), "s-old", skipFor, r.rule); err != nil {
		t.Fatal(err)
	}
	if c := r.only(t); c.Process.ID != "s-old" || c.Process.ClaimedBy != ana.ID || !c.Now.Equal(clk.Now()) {
		t.Errorf("the skip's rule saw %+v at %v, want s-old claimed by ana, now", c.Process, c.Now)
	}
	skippedAt := clk.Now()
	if p := mustGet(t, db, "s-old"); p.ClaimedBy != 0 || !p.ClaimExpiresAt.IsZero() {
		t.Errorf("after the skip: claimed by %d until %v, want released", p.ClaimedBy, p.ClaimExpiresAt)
	}
	rows := auditRows(t, db, string(store.ActionProcessSkip), "s-old")
	if len(rows) != 1 || rows[0].ActorID != ana.ID || rows[0].Outcome != store.OutcomeSuccess || !strings.Contains(rows[0].Detail, "30m") {
		t.Errorf("skip audit: got %+v, want one success by ana naming 30m", rows)
	}
	if got, want := skipRows(t, db), []string{itoa(ana.ID) + " s-old " + skipUntil(skippedAt.Add(skipFor))}; !slices.Equal(got, want) {
		t.Errorf("skips: got %v, want %v", got, want)
	}
	// The skip is no release audit of its own, and no claim either.
	if rows := auditRows(t, db, string(store.ActionProcessRelease), "s-old"); len(rows) != 0 {
		t.Errorf("release audit: got %d rows, want none (the skip is audited)", len(rows))
	}

	// Ana's next case is the newer one; then nothing (s-old skipped, s-new her own claim).
	if got := nextFor(t, db, ana); got != "s-new" {
		t.Fatalf("ana's next case after the skip: got %q, want s-new", got)
	}
	if got := nextFor(t, db, ana); got != "" {
		t.Fatalf("ana's next case with her only other case skipped: got %q, want none", got)
	}
	// The queue itself still lists the skipped case; only her "Next case" leaves it out.
	if got := queueIDs(t, db, store.QueueQuery{}); !slices.Equal(got, []string{"s-old", "s-new"}) {
		t.Errorf("queue: got %v, want both cases", got)
	}
	if got := queueIDs(t, db, store.QueueQuery{SkippedBy: ana.ID}); !slices.Equal(got, []string{"s-new"}) {
		t.Errorf("queue without ana's skips: got %v, want [s-new]", got)
	}
	// Bob has skipped nothing: he gets it.
	if got := nextFor(t, db, bob); got != "s-old" {
		t.Fatalf("bob's next case: got %q, want s-old", got)
	}
	if err := db.Release(ctx, actorOf(bob), "s-old", 0); err != nil {
		t.Fatal(err)
	}

	// 29 minutes later ana skips it again (from her own claim, say): the time moves,
	// one row per agent and process.
	clk.Add(29 * time.Minute)
	if err := db.Skip(ctx, actorOf(ana), "s-old", skipFor, allow); err != nil {
		t.Fatal(err)
	}
	again := clk.Now()
	if got, want := skipRows(t, db), []string{itoa(ana.ID) + " s-old " + skipUntil(again.Add(skipFor))}; !slices.Equal(got, want) {
		t.Errorf("skips after skipping again: got %v, want %v", got, want)
	}
	// Past the first skip's end, the second one still holds (her s-new claim lapsed:
	// she gets that one back instead).
	clk.Add(2 * time.Minute)
	if got := nextFor(t, db, ana); got != "s-new" {
		t.Fatalf("ana's next case past the first skip's end: got %q, want s-new (s-old skipped again)", got)
	}
	// At the end of the second skip, the case is back in her "Next case".
	clk.Set(again.Add(skipFor))
	if err := db.Release(ctx, actorOf(ana), "s-new", 0); err != nil {
		t.Fatal(err)
	}
	if got := nextFor(t, db, ana); got != "s-old" {
		t.Fatalf("ana's next case once the skip lapsed: got %q, want s-old", got)
	}

	// Bob skips s-new now; later ana skips s-old: her lapsed skip goes, his (in force)
	// stays; then his lapses too, and only his own next skip deletes it.
	if err := db.Skip(ctx, actorOf(bob), "s-new", time.Hour, allow); err != nil {
		t.Fatal(err)
	}
	bobUntil := clk.Now().Add(time.Hour)
	clk.Add(time.Minute)
	if err := db.Skip(ctx, actorOf(ana), "s-old", skipFor, allow); err != nil {
		t.Fatal(err)
	}
	anaUntil := clk.Now().Add(skipFor)
	want := []string{itoa(ana.ID) + " s-old " + skipUntil(anaUntil), itoa(bob.ID) + " s-new " + skipUntil(bobUntil)}
	if got := skipRows(t, db); !slices.Equal(got, want) {
		t.Errorf("skips: got %v, want %v", got, want)
	}
	clk.Add(2 * time.Hour) // both lapsed
	if err := db.Skip(ctx, actorOf(ana), "s-new", skipFor, allow); err != nil {
		t.Fatal(err)
	}
	want = []string{itoa(ana.ID) + " s-new " + skipUntil(clk.Now().Add(skipFor)), itoa(bob.ID) + " s-new " + skipUntil(bobUntil)}
	if got := skipRows(t, db); !slices.Equal(got, want) {
		t.Errorf("skips after ana's lapsed skip went: got %v, want %v (bob's lapsed one is his to clear)", got, want)
	}
	if err := db.Skip(ctx, actorOf(bob), "s-old", skipFor, allow); err != nil {
		t.Fatal(err)
	}
	want = []string{itoa(ana.ID) + " s-new " + skipUntil(clk.Now().Add(skipFor)), itoa(bob.ID) + " s-old " + skipUntil(clk.Now().Add(skipFor))}
	if got := skipRows(t, db); !slices.Equal(got, want) {
		t.Errorf("skips after bob's lapsed skip went: got %v, want %v", got, want)
	}

	if err := db.Skip(ctx, actorOf(ana), "s-unknown", skipFor, allow); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("skip of an unknown process: got %v, want ErrNotFound", err)
	}
	if n := len(auditRows(t, db, string(store.ActionProcessSkip), "")); n != 6 {
		t.Errorf("skip audit rows: got %d, want 6", n)
	}
	verifyAudit(t, db)
}

// TestEscalationAndTheEscalatedView: escalating sets the escalation, releases the claim
// and is audited with the note; the Escalated view lists only escalated cases in review
// and the queue (every way it reads its rows) and "Next case" leave them out; the
// escalation ends when the case is decided or otherwise leaves review, not when it
// merely changes while in review; an administrator returns one to the queue.
func TestEscalationAndTheEscalatedView(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	ana := newUser(t, db, "ana@example.com", store.RoleAgent)
	admin := newUser(t, db, "admin@example.com", store.RoleAdmin)
	for i, id := range []string{"e-1", "e-2", "e-3", "e-4", "e-5"} {
		upsert(t, db, store.SourceWebhook, inReview(id, procBase.Add(time.Duration(i-10)*time.Hour)))
	}
	wantEscalated := func(step string, ids ...string) {
		t.Helper()
		if ids == nil {
			ids = []string{}
		}
		got := queueIDs(t, db, store.QueueQuery{Escalated: true})
		if got == nil {
			got = []string{}
		}
		if !slices.Equal(got, ids) {
			t.Errorf("%s: Escalated view got %v, want %v", step, got, ids)
		}
		if n, err := db.CountEscalated(ctx); err != nil || n != len(ids) {
			t.Errorf("%s: CountEscalated got %d %v, want %d", step, n, err, len(ids))
		}
		for _, q := range []store.QueueQuery{{}, {Failed: "validationMRZ"}, {Claim: store.ClaimUnclaimed}, {Newest: true}} {
			for _, id := range queueIDs(t, db, q) {
				if slices.Contains(ids, id) {
					t.Errorf("%s: queue %+v lists the escalated %s", step, q, id)
				}
			}
		}
	}
	wantEscalated("before")

	if _, err := db.Claim(ctx, actorOf(ana), "e-1", 5*time.Minute, allow); err != nil {
		t.Fatal(err)
	}
	// A refused escalation changes nothing.
	before := deskDump(t, db)
	wantRefusedUnchanged(t, "refused escalation", db.Escalate(ctx, actorOf(ana), "e-1", "why", func(*store.Case) error { return errRefused }))
	wantDeskUnchanged(t, db, "refused escalation", before)

	const note = "The portrait looks printed; please look at the video.\nSecond line."
	if err := db.Escalate(ctx, actorOf(ana), "e-1", note, allow); err != nil {
		t.Fatal(err)
	}
	p := mustGet(t, db, "e-1")
	if !p.Escalated() || !p.EscalatedAt.Equal(clk.Now()) || p.EscalatedByName != ana.DisplayName || p.EscalationNote != note {
		t.Errorf("escalated: got at %v by %q note %q, want now, ana, the note", p.EscalatedAt, p.EscalatedByName, p.EscalationNote)
	}
	if p.ClaimedBy != 0 || !p.Reviewable {
		t.Errorf("escalated: claimed by %d reviewable %v, want released and still in review", p.ClaimedBy, p.Reviewable)
	}
	rows := auditRows(t, db, string(store.ActionProcessEscalate), "e-1")
	if len(rows) != 1 || rows[0].ActorID != ana.ID || rows[0].Outcome != store.OutcomeSuccess || !strings.Contains(rows[0].Detail, note) {
		t.Errorf("escalation audit: got %+v, want one success by ana with the note", rows)
	}
	wantEscalated("e-1 escalated", "e-1")
	// The oldest case is escalated: "Next case" passes over it, for everyone.
	if got := nextFor(t, db, admin); got != "e-2" {
		t.Errorf("next case with e-1 escalated: got %q, want e-2", got)
	}
	if err := db.Release(ctx, actorOf(admin), "e-2", 0); err != nil {
		t.Fatal(err)
	}
	// The Escalated view takes the queue's other filters.
	if got := queueIDs(t, db, store.QueueQuery{Escalated: true, Failed: "validationMRZ"}); !slices.Equal(got, []string{"e-1"}) {
		t.Errorf("Escalated view with a failed-check filter: got %v, want [e-1]", got)
	}
	if got := queueIDs(t, db, store.QueueQuery{Escalated: true, Country: "FRA"}); len(got) != 0 {
		t.Errorf("Escalated view of another country: got %v, want none", got)
	}

	for _, id := range []string{"e-2", "e-3", "e-4", "e-5"} {
		if err := db.Escalate(ctx, actorOf(ana), id, "escalating "+id, allow); err != nil {
			t.Fatal(err)
		}
	}
	wantEscalated("all escalated", "e-1", "e-2", "e-3", "e-4", "e-5")
	// Every filter, order and cursor of the queue works in the Escalated view (it reads
	// through its own partial index, INDEXED BY: a query it cannot serve would fail).
	e3 := mustGet(t, db, "e-3")
	for _, tc := range []struct {
		q    store.QueueQuery
		want []string
	}{
		{store.QueueQuery{Escalated: true, Newest: true}, []string{"e-5", "e-4", "e-3", "e-2", "e-1"}},
		{store.QueueQuery{Escalated: true, AfterSince: e3.ReviewSince, AfterID: "e-3"}, []string{"e-4", "e-5"}},
		{store.QueueQuery{Escalated: true, Newest: true, AfterSince: e3.ReviewSince, AfterID: "e-3"}, []string{"e-2", "e-1"}},
		{store.QueueQuery{Escalated: true, Claim: store.ClaimUnclaimed, Country: "ESP", DocType: "IDCard"}, []string{"e-1", "e-2", "e-3", "e-4", "e-5"}},
		{store.QueueQuery{Escalated: true, Claim: store.ClaimMine, UserID: admin.ID}, nil},
		{store.QueueQuery{Escalated: true, OlderThan: 7*time.Hour + time.Second}, []string{"e-1", "e-2", "e-3"}},
		{store.QueueQuery{Escalated: true, Limit: 2}, []string{"e-1", "e-2"}},
	} {
		if got := queueIDs(t, db, tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("Escalated view %+v: got %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := nextFor(t, db, admin); got != "" {
		t.Errorf("next case with every case escalated: got %q, want none", got)
	}

	// A new read of a case still in review keeps its escalation.
	s := inReview("e-5", procBase.Add(-5*time.Hour))
	s.HolderName = "Ana María García"
	upsert(t, db, store.SourceWebhook, s)
	if p := mustGet(t, db, "e-5"); !p.Escalated() || p.EscalationNote != "escalating e-5" {
		t.Errorf("e-5 re-read while in review: escalated %v note %q, want kept", p.Escalated(), p.EscalationNote)
	}

	// Decided: the escalation ends.
	mustDecide(t, db, admin, acceptOf("e-1"))
	// Decided at the gateway (it left review there).
	upsert(t, db, store.SourceWebhook, decided("e-2", "NOT_VERIFIED", procBase))
	// Unknown to the gateway.
	if err := db.MarkGone(ctx, "e-3"); err != nil {
		t.Fatal(err)
	}
	// Returned to the queue by an administrator.
	r := judge()
	if err := db.Deescalate(ctx, actorOf(admin), "e-4", r.rule); err != nil {
		t.Fatal(err)
	}
	if c := r.only(t); !c.Process.Escalated() || c.Process.ID != "e-4" {
		t.Errorf("the de-escalation's rule saw %+v, want escalated e-4", c.Process)
	}
	for _, id := range []string{"e-1", "e-2", "e-3", "e-4"} {
		var at, by any
		var note string
		if err := db.SQL().QueryRowContext(ctx, "SELECT escalated_at, escalated_by, escalation_note FROM processes WHERE id = ?", id).
			Scan(&at, &by, &note); err != nil {
			t.Fatal(err)
		}
		if at != nil || by != nil || note != "" {
			t.Errorf("%s: escalation columns %v %v %q, want cleared", id, at, by, note)
		}
	}
	if rows := auditRows(t, db, string(store.ActionProcessEscalate), "e-4"); len(rows) != 2 || rows[0].ActorID != admin.ID ||
		!strings.Contains(rows[0].Detail, "returned to the queue") {
		t.Errorf("de-escalation audit: got %+v, want a second row by the admin", rows)
	}
	wantEscalated("after the ends", "e-5")
	if got := queueIDs(t, db, store.QueueQuery{}); !slices.Equal(got, []string{"e-4"}) {
		t.Errorf("queue: got %v, want [e-4] back", got)
	}
	before = deskDump(t, db)
	wantRefusedUnchanged(t, "refused de-escalation", db.Deescalate(ctx, actorOf(ana), "e-5", func(*store.Case) error { return errRefused }))
	wantDeskUnchanged(t, db, "refused de-escalation", before)

	// A case no longer in review cannot be escalated, whatever the rule says.
	if err := db.Escalate(ctx, actorOf(ana), "e-1", "too late", allow); err == nil {
		t.Error("escalating a decided case succeeded")
	}
	if p := mustGet(t, db, "e-1"); p.Escalated() {
		t.Error("a decided case was escalated")
	}
	// The note's size is bounded in the database too.
	if err := db.Escalate(ctx, actorOf(ana), "e-4", strings.Repeat("x", 2001), allow); err == nil {
		t.Error("a 2001-character escalation note was stored")
	}
	if err := db.Escalate(ctx, actorOf(ana), "e-unknown", "x", allow); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("escalating an unknown process: got %v, want ErrNotFound", err)
	}
	verifyAudit(t, db)
}

// TestSendBackOutbox: a request is queued and audited; it is due at once; one worker
// takes it (a second start is refused); a retry is not audited and waits; done makes
// the process non-final and due for a status check now; failed and parked need a
// person, who may retry only the latest; at most one request per process is open.
func TestSendBackOutbox(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	admin := newUser(t, db, "admin@example.com", store.RoleAdmin)
	upsert(t, db, store.SourceWebhook, decided("f-1", "VERIFIED", procBase.Add(-time.Hour)))
	upsert(t, db, store.SourceWebhook, decided("f-2", "NOT_VERIFIED", procBase.Add(-time.Hour)))

	// A refused request changes nothing.
	before := deskDump(t, db)
	if _, err := db.RequestSendBack(ctx, actorOf(admin), "f-1", "why", refuseSendBack); err != errRefused {
		t.Fatalf("refused request: got %v, want the rule's error unchanged", err)
	}
	wantDeskUnchanged(t, db, "refused request", before)
	if countSendBacks(t, db, "f-1") != 0 {
		t.Fatal("a refused request left a send-back")
	}

	var seen *store.SendBackCase
	sb, err := db.RequestSendBack(ctx, actorOf(admin), "f-1", "The customer disputes the verification", func(sc *store.SendBackCase) error {
		seen = sc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen == nil || seen.Process.ID != "f-1" || seen.Latest != nil || !seen.Now.Equal(clk.Now()) {
		t.Errorf("the request's rule saw %+v, want f-1 with no earlier request, now", seen)
	}
	requestedAt := clk.Now()
	if sb.State != store.ErasureQueued || sb.ProcessID != "f-1" || sb.RequestedBy != admin.ID || sb.RequestedByName != admin.DisplayName ||
		sb.Reason != "The customer disputes the verification" || sb.Attempts != 0 || !sb.NextAttemptAt.Equal(requestedAt) ||
		!sb.RequestedAt.Equal(requestedAt) || !sb.DeliverableSince.Equal(requestedAt) || sb.Ambiguous || !sb.Open() {
		t.Errorf("requested: got %+v", sb)
	}
	rows := auditRows(t, db, string(store.ActionProcessSendBack), "f-1")
	if len(rows) != 1 || rows[0].ActorID != admin.ID || rows[0].Outcome != store.OutcomeSuccess ||
		!strings.Contains(rows[0].Detail, "The customer disputes the verification") {
		t.Errorf("request audit: got %+v, want one success by the admin with the reason", rows)
	}
	// The partial unique index refuses a second open request, whatever the rule says.
	if _, err := db.RequestSendBack(ctx, actorOf(admin), "f-1", "again", allowSendBack); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second open request: got %v, want ErrConflict", err)
	}
	if countSendBacks(t, db, "f-1") != 1 || len(auditRows(t, db, string(store.ActionProcessSendBack), "f-1")) != 1 {
		t.Error("the refused second request left a row")
	}
	if latest, err := db.LatestSendBack(ctx, "f-1"); err != nil || latest.ID != sb.ID {
		t.Errorf("latest: got %+v %v, want %d", latest, err, sb.ID)
	}
	if _, err := db.LatestSendBack(ctx, "f-2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("latest of a process never sent back: got %v, want ErrNotFound", err)
	}

	if got := dueSendBackIDs(t, db); !slices.Equal(got, []int64{sb.ID}) {
		t.Fatalf("due: got %v, want [%d]", got, sb.ID)
	}
	started := startSendBack(t, db, sb.ID)
	if started.State != store.ErasureSending || started.Attempts != 1 || !started.NextAttemptAt.IsZero() || !started.Open() {
		t.Errorf("started: got %+v, want sending, attempt 1, no next attempt", started)
	}
	if ok, err := db.StartSendBack(ctx, sb.ID); ok || err != nil {
		t.Errorf("second start: got %v %v, want false (another worker has it)", ok, err)
	}
	if got := dueSendBackIDs(t, db); len(got) != 0 {
		t.Errorf("due while sending: got %v, want none", got)
	}
	// Another request while one is being sent is refused too.
	if _, err := db.RequestSendBack(ctx, actorOf(admin), "f-1", "again", allowSendBack); !errors.Is(err, store.ErrConflict) {
		t.Errorf("request while sending: got %v, want ErrConflict", err)
	}

	// A retry: queued again later, the error kept, not audited.
	next := clk.Now().Add(time.Minute)
	if err := db.FinishSendBack(ctx, started, store.ErasureOutcome{State: store.ErasureQueued, Next: next, Error: "mobbscan: unavailable (503)"}); err != nil {
		t.Fatal(err)
	}
	got := mustSendBack(t, db, sb.ID)
	if got.State != store.ErasureQueued || !got.NextAttemptAt.Equal(next) || got.LastError != "mobbscan: unavailable (503)" || got.Attempts != 1 ||
		got.StateLabel() != "Retrying" {
		t.Errorf("after a retry: got %+v (%s), want queued for a minute later with the error, Retrying", got, got.StateLabel())
	}
	if n := len(auditRows(t, db, string(store.ActionProcessSendBack), "f-1")); n != 1 {
		t.Errorf("audit rows after a retry: got %d, want 1 (retries are not audited)", n)
	}
	if err := db.FinishSendBack(ctx, got, store.ErasureOutcome{State: store.ErasureDone, Audit: true}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("finishing a send-back that is not being sent: got %v, want ErrNotFound", err)
	}
	if due := dueSendBackIDs(t, db); len(due) != 0 {
		t.Errorf("due before its next attempt: got %v, want none", due)
	}
	clk.Add(time.Minute)
	if due := dueSendBackIDs(t, db); !slices.Equal(due, []int64{sb.ID}) {
		t.Fatalf("due at its next attempt: got %v, want [%d]", due, sb.ID)
	}

	// Done: the process is no longer final and is due for a status check now.
	done := finishSendBack(t, db, sb.ID, store.ErasureOutcome{State: store.ErasureDone, Audit: true, Note: "Mobbscan put it back"})
	if done.State != store.ErasureDone || !done.DoneAt.Equal(clk.Now()) || done.Attempts != 2 || done.Open() || !done.NextAttemptAt.IsZero() {
		t.Errorf("done: got %+v", done)
	}
	p := mustGet(t, db, "f-1")
	if p.Final || !p.SyncDueAt.Equal(clk.Now()) {
		t.Errorf("process after the send-back: final %v sync due %v, want not final, due now %v", p.Final, p.SyncDueAt, clk.Now())
	}
	if ids, err := db.DueForSync(ctx, 10); err != nil || !slices.Contains(ids, "f-1") {
		t.Errorf("due for sync: got %v %v, want f-1 among them", ids, err)
	}
	rows = auditRows(t, db, string(store.ActionProcessSendBack), "f-1")
	if len(rows) != 2 || rows[0].ActorID != 0 || rows[0].Outcome != store.OutcomeSuccess || !strings.Contains(rows[0].Detail, "done") ||
		!strings.Contains(rows[0].Detail, "attempt 2") || !strings.Contains(rows[0].Detail, "Mobbscan put it back") {
		t.Errorf("done audit: got %+v, want a success by the system naming the attempt and the note", rows)
	}

	// Failed: needs a person; only the latest may be retried, and only by the rule's leave.
	upsert(t, db, store.SourceWebhook, decided("f-1", "VERIFIED", procBase)) // final again
	sb2 := requestSendBack(t, db, admin, "f-1", "Second look")
	failed := finishSendBack(t, db, sb2.ID, store.ErasureOutcome{State: store.ErasureFailed, Audit: true, Error: "mobbscan: not found (404)"})
	if failed.State != store.ErasureFailed || failed.Open() || failed.LastError != "mobbscan: not found (404)" || !failed.NextAttemptAt.IsZero() {
		t.Errorf("failed: got %+v", failed)
	}
	if p := mustGet(t, db, "f-1"); !p.Final {
		t.Error("a failed send-back made the process non-final")
	}
	rows = auditRows(t, db, string(store.ActionProcessSendBack), "f-1")
	if rows[0].Outcome != store.OutcomeFailure || !strings.Contains(rows[0].Detail, "failed") || !strings.Contains(rows[0].Detail, "404") {
		t.Errorf("failure audit: got %+v", rows[0])
	}
	before = deskDump(t, db)
	if err := db.RetrySendBack(ctx, actorOf(admin), sb2.ID, refuseSendBack); err != errRefused {
		t.Errorf("refused retry: got %v, want the rule's error unchanged", err)
	}
	wantDeskUnchanged(t, db, "refused retry", before)
	clk.Add(time.Hour)
	var retrySeen *store.SendBackCase
	if err := db.RetrySendBack(ctx, actorOf(admin), sb2.ID, func(sc *store.SendBackCase) error { retrySeen = sc; return nil }); err != nil {
		t.Fatal(err)
	}
	if retrySeen == nil || retrySeen.Latest == nil || retrySeen.Latest.ID != sb2.ID || retrySeen.Latest.State != store.ErasureFailed {
		t.Errorf("the retry's rule saw %+v, want the failed send-back as the latest", retrySeen)
	}
	retried := mustSendBack(t, db, sb2.ID)
	if retried.State != store.ErasureQueued || !retried.NextAttemptAt.Equal(clk.Now()) || !retried.DeliverableSince.Equal(clk.Now()) ||
		retried.Attempts != 1 || retried.LastError == "" {
		t.Errorf("retried: got %+v, want queued now, deliverable since now, the attempt and error kept", retried)
	}
	rows = auditRows(t, db, string(store.ActionProcessSendBack), "f-1")
	if rows[0].ActorID != admin.ID || !strings.Contains(rows[0].Detail, "queued again (was failed)") {
		t.Errorf("retry audit: got %+v", rows[0])
	}
	// A queued one is not retried again.
	if err := db.RetrySendBack(ctx, actorOf(admin), sb2.ID, allowSendBack); err == nil {
		t.Error("retrying a queued send-back succeeded")
	}

	// Parked: needs a person too; a new request may be made; the older one is then not
	// the latest and cannot be retried.
	parked := finishSendBack(t, db, sb2.ID, store.ErasureOutcome{State: store.ErasureParked, Ambiguous: true, Audit: true, Error: "not sent back within 24h"})
	if parked.State != store.ErasureParked || !parked.Ambiguous || parked.Attempts != 2 {
		t.Errorf("parked: got %+v", parked)
	}
	sb3 := requestSendBack(t, db, admin, "f-1", "Third look")
	if err := db.RetrySendBack(ctx, actorOf(admin), sb2.ID, allowSendBack); !errors.Is(err, store.ErrConflict) {
		t.Errorf("retrying a send-back that is not the latest: got %v, want ErrConflict", err)
	}
	if got := mustSendBack(t, db, sb2.ID); got.State != store.ErasureParked {
		t.Errorf("the older send-back: got %s, want still parked", got.State)
	}
	if err := db.RetrySendBack(ctx, actorOf(admin), 999999, allowSendBack); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("retrying an unknown send-back: got %v, want ErrNotFound", err)
	}
	if _, err := db.GetSendBack(ctx, 999999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown send-back: got %v, want ErrNotFound", err)
	}
	if _, err := db.RequestSendBack(ctx, actorOf(admin), "f-unknown", "x", allowSendBack); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("request for an unknown process: got %v, want ErrNotFound", err)
	}
	// The other process's request is its own.
	sbOther := requestSendBack(t, db, admin, "f-2", "Other")
	if got := dueSendBackIDs(t, db); !slices.Equal(got, []int64{sb3.ID, sbOther.ID}) {
		t.Errorf("due: got %v, want [%d %d]", got, sb3.ID, sbOther.ID)
	}
	// A long error is clipped to what the column holds.
	long := finishSendBack(t, db, sbOther.ID, store.ErasureOutcome{State: store.ErasureFailed, Audit: true, Error: strings.Repeat("é", 400)})
	if len(long.LastError) > 500 || !strings.HasPrefix(long.LastError, "éé") {
		t.Errorf("long error: got %d bytes, want at most 500", len(long.LastError))
	}
	verifyAudit(t, db)
}

// TestRecoverSendBacksAfterACrash: a send-back left "sending" by a stop is queued again
// at once, marked ambiguous; queued ones are left as they are; the erasures' recovery
// does not touch send-backs.
func TestRecoverSendBacksAfterACrash(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	admin := newUser(t, db, "admin@example.com", store.RoleAdmin)
	upsert(t, db, store.SourceWebhook, decided("c-1", "VERIFIED", procBase.Add(-time.Hour)))
	upsert(t, db, store.SourceWebhook, decided("c-2", "VERIFIED", procBase.Add(-time.Hour)))
	crashed := requestSendBack(t, db, admin, "c-1", "crash")
	waiting := requestSendBack(t, db, admin, "c-2", "waiting")
	startSendBack(t, db, crashed.ID)
	clk.Add(10 * time.Minute)

	if n, err := db.RecoverErasures(ctx); err != nil || n != 0 {
		t.Errorf("erasure recovery: got %d %v, want 0", n, err)
	}
	if got := mustSendBack(t, db, crashed.ID); got.State != store.ErasureSending {
		t.Fatalf("after the erasures' recovery: got %s, want still sending", got.State)
	}
	if n, err := db.RecoverSendBacks(ctx); err != nil || n != 1 {
		t.Fatalf("recover: got %d %v, want 1", n, err)
	}
	got := mustSendBack(t, db, crashed.ID)
	if got.State != store.ErasureQueued || !got.Ambiguous || !got.NextAttemptAt.Equal(clk.Now()) || got.Attempts != 1 {
		t.Errorf("recovered: got %+v, want queued now, ambiguous, the attempt counted", got)
	}
	if w := mustSendBack(t, db, waiting.ID); w.State != store.ErasureQueued || w.Ambiguous || !w.NextAttemptAt.Equal(waiting.NextAttemptAt) {
		t.Errorf("a queued send-back after recovery: got %+v, want untouched", w)
	}
	if n, err := db.RecoverSendBacks(ctx); err != nil || n != 0 {
		t.Errorf("second recovery: got %d %v, want 0", n, err)
	}
	if due := dueSendBackIDs(t, db); !slices.Equal(due, []int64{waiting.ID, crashed.ID}) {
		t.Errorf("due after recovery: got %v, want both, oldest due first", due)
	}
	// The ambiguity stays through the next outcome (history).
	sb := mustSendBack(t, db, crashed.ID)
	finishSendBack(t, db, crashed.ID, store.ErasureOutcome{State: store.ErasureDone, Ambiguous: sb.Ambiguous, Audit: true})
	if got := mustSendBack(t, db, crashed.ID); got.State != store.ErasureDone || !got.Ambiguous || got.Attempts != 2 {
		t.Errorf("sent after recovery: got %+v, want done, ambiguous, 2 attempts", got)
	}
	verifyAudit(t, db)
}

// TestPullForwardSendBacks: after an outage the send-backs waiting to retry are due now,
// in batches; those never attempted, being sent or settled are left alone.
func TestPullForwardSendBacks(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	admin := newUser(t, db, "admin@example.com", store.RoleAdmin)
	ids := []string{"pf-fresh", "pf-soon", "pf-later", "pf-failed", "pf-sending"}
	sbs := map[string]*store.SendBack{}
	for _, id := range ids {
		upsert(t, db, store.SourceWebhook, decided(id, "VERIFIED", procBase.Add(-time.Hour)))
		sbs[id] = requestSendBack(t, db, admin, id, "outage")
	}
	retry := func(id string, after time.Duration) {
		sb := startSendBack(t, db, sbs[id].ID)
		if err := db.FinishSendBack(ctx, sb, store.ErasureOutcome{State: store.ErasureQueued, Next: clk.Now().Add(after), Error: "503"}); err != nil {
			t.Fatal(err)
		}
	}
	retry("pf-soon", time.Hour)
	retry("pf-later", 2*time.Hour)
	finishSendBack(t, db, sbs["pf-failed"].ID, store.ErasureOutcome{State: store.ErasureFailed, Audit: true, Error: "409"})
	startSendBack(t, db, sbs["pf-sending"].ID)
	clk.Add(time.Minute)
	if got := dueSendBackIDs(t, db); !slices.Equal(got, []int64{sbs["pf-fresh"].ID}) {
		t.Fatalf("due before: got %v, want only the fresh one", got)
	}
	if n, err := db.PullForwardSendBacks(ctx, 1); err != nil || n != 1 {
		t.Fatalf("first batch: got %d %v, want 1", n, err)
	}
	if got := mustSendBack(t, db, sbs["pf-soon"].ID); !got.NextAttemptAt.Equal(clk.Now()) {
		t.Errorf("the soonest first: got next %v, want now", got.NextAttemptAt)
	}
	if n, err := db.PullForwardSendBacks(ctx, 10); err != nil || n != 1 {
		t.Fatalf("second batch: got %d %v, want 1", n, err)
	}
	if n, err := db.PullForwardSendBacks(ctx, 10); err != nil || n != 0 {
		t.Errorf("third batch: got %d %v, want 0", n, err)
	}
	want := []int64{sbs["pf-fresh"].ID, sbs["pf-soon"].ID, sbs["pf-later"].ID}
	got := dueSendBackIDs(t, db)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("due after: got %v, want %v", got, want)
	}
	if f := mustSendBack(t, db, sbs["pf-failed"].ID); f.State != store.ErasureFailed {
		t.Errorf("failed send-back: got %s, want left failed", f.State)
	}
	if s := mustSendBack(t, db, sbs["pf-sending"].ID); s.State != store.ErasureSending {
		t.Errorf("sending send-back: got %s, want left sending", s.State)
	}
}

// TestSampleForQA: a process the rule lets through is marked sampled and its send-back
// queued by the system, audited; never twice; a refusal writes nothing; marking and
// queueing go together or not at all.
func TestSampleForQA(t *testing.T) {
	db, _ := openClockedDB(t)
	ctx := context.Background()
	admin := newUser(t, db, "admin@example.com", store.RoleAdmin)
	for _, id := range []string{"q-1", "q-2", "q-3"} {
		upsert(t, db, store.SourceWebhook, decided(id, "VERIFIED", procBase.Add(-time.Hour)))
	}

	before := deskDump(t, db)
	if ok, err := db.SampleForQA(ctx, "q-1", refuseSendBack); ok || err != nil {
		t.Errorf("refused sample: got %v %v, want false nil", ok, err)
	}
	wantDeskUnchanged(t, db, "refused sample", before)
	if p := mustGet(t, db, "q-1"); p.QASampled {
		t.Error("a refused sample marked the process")
	}

	var seen *store.SendBackCase
	ok, err := db.SampleForQA(ctx, "q-1", func(sc *store.SendBackCase) error { seen = sc; return nil })
	if !ok || err != nil {
		t.Fatalf("sample: got %v %v, want true", ok, err)
	}
	if seen == nil || seen.Process.ID != "q-1" || seen.Process.QASampled || seen.Latest != nil {
		t.Errorf("the sample's rule saw %+v, want q-1 not sampled yet, no send-back", seen)
	}
	if p := mustGet(t, db, "q-1"); !p.QASampled {
		t.Error("sampled: the process is not marked")
	}
	sb, err := db.LatestSendBack(ctx, "q-1")
	if err != nil {
		t.Fatal(err)
	}
	if sb.State != store.ErasureQueued || sb.RequestedBy != 0 || sb.RequestedByName != "" || sb.Reason != "QA sampling" {
		t.Errorf("sample's send-back: got %+v, want queued by nobody for QA sampling", sb)
	}
	rows := auditRows(t, db, string(store.ActionProcessSample), "q-1")
	if len(rows) != 1 || rows[0].ActorID != 0 || rows[0].Outcome != store.OutcomeSuccess || !strings.Contains(rows[0].Detail, "send-back "+itoa(sb.ID)) {
		t.Errorf("sample audit: got %+v, want one success by the system naming the send-back", rows)
	}

	// Never twice, even with a rule that would let it through (and after the first
	// send-back settled).
	finishSendBack(t, db, sb.ID, store.ErasureOutcome{State: store.ErasureDone, Audit: true})
	upsert(t, db, store.SourceWebhook, decided("q-1", "VERIFIED", procBase)) // final again
	ok, err = db.SampleForQA(ctx, "q-1", allowSendBack)
	if ok || (err != nil && !errors.Is(err, store.ErrNotFound)) {
		t.Errorf("second sample: got %v %v, want not sampled", ok, err)
	}
	if n := countSendBacks(t, db, "q-1"); n != 1 {
		t.Errorf("send-backs of q-1: got %d, want 1", n)
	}
	if n := len(auditRows(t, db, string(store.ActionProcessSample), "q-1")); n != 1 {
		t.Errorf("sample audit rows: got %d, want 1", n)
	}

	// A process already being sent back by an administrator: neither marked nor queued.
	requestSendBack(t, db, admin, "q-2", "by hand")
	if ok, err := db.SampleForQA(ctx, "q-2", allowSendBack); ok || !errors.Is(err, store.ErrConflict) {
		t.Errorf("sample during an open send-back: got %v %v, want false ErrConflict", ok, err)
	}
	if p := mustGet(t, db, "q-2"); p.QASampled {
		t.Error("q-2 marked sampled though its send-back was refused")
	}
	if n := len(auditRows(t, db, string(store.ActionProcessSample), "q-2")); n != 0 {
		t.Errorf("q-2 sample audit rows: got %d, want none", n)
	}
	if ok, err := db.SampleForQA(ctx, "q-unknown", allowSendBack); ok || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("sample of an unknown process: got %v %v, want false ErrNotFound", ok, err)
	}
	verifyAudit(t, db)
}
