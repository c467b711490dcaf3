package mobbscan

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// videoHandler serves size bytes of a fixed pattern, honouring one Range.
func videoHandler(size int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/webm")
		w.Header().Set("Accept-Ranges", "bytes")
		start, end := int64(0), size-1
		status := http.StatusOK
		if rg := r.Header.Get("Range"); rg != "" {
			spec := strings.TrimPrefix(rg, "bytes=")
			a, b, _ := strings.Cut(spec, "-")
			start, _ = strconv.ParseInt(a, 10, 64)
			if b != "" {
				end, _ = strconv.ParseInt(b, 10, 64)
			}
			if start >= size {
				w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
				writeJSON(w, http.StatusRequestedRangeNotSatisfiable, `{"code":416,"description":"range"}`)
				return
			}
			status = http.StatusPartialContent
			w.Header().Set("Content-Range", "bytes "+strconv.FormatInt(start, 10)+"-"+strconv.FormatInt(end, 10)+"/"+strconv.FormatInt(size, 10))
		}
		w.Header().Set("Content-Length", strconv.FormatInt(end-start+1, 10))
		w.WriteHeader(status)
		writePattern(w, start, end-start+1)
	}
}

// writePattern writes n bytes of the pattern byte(offset) from offset off
// out of one fixed buffer, so that large bodies are generated, never
// allocated.
func writePattern(w io.Writer, off, n int64) {
	const chunk = 32 << 10
	buf := make([]byte, chunk+256)
	for i := range buf {
		buf[i] = byte(i)
	}
	for n > 0 {
		k := min(chunk, n)
		start := off % 256
		if _, err := w.Write(buf[start : start+k]); err != nil {
			return
		}
		off += k
		n -= k
	}
}

func TestEvidenceRange(t *testing.T) {
	const size = 1000
	tests := []struct {
		name       string
		rangeHdr   string
		wantSent   string
		wantStatus int
		wantRange  string
		wantLen    int64
		wantFirst  byte
	}{
		{"full", "", "", 200, "", size, 0},
		{"range", "bytes=100-199", "bytes=100-199", 206, "bytes 100-199/1000", 100, 100},
		{"open range", "bytes=900-", "bytes=900-", 206, "bytes 900-999/1000", 100, byte(900 % 256)},
		{"not bytes: ignored", "items=1-2", "", 200, "", size, 0},
		{"junk: ignored", "bytes=1-2\r\nX: y", "", 200, "", size, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.handle("GET /mobbscan-agent/{id}/recording/{kind}", videoHandler(size))
			ev, err := f.client(t).Evidence(context.Background(), "v-1", KindVideoLiveness, tt.rangeHdr)
			if err != nil {
				t.Fatal(err)
			}
			defer ev.Body.Close()
			body, err := io.ReadAll(ev.Body)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.requests()[0].Header.Get("Range"); got != tt.wantSent {
				t.Errorf("Range sent = %q, want %q", got, tt.wantSent)
			}
			if ev.StatusCode != tt.wantStatus || ev.ContentRange != tt.wantRange || ev.ContentLength != tt.wantLen ||
				int64(len(body)) != tt.wantLen || body[0] != tt.wantFirst || ev.ContentType != "video/webm" {
				t.Errorf("evidence = %+v with %d bytes starting %d", ev, len(body), body[0])
			}
		})
	}
}

func TestEvidenceErrors(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    error
		code    int
	}{
		{"missing", reply(404, `{"code":404,"description":"no such evidence"}`), ErrNotFound, 404},
		{"unknown type", reply(400, `{"code":400,"description":"unknown type"}`), ErrBadRequest, 400},
		{"range not satisfiable", videoHandler(10), ErrBadRequest, 416},
		{"no content", reply(204, ``), ErrBadResponse, 204},
		{"unavailable", reply(503, ``), ErrUnavailable, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.handle("GET /mobbscan-agent/{id}/recording/{kind}", tt.handler)
			_, err := f.client(t).Evidence(context.Background(), "v-1", KindVideoLiveness, "bytes=50-")
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, tt.want) || e.StatusCode != tt.code || e.Endpoint != "evidence" {
				t.Errorf("err = %v, want %v with %d", err, tt.want, tt.code)
			}
		})
	}
}

