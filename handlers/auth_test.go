package handlers_test

import (
	"errors"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/handlers"
	"github.com/mobbscan-review/portal/store"
)

// TestSessionCookieAttributes checks S1: the cookie's attributes, and that it is an
// opaque random token of which the database keeps only the SHA-256.
func TestSessionCookieAttributes(t *testing.T) {
	tests := []struct {
		name       string
		secure     bool
		wantName   string
		wantSecure bool
	}{
		{"development", false, "portal_session", false},
		{"production", true, "__Host-portal_session", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withSession(auth.SessionConfig{Secure: tt.secure}), withConfig(handlers.Config{Production: tt.secure}))
			u := h.createUser("agent@example.com", "Alan Agent", store.RoleAgent, pwAgent, false)
			b := h.browser()
			r := b.login("agent@example.com", pwAgent)
			if r.Code != http.StatusSeeOther {
				t.Fatalf("sign in: got %s, want 303", r)
			}
			if len(r.Cookies) != 1 {
				t.Fatalf("sign in set %d cookies, want 1: %v", len(r.Cookies), r.Header["Set-Cookie"])
			}
			c := r.Cookies[0]
			if c.Name != tt.wantName {
				t.Errorf("cookie name %q, want %q", c.Name, tt.wantName)
			}
			if tt.secure && !strings.HasPrefix(c.Name, "__Host-") {
				t.Errorf("cookie name %q, want the __Host- prefix", c.Name)
			}
			if c.Secure != tt.wantSecure {
				t.Errorf("Secure = %v, want %v", c.Secure, tt.wantSecure)
			}
			if !c.HttpOnly {
				t.Errorf("HttpOnly = false, want true")
			}
			if c.SameSite != http.SameSiteLaxMode {
				t.Errorf("SameSite = %v, want Lax", c.SameSite)
			}
			if c.Path != "/" {
				t.Errorf("Path = %q, want /", c.Path)
			}
			if c.Domain != "" {
				t.Errorf("Domain = %q, want none (host-only)", c.Domain)
			}
			raw := r.Header.Get("Set-Cookie")
			for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
				if !strings.Contains(raw, want) {
					t.Errorf("Set-Cookie %q lacks %s", raw, want)
				}
			}

			// Opaque: 256 random bits, base64url, nothing of the account in it.
			if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(c.Value) {
				t.Errorf("cookie value %q, want 43 base64url characters (256 bits)", c.Value)
			}
			for _, s := range []string{"agent", strconv.FormatInt(u.ID, 10) + "|", "Alan"} {
				if strings.Contains(c.Value, s) {
					t.Errorf("cookie value %q contains %q", c.Value, s)
				}
			}
			// The database keeps the hash only.
			if got := h.countRows("SELECT count(*) FROM sessions WHERE token_hash = ?", store.HashToken(c.Value)); got != 1 {
				t.Errorf("sessions with the cookie's hash: %d, want 1", got)
			}
			if got := h.countRows("SELECT count(*) FROM sessions WHERE instr(token_hash || ip || user_agent, ?) > 0", c.Value); got != 0 {
				t.Errorf("the raw token is stored in the sessions table (%d rows)", got)
			}
			if got := h.countRows("SELECT count(*) FROM audit_events WHERE instr(detail || object_id || request_id || actor, ?) > 0", c.Value); got != 0 {
				t.Errorf("the raw token is in the audit trail (%d rows)", got)
			}
			if strings.Contains(h.logs.String(), c.Value) {
				t.Errorf("the raw token is in the logs")
			}
			wantSignedIn(t, b, "fresh session")

			// Signing out clears the cookie with the same attributes.
			r = b.post("/logout", nil)
			if len(r.Cookies) != 1 || r.Cookies[0].Name != tt.wantName || r.Cookies[0].MaxAge >= 0 || r.Cookies[0].Secure != tt.wantSecure {
				t.Errorf("logout Set-Cookie %v, want %s cleared (Max-Age<0, Secure %v)", r.Header["Set-Cookie"], tt.wantName, tt.wantSecure)
			}
		})
	}
}

