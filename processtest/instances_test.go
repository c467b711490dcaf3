package processtest

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/store/pgtest"
)

// Issue 13 is done when two portal processes on one PostgreSQL database behave as one
// portal: a session started on one works on the other, fifty agents deciding one process
// through both make one decision and one gateway call, killing the instance that is
// delivering loses nothing and sends nothing twice, and the audit chain written by both
// verifies. These tests run the real binary, as TestCrashSafety does, and reuse its
// sandbox process, recording proxy and deciding agent.
//
// Each test runs on both engines:
//   - postgres: instances A and B, two processes with their own data folder and port,
//     on one database (pgtest gives each test a fresh one). What they must share besides
//     the database is the gateway's credentials and the webhook token: sessions are rows
//     in the database behind an opaque cookie (no signing key to share), CSRF protection
//     is Go's origin check (no token secret), and the timeouts are the same defaults.
//   - sqlite: SQLite is the single-instance engine (one file, one writing process; the
//     portal does not support two processes on one portal.db), so there one process plays
//     both A and B, and the same suite proves the same properties on the zero-
//     configuration path.
//
// Around the instances:
//   - the sandbox gateway runs as its own process for the whole test;
//   - each instance reaches it through a gatewayWitness of its own, so the test knows which
//     instance made each accept or reject call and can hold calls to kill an instance at
//     the moment that matters;
//   - the sandbox's webhooks go to a small load balancer in the test process that passes
//     each to an instance that is up, as a deployment's would;
//   - agents come from X-Forwarded-For addresses of their own through a trusted proxy
//     range, as behind a real load balancer, so that fifty sign-ins from one machine are
//     not refused by the per-IP sign-in throttle (quality bar A3).

const (
	instancesToken    = "two-instances-webhook-token-0123456789abcdefXYZ"
	instancesPassword = crashPassword
	// takeoverWithin bounds how long a survivor may take to deliver what a killed
	// instance had on its way: the dead one's heartbeat lapses after store.InstanceTTL,
	// the survivor looks every store.HeartbeatEvery, then delivers within a retry.
	takeoverWithin = 3 * store.InstanceTTL
)

// eachEngine runs f once per engine, as subtests.
func eachEngine(t *testing.T, f func(t *testing.T, h *twoInstances)) {
	for _, engine := range []string{"postgres", "sqlite"} {
		t.Run(engine, func(t *testing.T) { f(t, newTwoInstances(t, engine)) })
	}
}

// builtPortal is the portal binary, built once for every test of the package that asks;
// TestMain removes it.
var builtPortal struct {
	once      sync.Once
	dir, path string
	err       error
}

func portalBinary(t *testing.T) string {
	t.Helper()
	builtPortal.once.Do(func() {
		dir, err := os.MkdirTemp("", "portal-instances-")
		if err != nil {
			builtPortal.err = err
			return
		}
		builtPortal.dir, builtPortal.path = dir, filepath.Join(dir, "portal")
		if out, err := exec.Command("go", "build", "-o", builtPortal.path, "github.com/mobbscan-review/portal").CombinedOutput(); err != nil {
			builtPortal.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if builtPortal.err != nil {
		t.Fatal(builtPortal.err)
	}
	return builtPortal.path
}

func removeBuiltPortal() {
	if builtPortal.dir != "" {
		os.RemoveAll(builtPortal.dir)
	}
}

// twoInstances is the test's deployment: the sandbox, the load balancer for its
// webhooks, and instances A and B (the same process on SQLite).
type twoInstances struct {
	t      *testing.T
	engine string
	dbURL  string        // postgres: the database of both instances
	sb     *crashHarness // the sandbox process, seeding and its record (crash_test.go)
	slots  [2]*portalInstance

	balanced atomic.Int64 // webhooks passed on, to alternate between the instances
	clients  atomic.Int64 // signed-in clients, each with an address of its own
}

// portalInstance is one slot, A or B: a data folder, a witness to the gateway and, while
// it runs, a portal process on addr.
type portalInstance struct {
	label      string
	dataDir    string
	witness    *gatewayWitness
	witnessURL string
	out        syncBuffer

	mu     sync.Mutex
	addr   string
	cmd    *exec.Cmd
	done   chan struct{}
	starts int
}

func newTwoInstances(t *testing.T, engine string) *twoInstances {
	bin := portalBinary(t)
	h := &twoInstances{t: t, engine: engine}
	if engine == "postgres" {
		h.dbURL = pgtest.Database(t) // skips without PostgreSQL (fails when CI is set)
	}
	tmp := t.TempDir()
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(h.balanceWebhook), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(front)
	t.Cleanup(func() { srv.Close() })

	h.sb = &crashHarness{t: t, bin: bin, portalAddr: front.Addr().String(), token: instancesToken}
	h.sb.startSandbox(filepath.Join(tmp, "sandbox"))
	for i, label := range []string{"A", "B"} {
		if i == 1 && !h.pg() {
			h.slots[1] = h.slots[0] // SQLite: one process plays both instances
			break
		}
		h.sb.startWitness()
		h.slots[i] = &portalInstance{label: label, dataDir: filepath.Join(tmp, "data-"+label), addr: freePort(t),
			witness: h.sb.witness, witnessURL: h.sb.witnessURL}
	}
	t.Cleanup(func() {
		for _, p := range h.instances() {
			p.kill()
		}
	})
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, p := range h.instances() {
			t.Logf("portal %s output (last part):\n%s", p.label, tail(p.out.String(), 16<<10))
		}
		t.Logf("sandbox output (last part):\n%s", tail(h.sb.sandboxOut.String(), 4<<10))
		t.Logf("gateway calls seen by the witnesses:\n%s", h.describeCalls())
	})
	return h
}

func (h *twoInstances) pg() bool { return h.engine == "postgres" }

// instances returns the distinct instances: A and B, or the one SQLite process.
func (h *twoInstances) instances() []*portalInstance {
	if h.slots[1] == h.slots[0] {
		return h.slots[:1]
	}
	return h.slots[:]
}

// target is what store.Open takes for the portal's database.
func (h *twoInstances) target() string {
	if h.pg() {
		return h.dbURL
	}
	return filepath.Join(h.slots[0].dataDir, "portal.db")
}

// balanceWebhook passes a gateway webhook to an instance that is up, alternating.
func (h *twoInstances) balanceWebhook(w http.ResponseWriter, r *http.Request) {
	n := int(h.balanced.Add(1))
	for i := range 2 {
		if addr, up := h.slots[(n+i)%2].address(); up {
			target := &url.URL{Scheme: "http", Host: addr}
			rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }, ErrorLog: log.New(io.Discard, "", 0)}
			rp.ServeHTTP(w, r)
			return
		}
	}
	http.Error(w, "no portal instance is up", http.StatusServiceUnavailable)
}

