package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// The retention tests run on real SQLite files with small rules of their own: the real
// rules (review/retention.go) are tested in review against the sandbox.

// allowPurge is the permissive erasure rule.
func allowPurge(*store.ErasureCase) error { return nil }

// refuseIDs refuses the processes named.
func refuseIDs(ids ...string) store.ErasureRule {
	set := map[string]bool{}
	for _, id := range ids {
		set[id] = true
	}
	return func(c *store.ErasureCase) error {
		if set[c.Process.ID] {
			return errRefused
		}
		return nil
	}
}

// runPass runs a retention pass to the end, as review's worker does, and returns the
// batches.
func runPass(t *testing.T, run func(context.Context, store.RetentionPass, store.ErasureRule) (store.RetentionBatch, error),
	p store.RetentionPass, rule store.ErasureRule) []store.RetentionBatch {
	t.Helper()
	var out []store.RetentionBatch
	for range 1000 {
		b, err := run(context.Background(), p, rule)
		if err != nil {
			t.Fatalf("retention batch after %+v: %v", p.After, err)
		}
		out = append(out, b)
		if !b.More {
			return out
		}
		p.After = b.Next
	}
	t.Fatal("the retention pass never ended")
	return nil
}

func purgedIDs(bs []store.RetentionBatch) (purged, queued []string, skipped int) {
	for _, b := range bs {
		purged, queued, skipped = append(purged, b.Purged...), append(queued, b.Queued...), skipped+b.Skipped
	}
	return
}

// wantPurged checks that the identity data of a process is gone and the rest stays.
func wantPurged(t *testing.T, db *store.DB, id string, at time.Time) {
	t.Helper()
	p := mustGet(t, db, id)
	if p.HolderName != "" || p.CustomerRef != "" || len(p.Failed) != 0 || p.ScoreFacial != nil || p.ScoreLiveness != nil ||
		p.ScoreDocument != nil || p.OnboardingURL != "" {
		t.Errorf("%s: identity data left after the purge: %+v", id, p)
	}
	if !p.PurgedAt.Equal(at) {
		t.Errorf("%s: purged at %v, want %v", id, p.PurgedAt, at)
	}
	if p.Country == "" || p.DocType == "" || p.Status == "" || p.UpdatedAt.IsZero() {
		t.Errorf("%s: the purge cleared more than identity data: %+v", id, p)
	}
}

func wantKept(t *testing.T, db *store.DB, id string) {
	t.Helper()
	p := mustGet(t, db, id)
	if p.HolderName == "" || p.CustomerRef == "" || !p.PurgedAt.IsZero() {
		t.Errorf("%s: got holder %q ref %q purged %v, want its identity data kept", id, p.HolderName, p.CustomerRef, p.PurgedAt)
	}
}

// finalOld indexes n final processes last updated at at, with identity data.
func finalOld(t *testing.T, db *store.DB, prefix string, n int, at time.Time) []string {
	t.Helper()
	var ids []string
	for i := range n {
		id := fmt.Sprintf("%s-%04d", prefix, i)
		s := decided(id, "VERIFIED", at.Add(time.Duration(i)*time.Second))
		s.OnboardingURL = "https://gateway.example/onboarding/" + id
		upsert(t, db, store.SourceWebhook, s)
		ids = append(ids, id)
	}
	return ids
}

// decideAndDeliver records a decision on a process in review (the rule is the test's)
// and delivers it, which makes the process final.
func decideAndDeliver(t *testing.T, db *store.DB, u *store.User, nd store.NewDecision) *store.Decision {
	t.Helper()
	d := mustDecide(t, db, u, nd)
	return deliver(t, db, d.ID, store.DeliveryOutcome{State: store.StateDelivered, Audit: true})
}

