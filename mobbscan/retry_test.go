package mobbscan_test

// O4: transient gateway failures are absorbed. The client against the sandbox
// (and, for a gateway failing every 20th request, the sandbox behind a
// wrapper), counting the requests the gateway saw.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/mobbscan"
	"github.com/mobbscan-review/portal/mobbscan/sandbox"
)

// fastRetries keeps the pauses between attempts short; the policy's own
// delays are checked in TestRetryDelay.
func fastRetries(cfg *mobbscan.Config) { cfg.RetryDelay = time.Millisecond }

// read is a client read of one route, reading an evidence body to its end.
type read struct {
	route string
	call  func(ctx context.Context, c *mobbscan.Client, id string) error
}

var reads = []read{
	{sandbox.RouteProcess, func(ctx context.Context, c *mobbscan.Client, id string) error {
		_, err := c.Process(ctx, id)
		return err
	}},
	{sandbox.RouteStatus, func(ctx context.Context, c *mobbscan.Client, id string) error {
		_, err := c.Status(ctx, id)
		return err
	}},
	{sandbox.RouteImage, func(ctx context.Context, c *mobbscan.Client, id string) error {
		return readEvidence(c.Evidence(ctx, id, mobbscan.KindFaceNow, ""))
	}},
	{sandbox.RouteRecording, func(ctx context.Context, c *mobbscan.Client, id string) error {
		return readEvidence(c.Evidence(ctx, id, mobbscan.KindVideoLiveness, "bytes=0-99"))
	}},
	{sandbox.RouteZip, func(ctx context.Context, c *mobbscan.Client, id string) error {
		return readEvidence(c.ZIP(ctx, id))
	}},
}

// TestReadsAreRetried: a read whose route fails twice and then answers
// succeeds, in three requests; one whose route keeps failing gives the caller
// the typed error of the last failure, after three requests.
func TestReadsAreRetried(t *testing.T) {
	faults := []struct {
		name  string
		fault sandbox.Fault
		want  error
	}{
		{"500", sandbox.Fault{Kind: sandbox.FaultServerError}, mobbscan.ErrUnavailable},
		{"503", sandbox.Fault{Kind: sandbox.FaultUnavailable}, mobbscan.ErrUnavailable},
		{"reset before the answer", sandbox.Fault{Kind: sandbox.FaultReset}, mobbscan.ErrUnavailable},
		{"429 with a short Retry-After", sandbox.Fault{Kind: sandbox.FaultRateLimited, RetryAfter: time.Second}, mobbscan.ErrRateLimited},
	}
	g := newGateway(t)
	c := g.client(t, fastRetries)
	ctx := context.Background()
	for _, rd := range reads {
		for _, ft := range faults {
			if ft.fault.Kind == sandbox.FaultRateLimited && rd.route != sandbox.RouteStatus {
				continue // each retry waits the Retry-After (1 s): one route shows it
			}
			t.Run(rd.route+"/"+ft.name, func(t *testing.T) {
				id := g.seed(t, "REVIEW")
				defer g.sb.ClearFault(rd.route)

				f := ft.fault
				f.Count = 2
				g.sb.SetFault(rd.route, f)
				before := g.requests(rd.route)
				if err := rd.call(ctx, c, id); err != nil {
					t.Fatalf("failing twice, then answering: err = %v, want success", err)
				}
				if got := g.requests(rd.route) - before; got != 3 {
					t.Errorf("requests = %d, want 3", got)
				}

				f.Count = 0 // until cleared
				g.sb.SetFault(rd.route, f)
				before = g.requests(rd.route)
				err := rd.call(ctx, c, id)
				g.sb.ClearFault(rd.route)
				if !errors.Is(err, ft.want) {
					t.Fatalf("failing every time: err = %v, want %v", err, ft.want)
				}
				if e := asError(t, err); e.Endpoint == "" || strings.Contains(err.Error(), "Bearer") ||
					strings.Contains(err.Error(), sandbox.DefaultAPISecret) {
					t.Errorf("message %q", err)
				}
				// A reset may also be retried once by the transport itself, on a
				// connection it reused: the client's three attempts are the floor.
				got := g.requests(rd.route) - before
				if got != 3 && (ft.fault.Kind != sandbox.FaultReset || got < 3 || got > 6) {
					t.Errorf("requests = %d, want 3 (one and two retries)", got)
				}
			})
		}
	}
}

