package handlers_test

// The harness runs the real Echo application (handlers.New with every middleware)
// through net/http/httptest on a real SQLite file under t.TempDir(). Time is a
// controllable clock shared by the store (db.Now) and the sign-in throttle, so
// timeouts are tested by moving the clock, never by sleeping.

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/handlers"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// testHost is the Host of every request (httptest.NewRequest's default).
const testHost = "example.com"

// Passwords that pass the policy (A2): long, unrelated words.
const (
	pwAdmin  = "velvet harbour quartz 1987 lantern"
	pwAgent  = "copper meadow violin 4412 orbit"
	pwAgent2 = "saffron tundra piano 2290 ember"
	pwNew    = "granite willow comet 7731 bramble"
)

// clock is a settable time source for db.Now and the throttle.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// syncBuffer collects the application's log lines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness is one portal under test.
type harness struct {
	t        *testing.T
	db       *store.DB
	e        *echo.Echo
	clock    *clock
	hasher   *auth.Hasher
	sessions *auth.SessionStore
	throttle *auth.Throttle
	logs     *syncBuffer
	// skipAuditCheck turns off the audit-chain check at the end of the test (for tests
	// that close the database themselves).
	skipAuditCheck bool
}

// harnessOptions tune newHarness.
type harnessOptions struct {
	cfg     handlers.Config
	session auth.SessionConfig
}

// newHarness opens a fresh database and builds the application. Every harness checks
// at the end of its test that the audit chain still verifies (L2).
func newHarness(t *testing.T, opts ...func(*harnessOptions)) *harness {
	t.Helper()
	var o harnessOptions
	for _, f := range opts {
		f(&o)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "portal.db"))
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	clk := &clock{now: time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC)}
	db.Now = clk.Now

	hasher := auth.NewHasher(auth.TestParams)
	sessions := auth.NewSessionStore(db, o.session)
	throttle := auth.NewThrottle(auth.ThrottleConfig{})
	throttle.Now = clk.Now
	logs := &syncBuffer{}
	cfg := o.cfg
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := handlers.New(cfg, handlers.Deps{
		DB: db, Sessions: sessions, Hasher: hasher, Review: review.New(db, nil, cfg.Logger, review.Config{}),
		Authenticator: &auth.Authenticator{DB: db, Hasher: hasher, Throttle: throttle},
	})
	h := &harness{t: t, db: db, e: e, clock: clk, hasher: hasher, sessions: sessions, throttle: throttle, logs: logs}
	t.Cleanup(func() {
		if h.skipAuditCheck {
			return
		}
		if n, err := db.VerifyAudit(context.Background()); err != nil {
			t.Errorf("VerifyAudit after %d events: %v", n, err)
		}
	})
	return h
}

func withSession(c auth.SessionConfig) func(*harnessOptions) {
	return func(o *harnessOptions) { o.session = c }
}

func withConfig(c handlers.Config) func(*harnessOptions) {
	return func(o *harnessOptions) { o.cfg = c }
}

func (h *harness) cookieName() string { return h.sessions.Config().CookieName() }

