package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// TestLoadCaseSeesWhatTheHolderWasServed: the Case a rule judges (and LoadCase, for
// display) carries what the current claim holder was served during the current claim:
// a renewal keeps it, a takeover starts a new claim with nothing served, and another
// agent's views never count.
func TestLoadCaseSeesWhatTheHolderWasServed(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	ana := newUser(t, db, "ana@example.com", store.RoleAgent)
	bob := newUser(t, db, "bob@example.com", store.RoleAgent)
	s := inReview("s-1", procBase.Add(-time.Hour))
	s.Evidence = []store.EvidenceKind{store.EvidenceDocumentFront, store.EvidenceFaceNow, store.EvidenceVideo}
	upsert(t, db, store.SourceWebhook, s)
	const ttl = 5 * time.Minute

	// No claim: nothing served.
	c, err := db.LoadCase(ctx, "s-1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Process.ID != "s-1" || c.Decision != nil || c.Served == nil || len(c.Served) != 0 || !c.Now.Equal(clk.Now()) {
		t.Fatalf("unclaimed: got %+v, want the process, no decision, an empty Served, now", c)
	}
	if !slices.Equal(c.Process.Evidence, s.Evidence) {
		t.Errorf("evidence: got %v, want %v", c.Process.Evidence, s.Evidence)
	}

	if _, err := db.Claim(ctx, actorOf(ana), "s-1", ttl, allow); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	for _, k := range []store.EvidenceKind{store.ProcessData, store.EvidenceDocumentFront} {
		if err := db.RecordServed(ctx, actorOf(ana), "s-1", k); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.RecordServed(ctx, actorOf(bob), "s-1", store.EvidenceFaceNow); err != nil { // outside bob's own claim
		t.Fatal(err)
	}
	wantServed := func(when string, want ...string) *store.Case {
		t.Helper()
		c, err := db.LoadCase(ctx, "s-1")
		if err != nil {
			t.Fatal(err)
		}
		if got := servedKinds(c); !slices.Equal(got, want) {
			t.Errorf("%s: LoadCase served got %v, want %v", when, got, want)
		}
		// A write's rule sees the same inside the write's transaction.
		r := refuse()
		if _, err := db.Heartbeat(ctx, "s-1", ttl, r.rule); !errors.Is(err, errRefused) {
			t.Fatalf("%s: heartbeat got %v, want the rule's refusal", when, err)
		}
		rc := r.only(t)
		if got := servedKinds(rc); !slices.Equal(got, want) {
			t.Errorf("%s: the rule's served got %v, want %v", when, got, want)
		}
		if !rc.Now.Equal(clk.Now()) || rc.Process.ClaimSeq != c.Process.ClaimSeq || rc.Process.ClaimedBy != c.Process.ClaimedBy {
			t.Errorf("%s: the rule got now %v seq %d holder %d, want %v %d %d", when, rc.Now, rc.Process.ClaimSeq, rc.Process.ClaimedBy,
				clk.Now(), c.Process.ClaimSeq, c.Process.ClaimedBy)
		}
		return c
	}
	wantServed("ana's claim", "data", "document_front")

	// Opening the page again renews the same claim: what she saw still counts.
	clk.Add(time.Minute)
	if _, err := db.Claim(ctx, actorOf(ana), "s-1", ttl, allow); err != nil {
		t.Fatal(err)
	}
	wantServed("ana's renewed claim", "data", "document_front")

	// Bob takes over: a new claim (a new claimed_at) with nothing served yet.
	clk.Add(time.Minute)
	p, err := db.Claim(ctx, actorOf(bob), "s-1", ttl, allow)
	if err != nil {
		t.Fatal(err)
	}
	if !p.ClaimedAt.Equal(clk.Now()) {
		t.Fatalf("takeover: claimed at %v, want now %v", p.ClaimedAt, clk.Now())
	}
	if c := wantServed("after bob's takeover"); c.Process.ClaimedBy != bob.ID {
		t.Errorf("after the takeover: holder %d, want bob", c.Process.ClaimedBy)
	}
	clk.Add(time.Second)
	if err := db.RecordServed(ctx, actorOf(bob), "s-1", store.EvidenceFaceNow); err != nil {
		t.Fatal(err)
	}
	wantServed("bob's claim", "face_now")

	// Ana takes it back: a new claim of hers, so what she was served in her first
	// claim no longer counts.
	clk.Add(time.Minute)
	if _, err := db.Claim(ctx, actorOf(ana), "s-1", ttl, allow); err != nil {
		t.Fatal(err)
	}
	wantServed("ana's second claim")

	// After the decision, the Case carries it as the live decision.
	d := mustDecide(t, db, ana, acceptOf("s-1"))
	c, err = db.LoadCase(ctx, "s-1")
	if err != nil || c.Decision == nil || c.Decision.ID != d.ID || c.Process.ClaimedBy != 0 || len(c.Served) != 0 {
		t.Errorf("after the decision: got %+v %v, want the live decision, no claim, nothing served", c, err)
	}
	if _, err := db.LoadCase(ctx, "s-unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown process: got %v, want ErrNotFound", err)
	}
}