// TestLoginLogout: sign-in success and failure, the post-login redirect, and a logout
// that ends the session on the server (S2, L1).
func TestLoginLogout(t *testing.T) {
	h := newHarness(t)
	u := h.createUser("agent@example.com", "Alan Agent", store.RoleAgent, pwAgent, false)
	h.createUser("admin@example.com", "Ada Admin", store.RoleAdmin, pwAdmin, false)

	// The login page, and a protected page sending there with next.
	anon := h.browser()
	r := anon.get("/account")
	if r.Code != http.StatusSeeOther || r.location() != "/login?next=%2Faccount" {
		t.Fatalf("anonymous GET /account: got %s, want 303 to /login?next=%%2Faccount", r)
	}
	r = anon.get(r.location())
	if r.Code != http.StatusOK || !strings.Contains(r.Body, `name="next" value="/account"`) {
		t.Fatalf("GET login page: got %s, want 200 with next=/account", r)
	}

	b := h.browser()
	r = b.submit("/login?next=%2Faccount", "/login", formOf("email", "  AGENT@Example.com ", "password", pwAgent, "next", "/account"))
	if r.Code != http.StatusSeeOther || r.location() != "/account" {
		t.Fatalf("sign in with a differently cased email: got %s, want 303 to /account", r)
	}
	if r := b.get("/login"); r.Code != http.StatusSeeOther {
		t.Errorf("GET /login while signed in: got %s, want 303 away", r)
	}
	for _, home := range []*browser{b, h.signIn("admin@example.com", pwAdmin)} {
		if r := home.get("/"); r.Code != http.StatusSeeOther || r.location() == "" || strings.HasPrefix(r.location(), "/login") {
			t.Errorf("GET / signed in: got %s, want 303 to a signed-in page", r)
		}
	}
	r = b.get("/account")
	if r.Code != http.StatusOK || !strings.Contains(r.Body, "Alan Agent") || !strings.Contains(r.Body, `data-testid="logout"`) {
		t.Fatalf("GET /account: got %s, want 200 with the name and a sign-out button", r)
	}

	// Sign out by POST: the row goes, the old cookie is dead when replayed.
	stolen := b.clone()
	if n := len(h.sessionsOf(u.ID)); n != 1 {
		t.Fatalf("sessions before logout: %d, want 1", n)
	}
	r = b.post("/logout", nil)
	if r.Code != http.StatusSeeOther || r.location() != "/login?done=signedout" {
		t.Fatalf("POST /logout: got %s, want 303 to /login?done=signedout", r)
	}
	if b.sessionCookie() != "" {
		t.Errorf("cookie still set after logout")
	}
	if n := len(h.sessionsOf(u.ID)); n != 0 {
		t.Errorf("sessions after logout: %d, want 0", n)
	}
	wantSignedOut(t, stolen, "replayed cookie after logout")
	if got := h.countAudit("auth.logout", store.OutcomeSuccess); got != 1 {
		t.Errorf("auth.logout rows: %d, want 1", got)
	}
	if r := anon.get("/login?done=signedout"); !strings.Contains(r.Body, "You have signed out.") {
		t.Errorf("signed-out notice missing: %s", r)
	}

	// htmx sign-out answers HX-Redirect.
	b2 := h.signIn("agent@example.com", pwAgent)
	r = b2.post("/logout", nil, htmxHeader)
	if r.Code != http.StatusNoContent || r.Header.Get("HX-Redirect") != "/login?done=signedout" {
		t.Errorf("htmx POST /logout: got %s, want 204 with HX-Redirect", r)
	}
	wantSignedOut(t, b2, "after htmx logout")
}

// TestLoginRedirectStaysOnSite: the post-login "next" never leaves the portal.
func TestLoginRedirectStaysOnSite(t *testing.T) {
	h := newHarness(t)
	h.createUser("agent@example.com", "Alan Agent", store.RoleAgent, pwAgent, false)
	tests := []struct{ next, want string }{
		{"/account", "/account"},
		{"/account?x=1", "/account?x=1"},
		{"", "/"},
		{"https://evil.example/", "/"},
		{"//evil.example/", "/"},
		{"/\\evil.example/", "/"},
		{"/\t/evil.example/", "/"},
		{"/\n/evil.example/", "/"},
		{"\t//evil.example/", "/"},
		{"javascript:alert(1)", "/"},
		{"/login?next=//evil.example", "/"},
	}
	for i, tt := range tests {
		t.Run(strconv.Quote(tt.next), func(t *testing.T) {
			// One peer per case: the IP bucket is not what is tested here.
			b := h.browser().from("198.51.100." + strconv.Itoa(i+1))
			r := b.post("/login", formOf("email", "agent@example.com", "password", pwAgent, "next", tt.next))
			if r.Code != http.StatusSeeOther || r.location() != tt.want {
				t.Errorf("next %q: got %s, want 303 to %q", tt.next, r, tt.want)
			}
		})
	}
}

// TestNoEnumeration: an unknown account, a wrong password and a disabled account get
// the same answer (A4).
func TestNoEnumeration(t *testing.T) {
	h := newHarness(t)
	h.createUser("agent@example.com", "Alan Agent", store.RoleAgent, pwAgent, false)
	off := h.createUser("off@example.com", "Olaf Off", store.RoleAgent, pwAgent2, false)
	if err := h.db.SetUserActive(t.Context(), store.System, off.ID, false); err != nil {
		t.Fatal(err)
	}
	h.createUser("nopass@example.com", "No Password", store.RoleAgent, "", false)
	tests := []struct{ name, email, password string }{
		{"unknown account", "nobody@example.com", pwAgent},
		{"wrong password", "agent@example.com", pwAgent2},
		{"disabled account, right password", "off@example.com", pwAgent2},
		{"account without a password", "nopass@example.com", pwAgent},
	}
	var firstBody string
	for i, tt := range tests {
		r := h.browser().login(tt.email, tt.password)
		if r.Code != http.StatusUnauthorized {
			t.Errorf("%s: got %s, want 401", tt.name, r)
		}
		if len(r.Cookies) != 0 {
			t.Errorf("%s: set %d cookies, want none", tt.name, len(r.Cookies))
		}
		if !strings.Contains(r.Body, "Wrong email or password.") {
			t.Errorf("%s: body lacks the one message: %s", tt.name, r)
		}
		body := strings.ReplaceAll(r.Body, esc(tt.email), "EMAIL")
		if i == 0 {
			firstBody = body
		} else if body != firstBody {
			t.Errorf("%s: body differs from %q's", tt.name, tests[0].name)
		}
	}
	// One client: its first refusal of the window is a row, the others are counted into
	// the window's summary (L3).
	if got := h.countAudit("auth.login", store.OutcomeFailure); got != 1 {
		t.Errorf("failed sign-ins audited: %d, want 1 (the first of the window)", got)
	}
}