func TestEvidenceRenewsOn401(t *testing.T) {
	f := newFake(t)
	f.handle("GET /mobbscan-agent/{id}/image/{kind}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "img") })
	c := f.client(t)
	if _, err := c.Status(context.Background(), "v-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("warm-up: %v", err) // no status route: 404, but a token is cached
	}
	f.revokeTokens()
	ev, err := c.Evidence(context.Background(), "v-1", KindDocumentBack, "")
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Body.Close()
	if b, _ := io.ReadAll(ev.Body); string(b) != "img" || f.tokens() != 2 {
		t.Errorf("body %q after %d token requests", b, f.tokens())
	}
}

func TestEvidenceCap(t *testing.T) {
	const limit = 1000
	t.Run("declared length", func(t *testing.T) {
		f := newFake(t)
		f.handle("GET /mobbscan-agent/{id}/recording/{kind}", videoHandler(limit+1))
		_, err := f.client(t, func(c *Config) { c.MaxEvidenceBytes = limit }).Evidence(context.Background(), "v-1", KindVideoLiveness, "")
		if !errors.Is(err, ErrBadResponse) {
			t.Errorf("err = %v, want ErrBadResponse", err)
		}
	})
	for _, size := range []int64{limit, limit + 1, 50 * limit} {
		t.Run("chunked "+strconv.FormatInt(size, 10), func(t *testing.T) {
			f := newFake(t)
			f.handle("GET /api/zip/{id}", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/zip")
				w.WriteHeader(200)
				http.NewResponseController(w).Flush() // no Content-Length
				writePattern(w, 0, size)
			})
			ev, err := f.client(t, func(c *Config) { c.MaxEvidenceBytes = limit }).ZIP(context.Background(), "v-1")
			if err != nil {
				t.Fatal(err)
			}
			defer ev.Body.Close()
			if ev.ContentLength != -1 || ev.Filename != "v-1.zip" {
				t.Errorf("evidence = %+v", ev)
			}
			n, err := io.Copy(io.Discard, ev.Body)
			if size <= limit {
				if err != nil || n != size {
					t.Errorf("read %d, %v; want %d, nil", n, err, size)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrBadResponse) || n != limit {
				t.Errorf("read %d, %v; want %d and ErrBadResponse", n, err, limit)
			}
			if _, err2 := ev.Body.Read(make([]byte, 10)); err2 != err {
				t.Errorf("error not sticky: %v", err2)
			}
		})
	}
}

func TestEvidenceTruncated(t *testing.T) {
	f := newFake(t)
	f.handle("GET /mobbscan-agent/{id}/image/{kind}",
		rawReply("HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 5000\r\n\r\n"+strings.Repeat("j", 100)))
	ev, err := f.client(t).Evidence(context.Background(), "v-1", KindFaceDocument, "")
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Body.Close()
	n, err := io.Copy(io.Discard, ev.Body)
	if !errors.Is(err, ErrBadResponse) || n != 100 {
		t.Errorf("read %d, %v; want 100 and ErrBadResponse", n, err)
	}
}

// TestEvidenceStall: the header and call timeouts do not cut a stream that
// flows, the stall timeout cuts one that stops.
func TestEvidenceStall(t *testing.T) {
	f := newFake(t)
	release := make(chan struct{})
	f.handle("GET /mobbscan-agent/{id}/recording/{kind}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(200)
		rc := http.NewResponseController(w)
		w.Write(bytes.Repeat([]byte("a"), 10))
		rc.Flush()
		<-release // the test has read the first bytes
		w.Write(bytes.Repeat([]byte("b"), 10))
		rc.Flush()
		<-r.Context().Done()
	})
	c := f.client(t, func(c *Config) {
		// A call timeout shorter than the stall timeout: had it applied to
		// the stream, it would have ended it first.
		c.CallTimeout = 150 * time.Millisecond
		c.StallTimeout = 400 * time.Millisecond
	})
	ev, err := c.Evidence(context.Background(), "v-1", KindVideoLiveness, "")
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Body.Close()
	buf := make([]byte, 10)
	if _, err := io.ReadFull(ev.Body, buf); err != nil {
		t.Fatalf("first bytes: %v", err)
	}
	close(release)
	if _, err := io.ReadFull(ev.Body, buf); err != nil {
		t.Fatalf("second bytes: %v", err)
	}
	_, err = ev.Body.Read(buf)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrUnavailable) || !e.Timeout() || !errors.Is(err, errStalled) {
		t.Errorf("err = %v, want a stall timeout", err)
	}
}

func TestEvidenceCallerCancel(t *testing.T) {
	f := newFake(t)
	f.handle("GET /mobbscan-agent/{id}/recording/{kind}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.Write([]byte("x"))
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	ev, err := f.client(t).Evidence(ctx, "v-1", KindVideoLiveness, "")
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Body.Close()
	io.ReadFull(ev.Body, make([]byte, 1))
	cancel()
	if _, err := io.Copy(io.Discard, ev.Body); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want ErrUnavailable wrapping context.Canceled", err)
	}
}

func TestDispositionFilename(t *testing.T) {
	tests := map[string]string{
		``:                                         "",
		`attachment; filename="v-1.zip"`:           "v-1.zip",
		`attachment; filename="..\\..\\x.zip"`:     "x.zip",
		`attachment; filename="/etc/passwd"`:       "passwd",
		`attachment; filename=".."`:                "",
		`attachment; filename*=UTF-8''caf%C3%A9.z`: "café.z",
		`attachment`:                               "",
		`;;;`:                                      "",
	}
	for in, want := range tests {
		if got := dispositionFilename(in); got != want {
			t.Errorf("dispositionFilename(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEvidenceStreamingMemory streams 200 MiB through Evidence and checks
// that the process allocates far less than that: the evidence is never
// buffered. It measures memory, not time.
func TestEvidenceStreamingMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 200 MiB")
	}
	const size = 200 << 20
	const budget = 16 << 20
	f := newFake(t)
	f.handle("GET /mobbscan-agent/{id}/recording/{kind}", videoHandler(size))
	c := f.client(t)
	ctx := context.Background()
	if _, err := c.Status(ctx, "warm"); !errors.Is(err, ErrNotFound) { // token, connection
		t.Fatal(err)
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ev, err := c.Evidence(ctx, "v-1", KindVideoLiveness, "")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, ev.Body)
	ev.Body.Close()
	runtime.ReadMemStats(&after)
	if err != nil || n != size || ev.ContentLength != size {
		t.Fatalf("streamed %d of %d: %v", n, size, err)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	if allocated > budget {
		t.Errorf("streaming 200 MiB allocated %d MiB, want < %d MiB", allocated>>20, budget>>20)
	}
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > budget {
		t.Errorf("heap grew by %d MiB, want < %d MiB", grown>>20, budget>>20)
	}
	t.Logf("streamed %d MiB with %d KiB allocated", n>>20, allocated>>10)
}
