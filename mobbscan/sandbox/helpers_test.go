package sandbox

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a controllable Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness is a sandbox behind a real HTTP server with a token.
type harness struct {
	t     *testing.T
	sb    *Sandbox
	srv   *httptest.Server
	token string
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	if cfg.Seed == 0 {
		cfg.Seed = 7
	}
	sb, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := sb.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	h := &harness{t: t, sb: sb, srv: srv}
	h.token = h.newToken()
	return h
}

func (h *harness) newToken() string {
	h.t.Helper()
	var out struct {
		AccessToken string `json:"accessToken"`
	}
	code := h.call(http.MethodPost, "/auth/token", map[string]string{"api_key": h.key(), "api_secret": h.secret()}, &out, "")
	if code != http.StatusOK || out.AccessToken == "" {
		h.t.Fatalf("token: status %d, token %q", code, out.AccessToken)
	}
	return out.AccessToken
}

func (h *harness) key() string    { return h.sb.cfg.APIKey }
func (h *harness) secret() string { return h.sb.cfg.APISecret }

// request sends body (JSON-encoded unless a string or nil) with the given
// bearer token ("" for none).
func (h *harness) request(method, path string, body any, token string) *http.Response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil || method == http.MethodPost { // the control API takes only JSON posts
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// call sends a request and decodes a JSON answer into out (when not nil).
func (h *harness) call(method, path string, body, out any, token string) int {
	h.t.Helper()
	resp := h.request(method, path, body, token)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: reading: %v", method, path, err)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			h.t.Fatalf("%s %s: decoding %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

// api calls with the harness's token.
func (h *harness) api(method, path string, body, out any) int {
	h.t.Helper()
	return h.call(method, path, body, out, h.token)
}

// seed creates processes and returns their ids.
func (h *harness) seed(spec SeedSpec) []string {
	h.t.Helper()
	ids, err := h.sb.Seed(spec)
	if err != nil {
		h.t.Fatalf("Seed: %v", err)
	}
	return ids
}

// create makes a process over the API.
func (h *harness) create(body map[string]any) map[string]string {
	h.t.Helper()
	var out map[string]string
	if code := h.api(http.MethodPost, "/onboarding/token", body, &out); code != http.StatusOK {
		h.t.Fatalf("create: status %d", code)
	}
	return out
}

// errorBody is the shape of error answers.
type errorBody struct {
	Code        int    `json:"code"`
	Description string `json:"description"`
	Status      string `json:"status"`
	Stage       string `json:"stage"`
}

// decodeClaims reads a JWT's claims without verifying it, as the client does.
func decodeClaims(t *testing.T, token string) jwtClaims {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c jwtClaims
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func writeFile(path string) error { return os.WriteFile(path, []byte("x"), 0o600) }
