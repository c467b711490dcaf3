package processtest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// TestCrashSafety is D4 end to end: the real binary, killed with SIGKILL over and
// over while an agent decides and the delivery worker sends, must lose no decision
// it acknowledged and apply none twice.
//
// Three children and a witness:
//   - the sandbox gateway runs as its own process for the whole test and is never
//     killed: it is the independent record of what was applied;
//   - the portal is started and SIGKILLed once per round, always on the same address
//     and data folder, so the sandbox's webhook keeps reaching it;
//   - between the portal and the sandbox sits a recording proxy in this test process
//     (it survives every kill too). It logs every accept and reject call the portal
//     makes, with the gateway's answer, and can hold a call so that a kill lands at
//     the two moments that matter: after the gateway applied a decision but before the
//     portal heard of it, and while the call is still on its way (it is then dropped).
//
// Each round kills the portal at one of three kinds of moment (a random delay into
// the deciding, a held answer, a held request), waits for it to die, and checks the
// database left behind: PRAGMA integrity_check, `portal audit verify`, every
// acknowledged decision durable with its audit row. After the last round the portal
// runs once more until its outbox drains, and the test checks the sandbox and the
// proxy's log: every acknowledged decision applied exactly once with its verdict,
// nothing applied that the agent did not ask for, and no decision sent again to a
// gateway that already had it (D3: read the status after an interruption).
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary over 30 crash rounds")
	}
	const rounds = 30
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>1|1))
	t.Logf("random seed %d", seed)

	tmp := t.TempDir()
	bin := filepath.Join(tmp, "portal")
	build := exec.Command("go", "build", "-o", bin, "github.com/mobbscan-review/portal")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	h := &crashHarness{t: t, bin: bin, dataDir: filepath.Join(tmp, "portal-data"),
		portalAddr: freePort(t), token: "crash-test-webhook-token-0123456789abcdefXYZ"}
	h.startSandbox(filepath.Join(tmp, "sandbox-data"))
	h.startWitness()
	t.Cleanup(h.killPortal)
	defer func() {
		if t.Failed() {
			t.Logf("portal output (last part):\n%s", tail(h.portalOut.String(), 24<<10))
			t.Logf("sandbox output (last part):\n%s", tail(h.sandboxOut.String(), 8<<10))
			t.Logf("gateway calls seen by the witness:\n%s", h.witness.describe())
		}
	}()

	// The agent exists before the first start (the portal must not be running).
	if err := os.MkdirAll(h.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	addUser(t, h.dataDir, crashEmail, "Crash Agent", store.RoleAgent, crashPassword)

	cases := map[string]*crashCase{} // every seeded process, by id
	var order []string
	var stats struct{ randomKills, answerHeldKills, requestHeldKills, sendingAtKill, unknownOutcomes int }
	for round := 1; round <= rounds; round++ {
		h.round = round
		fmt.Fprintf(&h.portalOut, "\n===== round %d =====\n", round)
		h.startPortal()
		client := h.signIn()

		// New processes in review, tracked so the portal's index has them now.
		for _, id := range h.seed(2 + rng.IntN(5)) {
			verdict := store.VerdictAccept
			if len(order)%2 == 1 {
				verdict = store.VerdictReject
			}
			cases[id] = &crashCase{id: id, verdict: verdict}
			order = append(order, id)
			h.track(client, id)
		}
		// The agent works through everything not yet acknowledged: first the
		// decisions whose answer a kill swallowed (sent again, as a person would),
		// then the new ones.
		var todo []*crashCase
		for _, id := range order {
			if c := cases[id]; !c.acked && c.attempted {
				todo = append(todo, c)
			}
		}
		for _, id := range order {
			if c := cases[id]; !c.acked && !c.attempted {
				todo = append(todo, c)
			}
		}

		mode := round % 3
		hold := time.Duration(rng.IntN(80)) * time.Millisecond
		if mode != 0 {
			hold = 800 * time.Millisecond
		}
		h.witness.configure(mode, hold)

		done := make(chan crashDecideResult, 1)
		go func() { done <- crashDecide(client, h.portalURL(), todo) }()
		switch mode {
		case 0:
			stats.randomKills++
			time.Sleep(time.Duration(20+rng.IntN(900)) * time.Millisecond)
		case 1, 2:
			// Kill when a decision call is held: after the gateway applied it (1) or
			// before it was forwarded (2). A round whose agent has nothing to decide
			// may see no call at all; the deadline keeps it bounded.
			select {
			case <-h.witness.heldCh:
				if mode == 1 {
					stats.answerHeldKills++
				} else {
					stats.requestHeldKills++
				}
			case <-time.After(20 * time.Second):
				t.Logf("round %d: no gateway decision call to kill on", round)
			}
		}
		h.killPortal()
		var res crashDecideResult
		select {
		case res = <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: the deciding agent did not stop after the kill", round)
		}
		client.CloseIdleConnections()
		for _, p := range res.problems {
			t.Errorf("round %d: %s", round, p)
		}
		for _, id := range res.attempted {
			cases[id].attempted = true
		}
		for _, id := range res.acked {
			cases[id].acked = true
		}
		stats.unknownOutcomes += len(res.unknown)
		h.witness.waitIdle(t)
		h.witness.configure(0, 0)

		// What the kill left behind.
		stats.sendingAtKill += h.checkStore(cases, false)
		h.auditVerify()
		if t.Failed() {
			t.FailNow()
		}
	}

	// A last start: whatever is left undecided is decided, and the outbox drains.
	fmt.Fprintf(&h.portalOut, "\n===== final run =====\n")
	h.round = rounds + 1
	h.startPortal()
	client := h.signIn()
	var todo []*crashCase
	for _, id := range order {
		if !cases[id].acked {
			todo = append(todo, cases[id])
		}
	}
	res := crashDecide(client, h.portalURL(), todo)
	for _, p := range res.problems {
		t.Errorf("final run: %s", p)
	}
	for _, id := range res.attempted {
		cases[id].attempted = true
	}
	for _, id := range res.acked {
		cases[id].acked = true
	}
	for _, id := range res.unknown {
		t.Errorf("final run: decision on %s got no answer from a running portal", id)
	}
	h.waitDrained(cases, order)
	h.stopPortal()
	h.checkStore(cases, true)
	h.auditVerify()
	h.checkFinal(cases, order)

	acked := 0
	for _, c := range cases {
		if c.acked {
			acked++
		}
	}
	t.Logf("%d rounds: %d processes, %d decisions acknowledged; kills: %d at random moments, %d with an applied answer held, %d with a request held; "+
		"%d decisions were mid-delivery at a kill; %d decision answers lost to kills",
		rounds, len(cases), acked, stats.randomKills, stats.answerHeldKills, stats.requestHeldKills, stats.sendingAtKill, stats.unknownOutcomes)
	if acked != len(cases) {
		t.Fatalf("%d of %d processes were acknowledged after the final run", acked, len(cases))
	}
}

