package sandbox

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Route names, used to count requests and to inject faults per route.
const (
	RouteToken     = "token"     // POST /auth/token
	RouteCreate    = "create"    // POST /onboarding/token
	RouteProcess   = "process"   // GET /mobbscan-agent/getVerificationProcessData/{id}
	RouteStatus    = "status"    // GET /mobbscan-agent/checkVerificationProcessResult/{id}
	RouteAccept    = "accept"    // POST /mobbscan-agent/accept
	RouteReject    = "reject"    // POST /mobbscan-agent/reject
	RoutePending   = "pending"   // POST /mobbscan-agent/pending
	RouteImage     = "image"     // GET /mobbscan-agent/{id}/image/{imageType}
	RouteRecording = "recording" // GET /mobbscan-agent/{id}/recording/{recordingType}
	RouteZip       = "zip"       // GET /api/zip/{id}
	RouteDelete    = "delete"    // DELETE /mobbscan-agent/api/verification/{id}
)

// Routes lists every route name.
var Routes = []string{
	RouteToken, RouteCreate, RouteProcess, RouteStatus, RouteAccept, RouteReject,
	RoutePending, RouteImage, RouteRecording, RouteZip, RouteDelete,
}

// FaultKind is what an injected fault does to a request.
type FaultKind string

// Fault kinds.
const (
	FaultLatency      FaultKind = "latency"   // only Fault.Latency, then the normal answer
	FaultUnauthorized FaultKind = "401"       // 401 as for an invalid token
	FaultRateLimited  FaultKind = "429"       // 429 with Retry-After
	FaultServerError  FaultKind = "500"       // 500
	FaultUnavailable  FaultKind = "503"       // 503
	FaultMalformed    FaultKind = "malformed" // 200 with a body that is not valid JSON
	FaultTruncated    FaultKind = "truncate"  // the answer stops halfway and the connection closes
	FaultReset        FaultKind = "reset"     // the connection is reset without an answer
)

var faultKinds = []FaultKind{FaultLatency, FaultUnauthorized, FaultRateLimited, FaultServerError,
	FaultUnavailable, FaultMalformed, FaultTruncated, FaultReset}

// Fault is a failure injected into the requests of one route.
type Fault struct {
	Kind FaultKind
	// Latency delays the request before anything else happens.
	Latency time.Duration
	// RetryAfter is the Retry-After of a 429 (default 1s, whole seconds).
	RetryAfter time.Duration
	// Count applies the fault to the next Count requests only; 0 keeps it
	// until cleared.
	Count int
	// NotApplied makes malformed, truncate and reset faults on POST and
	// DELETE routes fail before the action is performed. By default the
	// action is performed and only its answer is lost: the ambiguous case a
	// client must resolve by reading the status.
	NotApplied bool
}

func (f Fault) validate() error {
	if !slices.Contains(faultKinds, f.Kind) {
		return fmt.Errorf("%w: unknown fault kind %q", ErrInvalid, f.Kind)
	}
	if f.Latency < 0 || f.Latency > 10*time.Minute || f.RetryAfter < 0 || f.Count < 0 {
		return fmt.Errorf("%w: fault latency, retry-after and count must be small and not negative", ErrInvalid)
	}
	return nil
}

// takeFault returns the fault to apply to this request of route, consuming
// one use of a counted fault.
func (s *Sandbox) takeFault(route string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Requests[route]++
	f, ok := s.faults[route]
	if !ok {
		return Fault{}, false
	}
	s.stats.FaultsInjected++
	out := *f
	if f.Count > 0 {
		f.Count--
		if f.Count == 0 {
			delete(s.faults, route)
		}
	}
	return out, true
}

// withFaults wraps an API handler with request counting and fault injection.
func (s *Sandbox) withFaults(route string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f, ok := s.takeFault(route)
		if !ok {
			next(w, r)
			return
		}
		s.log.Debug("injecting fault", "route", route, "kind", f.Kind)
		if f.Latency > 0 {
			select {
			case <-time.After(f.Latency):
			case <-r.Context().Done():
				return
			case <-s.ctx.Done():
				return
			}
		}
		mutating := r.Method != http.MethodGet && r.Method != http.MethodHead
		perform := func() {
			if mutating && !f.NotApplied {
				next(discardWriter{h: make(http.Header)}, r)
			}
		}
		switch f.Kind {
		case FaultLatency:
			next(w, r)
		case FaultUnauthorized:
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "invalid or expired access token")
		case FaultRateLimited:
			ra := f.RetryAfter
			if ra <= 0 {
				ra = time.Second
			}
			w.Header().Set("Retry-After", strconv.Itoa(int((ra+time.Second-1)/time.Second)))
			writeError(w, http.StatusTooManyRequests, "too many requests")
		case FaultServerError:
			writeError(w, http.StatusInternalServerError, "internal error")
		case FaultUnavailable:
			writeError(w, http.StatusServiceUnavailable, "service unavailable")
		case FaultMalformed:
			perform()
			body := `{"verificationId": "` + r.PathValue("id") + `", "status": PENDING, "stage"`
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, body)
		case FaultTruncated:
			if mutating && f.NotApplied {
				tw := &truncatingWriter{ResponseWriter: w}
				writeJSON(tw, http.StatusOK, map[string]string{"verificationId": r.PathValue("id"), "status": "PENDING"})
				tw.finish()
				return
			}
			tw := &truncatingWriter{ResponseWriter: w}
			next(tw, r)
			tw.finish()
		case FaultReset:
			perform()
			resetConnection(w)
		}
	}
}

// discardWriter runs a handler for its side effects only.
type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}

var errTruncated = errors.New("sandbox: response truncated by an injected fault")

// truncatingWriter lets through half of the declared Content-Length (or a
// few bytes when none is declared) and then closes the connection.
type truncatingWriter struct {
	http.ResponseWriter
	limit   int64
	written int64
	cut     bool
	started bool
}

func (t *truncatingWriter) WriteHeader(code int) {
	if t.started {
		return
	}
	t.started = true
	t.limit = 16
	if cl, err := strconv.ParseInt(t.Header().Get("Content-Length"), 10, 64); err == nil && cl > 1 {
		t.limit = cl / 2
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *truncatingWriter) Write(b []byte) (int, error) {
	if t.cut {
		return 0, errTruncated
	}
	if !t.started {
		t.WriteHeader(http.StatusOK)
	}
	room := t.limit - t.written
	if int64(len(b)) <= room {
		n, err := t.ResponseWriter.Write(b)
		t.written += int64(n)
		return n, err
	}
	n, _ := t.ResponseWriter.Write(b[:room])
	t.written += int64(n)
	t.close()
	return n, errTruncated
}

func (t *truncatingWriter) finish() {
	if !t.started {
		t.WriteHeader(http.StatusOK)
	}
	t.close()
}

func (t *truncatingWriter) close() {
	if t.cut {
		return
	}
	t.cut = true
	rc := http.NewResponseController(t.ResponseWriter)
	_ = rc.Flush()
	conn, _, err := rc.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}

// resetConnection drops the connection with a TCP reset.
func resetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not hijackable (HTTP/2, a recorder): abort the response instead.
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}