// TestClaimSequenceNumbers: every claim (new, renewal, takeover, next case) and an
// overturn get a new claim_seq; heartbeats and releases keep it; Release with a seq
// ends only that claim.
func TestClaimSequenceNumbers(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	ana := newUser(t, db, "ana@example.com", store.RoleAgent)
	bob := newUser(t, db, "bob@example.com", store.RoleAgent)
	upsert(t, db, store.SourceWebhook, inReview("q-1", procBase.Add(-time.Hour)))
	const ttl = 5 * time.Minute
	if p := mustGet(t, db, "q-1"); p.ClaimSeq != 0 {
		t.Fatalf("new process: seq %d, want 0", p.ClaimSeq)
	}
	var d *store.Decision
	steps := []struct {
		name    string
		do      func() error
		wantSeq int64
		holder  *store.User
	}{
		{"next case", func() error { _, err := db.ClaimNext(ctx, actorOf(ana), ttl, store.QueueQuery{}, allow); return err }, 1, ana},
		{"renewal", func() error { _, err := db.Claim(ctx, actorOf(ana), "q-1", ttl, allow); return err }, 2, ana},
		{"heartbeat", func() error { _, err := db.Heartbeat(ctx, "q-1", ttl, allow); return err }, 2, ana},
		{"another agent's release", func() error { return db.Release(ctx, actorOf(bob), "q-1", 2) }, 2, ana},
		{"a stale page's release", func() error { return db.Release(ctx, actorOf(ana), "q-1", 1) }, 2, ana},
		{"takeover", func() error { _, err := db.Claim(ctx, actorOf(bob), "q-1", ttl, allow); return err }, 3, bob},
		{"release of that claim", func() error { return db.Release(ctx, actorOf(bob), "q-1", 3) }, 3, nil},
		{"claim", func() error { _, err := db.Claim(ctx, actorOf(bob), "q-1", ttl, allow); return err }, 4, bob},
		{"four-eyes decision", func() (err error) {
			nd := acceptOf("q-1")
			nd.SecondReview = true
			d, err = db.Decide(ctx, actorOf(bob), nd, allow)
			return err
		}, 4, nil},
		{"second reviewer's claim", func() error { _, err := db.Claim(ctx, actorOf(ana), "q-1", ttl, allow); return err }, 5, ana},
		{"overturn", func() error { return db.Overturn(ctx, actorOf(ana), d.ID, "no", ttl, allow) }, 6, ana},
	}
	for _, st := range steps {
		clk.Add(time.Second)
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		p := mustGet(t, db, "q-1")
		var want int64
		if st.holder != nil {
			want = st.holder.ID
		}
		if p.ClaimSeq != st.wantSeq || p.ClaimedBy != want {
			t.Errorf("%s: got seq %d holder %d, want seq %d holder %d", st.name, p.ClaimSeq, p.ClaimedBy, st.wantSeq, want)
		}
	}
	verifyAudit(t, db)
}