// TestReadsNotRetried: answers that a retry cannot change are final at once:
// a 404, a 429 or 503 asking for a long wait, a malformed body, evidence
// whose body failed after its first bytes reached the caller.
func TestReadsNotRetried(t *testing.T) {
	g := newGateway(t)
	c := g.client(t, fastRetries)
	ctx := context.Background()
	id := g.seed(t, "REVIEW")

	before := g.requests(sandbox.RouteProcess)
	if _, err := c.Process(ctx, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, mobbscan.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if got := g.requests(sandbox.RouteProcess) - before; got != 1 {
		t.Errorf("404: requests = %d, want 1", got)
	}

	for _, f := range []sandbox.Fault{
		{Kind: sandbox.FaultRateLimited, RetryAfter: 30 * time.Second, Count: 1},
		{Kind: sandbox.FaultMalformed, Count: 1},
	} {
		g.sb.SetFault(sandbox.RouteStatus, f)
		before := g.requests(sandbox.RouteStatus)
		_, err := c.Status(ctx, id)
		if err == nil {
			t.Errorf("%s: no error", f.Kind)
		}
		if got := g.requests(sandbox.RouteStatus) - before; got != 1 {
			t.Errorf("%s: requests = %d, want 1", f.Kind, got)
		}
		if e := asError(t, err); f.Kind == sandbox.FaultRateLimited && e.RetryAfter != 30*time.Second {
			t.Errorf("RetryAfter = %v, want 30s", e.RetryAfter)
		}
	}

	// A truncated image: the caller already has the first half.
	g.sb.SetFault(sandbox.RouteImage, sandbox.Fault{Kind: sandbox.FaultTruncated, Count: 1})
	before = g.requests(sandbox.RouteImage)
	ev, err := c.Evidence(ctx, id, mobbscan.KindDocumentFront, "")
	if err != nil {
		t.Fatalf("truncated image: %v before the body", err)
	}
	n, err := io.Copy(io.Discard, ev.Body)
	ev.Body.Close()
	if !errors.Is(err, mobbscan.ErrBadResponse) || n == 0 {
		t.Errorf("truncated image: read %d, %v; want some bytes, then ErrBadResponse", n, err)
	}
	if got := g.requests(sandbox.RouteImage) - before; got != 1 {
		t.Errorf("truncated image: requests = %d, want 1", got)
	}
}

// TestWritesAreNeverRetried: a write meeting a fault is sent once, whatever
// the fault; the caller sees the error (and reads the status, D3).
func TestWritesAreNeverRetried(t *testing.T) {
	writes := []struct {
		route string
		call  func(ctx context.Context, c *mobbscan.Client, id string) error
	}{
		{sandbox.RouteCreate, func(ctx context.Context, c *mobbscan.Client, id string) error {
			_, err := c.CreateOnboarding(ctx, mobbscan.CreateRequest{CountryID: "ESP", DocType: sandbox.DocPassport})
			return err
		}},
		{sandbox.RouteAccept, func(ctx context.Context, c *mobbscan.Client, id string) error {
			_, err := c.Accept(ctx, id, nil)
			return err
		}},
		{sandbox.RouteReject, func(ctx context.Context, c *mobbscan.Client, id string) error {
			_, err := c.Reject(ctx, id, "blurry")
			return err
		}},
		{sandbox.RoutePending, func(ctx context.Context, c *mobbscan.Client, id string) error {
			return c.Pending(ctx, id)
		}},
		{sandbox.RouteDelete, func(ctx context.Context, c *mobbscan.Client, id string) error {
			return c.Delete(ctx, id)
		}},
	}
	faults := []sandbox.Fault{
		{Kind: sandbox.FaultServerError, Count: 1},
		{Kind: sandbox.FaultUnavailable, Count: 1},
		{Kind: sandbox.FaultRateLimited, RetryAfter: time.Second, Count: 1},
		{Kind: sandbox.FaultReset, Count: 1, NotApplied: true},
	}
	g := newGateway(t)
	c := g.client(t, fastRetries)
	ctx := context.Background()
	for _, w := range writes {
		for _, f := range faults {
			t.Run(w.route+"/"+string(f.Kind), func(t *testing.T) {
				id := g.seed(t, "REVIEW")
				g.sb.SetFault(w.route, f)
				defer g.sb.ClearFault(w.route)
				before := g.requests(w.route)
				if err := w.call(ctx, c, id); err == nil {
					t.Fatal("no error")
				}
				if got := g.requests(w.route) - before; got != 1 {
					t.Errorf("requests = %d, want 1 (never retried)", got)
				}
			})
		}
	}
}

// hookHandler calls before on every request to a route of the agent API,
// then serves it with the sandbox unless before answered it.
type hookHandler struct {
	next   http.Handler
	before func(w http.ResponseWriter, r *http.Request) bool // true: answered
}

func (h hookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/mobbscan-agent/") || strings.HasPrefix(r.URL.Path, "/api/zip/") {
		if h.before(w, r) {
			return
		}
	}
	h.next.ServeHTTP(w, r)
}