// address returns where the instance listens and whether it is running.
func (p *portalInstance) address() (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr, p.cmd != nil
}

func (p *portalInstance) url() string {
	addr, _ := p.address()
	return "http://" + addr
}

func (p *portalInstance) running() bool {
	_, up := p.address()
	return up
}

// addAgents creates agent accounts, as `portal user add` would, each going back to the
// queue after deciding: the "next case" setting would claim a process another decider
// of the test is working on.
func (h *twoInstances) addAgents(emails ...string) {
	t := h.t
	ctx := context.Background()
	if err := os.MkdirAll(h.slots[0].dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, h.target())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hash, err := auth.NewHasher(auth.TestParams).Hash(instancesPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, email := range emails {
		u := &store.User{Email: email, DisplayName: strings.Split(email, "@")[0], Role: store.RoleAgent, PasswordHash: hash, Active: true}
		if err := db.CreateUser(ctx, store.System, u); err != nil {
			t.Fatal(err)
		}
		if err := db.SetNextAfterDecision(ctx, store.System, u.ID, false); err != nil {
			t.Fatal(err)
		}
	}
}

// launch starts the instance's portal; the returned function waits until it answers.
func (h *twoInstances) launch(p *portalInstance) (await func()) {
	t := h.t
	p.mu.Lock()
	addr := p.addr
	p.starts++
	starts := p.starts
	p.mu.Unlock()
	env := childEnv(
		"PORTAL_ADDR="+addr,
		"PORTAL_DATA_DIR="+p.dataDir,
		"PORTAL_MOBBSCAN_URL="+p.witnessURL,
		"PORTAL_MOBBSCAN_API_KEY=sandbox-key",
		"PORTAL_MOBBSCAN_API_SECRET=sandbox-secret",
		"PORTAL_WEBHOOK_TOKEN="+instancesToken,
		"PORTAL_TRUSTED_PROXIES=127.0.0.1/32",
		"PORTAL_DELIVERY_RETRY_BASE=100ms",
		"PORTAL_RECONCILE_EVERY=1s",
		"PORTAL_TEST_CHEAP_HASH=1",
		"PORTAL_LOG_LEVEL=info",
	)
	if h.pg() {
		env = append(env, "PORTAL_DATABASE_URL="+h.dbURL)
	}
	cmd := exec.Command(h.sb.bin, "serve")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	fmt.Fprintf(&p.out, "\n===== %s: start %d on %s =====\n", p.label, starts, addr)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start portal %s: %v", p.label, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	return func() {
		waitFor(t, "portal "+p.label+" /healthz", 30*time.Second, func() bool {
			select {
			case <-done:
				t.Fatalf("portal %s exited at start: %v\n%s", p.label, cmd.ProcessState, tail(p.out.String(), 8<<10))
			default:
			}
			resp, err := http.Get("http://" + addr + "/healthz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}, func() string { return tail(p.out.String(), 8<<10) })
	}
}

// startAll starts every instance that is not running, at once, and waits until they
// answer. (On a fresh database the two race to migrate it and to create the first
// administrator: TestTwoInstancesShareSessions.)
func (h *twoInstances) startAll() {
	var awaits []func()
	for _, p := range h.instances() {
		if !p.running() {
			awaits = append(awaits, h.launch(p))
		}
	}
	for _, await := range awaits {
		await()
	}
}

// kill SIGKILLs the instance's portal, if it runs, and waits until it is gone.
func (p *portalInstance) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
	fmt.Fprintf(&p.out, "\n===== %s: killed =====\n", p.label)
}

// stop stops the instance's portal the polite way (SIGTERM) and waits.
func (h *twoInstances) stop(p *portalInstance) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		h.t.Errorf("portal %s did not stop within 40s of SIGTERM", p.label)
		cmd.Process.Kill()
		<-done
	}
	if st := cmd.ProcessState; !st.Success() {
		h.t.Errorf("portal %s's graceful stop ended with %v", p.label, st)
	}
}

func (h *twoInstances) stopAll() {
	for _, p := range h.instances() {
		h.stop(p)
	}
}

// forwardedFor is the load balancer in front of the instances, as far as sign-in
// throttling sees it: each client comes from an address of its own.
type forwardedFor struct {
	ip string
	rt *http.Transport
}

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.ip)
	return f.rt.RoundTrip(r)
}

func (f forwardedFor) CloseIdleConnections() { f.rt.CloseIdleConnections() }