func TestPurgeDueClearsIdentityDataInBatches(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	agent := newUser(t, db, "agent@example.com", store.RoleAgent)
	old := procBase.Add(-200 * 24 * time.Hour)

	finals := finalOld(t, db, "final", 230, old)
	// Decided here and delivered: an accept with corrections, a reject with a note.
	upsert(t, db, store.SourceWebhook, inReview("dec-accept", old))
	upsert(t, db, store.SourceWebhook, inReview("dec-reject", old))
	accepted := decideAndDeliver(t, db, agent, store.NewDecision{ProcessID: "dec-accept", Verdict: store.VerdictAccept,
		Corrections: map[string]string{"surname": "García Núñez"}, InternalNote: "Phoned Ana García on +34 600 000 000", Confirmations: []string{"validationMRZ"}})
	r := reasonByCode(t, db, "document-expired")
	rejected := decideAndDeliver(t, db, agent, store.NewDecision{ProcessID: "dec-reject", Verdict: store.VerdictReject,
		ReasonID: r.ID, Comment: r.CustomerText, InternalNote: "Her passport number is X1234567"})
	// Gone from the gateway, never final.
	upsert(t, db, store.SourceWebhook, inProgress("gone-1", old))
	if err := db.MarkGone(ctx, "gone-1"); err != nil {
		t.Fatal(err)
	}
	// Never purged: in review, a customer who has not finished, final but recent.
	upsert(t, db, store.SourceWebhook, inReview("review-1", old))
	inprog := inProgress("open-1", old)
	inprog.HolderName, inprog.CustomerRef = "Bea Ruiz", "C-open-1"
	upsert(t, db, store.SourceWebhook, inprog)
	recent := finalOld(t, db, "recent", 3, procBase.Add(-10*24*time.Hour))

	clk.Set(procBase.Add(time.Hour))
	now := clk.Now()
	before := now.Add(-90 * 24 * time.Hour)
	bs := runPass(t, db.PurgeDue, store.RetentionPass{Before: before, Limit: 100, Detail: "retention: 90 days"}, allowPurge)
	purged, queued, skipped := purgedIDs(bs)
	if len(bs) != 3 || len(purged) != 233 || len(queued) != 0 || skipped != 0 {
		t.Fatalf("got %d batches, %d purged, %d queued, %d skipped; want 3 batches (100, 100, 33) purging 233, queuing none",
			len(bs), len(purged), len(queued), skipped)
	}
	for _, id := range append(finals, "dec-accept", "dec-reject", "gone-1") {
		wantPurged(t, db, id, now)
	}
	wantKept(t, db, "review-1")
	wantKept(t, db, "open-1")
	for _, id := range recent {
		wantKept(t, db, id)
	}

	// Decisions keep their rows and the wording the customer was sent; the internal
	// notes and the corrections (values read from the document) are cleared.
	a, rj := mustDecision(t, db, accepted.ID), mustDecision(t, db, rejected.ID)
	if a.InternalNote != "" || len(a.Corrections) != 0 || rj.InternalNote != "" {
		t.Errorf("decisions after the purge: accept note %q corrections %v, reject note %q; want cleared", a.InternalNote, a.Corrections, rj.InternalNote)
	}
	if rj.Comment != r.CustomerText || rj.State != store.StateDelivered || a.Verdict != store.VerdictAccept || len(a.Confirmations) != 1 {
		t.Errorf("decisions after the purge lost what stays: %+v %+v", a, rj)
	}
	if n := countDecisions(t, db, "dec-accept") + countDecisions(t, db, "dec-reject"); n != 2 {
		t.Errorf("decision rows: got %d, want 2", n)
	}

	// One audit row per purged process, by the system, with ids only.
	for _, id := range []string{finals[0], "dec-accept", "gone-1"} {
		rows := auditRows(t, db, string(store.ActionProcessPurge), id)
		if len(rows) != 1 || rows[0].Outcome != store.OutcomeSuccess || rows[0].ActorID != 0 || rows[0].Actor != "system" {
			t.Fatalf("purge audit of %s: got %+v, want one success row by the system", id, rows)
		}
	}
	if d := auditRows(t, db, string(store.ActionProcessPurge), "dec-reject")[0].Detail; !strings.Contains(d, "1 decision") {
		t.Errorf("purge audit detail %q: want it to say the decision's note was cleared", d)
	}
	all := auditRows(t, db, string(store.ActionProcessPurge), "")
	for _, e := range all {
		for _, pii := range []string{"Ana", "García", "C-final", "Bea", "X1234567", "+34", "https://"} {
			if strings.Contains(e.Detail, pii) {
				t.Fatalf("purge audit row %d carries personal data %q: %q", e.ID, pii, e.Detail)
			}
		}
	}
	if len(all) != 233 {
		t.Errorf("purge audit rows: got %d, want 233", len(all))
	}

	// A second run finds nothing: purged processes left the index.
	bs = runPass(t, db.PurgeDue, store.RetentionPass{Before: before, Limit: 100}, allowPurge)
	if p, q, s := purgedIDs(bs); len(bs) != 1 || len(p)+len(q)+s != 0 {
		t.Errorf("second run: got %d batches %v %v %d, want one empty batch", len(bs), p, q, s)
	}
	verifyAudit(t, db)
}