func wrappedGateway(t *testing.T, before func(w http.ResponseWriter, r *http.Request) bool) *gateway {
	t.Helper()
	sb, err := sandbox.New(sandbox.Config{Seed: 42})
	if err != nil {
		t.Fatalf("sandbox.New: %v", err)
	}
	srv := httptest.NewServer(hookHandler{next: sb, before: before})
	t.Cleanup(func() {
		srv.Close()
		sb.Close()
	})
	return &gateway{sb: sb, url: srv.URL}
}

// TestRetriesStopWithTheCaller: a cancelled caller or one whose deadline comes
// before the pause gets the failure at once, without another request.
func TestRetriesStopWithTheCaller(t *testing.T) {
	var requests atomic.Int32
	var onRequest atomic.Pointer[func()]
	g := wrappedGateway(t, func(w http.ResponseWriter, r *http.Request) bool {
		requests.Add(1)
		if f := onRequest.Load(); f != nil {
			(*f)()
		}
		http.Error(w, `{"code":503,"description":"down"}`, http.StatusServiceUnavailable)
		return true
	})
	id := g.seed(t, "REVIEW")

	t.Run("cancelled", func(t *testing.T) {
		c := g.client(t, func(cfg *mobbscan.Config) { cfg.RetryDelay = time.Minute })
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		f := func() { cancel() }
		onRequest.Store(&f)
		defer onRequest.Store(nil)
		requests.Store(0)
		_, err := c.Status(ctx, id)
		if !errors.Is(err, mobbscan.ErrUnavailable) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
		if got := requests.Load(); got != 1 {
			t.Errorf("requests = %d, want 1", got)
		}
	})
	// The shortest pause of a 2 s RetryDelay is 5/3 s (pauses are capped at 5 s).
	t.Run("deadline before the pause", func(t *testing.T) {
		c := g.client(t, func(cfg *mobbscan.Config) { cfg.RetryDelay = 2 * time.Second })
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		requests.Store(0)
		ev, err := c.Evidence(ctx, id, mobbscan.KindFaceNow, "")
		if ev != nil {
			ev.Body.Close()
		}
		if e := asError(t, err); !errors.Is(err, mobbscan.ErrUnavailable) || e.StatusCode != 503 {
			t.Errorf("err = %v, want the 503 (not a context error)", err)
		}
		if got := requests.Load(); got != 1 {
			t.Errorf("requests = %d, want 1", got)
		}
	})
	t.Run("call timeout before the pause", func(t *testing.T) {
		c := g.client(t, func(cfg *mobbscan.Config) {
			cfg.RetryDelay = 2 * time.Second
			cfg.CallTimeout = 1500 * time.Millisecond
		})
		requests.Store(0)
		_, err := c.Process(context.Background(), id)
		if e := asError(t, err); !errors.Is(err, mobbscan.ErrUnavailable) || e.StatusCode != 503 {
			t.Errorf("err = %v, want the 503", err)
		}
		if got := requests.Load(); got != 1 {
			t.Errorf("requests = %d, want 1", got)
		}
	})
	t.Run("no retries configured", func(t *testing.T) {
		c := g.client(t, func(cfg *mobbscan.Config) { cfg.ReadRetries = -1 })
		requests.Store(0)
		if _, err := c.Status(context.Background(), id); !errors.Is(err, mobbscan.ErrUnavailable) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
		if got := requests.Load(); got != 1 {
			t.Errorf("requests = %d, want 1", got)
		}
	})
}

// TestFlakyGatewayIsAbsorbed: a gateway failing every 20th request of the
// agent API (5 %), in turn with 503, 500, 429, a reset before the answer and a
// JSON body cut short, gives no error to 400 reads.
func TestFlakyGatewayIsAbsorbed(t *testing.T) {
	var n, injected atomic.Int64
	g := wrappedGateway(t, func(w http.ResponseWriter, r *http.Request) bool {
		i := n.Add(1)
		if i%20 != 0 {
			return false
		}
		injected.Add(1)
		json := !strings.Contains(r.URL.Path, "/image/") && !strings.HasPrefix(r.URL.Path, "/api/zip/")
		switch k := (i / 20) % 5; {
		case k == 0:
			http.Error(w, `{"code":503}`, http.StatusServiceUnavailable)
		case k == 1:
			http.Error(w, `{"code":500}`, http.StatusInternalServerError)
		case k == 2:
			w.Header().Set("Retry-After", "0")
			http.Error(w, `{"code":429}`, http.StatusTooManyRequests)
		case k == 3 || !json:
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(http.ErrAbortHandler)
			}
			conn.Close()
		default: // a JSON answer that stops halfway
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(http.ErrAbortHandler)
			}
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"verificationId\": \"")
			buf.Flush()
			conn.Close()
		}
		return true
	})
	c := g.client(t, fastRetries)
	ctx := context.Background()
	ids := make([]string, 8)
	for i := range ids {
		ids[i] = g.seed(t, "REVIEW")
	}
	const total = 400
	failed := 0
	for i := range total {
		id := ids[i%len(ids)]
		var err error
		switch i % 4 {
		case 0, 1:
			_, err = c.Status(ctx, id)
		case 2:
			_, err = c.Process(ctx, id)
		case 3:
			err = readEvidence(c.Evidence(ctx, id, mobbscan.KindDocumentFront, ""))
		}
		if err != nil {
			failed++
			t.Errorf("read %d: %v", i, err)
		}
	}
	if got := injected.Load(); got < total/20 {
		t.Errorf("faults injected = %d, want at least %d", got, total/20)
	}
	if failed > 0 {
		t.Errorf("%d of %d reads failed, want none", failed, total)
	}
	if c.Failing() {
		t.Errorf("Failing() = true for a gateway that answers 95 %% of requests")
	}
}

