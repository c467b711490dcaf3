package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/store"
)

// testClock is a settable time source for db.Now and the throttle.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// openTestDB opens a real database under t.TempDir() with a controllable clock and
// checks the audit chain at the end of the test.
func openTestDB(t *testing.T) (*store.DB, *testClock) {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "portal.db"))
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	clk := &testClock{now: time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC)}
	db.Now = clk.Now
	t.Cleanup(func() {
		if n, err := db.VerifyAudit(context.Background()); err != nil {
			t.Errorf("VerifyAudit after %d events: %v", n, err)
		}
	})
	return db, clk
}

func addUser(t *testing.T, db *store.DB, h *auth.Hasher, email, password string) *store.User {
	t.Helper()
	u := &store.User{Email: email, DisplayName: "Test " + email, Role: store.RoleAgent, Active: true}
	if password != "" {
		hash, err := h.Hash(password)
		if err != nil {
			t.Fatal(err)
		}
		u.PasswordHash = hash
	}
	if err := db.CreateUser(context.Background(), store.System, u); err != nil {
		t.Fatalf("create %s: %v", email, err)
	}
	return u
}

// start opens a session for u as a sign-in would, returning the cookie set.
func start(t *testing.T, ss *auth.SessionStore, u *store.User, r *http.Request) *http.Cookie {
	t.Helper()
	w := httptest.NewRecorder()
	if err := ss.StartSession(w, r, store.Actor{UserID: u.ID, Email: u.Email, IP: "192.0.2.1"}, u, store.SignInPassword); err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("StartSession set %d cookies, want 1", len(cs))
	}
	return cs[0]
}

