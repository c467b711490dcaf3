package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// procClock is a controllable DB.Now, safe for concurrent readers.
type procClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *procClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *procClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *procClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var procBase = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

// openClockedDB opens a fresh database whose clock starts at procBase.
func openClockedDB(t *testing.T) (*store.DB, *procClock) {
	t.Helper()
	db := openDB(t)
	clk := &procClock{t: procBase}
	db.Now = clk.Now
	return db, clk
}

func fp(v float64) *float64 { return &v }

// inReview is a full snapshot of a process awaiting review, last updated at since.
func inReview(id string, since time.Time) store.Snapshot {
	return store.Snapshot{
		ID: id, Status: "PENDING", RawStatus: "PENDING", Stage: "REVIEW", Reviewable: true,
		CreatedAt: since.Add(-10 * time.Minute), UpdatedAt: since,
		Country: "ESP", DocType: "IDCard", HolderName: "Ana García", CustomerRef: "C-" + id,
		Failed: []string{"validationMRZ"}, Scores: [3]*float64{fp(0.41), fp(0.93), fp(0.88)},
	}
}

// inProgress is a full snapshot of a process whose customer has not finished.
func inProgress(id string, at time.Time) store.Snapshot {
	return store.Snapshot{
		ID: id, Status: "PENDING", RawStatus: "PENDING", Stage: "IN_PROGRESS",
		CreatedAt: at.Add(-time.Minute), UpdatedAt: at, Country: "ESP", DocType: "IDCard",
	}
}

// decided is a full snapshot of a process an agent decided at at.
func decided(id, status string, at time.Time) store.Snapshot {
	s := inReview(id, at)
	s.Status, s.RawStatus, s.Stage, s.Reviewable, s.Final = status, status, "DONE", false, true
	return s
}

func upsert(t *testing.T, db *store.DB, source string, s store.Snapshot) bool {
	t.Helper()
	changed, err := db.UpsertProcess(context.Background(), source, s, db.Now().Add(10*time.Minute))
	if err != nil {
		t.Fatalf("upsert %s: %v", s.ID, err)
	}
	return changed
}