// TestRecoveryHook: the client notices an outage (failures in a row over at
// least five seconds by its clock) and runs the hook on the first answer
// after it, once, without holding up the call.
func TestRecoveryHook(t *testing.T) {
	g := newGateway(t)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	advance := func(d time.Duration) {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
	}
	c := g.client(t, fastRetries, func(cfg *mobbscan.Config) { cfg.Now = clock })
	ctx := context.Background()
	id := g.seed(t, "REVIEW")
	var calls atomic.Int32
	recovered := make(chan struct{}, 10)
	release := make(chan struct{})
	c.SetOnRecover(func() {
		calls.Add(1)
		recovered <- struct{}{}
		<-release // a slow hook: the call that noticed the recovery must not wait for it
	})
	defer close(release)
	waitHook := func(what string) {
		t.Helper()
		select {
		case <-recovered:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the hook did not run", what)
		}
	}

	// A few failures within a moment are not an outage, nor is a write
	// failing between successful reads.
	g.sb.SetFault(sandbox.RouteStatus, sandbox.Fault{Kind: sandbox.FaultUnavailable})
	if _, err := c.Status(ctx, id); err == nil {
		t.Fatal("status through a 503: no error")
	}
	if c.Failing() {
		t.Error("Failing after three failures within a moment")
	}
	g.sb.ClearFaults()
	g.sb.SetFault(sandbox.RouteAccept, sandbox.Fault{Kind: sandbox.FaultServerError})
	for range 5 {
		if _, err := c.Status(ctx, id); err != nil {
			t.Fatal(err)
		}
		advance(10 * time.Second)
		if _, err := c.Accept(ctx, id, nil); err == nil {
			t.Fatal("accept through a 500: no error")
		}
	}
	if c.Failing() {
		t.Error("Failing while reads between the failed writes succeed")
	}
	g.sb.ClearFaults()
	if _, err := c.Status(ctx, id); err != nil {
		t.Fatal(err)
	}

	// The caller giving up is not the gateway failing.
	g.sb.SetFault(sandbox.RouteStatus, sandbox.Fault{Kind: sandbox.FaultLatency, Latency: time.Minute})
	for range 3 {
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		c.Status(cctx, id)
		cancel()
		advance(10 * time.Second)
	}
	if c.Failing() {
		t.Error("Failing after the caller's own deadlines")
	}
	g.sb.ClearFaults()

	for round := 1; round <= 2; round++ {
		// An outage: everything fails for a minute.
		for _, route := range sandbox.Routes {
			g.sb.SetFault(route, sandbox.Fault{Kind: sandbox.FaultReset})
		}
		for range 6 {
			c.Status(ctx, id)
			advance(10 * time.Second)
		}
		if !c.Failing() {
			t.Fatalf("round %d: Failing() = false after a minute of failures", round)
		}
		g.sb.ClearFaults()
		// The first answer ends it (a 404 is an answer too) and runs the hook,
		// while the call returns at once.
		if _, err := c.Process(ctx, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, mobbscan.ErrNotFound) {
			t.Fatalf("round %d: %v, want ErrNotFound", round, err)
		}
		if c.Failing() {
			t.Errorf("round %d: Failing() after an answer", round)
		}
		waitHook(fmt.Sprintf("round %d", round))
		if _, err := c.Status(ctx, id); err != nil {
			t.Fatal(err)
		}
		if got := calls.Load(); got != int32(round) {
			t.Errorf("round %d: hook ran %d times, want %d", round, got, round)
		}
	}
	c.SetOnRecover(nil)
}