// TestPurgeDueSkipsWhatTheRuleRefuses: refused processes stay as they are and do not
// stop the pass, even when a whole batch is refused; the rule sees the erasure case.
func TestPurgeDueSkipsWhatTheRuleRefuses(t *testing.T) {
	db, clk := openClockedDB(t)
	old := procBase.Add(-200 * 24 * time.Hour)
	ids := finalOld(t, db, "p", 25, old)
	clk.Set(procBase)
	refused := ids[:10] // the whole first batch
	bs := runPass(t, db.PurgeDue, store.RetentionPass{Before: procBase.Add(-90 * 24 * time.Hour), Limit: 10}, refuseIDs(refused...))
	purged, _, skipped := purgedIDs(bs)
	if len(purged) != 15 || skipped != 10 {
		t.Fatalf("got %d purged, %d skipped; want 15 and 10", len(purged), skipped)
	}
	for _, id := range refused {
		wantKept(t, db, id)
	}
	for _, id := range ids[10:] {
		wantPurged(t, db, id, procBase)
	}
	// The rule is given the process, its live decision and its erasure, read in the write.
	var seen *store.ErasureCase
	runPass(t, db.PurgeDue, store.RetentionPass{Before: procBase.Add(-90 * 24 * time.Hour)}, func(c *store.ErasureCase) error {
		if c.Process.ID == refused[0] {
			seen = c
		}
		return errRefused
	})
	if seen == nil || seen.Process.HolderName == "" || seen.Erasure != nil || !seen.Now.Equal(procBase) {
		t.Errorf("rule saw %+v, want the unpurged process, no erasure, the transaction's instant", seen)
	}
}

