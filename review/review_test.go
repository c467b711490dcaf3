package review_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/mobbscan"
	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// clock is a controllable store.DB.Now, safe for concurrent readers. It starts at the
// real time so that the gateway's dates (the sandbox runs on the real clock) compare
// sensibly with the index's.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// options tune a harness.
type options struct {
	timeout time.Duration  // the client's dial and header timeouts (default 5s)
	cfg     review.Config  // the workflow's settings
	sandbox sandbox.Config // the gateway's settings (Control and Seed are always set)
}

// harness is the review service on a real SQLite file, talking through the real client
// to the real sandbox behind an HTTP server, with the webhook inbox running.
type harness struct {
	t      *testing.T
	sb     *sandbox.Sandbox
	srv    *httptest.Server
	client *mobbscan.Client
	db     *store.DB
	clk    *clock
	svc    *review.Service
	inbox  *review.Inbox
	agent  *store.User
	actor  store.Actor
}

func newHarness(t *testing.T, o options) *harness {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "portal.db"))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	clk := &clock{t: time.Now().UTC()}
	db.Now = clk.Now

	sbCfg := o.sandbox
	sbCfg.Control, sbCfg.Seed = true, 1
	sb, err := sandbox.New(sbCfg)
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(func() { sb.Close() })
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	t.Cleanup(sb.ClearFaults) // runs first: nothing hangs while the server closes

	timeout := o.timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	client, err := mobbscan.New(mobbscan.Config{
		BaseURL: srv.URL, APIKey: sandbox.DefaultAPIKey, APISecret: sandbox.DefaultAPISecret,
		DialTimeout: timeout, HeaderTimeout: timeout, CallTimeout: 3 * timeout, StallTimeout: timeout,
	})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	svc := review.New(db, client, slog.New(slog.DiscardHandler), o.cfg)
	inbox := review.NewInbox(db)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { inbox.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	agent := &store.User{Email: "agent@example.com", DisplayName: "Agent Smith", Role: store.RoleAgent, Active: true, PasswordHash: "x"}
	if err := db.CreateUser(ctx, store.System, agent); err != nil {
		t.Fatalf("create agent: %v", err)
	}
	return &harness{t: t, sb: sb, srv: srv, client: client, db: db, clk: clk, svc: svc, inbox: inbox, agent: agent,
		actor: store.Actor{UserID: agent.ID, Role: agent.Role, Email: agent.Email, IP: "192.0.2.7", RequestID: "req-test"}}
}

// allow is a rule that allows everything, for writes made behind the service's back.
func allow(*store.Case) error { return nil }

// wantCode reports an error unless err is a *review.Error with code, and returns it
// (nil when it is not one).
func wantCode(t testing.TB, err error, code review.Code) *review.Error {
	t.Helper()
	e := review.ErrorOf(err)
	if e == nil || e.Code != code {
		t.Errorf("got %v (%T), want a *review.Error with code %q", err, err, code)
		return nil
	}
	return e
}

// wantField is wantCode that also checks the form field the error is about.
func wantField(t testing.TB, err error, code review.Code, field string) *review.Error {
	t.Helper()
	e := wantCode(t, err, code)
	if e != nil && e.Field != field {
		t.Errorf("%v: field got %q, want %q", err, e.Field, field)
	}
	return e
}

// seed creates processes at the gateway without notifying anyone.
func (h *harness) seed(n int, states ...string) []string {
	h.t.Helper()
	ids, err := h.sb.Seed(sandbox.SeedSpec{Count: n, States: states, Silent: true})
	if err != nil {
		h.t.Fatalf("seed: %v", err)
	}
	return ids
}

func (h *harness) seedFailed(n int, failed ...string) []string {
	h.t.Helper()
	ids, err := h.sb.Seed(sandbox.SeedSpec{Count: n, States: []string{"REVIEW"}, Failed: failed, Silent: true})
	if err != nil {
		h.t.Fatalf("seed: %v", err)
	}
	return ids
}

func notificationBody(id, status string) []byte {
	b, _ := json.Marshal(map[string]string{"verificationId": id, "status": status})
	return b
}