// TestAccountLockout: five failures lock the account; the sixth attempt is refused
// with 429 and Retry-After even with the right password; the lock ends in time (A3).
func TestAccountLockout(t *testing.T) {
	h := newHarness(t)
	h.createUser("agent@example.com", "Alan Agent", store.RoleAgent, pwAgent, false)
	for i := 1; i <= 5; i++ {
		// Different peers: the account lock, not the IP bucket, is what is tested.
		r := h.browser().from("198.51.100."+strconv.Itoa(i)).login("agent@example.com", "wrong password number "+strconv.Itoa(i))
		if r.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: got %s, want 401", i, r)
		}
	}
	if got := h.countAudit("auth.lockout", store.OutcomeDenied); got != 1 {
		t.Errorf("auth.lockout rows after 5 failures: %d, want 1", got)
	}
	b := h.browser().from("198.51.100.99")
	r := b.login("agent@example.com", pwAgent)
	if r.Code != http.StatusTooManyRequests {
		t.Fatalf("6th attempt with the right password: got %s, want 429", r)
	}
	ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 30 {
		t.Errorf("Retry-After %q, want 1..30 seconds", r.Header.Get("Retry-After"))
	}
	if b.sessionCookie() != "" || !strings.Contains(r.Body, "Too many sign-in attempts") {
		t.Errorf("locked sign-in: cookie %q, body %s; want no cookie and the message", b.sessionCookie(), r)
	}
	wantPage(t, r, http.StatusTooManyRequests, "locked sign-in")
	// Case and spaces do not give fresh counters.
	if r := h.browser().from("198.51.100.98").login(" Agent@EXAMPLE.com", pwAgent); r.Code != http.StatusTooManyRequests {
		t.Errorf("locked account, other spelling: got %s, want 429", r)
	}
	if got := h.countAudit("auth.login", store.OutcomeDenied); got != 2 {
		t.Errorf("throttled sign-ins audited as denied: %d, want 2", got)
	}

	h.clock.Advance(29 * time.Second)
	if r := h.browser().from("198.51.100.97").login("agent@example.com", pwAgent); r.Code != http.StatusTooManyRequests {
		t.Errorf("after 29 s: got %s, want 429", r)
	}
	h.clock.Advance(2 * time.Second)
	if r := h.browser().from("198.51.100.96").login("agent@example.com", pwAgent); r.Code != http.StatusSeeOther {
		t.Errorf("after the lock: got %s, want 303", r)
	}
}

// TestIPThrottleUsesDirectPeer: the per-IP bucket counts the direct peer; a forged
// X-Forwarded-For changes nothing unless the peer is a trusted proxy (A3).
func TestIPThrottleUsesDirectPeer(t *testing.T) {
	h := newHarness(t)
	attacker := "203.0.113.7"
	burst := auth.DefaultThrottleConfig.Burst
	for i := range burst {
		r := h.browser().from(attacker).login("user"+strconv.Itoa(i)+"@example.com", "some wrong password here")
		if r.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: got %s, want 401", i+1, r)
		}
	}
	tests := []struct {
		name   string
		peer   string
		xff    string
		want   int
		wantIP string
	}{
		{"same peer", attacker, "", http.StatusTooManyRequests, attacker},
		{"same peer, forged X-Forwarded-For", attacker, "198.51.100.50", http.StatusTooManyRequests, attacker},
		{"same peer, forged X-Real-IP", attacker, "", http.StatusTooManyRequests, attacker},
		{"other peer", "203.0.113.8", "", http.StatusUnauthorized, "203.0.113.8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := h.browser().from(tt.peer)
			hs := []header{}
			if tt.xff != "" {
				hs = append(hs, header{"X-Forwarded-For", tt.xff})
			}
			if tt.name == "same peer, forged X-Real-IP" {
				hs = append(hs, header{"X-Real-IP", "198.51.100.51"})
			}
			r := b.post("/login", formOf("email", "someone@example.com", "password", "some wrong password here"), hs...)
			if r.Code != tt.want {
				t.Fatalf("got %s, want %d", r, tt.want)
			}
			ev := h.audit("auth.login")
			if got := ev[len(ev)-1].IP; got != tt.wantIP {
				t.Errorf("audited IP %q, want %q", got, tt.wantIP)
			}
		})
	}
}

