package handlers_test

// The quality bar's evidence-streaming item (Performance): a 100 MiB video through
// the portal at ≥ 80 % of the throughput of fetching it from the sandbox directly,
// with the portal's memory growing by < 16 MiB.
//
//	go test -run '^$' -bench 'Evidence' -benchtime 3x ./handlers/
//	go test -run TestEvidenceStreamingMemoryIsFlat ./handlers/
//
// BenchmarkEvidenceDirect fetches video_liveness from the sandbox's own httptest server
// with a bearer token; BenchmarkEvidenceThroughPortal fetches the same video from an
// httptest server around the portal's Echo application as a signed-in agent, so each
// byte goes sandbox → mobbscan client → proxyEvidence → client. Both run over real
// loopback HTTP, read the body into io.Discard and set b.SetBytes, so the ratio of
// their MB/s is the target. The sandbox, the portal and the benchmark's client all
// run in this one process: the portal case does a second HTTP hop's work (another
// read and write of every byte) on the same cores, which the direct case does not.
//
// Measured on the shared 2-core development machine (README, "Benchmarks"; load
// average 4.5–7 from other work), -benchtime 3x, four runs and one of -count 5:
// direct 1,290–2,070 MB/s, through the portal 630–1,150 MB/s; the ratio per run was
// 0.45–0.58, about one half (target ≥ 0.80: not met here). A CPU profile of the portal
// case is ~88 % read/write syscalls (proxyEvidence itself, the stall timer and the
// middleware are noise): the portal's hop is a second loopback copy of every byte on the
// same two cores, so on one machine the ratio tends to one half (with the gateway on
// another host it would differ; not measured). No defect was found in the streaming
// path. Single streams take
// 50–160 ms, so the numbers move with the machine's load.
// TestEvidenceStreamingMemoryIsFlat measured a peak HeapInuse growth of 0.14–0.21 MiB
// and Sys growth of 0–0.25 MiB (0.20–0.24 MiB allocated in about 800 objects per 100 MiB
// stream, no GC) (target < 16 MiB: met); an io.ReadAll of the same body, tried by hand,
// shows +240 MiB, so the sampler does see buffering.
//
// newGateway takes a *testing.T, so the benchmarks wire the same parts (real store,
// sandbox, mobbscan client, review.Service and handlers.New) with newEvidenceRig below;
// the memory test uses newGateway itself.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/handlers"
	"github.com/mobbscan-review/portal/mobbscan"
	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// evidenceVideoBytes is the size of the large video_liveness.
const evidenceVideoBytes = 100 << 20

// evidenceRig is a portal and its sandbox, each behind its own loopback HTTP server,
// with one process in review and a signed-in agent.
type evidenceRig struct {
	gwURL     string       // the sandbox's server
	portalURL string       // the portal's server
	cookie    *http.Cookie // the agent's session
	id        string       // a process in review, indexed by the portal
}

