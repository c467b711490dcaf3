package mobbscan

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	ok := Config{BaseURL: "http://127.0.0.1:1", APIKey: "k", APISecret: "s"}
	tests := []struct {
		name   string
		mod    func(*Config)
		wantOK bool
	}{
		{"valid", func(*Config) {}, true},
		{"https with prefix", func(c *Config) { c.BaseURL = "https://gw.example/api/v1/" }, true},
		{"empty", func(c *Config) { c.BaseURL = "" }, false},
		{"relative", func(c *Config) { c.BaseURL = "/api" }, false},
		{"ftp", func(c *Config) { c.BaseURL = "ftp://host" }, false},
		{"no host", func(c *Config) { c.BaseURL = "http://" }, false},
		{"user info", func(c *Config) { c.BaseURL = "http://u:p@host" }, false},
		{"query", func(c *Config) { c.BaseURL = "http://host/?a=b" }, false},
		{"fragment", func(c *Config) { c.BaseURL = "http://host/#x" }, false},
		{"opaque", func(c *Config) { c.BaseURL = "http:host" }, false},
		{"no key", func(c *Config) { c.APIKey = "" }, false},
		{"no secret", func(c *Config) { c.APISecret = "" }, false},
		{"negative timeout", func(c *Config) { c.CallTimeout = -1 }, false},
		{"negative cap", func(c *Config) { c.MaxEvidenceBytes = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mod(&cfg)
			c, err := New(cfg)
			if got := err == nil; got != tt.wantOK {
				t.Fatalf("New ok = %v, want %v (err %v)", got, tt.wantOK, err)
			}
			if err != nil && strings.Contains(err.Error(), "u:p") {
				t.Errorf("error %q echoes credentials of the URL", err)
			}
			if c != nil && c.cfg.DecisionType != DefaultDecisionType {
				t.Errorf("DecisionType = %q, want %q", c.cfg.DecisionType, DefaultDecisionType)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	c, err := New(Config{BaseURL: "http://127.0.0.1:1/", APIKey: "k", APISecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	got := c.cfg
	if got.DialTimeout != DefaultDialTimeout || got.HeaderTimeout != DefaultHeaderTimeout ||
		got.CallTimeout != DefaultCallTimeout || got.StallTimeout != DefaultStallTimeout ||
		got.MaxJSONBytes != DefaultMaxJSONBytes || got.MaxEvidenceBytes != DefaultMaxEvidenceBytes || got.Now == nil {
		t.Errorf("defaults not applied: %+v", got)
	}
	if c.base != "http://127.0.0.1:1" {
		t.Errorf("base = %q", c.base)
	}
}

func TestBaseURLPrefix(t *testing.T) {
	f := newFake(t)
	f.handle("GET /mobbscan-agent/checkVerificationProcessResult/{id}", reply(200, `{"status":"PENDING"}`))
	var mu sync.Mutex
	var paths []string
	prefixed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		http.StripPrefix("/gw", http.HandlerFunc(f.serve)).ServeHTTP(w, r)
	}))
	defer prefixed.Close()
	c := f.client(t, func(c *Config) { c.BaseURL = prefixed.URL + "/gw/" })
	if _, err := c.Status(context.Background(), "v-1"); err != nil {
		t.Fatalf("Status: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"/gw/auth/token", "/gw/mobbscan-agent/checkVerificationProcessResult/v-1"}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("paths = %q, want %q", paths, want)
	}
}

// TestRequests checks every method's request (method, path, body) and the
// decoding of its answer.
func TestRequests(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		pattern    string
		answer     http.HandlerFunc
		call       func(c *Client) (any, error)
		wantMethod string
		wantPath   string
		wantBody   map[string]any // nil: no body expected
		check      func(t *testing.T, got any)
	}{
		{
			name:    "create",
			pattern: "POST " + pathCreate,
			answer:  reply(200, `{"verificationId":"v-9","scanId":"s-9","onboardingToken":"ot","onboardingUrl":"https://gw.example/onb/v-9","extra":1}`),
			call: func(c *Client) (any, error) {
				return c.CreateOnboarding(ctx, CreateRequest{CountryID: "ESP", DocType: "IDCard",
					RedirectURL: "https://portal.example/done", ScanID: "s-9", ExtraData: map[string]string{"customerRef": "C-1"}})
			},
			wantMethod: "POST", wantPath: pathCreate,
			wantBody: map[string]any{fieldCountryID: "ESP", fieldDocType: "IDCard", fieldRedirectURL: "https://portal.example/done",
				fieldScanID: "s-9", fieldExtraData: map[string]any{"customerRef": "C-1"}},
			check: func(t *testing.T, got any) {
				ob := got.(*Onboarding)
				if ob.VerificationID != "v-9" || ob.ScanID != "s-9" || ob.OnboardingToken != "ot" || ob.OnboardingURL != "https://gw.example/onb/v-9" {
					t.Errorf("onboarding = %+v", ob)
				}
			},
		},
		{
			name:    "create minimal",
			pattern: "POST " + pathCreate,
			answer:  reply(201, `{"verificationId":"v-9","onboardingUrl":"javascript:alert(1)"}`),
			call: func(c *Client) (any, error) {
				return c.CreateOnboarding(ctx, CreateRequest{CountryID: "ESP", DocType: "Passport"})
			},
			wantMethod: "POST", wantPath: pathCreate,
			wantBody: map[string]any{fieldCountryID: "ESP", fieldDocType: "Passport"},
			check: func(t *testing.T, got any) {
				if ob := got.(*Onboarding); ob.OnboardingURL != "" {
					t.Errorf("unsafe onboarding URL kept: %q", ob.OnboardingURL)
				}
			},
		},
		{
			name:       "process",
			pattern:    "GET /mobbscan-agent/getVerificationProcessData/{id}",
			answer:     reply(200, sampleProcess),
			call:       func(c *Client) (any, error) { return c.Process(ctx, "v-1") },
			wantMethod: "GET", wantPath: "/mobbscan-agent/getVerificationProcessData/v-1",
			check: func(t *testing.T, got any) {
				p := got.(*Process)
				if p.VerificationID != "v-1" || !p.Reviewable() || p.PersonalData.Surname != "García" || p.Scores["liveness"] != 0.93 {
					t.Errorf("process = %+v", p)
				}
			},
		},
		{
			name:       "status",
			pattern:    "GET /mobbscan-agent/checkVerificationProcessResult/{id}",
			answer:     reply(200, `{"verificationId":"v-1","status":"VERIFIED","stage":"DONE"}`),
			call:       func(c *Client) (any, error) { return c.Status(ctx, "v-1") },
			wantMethod: "GET", wantPath: "/mobbscan-agent/checkVerificationProcessResult/v-1",
			check: func(t *testing.T, got any) {
				s := got.(*StatusResult)
				if s.Status != StatusVerified || s.Stage != "DONE" || s.Reviewable() || !s.Status.Final() {
					t.Errorf("status = %+v", s)
				}
			},
		},
		{
			name:       "accept",
			pattern:    "POST " + pathAccept,
			answer:     reply(200, `{"verificationId":"v-1","status":"VERIFIED"}`),
			call:       func(c *Client) (any, error) { return c.Accept(ctx, "v-1", map[string]string{"surname": "Garcia"}) },
			wantMethod: "POST", wantPath: pathAccept,
			wantBody: map[string]any{fieldVerificationID: "v-1", fieldDecisionType: "MANUAL", fieldPersonalData: map[string]any{"surname": "Garcia"}},
			check: func(t *testing.T, got any) {
				if r := got.(*DecisionResult); r.Status != StatusVerified || r.VerificationID != "v-1" {
					t.Errorf("result = %+v", r)
				}
			},
		},
		{
			name:       "accept without corrections, empty answer",
			pattern:    "POST " + pathAccept,
			answer:     reply(200, ``),
			call:       func(c *Client) (any, error) { return c.Accept(ctx, "v-1", nil) },
			wantMethod: "POST", wantPath: pathAccept,
			wantBody: map[string]any{fieldVerificationID: "v-1", fieldDecisionType: "MANUAL"},
			check: func(t *testing.T, got any) {
				if r := got.(*DecisionResult); r.Status != "" || r.VerificationID != "v-1" {
					t.Errorf("result = %+v", r)
				}
			},
		},
		{
			name:       "reject",
			pattern:    "POST " + pathReject,
			answer:     reply(200, `{"verificationId":"v-1","status":"NOT_VERIFIED"}`),
			call:       func(c *Client) (any, error) { return c.Reject(ctx, "v-1", "  document expired ") },
			wantMethod: "POST", wantPath: pathReject,
			wantBody: map[string]any{fieldVerificationID: "v-1", fieldDecisionType: "MANUAL", fieldRejectComment: "document expired"},
			check: func(t *testing.T, got any) {
				if r := got.(*DecisionResult); r.Status != StatusNotVerified {
					t.Errorf("result = %+v", r)
				}
			},
		},
		{
			name:       "pending",
			pattern:    "POST " + pathPending,
			answer:     reply(200, `{"verificationId":"v-1","status":"PENDING"}`),
			call:       func(c *Client) (any, error) { return nil, c.Pending(ctx, "v-1") },
			wantMethod: "POST", wantPath: pathPending,
			wantBody: map[string]any{fieldVerificationID: "v-1"},
		},
		{
			name:       "delete",
			pattern:    "DELETE /mobbscan-agent/api/verification/{id}",
			answer:     reply(200, ``),
			call:       func(c *Client) (any, error) { return nil, c.Delete(ctx, "v-1") },
			wantMethod: "DELETE", wantPath: "/mobbscan-agent/api/verification/v-1",
		},
		{
			name:    "image evidence",
			pattern: "GET /mobbscan-agent/{id}/image/{kind}",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "image/jpeg")
				io.WriteString(w, "JPEGDATA")
			},
			call:       func(c *Client) (any, error) { return c.Evidence(ctx, "v-1", KindFaceNow, "") },
			wantMethod: "GET", wantPath: "/mobbscan-agent/v-1/image/face_now",
			check: func(t *testing.T, got any) {
				ev := got.(*Evidence)
				defer ev.Body.Close()
				b, err := io.ReadAll(ev.Body)
				if err != nil || string(b) != "JPEGDATA" || ev.ContentType != "image/jpeg" || ev.ContentLength != 8 || ev.StatusCode != 200 {
					t.Errorf("evidence = %+v, body %q, err %v", ev, b, err)
				}
			},
		},
		{
			name:    "recording evidence",
			pattern: "GET /mobbscan-agent/{id}/recording/{kind}",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "video/webm")
				io.WriteString(w, "WEBM")
			},
			call:       func(c *Client) (any, error) { return c.Evidence(ctx, "v-1", KindVideoLiveness, "") },
			wantMethod: "GET", wantPath: "/mobbscan-agent/v-1/recording/video_liveness",
			check: func(t *testing.T, got any) {
				ev := got.(*Evidence)
				ev.Body.Close()
				if ev.ContentType != "video/webm" {
					t.Errorf("content type = %q", ev.ContentType)
				}
			},
		},
		{
			name:    "zip",
			pattern: "GET /api/zip/{id}",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/zip")
				w.Header().Set("Content-Disposition", `attachment; filename="../../etc/v-1.zip"`)
				io.WriteString(w, "PK")
			},
			call:       func(c *Client) (any, error) { return c.ZIP(ctx, "v-1") },
			wantMethod: "GET", wantPath: "/api/zip/v-1",
			check: func(t *testing.T, got any) {
				ev := got.(*Evidence)
				ev.Body.Close()
				if ev.Filename != "v-1.zip" || ev.ContentType != "application/zip" {
					t.Errorf("zip = %+v", ev)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.handle(tt.pattern, tt.answer)
			c := f.client(t)
			got, err := tt.call(c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != tt.wantMethod || r.Path != tt.wantPath {
				t.Errorf("request = %s %s, want %s %s", r.Method, r.Path, tt.wantMethod, tt.wantPath)
			}
			if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
				t.Errorf("no bearer token")
			}
			if tt.wantBody == nil {
				if len(r.Body) != 0 {
					t.Errorf("body = %s, want none", r.Body)
				}
			} else {
				var body map[string]any
				if err := json.Unmarshal(r.Body, &body); err != nil {
					t.Fatalf("body %s: %v", r.Body, err)
				}
				if !reflect.DeepEqual(body, tt.wantBody) {
					t.Errorf("body = %v, want %v", body, tt.wantBody)
				}
				if ct := r.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q", ct)
				}
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

func TestDecisionType(t *testing.T) {
	f := newFake(t)
	f.handle("POST "+pathReject, reply(200, `{}`))
	c := f.client(t, func(c *Config) { c.DecisionType = "AGENT" })
	if _, err := c.Reject(context.Background(), "v-1", "blurry"); err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	json.Unmarshal(f.requests()[0].Body, &body)
	if body[fieldDecisionType] != "AGENT" {
		t.Errorf("type = %q, want AGENT", body[fieldDecisionType])
	}
}

// TestRefusedLocally checks that invalid input never reaches the gateway.
func TestRefusedLocally(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("a", maxIDLen+1)
	tests := []struct {
		name string
		call func(c *Client) error
	}{
		{"empty id", func(c *Client) error { _, err := c.Process(ctx, ""); return err }},
		{"slash", func(c *Client) error { _, err := c.Status(ctx, "a/b"); return err }},
		{"backslash", func(c *Client) error { _, err := c.Accept(ctx, `a\b`, nil); return err }},
		{"dot dot", func(c *Client) error { return c.Delete(ctx, "..") }},
		{"dot", func(c *Client) error { return c.Pending(ctx, ".") }},
		{"space", func(c *Client) error { _, err := c.ZIP(ctx, "a b"); return err }},
		{"newline", func(c *Client) error { _, err := c.Reject(ctx, "a\nb", "x"); return err }},
		{"too long", func(c *Client) error { _, err := c.Process(ctx, long); return err }},
		{"invalid utf8", func(c *Client) error { _, err := c.Process(ctx, "a\xffb"); return err }},
		{"blank comment", func(c *Client) error { _, err := c.Reject(ctx, "v-1", " \t "); return err }},
		{"unknown kind", func(c *Client) error { _, err := c.Evidence(ctx, "v-1", "selfie", ""); return err }},
		{"kind path", func(c *Client) error { _, err := c.Evidence(ctx, "v-1", "../zip", ""); return err }},
		{"no country", func(c *Client) error { _, err := c.CreateOnboarding(ctx, CreateRequest{DocType: "IDCard"}); return err }},
		{"no doc type", func(c *Client) error { _, err := c.CreateOnboarding(ctx, CreateRequest{CountryID: "ESP"}); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			err := tt.call(f.client(t))
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrBadRequest) || e.StatusCode != 0 || e.Ambiguous() {
				t.Fatalf("err = %v, want a local ErrBadRequest", err)
			}
			if n := len(f.requests()) + f.tokens(); n != 0 {
				t.Errorf("%d requests sent, want none", n)
			}
		})
	}
}

func TestPathEscaping(t *testing.T) {
	f := newFake(t)
	f.handle("GET /mobbscan-agent/checkVerificationProcessResult/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"verificationId":`+jsonString(r.PathValue("id"))+`}`)
	})
	c := f.client(t)
	id := "a?b#c%d;é"
	s, err := c.Status(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if s.VerificationID != id {
		t.Errorf("id = %q, want %q", s.VerificationID, id)
	}
	if got, want := f.requests()[0].Path, "/mobbscan-agent/checkVerificationProcessResult/a%3Fb%23c%25d%3B%C3%A9"; got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestResponseAboutAnotherProcess(t *testing.T) {
	f := newFake(t)
	f.handle("GET /mobbscan-agent/getVerificationProcessData/{id}", reply(200, `{"verificationId":"v-2","status":"PENDING"}`))
	f.handle("POST "+pathAccept, reply(200, `{"verificationId":"v-2","status":"VERIFIED"}`))
	c := f.client(t)
	if _, err := c.Process(context.Background(), "v-1"); !errors.Is(err, ErrBadResponse) {
		t.Errorf("Process err = %v, want ErrBadResponse", err)
	}
	_, err := c.Accept(context.Background(), "v-1", nil)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrBadResponse) || !e.Ambiguous() {
		t.Errorf("Accept err = %v, want an ambiguous ErrBadResponse", err)
	}
}

func TestOnboardingWithoutID(t *testing.T) {
	f := newFake(t)
	f.handle("POST "+pathCreate, reply(200, `{"onboardingUrl":"https://x.example/"}`))
	_, err := f.client(t).CreateOnboarding(context.Background(), CreateRequest{CountryID: "ESP", DocType: "IDCard"})
	if !errors.Is(err, ErrBadResponse) {
		t.Errorf("err = %v, want ErrBadResponse", err)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	f := newFake(t)
	var followed int
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		followed++
		writeJSON(w, 200, `{"verificationId":"v-1","status":"VERIFIED"}`)
	}))
	defer target.Close()
	f.handle("GET /mobbscan-agent/checkVerificationProcessResult/{id}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/steal", http.StatusFound)
	})
	f.handle("GET /mobbscan-agent/{id}/image/{kind}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/steal", http.StatusTemporaryRedirect)
	})
	c := f.client(t)
	_, err := c.Status(context.Background(), "v-1")
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrBadResponse) || e.StatusCode != http.StatusFound {
		t.Errorf("Status err = %v, want ErrBadResponse with 302", err)
	}
	if _, err := c.Evidence(context.Background(), "v-1", KindDocumentFront, ""); !errors.Is(err, ErrBadResponse) {
		t.Errorf("Evidence err = %v, want ErrBadResponse", err)
	}
	if followed != 0 {
		t.Errorf("redirect followed %d times", followed)
	}
}

func TestHeaders(t *testing.T) {
	f := newFake(t)
	f.handle("GET /mobbscan-agent/{id}/recording/{kind}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "v")
	})
	c := f.client(t)
	ev, err := c.Evidence(context.Background(), "v-1", KindVideoLiveness, "")
	if err != nil {
		t.Fatal(err)
	}
	ev.Body.Close()
	h := f.requests()[0].Header
	if got := h.Get("Accept-Encoding"); got != "identity" {
		t.Errorf("Accept-Encoding = %q, want identity", got)
	}
	if got := h.Get("Range"); got != "" {
		t.Errorf("Range = %q, want none", got)
	}
	if got := h.Get("User-Agent"); got != userAgent {
		t.Errorf("User-Agent = %q", got)
	}
}

func TestCallerContext(t *testing.T) {
	f := newFake(t)
	f.handle("GET /mobbscan-agent/checkVerificationProcessResult/{id}", hang)
	c := f.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Status(ctx, "v-1")
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || !e.Timeout() {
		t.Errorf("err = %v, want ErrUnavailable wrapping the caller's deadline", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := c.Status(ctx, "v-1"); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