// TestTrustedProxyXFF: behind a configured proxy range the client IP comes from
// X-Forwarded-For, and only then.
func TestTrustedProxyXFF(t *testing.T) {
	_, proxies, err := net.ParseCIDR("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, withConfig(handlers.Config{TrustedProxies: []*net.IPNet{proxies}}))
	h.createUser("agent@example.com", "Alan Agent", store.RoleAgent, pwAgent, false)
	tests := []struct{ peer, xff, want string }{
		{"10.1.2.3", "198.51.100.60", "198.51.100.60"},
		{"203.0.113.9", "198.51.100.61", "203.0.113.9"},
	}
	for _, tt := range tests {
		b := h.browser().from(tt.peer)
		b.post("/login", formOf("email", "agent@example.com", "password", "not the password at all"), header{"X-Forwarded-For", tt.xff})
		ev := h.audit("auth.login")
		if got := ev[len(ev)-1].IP; got != tt.want {
			t.Errorf("peer %s, XFF %s: audited IP %q, want %q", tt.peer, tt.xff, got, tt.want)
		}
	}
}

// TestSessionFixation: the session id changes at sign-in, whatever cookie the browser
// brought, and at a password change (S3).
func TestSessionFixation(t *testing.T) {
	h := newHarness(t)
	agent := h.createUser("agent@example.com", "Alan Agent", store.RoleAgent, pwAgent, false)
	h.createUser("admin@example.com", "Ada Admin", store.RoleAdmin, pwAdmin, false)

	// A planted unknown value is not adopted.
	planted := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	b := h.browser()
	b.setSessionCookie(planted)
	if r := b.login("agent@example.com", pwAgent); r.Code != http.StatusSeeOther {
		t.Fatalf("sign in: got %s", r)
	}
	if got := b.sessionCookie(); got == planted || got == "" {
		t.Errorf("cookie after sign-in %q: want a new one, not the planted %q", got, planted)
	}
	if got := h.countRows("SELECT count(*) FROM sessions WHERE token_hash = ?", store.HashToken(planted)); got != 0 {
		t.Errorf("a session row exists for the planted value")
	}

	// An attacker's own valid session planted in a victim's browser is replaced and
	// ended when the victim signs in.
	attacker := h.signIn("agent@example.com", pwAgent)
	victim := attacker.clone()
	before := victim.sessionCookie()
	if r := victim.post("/login", formOf("email", "admin@example.com", "password", pwAdmin)); r.Code != http.StatusSeeOther {
		t.Fatalf("victim sign in: got %s", r)
	}
	if victim.sessionCookie() == before {
		t.Errorf("cookie after sign-in is the one presented before")
	}
	wantSignedOut(t, attacker, "attacker's planted session after the victim signed in")
	if r := victim.get("/admin/users"); r.Code != http.StatusOK {
		t.Errorf("victim as admin: got %s, want 200", r)
	}

	// A password change gives a new id.
	b = h.signIn("agent@example.com", pwAgent)
	old := b.clone()
	r := b.submit("/account/password", "/account/password", formOf("current", pwAgent, "new", pwNew, "confirm", pwNew))
	if r.Code != http.StatusSeeOther {
		t.Fatalf("change password: got %s, want 303", r)
	}
	if b.sessionCookie() == old.sessionCookie() || b.sessionCookie() == "" {
		t.Errorf("cookie after a password change: same id or none")
	}
	wantSignedOut(t, old, "old id after password change")
	wantSignedIn(t, b, "new id after password change")
	if n := len(h.sessionsOf(agent.ID)); n != 1 {
		t.Errorf("sessions after password change: %d, want 1", n)
	}
}

// TestSessionEndsWithItsRow: the row is the truth (S2).
func TestSessionEndsWithItsRow(t *testing.T) {
	f := newFixture(t)
	wantSignedIn(t, f.agentB, "agent")
	if _, err := f.db.SQL().Exec("DELETE FROM sessions WHERE user_id = ?", f.agent.ID); err != nil {
		t.Fatal(err)
	}
	r := f.agentB.get("/account")
	if r.Code != http.StatusSeeOther || r.location() != "/login?next=%2Faccount&expired=1" {
		t.Errorf("after the row was deleted: got %s, want 303 to /login?next=%%2Faccount&expired=1", r)
	}
	if r := f.browser().get(r.location()); !strings.Contains(r.Body, "Your session has ended") {
		t.Errorf("login page after expiry lacks the notice: %s", r)
	}
	wantSignedIn(t, f.adminB, "admin, whose row stayed")
}

// TestAccountChangesEndSessions: disabling, a role change and a password change end
// the account's open sessions on the next request (S2).
func TestAccountChangesEndSessions(t *testing.T) {
	tests := []struct {
		name   string
		change func(f *fixture) *response
		action string
	}{
		{"disable", func(f *fixture) *response {
			return f.adminB.submit("/admin/users/"+idStr(f.agent.ID), "/admin/users/"+idStr(f.agent.ID)+"/disable", nil)
		}, "user.disable"},
		{"role", func(f *fixture) *response {
			return f.adminB.submit("/admin/users/"+idStr(f.agent.ID), "/admin/users/"+idStr(f.agent.ID)+"/role", formOf("role", "admin"))
		}, "user.role"},
		{"password by its owner elsewhere", func(f *fixture) *response {
			other := f.signIn("agent@example.com", pwAgent)
			return other.submit("/account/password", "/account/password", formOf("current", pwAgent, "new", pwNew, "confirm", pwNew))
		}, "user.password"},
		{"password by link", func(f *fixture) *response {
			r := f.adminB.post("/admin/users/"+idStr(f.agent.ID)+"/password-link", nil)
			_, token := passwordLink(f.t, r)
			return f.browser().submit("/password/"+token, "/password/"+token, formOf("new", pwNew, "confirm", pwNew))
		}, "user.password"},
		{"all sessions ended by an admin", func(f *fixture) *response {
			return f.adminB.submit("/admin/users/"+idStr(f.agent.ID), "/admin/users/"+idStr(f.agent.ID)+"/sessions/end", nil)
		}, "session.end_all"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			second := f.signIn("agent@example.com", pwAgent)
			wantSignedIn(t, f.agentB, "agent")
			r := tt.change(f)
			if r.Code != http.StatusSeeOther {
				t.Fatalf("%s: got %s, want 303", tt.name, r)
			}
			for _, b := range []*browser{f.agentB, second} {
				r := b.get("/account")
				if r.Code != http.StatusSeeOther || !strings.Contains(r.location(), "expired=1") {
					t.Errorf("%s: agent's session: got %s, want 303 to /login…expired=1", tt.name, r)
				}
			}
			if got := f.countAudit(tt.action, store.OutcomeSuccess); got != 1 {
				t.Errorf("%s: %s rows %d, want 1", tt.name, tt.action, got)
			}
			wantSignedIn(t, f.adminB, "admin")
		})
	}
}