const (
	crashEmail    = "crash.agent@example.com"
	crashPassword = "quiet river lantern sunrise"
)

// crashCase is one seeded process and what the agent got for deciding it.
type crashCase struct {
	id        string
	verdict   store.Verdict // the only verdict the agent ever asks for on this process
	attempted bool          // a decision was posted at least once
	acked     bool          // the portal answered 303 to a decision post
}

type crashHarness struct {
	t          *testing.T
	bin        string
	dataDir    string
	portalAddr string
	token      string
	round      int

	sandboxURL string
	sandboxCmd *exec.Cmd
	sandboxOut syncBuffer

	witness    *gatewayWitness
	witnessURL string

	portalCmd  *exec.Cmd
	portalDone chan struct{}
	portalOut  syncBuffer
}

func (h *crashHarness) portalURL() string { return "http://" + h.portalAddr }

// childEnv is the environment without any PORTAL_* of the caller's, plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PORTAL_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func (h *crashHarness) startSandbox(dir string) {
	t := h.t
	addr := freePort(t)
	h.sandboxURL = "http://" + addr
	cmd := exec.Command(h.bin, "sandbox", "--addr", addr, "--data-dir", dir, "--initial", "0", "--trickle", "0",
		"--webhook", h.portalURL()+"/webhooks/mobbscan/"+h.token)
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = &h.sandboxOut, &h.sandboxOut
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	h.sandboxCmd = cmd
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	waitFor(t, "sandbox", 30*time.Second, func() bool {
		resp, err := http.Get(h.sandboxURL + "/_sandbox/stats")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, func() string { return h.sandboxOut.String() })
}