// createUser stores an active account with password (none when empty).
func (h *harness) createUser(email, name, role, password string, mustChange bool) *store.User {
	h.t.Helper()
	u := &store.User{Email: email, DisplayName: name, Role: role, Active: true, MustChangePassword: mustChange}
	if password != "" {
		hash, err := h.hasher.Hash(password)
		if err != nil {
			h.t.Fatalf("hash: %v", err)
		}
		u.PasswordHash = hash
	}
	if err := h.db.CreateUser(context.Background(), store.System, u); err != nil {
		h.t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

// user reloads an account.
func (h *harness) user(id int64) *store.User {
	h.t.Helper()
	u, err := h.db.UserByID(context.Background(), id)
	if err != nil {
		h.t.Fatalf("user %d: %v", id, err)
	}
	return u
}

// sessionsOf lists the open sessions of a user.
func (h *harness) sessionsOf(userID int64) []*store.Session {
	h.t.Helper()
	list, err := h.db.ListUserSessions(context.Background(), userID)
	if err != nil {
		h.t.Fatalf("list sessions: %v", err)
	}
	return list
}

// audit returns the audit rows with action (all when empty), oldest first.
func (h *harness) audit(action string) []store.AuditEvent {
	h.t.Helper()
	list, err := h.db.ListAudit(context.Background(), store.AuditFilter{Action: action, Limit: 500})
	if err != nil {
		h.t.Fatalf("list audit: %v", err)
	}
	for i, j := 0, len(list)-1; i < j; i, j = i+1, j-1 {
		list[i], list[j] = list[j], list[i]
	}
	return list
}

// countAudit counts audit rows with action and outcome (any outcome when empty).
func (h *harness) countAudit(action, outcome string) int {
	h.t.Helper()
	n := 0
	for _, e := range h.audit(action) {
		if outcome == "" || e.Outcome == outcome {
			n++
		}
	}
	return n
}

// countRows runs a count query.
func (h *harness) countRows(query string, args ...any) int {
	h.t.Helper()
	var n int
	if err := h.db.SQL().QueryRow(query, args...).Scan(&n); err != nil {
		h.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// browser is one client with its own cookies, kept by hand (no cookiejar): exactly
// what the server set is sent back.
type browser struct {
	h          *harness
	remoteAddr string
	cookies    map[string]*http.Cookie
}

func (h *harness) browser() *browser {
	return &browser{h: h, remoteAddr: "192.0.2.10:40000", cookies: map[string]*http.Cookie{}}
}

// from sets the direct peer's address.
func (b *browser) from(ip string) *browser {
	b.remoteAddr = ip + ":40000"
	return b
}

// sessionCookie returns the session cookie's value ("" when none).
func (b *browser) sessionCookie() string {
	if c := b.cookies[b.h.cookieName()]; c != nil {
		return c.Value
	}
	return ""
}

// setSessionCookie plants a session cookie value.
func (b *browser) setSessionCookie(v string) {
	b.cookies[b.h.cookieName()] = &http.Cookie{Name: b.h.cookieName(), Value: v}
}

// clone returns a browser with a copy of b's cookies (a stolen or replayed cookie).
func (b *browser) clone() *browser {
	c := &browser{h: b.h, remoteAddr: b.remoteAddr, cookies: map[string]*http.Cookie{}}
	for k, v := range b.cookies {
		cp := *v
		c.cookies[k] = &cp
	}
	return c
}

// response is what a request got.
type response struct {
	Code    int
	Header  http.Header
	Body    string
	Cookies []*http.Cookie
}

func (r *response) location() string { return r.Header.Get("Location") }

func (r *response) String() string {
	body := r.Body
	if len(body) > 400 {
		body = body[:400] + "…"
	}
	return fmt.Sprintf("status %d, Location %q, HX-Redirect %q, body %q", r.Code, r.location(), r.Header.Get("HX-Redirect"), body)
}

// do sends req with b's cookies from b's address and keeps the cookies it sets.
func (b *browser) do(req *http.Request) *response {
	b.h.t.Helper()
	req.RemoteAddr = b.remoteAddr
	for _, c := range b.cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	rec := httptest.NewRecorder()
	b.h.e.ServeHTTP(rec, req)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	r := &response{Code: res.StatusCode, Header: res.Header, Body: string(body), Cookies: res.Cookies()}
	for _, c := range r.Cookies {
		if c.MaxAge < 0 || c.Value == "" {
			delete(b.cookies, c.Name)
			continue
		}
		b.cookies[c.Name] = c
	}
	return r
}

// header is a request header for get and post.
type header struct{ key, value string }

var (
	htmxHeader = header{"HX-Request", "true"}
	pollHeader = header{auth.PollHeader, "1"}
)

func (b *browser) get(path string, hs ...header) *response {
	b.h.t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for _, hd := range hs {
		req.Header.Set(hd.key, hd.value)
	}
	return b.do(req)
}

// post sends a form as a same-origin browser does (Sec-Fetch-Site: same-origin);
// headers given override that.
func (b *browser) post(path string, form url.Values, hs ...header) *response {
	b.h.t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for _, hd := range hs {
		if hd.value == "" {
			req.Header.Del(hd.key)
			continue
		}
		req.Header.Set(hd.key, hd.value)
	}
	return b.do(req)
}

// submit GETs the page holding a form (as a person would) and then POSTs to action.
func (b *browser) submit(page, action string, form url.Values, hs ...header) *response {
	b.h.t.Helper()
	if r := b.get(page); r.Code != http.StatusOK {
		b.h.t.Fatalf("GET %s before POST %s: got %s, want 200", page, action, r)
	}
	return b.post(action, form, hs...)
}

// login submits the sign-in form.
func (b *browser) login(email, password string) *response {
	b.h.t.Helper()
	return b.submit("/login", "/login", url.Values{"email": {email}, "password": {password}})
}

// signIn returns a new browser signed in as email.
func (h *harness) signIn(email, password string) *browser {
	h.t.Helper()
	b := h.browser()
	r := b.login(email, password)
	if r.Code != http.StatusSeeOther || b.sessionCookie() == "" {
		h.t.Fatalf("sign in as %s: got %s, want 303 with a session cookie", email, r)
	}
	return b
}

// fixture is a portal with an admin and an agent, both signed in.
type fixture struct {
	*harness
	admin, agent *store.User
	adminB       *browser
	agentB       *browser
}

func newFixture(t *testing.T, opts ...func(*harnessOptions)) *fixture {
	t.Helper()
	h := newHarness(t, opts...)
	f := &fixture{harness: h}
	f.admin = h.createUser("admin@example.com", "Ada Admin", store.RoleAdmin, pwAdmin, false)
	f.agent = h.createUser("agent@example.com", "Alan Agent", store.RoleAgent, pwAgent, false)
	f.adminB = h.signIn("admin@example.com", pwAdmin)
	f.agentB = h.signIn("agent@example.com", pwAgent)
	return f
}

// wantSignedIn fails unless b's session opens a signed-in page.
func wantSignedIn(t *testing.T, b *browser, who string) {
	t.Helper()
	if r := b.get("/account"); r.Code != http.StatusOK {
		t.Fatalf("%s: GET /account got %s, want 200 (session alive)", who, r)
	}
}

// wantSignedOut fails unless b's session is refused with a redirect to the sign-in page.
func wantSignedOut(t *testing.T, b *browser, who string) {
	t.Helper()
	r := b.get("/account")
	if r.Code != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/login") {
		t.Fatalf("%s: GET /account got %s, want 303 to /login (session ended)", who, r)
	}
}

// wantPage fails unless r is an HTML page with status and no stack trace.
func wantPage(t *testing.T, r *response, status int, what string) {
	t.Helper()
	if r.Code != status {
		t.Errorf("%s: got %s, want status %d", what, r, status)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("%s: Content-Type %q, want text/html", what, ct)
	}
	if !strings.Contains(r.Body, "<html") && !strings.Contains(r.Body, "data-testid=\"error-fragment\"") {
		t.Errorf("%s: body is not an HTML page: %q", what, r.Body)
	}
	wantNoLeak(t, r, what)
}

// wantNoLeak fails when a body looks like a stack trace or an internal error.
func wantNoLeak(t *testing.T, r *response, what string) {
	t.Helper()
	for _, s := range []string{"goroutine ", "runtime/", ".go:", "panic", "sqlite", "SQL", "internal error"} {
		if strings.Contains(r.Body, s) {
			t.Errorf("%s: body contains %q: %q", what, s, r.Body)
		}
	}
}

var linkRE = regexp.MustCompile(`value="(http://` + regexp.QuoteMeta(testHost) + `/password/([A-Za-z0-9_-]+))"`)

// passwordLink extracts the one-time link and its token from an admin page.
func passwordLink(t *testing.T, r *response) (link, token string) {
	t.Helper()
	m := linkRE.FindStringSubmatch(r.Body)
	if m == nil {
		t.Fatalf("no set-password link in %s", r)
	}
	return m[1], m[2]
}

// esc is how templ writes text into HTML.
func esc(s string) string { return html.EscapeString(s) }

func formOf(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func idStr(id int64) string { return fmt.Sprint(id) }