// newEvidenceRig wires the application as newGateway (and main.go) does, for a
// benchmark: a real SQLite file, the sandbox with a video of evidenceVideoBytes, a real
// mobbscan client and review.Service, handlers.New with every middleware. Unlike
// newGateway it discards the logs, runs no inbox loop (no webhooks here) and indexes
// its process with review.Service.Track rather than a notification.
func newEvidenceRig(tb testing.TB) *evidenceRig {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(tb.TempDir(), "portal.db"))
	if err != nil {
		tb.Fatalf("store.Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	clk := &clock{now: time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC)}
	db.Now = clk.Now

	sb, err := sandbox.New(sandbox.Config{Control: true, Seed: 1, Now: clk.Now, WebhookRetries: -1})
	if err != nil {
		tb.Fatalf("sandbox.New: %v", err)
	}
	sb.SetLargeVideo(evidenceVideoBytes)
	gwSrv := httptest.NewServer(sb)
	tb.Cleanup(func() {
		sb.Close()
		gwSrv.Close()
	})
	client, err := mobbscan.New(mobbscan.Config{
		BaseURL: gwSrv.URL, APIKey: sandbox.DefaultAPIKey, APISecret: sandbox.DefaultAPISecret,
		DialTimeout: 2 * time.Second, HeaderTimeout: 5 * time.Second, CallTimeout: 10 * time.Second,
		StallTimeout: 5 * time.Second, Now: clk.Now,
	})
	if err != nil {
		tb.Fatalf("mobbscan.New: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rv := review.New(db, client, log, review.Config{WebhookToken: testWebhookToken})
	hasher := auth.NewHasher(auth.TestParams)
	sessions := auth.NewSessionStore(db, auth.SessionConfig{})
	throttle := auth.NewThrottle(auth.ThrottleConfig{})
	throttle.Now = clk.Now
	e := handlers.New(handlers.Config{Logger: log}, handlers.Deps{
		DB: db, Sessions: sessions, Hasher: hasher, Review: rv, Inbox: review.NewInbox(db),
		Authenticator: &auth.Authenticator{DB: db, Hasher: hasher, Throttle: throttle},
	})
	portal := httptest.NewServer(e)
	tb.Cleanup(portal.Close)

	// An agent, signed in through the login form over HTTP (as buildBenchApp does).
	hash, err := hasher.Hash(pwAgent)
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.CreateUser(ctx, store.System, &store.User{Email: "agent@example.com", DisplayName: "Alan Agent",
		Role: store.RoleAgent, Active: true, PasswordHash: hash}); err != nil {
		tb.Fatalf("CreateUser: %v", err)
	}
	rig := &evidenceRig{gwURL: gwSrv.URL, portalURL: portal.URL}
	rig.cookie = signInCookie(tb, portal.URL, sessions.Config().CookieName(), "agent@example.com", pwAgent)

	// One process in review at the sandbox, indexed by the portal.
	ids, err := sb.Seed(sandbox.SeedSpec{Count: 1, Silent: true})
	if err != nil {
		tb.Fatalf("sandbox seed: %v", err)
	}
	if _, err := rv.Track(ctx, store.System, ids[0]); err != nil {
		tb.Fatalf("Track %s: %v", ids[0], err)
	}
	rig.id = ids[0]
	return rig
}

// loopbackClient is a plain HTTP client that takes bytes as sent (no gzip) and
// follows no redirects.
func loopbackClient(tb testing.TB) *http.Client {
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signInCookie posts the sign-in form to the portal at base and returns the session
// cookie it sets.
func signInCookie(tb testing.TB, base, cookieName, email, password string) *http.Cookie {
	tb.Helper()
	form := "email=" + url.QueryEscape(email) + "&password=" + url.QueryEscape(password)
	req, err := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(form))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := loopbackClient(tb).Do(req)
	if err != nil {
		tb.Fatalf("sign in: %v", err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == cookieName && c.Value != "" && resp.StatusCode == http.StatusSeeOther {
			return &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	tb.Fatalf("sign in as %s: status %d, no session cookie", email, resp.StatusCode)
	return nil
}

// sandboxToken gets a bearer token from the sandbox at base, as the client does.
func sandboxToken(tb testing.TB, base string) string {
	tb.Helper()
	body, _ := json.Marshal(map[string]string{"api_key": sandbox.DefaultAPIKey, "api_secret": sandbox.DefaultAPISecret})
	resp, err := loopbackClient(tb).Post(base+"/auth/token", "application/json", bytes.NewReader(body))
	if err != nil {
		tb.Fatalf("POST /auth/token: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"accessToken"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.AccessToken == "" {
		tb.Fatalf("POST /auth/token: status %d, %v, token %q", resp.StatusCode, err, out.AccessToken)
	}
	return out.AccessToken
}

// directVideoRequest asks the sandbox for the video, as the mobbscan client does.
func directVideoRequest(tb testing.TB, gwURL, token, id string) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, gwURL+"/mobbscan-agent/"+id+"/recording/"+sandbox.EvidenceVideoLiveness, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}

// portalVideoRequest asks the portal for the video, as the agent's browser does.
func portalVideoRequest(tb testing.TB, portalURL string, cookie *http.Cookie, id string) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, portalURL+evidencePath(id, sandbox.EvidenceVideoLiveness), nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.AddCookie(cookie)
	return req
}

// fetchVideo sends req and reads the answer into io.Discard; it fails unless the answer
// is a 200 video/webm whose body has exactly its Content-Length of evidenceVideoBytes.
func fetchVideo(tb testing.TB, client *http.Client, req *http.Request) int64 {
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatalf("GET %s: %v", req.URL.Path, err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		tb.Fatalf("GET %s: reading the body after %d bytes: %v", req.URL.Path, n, err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != sandbox.VideoContentType {
		tb.Fatalf("GET %s: status %d, Content-Type %q; want 200 %s", req.URL.Path, resp.StatusCode, resp.Header.Get("Content-Type"), sandbox.VideoContentType)
	}
	if resp.ContentLength != evidenceVideoBytes || n != resp.ContentLength {
		tb.Fatalf("GET %s: received %d bytes, Content-Length %d; want both %d", req.URL.Path, n, resp.ContentLength, evidenceVideoBytes)
	}
	return n
}

// BenchmarkEvidenceDirect: the 100 MiB video fetched from the sandbox directly over
// loopback HTTP with a bearer token: the baseline of BenchmarkEvidenceThroughPortal.
func BenchmarkEvidenceDirect(b *testing.B) {
	rig := newEvidenceRig(b)
	client := loopbackClient(b)
	token := sandboxToken(b, rig.gwURL)
	fetchVideo(b, client, directVideoRequest(b, rig.gwURL, token, rig.id)) // warm: connection and token
	b.SetBytes(evidenceVideoBytes)
	b.ReportAllocs()
	for b.Loop() {
		fetchVideo(b, client, directVideoRequest(b, rig.gwURL, token, rig.id))
	}
}

// BenchmarkEvidenceThroughPortal: the same video through the portal's evidence route as
// a signed-in agent (session check, audit row, allow-list, then the streamed copy).
func BenchmarkEvidenceThroughPortal(b *testing.B) {
	rig := newEvidenceRig(b)
	client := loopbackClient(b)
	fetchVideo(b, client, portalVideoRequest(b, rig.portalURL, rig.cookie, rig.id)) // warm: connections and the portal's token
	b.SetBytes(evidenceVideoBytes)
	b.ReportAllocs()
	for b.Loop() {
		fetchVideo(b, client, portalVideoRequest(b, rig.portalURL, rig.cookie, rig.id))
	}
}

// memPeak samples runtime.MemStats every few milliseconds until stopped and keeps the
// highest HeapInuse and Sys seen.
type memPeak struct {
	heapInuse, sys uint64
	samples        int

	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
}

func sampleMemory(every time.Duration) *memPeak {
	m := &memPeak{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			m.sample()
			select {
			case <-m.stop:
				m.sample()
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

func (m *memPeak) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.heapInuse = max(m.heapInuse, ms.HeapInuse)
	m.sys = max(m.sys, ms.Sys)
	m.samples++
}

// end stops the sampling and returns the peaks and the number of samples.
func (m *memPeak) end() (heapInuse, sys uint64, samples int) {
	close(m.stop)
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.heapInuse, m.sys, m.samples
}

// TestEvidenceStreamingMemoryIsFlat: streaming the 100 MiB video through the portal
// once, over loopback HTTP as a signed-in agent, grows neither the heap in use nor the
// memory obtained from the OS by 16 MiB, and every byte of the Content-Length arrives.
// The measure is of the whole test process (sandbox, mobbscan client, portal and the
// reading client together), so it bounds the portal's own growth from above. Not
// parallel: a sequential test runs while every parallel test of the package waits, so
// no other test allocates meanwhile. No timing assertions.
func TestEvidenceStreamingMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 100 MiB; skipped with -short")
	}
	g := newGateway(t)
	g.sb.SetLargeVideo(evidenceVideoBytes)
	id := g.reviewable(1)[0]
	portal := httptest.NewServer(g.e)
	t.Cleanup(portal.Close)
	cookie := g.agentB.cookies[g.cookieName()]
	if cookie == nil {
		t.Fatal("the agent has no session cookie")
	}
	client := loopbackClient(t)
	req := portalVideoRequest(t, portal.URL, &http.Cookie{Name: cookie.Name, Value: cookie.Value}, id)

	runtime.GC()
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	peaks := sampleMemory(2 * time.Millisecond)
	n := fetchVideo(t, client, req) // checks 200, video/webm and n == Content-Length == 100 MiB
	heapPeak, sysPeak, samples := peaks.end()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	const limit = 16 << 20
	heapGrowth := int64(heapPeak) - int64(base.HeapInuse)
	sysGrowth := int64(sysPeak) - int64(base.Sys)
	t.Logf("%d bytes streamed; %d samples; HeapInuse %s → peak %s (%s); Sys %s → peak %s (%s); allocated meanwhile %s in %d objects, %d GCs",
		n, samples, mib(base.HeapInuse), mib(heapPeak), mibSigned(heapGrowth), mib(base.Sys), mib(sysPeak), mibSigned(sysGrowth),
		mib(after.TotalAlloc-base.TotalAlloc), after.Mallocs-base.Mallocs, after.NumGC-base.NumGC)
	if samples < 2 {
		t.Errorf("only %d memory samples: the peak is not measured", samples)
	}
	if heapGrowth >= limit {
		t.Errorf("HeapInuse grew by %s while streaming %d bytes, want < 16 MiB (P1: evidence is streamed, not held)", mibSigned(heapGrowth), n)
	}
	if sysGrowth >= limit {
		t.Errorf("Sys grew by %s while streaming %d bytes, want < 16 MiB", mibSigned(sysGrowth), n)
	}
	if got := g.countAudit("evidence.view", store.OutcomeSuccess); got != 1 {
		t.Errorf("evidence.view audit rows: %d, want 1", got)
	}
}

func mib(n uint64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }

func mibSigned(n int64) string { return fmt.Sprintf("%+.2f MiB", float64(n)/(1<<20)) }