// TestClaimNextHandsTheRuleTheChosenProcess: next case picks the oldest unclaimed
// process and asks the rule about it; a refusal comes back unchanged, nothing written.
func TestClaimNextHandsTheRuleTheChosenProcess(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	ana := newUser(t, db, "ana@example.com", store.RoleAgent)
	upsert(t, db, store.SourceWebhook, inReview("n-old", procBase.Add(-2*time.Hour)))
	upsert(t, db, store.SourceWebhook, inReview("n-new", procBase.Add(-time.Hour)))
	clk.Add(time.Minute)
	before := dump(t, db)
	r := refuse()
	_, err := db.ClaimNext(ctx, actorOf(ana), time.Minute, store.QueueQuery{}, r.rule)
	wantRefusedUnchanged(t, "claim next", err)
	if c := r.only(t); c.Process.ID != "n-old" || c.Process.ClaimedBy != 0 || !c.Now.Equal(clk.Now()) {
		t.Errorf("case: got %s holder %d now %v, want the oldest, unclaimed, at %v", c.Process.ID, c.Process.ClaimedBy, c.Now, clk.Now())
	}
	wantUnchanged(t, db, "a refused next case", before)
	p, err := db.ClaimNext(ctx, actorOf(ana), time.Minute, store.QueueQuery{}, allow)
	if err != nil || p.ID != "n-old" || p.ClaimedBy != ana.ID || p.ClaimSeq != 1 {
		t.Fatalf("claim next: got %+v %v, want n-old claimed by ana", p, err)
	}
	if rows := auditRows(t, db, "process.claim", "n-old"); len(rows) != 1 || rows[0].ActorID != ana.ID {
		t.Errorf("claim audit: got %+v, want one by ana", rows)
	}
}

// TestProcessEvidenceRoundTrip: the evidence kinds the gateway lists are stored with the
// process, replaced by a full snapshot and kept by a partial one.
func TestProcessEvidenceRoundTrip(t *testing.T) {
	db, _ := openClockedDB(t)
	all := []store.EvidenceKind{store.EvidenceDocumentFront, store.EvidenceDocumentBack, store.EvidenceFaceDocument, store.EvidenceFaceNow, store.EvidenceVideo}
	s := inReview("ev-1", procBase.Add(-2*time.Hour))
	s.Evidence = all
	upsert(t, db, store.SourceWebhook, s)
	p := mustGet(t, db, "ev-1")
	if !slices.Equal(p.Evidence, all) {
		t.Errorf("stored: got %v, want %v", p.Evidence, all)
	}
	if got, want := p.Images(), all[:4]; !slices.Equal(got, want) {
		t.Errorf("images: got %v, want %v (not the video)", got, want)
	}

	// A status-only read keeps them.
	upsert(t, db, store.SourceWebhook, store.Snapshot{ID: "ev-1", Status: "PENDING", RawStatus: "PENDING", Stage: "REVIEW", Reviewable: true, Partial: true})
	if p := mustGet(t, db, "ev-1"); !slices.Equal(p.Evidence, all) {
		t.Errorf("after a partial read: got %v, want %v kept", p.Evidence, all)
	}
	// A full read replaces them.
	s = inReview("ev-1", procBase.Add(-time.Hour))
	s.Evidence = []store.EvidenceKind{store.EvidenceFaceNow, store.EvidenceVideo}
	upsert(t, db, store.SourceWebhook, s)
	if p := mustGet(t, db, "ev-1"); !slices.Equal(p.Evidence, s.Evidence) || !slices.Equal(p.Images(), []store.EvidenceKind{store.EvidenceFaceNow}) {
		t.Errorf("after a full read: got %v (images %v), want %v", p.Evidence, p.Images(), s.Evidence)
	}
	// A full read listing none clears them.
	s = inReview("ev-1", procBase)
	upsert(t, db, store.SourceWebhook, s)
	if p := mustGet(t, db, "ev-1"); len(p.Evidence) != 0 || len(p.Images()) != 0 {
		t.Errorf("after a full read with no evidence: got %v, want none", p.Evidence)
	}
	// The queue rows carry them too.
	s = inReview("ev-2", procBase)
	s.Evidence = []store.EvidenceKind{store.EvidenceDocumentBack}
	upsert(t, db, store.SourceTracked, s)
	ps, _, err := db.Queue(context.Background(), store.QueueQuery{Search: "ev-2"})
	if err != nil || len(ps) != 1 || !slices.Equal(ps[0].Evidence, s.Evidence) {
		t.Errorf("queue: got %v %v, want ev-2 with its evidence", ps, err)
	}
}