func requestWith(c *http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if c != nil {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	return r
}

func sessionCount(t *testing.T, db *store.DB, userID int64) int {
	t.Helper()
	list, err := db.ListUserSessions(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func TestSessionStoreCookieOptions(t *testing.T) {
	tests := []struct {
		cfg        auth.SessionConfig
		wantName   string
		wantSecure bool
	}{
		{auth.SessionConfig{}, "portal_session", false},
		{auth.SessionConfig{Secure: true}, "__Host-portal_session", true},
	}
	for _, tt := range tests {
		db, _ := openTestDB(t)
		h := auth.NewHasher(auth.TestParams)
		u := addUser(t, db, h, "a@example.com", "")
		ss := auth.NewSessionStore(db, tt.cfg)
		if got := ss.Config().CookieName(); got != tt.wantName {
			t.Errorf("CookieName() = %q, want %q", got, tt.wantName)
		}
		c := start(t, ss, u, requestWith(nil))
		if c.Name != tt.wantName || c.Secure != tt.wantSecure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
			t.Errorf("cookie %+v, want %s Secure=%v HttpOnly SameSite=Lax Path=/ no Domain", c, tt.wantName, tt.wantSecure)
		}
		if cfg := ss.Config(); cfg.Idle != 15*time.Minute || cfg.Max != 8*time.Hour {
			t.Errorf("defaults Idle %v Max %v, want 15m and 8h", cfg.Idle, cfg.Max)
		}
	}
}

// TestSessionStoreLoad: what New makes of the cookie a request brings.
func TestSessionStoreLoad(t *testing.T) {
	db, _ := openTestDB(t)
	h := auth.NewHasher(auth.TestParams)
	u := addUser(t, db, h, "a@example.com", "")
	ss := auth.NewSessionStore(db, auth.SessionConfig{})
	name := ss.Config().CookieName()
	good := start(t, ss, u, requestWith(nil))

	tests := []struct {
		name    string
		value   string
		wantNew bool
	}{
		{"valid", good.Value, false},
		{"none", "", true},
		{"unknown", "bm90LWEtdG9rZW4", true},
		{"too long", strings.Repeat("a", 129), true},
		{"the stored hash instead of the token", store.HashToken(good.Value), true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tt.value != "" {
			r.AddCookie(&http.Cookie{Name: name, Value: tt.value})
		}
		sess, err := ss.New(r, name)
		if err != nil {
			t.Fatalf("%s: New: %v", tt.name, err)
		}
		if sess.IsNew != tt.wantNew {
			t.Errorf("%s: IsNew = %v, want %v", tt.name, sess.IsNew, tt.wantNew)
		}
		if !tt.wantNew && sess.ID != good.Value {
			t.Errorf("%s: ID %q, want the cookie's token", tt.name, sess.ID)
		}
	}

	// Get caches per request: a second Get sees the same session.
	r := requestWith(good)
	s1, _ := ss.Get(r, name)
	s2, _ := ss.Get(r, name)
	if s1 != s2 {
		t.Errorf("Get returned two sessions for one request")
	}

	// A disabled account's session is ended when presented.
	if _, err := db.SQL().Exec("UPDATE users SET active = 0 WHERE id = ?", u.ID); err != nil {
		t.Fatal(err)
	}
	sess, err := ss.New(requestWith(good), name)
	if err != nil || !sess.IsNew {
		t.Errorf("disabled account: IsNew %v err %v, want a new session", sess.IsNew, err)
	}
	if n := sessionCount(t, db, u.ID); n != 0 {
		t.Errorf("disabled account's sessions: %d, want 0", n)
	}
}

// TestSessionStoreTimeouts checks idle and absolute expiry at the store level: each
// step moves the clock, then presents the cookie and records activity.
func TestSessionStoreTimeouts(t *testing.T) {
	m := time.Minute
	tests := []struct {
		name      string
		steps     []time.Duration
		wantEnded bool // at the last step
	}{
		{"fresh", []time.Duration{0}, false},
		{"just inside idle", []time.Duration{5*m - time.Second}, false},
		{"idle", []time.Duration{5 * m}, true},
		{"active until just before the absolute limit", []time.Duration{4 * m, 4 * m, 4 * m, 4 * m, 4 * m, 4*m - time.Second}, false},
		{"absolute", []time.Duration{4 * m, 4 * m, 4 * m, 4 * m, 4 * m, 4 * m}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, clk := openTestDB(t)
			h := auth.NewHasher(auth.TestParams)
			u := addUser(t, db, h, "a@example.com", "")
			ss := auth.NewSessionStore(db, auth.SessionConfig{Idle: 5 * m, Max: 24 * m})
			name := ss.Config().CookieName()
			c := start(t, ss, u, requestWith(nil))
			for i, d := range tt.steps {
				clk.Advance(d)
				s, err := ss.New(requestWith(c), name)
				if err != nil {
					t.Fatal(err)
				}
				if i < len(tt.steps)-1 {
					if s.IsNew {
						t.Fatalf("step %d: session ended early", i)
					}
					list, err := db.ListUserSessions(context.Background(), u.ID)
					if err != nil || len(list) != 1 {
						t.Fatalf("step %d: sessions %v, %v", i, list, err)
					}
					if err := ss.Touch(context.Background(), list[0]); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if s.IsNew != tt.wantEnded {
					t.Errorf("ended = %v, want %v", s.IsNew, tt.wantEnded)
				}
				wantRows := 1
				if tt.wantEnded {
					wantRows = 0
				}
				if got := sessionCount(t, db, u.ID); got != wantRows {
					t.Errorf("rows %d, want %d", got, wantRows)
				}
			}
		})
	}
}

// TestSessionStoreTouch: activity is written at most every few seconds, and
// never moves backwards.
func TestSessionStoreTouch(t *testing.T) {
	db, clk := openTestDB(t)
	h := auth.NewHasher(auth.TestParams)
	u := addUser(t, db, h, "a@example.com", "")
	ss := auth.NewSessionStore(db, auth.SessionConfig{})
	start(t, ss, u, requestWith(nil))
	row := func() *store.Session {
		list, err := db.ListUserSessions(context.Background(), u.ID)
		if err != nil || len(list) != 1 {
			t.Fatalf("sessions: %v %v", list, err)
		}
		return list[0]
	}
	created := row().LastSeenAt
	clk.Advance(5 * time.Second)
	if err := ss.Touch(context.Background(), row()); err != nil {
		t.Fatal(err)
	}
	if got := row().LastSeenAt; !got.Equal(created) {
		t.Errorf("touch after 5 s wrote %v, want no write", got)
	}
	clk.Advance(time.Minute)
	if err := ss.Touch(context.Background(), row()); err != nil {
		t.Fatal(err)
	}
	if got, want := row().LastSeenAt, clk.Now(); !got.Equal(want) {
		t.Errorf("last seen %v, want %v", got, want)
	}
}

// TestStartSessionReplacesPresentedSession: a sign-in ends the session the request
// carried and issues a new token (S3); EndSession ends it server-side (S2).
func TestStartSessionReplacesPresentedSession(t *testing.T) {
	db, _ := openTestDB(t)
	h := auth.NewHasher(auth.TestParams)
	a := addUser(t, db, h, "a@example.com", "")
	b := addUser(t, db, h, "b@example.com", "")
	ss := auth.NewSessionStore(db, auth.SessionConfig{})
	name := ss.Config().CookieName()

	ca := start(t, ss, a, requestWith(nil))
	r := requestWith(ca)
	if _, err := ss.Get(r, name); err != nil { // as the Load middleware does
		t.Fatal(err)
	}
	cb := start(t, ss, b, r)
	if cb.Value == ca.Value {
		t.Errorf("new sign-in kept the presented token")
	}
	if n := sessionCount(t, db, a.ID); n != 0 {
		t.Errorf("a's sessions after b signed in on the same browser: %d, want 0", n)
	}
	if s, _ := ss.New(requestWith(ca), name); !s.IsNew {
		t.Errorf("old token still opens a session")
	}

	// EndSession deletes the row and clears the cookie.
	r = requestWith(cb)
	if _, err := ss.Get(r, name); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	if err := ss.EndSession(w, r, store.Actor{UserID: b.ID, Email: b.Email}); err != nil {
		t.Fatalf("EndSession: %v", err)
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 || cs[0].Name != name || cs[0].MaxAge >= 0 {
		t.Errorf("EndSession cookies %v, want %s cleared", cs, name)
	}
	if n := sessionCount(t, db, b.ID); n != 0 {
		t.Errorf("b's sessions after EndSession: %d, want 0", n)
	}
	// Ending a session nobody has is harmless.
	w = httptest.NewRecorder()
	if err := ss.EndSession(w, requestWith(nil), store.Actor{}); err != nil {
		t.Errorf("EndSession without a session: %v", err)
	}
}

func TestNewTokenIsRandom256Bits(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != 43 || strings.ContainsAny(tok, "+/=") {
			t.Fatalf("token %q: want 43 base64url characters", tok)
		}
		if seen[tok] {
			t.Fatalf("token %q issued twice", tok)
		}
		seen[tok] = true
	}
}
