package handlers_test

// The gateway harness: the same real Echo application, SQLite file and controllable
// clock as newHarness, plus what testutil_test.go leaves out, wired as main.go does: a
// real review.Service and review.Inbox (its Run loop running), a real mobbscan client
// and the real gateway simulator (mobbscan/sandbox) behind httptest.NewServer.
// The sandbox, the client and the store share the test clock, so webhook signatures,
// claims and token lifetimes all move together when the clock moves.

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/handlers"
	"github.com/mobbscan-review/portal/mobbscan"
	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// The webhook's secret path token and HMAC secret in gateway tests.
const (
	testWebhookToken  = "wh-7f3c9a1e5b2d4c6a8e0f1a2b3c4d5e6f"
	testWebhookSecret = "hmac-secret-0b1c2d3e4f5a6b7c8d9e"
)

// gwOptions tune newGateway.
type gwOptions struct {
	hmac          string                          // webhook HMAC secret (portal and sandbox)
	headerTimeout time.Duration                   // client header timeout (default 5 s)
	callTimeout   time.Duration                   // client call timeout (default 10 s)
	wrap          func(http.Handler) http.Handler // wraps the sandbox (a misbehaving gateway)
}

func withHMAC(secret string) func(*gwOptions) { return func(o *gwOptions) { o.hmac = secret } }

func withClientTimeouts(header, call time.Duration) func(*gwOptions) {
	return func(o *gwOptions) { o.headerTimeout, o.callTimeout = header, call }
}

func withGatewayWrapper(w func(http.Handler) http.Handler) func(*gwOptions) {
	return func(o *gwOptions) { o.wrap = w }
}

// gw is a portal wired to the sandbox, with an admin and two agents signed in.
type gw struct {
	*fixture
	sb      *sandbox.Sandbox
	gwSrv   *httptest.Server
	client  *mobbscan.Client
	rv      *review.Service
	inbox   *review.Inbox
	agent2  *store.User
	agent2B *browser
}

// newGateway builds the wired portal. Cleanup stops the inbox, the sandbox and its
// server, checks the audit chain and closes the database, in that order.
func newGateway(t *testing.T, opts ...func(*gwOptions)) *gw {
	t.Helper()
	o := gwOptions{headerTimeout: 5 * time.Second, callTimeout: 10 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "portal.db"))
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	clk := &clock{now: time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC)}
	db.Now = clk.Now

	sb, err := sandbox.New(sandbox.Config{Control: true, Seed: 1, Now: clk.Now, WebhookSecret: o.hmac, WebhookRetries: -1})
	if err != nil {
		t.Fatalf("sandbox.New: %v", err)
	}
	var gh http.Handler = sb
	if o.wrap != nil {
		gh = o.wrap(sb)
	}
	gwSrv := httptest.NewServer(gh)
	t.Cleanup(func() {
		sb.Close() // ends injected latencies first, so Close does not wait for them
		gwSrv.Close()
	})
	client, err := mobbscan.New(mobbscan.Config{
		BaseURL: gwSrv.URL, APIKey: sandbox.DefaultAPIKey, APISecret: sandbox.DefaultAPISecret,
		DialTimeout: 2 * time.Second, HeaderTimeout: o.headerTimeout, CallTimeout: o.callTimeout,
		StallTimeout: o.headerTimeout, Now: clk.Now, RetryDelay: time.Millisecond, // reads are retried (O4): quickly in tests
	})
	if err != nil {
		t.Fatalf("mobbscan.New: %v", err)
	}

	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rv := review.New(db, client, log, review.Config{WebhookToken: testWebhookToken, WebhookHMAC: o.hmac})
	inbox := review.NewInbox(db)
	inboxCtx, stopInbox := context.WithCancel(context.Background())
	inboxDone := make(chan struct{})
	go func() { defer close(inboxDone); inbox.Run(inboxCtx) }()
	t.Cleanup(func() { stopInbox(); <-inboxDone })

	hasher := auth.NewHasher(auth.TestParams)
	sessions := auth.NewSessionStore(db, auth.SessionConfig{})
	throttle := auth.NewThrottle(auth.ThrottleConfig{})
	throttle.Now = clk.Now
	e := handlers.New(handlers.Config{Logger: log}, handlers.Deps{
		DB: db, Sessions: sessions, Hasher: hasher, Review: rv, Inbox: inbox,
		Authenticator: &auth.Authenticator{DB: db, Hasher: hasher, Throttle: throttle},
	})
	h := &harness{t: t, db: db, e: e, clock: clk, hasher: hasher, sessions: sessions, throttle: throttle, logs: logs}
	t.Cleanup(func() {
		if n, err := db.VerifyAudit(context.Background()); err != nil {
			t.Errorf("VerifyAudit after %d events: %v", n, err)
		}
	})
	f := &fixture{harness: h}
	f.admin = h.createUser("admin@example.com", "Ada Admin", store.RoleAdmin, pwAdmin, false)
	f.agent = h.createUser("agent@example.com", "Alan Agent", store.RoleAgent, pwAgent, false)
	agent2 := h.createUser("agent2@example.com", "Bea Checker", store.RoleAgent, pwAgent2, false)
	f.adminB = h.signIn("admin@example.com", pwAdmin)
	f.agentB = h.signIn("agent@example.com", pwAgent)
	agent2B := h.signIn("agent2@example.com", pwAgent2).from("192.0.2.11")
	return &gw{fixture: f, sb: sb, gwSrv: gwSrv, client: client, rv: rv, inbox: inbox, agent2: agent2, agent2B: agent2B}
}