// TestDisabledAccountRefusedEvenIfRowSurvives: the account is checked on every request,
// not only through the deleted rows.
func TestDisabledAccountRefusedEvenIfRowSurvives(t *testing.T) {
	f := newFixture(t)
	if _, err := f.db.SQL().Exec("UPDATE users SET active = 0 WHERE id = ?", f.agent.ID); err != nil {
		t.Fatal(err)
	}
	r := f.agentB.get("/account", htmxHeader)
	if r.Code != http.StatusUnauthorized || r.Header.Get("HX-Redirect") != "/login?expired=1" {
		t.Errorf("disabled account with a live row: got %s, want 401 with HX-Redirect /login?expired=1", r)
	}
	if n := len(f.sessionsOf(f.agent.ID)); n != 0 {
		t.Errorf("sessions of the disabled account: %d, want 0 (ended when seen)", n)
	}
	if got := f.countRows("SELECT count(*) FROM audit_events WHERE action = 'session.end' AND detail = 'account disabled'"); got != 1 {
		t.Errorf("session.end 'account disabled' rows: %d, want 1", got)
	}
}

// TestSessionTimeouts: idle and absolute timeouts, both configurable; background
// polling is not activity (S4); an expired htmx request gets 401 + HX-Redirect (S5).
func TestSessionTimeouts(t *testing.T) {
	tests := []struct {
		name      string
		cfg       auth.SessionConfig
		idle, max time.Duration
	}{
		{"defaults", auth.SessionConfig{}, 15 * time.Minute, 8 * time.Hour},
		{"configured", auth.SessionConfig{Idle: 5 * time.Minute, Max: time.Hour}, 5 * time.Minute, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Run("idle", func(t *testing.T) {
				h := newHarness(t, withSession(tt.cfg))
				u := h.createUser("agent@example.com", "Alan Agent", store.RoleAgent, pwAgent, false)
				b := h.signIn("agent@example.com", pwAgent)
				s := h.sessionsOf(u.ID)[0]
				if got := s.ExpiresAt.Sub(s.CreatedAt); got != tt.max {
					t.Errorf("absolute lifetime %v, want %v", got, tt.max)
				}
				// Activity just inside the idle window keeps the session.
				h.clock.Advance(tt.idle - time.Minute)
				wantSignedIn(t, b, "active before the idle timeout")
				h.clock.Advance(tt.idle - time.Minute)
				wantSignedIn(t, b, "active again, idle measured from the last activity")
				// Polling does not count as activity.
				h.clock.Advance(tt.idle - time.Minute)
				if r := b.get("/account", htmxHeader, pollHeader); r.Code != http.StatusOK {
					t.Fatalf("poll inside the window: got %s, want 200", r)
				}
				h.clock.Advance(time.Minute)
				r := b.get("/account", htmxHeader)
				if r.Code != http.StatusUnauthorized || r.Header.Get("HX-Redirect") != "/login?expired=1" {
					t.Errorf("htmx after idle timeout (poll did not refresh): got %s, want 401 with HX-Redirect /login?expired=1", r)
				}
				if strings.Contains(r.Body, "login-form") || strings.Contains(r.Body, "<html") {
					t.Errorf("expired htmx request got a page in the fragment: %s", r)
				}
				if n := len(h.sessionsOf(u.ID)); n != 0 {
					t.Errorf("sessions after idle timeout: %d, want 0", n)
				}
				if got := h.countRows("SELECT count(*) FROM audit_events WHERE action = 'session.end' AND detail = 'idle timeout'"); got != 1 {
					t.Errorf("idle timeout audited %d times, want 1", got)
				}
				// The next plain request is sent to sign in again.
				if r := b.get("/account"); r.Code != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/login") {
					t.Errorf("after expiry: got %s, want 303 to /login", r)
				}
			})
			t.Run("idle exactly", func(t *testing.T) {
				h := newHarness(t, withSession(tt.cfg))
				h.createUser("agent@example.com", "Alan Agent", store.RoleAgent, pwAgent, false)
				b := h.signIn("agent@example.com", pwAgent)
				h.clock.Advance(tt.idle)
				r := b.get("/account")
				if r.Code != http.StatusSeeOther || r.location() != "/login?next=%2Faccount&expired=1" {
					t.Errorf("at the idle timeout: got %s, want 303 to /login?next=%%2Faccount&expired=1", r)
				}
			})
			t.Run("absolute", func(t *testing.T) {
				h := newHarness(t, withSession(tt.cfg))
				h.createUser("agent@example.com", "Alan Agent", store.RoleAgent, pwAgent, false)
				b := h.signIn("agent@example.com", pwAgent)
				step := tt.idle / 2
				elapsed := time.Duration(0)
				for elapsed+step < tt.max {
					h.clock.Advance(step)
					elapsed += step
					wantSignedIn(t, b, "kept active at "+elapsed.String())
				}
				h.clock.Advance(tt.max - elapsed)
				r := b.get("/account")
				if r.Code != http.StatusSeeOther || r.location() != "/login?next=%2Faccount&expired=1" {
					t.Errorf("active but past the absolute timeout: got %s, want 303 to /login?next=%%2Faccount&expired=1", r)
				}
				if got := h.countRows("SELECT count(*) FROM audit_events WHERE action = 'session.end' AND detail = 'absolute timeout'"); got != 1 {
					t.Errorf("absolute timeout audited %d times, want 1", got)
				}
			})
		})
	}
}