// receive hands a notification to the inbox as the webhook handler would.
func (h *harness) receive(id, status string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.inbox.Receive(ctx, notificationBody(id, status)); err != nil {
		h.t.Fatalf("receive %s: %v", id, err)
	}
}

func (h *harness) ingest() int {
	h.t.Helper()
	n, err := h.svc.IngestOnce(context.Background())
	if err != nil {
		h.t.Fatalf("ingest: %v", err)
	}
	return n
}

func (h *harness) reconcile() int {
	h.t.Helper()
	n, err := h.svc.ReconcileOnce(context.Background())
	if err != nil {
		h.t.Fatalf("reconcile: %v", err)
	}
	return n
}

func (h *harness) get(id string) *store.Process {
	h.t.Helper()
	p, err := h.db.GetProcess(context.Background(), id)
	if err != nil {
		h.t.Fatalf("get %s: %v", id, err)
	}
	return p
}

func (h *harness) notFound(id string) {
	h.t.Helper()
	if p, err := h.db.GetProcess(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("%s: got %+v %v, want nothing stored", id, p, err)
	}
}

func (h *harness) waiting() int {
	h.t.Helper()
	n, err := h.db.CountNotifications(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// gateway reads a process straight from the gateway, for expected values.
func (h *harness) gateway(id string) *mobbscan.Process {
	h.t.Helper()
	p, err := h.client.Process(context.Background(), id)
	if err != nil {
		h.t.Fatalf("gateway process %s: %v", id, err)
	}
	return p
}

// eventually retries a step that talks to the recovered gateway a few times, moving
// the clock past any backoff in between: on a loaded machine one call may still time
// out, and the workers would simply try again.
func (h *harness) eventually(what string, step func() bool) {
	h.t.Helper()
	for range 5 {
		if step() {
			return
		}
		h.clk.Add(2 * time.Hour)
	}
	h.t.Fatalf("%s: never happened", what)
}

func (h *harness) requests(route string) int { return h.sb.Stats().Requests[route] }

func (h *harness) fault(route string, f sandbox.Fault) {
	h.t.Helper()
	if err := h.sb.SetFault(route, f); err != nil {
		h.t.Fatalf("set fault: %v", err)
	}
}

func (h *harness) audits(action, id string) []store.AuditEvent {
	h.t.Helper()
	rows, err := h.db.ListAudit(context.Background(), store.AuditFilter{Action: action, ObjectID: id})
	if err != nil {
		h.t.Fatal(err)
	}
	return rows
}

func (h *harness) verifyAudit() {
	h.t.Helper()
	if _, err := h.db.VerifyAudit(context.Background()); err != nil {
		h.t.Fatalf("verify audit: %v", err)
	}
}

func holderOf(p *mobbscan.Process) string {
	return strings.TrimSpace(p.PersonalData.Name + " " + p.PersonalData.Surname)
}

// checkIndexed compares the index's row with what the gateway says now.
func (h *harness) checkIndexed(id, source string) *store.Process {
	h.t.Helper()
	p, g := h.get(id), h.gateway(id)
	for _, c := range []struct{ name, got, want string }{
		{"source", p.Source, source},
		{"status", p.Status, string(g.Status)},
		{"stage", p.Stage, g.Stage},
		{"holder", p.HolderName, holderOf(g)},
		{"country", p.Country, g.CountryID},
		{"doc type", p.DocType, g.DocType},
		{"customer ref", p.CustomerRef, g.ExtraData["customerRef"]},
		{"failed", strings.Join(p.Failed, ","), strings.Join(g.ValidationResult.Failed, ",")},
	} {
		if c.got != c.want {
			h.t.Errorf("%s %s: got %q, want %q", id, c.name, c.got, c.want)
		}
	}
	if p.Reviewable != g.Reviewable() || p.Final != g.Status.Final() {
		h.t.Errorf("%s: got reviewable=%v final=%v, want %v %v", id, p.Reviewable, p.Final, g.Reviewable(), g.Status.Final())
	}
	for i, got := range []*float64{p.ScoreFacial, p.ScoreLiveness, p.ScoreDocument} {
		want, ok := g.Scores[string(store.ScoreNames[i])]
		if ok != (got != nil) || (ok && *got != want) {
			h.t.Errorf("%s score %s: got %v, want %v (present %v)", id, store.ScoreNames[i], got, want, ok)
		}
	}
	if !p.UpdatedAt.Equal(g.LastUpdateDate) {
		h.t.Errorf("%s updated: got %v, want %v", id, p.UpdatedAt, g.LastUpdateDate)
	}
	return p
}

func TestTrack(t *testing.T) {
	h := newHarness(t, options{})
	ctx := context.Background()
	ids := h.seedFailed(1, sandbox.ValidationMRZ)
	id := ids[0]

	t.Run("malformed ids are never sent", func(t *testing.T) {
		before := h.requests(sandbox.RouteProcess)
		for _, bad := range []string{"", "   ", "has space", "../../etc/passwd", "a/b", "id?x=1", "ünïcode", strings.Repeat("a", 129)} {
			_, err := h.svc.Track(ctx, h.actor, bad)
			wantField(t, err, review.CodeInvalid, "id")
		}
		if got := h.requests(sandbox.RouteProcess); got != before {
			t.Errorf("gateway process requests: got %d, want %d", got, before)
		}
	})
	t.Run("unknown id", func(t *testing.T) {
		const unknown = "00000000-0000-4000-8000-000000000000"
		_, err := h.svc.Track(ctx, h.actor, unknown)
		wantField(t, err, review.CodeInvalid, "id")
		h.notFound(unknown)
		if rows := h.audits("process.track", unknown); len(rows) != 0 {
			t.Errorf("audit: got %d rows, want none", len(rows))
		}
	})
	t.Run("gateway down", func(t *testing.T) {
		down := h.seed(1)[0]
		h.fault(sandbox.RouteProcess, sandbox.Fault{Kind: sandbox.FaultUnavailable, Count: 3}) // one try and two retries (O4)
		_, err := h.svc.Track(ctx, h.actor, down)
		wantField(t, err, review.CodeUnavailable, "id")
		h.notFound(down)
	})
	t.Run("known id", func(t *testing.T) {
		p, err := h.svc.Track(ctx, h.actor, "  "+id+" ")
		if err != nil {
			t.Fatal(err)
		}
		if p.ID != id || !p.Reviewable || p.HolderName == "" {
			t.Errorf("returned: got %+v", p)
		}
		h.checkIndexed(id, store.SourceTracked)
		rows := h.audits("process.track", id)
		if len(rows) != 1 || rows[0].ActorID != h.agent.ID || rows[0].IP != h.actor.IP {
			t.Errorf("audit: got %+v, want one row by the agent", rows)
		}
		// Tracking it again answers from the index.
		before := h.requests(sandbox.RouteProcess)
		if _, err := h.svc.Track(ctx, h.actor, id); err != nil {
			t.Fatal(err)
		}
		if got := h.requests(sandbox.RouteProcess); got != before {
			t.Errorf("tracking an indexed process called the gateway %d times", got-before)
		}
	})
	h.verifyAudit()
}

func TestCreateOnboarding(t *testing.T) {
	h := newHarness(t, options{cfg: review.Config{RedirectURL: "https://bank.example/done"}})
	ctx := context.Background()
	p, err := h.svc.CreateOnboarding(ctx, h.actor, review.NewOnboarding{Country: " esp ", DocType: "Passport", CustomerRef: " C-77 "})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"source", p.Source, store.SourceCreated},
		{"status", p.Status, "PENDING"},
		{"stage", p.Stage, sandbox.StageCreated},
		{"country", p.Country, "ESP"},
		{"doc type", p.DocType, "Passport"},
		{"customer ref", p.CustomerRef, "C-77"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if !strings.HasPrefix(p.OnboardingURL, h.srv.URL+"/onboarding/") {
		t.Errorf("onboarding url: got %q, want one under %s/onboarding/", p.OnboardingURL, h.srv.URL)
	}
	if p.Reviewable || p.Final {
		t.Errorf("new process: got reviewable=%v final=%v, want neither", p.Reviewable, p.Final)
	}
	g, ok := h.sb.Get(p.ID)
	if !ok || g.CountryID != "ESP" || g.DocType != "Passport" || g.ExtraData["customerRef"] != "C-77" || g.State != sandbox.StatusCreated {
		t.Errorf("at the gateway: got %+v ok=%v", g, ok)
	}
	if rows := h.audits("process.create", p.ID); len(rows) != 1 || rows[0].ActorID != h.agent.ID {
		t.Errorf("audit: got %+v, want one row by the agent", rows)
	}

	// Refusals store nothing.
	before := len(h.sb.List())
	_, err = h.svc.CreateOnboarding(ctx, h.actor, review.NewOnboarding{DocType: "Passport"})
	wantCode(t, err, review.CodeInvalid)
	h.fault(sandbox.RouteCreate, sandbox.Fault{Kind: sandbox.FaultServerError, Count: 1})
	_, err = h.svc.CreateOnboarding(ctx, h.actor, review.NewOnboarding{Country: "ESP", DocType: "IDCard"})
	wantCode(t, err, review.CodeUnavailable)
	if got := len(h.sb.List()); got != before {
		t.Errorf("gateway processes: got %d, want %d", got, before)
	}
	ps, _, _ := h.db.Queue(ctx, store.QueueQuery{})
	if c, _ := h.db.CountQueue(ctx, 0, time.Hour); c.InReview != 0 || len(ps) != 0 {
		t.Errorf("queue: got %d in review, want 0 (a new process is not reviewable)", c.InReview)
	}
	h.verifyAudit()
}

func TestInfoCachesWithinTTL(t *testing.T) {
	h := newHarness(t, options{cfg: review.Config{InfoCacheTTL: 30 * time.Second}})
	ctx := context.Background()
	id := h.seedFailed(1, sandbox.ValidationFacialMatching)[0]
	if _, err := h.svc.Track(ctx, h.actor, id); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name      string
		fresh     bool
		advance   time.Duration
		wantCalls int
	}{
		{"just tracked: cached", false, 0, 0},
		{"within the TTL", false, 29 * time.Second, 0},
		{"fresh refetches", true, 0, 1},
		{"cached again", false, 10 * time.Second, 0},
		{"after the TTL", false, 31 * time.Second, 1},
	}
	for _, st := range steps {
		h.clk.Add(st.advance)
		before := h.requests(sandbox.RouteProcess)
		d, err := h.svc.Info(ctx, h.actor, id, st.fresh)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := h.requests(sandbox.RouteProcess) - before; got != st.wantCalls {
			t.Errorf("%s: gateway calls got %d, want %d", st.name, got, st.wantCalls)
		}
		if len(d.Personal) == 0 || len(d.Validations) != len(sandbox.Validations) || len(d.Evidence) == 0 || len(d.Scores) == 0 {
			t.Errorf("%s: details got %d personal, %d validations, %d evidence, %d scores", st.name, len(d.Personal), len(d.Validations), len(d.Evidence), len(d.Scores))
		}
	}
	// Forget drops the cached copy.
	h.svc.Forget(id)
	before := h.requests(sandbox.RouteProcess)
	if _, err := h.svc.Info(ctx, h.actor, id, false); err != nil {
		t.Fatal(err)
	}
	if got := h.requests(sandbox.RouteProcess) - before; got != 1 {
		t.Errorf("after Forget: gateway calls got %d, want 1", got)
	}
	// Info refreshes the index too: a decision made elsewhere shows.
	if _, err := h.client.Accept(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	d, err := h.svc.Info(ctx, h.actor, id, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Decision) == 0 || d.Decision[0][1] != "Accepted" {
		t.Errorf("decision: got %v, want Accepted", d.Decision)
	}
	if p := h.get(id); p.Status != "VERIFIED" || p.Reviewable {
		t.Errorf("index after fresh info: got %s reviewable=%v, want VERIFIED false", p.Status, p.Reviewable)
	}
	// A process deleted at the gateway is unknown and marked gone.
	if err := h.client.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.Info(ctx, h.actor, id, true)
	wantCode(t, err, review.CodeNotFound)
	if p := h.get(id); !p.Gone {
		t.Error("deleted: not marked gone")
	}
}

func TestCounts(t *testing.T) {
	h := newHarness(t, options{})
	ctx := context.Background()
	other := &store.User{Email: "other@example.com", DisplayName: "Other", Role: store.RoleAgent, Active: true, PasswordHash: "x"}
	if err := h.db.CreateUser(ctx, store.System, other); err != nil {
		t.Fatal(err)
	}
	ids := h.seed(3)
	for _, id := range ids {
		h.receive(id, "PENDING")
	}
	if n := h.ingest(); n != 3 {
		t.Fatalf("ingested %d, want 3", n)
	}
	check := func(name string, want store.QueueCounts) {
		t.Helper()
		got, err := h.svc.Counts(ctx, h.agent.ID)
		got.OverTarget = 0 // the seeded processes entered review up to hours ago; checked below
		if err != nil || got != want {
			t.Errorf("%s: got %+v %v, want %+v", name, got, err, want)
		}
	}
	check("fresh", store.QueueCounts{InReview: 3, Unclaimed: 3, Mine: 0})
	if _, err := h.svc.Claim(ctx, h.actor, ids[0], false); err != nil {
		t.Fatal(err)
	}
	check("after own claim", store.QueueCounts{InReview: 3, Unclaimed: 2, Mine: 1})
	// A claim made behind the service's back shows at once: the counters live in the
	// store, nothing is cached.
	if _, err := h.db.Claim(ctx, store.Actor{UserID: other.ID}, ids[1], time.Minute, allow); err != nil {
		t.Fatal(err)
	}
	check("another agent's claim", store.QueueCounts{InReview: 3, Unclaimed: 1, Mine: 1})
	// Older than the amber target (4 h by default): the seeded processes entered
	// review less than 10 h ago, so 15 h later all are over it.
	h.clk.Add(15 * time.Hour)
	got, err := h.svc.Counts(ctx, h.agent.ID)
	if err != nil || got.OverTarget != 3 || got.Mine != 0 || got.Unclaimed != 3 {
		t.Errorf("15 hours later: got %+v %v, want 3 over target and every claim expired", got, err)
	}
}

func TestServiceClaims(t *testing.T) {
	h := newHarness(t, options{cfg: review.Config{ClaimTTL: 2 * time.Minute}})
	ctx := context.Background()
	other := h.newAgent("other")
	ids := h.seed(2)
	for _, id := range ids {
		if _, err := h.svc.Track(ctx, h.actor, id); err != nil {
			t.Fatal(err)
		}
	}
	p, err := h.svc.NextCase(ctx, h.actor, store.QueueQuery{})
	if err != nil {
		t.Fatal(err)
	}
	id, seq := p.ID, p.ClaimSeq
	if want := h.clk.Now().Add(2 * time.Minute); !p.ClaimExpiresAt.Equal(want) || p.ClaimedBy != h.agent.ID || seq == 0 {
		t.Errorf("claim: got by %d until %v seq %d, want by %d until now+ClaimTTL %v", p.ClaimedBy, p.ClaimExpiresAt, seq, h.agent.ID, want)
	}
	h.clk.Add(time.Minute)
	if p, err = h.svc.Heartbeat(ctx, h.actor, id, seq); err != nil || !p.ClaimExpiresAt.Equal(h.clk.Now().Add(2*time.Minute)) {
		t.Errorf("heartbeat: got %v %v", p, err)
	}
	if got := h.get(id); got.ClaimSeq != seq {
		t.Errorf("heartbeat: seq got %d, want %d (a renewal by the same page keeps it)", got.ClaimSeq, seq)
	}

	t.Run("another agent is refused without taking over", func(t *testing.T) {
		_, err := h.svc.Claim(ctx, other, id, false)
		if e := wantCode(t, err, review.CodeConflict); e != nil && !strings.Contains(e.Message, h.agent.DisplayName) {
			t.Errorf("message %q does not name the holder", e.Message)
		}
		if got := h.get(id); got.ClaimedBy != h.agent.ID || got.ClaimSeq != seq {
			t.Errorf("after the refusal: claimed by %d seq %d, want %d %d", got.ClaimedBy, got.ClaimSeq, h.agent.ID, seq)
		}
		_, err = h.svc.Heartbeat(ctx, other, id, seq)
		wantCode(t, err, review.CodeConflict)
	})
	var again *store.Process
	t.Run("claiming again elsewhere makes the first page's claim stale", func(t *testing.T) {
		var err error
		if again, err = h.svc.Claim(ctx, h.actor, id, false); err != nil {
			t.Fatal(err)
		}
		if again.ClaimSeq == seq || !again.ClaimedAt.Equal(p.ClaimedAt) {
			t.Errorf("renewed: seq %d claimed at %v, want a new number, the same claim (%v)", again.ClaimSeq, again.ClaimedAt, p.ClaimedAt)
		}
		_, err = h.svc.Heartbeat(ctx, h.actor, id, seq)
		wantCode(t, err, review.CodeConflict)
		// The first page leaving releases nothing.
		if err := h.svc.Release(ctx, h.actor, id, seq); err != nil {
			t.Fatal(err)
		}
		if got := h.get(id); got.ClaimedBy != h.agent.ID || got.ClaimSeq != again.ClaimSeq {
			t.Errorf("after releasing the stale page: claimed by %d seq %d, want %d %d", got.ClaimedBy, got.ClaimSeq, h.agent.ID, again.ClaimSeq)
		}
		if rows := h.audits("process.claim", id); len(rows) != 1 {
			t.Errorf("claim audit: got %d rows, want 1 (a renewal is not a new claim)", len(rows))
		}
	})
	t.Run("a takeover is audited and ends the agent's pages", func(t *testing.T) {
		took, err := h.svc.Claim(ctx, other, id, true)
		if err != nil {
			t.Fatal(err)
		}
		if took.ClaimedBy != other.UserID || took.ClaimSeq == again.ClaimSeq {
			t.Errorf("takeover: claimed by %d seq %d, want %d and a new number", took.ClaimedBy, took.ClaimSeq, other.UserID)
		}
		if rows := h.audits("process.takeover", id); len(rows) != 1 || rows[0].ActorID != other.UserID {
			t.Errorf("takeover audit: got %+v, want one row by the other agent", rows)
		}
		_, err = h.svc.Heartbeat(ctx, h.actor, id, again.ClaimSeq)
		wantCode(t, err, review.CodeConflict)
		// Releasing a claim one does not hold does nothing.
		if err := h.svc.Release(ctx, h.actor, id, 0); err != nil {
			t.Fatal(err)
		}
		if got := h.get(id); got.ClaimedBy != other.UserID {
			t.Errorf("after a release by the agent: claimed by %d, want %d", got.ClaimedBy, other.UserID)
		}
		if err := h.svc.Release(ctx, other, id, took.ClaimSeq); err != nil {
			t.Fatal(err)
		}
		if got := h.get(id); got.ClaimedBy != 0 {
			t.Errorf("after release: claimed by %d", got.ClaimedBy)
		}
		if rows := h.audits("process.release", id); len(rows) != 1 || rows[0].ActorID != other.UserID {
			t.Errorf("release audit: got %+v, want one row by the other agent", rows)
		}
	})
	t.Run("a lapsed claim nobody took still heartbeats", func(t *testing.T) {
		p, err := h.svc.Claim(ctx, h.actor, ids[1], false)
		if err != nil {
			t.Fatal(err)
		}
		h.clk.Add(3 * time.Minute)
		got, err := h.svc.Heartbeat(ctx, h.actor, ids[1], p.ClaimSeq)
		if err != nil || !got.ClaimExpiresAt.Equal(h.clk.Now().Add(2*time.Minute)) || got.ClaimSeq != p.ClaimSeq {
			t.Errorf("heartbeat of a lapsed claim: got %+v %v, want renewed under the same number", got, err)
		}
	})
	_, err = h.svc.Claim(ctx, h.actor, "not-indexed", false)
	wantCode(t, err, review.CodeNotFound)
	_, err = h.svc.Heartbeat(ctx, h.actor, "not-indexed", 1)
	wantCode(t, err, review.CodeNotFound)
	h.verifyAudit()
}

func TestSnapshotOfKeepsOnlyWhatTheQueueNeeds(t *testing.T) {
	long := strings.Repeat("é", 200)
	p := &mobbscan.Process{
		VerificationID: "v-1",
		State:          mobbscan.State{Status: mobbscan.StatusPending, RawStatus: "PENDING", Stage: "REVIEW"},
		CountryID:      "esp",
		DocType:        "IDCard",
		ExtraData:      map[string]string{"customerId": " C-9 "},
		PersonalData:   mobbscan.PersonalData{Name: " Ana ", Surname: long, DocumentNumber: "12345678Z"},
		Validations:    map[string]string{"validationMRZ": "NOT_VALID", "validationLiveness": "VALID", "bad name!": "NOT_VALID"},
		Scores:         map[string]float64{"facialMatching": 0.5},
	}
	s := review.SnapshotOf(p)
	if s.Partial || !s.Reviewable || s.Final || s.Country != "ESP" || s.CustomerRef != "C-9" {
		t.Errorf("snapshot: got %+v", s)
	}
	if len(s.HolderName) > 300 || !strings.HasPrefix(s.HolderName, "Ana é") || !utf8Valid(s.HolderName) {
		t.Errorf("holder: got %d bytes %q…, want ≤300 bytes of valid UTF-8", len(s.HolderName), s.HolderName[:10])
	}
	if !slices.Equal(s.Failed, []string{"validationMRZ"}) {
		t.Errorf("failed: got %v, want [validationMRZ] (names checked)", s.Failed)
	}
	if s.Scores[0] == nil || *s.Scores[0] != 0.5 || s.Scores[1] != nil {
		t.Errorf("scores: got %v", s.Scores)
	}
	for _, bad := range []string{"SHIPPED", ""} {
		p.State = mobbscan.State{Status: mobbscan.ParseStatus(bad), RawStatus: bad}
		if s := review.SnapshotOf(p); s.Status != "UNKNOWN" || s.Reviewable {
			t.Errorf("status %q: got %s reviewable=%v, want UNKNOWN false", bad, s.Status, s.Reviewable)
		}
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// TestSnapshotOfFitsTheIndex: whatever the gateway sends (every field but the ids is
// the gateway's business), the snapshot must be one the index accepts, or ingestion of
// that process fails for ever.
func TestSnapshotOfFitsTheIndex(t *testing.T) {
	h := newHarness(t, options{})
	var failed []string
	for i := range 60 {
		failed = append(failed, fmt.Sprintf("validation%054d", i)) // 64 characters each
	}
	p := &mobbscan.Process{
		VerificationID:   "v-many-failures",
		State:            mobbscan.State{Status: mobbscan.StatusPending, RawStatus: "PENDING", Stage: "REVIEW"},
		CountryID:        strings.Repeat("X", 20),
		DocType:          strings.Repeat("D", 100),
		ExtraData:        map[string]string{"customerRef": strings.Repeat("ř", 300)},
		PersonalData:     mobbscan.PersonalData{Name: strings.Repeat("N", 400)},
		ValidationResult: mobbscan.ValidationSummary{Failed: failed},
	}
	s := review.SnapshotOf(p)
	if _, err := h.db.UpsertProcess(context.Background(), store.SourceWebhook, s, h.clk.Now().Add(time.Minute)); err != nil {
		t.Fatalf("the index refuses the snapshot: %v", err)
	}
	got := h.get(p.VerificationID)
	if len(got.Failed) == 0 || got.Failed[0] != failed[0] {
		t.Errorf("failed: got %d names starting %v, want the first ones kept", len(got.Failed), got.Failed[:min(1, len(got.Failed))])
	}
}