// webhookPath is the notification URL with token.
func webhookPath(token string) string { return "/webhooks/mobbscan/" + token }

// notification is a gateway notification body.
func notification(id string) []byte {
	b, _ := json.Marshal(map[string]string{"verificationId": id, "status": "PENDING", "stage": "REVIEW"})
	return b
}

// postWebhook sends body as the gateway does: server to server, no cookies, no Origin
// or Sec-Fetch-* headers. Headers given are added (an empty value deletes).
func (g *gw) postWebhook(token string, body []byte, hs ...header) *response {
	g.t.Helper()
	req := httptest.NewRequest(http.MethodPost, webhookPath(token), strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	for _, hd := range hs {
		if hd.value == "" {
			req.Header.Del(hd.key)
			continue
		}
		req.Header.Set(hd.key, hd.value)
	}
	return g.browser().from("198.51.100.7").do(req)
}

// inboxIDs returns the process ids of the notifications waiting, sorted by id.
func (g *gw) inboxIDs() []string {
	g.t.Helper()
	rows, err := g.db.SQL().Query("SELECT process_id FROM webhook_inbox ORDER BY process_id")
	if err != nil {
		g.t.Fatalf("inbox: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			g.t.Fatalf("inbox: %v", err)
		}
		out = append(out, id)
	}
	return out
}

// seedReview creates n processes awaiting review at the sandbox (no webhook) and
// returns their ids.
func (g *gw) seedReview(n int, spec sandbox.SeedSpec) []string {
	g.t.Helper()
	spec.Count, spec.Silent = n, true
	ids, err := g.sb.Seed(spec)
	if err != nil {
		g.t.Fatalf("sandbox seed: %v", err)
	}
	return ids
}

// ingest notifies the portal of ids through the webhook route and lets the ingestion
// step index them (re-reading each from the sandbox), as the worker would.
func (g *gw) ingest(ids ...string) {
	g.t.Helper()
	for _, id := range ids {
		if r := g.postWebhook(testWebhookToken, notification(id)); r.Code != http.StatusAccepted {
			g.t.Fatalf("webhook for %s: got %s, want 202", id, r)
		}
	}
	for {
		n, err := g.rv.IngestOnce(context.Background())
		if err != nil {
			g.t.Fatalf("IngestOnce: %v", err)
		}
		if n == 0 {
			break
		}
	}
	for _, id := range ids {
		if p := g.process(id); p == nil || !p.Reviewable {
			g.t.Fatalf("process %s after ingestion: %+v, want indexed and reviewable", id, p)
		}
	}
}

// reviewable seeds n processes in review at the sandbox and indexes them.
func (g *gw) reviewable(n int) []string {
	g.t.Helper()
	ids := g.seedReview(n, sandbox.SeedSpec{})
	g.ingest(ids...)
	return ids
}

// process returns the indexed process, or nil when the index does not know it.
func (g *gw) process(id string) *store.Process {
	g.t.Helper()
	p, err := g.db.GetProcess(context.Background(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		g.t.Fatalf("GetProcess %s: %v", id, err)
	}
	return p
}

// countProcesses counts the indexed processes.
func (g *gw) countProcesses() int { return g.countRows("SELECT count(*) FROM processes") }

// fault injects a fault into a sandbox route until the test ends or it is cleared.
func (g *gw) fault(route string, f sandbox.Fault) {
	g.t.Helper()
	if err := g.sb.SetFault(route, f); err != nil {
		g.t.Fatalf("SetFault %s: %v", route, err)
	}
	g.t.Cleanup(func() { g.sb.ClearFault(route) })
}

// gatewayRequests counts the requests the sandbox received on every route.
func (g *gw) gatewayRequests() int {
	n := 0
	for _, c := range g.sb.Stats().Requests {
		n += c
	}
	return n
}

// indexSnapshot stores a process in the index directly (no gateway), as ingestion
// would have stored it.
func (g *gw) indexSnapshot(s store.Snapshot) {
	g.t.Helper()
	if s.Status == "" {
		s.Status, s.RawStatus, s.Stage, s.Reviewable = "PENDING", "PENDING", "REVIEW", true
	}
	if _, err := g.db.UpsertProcess(context.Background(), store.SourceWebhook, s, g.clock.Now().Add(time.Hour)); err != nil {
		g.t.Fatalf("UpsertProcess %s: %v", s.ID, err)
	}
}

var rowIDRE = regexp.MustCompile(`<tr data-row data-id="([^"]*)"`)

// queueIDs returns the ids of the queue rows in page order.
func queueIDs(body string) []string {
	var out []string
	for _, m := range rowIDRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// hasTestID reports whether body has an element with data-testid id.
func hasTestID(body, id string) bool { return strings.Contains(body, `data-testid="`+id+`"`) }

// contentTypeRewriter is a gateway that answers like the sandbox but, on paths
// containing match, with the Content-Type held by ct (none when it holds ""); a nil
// ct passes answers through untouched.
func contentTypeRewriter(match string, ct *atomic.Pointer[string]) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if v := ct.Load(); v != nil && strings.Contains(r.URL.Path, match) {
				w = &typeWriter{ResponseWriter: w, contentType: *v}
			}
			next.ServeHTTP(w, r)
		})
	}
}

type typeWriter struct {
	http.ResponseWriter
	contentType string
	wrote       bool
}

func (w *typeWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		if w.contentType == "" {
			w.Header()["Content-Type"] = nil // absent, and net/http does not sniff one
		} else {
			w.Header().Set("Content-Type", w.contentType)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *typeWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

func (w *typeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