// newClient returns a client with an empty cookie jar and an address of its own, which
// follows no redirects.
func (h *twoInstances) newClient() *http.Client {
	n := h.clients.Add(1)
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar: jar, Timeout: 30 * time.Second,
		Transport:     forwardedFor{ip: fmt.Sprintf("10.13.%d.%d", n/200, n%200+1), rt: &http.Transport{}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// trySignIn signs email in on base with a new client; safe off the test goroutine.
func (h *twoInstances) trySignIn(base, email string) (*http.Client, error) {
	c := h.newClient()
	resp, err := c.PostForm(base+"/login", url.Values{"email": {email}, "password": {instancesPassword}})
	if err != nil {
		return nil, fmt.Errorf("sign in %s: %w", email, err)
	}
	resp.Body.Close()
	u, _ := url.Parse(base)
	if resp.StatusCode != http.StatusSeeOther || len(c.Jar.Cookies(u)) == 0 {
		return nil, fmt.Errorf("sign in %s: %s, %d cookies", email, resp.Status, len(c.Jar.Cookies(u)))
	}
	return c, nil
}

func (h *twoInstances) signIn(p *portalInstance, email string) *http.Client {
	h.t.Helper()
	c, err := h.trySignIn(p.url(), email)
	if err != nil {
		h.t.Fatalf("portal %s: %v", p.label, err)
	}
	return c
}

// track puts a process in the index now (the webhook may race it; both are fine).
func (h *twoInstances) track(c *http.Client, p *portalInstance, id string) {
	h.t.Helper()
	resp, err := c.PostForm(p.url()+"/processes/track", url.Values{"id": {id}})
	if err != nil {
		h.t.Fatalf("portal %s: track %s: %v", p.label, id, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/processes/"+id {
		h.t.Fatalf("portal %s: track %s: %s to %q", p.label, id, resp.Status, resp.Header.Get("Location"))
	}
}

// openProcess opens a process as the browser does: the claim (a POST), the page it leads
// to and the page's images. It returns the claim the page holds ("" when the agent does
// not hold it). Safe off the test goroutine.
func openProcess(c *http.Client, base, id string) (string, error) {
	resp, err := c.PostForm(base+"/processes/"+id+"/claim", nil)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	path := "/processes/" + id
	if loc := resp.Header.Get("Location"); resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc, path+"?") {
		path = loc
	}
	page, status, err := getPage(c, base+path)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("GET %s: %d", path, status)
	}
	for _, m := range crashImgRE.FindAllStringSubmatch(page, -1) {
		if _, _, err := getPage(c, base+m[1]); err != nil {
			return "", err
		}
	}
	if m := crashClaimRE.FindStringSubmatch(page); m != nil {
		return m[1], nil
	}
	return "", nil
}

func getPage(c *http.Client, u string) (string, int, error) {
	resp, err := c.Get(u)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode, err
}

// postDecision posts an accept or reject from the process page's form with claim.
func postDecision(c *http.Client, base, id string, verdict store.Verdict, claim string) (int, string, string, error) {
	form := url.Values{}
	if claim != "" {
		form.Set("claim", claim)
	}
	if verdict == store.VerdictReject {
		form.Set("reason", "1")
	}
	resp, err := c.PostForm(base+"/processes/"+id+"/"+string(verdict), form)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, resp.Header.Get("Location"), string(b), nil
}

// readDB opens the portal's database for reading while instances may run.
func (h *twoInstances) readDB() *sql.DB {
	t := h.t
	var db *sql.DB
	var err error
	if h.pg() {
		db, err = sql.Open("pgx", h.dbURL) // registered by the store's pgx import
	} else {
		db, err = sql.Open("sqlite", "file:"+filepath.ToSlash(h.target())+"?mode=ro&_pragma=busy_timeout(5000)")
	}
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// decisionRow is a decision as the database holds it.
type decisionRow struct {
	processID string
	verdict   store.Verdict
	state     store.DeliveryState
	decidedBy string // the agent's email
}

// decisions returns every decision, by process.
func (h *twoInstances) decisions() map[string][]decisionRow {
	t := h.t
	db := h.readDB()
	defer db.Close()
	rows, err := db.Query(`SELECT d.process_id, d.verdict, d.state, u.email FROM decisions d JOIN users u ON u.id = d.decided_by ORDER BY d.id`)
	if err != nil {
		t.Fatalf("read decisions: %v", err)
	}
	defer rows.Close()
	out := map[string][]decisionRow{}
	for rows.Next() {
		var r decisionRow
		if err := rows.Scan(&r.processID, &r.verdict, &r.state, &r.decidedBy); err != nil {
			t.Fatal(err)
		}
		out[r.processID] = append(out[r.processID], r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitDrained waits (bounded) until every process in ids has its verdict at the sandbox
// and no decision is left undelivered in the portal.
func (h *twoInstances) waitDrained(ids []string, within time.Duration) {
	t := h.t
	db := h.readDB()
	defer db.Close()
	var missing []string
	undelivered := 0
	drained := func() bool {
		missing = missing[:0]
		for _, id := range ids {
			if v, err := h.sb.sandboxProcess(id); err != nil || v.Verdict == "" {
				missing = append(missing, id)
			}
		}
		if err := db.QueryRow("SELECT count(*) FROM decisions WHERE state <> 'delivered'").Scan(&undelivered); err != nil {
			undelivered = -1
		}
		return len(missing) == 0 && undelivered == 0
	}
	deadline := time.Now().Add(within)
	for !drained() {
		if time.Now().After(deadline) {
			t.Fatalf("the outboxes did not drain within %s: the sandbox lacks %d decisions %v; %d decisions not delivered in the portal",
				within, len(missing), missing, undelivered)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var auditIntactRE = regexp.MustCompile(`audit chain intact: (\d+) events`)

// auditVerify runs `portal audit verify` on the instances' database and returns how many
// events it verified.
func (h *twoInstances) auditVerify(when string) int {
	t := h.t
	t.Helper()
	args := []string{"audit", "verify"}
	env := childEnv()
	if h.pg() {
		env = append(env, "PORTAL_DATABASE_URL="+h.dbURL)
	} else {
		args = append(args, "--data-dir", h.slots[0].dataDir)
	}
	cmd := exec.Command(h.sb.bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	m := auditIntactRE.FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("%s: portal audit verify: %v\n%s", when, err, out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// labeledCall is a gateway call and the instance that made it.
type labeledCall struct {
	instance string
	gatewayCall
}

// calls returns every accept and reject call the witnesses saw, by process.
func (h *twoInstances) calls() map[string][]labeledCall {
	out := map[string][]labeledCall{}
	for _, p := range h.instances() {
		for id, cs := range p.witness.byProcess() {
			for _, c := range cs {
				out[id] = append(out[id], labeledCall{p.label, c})
			}
		}
	}
	return out
}

func (h *twoInstances) describeCalls() string {
	var lines []string
	for _, p := range h.instances() {
		p.witness.mu.Lock()
		for _, c := range p.witness.calls {
			lines = append(lines, p.label+": "+c.String())
		}
		p.witness.mu.Unlock()
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// mergedWitness is one witness holding both instances' calls, for crashHarness.checkFinal.
func (h *twoInstances) mergedWitness() *gatewayWitness {
	w := &gatewayWitness{heldCh: make(chan string, 1)}
	for _, p := range h.instances() {
		p.witness.mu.Lock()
		w.calls = append(w.calls, p.witness.calls...)
		p.witness.mu.Unlock()
	}
	return w
}

// checkGateway checks that every case reached the sandbox in exactly one accepted call
// with the agent's verdict, through either instance (crashHarness.checkFinal on the
// merged record). The instances must be stopped, so that no call is still on its way.
func (h *twoInstances) checkGateway(cases map[string]*crashCase, order []string) {
	h.sb.witness = h.mergedWitness()
	h.sb.checkFinal(cases, order)
}

// TestTwoInstancesShareSessions: a session started on one instance is a session on the
// other, and signing out on either ends it on both.
func TestTwoInstancesShareSessions(t *testing.T) {
	eachEngine(t, func(t *testing.T, h *twoInstances) {
		// Both start on an empty database at once: one migrates it and one creates the
		// first administrator, whose one-time password is printed once.
		h.startAll()
		notices := 0
		waitFor(t, "the first-start notice", 10*time.Second, func() bool { // the output comes through a pipe
			notices = 0
			for _, p := range h.instances() {
				notices += strings.Count(p.out.String(), "First start: created the administrator account")
			}
			return notices > 0
		}, func() string { return "" })
		if admins := h.count("SELECT count(*) FROM users WHERE role = 'admin'"); admins != 1 || notices != 1 {
			t.Errorf("two instances started on an empty database: %d administrators, %d first-start notices; want 1 and 1", admins, notices)
		}

		const email = "session.agent@example.com"
		h.addAgents(email)
		a, b := h.slots[0], h.slots[1]

		for _, dir := range []struct{ from, to *portalInstance }{{a, b}, {b, a}} {
			// Sign in on one; a client of its own presents the same cookie to the other.
			// (Cookie jars ignore ports, so a browser would send it to both anyway; the
			// copy says what is shared: the cookie, nothing else.)
			on := h.signIn(dir.from, email)
			other := h.newClient()
			fromURL, _ := url.Parse(dir.from.url())
			toURL, _ := url.Parse(dir.to.url())
			other.Jar.SetCookies(toURL, on.Jar.Cookies(fromURL))
			for _, c := range []struct {
				client *http.Client
				p      *portalInstance
			}{{on, dir.from}, {other, dir.to}, {on, dir.from}} {
				page, status, err := getPage(c.client, c.p.url()+"/account")
				if err != nil || status != http.StatusOK || !strings.Contains(page, email) {
					t.Fatalf("signed in on %s: GET /account on %s: %d %v (the page names the account: %t)",
						dir.from.label, c.p.label, status, err, strings.Contains(page, email))
				}
			}
			if n := h.sessionCount(email); n != 1 {
				t.Errorf("signed in once on %s and used on %s: %d sessions in the database, want 1", dir.from.label, dir.to.label, n)
			}
			// Signing out on the other instance ends the session on both.
			resp, err := other.PostForm(dir.to.url()+"/logout", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
				t.Fatalf("sign out on %s: %s to %q", dir.to.label, resp.Status, resp.Header.Get("Location"))
			}
			for _, c := range []struct {
				client *http.Client
				p      *portalInstance
			}{{on, dir.from}, {other, dir.to}} {
				resp, err := c.client.Get(c.p.url() + "/account")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
					t.Errorf("signed out on %s: GET /account on %s: %s to %q, want the sign-in page", dir.to.label, c.p.label, resp.Status, resp.Header.Get("Location"))
				}
			}
			if n := h.sessionCount(email); n != 0 {
				t.Errorf("signed out on %s: %d sessions left in the database", dir.to.label, n)
			}
		}
		h.stopAll()
		h.auditVerify("after the sessions")
	})
}

func (h *twoInstances) sessionCount(email string) int {
	return h.count("SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = '" + email + "'")
}

// count runs a query (no parameters: the two drivers spell them differently) that
// returns one number.
func (h *twoInstances) count(query string) int {
	h.t.Helper()
	db := h.readDB()
	defer db.Close()
	var n int
	if err := db.QueryRow(query).Scan(&n); err != nil {
		h.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// decider is one of the agents racing to decide a process, and what it got.
type decider struct {
	agent    string
	instance *portalInstance
	verdict  store.Verdict
	client   *http.Client

	status   int
	location string
	body     string
	err      error
}

func (d *decider) acked() bool {
	return d.status == http.StatusSeeOther && strings.Contains(d.location, "done=decided")
}

// TestTwoInstancesDecideOnce: fifty agents split over both instances decide the same
// process at once; there is one decision and one gateway call, and every agent is told
// the truth (D1 across instances).
//
// Two rounds, each on a fresh process:
//   - one agent, one claim, fifty posts: the agent opened the process once and fifty
//     tabs of theirs (in ten browsers, five on each instance) post the page's form at
//     the same instant, half accept and half reject. All of them pass the checks before the write, so the
//     write itself must let one through: the posts with the recorded verdict are a
//     double-submitted form and are told it is decided (it counts once), those with the
//     other verdict are refused (409).
//   - fifty browsers, five agents: each opens the process (claim, page, evidence) and
//     decides it, as a person would; the claims race too. Only the deciding agent's posts
//     with the recorded verdict are told it is decided; everyone else is refused.
func TestTwoInstancesDecideOnce(t *testing.T) {
	const deciders = 50
	eachEngine(t, func(t *testing.T, h *twoInstances) {
		agents := []string{"decider.1@example.com", "decider.2@example.com", "decider.3@example.com", "decider.4@example.com", "decider.5@example.com"}
		h.addAgents(agents...)
		h.startAll()
		cases := map[string]*crashCase{}
		var order []string

		// Round 1: one claim, fifty posts. An account holds at most
		// store.MaxSessionsPerUser sessions, so the agent's fifty posts come from ten
		// browsers (five on each instance), five tabs each; the first opens the process.
		id1 := h.sb.seed(1)[0]
		var sessions []*http.Client
		for i := range store.MaxSessionsPerUser {
			sessions = append(sessions, h.signIn(h.slots[i%2], agents[0]))
		}
		h.track(sessions[0], h.slots[0], id1)
		claim, err := openProcess(sessions[0], h.slots[0].url(), id1)
		if err != nil || claim == "" {
			t.Fatalf("open %s: claim %q, %v", id1, claim, err)
		}
		var round1 []*decider
		for i := range deciders {
			s := i % len(sessions)
			d := &decider{agent: agents[0], instance: h.slots[s%2], verdict: store.VerdictAccept, client: sessions[s]}
			if (i/len(sessions))%2 == 1 { // both verdicts from every browser, on both instances
				d.verdict = store.VerdictReject
			}
			round1 = append(round1, d)
		}
		race(round1, func(d *decider) {
			d.status, d.location, d.body, d.err = postDecision(d.client, d.instance.url(), id1, d.verdict, claim)
		})
		won := h.checkRace("one claim, fifty posts", id1, round1)
		for _, d := range round1 {
			if d.err == nil && d.verdict == won.verdict && !d.acked() {
				t.Errorf("one claim, fifty posts: a %s from the deciding agent's session on %s got %d %q, want told it is decided (a double-submitted form counts once)",
					d.verdict, d.instance.label, d.status, d.location)
			}
		}
		cases[id1] = &crashCase{id: id1, verdict: won.verdict, attempted: true, acked: true}
		order = append(order, id1)

		// Round 2: fifty browsers, five agents (ten sessions each, the most an account
		// holds).
		id2 := h.sb.seed(1)[0]
		var round2 []*decider
		for i := range deciders {
			p := h.slots[i%2]
			agent := agents[i%len(agents)]
			d := &decider{agent: agent, instance: p, verdict: store.VerdictAccept, client: h.signIn(p, agent)}
			if i%4 >= 2 {
				d.verdict = store.VerdictReject
			}
			round2 = append(round2, d)
		}
		h.track(round2[0].client, round2[0].instance, id2)
		race(round2, func(d *decider) {
			claim, err := openProcess(d.client, d.instance.url(), id2)
			if err != nil {
				d.err = err
				return
			}
			d.status, d.location, d.body, d.err = postDecision(d.client, d.instance.url(), id2, d.verdict, claim)
		})
		won = h.checkRace("fifty browsers, five agents", id2, round2)
		cases[id2] = &crashCase{id: id2, verdict: won.verdict, attempted: true, acked: true}
		order = append(order, id2)

		// One delivery each, at the sandbox and on the witnesses' record.
		h.waitDrained(order, 60*time.Second)
		h.stopAll()
		h.checkGateway(cases, order)
		h.auditVerify("after the races")
	})
}

// race runs f for every decider at the same instant and waits for all.
func race(ds []*decider, f func(*decider)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(d)
		}()
	}
	close(start)
	wg.Wait()
}

// checkRace checks that id has exactly one decision, that only posts matching it were
// told "decided" and that every other post was refused with 409; it returns the decision.
func (h *twoInstances) checkRace(what, id string, ds []*decider) decisionRow {
	t := h.t
	rows := h.decisions()[id]
	if len(rows) != 1 {
		t.Fatalf("%s: process %s has %d decisions, want 1: %+v", what, id, len(rows), rows)
	}
	won := rows[0]
	acked, refused := map[string]int{}, 0
	for _, d := range ds {
		switch {
		case d.err != nil:
			t.Errorf("%s: %s on %s: %v", what, d.agent, d.instance.label, d.err)
		case d.acked():
			acked[d.instance.label]++
			if d.agent != won.decidedBy || d.verdict != won.verdict {
				t.Errorf("%s: %s on %s was told its %s was recorded, but the decision is %s's %s",
					what, d.agent, d.instance.label, d.verdict, won.decidedBy, won.verdict)
			}
		case d.status == http.StatusConflict:
			refused++
		default:
			t.Errorf("%s: %s's %s on %s: %d %q, want 303 or a 409 refusal:\n%s", what, d.agent, d.verdict, d.instance.label, d.status, d.location, tail(d.body, 2<<10))
		}
	}
	if len(acked) == 0 {
		t.Errorf("%s: a decision is recorded but no agent was told so", what)
	}
	t.Logf("%s: %s's %s recorded; told decided: %v; refused: %d", what, won.decidedBy, won.verdict, acked, refused)
	return won
}

// TestTwoInstancesKillDeliverer is TestCrashSafety with two instances: over 20 rounds,
// agents decide on both instances and the instance that is delivering is killed with
// SIGKILL, at a random moment or while the gateway holds one of its calls (after the
// gateway applied it, or before it was forwarded), then started again. On PostgreSQL the
// other instance lives on, deciding and delivering, and:
//   - every other restart comes back on a new port, so under a new instance name
//     (PORTAL_INSTANCE defaults to host:port): then only a takeover by a live instance
//     recovers the killed one's in-flight delivery;
//   - every fifth round the victim stays down until the survivor alone has delivered
//     every acknowledged decision, the victim's in-flight ones included;
//   - every fourth round the victim comes back while the survivor's own delivery is on
//     its way (held before the gateway): a starting instance must not take it.
//
// At the end every acknowledged decision must have been applied exactly once with its
// verdict, in one accepted call, and none sent again to a gateway that already had it.
// On SQLite (one process) this is TestCrashSafety's property again, through this harness.
func TestTwoInstancesKillDeliverer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary twice over 20 kill rounds")
	}
	eachEngine(t, func(t *testing.T, h *twoInstances) {
		const rounds = 20
		seed := uint64(time.Now().UnixNano())
		rng := rand.New(rand.NewPCG(seed, seed>>1|1))
		t.Logf("random seed %d", seed)
		agents := [2]string{"killer.a@example.com", "killer.b@example.com"} // deciding on A and on B
		h.addAgents(agents[:]...)

		cases := map[string]*crashCase{}
		side := map[string]int{} // the slot, and agent, that decides each process
		var order []string
		var stats struct {
			kills, random, answerHeld, requestHeld, newName, unknown int
			alone, restartOnDelivery                                 int
			victims                                                  map[string]int
		}
		stats.victims = map[string]int{}
		// record takes in what the agents got: problems, and the decisions posted and
		// acknowledged. It returns the decisions whose answer was lost.
		record := func(when string, res [2]crashDecideResult) (unknown [2][]string) {
			for s := range 2 {
				for _, p := range res[s].problems {
					t.Errorf("%s: agent on %s: %s", when, h.slots[s].label, p)
				}
				for _, id := range res[s].attempted {
					cases[id].attempted = true
				}
				for _, id := range res[s].acked {
					cases[id].acked = true
				}
				unknown[s] = res[s].unknown
			}
			return unknown
		}
		// todo lists, per side, what is not acknowledged yet: first the decisions whose
		// answer a kill swallowed (posted again, as a person would), then the new ones.
		todo := func() [2][]*crashCase {
			var out [2][]*crashCase
			for _, again := range []bool{true, false} {
				for _, id := range order {
					if c := cases[id]; !c.acked && c.attempted == again {
						out[side[id]] = append(out[side[id]], c)
					}
				}
			}
			return out
		}

		for round := 1; round <= rounds; round++ {
			when := fmt.Sprintf("round %d", round)
			h.startAll()
			var clients [2]*http.Client
			for s := range 2 {
				clients[s] = h.signIn(h.slots[s], agents[s])
			}
			for _, id := range h.sb.seed(2 + rng.IntN(5)) {
				verdict := store.VerdictAccept
				if len(order)%2 == 1 {
					verdict = store.VerdictReject
				}
				cases[id], side[id] = &crashCase{id: id, verdict: verdict}, len(order)%2
				if rng.IntN(3) == 0 {
					side[id] = 1 - side[id]
				}
				order = append(order, id)
				h.track(clients[side[id]], h.slots[side[id]], id)
			}

			mode := round % 3
			hold := time.Duration(rng.IntN(80)) * time.Millisecond
			if mode != 0 {
				hold = 800 * time.Millisecond
			}
			calls := map[*portalInstance]int{}
			for _, p := range h.instances() {
				p.witness.configure(mode, hold)
				calls[p] = callCount(p.witness)
			}
			done := make(chan [2]crashDecideResult, 1)
			work := todo()
			go func() { done <- h.decideSides(clients, work) }()

			// The victim: the instance whose call is held, or the one calling the gateway
			// at the random moment, or else A.
			victim := h.slots[0]
			switch mode {
			case 0:
				time.Sleep(time.Duration(20+rng.IntN(900)) * time.Millisecond)
				victim = h.deliverer(calls)
				stats.random++
			default:
				if p := h.waitHeld(10 * time.Second); p != nil {
					victim = p
					if mode == 1 {
						stats.answerHeld++
					} else {
						stats.requestHeld++
					}
				} else {
					t.Logf("%s: no gateway decision call to kill on", when)
				}
			}
			victim.kill()
			stats.kills++
			stats.victims[victim.label]++
			var res [2]crashDecideResult
			select {
			case res = <-done:
			case <-time.After(60 * time.Second):
				t.Fatalf("%s: the deciding agents did not stop after the kill", when)
			}
			unknown := record(when, res)
			for s := range 2 {
				clients[s].CloseIdleConnections()
				stats.unknown += len(unknown[s])
				if h.slots[s] != victim && len(unknown[s]) > 0 {
					t.Errorf("%s: the surviving instance %s left decisions unanswered: %v", when, h.slots[s].label, unknown[s])
				}
			}
			// No more holding (the survivor's calls need none), and every call the kill
			// left behind is on record before anything is checked.
			for _, p := range h.instances() {
				p.witness.configure(0, 0)
			}
			for _, p := range h.instances() {
				p.witness.waitIdle(t)
			}

			// What the kill left behind; on PostgreSQL the survivor is still at work.
			h.checkStore(when, cases, false)
			h.auditVerify(when)
			if t.Failed() {
				t.FailNow()
			}
			if !h.pg() {
				continue // SQLite: the one process comes back at the next round's start
			}
			// On PostgreSQL the victim comes back every other time on a new port, so under
			// a new instance name: then nothing but the survivor's takeover recovers its
			// in-flight delivery.
			if round%2 == 1 {
				victim.mu.Lock()
				victim.addr = freePort(t)
				victim.mu.Unlock()
				stats.newName++
			}
			survivor := 0
			if h.slots[0] == victim {
				survivor = 1
			}
			if round%5 == 0 {
				// The survivor alone: the victim stays down until the survivor has
				// delivered every acknowledged decision, the ones the victim had on its
				// way included, which pass to the survivor once the victim's heartbeat
				// has lapsed (store.InstanceTTL).
				var acked []string
				for _, id := range order {
					if cases[id].acked {
						acked = append(acked, id)
					}
				}
				h.waitDrained(acked, takeoverWithin)
				stats.alone++
			}
			if round%4 == 2 {
				// The victim comes back while the survivor's delivery is on its way (its
				// call held before the gateway): a starting instance recovers what its
				// own previous life left, never another live instance's delivery.
				id := h.sb.seed(1)[0]
				verdict := store.VerdictAccept
				if len(order)%2 == 1 {
					verdict = store.VerdictReject
				}
				cases[id], side[id] = &crashCase{id: id, verdict: verdict}, survivor
				order = append(order, id)
				h.track(clients[survivor], h.slots[survivor], id)
				w := h.slots[survivor].witness
				w.configure(2, 1500*time.Millisecond)
				var res [2]crashDecideResult
				res[survivor] = crashDecide(clients[survivor], h.slots[survivor].url(), []*crashCase{cases[id]})
				record(when+", the survivor's decision", res)
				if p := h.waitHeld(10 * time.Second); p == h.slots[survivor] {
					h.startAll()
					stats.restartOnDelivery++
				} else {
					t.Errorf("%s: the survivor %s made no held decision call (held: %v)", when, h.slots[survivor].label, p)
				}
				w.waitIdle(t)
				w.configure(0, 0)
			}
		}

		// A last run: whatever is left is decided, and the outboxes drain.
		h.startAll()
		var clients [2]*http.Client
		for s := range 2 {
			clients[s] = h.signIn(h.slots[s], agents[s])
		}
		for _, ids := range record("final run", h.decideSides(clients, todo())) {
			for _, id := range ids {
				t.Errorf("final run: the decision on %s got no answer from a running portal", id)
			}
		}
		var acked []string
		for _, id := range order {
			if cases[id].acked {
				acked = append(acked, id)
			}
		}
		h.waitDrained(acked, 90*time.Second)
		h.stopAll()
		h.checkStore("after draining", cases, true)
		h.auditVerify("after draining")
		h.checkGateway(cases, order)

		// Who delivered what: a decision delivered by the other instance than the one it
		// was decided on was shared or taken over.
		byInstance, crossed := map[string]int{}, 0
		for id, cs := range h.calls() {
			for _, c := range cs {
				if c.Status == http.StatusOK {
					byInstance[c.instance]++
					if c.instance != h.slots[side[id]].label {
						crossed++
					}
				}
			}
		}
		t.Logf("%d rounds: %d processes, %d decisions acknowledged; %d kills (victims %v): %d at random moments, %d with an applied answer held, %d with a request held; "+
			"%d restarts under a new name, %d while the survivor's call was held; %d times the survivor alone drained the outbox; "+
			"%d decision answers lost to kills; accepted gateway calls by instance %v, %d by the instance the decision was not made on",
			rounds, len(cases), len(acked), stats.kills, stats.victims, stats.random, stats.answerHeld, stats.requestHeld,
			stats.newName, stats.restartOnDelivery, stats.alone, stats.unknown, byInstance, crossed)
		if len(acked) != len(cases) {
			t.Fatalf("%d of %d processes were acknowledged after the final run", len(acked), len(cases))
		}
	})
}

// decideSides runs crashDecide for each side's agent on its instance, at once.
func (h *twoInstances) decideSides(clients [2]*http.Client, work [2][]*crashCase) [2]crashDecideResult {
	var res [2]crashDecideResult
	var wg sync.WaitGroup
	for s := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[s] = crashDecide(clients[s], h.slots[s].url(), work[s])
		}()
	}
	wg.Wait()
	return res
}

func callCount(w *gatewayWitness) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.calls)
}

// deliverer is the instance calling the gateway now, or the last to have made a new call
// since the counts in before, or else A.
func (h *twoInstances) deliverer(before map[*portalInstance]int) *portalInstance {
	var recent *portalInstance
	for _, p := range h.instances() {
		p.witness.mu.Lock()
		inflight := p.witness.inflight
		p.witness.mu.Unlock()
		if inflight > 0 {
			return p
		}
		if callCount(p.witness) > before[p] {
			recent = p
		}
	}
	if recent != nil {
		return recent
	}
	return h.slots[0]
}

// waitHeld waits until a witness holds a decision call and returns its instance, or nil.
func (h *twoInstances) waitHeld(within time.Duration) *portalInstance {
	deadline := time.After(within)
	for {
		for _, p := range h.instances() {
			select {
			case <-p.witness.heldCh:
				return p
			default:
			}
		}
		select {
		case <-deadline:
			return nil
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// checkStore reads the database: every acknowledged decision is there with the agent's
// verdict and the audit row of its transaction, a delivered one with the audit row of
// its delivery, nothing was decided that no agent asked for; once drained, everything is
// delivered. (crashHarness.checkStore reads a stopped SQLite portal; this one reads the
// instances' database on either engine, with an instance still running on PostgreSQL.)
func (h *twoInstances) checkStore(when string, cases map[string]*crashCase, drained bool) {
	t := h.t
	if !h.pg() && !drained {
		// The one SQLite process is down: the file can be checked as a whole.
		db, err := store.Open(context.Background(), h.target())
		if err != nil {
			t.Fatalf("%s: open the database after the kill: %v", when, err)
		}
		err = db.IntegrityCheck(context.Background())
		db.Close()
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
	}
	db := h.readDB()
	defer db.Close()
	rows, err := db.Query(`SELECT d.process_id, d.verdict, d.state,
		(SELECT count(*) FROM audit_events a WHERE a.object_type = 'process' AND a.object_id = d.process_id AND a.action = 'decision.' || d.verdict),
		(SELECT count(*) FROM audit_events a WHERE a.object_type = 'process' AND a.object_id = d.process_id AND a.action = 'decision.delivery' AND a.outcome = 'success')
		FROM decisions d`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var id string
		var verdict store.Verdict
		var state store.DeliveryState
		var decided, delivered int
		if err := rows.Scan(&id, &verdict, &state, &decided, &delivered); err != nil {
			t.Fatal(err)
		}
		if got[id] {
			t.Errorf("%s: process %s has two decisions", when, id)
		}
		got[id] = true
		c, ok := cases[id]
		switch {
		case !ok:
			t.Errorf("%s: a decision on %s, a process the test never seeded", when, id)
			continue
		case !c.attempted:
			t.Errorf("%s: a decision on %s, which no agent decided", when, id)
		case verdict != c.verdict:
			t.Errorf("%s: %s decided %q, the agent chose %q", when, id, verdict, c.verdict)
		}
		if decided != 1 {
			t.Errorf("%s: the decision on %s has %d decision.%s audit rows, want 1", when, id, decided, verdict)
		}
		switch state {
		case store.StateQueued, store.StateSending:
			if drained {
				t.Errorf("%s: the decision on %s is still %q", when, id, state)
			}
		case store.StateDelivered:
			if delivered != 1 {
				t.Errorf("%s: the delivered decision on %s has %d successful delivery audit rows, want 1", when, id, delivered)
			}
		default:
			t.Errorf("%s: the decision on %s is %q", when, id, state)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for id, c := range cases {
		if c.acked && !got[id] {
			t.Errorf("%s: the portal acknowledged the %s of %s, but the database has no decision", when, c.verdict, id)
		}
	}
}

// TestTwoInstancesAuditChain: agents work on both instances at once (sign-ins, a
// mistyped password, claims, views, notes, decisions, sign-outs) while both deliver the
// decisions and take the gateway's webhooks; `portal audit verify` passes during and
// after, and the chain has no gap: one event per number from 1, each linked to the last.
func TestTwoInstancesAuditChain(t *testing.T) {
	const perAgent, notes = 2, 2
	eachEngine(t, func(t *testing.T, h *twoInstances) {
		agents := []string{"chain.1@example.com", "chain.2@example.com", "chain.3@example.com",
			"chain.4@example.com", "chain.5@example.com", "chain.6@example.com"}
		h.addAgents(agents...)
		h.startAll()
		before := h.auditVerify("before the work")

		setup := h.signIn(h.slots[0], agents[0])
		ids := h.sb.seed(perAgent * len(agents))
		for _, id := range ids {
			h.track(setup, h.slots[0], id)
		}
		type worker struct {
			agent    string
			instance *portalInstance
			ids      []string
			errs     []string
		}
		var workers []*worker
		for i, agent := range agents {
			workers = append(workers, &worker{agent: agent, instance: h.slots[i%2], ids: ids[i*perAgent : (i+1)*perAgent]})
		}
		cases := map[string]*crashCase{}
		for i, id := range ids {
			cases[id] = &crashCase{id: id, verdict: []store.Verdict{store.VerdictAccept, store.VerdictReject}[i%2]}
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				fail := func(format string, args ...any) { w.errs = append(w.errs, fmt.Sprintf(format, args...)) }
				base := w.instance.url()
				// A mistyped password first (a failure row), then the sign-in.
				c := h.newClient()
				if resp, err := c.PostForm(base+"/login", url.Values{"email": {w.agent}, "password": {"not the password at all"}}); err != nil {
					fail("mistyped sign-in: %v", err)
				} else {
					resp.Body.Close()
				}
				c, err := h.trySignIn(base, w.agent)
				if err != nil {
					fail("%v", err)
					return
				}
				for _, id := range w.ids {
					claim, err := openProcess(c, base, id)
					if err != nil || claim == "" {
						fail("open %s: claim %q, %v", id, claim, err)
						continue
					}
					for n := range notes {
						resp, err := c.PostForm(base+"/processes/"+id+"/notes", url.Values{"note": {fmt.Sprintf("note %d by %s on %s", n+1, w.agent, w.instance.label)}})
						if err != nil {
							fail("note on %s: %v", id, err)
							continue
						}
						resp.Body.Close()
						if resp.StatusCode != http.StatusSeeOther {
							fail("note on %s: %s", id, resp.Status)
						}
					}
					status, loc, body, err := postDecision(c, base, id, cases[id].verdict, claim)
					if err != nil || status != http.StatusSeeOther || !strings.Contains(loc, "done=decided") {
						fail("%s %s: %d %q %v\n%s", cases[id].verdict, id, status, loc, err, tail(body, 1<<10))
					}
				}
				if resp, err := c.PostForm(base+"/logout", nil); err != nil {
					fail("sign out: %v", err)
				} else {
					resp.Body.Close()
				}
			}()
		}
		close(start)
		// The chain verifies while both instances write.
		verifying := make(chan struct{})
		go func() { wg.Wait(); close(verifying) }()
		during := 0
	verify:
		for {
			h.auditVerify("during the work")
			during++
			select {
			case <-verifying:
				break verify
			default:
			}
		}
		for _, w := range workers {
			for _, e := range w.errs {
				t.Errorf("%s on %s: %s", w.agent, w.instance.label, e)
			}
		}
		for _, c := range cases {
			c.attempted, c.acked = true, true
		}
		h.waitDrained(ids, 60*time.Second)
		h.stopAll()
		n := h.auditVerify("after the work")

		db := h.readDB()
		defer db.Close()
		var count, first, last int
		if err := db.QueryRow("SELECT count(*), min(id), max(id) FROM audit_events").Scan(&count, &first, &last); err != nil {
			t.Fatal(err)
		}
		if count != n || first != 1 || last != n {
			t.Errorf("audit chain: verified %d events, the table holds %d numbered %d to %d; want one event per number from 1", n, count, first, last)
		}
		actions := map[string]int{}
		rows, err := db.Query("SELECT action || ' ' || outcome, count(*) FROM audit_events GROUP BY action, outcome")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var a string
			var k int
			if err := rows.Scan(&a, &k); err != nil {
				t.Fatal(err)
			}
			actions[a] = k
		}
		rows.Close()
		for what, want := range map[string]int{
			"auth.login success":        len(agents) + 1,
			"auth.logout success":       len(agents),
			"process.note success":      len(ids) * notes,
			"decision.accept success":   len(ids) / 2,
			"decision.reject success":   len(ids) / 2,
			"decision.delivery success": len(ids),
			"process.claim success":     len(ids),
		} {
			if actions[what] != want {
				t.Errorf("audit: %d %q events, want %d", actions[what], what, want)
			}
		}
		if actions["auth.login failure"] < len(agents) {
			t.Errorf("audit: %d failed sign-ins recorded, want at least %d", actions["auth.login failure"], len(agents))
		}
		t.Logf("audit chain: %d events before, %d after (%d verifications while both wrote); by action: %v", before, n, during, actions)
	})
}
