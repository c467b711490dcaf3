package review_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/mobbscan"
	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/store/pgtest"
)

// Several portal instances on one database (issue 13): review services on handles of
// the same database, each its own instance with its own gateway client, on SQLite (two
// handles on one file) and on PostgreSQL.

// onBothEngines runs f on a fresh SQLite file and on a fresh PostgreSQL database.
func onBothEngines(t *testing.T, f func(t *testing.T, target string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, filepath.Join(t.TempDir(), "portal.db")) })
	t.Run("postgres", func(t *testing.T) { f(t, pgtest.Database(t)) })
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type node struct {
	db    *store.DB
	svc   *review.Service
	inbox *review.Inbox
	log   *syncBuffer
}

// cluster is a sandbox gateway and instances of the portal on one database and one clock.
type cluster struct {
	t     *testing.T
	sb    *sandbox.Sandbox
	clk   *clock
	nodes []*node
	actor store.Actor
}

// newCluster starts n instances on target; gateway, when set, stands between them and
// the sandbox.
func newCluster(t *testing.T, target string, n int, gateway func(sb http.Handler) http.Handler) *cluster {
	t.Helper()
	ctx := context.Background()
	sb, err := sandbox.New(sandbox.Config{Control: true, Seed: 1})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(func() { sb.Close() })
	var h http.Handler = sb
	if gateway != nil {
		h = gateway(sb)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(sb.ClearFaults)
	c := &cluster{t: t, sb: sb, clk: &clock{t: time.Now().UTC()}}
	for i := range n {
		db, err := store.Open(ctx, target)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		db.Now = c.clk.Now
		db.SetInstance(fmt.Sprintf("host-%d:8080", i))
		client, err := mobbscan.New(mobbscan.Config{
			BaseURL: srv.URL, APIKey: sandbox.DefaultAPIKey, APISecret: sandbox.DefaultAPISecret,
			DialTimeout: 10 * time.Second, HeaderTimeout: 10 * time.Second, CallTimeout: 30 * time.Second, StallTimeout: 10 * time.Second,
		})
		if err != nil {
			t.Fatalf("client: %v", err)
		}
		log := &syncBuffer{}
		nd := &node{db: db, log: log, svc: review.New(db, client, slog.New(slog.NewTextHandler(log, nil)), review.Config{}), inbox: review.NewInbox(db)}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { nd.inbox.Run(runCtx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		c.nodes = append(c.nodes, nd)
	}
	agent := &store.User{Email: "agent@example.com", DisplayName: "Agent Smith", Role: store.RoleAgent, Active: true, PasswordHash: "x"}
	if err := c.nodes[0].db.CreateUser(ctx, store.System, agent); err != nil {
		t.Fatalf("create agent: %v", err)
	}
	c.actor = store.Actor{UserID: agent.ID, Role: agent.Role, Email: agent.Email, IP: "192.0.2.7", RequestID: "req-test"}
	c.beat(c.nodes...)
	return c
}

// beat is the heartbeat of main's instance worker, for the given nodes.
func (c *cluster) beat(nodes ...*node) {
	c.t.Helper()
	for _, nd := range nodes {
		if err := nd.db.TouchInstance(context.Background(), store.InstanceTTL); err != nil {
			c.t.Fatalf("heartbeat of %s: %v", nd.db.Instance(), err)
		}
	}
}

// decided seeds n processes in review at the gateway, indexes them and records an
// accept decision on each (behind the service's back: the claim rules are not tested here).
func (c *cluster) decided(n int) []*store.Decision {
	c.t.Helper()
	ctx := context.Background()
	ids, err := c.sb.Seed(sandbox.SeedSpec{Count: n, States: []string{"REVIEW"}, Outcome: "clean", Silent: true})
	if err != nil {
		c.t.Fatalf("seed: %v", err)
	}
	var out []*store.Decision
	for i, id := range ids {
		nd := c.nodes[i%len(c.nodes)]
		if _, err := nd.svc.Track(ctx, c.actor, id); err != nil {
			c.t.Fatalf("track %s: %v", id, err)
		}
		d, err := nd.db.Decide(ctx, c.actor, store.NewDecision{ProcessID: id, Verdict: store.VerdictAccept}, allow)
		if err != nil {
			c.t.Fatalf("decide %s: %v", id, err)
		}
		out = append(out, d)
	}
	return out
}

func (c *cluster) decision(id int64) *store.Decision {
	c.t.Helper()
	d, err := c.nodes[0].db.GetDecision(context.Background(), id)
	if err != nil {
		c.t.Fatalf("decision %d: %v", id, err)
	}
	return d
}

// until polls cond until it holds, failing the test after a generous deadline.
func (c *cluster) until(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("never: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deliveredOnce checks that decision d is delivered, applied once at the gateway, with
// one successful delivery audit row.
func (c *cluster) deliveredOnce(d *store.Decision) {
	c.t.Helper()
	got := c.decision(d.ID)
	if got.State != store.StateDelivered {
		c.t.Errorf("decision %d: %s (%s), want delivered", d.ID, got.State, got.LastError)
	}
	if g, ok := c.sb.Get(d.ProcessID); !ok || g.Accepts != 1 || g.Verdict != sandbox.VerdictAccepted {
		c.t.Errorf("gateway %s: %+v, want accepted once", d.ProcessID, g)
	}
	events, err := c.nodes[0].db.ListAudit(context.Background(), store.AuditFilter{Action: "decision.delivery", ObjectID: d.ProcessID, Limit: 50})
	if err != nil {
		c.t.Fatal(err)
	}
	success := 0
	for _, e := range events {
		if e.Outcome == store.OutcomeSuccess {
			success++
		}
	}
	if success != 1 {
		c.t.Errorf("delivery audit of %s: %d successes, want 1", d.ProcessID, success)
	}
}

// TestInstancesDeliverEachDecisionOnce: two instances run their delivery loops at once
// over the same outbox (the gateway slowed down so that their attempts overlap); every
// decision is sent by exactly one of them, once.
func TestInstancesDeliverEachDecisionOnce(t *testing.T) {
	onBothEngines(t, func(t *testing.T, target string) {
		c := newCluster(t, target, 2, nil)
		ds := c.decided(30)
		if err := c.sb.SetFault(sandbox.RouteAccept, sandbox.Fault{Kind: sandbox.FaultLatency, Latency: 20 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var wg sync.WaitGroup
		attempts := make([]int, len(c.nodes))
		errs := make([]error, len(c.nodes))
		for i, nd := range c.nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					n, err := nd.svc.DeliverOnce(ctx)
					if err != nil {
						errs[i] = err
						return
					}
					attempts[i] += n
					if n == 0 {
						return
					}
				}
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("instance %d: %v", i, err)
			}
		}
		if total := attempts[0] + attempts[1]; total != len(ds) {
			t.Errorf("attempts: %v, want %d in all (one per decision)", attempts, len(ds))
		}
		t.Logf("attempts per instance: %v", attempts)
		for _, d := range ds {
			c.deliveredOnce(d)
		}
		if got := c.sb.Stats().Requests[sandbox.RouteAccept]; got != len(ds) {
			t.Errorf("accept requests: %d, want %d", got, len(ds))
		}
	})
}

// holdFirstAccept is a gateway in front of the sandbox that applies the first accept at
// once but holds its answer until release is closed: the moment an instance can stop
// (or stall) with its decision applied at the gateway and its outcome not recorded.
func holdFirstAccept(held chan<- struct{}, release <-chan struct{}) func(http.Handler) http.Handler {
	var once sync.Once
	return func(sb http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hold := false
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/accept") {
				once.Do(func() { hold = true })
			}
			if !hold {
				sb.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			sb.ServeHTTP(rec, r)
			close(held)
			<-release
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
		})
	}
}

// TestInstanceTakesOverAStalledDelivery: instance A's accept reached the gateway, but
// before its answer came back A's heartbeat expired (A stalled). B takes the decision
// over, reads the status first (D3), finds the verdict applied and records it delivered
// without sending again. When A's answer finally arrives, A's outcome is dropped (the
// fence) and logged.
func TestInstanceTakesOverAStalledDelivery(t *testing.T) {
	onBothEngines(t, func(t *testing.T, target string) {
		held, release := make(chan struct{}), make(chan struct{})
		c := newCluster(t, target, 2, holdFirstAccept(held, release))
		a, b := c.nodes[0], c.nodes[1]
		d := c.decided(1)[0]
		ctx := context.Background()

		type result struct {
			n   int
			err error
		}
		aDone := make(chan result, 1)
		go func() {
			n, err := a.svc.DeliverOnce(ctx)
			aDone <- result{n, err}
		}()
		select {
		case <-held:
		case <-time.After(30 * time.Second):
			close(release)
			t.Fatal("A's accept never reached the gateway")
		}
		if got := c.decision(d.ID); got.State != store.StateSending {
			close(release)
			t.Fatalf("while A's call is under way: %s, want sending", got.State)
		}

		// A's heartbeat expires; B beats on and runs its delivery worker (which takes the
		// decision at its start, or at its next takeover round: both take what a stopped
		// instance left).
		reads := c.sb.Stats().Requests[sandbox.RouteStatus]
		c.clk.Add(store.InstanceTTL + time.Second)
		c.beat(b)
		runCtx, cancel := context.WithCancel(ctx)
		bDone := make(chan struct{})
		go func() { b.svc.RunDelivery(runCtx); close(bDone) }()
		c.until("B delivered the decision A stalled on", func() bool { return c.decision(d.ID).State == store.StateDelivered })
		cancel()
		<-bDone

		close(release)
		r := <-aDone
		if r.err != nil || r.n != 1 {
			t.Fatalf("A's DeliverOnce: %d %v, want one attempt and no error (its outcome dropped)", r.n, r.err)
		}
		if !strings.Contains(a.log.String(), "outcome dropped") {
			t.Errorf("A's log does not say its outcome was dropped:\n%s", a.log.String())
		}
		if l := b.log.String(); !strings.Contains(l, "took over decision deliveries") && !strings.Contains(l, "recovered deliveries") {
			t.Errorf("B's log does not say it took the delivery over:\n%s", l)
		}
		if got := c.decision(d.ID); got.Attempts != 2 {
			t.Errorf("decision: %d attempts, want 2 (A's, then B's)", got.Attempts)
		}
		if got := c.sb.Stats().Requests[sandbox.RouteStatus] - reads; got < 1 {
			t.Errorf("status reads by B: %d, want at least 1 (D3)", got)
		}
		c.deliveredOnce(d)
		if got := c.sb.Stats().Requests[sandbox.RouteAccept]; got != 1 {
			t.Errorf("accept requests: %d, want 1 (B read the status instead of sending again)", got)
		}
	})
}

// TestWebhookIngestionRunsOnTheLeader: with A holding the leader lease, B's worker
// leaves a notification B received alone; when A stops renewing the lease, B takes it
// and ingests the notification.
func TestWebhookIngestionRunsOnTheLeader(t *testing.T) {
	onBothEngines(t, func(t *testing.T, target string) {
		c := newCluster(t, target, 2, nil)
		a, b := c.nodes[0], c.nodes[1]
		ctx := context.Background()
		if !a.svc.Leader(ctx) {
			t.Fatal("A did not get the free leader lease")
		}
		if b.svc.Leader(ctx) {
			t.Fatal("B got the leader lease A holds")
		}
		ids, err := c.sb.Seed(sandbox.SeedSpec{Count: 1, States: []string{"REVIEW"}, Silent: true})
		if err != nil {
			t.Fatal(err)
		}
		recvCtx, cancelRecv := context.WithTimeout(ctx, 10*time.Second)
		defer cancelRecv()
		if err := b.inbox.Receive(recvCtx, notificationBody(ids[0], "PENDING")); err != nil {
			t.Fatal(err)
		}

		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		done := make(chan struct{})
		go func() { b.svc.RunWorkers(runCtx, b.inbox, time.Hour); close(done) }()
		defer func() { cancel(); <-done }()
		c.until("B's worker found the lease taken", func() bool { return strings.Contains(b.log.String(), "another instance holds the leader lease") })
		if _, err := b.db.GetProcess(ctx, ids[0]); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("B ingested a notification while A leads: %v", err)
		}

		// A stops renewing (it stopped); once the lease expires B leads and ingests.
		c.clk.Add(store.LeaseTTL)
		c.until("B ingested the notification", func() bool {
			_, err := b.db.GetProcess(ctx, ids[0])
			return err == nil
		})
		if !strings.Contains(b.log.String(), "this instance holds the leader lease") {
			t.Errorf("B's log does not say it took the lease:\n%s", b.log.String())
		}
		if a.svc.Leader(ctx) {
			t.Error("A got the lease back while B renews it")
		}
	})
}