// TestForcedPasswordChange: an account with a one-time password must change it before
// anything else; the change needs the current password and the policy (A2, A5).
func TestForcedPasswordChange(t *testing.T) {
	h := newHarness(t)
	oneTime := "Kq7vXz2pRm9tWb4nHc6yJd3s"
	u := h.createUser("admin@portal.local", "Administrator", store.RoleAdmin, oneTime, true)
	b := h.browser()
	r := b.login("admin@portal.local", oneTime)
	if r.Code != http.StatusSeeOther || r.location() != "/account/password" {
		t.Fatalf("first sign-in: got %s, want 303 to /account/password", r)
	}
	for _, p := range []string{"/", "/account", "/admin/users", "/admin/users/" + idStr(u.ID)} {
		r := b.get(p)
		if r.Code != http.StatusSeeOther || r.location() != "/account/password" {
			t.Errorf("GET %s with a pending change: got %s, want 303 to /account/password", p, r)
		}
	}
	if r := b.get("/account", htmxHeader); r.Header.Get("HX-Redirect") != "/account/password" {
		t.Errorf("htmx GET /account with a pending change: got %s, want HX-Redirect /account/password", r)
	}
	if r := b.post("/admin/users", formOf("email", "x@example.com", "name", "X", "role", "admin")); r.Code != http.StatusSeeOther || r.location() != "/account/password" {
		t.Errorf("POST /admin/users with a pending change: got %s, want 303 to /account/password", r)
	}
	if got := h.countRows("SELECT count(*) FROM users"); got != 1 {
		t.Errorf("users: %d, want 1 (nothing created before the change)", got)
	}
	r = b.get("/account/password")
	if r.Code != http.StatusOK || !strings.Contains(r.Body, "Choose your own password") || strings.Contains(r.Body, `data-testid="nav-users"`) {
		t.Fatalf("GET /account/password: got %s, want the forced-change form without navigation", r)
	}

	common := "passwordpassword"
	if err := auth.ValidatePassword(common, u.Email, "admin"); !errors.Is(err, auth.ErrPasswordCommon) {
		t.Fatalf("test setup: %q is not refused as common (%v)", common, err)
	}
	commonMsg := auth.ValidatePassword(common, u.Email, "admin").Error()
	tests := []struct {
		name                   string
		current, next, confirm string
		field, msg             string
	}{
		{"no current password", "", pwNew, pwNew, "current", "That is not your current password."},
		{"wrong current password", "not my password at all", pwNew, pwNew, "current", "That is not your current password."},
		{"too short", oneTime, "short pw 1", "short pw 1", "new", "Use at least 15 characters."},
		{"common", oneTime, common, common, "new", commonMsg},
		{"too long", oneTime, strings.Repeat("ab1", 86), strings.Repeat("ab1", 86), "new", "Use at most 256 characters."},
		{"confirmation differs", oneTime, pwNew, pwNew + "x", "confirm", "The two passwords differ."},
		{"same as current", oneTime, oneTime, oneTime, "new", "Choose a password different from the current one."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.post("/account/password", formOf("current", tt.current, "new", tt.next, "confirm", tt.confirm))
			wantPage(t, r, http.StatusUnprocessableEntity, tt.name)
			if !strings.Contains(r.Body, `data-testid="err-`+tt.field+`"`) || !strings.Contains(r.Body, esc(tt.msg)) {
				t.Errorf("%s: want message %q on field %s: %s", tt.name, tt.msg, tt.field, r)
			}
			if !strings.Contains(r.Body, `data-testid="password-form"`) {
				t.Errorf("%s: form not returned", tt.name)
			}
			if tt.next != "" && tt.next != oneTime && strings.Contains(r.Body, tt.next) {
				t.Errorf("%s: the typed password is echoed in the page", tt.name)
			}
			got := h.user(u.ID)
			if got.PasswordHash != u.PasswordHash || !got.MustChangePassword {
				t.Errorf("%s: account changed (hash changed %v, must change %v)", tt.name, got.PasswordHash != u.PasswordHash, got.MustChangePassword)
			}
			wantSessionAlive(t, b, "/account/password", tt.name)
		})
	}
	if got := h.countAudit("user.password", ""); got != 0 {
		t.Errorf("user.password rows after refused changes: %d, want 0", got)
	}

	r = b.post("/account/password", formOf("current", oneTime, "new", pwNew, "confirm", pwNew))
	if r.Code != http.StatusSeeOther || r.location() != "/queue?done=password" {
		t.Fatalf("valid change: got %s, want 303 to /queue?done=password (a newcomer lands on the queue)", r)
	}
	if r := b.get("/queue?done=password"); r.Code != http.StatusOK || !strings.Contains(r.Body, `data-testid="flash"`) || !strings.Contains(r.Body, "Your password has been changed.") {
		t.Errorf("GET /queue?done=password: got %s, want the queue with the confirmation", r)
	}
	got := h.user(u.ID)
	if got.MustChangePassword {
		t.Errorf("must change still set after the change")
	}
	if ok, _, _ := h.hasher.Verify(pwNew, got.PasswordHash); !ok {
		t.Errorf("stored hash does not verify the new password")
	}
	if r := b.get("/admin/users"); r.Code != http.StatusOK {
		t.Errorf("GET /admin/users after the change: got %s, want 200", r)
	}
	if r := h.browser().login("admin@portal.local", oneTime); r.Code != http.StatusUnauthorized {
		t.Errorf("sign in with the one-time password after the change: got %s, want 401", r)
	}
	h.signIn("admin@portal.local", pwNew)
	if got := h.countAudit("user.password", store.OutcomeSuccess); got != 1 {
		t.Errorf("user.password rows: %d, want 1", got)
	}
}

