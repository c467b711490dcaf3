package mobbscan

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRetryDelay: the pauses of the default policy are jittered in
// 100–300 ms, then 300–900 ms, and never exceed 5 s however many retries.
func TestRetryDelay(t *testing.T) {
	c, err := New(Config{BaseURL: "http://gateway.test", APIKey: testKey, APISecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	if c.cfg.ReadRetries != 2 || c.cfg.RetryDelay != 100*time.Millisecond {
		t.Errorf("defaults: ReadRetries %d, RetryDelay %v; want 2, 100ms", c.cfg.ReadRetries, c.cfg.RetryDelay)
	}
	for _, tt := range []struct {
		attempt int
		lo, hi  time.Duration
	}{
		{1, 100 * time.Millisecond, 300 * time.Millisecond},
		{2, 300 * time.Millisecond, 900 * time.Millisecond},
		{3, 900 * time.Millisecond, 2700 * time.Millisecond},
		{9, 5 * time.Second / 3, 5 * time.Second},
	} {
		seen := map[time.Duration]bool{}
		for range 1000 {
			d := c.retryDelay(tt.attempt)
			if d < tt.lo || d > tt.hi {
				t.Fatalf("pause after attempt %d: %v, want %v–%v", tt.attempt, d, tt.lo, tt.hi)
			}
			seen[d] = true
		}
		if len(seen) < 100 {
			t.Errorf("pause after attempt %d: %d distinct values in 1000, want jitter", tt.attempt, len(seen))
		}
	}
	if c, _ := New(Config{BaseURL: "http://gateway.test", APIKey: testKey, APISecret: testSecret, ReadRetries: -1}); c.cfg.ReadRetries != 0 {
		t.Errorf("ReadRetries -1: got %d retries, want 0", c.cfg.ReadRetries)
	}
	if _, err := New(Config{BaseURL: "http://gateway.test", APIKey: testKey, APISecret: testSecret, RetryDelay: -1}); err == nil {
		t.Error("a negative RetryDelay was accepted")
	}
}

// TestEvidenceRetriedBeforeItsFirstByte: evidence whose connection fails after
// the headers but before any byte of the body is fetched again; the caller
// sees one clean stream.
func TestEvidenceRetriedBeforeItsFirstByte(t *testing.T) {
	f := newFake(t)
	var n atomic.Int32
	full := strings.Repeat("v", 3000)
	f.handle("GET /mobbscan-agent/{id}/recording/{kind}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "bytes=0-2999" {
			t.Errorf("Range = %q, want it sent again on every attempt", r.Header.Get("Range"))
		}
		if n.Add(1) == 1 {
			rawReply("HTTP/1.1 206 Partial Content\r\nContent-Type: video/webm\r\nContent-Range: bytes 0-2999/9000\r\nContent-Length: 3000\r\n\r\n")(w, r)
			return
		}
		w.Header().Set("Content-Type", "video/webm")
		w.Header().Set("Content-Range", "bytes 0-2999/9000")
		w.WriteHeader(http.StatusPartialContent)
		io.WriteString(w, full)
	})
	c := f.client(t, func(c *Config) { c.RetryDelay = time.Millisecond })
	ev, err := c.Evidence(context.Background(), "v-1", KindVideoLiveness, "bytes=0-2999")
	if err != nil {
		t.Fatalf("Evidence: %v", err)
	}
	defer ev.Body.Close()
	b, err := io.ReadAll(ev.Body)
	if err != nil || string(b) != full || ev.StatusCode != 206 || ev.ContentRange != "bytes 0-2999/9000" {
		t.Errorf("stream: %d bytes, %v, %+v", len(b), err, ev)
	}
	if got := n.Load(); got != 2 {
		t.Errorf("requests = %d, want 2", got)
	}
}