// TestRetentionQueriesUseTheirIndexes: the candidate queries walk the partial indexes,
// the purge finds a process's decisions by index, and the erasure worker's query uses
// erasures_due, so their cost does not grow with the history.
func TestRetentionQueriesUseTheirIndexes(t *testing.T) {
	store.SQLiteOnly(t, "reads SQLite's query plans")
	db, _ := openClockedDB(t)
	finalOld(t, db, "p", 50, procBase.Add(-200*24*time.Hour))
	if _, err := db.SQL().Exec("ANALYZE"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, query, index, bounds string
		args                       []any
	}{
		// Both ends of the range come from the index: the cursor and the period's end.
		{"purge candidates", store.PurgeCandidatesQuery, "processes_purge_due", "(<expr>>? AND <expr><?)", []any{"2026", "", "", 100}},
		{"erase candidates", store.EraseCandidatesQuery, "processes_erase_due", "(<expr>>? AND <expr><?)", []any{"2026", "2025", "p-0001", 100}},
		{"purge decisions", "UPDATE decisions SET internal_note = '', corrections = '' WHERE process_id = ? AND (internal_note <> '' OR corrections <> '')",
			"decisions_process", "(process_id=?)", []any{"p-0001"}},
		{"due erasures", "SELECT id FROM erasures WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT 20",
			"erasures_due", "(state=? AND next_attempt_at<?)", []any{"2026"}},
		{"pull forward erasures", `UPDATE erasures SET next_attempt_at = ?1, updated_at = ?1 WHERE id IN (SELECT id FROM erasures
			WHERE state = 'queued' AND next_attempt_at > ?1 AND attempts > 0 ORDER BY next_attempt_at LIMIT 500)`,
			"erasures_due", "(state=? AND next_attempt_at>?)", []any{"2026"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := db.SQL().Query("EXPLAIN QUERY PLAN "+tc.query, tc.args...)
			if err != nil {
				t.Fatalf("explain: %v", err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			text := strings.Join(plan, " | ")
			t.Logf("plan: %s", text)
			if !strings.Contains(text, "USING INDEX "+tc.index) && !strings.Contains(text, "USING COVERING INDEX "+tc.index) {
				t.Errorf("plan %q: want it to use %s", text, tc.index)
			}
			if !strings.Contains(text, tc.bounds) {
				t.Errorf("plan %q: want the index searched by %s", text, tc.bounds)
			}
			if strings.Contains(text, "TEMP B-TREE") {
				t.Errorf("plan %q: sorts instead of reading in index order", text)
			}
			for _, step := range plan {
				if strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, "INDEX") {
					t.Errorf("plan %q: scans a table", text)
				}
			}
		})
	}
}

// TestPurgedProcessStaysPurged: a later read of the gateway does not put identity data
// back (opening the page, a webhook), until the gateway puts the process back in review.
func TestPurgedProcessStaysPurged(t *testing.T) {
	db, clk := openClockedDB(t)
	old := procBase.Add(-200 * 24 * time.Hour)
	id := finalOld(t, db, "p", 1, old)[0]
	clk.Set(procBase)
	runPass(t, db.PurgeDue, store.RetentionPass{Before: procBase.Add(-90 * 24 * time.Hour)}, allowPurge)

	clk.Add(time.Hour)
	again := decided(id, "VERIFIED", old.Add(time.Minute))
	again.OnboardingURL = "https://gateway.example/x"
	upsert(t, db, store.SourceTracked, again) // the full snapshot of a page view
	wantPurged(t, db, id, procBase)

	// Mobbscan puts it back into review: the workflow needs its data again, and retention
	// starts over once it is final again.
	back := inReview(id, procBase.Add(time.Hour))
	upsert(t, db, store.SourceWebhook, back)
	if p := mustGet(t, db, id); p.HolderName != back.HolderName || !p.PurgedAt.IsZero() || !p.Reviewable {
		t.Errorf("back in review: got holder %q purged %v reviewable %v, want the data back and not purged", p.HolderName, p.PurgedAt, p.Reviewable)
	}
}

func TestEraseDueQueuesTheErasureWithThePurge(t *testing.T) {
	db, clk := openClockedDB(t)
	old := procBase.Add(-400 * 24 * time.Hour)
	ids := finalOld(t, db, "e", 12, old)
	clk.Set(procBase)
	// Purged earlier by retention: the erasure pass only queues it.
	first := runPass(t, db.PurgeDue, store.RetentionPass{Before: old.Add(3 * time.Second)}, allowPurge)
	if p, _, _ := purgedIDs(first); len(p) != 3 {
		t.Fatalf("retention before the erasure: purged %v, want the 3 oldest", p)
	}

	clk.Add(time.Minute)
	now := clk.Now()
	bs := runPass(t, db.EraseDue, store.RetentionPass{Before: procBase.Add(-365 * 24 * time.Hour), Limit: 5, Detail: "erasure: 365 days"},
		refuseIDs(ids[11]))
	purged, queued, skipped := purgedIDs(bs)
	if len(purged) != 8 || len(queued) != 11 || skipped != 1 {
		t.Fatalf("erasure pass: %d purged, %d queued, %d skipped; want 8, 11, 1", len(purged), len(queued), skipped)
	}
	for _, id := range ids[:11] {
		e, err := db.ErasureOf(context.Background(), id)
		if err != nil || e.State != store.ErasureQueued || e.RequestedBy != 0 || !e.NextAttemptAt.Equal(now) || !e.DeliverableSince.Equal(now) {
			t.Fatalf("erasure of %s: got %+v %v, want queued by retention, due now", id, e, err)
		}
		if rows := auditRows(t, db, string(store.ActionProcessErase), id); len(rows) != 1 || rows[0].Outcome != store.OutcomeSuccess {
			t.Errorf("erase audit of %s: got %+v, want one row", id, rows)
		}
	}
	wantPurged(t, db, ids[0], procBase)
	wantPurged(t, db, ids[5], now)
	wantKept(t, db, ids[11])
	if n := len(auditRows(t, db, string(store.ActionProcessPurge), ids[0])); n != 1 {
		t.Errorf("process purged by retention then erased: %d purge audit rows, want 1", n)
	}
	// Queued once: a second pass finds only the refused one.
	bs = runPass(t, db.EraseDue, store.RetentionPass{Before: procBase.Add(-365 * 24 * time.Hour)}, refuseIDs(ids[11]))
	if p, q, s := purgedIDs(bs); len(p)+len(q) != 0 || s != 1 {
		t.Errorf("second erasure pass: %v %v %d, want only the refused one looked at", p, q, s)
	}
	verifyAudit(t, db)
}

// TestEraseOutboxAttemptsRetriesAndRecovery: attempts, retries, crash recovery and outcomes of the outbox.
func TestEraseOutboxAttemptsRetriesAndRecovery(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	admin := newUser(t, db, "admin@example.com", store.RoleAdmin)
	id := finalOld(t, db, "x", 1, procBase.Add(-time.Hour))[0]
	clk.Set(procBase)

	e, err := db.EraseNow(ctx, actorOf(admin), id, "erase now", allowPurge)
	if err != nil {
		t.Fatalf("erase now: %v", err)
	}
	wantPurged(t, db, id, procBase)
	if e.State != store.ErasureQueued || e.RequestedBy != admin.ID || e.RequestedByName == "" {
		t.Fatalf("erasure: %+v, want queued, requested by the admin", e)
	}
	for _, action := range []store.Action{store.ActionProcessPurge, store.ActionProcessErase} {
		rows := auditRows(t, db, string(action), id)
		if len(rows) != 1 || rows[0].ActorID != admin.ID || rows[0].RequestID != "req-1" {
			t.Errorf("%s audit: got %+v, want one row by the admin", action, rows)
		}
	}
	// A second request is the rule's to refuse; the store refuses a second row anyway.
	if _, err := db.EraseNow(ctx, actorOf(admin), id, "", allowPurge); err != nil {
		t.Errorf("erase now of a queued erasure with a permissive rule: %v (it requeues)", err)
	}
	if _, err := db.EraseNow(ctx, actorOf(admin), id, "", func(*store.ErasureCase) error { return errRefused }); !errors.Is(err, errRefused) {
		t.Errorf("refused erase now: got %v, want the rule's error", err)
	}

	due := func() []*store.Erasure {
		t.Helper()
		list, err := db.DueErasures(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	start := func() *store.Erasure {
		t.Helper()
		list := due()
		if len(list) != 1 {
			t.Fatalf("due erasures: got %d, want 1", len(list))
		}
		if ok, err := db.StartErasure(ctx, list[0].ID); !ok || err != nil {
			t.Fatalf("start: %v %v", ok, err)
		}
		if ok, _ := db.StartErasure(ctx, list[0].ID); ok {
			t.Fatal("an erasure being sent was started twice")
		}
		return list[0]
	}

	// A failed attempt waits for its next try.
	got := start()
	if err := db.FinishErasure(ctx, got, store.ErasureOutcome{State: store.ErasureQueued, Next: clk.Now().Add(time.Minute), Error: "503"}); err != nil {
		t.Fatal(err)
	}
	if len(due()) != 0 {
		t.Fatal("an erasure waiting for its retry was due at once")
	}
	// The gateway is back: the catch-up makes it due now (O4).
	if n, err := db.PullForwardErasures(ctx, 10); n != 1 || err != nil {
		t.Fatalf("pull forward: %d %v, want 1", n, err)
	}
	if len(due()) != 1 {
		t.Fatal("a pulled-forward erasure is not due")
	}

	// A crash while sending: the row stays 'sending'; recovery queues it again, ambiguous.
	start()
	if err := db.FinishErasure(ctx, &store.Erasure{ID: got.ID + 99}, store.ErasureOutcome{State: store.ErasureDone}); err == nil {
		t.Error("finishing an erasure that is not being sent succeeded")
	}
	if n, err := db.RecoverErasures(ctx); n != 1 || err != nil {
		t.Fatalf("recover: %d %v, want 1", n, err)
	}
	got = start()
	if !got.Ambiguous || got.Attempts != 2 {
		t.Errorf("recovered erasure: %+v, want ambiguous after 2 attempts", got)
	}
	if err := db.FinishErasure(ctx, got, store.ErasureOutcome{State: store.ErasureDone, Audit: true, Note: "Mobbscan no longer knows the process (404)"}); err != nil {
		t.Fatal(err)
	}
	done, _ := db.GetErasure(ctx, got.ID)
	if done.State != store.ErasureDone || done.DoneAt.IsZero() || done.Attempts != 3 {
		t.Errorf("done erasure: %+v", done)
	}
	if p := mustGet(t, db, id); !p.Gone {
		t.Error("an erased process is not marked gone")
	}
	rows := auditRows(t, db, string(store.ActionProcessErase), id)
	if len(rows) < 3 || rows[0].Outcome != store.OutcomeSuccess || !strings.Contains(rows[0].Detail, "done; attempt 3") || rows[0].ActorID != 0 {
		t.Errorf("erase audit: newest %+v, want the outcome by the system", rows[0])
	}
	if list, _ := db.ListErasures(ctx, []store.ErasureState{store.ErasureFailed, store.ErasureParked}, 10); len(list) != 0 {
		t.Errorf("needing a person: %v, want none", list)
	}

	// A failed erasure can be put back by a person, and starts a new period.
	id2 := finalOld(t, db, "y", 1, procBase.Add(-time.Hour))[0]
	if _, err := db.EraseNow(ctx, actorOf(admin), id2, "", allowPurge); err != nil {
		t.Fatal(err)
	}
	e2 := start()
	if err := db.FinishErasure(ctx, e2, store.ErasureOutcome{State: store.ErasureFailed, Audit: true, Error: "refused"}); err != nil {
		t.Fatal(err)
	}
	if list, _ := db.ListErasures(ctx, []store.ErasureState{store.ErasureFailed, store.ErasureParked}, 10); len(list) != 1 || list[0].ID != e2.ID {
		t.Errorf("needing a person: %v, want the failed one", list)
	}
	clk.Add(time.Hour)
	if err := db.RetryErasure(ctx, actorOf(admin), e2.ID, allowPurge); err != nil {
		t.Fatal(err)
	}
	if e, _ := db.GetErasure(ctx, e2.ID); e.State != store.ErasureQueued || !e.DeliverableSince.Equal(clk.Now()) {
		t.Errorf("retried erasure: %+v, want queued from now", e)
	}
	if err := db.RetryErasure(ctx, actorOf(admin), 999, allowPurge); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("retry of an unknown erasure: %v", err)
	}
	verifyAudit(t, db)
}
