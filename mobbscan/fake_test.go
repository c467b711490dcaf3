package mobbscan

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testKey    = "key-123456"
	testSecret = "s3cr3t-very-secret-value"
)

// clock is a settable clock shared by the fake gateway and the client.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type recorded struct {
	Method, Path string // Path is the escaped path
	Header       http.Header
	Body         []byte
}

// fakeGateway serves /auth/token itself, checks the bearer token on every
// other route and records the requests.
type fakeGateway struct {
	t     *testing.T
	srv   *httptest.Server
	mux   *http.ServeMux
	clock *clock

	mu         sync.Mutex
	lifetime   time.Duration // 0: tokens without exp
	noIat      bool
	tokenCalls int
	valid      map[string]bool
	reqs       []recorded
	tokenGate  chan struct{} // when set, token requests wait for it
}

func newFake(t *testing.T) *fakeGateway {
	t.Helper()
	f := &fakeGateway{t: t, mux: http.NewServeMux(), clock: newClock(), lifetime: 15 * time.Minute, valid: map[string]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGateway) handle(pattern string, h http.HandlerFunc) { f.mux.HandleFunc(pattern, h) }

func (f *fakeGateway) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, recorded{r.Method, r.URL.EscapedPath(), r.Header.Clone(), body})
	f.mu.Unlock()
	if r.URL.Path == pathToken {
		f.serveToken(w, r, body)
		return
	}
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	ok = ok && f.valid[auth]
	f.mu.Unlock()
	if !ok {
		writeJSON(w, 401, `{"code":401,"description":"invalid or expired token"}`)
		return
	}
	f.mux.ServeHTTP(w, r)
}

func (f *fakeGateway) serveToken(w http.ResponseWriter, r *http.Request, body []byte) {
	f.mu.Lock()
	f.tokenCalls++
	n := f.tokenCalls
	gate := f.tokenGate
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	var req map[string]string
	if r.Method != http.MethodPost || json.Unmarshal(body, &req) != nil ||
		req[fieldAPIKey] != testKey || req[fieldAPISecret] != testSecret {
		writeJSON(w, 401, `{"code":401,"description":"bad credentials `+req[fieldAPISecret]+`"}`)
		return
	}
	f.mu.Lock()
	tok := f.jwt(n)
	f.valid[tok] = true
	f.mu.Unlock()
	writeJSON(w, 200, fmt.Sprintf(`{%q:%q}`, fieldAccessToken, tok))
}

// jwt builds an unsigned token; f.mu is held.
func (f *fakeGateway) jwt(n int) string {
	now := f.clock.Now()
	claims := map[string]any{"sub": testKey, "n": n}
	if f.lifetime > 0 {
		claims[claimExp] = now.Add(f.lifetime).Unix()
		if !f.noIat {
			claims[claimIat] = now.Unix()
		}
	}
	payload, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload) + ".c2ln"
}

func (f *fakeGateway) revokeTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.valid)
}

func (f *fakeGateway) tokens() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenCalls
}

// requests returns the recorded requests other than token requests.
func (f *fakeGateway) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []recorded
	for _, r := range f.reqs {
		if r.Path != pathToken {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeGateway) client(t *testing.T, mods ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{BaseURL: f.srv.URL, APIKey: testKey, APISecret: testSecret, Now: f.clock.Now}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func writeJSON(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	io.WriteString(w, body)
}

func reply(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { writeJSON(w, code, body) }
}

// rawReply hijacks the connection and writes raw bytes, then closes it.
func rawReply(raw string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, buf := hijack(w)
		buf.WriteString(raw)
		buf.Flush()
		conn.Close()
	}
}

// resetConn hijacks the connection and resets it (RST, no answer).
func resetConn(w http.ResponseWriter, r *http.Request) {
	conn, _ := hijack(w)
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

func hijack(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	return conn, buf
}

// hang waits until the client gives up.
func hang(w http.ResponseWriter, r *http.Request) {
	<-r.Context().Done()
}

const sampleProcess = `{
  "verificationId": "v-1", "scanId": "s-1", "status": "PENDING", "stage": "REVIEW",
  "creationDate": "2026-11-20T10:00:00Z", "lastUpdateDate": "2026-11-20T10:07:12Z",
  "countryId": "ESP", "docType": "IDCard",
  "verificationExtraData": {"customerRef": "C-1042"},
  "personalData": {"name": "Ana", "surname": "García", "documentNumber": "12345678Z", "personalNumber": "P1",
                   "dateOfBirth": "1990-04-12", "dateOfExpiry": "2031-01-01", "gender": "F",
                   "nationality": "ESP", "address": "Calle 1", "city": "Madrid", "postCode": "28001", "mrz": "IDESP<<",
                   "placeOfBirth": "Toledo"},
  "scanProcessValidationResult": {"enabledProcess": true,
      "scanProcessFailedValidations": ["validationFacialMatching"],
      "scanProcessValidationResult": "NOT_VALID"},
  "validations": {"validationFacialMatching": "NOT_VALID", "validationDocumentNotExpired": "VALID", "validationX": "NOT_CHECKED"},
  "scores": {"facialMatching": 0.41, "liveness": 0.93, "documentAuthenticity": 0.88},
  "evidences": ["document_front", "document_back", "face_document", "face_now", "video_liveness"],
  "decision": null,
  "somethingNew": {"a": [1, 2]}
}`