// TestEvidenceStallBeforeItsFirstByte: a gateway that sends headers and then
// nothing is cut off by the stall timeout and asked again.
func TestEvidenceStallBeforeItsFirstByte(t *testing.T) {
	f := newFake(t)
	var n atomic.Int32
	f.handle("GET /mobbscan-agent/{id}/image/{kind}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		w.Header().Set("Content-Length", "3")
		w.WriteHeader(http.StatusOK)
		if n.Add(1) == 1 {
			http.NewResponseController(w).Flush()
			<-r.Context().Done()
			return
		}
		io.WriteString(w, "img")
	})
	c := f.client(t, func(c *Config) { c.RetryDelay = time.Millisecond; c.StallTimeout = 100 * time.Millisecond })
	ev, err := c.Evidence(context.Background(), "v-1", KindFaceNow, "")
	if err != nil {
		t.Fatalf("Evidence: %v", err)
	}
	defer ev.Body.Close()
	if b, err := io.ReadAll(ev.Body); err != nil || string(b) != "img" {
		t.Errorf("stream: %q, %v", b, err)
	}
	if got := n.Load(); got != 2 {
		t.Errorf("requests = %d, want 2", got)
	}
}

// TestJSONBodyCutShortIsRetried: a read whose answer stops halfway is asked
// again; a write's is not (it may have taken effect: D3).
func TestJSONBodyCutShortIsRetried(t *testing.T) {
	f := newFake(t)
	var reads, writes atomic.Int32
	cut := rawReply("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"verificationId\":")
	f.handle("GET /mobbscan-agent/checkVerificationProcessResult/{id}", func(w http.ResponseWriter, r *http.Request) {
		if reads.Add(1) == 1 {
			cut(w, r)
			return
		}
		writeJSON(w, 200, `{"verificationId":"v-1","status":"PENDING","stage":"REVIEW"}`)
	})
	f.handle("POST "+pathAccept, func(w http.ResponseWriter, r *http.Request) {
		writes.Add(1)
		cut(w, r)
	})
	c := f.client(t, func(c *Config) { c.RetryDelay = time.Millisecond })
	if s, err := c.Status(context.Background(), "v-1"); err != nil || !s.Reviewable() {
		t.Errorf("Status = %+v, %v", s, err)
	}
	if got := reads.Load(); got != 2 {
		t.Errorf("status requests = %d, want 2", got)
	}
	_, err := c.Accept(context.Background(), "v-1", nil)
	var e *Error
	if !errors.As(err, &e) || !e.Ambiguous() {
		t.Errorf("Accept: %v, want an ambiguous error", err)
	}
	if got := writes.Load(); got != 1 {
		t.Errorf("accept requests = %d, want 1", got)
	}
}

// TestRecoveryHookReplaced: without a hook a recovery only ends the outage; a
// hook set later replaces the earlier one.
func TestRecoveryHookReplaced(t *testing.T) {
	f := newFake(t)
	var fail atomic.Bool
	f.handle("GET /mobbscan-agent/checkVerificationProcessResult/{id}", func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			writeJSON(w, 503, `{"code":503}`)
			return
		}
		writeJSON(w, 200, `{"verificationId":"v-1","status":"PENDING"}`)
	})
	c := f.client(t, func(c *Config) { c.RetryDelay = time.Millisecond })
	ctx := context.Background()
	outage := func() {
		fail.Store(true)
		for range 3 {
			c.Status(ctx, "v-1")
			f.clock.Advance(5 * time.Second)
		}
		fail.Store(false)
		if !c.Failing() {
			t.Fatal("no outage")
		}
	}
	outage()
	if _, err := c.Status(ctx, "v-1"); err != nil || c.Failing() {
		t.Fatalf("after the outage: %v, failing %v", err, c.Failing())
	}
	first, second := make(chan struct{}, 1), make(chan struct{}, 1)
	c.SetOnRecover(func() { first <- struct{}{} })
	c.SetOnRecover(func() { second <- struct{}{} })
	outage()
	if _, err := c.Status(ctx, "v-1"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-second:
	case <-time.After(10 * time.Second):
		t.Fatal("the hook set last did not run")
	}
	select {
	case <-first:
		t.Error("a replaced hook ran")
	default:
	}
}