func (h *crashHarness) startWitness() {
	t := h.t
	target, _ := url.Parse(h.sandboxURL)
	h.witness = &gatewayWitness{heldCh: make(chan string, 1)}
	rp := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport: h.witness,
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	h.witnessURL = "http://" + ln.Addr().String()
}

func (h *crashHarness) startPortal() {
	t := h.t
	cmd := exec.Command(h.bin, "serve")
	cmd.Env = childEnv(
		"PORTAL_ADDR="+h.portalAddr,
		"PORTAL_DATA_DIR="+h.dataDir,
		"PORTAL_MOBBSCAN_URL="+h.witnessURL,
		"PORTAL_MOBBSCAN_API_KEY=sandbox-key",
		"PORTAL_MOBBSCAN_API_SECRET=sandbox-secret",
		"PORTAL_WEBHOOK_TOKEN="+h.token,
		"PORTAL_DELIVERY_RETRY_BASE=100ms",
		"PORTAL_RECONCILE_EVERY=1s",
		"PORTAL_TEST_CHEAP_HASH=1",
		"PORTAL_LOG_LEVEL=info",
	)
	cmd.Stdout, cmd.Stderr = &h.portalOut, &h.portalOut
	if err := cmd.Start(); err != nil {
		t.Fatalf("round %d: start portal: %v", h.round, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	h.portalCmd, h.portalDone = cmd, done
	waitFor(t, fmt.Sprintf("round %d: portal /healthz", h.round), 30*time.Second, func() bool {
		select {
		case <-done:
			t.Fatalf("round %d: the portal exited at start: %v\n%s", h.round, cmd.ProcessState, tail(h.portalOut.String(), 8<<10))
		default:
		}
		resp, err := http.Get(h.portalURL() + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, func() string { return tail(h.portalOut.String(), 8<<10) })
}

// killPortal SIGKILLs the running portal, if any, and waits until it is gone.
func (h *crashHarness) killPortal() {
	if h.portalCmd == nil {
		return
	}
	h.portalCmd.Process.Kill()
	<-h.portalDone
	h.portalCmd = nil
}

// stopPortal stops the portal the polite way (SIGTERM) and waits.
func (h *crashHarness) stopPortal() {
	h.portalCmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.portalDone:
	case <-time.After(40 * time.Second):
		h.t.Errorf("the portal did not stop within 40s of SIGTERM")
		h.portalCmd.Process.Kill()
		<-h.portalDone
	}
	if st := h.portalCmd.ProcessState; !st.Success() {
		h.t.Errorf("the portal's graceful stop ended with %v", st)
	}
	h.portalCmd = nil
}

// signIn returns a client with a session that follows no redirects.
func (h *crashHarness) signIn() *http.Client {
	t := h.t
	jar, _ := cookiejar.New(nil)
	client := &http.Client{
		Jar: jar, Timeout: 20 * time.Second, Transport: &http.Transport{},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.PostForm(h.portalURL()+"/login", url.Values{"email": {crashEmail}, "password": {crashPassword}})
	if err != nil {
		t.Fatalf("round %d: sign in: %v", h.round, err)
	}
	resp.Body.Close()
	u, _ := url.Parse(h.portalURL())
	if resp.StatusCode != http.StatusSeeOther || len(jar.Cookies(u)) == 0 {
		t.Fatalf("round %d: sign in: %s, %d cookies", h.round, resp.Status, len(jar.Cookies(u)))
	}
	return client
}

// seed creates n clean processes in review in the sandbox.
func (h *crashHarness) seed(n int) []string {
	t := h.t
	body, _ := json.Marshal(map[string]any{"count": n, "states": []string{"REVIEW"}, "outcome": "clean"})
	resp, err := http.Post(h.sandboxURL+"/_sandbox/seed", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	defer resp.Body.Close()
	var out struct{ IDs []string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || len(out.IDs) != n {
		t.Fatalf("seed: %s, %v, %v", resp.Status, err, out.IDs)
	}
	return out.IDs
}

// track puts a process in the portal's index now (the webhook may race it; both are fine).
func (h *crashHarness) track(client *http.Client, id string) {
	t := h.t
	resp, err := client.PostForm(h.portalURL()+"/processes/track", url.Values{"id": {id}})
	if err != nil {
		t.Fatalf("round %d: track %s: %v", h.round, id, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/processes/"+id {
		t.Fatalf("round %d: track %s: %s to %q", h.round, id, resp.Status, resp.Header.Get("Location"))
	}
}

type crashDecideResult struct {
	attempted []string // decision posted
	acked     []string // answered 303 to the next case
	unknown   []string // posted, no answer: it may or may not have been recorded
	problems  []string
}

var (
	crashClaimRE = regexp.MustCompile(`name="claim" value="([0-9]+)"`)
	crashImgRE   = regexp.MustCompile(`<img [^>]*?src="(/processes/[^"]+/evidence/[a-z_]+)"`)
)

// crashDecide opens each case as a browser does (claims it with a POST, loads the page
// and its images) and decides it, in turn, until the portal stops answering. It runs
// in its own goroutine while the test kills the portal.
func crashDecide(client *http.Client, base string, cases []*crashCase) crashDecideResult {
	var res crashDecideResult
	get := func(path string) (string, int, error) {
		resp, err := client.Get(base + path)
		if err != nil {
			return "", 0, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.StatusCode, nil
	}
	for _, c := range cases {
		// The claim: refused (409) when a kill swallowed the answer to a decision that
		// was recorded; the decision is then sent again, as a person would.
		resp, err := client.PostForm(base+"/processes/"+c.id+"/claim", nil)
		if err != nil {
			return res // the portal is gone; nothing was posted
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		// The page the claim leads to (?claimed=N) holds it; a refused claim shows the
		// page as it is.
		path := "/processes/" + c.id
		if loc := resp.Header.Get("Location"); resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc, path+"?") {
			path = loc
		}
		page, status, err := get(path)
		if err != nil {
			return res
		}
		if status != http.StatusOK {
			res.problems = append(res.problems, fmt.Sprintf("GET /processes/%s: %d", c.id, status))
			return res
		}
		for _, m := range crashImgRE.FindAllStringSubmatch(page, -1) {
			if _, _, err := get(m[1]); err != nil {
				return res
			}
		}
		form := url.Values{}
		if m := crashClaimRE.FindStringSubmatch(page); m != nil {
			form.Set("claim", m[1])
		}
		if c.verdict == store.VerdictReject {
			form.Set("reason", "1")
		}
		res.attempted = append(res.attempted, c.id)
		resp, err = client.PostForm(base+"/processes/"+c.id+"/"+string(c.verdict), form)
		if err != nil {
			res.unknown = append(res.unknown, c.id)
			return res
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "done=decided") {
			res.problems = append(res.problems, fmt.Sprintf("POST %s %s: %s to %q: %s", c.verdict, c.id, resp.Status, resp.Header.Get("Location"), b))
			return res
		}
		res.acked = append(res.acked, c.id)
	}
	return res
}

// checkStore opens the stopped portal's database: PRAGMA integrity_check; every
// acknowledged decision is there with its verdict; every decision has the audit row
// of its transaction (and a delivered one the audit row of its delivery); once drained,
// every decision is delivered. It returns how many decisions a kill left mid-delivery.
func (h *crashHarness) checkStore(cases map[string]*crashCase, drained bool) int {
	t := h.t
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(h.dataDir, "portal.db"))
	if err != nil {
		t.Fatalf("round %d: open the database after the kill: %v", h.round, err)
	}
	defer db.Close()
	if err := db.IntegrityCheck(ctx); err != nil {
		t.Fatalf("round %d: %v", h.round, err)
	}
	rows, err := db.SQL().QueryContext(ctx, `SELECT d.process_id, d.verdict, d.state,
		(SELECT count(*) FROM audit_events a WHERE a.object_type = 'process' AND a.object_id = d.process_id AND a.action = 'decision.' || d.verdict),
		(SELECT count(*) FROM audit_events a WHERE a.object_type = 'process' AND a.object_id = d.process_id AND a.action = 'decision.delivery' AND a.outcome = 'success')
		FROM decisions d`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type row struct {
		verdict            store.Verdict
		state              store.DeliveryState
		decided, delivered int
	}
	got := map[string]row{}
	for rows.Next() {
		var id string
		var r row
		if err := rows.Scan(&id, &r.verdict, &r.state, &r.decided, &r.delivered); err != nil {
			t.Fatal(err)
		}
		if _, dup := got[id]; dup {
			t.Errorf("round %d: process %s has two decisions", h.round, id)
		}
		got[id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sending := 0
	for id, r := range got {
		c, ok := cases[id]
		switch {
		case !ok:
			t.Errorf("round %d: a decision on %s, a process the test never seeded", h.round, id)
		case !c.attempted:
			t.Errorf("round %d: a decision on %s, which the agent never decided", h.round, id)
		case r.verdict != c.verdict:
			t.Errorf("round %d: %s decided %q, the agent chose %q", h.round, id, r.verdict, c.verdict)
		}
		if r.decided != 1 {
			t.Errorf("round %d: decision on %s has %d decision.%s audit rows, want 1", h.round, id, r.decided, r.verdict)
		}
		switch r.state {
		case store.StateQueued, store.StateSending:
			if drained {
				t.Errorf("after draining, the decision on %s is still %q", id, r.state)
			}
			if r.state == store.StateSending {
				sending++
			}
		case store.StateDelivered:
			if r.delivered != 1 {
				t.Errorf("round %d: delivered decision on %s has %d successful delivery audit rows, want 1", h.round, id, r.delivered)
			}
		default:
			t.Errorf("round %d: decision on %s is %q", h.round, id, r.state)
		}
	}
	for id, c := range cases {
		if _, ok := got[id]; c.acked && !ok {
			t.Errorf("round %d: the portal acknowledged the %s of %s, but the database has no decision", h.round, c.verdict, id)
		}
	}
	return sending
}

// auditVerify runs `portal audit verify` on the data folder.
func (h *crashHarness) auditVerify() {
	cmd := exec.Command(h.bin, "audit", "verify", "--data-dir", h.dataDir)
	cmd.Env = childEnv()
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "audit chain intact") {
		h.t.Fatalf("round %d: portal audit verify: %v\n%s", h.round, err, out)
	}
}

type sandboxView struct {
	Status  string `json:"status"`
	Verdict string `json:"verdict"`
	Accepts int    `json:"acceptsApplied"`
	Rejects int    `json:"rejectsApplied"`
}

func (h *crashHarness) sandboxProcess(id string) (sandboxView, error) {
	var v sandboxView
	resp, err := http.Get(h.sandboxURL + "/_sandbox/processes/" + url.PathEscape(id))
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("sandbox: %s", resp.Status)
	}
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

func wantSandboxVerdict(verdict store.Verdict) string {
	if verdict == store.VerdictReject {
		return "REJECTED"
	}
	return "ACCEPTED"
}

// waitDrained waits (bounded) until the sandbox holds every acknowledged decision and
// the portal has recorded every delivery; it reads the database without writing.
func (h *crashHarness) waitDrained(cases map[string]*crashCase, order []string) {
	t := h.t
	ro, err := sql.Open("sqlite", "file:"+filepath.ToSlash(filepath.Join(h.dataDir, "portal.db"))+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	var missing []string
	var undelivered int
	drained := func() bool {
		missing = missing[:0]
		for _, id := range order {
			if c := cases[id]; c.acked {
				v, err := h.sandboxProcess(id)
				if err != nil || v.Verdict == "" {
					missing = append(missing, id)
				}
			}
		}
		if err := ro.QueryRow("SELECT count(*) FROM decisions WHERE state <> 'delivered'").Scan(&undelivered); err != nil {
			undelivered = -1
		}
		return len(missing) == 0 && undelivered == 0
	}
	deadline := time.Now().Add(60 * time.Second)
	for !drained() {
		if time.Now().After(deadline) {
			t.Fatalf("the outbox did not drain within 60s of the last start: sandbox lacks %d acknowledged decisions %v; %d decisions not delivered in the portal",
				len(missing), missing, undelivered)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkFinal compares the sandbox, the witness's log of gateway calls and what the
// agent was told.
func (h *crashHarness) checkFinal(cases map[string]*crashCase, order []string) {
	t := h.t
	calls := h.witness.byProcess()
	for _, id := range order {
		c := cases[id]
		v, err := h.sandboxProcess(id)
		if err != nil {
			t.Errorf("sandbox process %s: %v", id, err)
			continue
		}
		applied := v.Accepts + v.Rejects
		switch {
		case applied > 1:
			t.Errorf("%s: the sandbox applied %d decisions (%d accepts, %d rejects), want at most 1", id, applied, v.Accepts, v.Rejects)
		case c.acked && applied != 1:
			t.Errorf("%s: the portal acknowledged a %s, but the sandbox applied %d decisions (status %s)", id, c.verdict, applied, v.Status)
		case !c.attempted && applied != 0:
			t.Errorf("%s: never decided by the agent, yet the sandbox applied %d decisions (verdict %q)", id, applied, v.Verdict)
		}
		if applied > 0 && v.Verdict != wantSandboxVerdict(c.verdict) {
			t.Errorf("%s: the sandbox holds %q, the agent chose %s", id, v.Verdict, c.verdict)
		}
		// Every decision reached the gateway in exactly one call that it accepted: a
		// second call would mean the portal sent again without reading the status
		// after an interruption (D3), which a gateway that is not idempotent would
		// apply twice.
		var ok, other []string
		for _, call := range calls[id] {
			switch {
			case call.Status == http.StatusOK:
				ok = append(ok, call.String())
			case !call.Dropped:
				other = append(other, call.String())
			}
		}
		if applied > 0 && len(ok) != 1 {
			t.Errorf("%s: %d accepted decision calls reached the gateway, want 1: %v", id, len(ok), ok)
		}
		if len(other) > 0 {
			t.Errorf("%s: decision calls the gateway refused or never answered: %v", id, other)
		}
	}
}

// gatewayWitness is the recording proxy between the portal and the sandbox. It logs
// every accept and reject call with the sandbox's answer and, per round, holds calls
// so that a kill lands at a chosen moment: mode 1 holds the answer after the sandbox
// applied the decision; mode 2 holds the request before forwarding it and drops it
// when the portal dies meanwhile. Forwarding ignores the portal's disconnection, so
// a forwarded call always gets the sandbox's answer on record.
type gatewayWitness struct {
	mu       sync.Mutex
	calls    []gatewayCall
	inflight int
	mode     int
	hold     time.Duration
	heldCh   chan string
}

type gatewayCall struct {
	ID, Route string
	Status    int    // the sandbox's answer; 0 when not forwarded
	Dropped   bool   // never forwarded: the portal died while it was held
	Note      string // why not forwarded, or the transport error
}

func (c gatewayCall) String() string {
	if c.Status == 0 {
		return fmt.Sprintf("%s %s (%s)", c.Route, c.ID, c.Note)
	}
	return fmt.Sprintf("%s %s → %d", c.Route, c.ID, c.Status)
}

func (w *gatewayWitness) configure(mode int, hold time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.mode, w.hold = mode, hold
	select {
	case <-w.heldCh:
	default:
	}
}

func (w *gatewayWitness) record(c gatewayCall) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, c)
}

func (w *gatewayWitness) signalHeld(id string) {
	select {
	case w.heldCh <- id:
	default:
	}
}

func (w *gatewayWitness) RoundTrip(req *http.Request) (*http.Response, error) {
	route := ""
	if req.Method == http.MethodPost {
		switch req.URL.Path {
		case "/mobbscan-agent/accept":
			route = "accept"
		case "/mobbscan-agent/reject":
			route = "reject"
		}
	}
	if route == "" {
		return http.DefaultTransport.RoundTrip(req)
	}
	w.mu.Lock()
	w.inflight++
	mode, hold := w.mode, w.hold
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.inflight--
		w.mu.Unlock()
	}()

	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	var b struct {
		VerificationID string `json:"verificationId"`
	}
	json.Unmarshal(body, &b)
	call := gatewayCall{ID: b.VerificationID, Route: route}
	if err != nil {
		call.Dropped, call.Note = true, "request cut short: "+err.Error()
		w.record(call)
		return nil, err
	}
	if mode == 2 {
		w.signalHeld(b.VerificationID)
		select {
		case <-time.After(hold):
		case <-req.Context().Done():
			call.Dropped, call.Note = true, "dropped: the portal died before it was forwarded"
			w.record(call)
			return nil, req.Context().Err()
		}
	}
	out := req.Clone(context.WithoutCancel(req.Context()))
	out.Body, out.ContentLength, out.GetBody = io.NopCloser(bytes.NewReader(body)), int64(len(body)), nil
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		call.Note = "transport: " + err.Error()
		w.record(call)
		return nil, err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	call.Status = resp.StatusCode
	w.record(call)
	if err != nil {
		return nil, err
	}
	if mode == 1 {
		w.signalHeld(b.VerificationID)
		time.Sleep(hold) // the gateway has acted; the portal does not know yet
	} else if hold > 0 {
		time.Sleep(hold)
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return resp, nil
}

// waitIdle waits until no decision call is passing through, so that a call the
// killed portal left behind is on record before the next start.
func (w *gatewayWitness) waitIdle(t *testing.T) {
	t.Helper()
	quiet := 0
	for deadline := time.Now().Add(15 * time.Second); quiet < 3; time.Sleep(20 * time.Millisecond) {
		w.mu.Lock()
		n := w.inflight
		w.mu.Unlock()
		if n == 0 {
			quiet++
		} else {
			quiet = 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d gateway decision calls still in flight 15s after the kill", n)
		}
	}
}

func (w *gatewayWitness) byProcess() map[string][]gatewayCall {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string][]gatewayCall{}
	for _, c := range w.calls {
		out[c.ID] = append(out[c.ID], c)
	}
	return out
}

func (w *gatewayWitness) describe() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	lines := make([]string, len(w.calls))
	for i, c := range w.calls {
		lines[i] = c.String()
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// waitFor polls ok until it is true or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, ok func() bool, detail func() string) {
	t.Helper()
	for deadline := time.Now().Add(d); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not ready within %s\n%s", what, d, detail())
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