func mustGet(t *testing.T, db *store.DB, id string) *store.Process {
	t.Helper()
	p, err := db.GetProcess(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return p
}

func idsOf(ps []*store.Process) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func auditRows(t *testing.T, db *store.DB, action, objectID string) []store.AuditEvent {
	t.Helper()
	rows, err := db.ListAudit(context.Background(), store.AuditFilter{Action: action, ObjectID: objectID, Limit: 500})
	if err != nil {
		t.Fatalf("list audit: %v", err)
	}
	return rows
}

func verifyAudit(t *testing.T, db *store.DB) {
	t.Helper()
	if _, err := db.VerifyAudit(context.Background()); err != nil {
		t.Fatalf("verify audit: %v", err)
	}
}

func actorOf(u *store.User) store.Actor {
	return store.Actor{UserID: u.ID, Email: u.Email, IP: "192.0.2.1", RequestID: "req-1"}
}

func TestUpsertProcessInsertThenUpdate(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	since := procBase.Add(-time.Hour)
	s := inReview("p-1", since)
	s.OnboardingURL = "https://gw.example/onboarding/abc"
	changed, err := db.UpsertProcess(ctx, store.SourceWebhook, s, procBase.Add(10*time.Minute))
	if err != nil || !changed {
		t.Fatalf("insert: got changed=%v err=%v, want true nil", changed, err)
	}
	p := mustGet(t, db, "p-1")
	for _, c := range []struct{ name, got, want string }{
		{"source", p.Source, store.SourceWebhook},
		{"status", p.Status, "PENDING"},
		{"raw status", p.RawStatus, "PENDING"},
		{"stage", p.Stage, "REVIEW"},
		{"country", p.Country, "ESP"},
		{"doc type", p.DocType, "IDCard"},
		{"holder", p.HolderName, "Ana García"},
		{"customer ref", p.CustomerRef, "C-p-1"},
		{"failed", strings.Join(p.Failed, "|"), "validationMRZ"},
		{"onboarding url", p.OnboardingURL, "https://gw.example/onboarding/abc"},
		{"scores", fmt.Sprint(*p.ScoreFacial, *p.ScoreLiveness, *p.ScoreDocument), "0.41 0.93 0.88"},
		{"flags", fmt.Sprint(p.Reviewable, p.Final, p.Gone), "true false false"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	for _, c := range []struct {
		name      string
		got, want time.Time
	}{
		{"created", p.CreatedAt, s.CreatedAt},
		{"updated", p.UpdatedAt, since},
		{"review since", p.ReviewSince, since},
		{"first seen", p.FirstSeenAt, procBase},
		{"synced", p.SyncedAt, procBase},
		{"sync due", p.SyncDueAt, procBase.Add(10 * time.Minute)},
	} {
		if !c.got.Equal(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}

	// The same snapshot again changes nothing.
	if upsert(t, db, store.SourceWebhook, s) {
		t.Error("same snapshot: got changed, want unchanged")
	}

	// A newer snapshot from another source updates the fields but not the source,
	// the first sighting or the time the process entered review; failures reset.
	if err := db.MarkSyncFailed(ctx, "p-1", "boom", procBase.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	clk.Add(5 * time.Minute)
	s2 := inReview("p-1", since.Add(30*time.Minute))
	s2.HolderName, s2.Failed = "Ana García López", []string{"validationMRZ", "validationLiveness"}
	if !upsert(t, db, store.SourceTracked, s2) {
		t.Error("newer snapshot with new holder: got unchanged, want changed")
	}
	p = mustGet(t, db, "p-1")
	if p.Source != store.SourceWebhook {
		t.Errorf("source: got %q, want %q (kept)", p.Source, store.SourceWebhook)
	}
	if p.HolderName != "Ana García López" || !slices.Equal(p.Failed, []string{"validationMRZ", "validationLiveness"}) {
		t.Errorf("fields: got %q %v, want the new holder and failed validations", p.HolderName, p.Failed)
	}
	if !p.ReviewSince.Equal(since) || !p.FirstSeenAt.Equal(procBase) {
		t.Errorf("review since, first seen: got %v %v, want %v %v", p.ReviewSince, p.FirstSeenAt, since, procBase)
	}
	if p.OnboardingURL != "https://gw.example/onboarding/abc" {
		t.Errorf("onboarding url: got %q, want it kept when the snapshot has none", p.OnboardingURL)
	}
	if p.SyncFailures != 0 || p.SyncError != "" || !p.SyncedAt.Equal(clk.Now()) {
		t.Errorf("sync state: got failures=%d error=%q synced=%v, want 0, empty, %v", p.SyncFailures, p.SyncError, p.SyncedAt, clk.Now())
	}
}

func TestUpsertProcessStaleSnapshotNeverMovesBackwards(t *testing.T) {
	t1, t2 := procBase.Add(-2*time.Hour), procBase.Add(-time.Hour)
	cases := []struct {
		name           string
		first, second  store.Snapshot
		wantChanged    bool
		wantStatus     string
		wantReviewable bool
		wantClaimKept  bool
	}{
		{"decided, then a stale read in review", decided("p", "VERIFIED", t2), inReview("p", t1), false, "VERIFIED", false, false},
		{"rejected, then a stale read in review", decided("p", "NOT_VERIFIED", t2), inReview("p", t1), false, "NOT_VERIFIED", false, false},
		{"in review, then a stale read in progress", inReview("p", t2), inProgress("p", t1), false, "PENDING", true, true},
		{"in review, then a newer decision", inReview("p", t1), decided("p", "VERIFIED", t2), true, "VERIFIED", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openClockedDB(t)
			ctx := context.Background()
			u := newUser(t, db, "a@example.com", store.RoleAgent)
			upsert(t, db, store.SourceWebhook, tc.first)
			if tc.first.Reviewable {
				if _, err := db.Claim(ctx, actorOf(u), "p", 5*time.Minute, allow); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.MarkSyncFailed(ctx, "p", "gateway down", procBase.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			next := procBase.Add(42 * time.Minute)
			changed, err := db.UpsertProcess(ctx, store.SourceWebhook, tc.second, next)
			if err != nil {
				t.Fatal(err)
			}
			p := mustGet(t, db, "p")
			if changed != tc.wantChanged {
				t.Errorf("changed: got %v, want %v", changed, tc.wantChanged)
			}
			if p.Status != tc.wantStatus || p.Reviewable != tc.wantReviewable {
				t.Errorf("state: got %s reviewable=%v, want %s reviewable=%v", p.Status, p.Reviewable, tc.wantStatus, tc.wantReviewable)
			}
			if got := p.ClaimedBy == u.ID; got != tc.wantClaimKept {
				t.Errorf("claim kept: got %v, want %v", got, tc.wantClaimKept)
			}
			// Either way the gateway was reached: rescheduled, failures cleared.
			if !p.SyncDueAt.Equal(next) || p.SyncFailures != 0 || p.SyncError != "" {
				t.Errorf("sync: got due=%v failures=%d error=%q, want %v 0 empty", p.SyncDueAt, p.SyncFailures, p.SyncError, next)
			}
		})
	}
}

func TestReviewSinceFollowsEnteringAndLeavingReview(t *testing.T) {
	db, clk := openClockedDB(t)
	at := func(h int) time.Time { return procBase.Add(time.Duration(h) * time.Hour) }
	withFailed := inReview("p", at(2))
	withFailed.Failed = []string{"validationLiveness"}
	steps := []struct {
		name string
		s    store.Snapshot
		want time.Time
	}{
		{"in progress", inProgress("p", at(0)), time.Time{}},
		{"enters review", inReview("p", at(1)), at(1)},
		{"still in review, new results", withFailed, at(1)},
		{"accepted", decided("p", "VERIFIED", at(3)), time.Time{}},
		{"sent back to review", inReview("p", at(4)), at(4)},
		{"expired (partial status read)", store.Snapshot{ID: "p", Status: "PENDING", RawStatus: "PENDING", Stage: "EXPIRED", Partial: true}, time.Time{}},
	}
	for _, st := range steps {
		if !st.s.UpdatedAt.IsZero() {
			clk.Set(st.s.UpdatedAt)
		}
		upsert(t, db, store.SourceWebhook, st.s)
		if got := mustGet(t, db, "p").ReviewSince; !got.Equal(st.want) {
			t.Errorf("%s: review since got %v, want %v", st.name, got, st.want)
		}
	}

	// Without a gateway update time, entering review counts from now.
	clk.Set(procBase.Add(9 * time.Hour))
	s := inReview("q", time.Time{})
	s.UpdatedAt = time.Time{}
	upsert(t, db, store.SourceTracked, s)
	if got := mustGet(t, db, "q").ReviewSince; !got.Equal(clk.Now()) {
		t.Errorf("no update time: review since got %v, want now %v", got, clk.Now())
	}
}

func TestLeavingReviewDropsTheClaim(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		leave func(db *store.DB) error
	}{
		{"decided", func(db *store.DB) error {
			_, err := db.UpsertProcess(ctx, store.SourceWebhook, decided("p", "VERIFIED", procBase), procBase)
			return err
		}},
		{"partial status read out of review", func(db *store.DB) error {
			_, err := db.UpsertProcess(ctx, store.SourceWebhook, store.Snapshot{ID: "p", Status: "NOT_VERIFIED", RawStatus: "NOT_VERIFIED", Final: true, Partial: true}, procBase)
			return err
		}},
		{"gone", func(db *store.DB) error { return db.MarkGone(ctx, "p") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openClockedDB(t)
			u := newUser(t, db, "a@example.com", store.RoleAgent)
			upsert(t, db, store.SourceWebhook, inReview("p", procBase.Add(-time.Hour)))
			if _, err := db.Claim(ctx, actorOf(u), "p", 5*time.Minute, allow); err != nil {
				t.Fatal(err)
			}
			if err := tc.leave(db); err != nil {
				t.Fatal(err)
			}
			p := mustGet(t, db, "p")
			if p.ClaimedBy != 0 || !p.ClaimExpiresAt.IsZero() || !p.ReviewSince.IsZero() || p.Reviewable {
				t.Errorf("after leaving review: got claimed_by=%d expires=%v since=%v reviewable=%v, want all cleared",
					p.ClaimedBy, p.ClaimExpiresAt, p.ReviewSince, p.Reviewable)
			}
			if n, err := countMine(ctx, db, u.ID); err != nil || n != 0 {
				t.Errorf("claimed by: got %d %v, want 0", n, err)
			}
			// The page's heartbeat: the rule sees the claim gone, and its refusal writes nothing.
			before := dump(t, db)
			r := refuse()
			_, err := db.Heartbeat(ctx, "p", 5*time.Minute, r.rule)
			wantRefusedUnchanged(t, "heartbeat", err)
			if c := r.only(t); c.Process.ClaimedBy != 0 || c.Process.Reviewable || len(c.Served) != 0 {
				t.Errorf("heartbeat case: got holder %d reviewable=%v served %v, want no claim, out of review", c.Process.ClaimedBy, c.Process.Reviewable, c.Served)
			}
			wantUnchanged(t, db, "a refused heartbeat", before)
		})
	}
}

func TestPartialSnapshotKeepsDescriptiveFields(t *testing.T) {
	db, _ := openClockedDB(t)
	full := inReview("p", procBase.Add(-time.Hour))
	upsert(t, db, store.SourceWebhook, full)

	// A status-only read that says the same thing keeps everything.
	if upsert(t, db, store.SourceWebhook, store.Snapshot{ID: "p", Status: "PENDING", RawStatus: "PENDING", Stage: "REVIEW", Reviewable: true, Partial: true}) {
		t.Error("same status, partial: got changed, want unchanged")
	}
	check := func(when string) {
		t.Helper()
		p := mustGet(t, db, "p")
		if p.HolderName != full.HolderName || p.Country != full.Country || p.DocType != full.DocType ||
			p.CustomerRef != full.CustomerRef || !slices.Equal(p.Failed, full.Failed) ||
			p.ScoreFacial == nil || *p.ScoreFacial != 0.41 || !p.CreatedAt.Equal(full.CreatedAt) || !p.UpdatedAt.Equal(full.UpdatedAt) {
			t.Errorf("%s: got %+v, want the descriptive fields of the full snapshot kept", when, p)
		}
	}
	check("same status")
	if !mustGet(t, db, "p").ReviewSince.Equal(full.UpdatedAt) {
		t.Error("same status: review since moved")
	}

	// A status-only read of a decision changes the state, keeps the description.
	if !upsert(t, db, store.SourceWebhook, store.Snapshot{ID: "p", Status: "VERIFIED", RawStatus: "VERIFIED", Stage: "DONE", Final: true, Partial: true}) {
		t.Error("decided, partial: got unchanged, want changed")
	}
	check("decided")
	if p := mustGet(t, db, "p"); p.Status != "VERIFIED" || !p.Final || p.Reviewable {
		t.Errorf("decided: got %s final=%v reviewable=%v, want VERIFIED true false", p.Status, p.Final, p.Reviewable)
	}
}

func TestMarkGoneRemovesFromQueue(t *testing.T) {
	db, _ := openClockedDB(t)
	ctx := context.Background()
	u := newUser(t, db, "a@example.com", store.RoleAgent)
	for i, id := range []string{"g-1", "g-2", "g-3"} {
		upsert(t, db, store.SourceWebhook, inReview(id, procBase.Add(-time.Duration(3-i)*time.Hour)))
	}
	if _, err := db.Claim(ctx, actorOf(u), "g-2", 5*time.Minute, allow); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkGone(ctx, "g-2"); err != nil {
		t.Fatal(err)
	}
	ps, _, err := db.Queue(ctx, store.QueueQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := idsOf(ps), []string{"g-1", "g-3"}; !slices.Equal(got, want) {
		t.Errorf("queue: got %v, want %v", got, want)
	}
	p := mustGet(t, db, "g-2")
	if !p.Gone || p.Reviewable || p.ClaimedBy != 0 || p.SyncError == "" {
		t.Errorf("gone process: got gone=%v reviewable=%v claimed=%d error=%q", p.Gone, p.Reviewable, p.ClaimedBy, p.SyncError)
	}
	clkNow := db.Now()
	db.Now = func() time.Time { return clkNow.Add(24 * time.Hour) }
	due, err := db.DueForSync(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(due, "g-2") {
		t.Errorf("due for sync: got %v, want no gone process", due)
	}
	if c, _ := db.CountQueue(ctx, u.ID, time.Hour); c.InReview != 2 {
		t.Errorf("in review: got %d, want 2", c.InReview)
	}
	// If the gateway knows it again, it comes back.
	if !upsert(t, db, store.SourceWebhook, inReview("g-2", procBase.Add(-2*time.Hour))) {
		t.Error("back from gone: got unchanged, want changed")
	}
	if p := mustGet(t, db, "g-2"); p.Gone || !p.Reviewable {
		t.Errorf("back from gone: got gone=%v reviewable=%v, want false true", p.Gone, p.Reviewable)
	}
}

// queueFixture indexes a small queue at procBase:
//
//	q-01 ESP IDCard        [MRZ]                 "Ana García"       since -30h, claimed by ana
//	q-02 FRA Passport      [FacialMatching, Liveness] "Jean 100% Dupont" since -5h, bob's claim expired
//	q-03 ESP Passport      [MRZCheck, DocumentNotExpired] "Jean 1005 Dupont" since -3h
//	q-04 ITA DriverLicense []                    "Maria_Rossi"      since -2h
//	q-05 ITA IDCard        [Liveness]            "MariaXRossi"      since -1h
//
// plus a decided process and a gone one that never show.
func queueFixture(t *testing.T) (*store.DB, *procClock, *store.User, *store.User) {
	t.Helper()
	db, clk := openClockedDB(t)
	ctx := context.Background()
	ana := newUser(t, db, "ana@example.com", store.RoleAgent)
	bob := newUser(t, db, "bob@example.com", store.RoleAgent)
	rows := []struct {
		id, country, doc string
		failed           []string
		holder, ref      string
		age              time.Duration
	}{
		{"q-01", "ESP", "IDCard", []string{"validationMRZ"}, "Ana García", "C-1001", 30 * time.Hour},
		{"q-02", "FRA", "Passport", []string{"validationFacialMatching", "validationLiveness"}, "Jean 100% Dupont", "C-1002", 5 * time.Hour},
		{"q-03", "ESP", "Passport", []string{"validationMRZCheck", "validationDocumentNotExpired"}, "Jean 1005 Dupont", "REF-77", 3 * time.Hour},
		{"q-04", "ITA", "DriverLicense", nil, "Maria_Rossi", "C-1004", 2 * time.Hour},
		{"q-05", "ITA", "IDCard", []string{"validationLiveness"}, "MariaXRossi", "K-5", time.Hour},
		{"q-06", "ESP", "IDCard", []string{"validationMRZ"}, "Ana Decided", "C-1006", 40 * time.Hour},
		{"q-07", "ESP", "IDCard", []string{"validationMRZ"}, "Gone Person", "C-1007", 50 * time.Hour},
	}
	for _, r := range rows {
		s := inReview(r.id, procBase.Add(-r.age))
		s.Country, s.DocType, s.Failed, s.HolderName, s.CustomerRef = r.country, r.doc, r.failed, r.holder, r.ref
		upsert(t, db, store.SourceWebhook, s)
	}
	upsert(t, db, store.SourceWebhook, decided("q-06", "VERIFIED", procBase.Add(-time.Minute)))
	if err := db.MarkGone(ctx, "q-07"); err != nil {
		t.Fatal(err)
	}
	clk.Set(procBase.Add(-10 * time.Minute))
	if _, err := db.Claim(ctx, actorOf(bob), "q-02", 5*time.Minute, allow); err != nil {
		t.Fatal(err)
	}
	clk.Set(procBase)
	if _, err := db.Claim(ctx, actorOf(ana), "q-01", 5*time.Minute, allow); err != nil {
		t.Fatal(err)
	}
	return db, clk, ana, bob
}

func TestQueueFilters(t *testing.T) {
	db, _, ana, bob := queueFixture(t)
	all := []string{"q-01", "q-02", "q-03", "q-04", "q-05"}
	cases := []struct {
		name string
		q    store.QueueQuery
		want []string
	}{
		{"everything, oldest first", store.QueueQuery{}, all},
		{"newest first", store.QueueQuery{Newest: true}, []string{"q-05", "q-04", "q-03", "q-02", "q-01"}},
		{"country", store.QueueQuery{Country: "ESP"}, []string{"q-01", "q-03"}},
		{"doc type", store.QueueQuery{DocType: "Passport"}, []string{"q-02", "q-03"}},
		{"country and doc type", store.QueueQuery{Country: "ITA", DocType: "IDCard"}, []string{"q-05"}},
		{"failed validation", store.QueueQuery{Failed: "validationLiveness"}, []string{"q-02", "q-05"}},
		{"failed: whole name, not a prefix of another", store.QueueQuery{Failed: "validationMRZ"}, []string{"q-01"}},
		{"failed: a prefix matches nothing", store.QueueQuery{Failed: "validationDocumentNot"}, nil},
		{"failed: LIKE wildcard escaped", store.QueueQuery{Failed: "validation_RZ"}, nil},
		{"failed: percent escaped", store.QueueQuery{Failed: "%"}, nil},
		{"claim all", store.QueueQuery{Claim: store.ClaimAll, UserID: ana.ID}, all},
		{"claim mine", store.QueueQuery{Claim: store.ClaimMine, UserID: ana.ID}, []string{"q-01"}},
		{"claim mine, expired", store.QueueQuery{Claim: store.ClaimMine, UserID: bob.ID}, nil},
		{"unclaimed counts expired claims", store.QueueQuery{Claim: store.ClaimUnclaimed, UserID: ana.ID}, []string{"q-02", "q-03", "q-04", "q-05"}},
		{"older than 4h", store.QueueQuery{OlderThan: 4 * time.Hour}, []string{"q-01", "q-02"}},
		{"older than 24h", store.QueueQuery{OlderThan: 24 * time.Hour}, []string{"q-01"}},
		{"search exact id", store.QueueQuery{Search: "q-03"}, []string{"q-03"}},
		{"search id trimmed", store.QueueQuery{Search: "  q-03 "}, []string{"q-03"}},
		{"search part of an id (three characters or more: the search index)", store.QueueQuery{Search: "q-0"}, []string{"q-01", "q-02", "q-03", "q-04", "q-05"}},
		{"search customer ref", store.QueueQuery{Search: "C-1002"}, []string{"q-02"}},
		{"search other customer ref", store.QueueQuery{Search: "REF-77"}, []string{"q-03"}},
		{"search part of holder, any case", store.QueueQuery{Search: "dupont"}, []string{"q-02", "q-03"}},
		{"search holder with percent", store.QueueQuery{Search: "100%"}, []string{"q-02"}},
		{"search percent alone (too short for the index; not an id)", store.QueueQuery{Search: "%"}, nil},
		{"search holder with underscore", store.QueueQuery{Search: "Maria_Rossi"}, []string{"q-04"}},
		{"search underscore alone", store.QueueQuery{Search: "_"}, nil},
		{"search without accents", store.QueueQuery{Search: "garcia"}, []string{"q-01"}},
		{"search backslash", store.QueueQuery{Search: `\`}, nil},
		{"search decided process", store.QueueQuery{Search: "q-06"}, nil},
		{"search gone process", store.QueueQuery{Search: "Gone Person"}, nil},
		{"everything at once", store.QueueQuery{Country: "FRA", Failed: "validationLiveness", Claim: store.ClaimUnclaimed, OlderThan: time.Hour, Search: "Jean", UserID: ana.ID}, []string{"q-02"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ps, more, err := db.Queue(context.Background(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := idsOf(ps); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if more {
				t.Error("more: got true, want false")
			}
		})
	}
	// The rows carry the claim holder's name.
	ps, _, _ := db.Queue(context.Background(), store.QueueQuery{Claim: store.ClaimMine, UserID: ana.ID})
	if len(ps) != 1 || ps[0].ClaimedByName != ana.DisplayName {
		t.Errorf("claimed by name: got %+v, want %q", ps, ana.DisplayName)
	}
}

func TestQueueKeysetPagination(t *testing.T) {
	db, _ := openClockedDB(t)
	ctx := context.Background()
	const n = 120
	type key struct {
		since time.Time
		id    string
	}
	var keys []key
	for i := 0; i < n; i++ {
		// Groups of three share a review time, so the id breaks ties.
		id := fmt.Sprintf("pg-%03d", (i*37)%n)
		since := procBase.Add(-time.Duration(i/3) * time.Minute)
		upsert(t, db, store.SourceWebhook, inReview(id, since))
		keys = append(keys, key{since, id})
	}
	// A process that is not in review never shows.
	upsert(t, db, store.SourceWebhook, decided("pg-decided", "VERIFIED", procBase))

	for _, newest := range []bool{false, true} {
		t.Run(fmt.Sprintf("newest=%v", newest), func(t *testing.T) {
			want := slices.Clone(keys)
			sort.Slice(want, func(i, j int) bool {
				a, b := want[i], want[j]
				if newest {
					a, b = b, a
				}
				if !a.since.Equal(b.since) {
					return a.since.Before(b.since)
				}
				return a.id < b.id
			})
			q := store.QueueQuery{Newest: newest, Limit: 50}
			var got []string
			var sizes []int
			var mores []bool
			for page := 0; page < 10; page++ {
				ps, more, err := db.Queue(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				sizes, mores = append(sizes, len(ps)), append(mores, more)
				got = append(got, idsOf(ps)...)
				if !more {
					break
				}
				last := ps[len(ps)-1]
				q.AfterSince, q.AfterID = last.ReviewSince, last.ID
			}
			if !slices.Equal(sizes, []int{50, 50, 20}) || !slices.Equal(mores, []bool{true, true, false}) {
				t.Errorf("pages: got sizes %v more %v, want [50 50 20] [true true false]", sizes, mores)
			}
			wantIDs := make([]string, len(want))
			for i, k := range want {
				wantIDs[i] = k.id
			}
			if !slices.Equal(got, wantIDs) {
				t.Errorf("order across pages:\ngot  %v\nwant %v", got, wantIDs)
			}
			seen := map[string]bool{}
			for _, id := range got {
				if seen[id] {
					t.Errorf("duplicate %s", id)
				}
				seen[id] = true
			}
			if len(seen) != n {
				t.Errorf("distinct rows: got %d, want %d", len(seen), n)
			}
		})
	}
}

func TestCountQueueAndClaimedBy(t *testing.T) {
	db, clk, ana, bob := queueFixture(t)
	ctx := context.Background()
	cases := []struct {
		name   string
		user   int64
		target time.Duration
		want   store.QueueCounts
	}{
		{"ana, 4h target", ana.ID, 4 * time.Hour, store.QueueCounts{InReview: 5, Unclaimed: 4, Mine: 1, OverTarget: 2}},
		{"bob (expired claim), 24h target", bob.ID, 24 * time.Hour, store.QueueCounts{InReview: 5, Unclaimed: 4, Mine: 0, OverTarget: 1}},
		{"nobody, 30min target", 0, 30 * time.Minute, store.QueueCounts{InReview: 5, Unclaimed: 4, Mine: 0, OverTarget: 5}},
	}
	for _, tc := range cases {
		got, err := db.CountQueue(ctx, tc.user, tc.target)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %+v %v, want %+v", tc.name, got, err, tc.want)
		}
	}
	for _, c := range []struct {
		name string
		user int64
		want int
	}{{"ana", ana.ID, 1}, {"bob", bob.ID, 0}} {
		if got, err := countMine(ctx, db, c.user); err != nil || got != c.want {
			t.Errorf("claimed by %s: got %d %v, want %d", c.name, got, err, c.want)
		}
	}
	// Once ana's claim expires, everything is unclaimed.
	clk.Add(6 * time.Minute)
	got, _ := db.CountQueue(ctx, ana.ID, 4*time.Hour)
	if got.Unclaimed != 5 || got.Mine != 0 {
		t.Errorf("after expiry: got %+v, want 5 unclaimed, 0 mine", got)
	}
	if n, _ := countMine(ctx, db, ana.ID); n != 0 {
		t.Errorf("claimed by ana after expiry: got %d, want 0", n)
	}
}

func TestClaimLifecycle(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	ana := newUser(t, db, "ana@example.com", store.RoleAgent)
	bob := newUser(t, db, "bob@example.com", store.RoleAgent)
	upsert(t, db, store.SourceWebhook, inReview("c-1", procBase.Add(-time.Hour)))
	const ttl = 5 * time.Minute

	// Claim: audited, a new sequence number.
	p, err := db.Claim(ctx, actorOf(ana), "c-1", ttl, allow)
	if err != nil {
		t.Fatal(err)
	}
	if p.ClaimedBy != ana.ID || p.ClaimedByName != ana.DisplayName || !p.ClaimedAt.Equal(procBase) || !p.ClaimExpiresAt.Equal(procBase.Add(ttl)) || p.ClaimSeq != 1 {
		t.Errorf("claim: got by=%d %q at=%v exp=%v seq=%d", p.ClaimedBy, p.ClaimedByName, p.ClaimedAt, p.ClaimExpiresAt, p.ClaimSeq)
	}
	// Renew: same claim (claimed_at kept), later expiry, a new sequence number, no
	// second audit row.
	clk.Add(time.Minute)
	p, err = db.Claim(ctx, actorOf(ana), "c-1", ttl, allow)
	if err != nil {
		t.Fatal(err)
	}
	if !p.ClaimedAt.Equal(procBase) || !p.ClaimExpiresAt.Equal(procBase.Add(time.Minute+ttl)) || p.ClaimSeq != 2 {
		t.Errorf("renew: got at=%v exp=%v seq=%d, want at=%v exp=%v seq 2", p.ClaimedAt, p.ClaimExpiresAt, p.ClaimSeq, procBase, procBase.Add(time.Minute+ttl))
	}
	if n := len(auditRows(t, db, "process.claim", "c-1")); n != 1 {
		t.Errorf("claim audit rows: got %d, want 1", n)
	}
	// Heartbeat extends, nothing else.
	clk.Add(time.Minute)
	p, err = db.Heartbeat(ctx, "c-1", ttl, allow)
	if err != nil || !p.ClaimExpiresAt.Equal(clk.Now().Add(ttl)) || p.ClaimSeq != 2 {
		t.Errorf("heartbeat: got exp=%v seq=%d err=%v, want %v seq 2", p.ClaimExpiresAt, p.ClaimSeq, err, clk.Now().Add(ttl))
	}
	// Whether another agent may take it is the rule's call: the rule sees ana's live
	// claim, and its refusal comes back unchanged with nothing written.
	before := dump(t, db)
	r := refuse()
	_, err = db.Claim(ctx, actorOf(bob), "c-1", ttl, r.rule)
	wantRefusedUnchanged(t, "claim by another agent", err)
	if c := r.only(t); c.Process.ClaimedBy != ana.ID || c.Process.ClaimedByName != ana.DisplayName || c.Process.ClaimSeq != 2 ||
		!c.Process.ClaimActive(c.Now) || !c.Now.Equal(clk.Now()) || c.Decision != nil {
		t.Errorf("case: got holder %d %q seq %d active=%v now %v decision %+v, want ana's live claim 2 at %v",
			c.Process.ClaimedBy, c.Process.ClaimedByName, c.Process.ClaimSeq, c.Process.ClaimActive(c.Now), c.Now, c.Decision, clk.Now())
	}
	wantUnchanged(t, db, "a refused claim", before)
	// Takeover: audited as such, a new claim (new claimed_at, new sequence number).
	clk.Add(time.Second)
	p, err = db.Claim(ctx, actorOf(bob), "c-1", ttl, allow)
	if err != nil || p.ClaimedBy != bob.ID || !p.ClaimedAt.Equal(clk.Now()) || p.ClaimSeq != 3 {
		t.Fatalf("takeover: got %+v %v, want bob's new claim, seq 3", p, err)
	}
	tk := auditRows(t, db, "process.takeover", "c-1")
	if len(tk) != 1 || tk[0].ActorID != bob.ID || !strings.Contains(tk[0].Detail, ana.DisplayName) || !strings.Contains(tk[0].Detail, fmt.Sprint(ana.ID)) {
		t.Errorf("takeover audit: got %+v, want one row by bob naming ana", tk)
	}
	if n := len(auditRows(t, db, "process.claim", "c-1")); n != 1 {
		t.Errorf("claim audit rows after the takeover: got %d, want 1 (the takeover is not a plain claim)", n)
	}
	// Releasing a claim one does not hold does nothing; the holder's release is audited.
	before = dump(t, db)
	if err := db.Release(ctx, actorOf(ana), "c-1", 0); err != nil {
		t.Fatal(err)
	}
	wantUnchanged(t, db, "a release by a non-holder", before)
	if err := db.Release(ctx, actorOf(bob), "c-1", 0); err != nil {
		t.Fatal(err)
	}
	if p := mustGet(t, db, "c-1"); p.ClaimedBy != 0 || !p.ClaimExpiresAt.IsZero() || !p.ClaimedAt.IsZero() || p.ClaimSeq != 3 {
		t.Errorf("release: got claimed_by=%d at %v until %v seq %d, want no claim, seq kept", p.ClaimedBy, p.ClaimedAt, p.ClaimExpiresAt, p.ClaimSeq)
	}
	if rel := auditRows(t, db, "process.release", "c-1"); len(rel) != 1 || rel[0].ActorID != bob.ID {
		t.Errorf("release audit: got %+v, want one row by bob", rel)
	}

	// An expired claim taken by another agent is a plain claim, not a takeover.
	if _, err := db.Claim(ctx, actorOf(ana), "c-1", ttl, allow); err != nil {
		t.Fatal(err)
	}
	clk.Add(ttl + time.Second)
	p, err = db.Claim(ctx, actorOf(bob), "c-1", ttl, allow)
	if err != nil || p.ClaimedBy != bob.ID || !p.ClaimedAt.Equal(clk.Now()) || p.ClaimSeq != 5 {
		t.Fatalf("claim after expiry: got %+v %v", p, err)
	}
	if n := len(auditRows(t, db, "process.takeover", "c-1")); n != 1 {
		t.Errorf("takeover rows after claiming an expired claim: got %d, want 1", n)
	}
	if n := len(auditRows(t, db, "process.claim", "c-1")); n != 3 {
		t.Errorf("claim rows: got %d, want 3", n)
	}
	verifyAudit(t, db)
}

// TestHeartbeat: a heartbeat the rule allows moves claim_expires_at to now+ttl and
// nothing else (holder, claimed_at, sequence number, audit); a refused one writes
// nothing. Even a lapsed claim nobody took is extended as the same claim.
func TestHeartbeat(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	ana := newUser(t, db, "ana@example.com", store.RoleAgent)
	upsert(t, db, store.SourceWebhook, inReview("h-1", procBase.Add(-time.Hour)))
	const ttl = 5 * time.Minute
	claimed, err := db.Claim(ctx, actorOf(ana), "h-1", ttl, allow)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.RecordServed(ctx, actorOf(ana), "h-1", store.EvidenceDocumentFront); err != nil {
		t.Fatal(err)
	}
	audits := len(auditRows(t, db, "", ""))

	clk.Add(2 * time.Minute)
	r := judge()
	p, err := db.Heartbeat(ctx, "h-1", ttl, r.rule)
	if err != nil {
		t.Fatal(err)
	}
	c := r.only(t)
	if c.Process.ClaimSeq != claimed.ClaimSeq || c.Process.ClaimedBy != ana.ID || !c.Now.Equal(clk.Now()) ||
		!slices.Equal(servedKinds(c), []string{"document_front"}) {
		t.Errorf("case: got seq %d holder %d now %v served %v, want ana's claim %d at %v, the front served",
			c.Process.ClaimSeq, c.Process.ClaimedBy, c.Now, servedKinds(c), claimed.ClaimSeq, clk.Now())
	}
	for _, got := range []*store.Process{p, mustGet(t, db, "h-1")} {
		if !got.ClaimExpiresAt.Equal(clk.Now().Add(ttl)) || got.ClaimedBy != ana.ID || !got.ClaimedAt.Equal(claimed.ClaimedAt) || got.ClaimSeq != claimed.ClaimSeq {
			t.Errorf("heartbeat: got holder %d at %v until %v seq %d, want ana's claim %d until %v",
				got.ClaimedBy, got.ClaimedAt, got.ClaimExpiresAt, got.ClaimSeq, claimed.ClaimSeq, clk.Now().Add(ttl))
		}
	}
	if n := len(auditRows(t, db, "", "")); n != audits {
		t.Errorf("audit rows: got %d, want %d (a heartbeat is not audited)", n, audits)
	}

	// Refused: nothing moves.
	clk.Add(time.Minute)
	before := dump(t, db)
	r = refuse()
	_, err = db.Heartbeat(ctx, "h-1", ttl, r.rule)
	wantRefusedUnchanged(t, "refused heartbeat", err)
	if c := r.only(t); c.Process.ClaimSeq != claimed.ClaimSeq || !c.Now.Equal(clk.Now()) {
		t.Errorf("case: got seq %d now %v", c.Process.ClaimSeq, c.Now)
	}
	wantUnchanged(t, db, "a refused heartbeat", before)

	// The laptop slept past the expiry and nobody took the process: the heartbeat
	// extends the same claim, so what ana was served still counts.
	clk.Add(time.Hour)
	if p, err := db.Heartbeat(ctx, "h-1", ttl, allow); err != nil || !p.ClaimActive(clk.Now()) || !p.ClaimedAt.Equal(claimed.ClaimedAt) || p.ClaimSeq != claimed.ClaimSeq {
		t.Errorf("heartbeat after expiry: got %+v %v, want the same claim, active again", p, err)
	}
	if c, err := db.LoadCase(ctx, "h-1"); err != nil || !c.Served[store.EvidenceDocumentFront] {
		t.Errorf("served after the revived claim: got %+v %v, want the front still counted", c, err)
	}

	r = judge()
	if _, err := db.Heartbeat(ctx, "h-unknown", ttl, r.rule); !errors.Is(err, store.ErrNotFound) || r.calls() != 0 {
		t.Errorf("heartbeat of an unknown process: got %v after %d rule calls, want ErrNotFound, the rule not asked", err, r.calls())
	}
	verifyAudit(t, db)
}

// TestClaimRefusedByTheRule: whether a process can be claimed (in progress, decided,
// gone) is review's rule; the store hands it the process as stored and writes
// nothing when it refuses. An unknown process is ErrNotFound before any rule.
func TestClaimRefusedByTheRule(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	ana := newUser(t, db, "ana@example.com", store.RoleAgent)
	upsert(t, db, store.SourceWebhook, inProgress("r-progress", procBase))
	upsert(t, db, store.SourceWebhook, decided("r-decided", "NOT_VERIFIED", procBase))
	upsert(t, db, store.SourceWebhook, inReview("r-gone", procBase))
	if err := db.MarkGone(ctx, "r-gone"); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	cases := []struct {
		id    string
		check func(p *store.Process) bool
	}{
		{"r-progress", func(p *store.Process) bool { return !p.Reviewable && p.Stage == "IN_PROGRESS" }},
		{"r-decided", func(p *store.Process) bool { return !p.Reviewable && p.Final && p.Status == "NOT_VERIFIED" }},
		{"r-gone", func(p *store.Process) bool { return !p.Reviewable && p.Gone }},
	}
	for _, tc := range cases {
		before := dump(t, db)
		r := refuse()
		_, err := db.Claim(ctx, actorOf(ana), tc.id, time.Minute, r.rule)
		wantRefusedUnchanged(t, "claim "+tc.id, err)
		if c := r.only(t); c.Process.ID != tc.id || !tc.check(c.Process) || !c.Now.Equal(clk.Now()) {
			t.Errorf("claim %s: the rule got %+v at %v, want the process as stored", tc.id, c.Process, c.Now)
		}
		wantUnchanged(t, db, "claim "+tc.id+" refused", before)
		r = refuse()
		if _, err := db.ClaimNext(ctx, actorOf(ana), time.Minute, store.QueueQuery{Search: tc.id}, r.rule); !errors.Is(err, store.ErrNotFound) || r.calls() != 0 {
			t.Errorf("claim next %s: got %v after %d rule calls, want ErrNotFound (not in the queue)", tc.id, err, r.calls())
		}
	}
	r := judge()
	if _, err := db.Claim(ctx, actorOf(ana), "r-unknown", time.Minute, r.rule); !errors.Is(err, store.ErrNotFound) || r.calls() != 0 {
		t.Errorf("claim of an unknown process: got %v after %d rule calls, want ErrNotFound, the rule not asked", err, r.calls())
	}
	if !errors.Is(store.ErrNotReviewable, store.ErrConflict) {
		t.Error("ErrNotReviewable does not wrap ErrConflict")
	}
	if rows := auditRows(t, db, "process.claim", ""); len(rows) != 0 {
		t.Errorf("refused claims audited as claims: %+v", rows)
	}
}

func TestClaimNextConcurrentAgentsGetDifferentProcesses(t *testing.T) {
	db, _ := openClockedDB(t)
	ctx := context.Background()
	const n = 20
	users := make([]*store.User, n)
	for i := range users {
		users[i] = newUser(t, db, fmt.Sprintf("agent%02d@example.com", i), store.RoleAgent)
		upsert(t, db, store.SourceWebhook, inReview(fmt.Sprintf("n-%02d", i), procBase.Add(-time.Duration(i+1)*time.Minute)))
	}
	var wg sync.WaitGroup
	got := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			p, err := db.ClaimNext(ctx, actorOf(users[i]), 5*time.Minute, store.QueueQuery{}, allow)
			if err == nil {
				got[i] = p.ID
				if p.ClaimedBy != users[i].ID {
					err = fmt.Errorf("returned process claimed by %d", p.ClaimedBy)
				}
			}
			errs[i] = err
		}()
	}
	close(start)
	wg.Wait()
	seen := map[string]int{}
	for i, err := range errs {
		if err != nil {
			t.Errorf("agent %d: %v", i, err)
			continue
		}
		if j, dup := seen[got[i]]; dup {
			t.Errorf("agents %d and %d both got %s", j, i, got[i])
		}
		seen[got[i]] = i
	}
	if len(seen) != n {
		t.Errorf("distinct processes: got %d, want %d", len(seen), n)
	}
	for id, i := range seen {
		if p := mustGet(t, db, id); p.ClaimedBy != users[i].ID {
			t.Errorf("%s: stored holder %d, want %d", id, p.ClaimedBy, users[i].ID)
		}
	}
	if _, err := db.ClaimNext(ctx, actorOf(users[0]), 5*time.Minute, store.QueueQuery{}, allow); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("empty queue: got %v, want ErrNotFound", err)
	}
	if rows := auditRows(t, db, "process.claim", ""); len(rows) != n {
		t.Errorf("claim audit rows: got %d, want %d", len(rows), n)
	}
	verifyAudit(t, db)
}

func TestClaimNextWithFilters(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	ana := newUser(t, db, "ana@example.com", store.RoleAgent)
	bob := newUser(t, db, "bob@example.com", store.RoleAgent)
	cleo := newUser(t, db, "cleo@example.com", store.RoleAgent)
	add := func(id, country string, age time.Duration, failed ...string) {
		s := inReview(id, procBase.Add(-age))
		s.Country, s.Failed = country, failed
		upsert(t, db, store.SourceWebhook, s)
	}
	add("x-1", "ESP", 3*time.Hour, "validationMRZ")
	add("x-2", "ESP", 2*time.Hour, "validationMRZ")
	add("x-3", "FRA", 4*time.Hour, "validationMRZ")
	add("x-4", "ESP", time.Hour, "validationLiveness")
	add("x-5", "ESP", 30*time.Minute, "validationLivenessX")
	clk.Set(procBase.Add(-time.Hour))
	if _, err := db.Claim(ctx, actorOf(bob), "x-2", 5*time.Minute, allow); err != nil { // expires long before now
		t.Fatal(err)
	}
	clk.Set(procBase)
	if _, err := db.Claim(ctx, actorOf(ana), "x-1", 5*time.Minute, allow); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		q    store.QueueQuery
		want string // "" for ErrNotFound
	}{
		{"failed liveness, whole name", store.QueueQuery{Failed: "validationLiveness"}, "x-4"},
		{"failed liveness again", store.QueueQuery{Failed: "validationLiveness"}, ""},
		{"ESP skips the live claim, takes the expired one; newest and cursor ignored", store.QueueQuery{Country: "ESP", Newest: true, AfterID: "zzz", AfterSince: procBase}, "x-2"},
		{"ESP next", store.QueueQuery{Country: "ESP"}, "x-5"},
		{"ESP exhausted", store.QueueQuery{Country: "ESP"}, ""},
		{"anything", store.QueueQuery{}, "x-3"},
		{"nothing left", store.QueueQuery{}, ""},
	}
	for _, st := range steps {
		p, err := db.ClaimNext(ctx, actorOf(cleo), 5*time.Minute, st.q, allow)
		switch {
		case st.want == "" && !errors.Is(err, store.ErrNotFound):
			t.Errorf("%s: got %v %v, want ErrNotFound", st.name, p, err)
		case st.want != "" && (err != nil || p.ID != st.want || p.ClaimedBy != cleo.ID):
			t.Errorf("%s: got %v %v, want %s claimed by cleo", st.name, p, err, st.want)
		}
	}
	if p := mustGet(t, db, "x-1"); p.ClaimedBy != ana.ID {
		t.Errorf("ana's live claim: got holder %d", p.ClaimedBy)
	}
	verifyAudit(t, db)
}

// servedRows counts the evidence_views rows of a process and viewer.
func servedRows(t *testing.T, db *store.DB, id string, u *store.User) int {
	t.Helper()
	var n int
	if err := db.SQL().QueryRowContext(context.Background(), "SELECT count(*) FROM evidence_views WHERE process_id = ? AND user_id = ?", id, u.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRecordServedInsideTheViewersOwnClaim (L4, D7): inside the viewer's own live claim
// each kind is recorded once per claim and audited once as evidence.view; the process
// data is recorded but never audited as an evidence view; a renewal is the same claim,
// a new claim records and audits again.
func TestRecordServedInsideTheViewersOwnClaim(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	ana := newUser(t, db, "ana@example.com", store.RoleAgent)
	upsert(t, db, store.SourceWebhook, inReview("e-1", procBase.Add(-time.Hour)))
	p, err := db.Claim(ctx, actorOf(ana), "e-1", 5*time.Minute, allow)
	if err != nil {
		t.Fatal(err)
	}
	first := p.ClaimedAt
	views := []struct {
		kind               store.EvidenceKind
		wantAudit, wantRow int
	}{
		{store.EvidenceDocumentFront, 1, 1},
		{store.EvidenceDocumentFront, 1, 1}, // reloaded: not again
		{store.EvidenceFaceNow, 2, 2},       // another kind
		{store.EvidenceZIP, 3, 3},
		{store.ProcessData, 3, 4}, // recorded, not an evidence view
		{store.ProcessData, 3, 4},
	}
	for i, v := range views {
		clk.Add(time.Second)
		if err := db.RecordServed(ctx, actorOf(ana), "e-1", v.kind); err != nil {
			t.Fatal(err)
		}
		if got := len(auditRows(t, db, "evidence.view", "e-1")); got != v.wantAudit {
			t.Errorf("view %d (%s): audit rows got %d, want %d", i, v.kind, got, v.wantAudit)
		}
		if got := servedRows(t, db, "e-1", ana); got != v.wantRow {
			t.Errorf("view %d (%s): served rows got %d, want %d", i, v.kind, got, v.wantRow)
		}
	}
	rows := auditRows(t, db, "evidence.view", "e-1")
	if last := rows[0]; last.ActorID != ana.ID || last.Detail != "zip" || last.IP != "192.0.2.1" || last.ObjectType != "process" || last.Outcome != store.OutcomeSuccess {
		t.Errorf("audit row: got %+v, want ana's view of the ZIP with her IP", last)
	}
	// Opening the page again renews the same claim: nothing is audited again.
	clk.Add(time.Second)
	if p, err := db.Claim(ctx, actorOf(ana), "e-1", 5*time.Minute, allow); err != nil || !p.ClaimedAt.Equal(first) {
		t.Fatalf("renewal: got %+v %v, want the same claim", p, err)
	}
	if err := db.RecordServed(ctx, actorOf(ana), "e-1", store.EvidenceDocumentFront); err != nil {
		t.Fatal(err)
	}
	if got := len(auditRows(t, db, "evidence.view", "e-1")); got != 3 {
		t.Errorf("after a renewal: audit rows got %d, want 3", got)
	}
	// A new claim: viewing again is recorded and audited again, once.
	if err := db.Release(ctx, actorOf(ana), "e-1", 0); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	p, err = db.Claim(ctx, actorOf(ana), "e-1", 5*time.Minute, allow)
	if err != nil {
		t.Fatal(err)
	}
	if p.ClaimedAt.Equal(first) {
		t.Fatal("new claim kept the old claim time")
	}
	for range 2 {
		if err := db.RecordServed(ctx, actorOf(ana), "e-1", store.EvidenceDocumentFront); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(auditRows(t, db, "evidence.view", "e-1")); got != 4 {
		t.Errorf("after a new claim: audit rows got %d, want 4", got)
	}
	if got := servedRows(t, db, "e-1", ana); got != 5 {
		t.Errorf("after a new claim: served rows got %d, want 5", got)
	}
	verifyAudit(t, db)
}

// TestRecordServedOutsideTheViewersOwnClaim (L4): evidence served outside the viewer's
// own live claim (another agent's claim, an expired claim, no claim) is audited every
// time, saying so, and never counts for the accept rule; the process data outside a
// claim is neither recorded nor audited.
func TestRecordServedOutsideTheViewersOwnClaim(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	ana := newUser(t, db, "ana@example.com", store.RoleAgent)
	bob := newUser(t, db, "bob@example.com", store.RoleAgent)
	upsert(t, db, store.SourceWebhook, inReview("o-1", procBase.Add(-time.Hour)))
	upsert(t, db, store.SourceWebhook, inReview("o-free", procBase.Add(-time.Hour)))
	if _, err := db.Claim(ctx, actorOf(ana), "o-1", 5*time.Minute, allow); err != nil {
		t.Fatal(err)
	}
	const outside = "; outside the viewer's own claim"
	steps := []struct {
		name      string
		who       *store.User
		id        string
		kind      store.EvidenceKind
		wantAudit int // evidence.view rows of id by who so far
	}{
		{"another agent's claim", bob, "o-1", store.EvidenceDocumentFront, 1},
		{"another agent's claim, again", bob, "o-1", store.EvidenceDocumentFront, 2},
		{"another agent's claim, the process data", bob, "o-1", store.ProcessData, 2},
		{"no claim", ana, "o-free", store.EvidenceVideo, 1},
		{"no claim, again", ana, "o-free", store.EvidenceVideo, 2},
		{"no claim, the process data", ana, "o-free", store.ProcessData, 2},
	}
	for _, st := range steps {
		clk.Add(time.Second)
		if err := db.RecordServed(ctx, actorOf(st.who), st.id, st.kind); err != nil {
			t.Fatal(err)
		}
		var mine []store.AuditEvent
		for _, r := range auditRows(t, db, "evidence.view", st.id) {
			if r.ActorID == st.who.ID {
				mine = append(mine, r)
			}
		}
		if len(mine) != st.wantAudit {
			t.Errorf("%s: audit rows got %d, want %d", st.name, len(mine), st.wantAudit)
			continue
		}
		if want := string(st.kind) + outside; st.kind != store.ProcessData && mine[0].Detail != want {
			t.Errorf("%s: detail got %q, want %q", st.name, mine[0].Detail, want)
		}
	}
	if n := servedRows(t, db, "o-1", bob) + servedRows(t, db, "o-free", ana); n != 0 {
		t.Errorf("served rows outside a claim: got %d, want 0", n)
	}
	if c, err := db.LoadCase(ctx, "o-1"); err != nil || len(c.Served) != 0 {
		t.Errorf("served in ana's claim: got %+v %v, want nothing (bob's views do not count)", c, err)
	}
	// Ana's claim expires: her own views are now outside a live claim.
	clk.Add(6 * time.Minute)
	for range 2 {
		if err := db.RecordServed(ctx, actorOf(ana), "o-1", store.EvidenceFaceNow); err != nil {
			t.Fatal(err)
		}
	}
	var anas int
	for _, r := range auditRows(t, db, "evidence.view", "o-1") {
		if r.ActorID == ana.ID && r.Detail == "face_now"+outside {
			anas++
		}
	}
	if anas != 2 || servedRows(t, db, "o-1", ana) != 0 {
		t.Errorf("after the claim expired: got %d audit rows, %d served rows; want 2, 0", anas, servedRows(t, db, "o-1", ana))
	}
	if n := len(auditRows(t, db, "evidence.view", "")); n != 6 {
		t.Errorf("evidence.view rows: got %d, want 6", n)
	}
	verifyAudit(t, db)
}

func TestEnqueueNotificationsFoldsDuplicates(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	if err := db.EnqueueNotifications(ctx, []store.Notification{
		{ProcessID: "a", Status: "PENDING"}, {ProcessID: "b", Status: "PENDING"}, {ProcessID: "a", Status: "VERIFIED"},
	}); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	if err := db.EnqueueNotifications(ctx, []store.Notification{{ProcessID: "a", Status: "NOT_VERIFIED"}}); err != nil {
		t.Fatal(err)
	}
	due, err := db.DueNotifications(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]store.Notification{}
	for _, n := range due {
		got[n.ProcessID] = n
	}
	cases := []struct {
		id            string
		status        string
		notifications int
		version       int64
		received      time.Time
	}{
		{"a", "NOT_VERIFIED", 3, 3, procBase.Add(time.Second)},
		{"b", "PENDING", 1, 1, procBase},
	}
	for _, c := range cases {
		n, ok := got[c.id]
		if !ok {
			t.Errorf("%s: not due", c.id)
			continue
		}
		if n.Status != c.status || n.Notifications != c.notifications || n.Version != c.version || !n.ReceivedAt.Equal(c.received) {
			t.Errorf("%s: got status=%s notifications=%d version=%d received=%v, want %s %d %d %v",
				c.id, n.Status, n.Notifications, n.Version, n.ReceivedAt, c.status, c.notifications, c.version, c.received)
		}
	}
	if n, _ := db.CountNotifications(ctx); n != 2 {
		t.Errorf("count: got %d, want 2", n)
	}
}

func TestIngestNotificationKeepsANewerNotification(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		finish func(db *store.DB, n store.Notification) error
		stored bool
	}{
		{"ingest", func(db *store.DB, n store.Notification) error {
			return db.IngestNotification(ctx, n, inReview("a", procBase.Add(-time.Hour)), procBase.Add(10*time.Minute))
		}, true},
		{"drop", func(db *store.DB, n store.Notification) error { return db.DropNotification(ctx, n) }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openClockedDB(t)
			if err := db.EnqueueNotifications(ctx, []store.Notification{{ProcessID: "a", Status: "PENDING"}}); err != nil {
				t.Fatal(err)
			}
			due, err := db.DueNotifications(ctx, 10)
			if err != nil || len(due) != 1 {
				t.Fatalf("due: got %v %v", due, err)
			}
			// Another notification arrives while the worker talks to the gateway.
			if err := db.EnqueueNotifications(ctx, []store.Notification{{ProcessID: "a", Status: "VERIFIED"}}); err != nil {
				t.Fatal(err)
			}
			if err := tc.finish(db, due[0]); err != nil {
				t.Fatal(err)
			}
			if _, err := db.GetProcess(ctx, "a"); (err == nil) != tc.stored {
				t.Errorf("process stored: got err=%v, want stored=%v", err, tc.stored)
			}
			left, _ := db.DueNotifications(ctx, 10)
			if len(left) != 1 || left[0].Version != 2 || left[0].Status != "VERIFIED" {
				t.Fatalf("the newer notification: got %+v, want version 2 VERIFIED kept", left)
			}
			// Finishing the newer one empties the inbox.
			if err := tc.finish(db, left[0]); err != nil {
				t.Fatal(err)
			}
			if n, _ := db.CountNotifications(ctx); n != 0 {
				t.Errorf("count after the newer one: got %d, want 0", n)
			}
		})
	}
}

func TestRetryNotificationSchedules(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	if err := db.EnqueueNotifications(ctx, []store.Notification{{ProcessID: "a"}, {ProcessID: "b"}}); err != nil {
		t.Fatal(err)
	}
	due, _ := db.DueNotifications(ctx, 10)
	var a store.Notification
	for _, n := range due {
		if n.ProcessID == "a" {
			a = n
		}
	}
	long := strings.Repeat("é", 600)
	if err := db.RetryNotification(ctx, a, long, procBase.Add(time.Minute)); err != nil {
		t.Fatalf("retry with a long error: %v", err)
	}
	steps := []struct {
		advance time.Duration
		want    []string
	}{
		{0, []string{"b"}},
		{59 * time.Second, []string{"b"}},
		{2 * time.Second, []string{"a", "b"}},
	}
	for _, st := range steps {
		clk.Add(st.advance)
		due, err := db.DueNotifications(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, n := range due {
			ids = append(ids, n.ProcessID)
			if n.ProcessID == "a" && (n.Attempts != 1 || n.LastError == "" || !strings.HasPrefix(long, n.LastError)) {
				t.Errorf("a: got attempts=%d error len %d, want 1 and a prefix of the error", n.Attempts, len(n.LastError))
			}
		}
		sort.Strings(ids)
		if !slices.Equal(ids, st.want) {
			t.Errorf("at %v: due got %v, want %v", clk.Now().Sub(procBase), ids, st.want)
		}
	}
	if n, _ := db.CountNotifications(ctx); n != 2 {
		t.Errorf("count: got %d, want 2 (a retry keeps the notification)", n)
	}
}

// TestReleaseOnlyTheClaimAPageMade: leaving a process page sends a release after the
// next page load of the same process has renewed the claim; that late release must not
// end the new claim, while the new page's own release does.
func TestReleaseOnlyTheClaimAPageMade(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	ana := newUser(t, db, "ana@example.com", store.RoleAgent)
	if _, err := db.UpsertProcess(ctx, store.SourceTracked, store.Snapshot{ID: "r-1", Status: "PENDING", Stage: "REVIEW", Reviewable: true}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	first, err := db.Claim(ctx, actorOf(ana), "r-1", time.Minute, allow)
	if err != nil {
		t.Fatal(err)
	}
	second, err := db.Claim(ctx, actorOf(ana), "r-1", time.Minute, allow)
	if err != nil {
		t.Fatal(err)
	}
	if second.ClaimSeq == first.ClaimSeq {
		t.Fatalf("claim sequence unchanged by a renewal: %d", second.ClaimSeq)
	}
	if err := db.Release(ctx, actorOf(ana), "r-1", first.ClaimSeq); err != nil {
		t.Fatal(err)
	}
	if p, _ := db.GetProcess(ctx, "r-1"); p.ClaimedBy != ana.ID {
		t.Fatalf("the first page's late release ended the second page's claim")
	}
	if err := db.Release(ctx, actorOf(ana), "r-1", second.ClaimSeq); err != nil {
		t.Fatal(err)
	}
	if p, _ := db.GetProcess(ctx, "r-1"); p.ClaimedBy != 0 {
		t.Fatalf("the current page's release did not end its claim (held by %d)", p.ClaimedBy)
	}
}

// countMine is the number of processes in review userID holds a live claim on.
func countMine(ctx context.Context, db *store.DB, userID int64) (int, error) {
	c, err := db.CountQueue(ctx, userID, time.Hour)
	return c.Mine, err
}