// wantSessionAlive fails unless b still opens path with 200.
func wantSessionAlive(t *testing.T, b *browser, path, who string) {
	t.Helper()
	if r := b.get(path); r.Code != http.StatusOK {
		t.Errorf("%s: GET %s got %s, want 200", who, path, r)
	}
}

// TestSetPasswordLink: an admin's new account gets a one-time link that is stored
// hashed, works once and expires after 24 h (A5).
func TestSetPasswordLink(t *testing.T) {
	f := newFixture(t)
	r := f.adminB.submit("/admin/users", "/admin/users", formOf("email", "new@example.com", "name", "Nina New", "role", "agent"))
	if r.Code != http.StatusCreated {
		t.Fatalf("create user: got %s, want 201", r)
	}
	link, token := passwordLink(t, r)
	if len(token) != 43 {
		t.Errorf("token %q: %d characters, want 43 (256 bits)", token, len(token))
	}
	if !strings.Contains(r.Body, "24 h") {
		t.Errorf("the page does not say the link lasts 24 h: %s", r)
	}
	u, err := f.db.UserByEmail(t.Context(), "new@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u.PasswordHash != "" || u.Role != store.RoleAgent || !u.Active {
		t.Errorf("new account: hash %q role %q active %v, want no password, agent, active", u.PasswordHash, u.Role, u.Active)
	}
	if got := f.countRows("SELECT count(*) FROM set_password_tokens WHERE token_hash = ? AND user_id = ?", store.HashToken(token), u.ID); got != 1 {
		t.Errorf("link rows with the token's hash: %d, want 1", got)
	}
	if got := f.countRows("SELECT count(*) FROM set_password_tokens WHERE token_hash = ?", token); got != 0 {
		t.Errorf("the raw token is stored")
	}
	if strings.Contains(f.logs.String(), token) {
		t.Errorf("the token is in the logs")
	}
	if r := f.browser().login("new@example.com", ""); r.Code != http.StatusBadRequest {
		t.Errorf("sign in without a password: got %s, want 400", r)
	}

	path := strings.TrimPrefix(link, "http://"+testHost)
	anon := f.browser()
	r = anon.get(path)
	if r.Code != http.StatusOK || !strings.Contains(r.Body, `data-testid="password-form"`) {
		t.Fatalf("GET link: got %s, want 200 with the form", r)
	}
	if got := r.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("link page Referrer-Policy %q, want no-referrer", got)
	}
	// A refused password leaves the link usable.
	r = anon.post(path, formOf("new", "too short", "confirm", "too short"))
	wantPage(t, r, http.StatusUnprocessableEntity, "short password by link")
	if !strings.Contains(r.Body, "Use at least 15 characters.") {
		t.Errorf("short password by link: no message: %s", r)
	}
	r = anon.post(path, formOf("new", pwNew, "confirm", pwNew))
	if r.Code != http.StatusSeeOther || r.location() != "/login?done=password" {
		t.Fatalf("POST link: got %s, want 303 to /login?done=password", r)
	}
	// Single use.
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		var r *response
		if m == http.MethodGet {
			r = anon.get(path)
		} else {
			r = anon.post(path, formOf("new", pwAgent2, "confirm", pwAgent2))
		}
		wantPage(t, r, http.StatusNotFound, m+" used link")
		if !strings.Contains(r.Body, `data-testid="link-expired"`) {
			t.Errorf("%s used link: no expiry message: %s", m, r)
		}
	}
	if r := f.browser().login("new@example.com", pwAgent2); r.Code != http.StatusUnauthorized {
		t.Errorf("the replayed link set a password: sign in got %s", r)
	}
	nb := f.signIn("new@example.com", pwNew)
	wantSignedIn(t, nb, "new account")

	// Expiry: a new link works until 24 h and not after.
	for _, tt := range []struct {
		name    string
		advance time.Duration
		want    int
	}{
		{"just before 24 h", 24*time.Hour - time.Minute, http.StatusOK},
		{"at 24 h", 24 * time.Hour, http.StatusNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			adm := f.signIn("admin@example.com", pwAdmin) // the fixture's session has timed out
			r := adm.post("/admin/users/"+idStr(u.ID)+"/password-link", nil)
			if r.Code != http.StatusOK {
				t.Fatalf("issue link: got %s, want 200", r)
			}
			_, tok := passwordLink(t, r)
			hashBefore := f.user(u.ID).PasswordHash
			f.clock.Advance(tt.advance)
			defer f.clock.Advance(time.Hour) // past this link for the next case
			if r := f.browser().get("/password/" + tok); r.Code != tt.want {
				t.Errorf("GET link after %v: got %s, want %d", tt.advance, r, tt.want)
			}
			r = f.browser().post("/password/"+tok, formOf("new", pwAgent2, "confirm", pwAgent2))
			if tt.want == http.StatusNotFound {
				if r.Code != http.StatusNotFound {
					t.Errorf("POST expired link: got %s, want 404", r)
				}
				if f.user(u.ID).PasswordHash != hashBefore {
					t.Errorf("an expired link changed the password")
				}
			} else if r.Code != http.StatusSeeOther {
				t.Errorf("POST link before expiry: got %s, want 303", r)
			}
		})
	}

	// Spending one link retires the others.
	adm := f.signIn("admin@example.com", pwAdmin)
	r1 := adm.post("/admin/users/"+idStr(u.ID)+"/password-link", nil)
	_, tok1 := passwordLink(t, r1)
	r2 := adm.post("/admin/users/"+idStr(u.ID)+"/password-link", nil)
	_, tok2 := passwordLink(t, r2)
	if r := f.browser().post("/password/"+tok2, formOf("new", pwNew, "confirm", pwNew)); r.Code != http.StatusSeeOther {
		t.Fatalf("use second link: got %s, want 303", r)
	}
	if r := f.browser().get("/password/" + tok1); r.Code != http.StatusNotFound {
		t.Errorf("first link after the second was used: got %s, want 404", r)
	}

	// Unknown and absurd tokens.
	for _, tok := range []string{"unknown", strings.Repeat("a", 43), strings.Repeat("a", 200)} {
		if r := f.browser().get("/password/" + tok); r.Code != http.StatusNotFound {
			t.Errorf("GET /password/%s…: got %s, want 404", tok[:5], r)
		}
	}
	if got := f.countAudit("user.password_link", store.OutcomeSuccess); got < 4 {
		t.Errorf("user.password_link rows %d, want at least 4", got)
	}
}

// TestLogsCarryNoSecrets: passwords, tokens and emails never reach the log (P2).
func TestLogsCarryNoSecrets(t *testing.T) {
	f := newFixture(t)
	f.browser().login("agent@example.com", "wrong password for the log test")
	r := f.adminB.post("/admin/users", formOf("email", "logs@example.com", "name", "Lou Logs", "role", "agent"))
	_, token := passwordLink(t, r)
	f.browser().get("/password/" + token)
	f.browser().get("/login?next=%2Fsecret-path%3Ftoken%3Dabc")
	logs := f.logs.String()
	for _, s := range []string{pwAdmin, pwAgent, "wrong password for the log test", token, f.adminB.sessionCookie(),
		f.agentB.sessionCookie(), "agent@example.com", "logs@example.com", "secret-path"} {
		if strings.Contains(logs, s) {
			t.Errorf("log contains %q", s)
		}
	}
	if !strings.Contains(logs, "route=/login") {
		t.Errorf("request lines missing from the log: %s", logs)
	}
}