// TestAwaitingSecond: a process's AwaitingSecond is true exactly while its live
// decision is in state second_review.
func TestAwaitingSecond(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	a := newUser(t, db, "a@example.com", store.RoleAgent)
	b := newUser(t, db, "b@example.com", store.RoleAgent)
	for _, id := range []string{"w-plain", "w-confirm", "w-overturn"} {
		upsert(t, db, store.SourceWebhook, inReview(id, procBase.Add(-time.Hour)))
		if p := mustGet(t, db, id); p.AwaitingSecond {
			t.Errorf("%s undecided: awaiting second review", id)
		}
	}
	wantAwaiting := func(id string, want bool) {
		t.Helper()
		if p := mustGet(t, db, id); p.AwaitingSecond != want {
			t.Errorf("%s: awaiting second got %v, want %v", id, p.AwaitingSecond, want)
		}
		if c, err := db.LoadCase(ctx, id); err != nil || c.Process.AwaitingSecond != want {
			t.Errorf("%s: case awaiting second got %+v %v, want %v", id, c, err, want)
		}
	}
	mustDecide(t, db, a, acceptOf("w-plain"))
	wantAwaiting("w-plain", false)
	ds := map[string]*store.Decision{}
	for _, id := range []string{"w-confirm", "w-overturn"} {
		nd := acceptOf(id)
		nd.SecondReview = true
		ds[id] = mustDecide(t, db, a, nd)
		wantAwaiting(id, true)
	}
	clk.Add(time.Minute)
	if _, err := db.ConfirmSecond(ctx, actorOf(b), ds["w-confirm"].ID, allow); err != nil {
		t.Fatal(err)
	}
	wantAwaiting("w-confirm", false)
	if err := db.Overturn(ctx, actorOf(b), ds["w-overturn"].ID, "no", time.Minute, allow); err != nil {
		t.Fatal(err)
	}
	wantAwaiting("w-overturn", false)
	// Decided again with four eyes: awaiting again, the overturned row notwithstanding.
	nd := acceptOf("w-overturn")
	nd.SecondReview = true
	mustDecide(t, db, b, nd)
	wantAwaiting("w-overturn", true)
}

// TestUpsertKeepsTheSecondReviewersClaim: a gateway read of a process decided here
// (still pending at the gateway, or any other read out of review) leaves the claim of
// the agent giving its decision the second review in place.
func TestUpsertKeepsTheSecondReviewersClaim(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	a := newUser(t, db, "a@example.com", store.RoleAgent)
	b := newUser(t, db, "b@example.com", store.RoleAgent)
	upsert(t, db, store.SourceWebhook, inReview("k-1", procBase.Add(-time.Hour)))
	nd := acceptOf("k-1")
	nd.SecondReview = true
	mustDecide(t, db, a, nd)
	clk.Add(time.Minute)
	claimed, err := db.Claim(ctx, actorOf(b), "k-1", 5*time.Minute, allow)
	if err != nil {
		t.Fatal(err)
	}
	reads := []struct {
		name string
		s    store.Snapshot
	}{
		{"a newer read still in review", inReview("k-1", procBase)},
		{"a partial read", store.Snapshot{ID: "k-1", Status: "PENDING", RawStatus: "PENDING", Stage: "REVIEW", Reviewable: true, Partial: true}},
		{"a read out of review", inProgress("k-1", procBase.Add(time.Second))},
	}
	for _, rd := range reads {
		clk.Add(time.Second)
		upsert(t, db, store.SourceWebhook, rd.s)
		p := mustGet(t, db, "k-1")
		if p.ClaimedBy != b.ID || !p.ClaimedAt.Equal(claimed.ClaimedAt) || !p.ClaimExpiresAt.Equal(claimed.ClaimExpiresAt) || p.ClaimSeq != claimed.ClaimSeq {
			t.Errorf("%s: got holder %d at %v until %v seq %d, want b's claim kept", rd.name, p.ClaimedBy, p.ClaimedAt, p.ClaimExpiresAt, p.ClaimSeq)
		}
		if p.Reviewable || !p.Decided || !p.AwaitingSecond {
			t.Errorf("%s: got reviewable=%v decided=%v awaiting=%v, want decided, out of the queue, awaiting", rd.name, p.Reviewable, p.Decided, p.AwaitingSecond)
		}
	}
}
