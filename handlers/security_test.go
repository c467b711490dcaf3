package handlers_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/handlers"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// wantPublic is the complete list of real routes reachable without a session (Z1):
// adding a route to handlers.PublicRoutes must be a deliberate change of this test too.
var wantPublic = map[string]bool{
	"GET /login": true, "POST /login": true,
	"GET /password/:token": true, "POST /password/:token": true,
	"GET /healthz": true, "HEAD /healthz": true, "GET /static/*": true,
	"POST /webhooks/mobbscan/:token": true, // authenticated by its secret path token (W1)
	// Single sign-on (issue 9, item 2): the button's start and the provider's callback.
	"GET /login/oidc": true, "GET /login/oidc/callback": true,
	// Second factor (issue 9, item 1): reached with a pending sign-in (a right password),
	// not a session.
	"GET /login/second-factor": true, "POST /login/second-factor": true,
	// The language menu of signed-out pages (issue 12): sets the portal_lang cookie only.
	"POST /lang": true,
}

// realRoutes returns the routes with a handler of ours (not Echo's not-found
// catch-alls), sorted.
func realRoutes(e *echo.Echo) []*echo.Route {
	var out []*echo.Route
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Method+out[i].Path < out[j].Method+out[j].Path })
	return out
}

var paramRE = regexp.MustCompile(`:[a-z]+|\*`)

// fillPath substitutes path parameters with the values given (a fake value otherwise).
func fillPath(path string, vals map[string]string) string {
	return paramRE.ReplaceAllStringFunc(path, func(p string) string {
		if v, ok := vals[p]; ok {
			return v
		}
		return "x"
	})
}

func TestPublicRoutesAreExactlyTheExpectedOnes(t *testing.T) {
	h := newHarness(t)
	for _, r := range realRoutes(h.e) {
		key := r.Method + " " + r.Path
		if got, want := handlers.PublicRoutes[key], wantPublic[key]; got != want {
			t.Errorf("PublicRoutes[%q] = %v, want %v", key, got, want)
		}
	}
}

// TestEveryRouteRefusesAnonymous walks e.Routes(): every route that is not public
// refuses a request without a session (Z1): 303 to the sign-in page for GET, 401 for
// other methods, and 401 with HX-Redirect for htmx (S5).
func TestEveryRouteRefusesAnonymous(t *testing.T) {
	f := newFixture(t)
	sid := f.sessionsOf(f.agent.ID)[0].ID
	vals := map[string]string{":id": idStr(f.agent.ID), ":sid": idStr(sid), ":token": "not-a-token", "*": "app.css"}
	checked := 0
	for _, rt := range realRoutes(f.e) {
		key := rt.Method + " " + rt.Path
		if handlers.PublicRoutes[key] {
			continue
		}
		checked++
		path := fillPath(rt.Path, vals)
		t.Run(key, func(t *testing.T) {
			usersBefore := f.countRows("SELECT count(*) FROM users WHERE active = 1")
			sessionsBefore := f.countRows("SELECT count(*) FROM sessions")

			anon := f.browser()
			req := httptest.NewRequest(rt.Method, path, strings.NewReader("role=admin&email=x@example.com&name=X"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			r := anon.do(req)
			if rt.Method == http.MethodGet {
				want := "/login?next=" + url.QueryEscape(path)
				if r.Code != http.StatusSeeOther || r.location() != want {
					t.Errorf("anonymous %s %s: got %s, want 303 to %q", rt.Method, path, r, want)
				}
			} else {
				if r.Code != http.StatusUnauthorized || !strings.HasPrefix(r.location(), "/login") {
					t.Errorf("anonymous %s %s: got %s, want 401 pointing at /login", rt.Method, path, r)
				}
				wantPage(t, r, http.StatusUnauthorized, "anonymous "+key)
			}

			req = httptest.NewRequest(rt.Method, path, nil)
			req.Header.Set("HX-Request", "true")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			r = anon.do(req)
			if r.Code != http.StatusUnauthorized || r.Header.Get("HX-Redirect") != "/login" {
				t.Errorf("anonymous htmx %s %s: got %s, want 401 with HX-Redirect /login", rt.Method, path, r)
			}
			if strings.Contains(r.Body, "login-form") {
				t.Errorf("anonymous htmx %s %s: a login form came back in a fragment", rt.Method, path)
			}

			if got, want := f.countRows("SELECT count(*) FROM users WHERE active = 1"), usersBefore; got != want {
				t.Errorf("active users after anonymous %s: got %d, want %d", key, got, want)
			}
			if got, want := f.countRows("SELECT count(*) FROM sessions"), sessionsBefore; got != want {
				t.Errorf("sessions after anonymous %s: got %d, want %d", key, got, want)
			}
		})
	}
	if checked < 10 {
		t.Errorf("checked %d protected routes, want at least 10 (is the route walk broken?)", checked)
	}
}

// TestAdminRoutesRefuseAgents: every /admin route answers an agent 403, changes nothing
// and writes an access.denied audit row (Z1, Z2), up to the L3 bound: past
// review.DeniedRecorded denials in a window they are only counted.
func TestAdminRoutesRefuseAgents(t *testing.T) {
	f := newFixture(t)
	other := f.createUser("other@example.com", "Olga Other", store.RoleAgent, pwAgent2, false)
	otherB := f.signIn("other@example.com", pwAgent2)
	sid := f.sessionsOf(other.ID)[0].ID
	vals := map[string]string{":id": idStr(other.ID), ":sid": idStr(sid)}
	checked := 0
	for _, rt := range realRoutes(f.e) {
		if !strings.HasPrefix(rt.Path, "/admin") {
			continue
		}
		checked++
		recorded := checked <= review.DeniedRecorded
		key := rt.Method + " " + rt.Path
		path := fillPath(rt.Path, vals)
		t.Run(key, func(t *testing.T) {
			denied := f.countAudit("access.denied", store.OutcomeDenied)
			users := f.countRows("SELECT count(*) FROM users")
			req := httptest.NewRequest(rt.Method, path, strings.NewReader("role=admin&email=new@example.com&name=New"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			r := f.agentB.do(req)
			wantPage(t, r, http.StatusForbidden, "agent "+key)

			want := denied
			if recorded {
				want++
			}
			if got := f.countAudit("access.denied", store.OutcomeDenied); got != want {
				t.Fatalf("access.denied rows after agent %s (recorded %t): got %d, want %d", key, recorded, got, want)
			}
			if !recorded {
				return
			}
			ev := f.audit("access.denied")
			last := ev[len(ev)-1]
			if last.ActorID != f.agent.ID || last.ObjectID != key || last.IP != "192.0.2.10" ||
				last.RequestID == "" || last.RequestID != r.Header.Get(echo.HeaderXRequestID) {
				t.Errorf("access.denied row: got actor %d object %q ip %q request %q, want actor %d object %q ip 192.0.2.10 request %q",
					last.ActorID, last.ObjectID, last.IP, last.RequestID, f.agent.ID, key, r.Header.Get(echo.HeaderXRequestID))
			}

			// Nothing changed: the target is still an active agent with its session.
			o := f.user(other.ID)
			if o.Role != store.RoleAgent || !o.Active {
				t.Errorf("after agent %s: target role %q active %v, want agent and active", key, o.Role, o.Active)
			}
			if got := f.countRows("SELECT count(*) FROM users"); got != users {
				t.Errorf("after agent %s: %d users, want %d", key, got, users)
			}
			if got := f.countRows("SELECT count(*) FROM set_password_tokens"); got != 0 {
				t.Errorf("after agent %s: %d set-password links, want 0", key, got)
			}
		})
	}
	if checked < 8 {
		t.Errorf("checked %d admin routes, want at least 8", checked)
	}
	wantSignedIn(t, otherB, "target of the refused admin actions")
	wantSignedIn(t, f.agentB, "refused agent")
}

// TestCrossOriginPostsAreRefused: Go's CrossOriginProtection wraps the app (C1).
func TestCrossOriginPostsAreRefused(t *testing.T) {
	f := newFixture(t)
	create := formOf("email", "csrf@example.com", "name", "CSRF", "role", "admin")
	tests := []struct {
		name    string
		headers []header
		want    int
	}{
		{"Sec-Fetch-Site cross-site", []header{{"Sec-Fetch-Site", "cross-site"}}, http.StatusForbidden},
		{"Sec-Fetch-Site same-site", []header{{"Sec-Fetch-Site", "same-site"}}, http.StatusForbidden},
		{"foreign Origin without Sec-Fetch-Site", []header{{"Sec-Fetch-Site", ""}, {"Origin", "https://evil.example"}}, http.StatusForbidden},
		{"foreign Origin with port", []header{{"Sec-Fetch-Site", ""}, {"Origin", "http://example.com:8443"}}, http.StatusForbidden},
		{"null Origin", []header{{"Sec-Fetch-Site", ""}, {"Origin", "null"}}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users := f.countRows("SELECT count(*) FROM users")
			for _, c := range []struct {
				path string
				form url.Values
			}{
				{"/admin/users", create},
				{"/admin/users/" + idStr(f.agent.ID) + "/role", formOf("role", "admin")},
				{"/admin/users/" + idStr(f.agent.ID) + "/disable", nil},
				{"/admin/users/" + idStr(f.agent.ID) + "/sessions/end", nil},
				{"/logout", nil},
			} {
				r := f.adminB.post(c.path, c.form, tt.headers...)
				if r.Code != tt.want {
					t.Errorf("POST %s: got %s, want %d", c.path, r, tt.want)
				}
			}
			r := f.browser().post("/login", formOf("email", "admin@example.com", "password", pwAdmin), tt.headers...)
			if r.Code != tt.want || len(r.Cookies) != 0 {
				t.Errorf("cross-origin POST /login: got %s with %d cookies, want %d and none", r, len(r.Cookies), tt.want)
			}
			if got := f.countRows("SELECT count(*) FROM users"); got != users {
				t.Errorf("users: got %d, want %d", got, users)
			}
			if a := f.user(f.agent.ID); a.Role != store.RoleAgent || !a.Active {
				t.Errorf("agent after cross-origin posts: role %q active %v, want agent, active", a.Role, a.Active)
			}
			wantSignedIn(t, f.adminB, "admin after cross-origin logout")
			wantSignedIn(t, f.agentB, "agent after cross-origin session end")
		})
	}

	// Same-origin changes work, by Sec-Fetch-Site or by a matching Origin.
	r := f.adminB.post("/admin/users", create)
	if r.Code != http.StatusCreated {
		t.Fatalf("same-origin (Sec-Fetch-Site) POST /admin/users: got %s, want 201", r)
	}
	r = f.adminB.post("/admin/users", formOf("email", "csrf2@example.com", "name", "Two", "role", "agent"),
		header{"Sec-Fetch-Site", ""}, header{"Origin", "http://" + testHost})
	if r.Code != http.StatusCreated {
		t.Fatalf("same-origin (Origin) POST /admin/users: got %s, want 201", r)
	}
	// Cross-site navigation (GET) is not refused.
	if r := f.adminB.get("/admin/users", header{"Sec-Fetch-Site", "cross-site"}); r.Code != http.StatusOK {
		t.Errorf("cross-site GET: got %s, want 200", r)
	}
}

// TestSecurityHeaders checks C2's headers on public, signed-in and error pages.
func TestSecurityHeaders(t *testing.T) {
	for _, production := range []bool{false, true} {
		name := "development"
		if production {
			name = "production"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, withConfig(handlers.Config{Production: production}))
			pages := []struct {
				name string
				b    *browser
				path string
				code int
			}{
				{"login", f.browser(), "/login", http.StatusOK},
				{"account", f.agentB, "/account", http.StatusOK},
				{"users", f.adminB, "/admin/users", http.StatusOK},
				{"user", f.adminB, "/admin/users/" + idStr(f.agent.ID), http.StatusOK},
				{"not found", f.adminB, "/admin/users/999999", http.StatusNotFound},
				{"forbidden", f.agentB, "/admin/users", http.StatusForbidden},
			}
			for _, p := range pages {
				r := p.b.get(p.path)
				if r.Code != p.code {
					t.Errorf("%s: got %s, want %d", p.name, r, p.code)
				}
				csp := r.Header.Get("Content-Security-Policy")
				for _, want := range []string{"default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "script-src 'self'"} {
					if !strings.Contains(csp, want) {
						t.Errorf("%s: CSP %q lacks %q", p.name, csp, want)
					}
				}
				for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*"} {
					if strings.Contains(csp, bad) {
						t.Errorf("%s: CSP %q contains %q", p.name, csp, bad)
					}
				}
				wantHeaders := map[string]string{
					"X-Content-Type-Options": "nosniff",
					"Referrer-Policy":        "same-origin",
					"Cache-Control":          "no-store",
				}
				for k, want := range wantHeaders {
					if got := r.Header.Get(k); got != want {
						t.Errorf("%s: %s = %q, want %q", p.name, k, got, want)
					}
				}
				hsts := r.Header.Get("Strict-Transport-Security")
				if production && !strings.Contains(hsts, "max-age=") {
					t.Errorf("%s: HSTS %q, want max-age in production", p.name, hsts)
				}
				if !production && hsts != "" {
					t.Errorf("%s: HSTS %q, want none in development", p.name, hsts)
				}
				if r.Header.Get(echo.HeaderXRequestID) == "" {
					t.Errorf("%s: no X-Request-Id", p.name)
				}
				wantNoInlineScript(t, p.name, r.Body)
			}
		})
	}
}

var (
	scriptTagRE = regexp.MustCompile(`(?i)<script\b[^>]*>`)
	handlerRE   = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	jsURLRE     = regexp.MustCompile(`(?i)(href|src|action)\s*=\s*"\s*javascript:`)
)

// wantNoInlineScript fails on inline script, event handler attributes or javascript:
// URLs: the CSP forbids them, so they would be dead code or a hole.
func wantNoInlineScript(t *testing.T, name, body string) {
	t.Helper()
	for _, tag := range scriptTagRE.FindAllString(body, -1) {
		if !strings.Contains(tag, "src=") {
			t.Errorf("%s: inline script %q", name, tag)
		}
	}
	if m := handlerRE.FindString(body); m != "" {
		t.Errorf("%s: inline event handler %q", name, m)
	}
	if m := jsURLRE.FindString(body); m != "" {
		t.Errorf("%s: javascript: URL %q", name, m)
	}
}

var htmxConfigRE = regexp.MustCompile(`<meta name="htmx-config" content="([^"]*)"`)

// TestHTMXConfig checks the layout's htmx hardening (C3).
func TestHTMXConfig(t *testing.T) {
	f := newFixture(t)
	for _, p := range []struct {
		b    *browser
		path string
	}{{f.browser(), "/login"}, {f.agentB, "/account"}, {f.adminB, "/admin/users"}} {
		r := p.b.get(p.path)
		m := htmxConfigRE.FindStringSubmatch(r.Body)
		if m == nil {
			t.Fatalf("%s: no htmx-config meta in %s", p.path, r)
		}
		var cfg map[string]any
		if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &cfg); err != nil {
			t.Fatalf("%s: htmx-config %q: %v", p.path, m[1], err)
		}
		want := map[string]any{"selfRequestsOnly": true, "allowEval": false, "allowScriptTags": false, "historyCacheSize": float64(0)}
		for k, w := range want {
			if got, ok := cfg[k]; !ok || got != w {
				t.Errorf("%s: htmx-config %s = %v (present %v), want %v", p.path, k, got, ok, w)
			}
		}
		if !strings.Contains(r.Body, `<script src="/static/htmx-`) {
			t.Errorf("%s: htmx is not loaded from /static", p.path)
		}
	}
	// The vendored htmx is served by the portal itself.
	r := f.browser().get("/static/app.js")
	if r.Code != http.StatusOK {
		t.Errorf("GET /static/app.js: got %s, want 200", r)
	}
}

// TestMarkupIsEscaped: names and queries with markup come out as text (C4).
func TestMarkupIsEscaped(t *testing.T) {
	f := newFixture(t)
	evil := `<script>alert(1)</script>`
	r := f.adminB.submit("/admin/users", "/admin/users", formOf("email", "xss@example.com", "name", evil, "role", "agent"))
	if r.Code != http.StatusCreated {
		t.Fatalf("create user with markup in the name: got %s, want 201", r)
	}
	u, err := f.db.UserByEmail(t.Context(), "xss@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u.DisplayName != evil {
		t.Errorf("stored name %q, want %q unchanged", u.DisplayName, evil)
	}
	query := `"><img src=x onerror=alert(2)>`
	pages := []struct {
		name string
		r    *response
	}{
		{"created page", r},
		{"users list", f.adminB.get("/admin/users")},
		{"users list fragment", f.adminB.get("/admin/users?q=xss", htmxHeader, header{"HX-Target", "user-list"})},
		{"user page", f.adminB.get("/admin/users/" + idStr(u.ID))},
		{"search", f.adminB.get("/admin/users?q=" + url.QueryEscape(query))},
	}
	for _, p := range pages {
		if strings.Contains(p.r.Body, evil) || strings.Contains(p.r.Body, "<img src=x") {
			t.Errorf("%s: markup rendered raw: %s", p.name, p.r)
		}
	}
	for _, p := range pages[:4] {
		if !strings.Contains(p.r.Body, esc(evil)) && !strings.Contains(p.r.Body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s: escaped name not shown: %s", p.name, p.r)
		}
	}
	if !strings.Contains(pages[4].r.Body, "&lt;img src=x onerror=alert(2)&gt;") {
		t.Errorf("search: escaped query not shown: %s", pages[4].r)
	}
}

// TestBadInput: every bad request gets an HTML page with the right status, never a
// stack trace, and changes nothing (O1).
func TestBadInput(t *testing.T) {
	f := newFixture(t)
	big := "email=a%40example.com&password=" + strings.Repeat("a", 1<<20+1)
	tests := []struct {
		name   string
		b      *browser
		method string
		path   string
		body   string
		ctype  string
		hs     []header
		want   int
	}{
		{"unknown user id", f.adminB, "GET", "/admin/users/999999", "", "", nil, http.StatusNotFound},
		{"non-numeric user id", f.adminB, "GET", "/admin/users/abc", "", "", nil, http.StatusNotFound},
		{"negative user id", f.adminB, "GET", "/admin/users/-1", "", "", nil, http.StatusNotFound},
		{"zero user id", f.adminB, "GET", "/admin/users/0", "", "", nil, http.StatusNotFound},
		{"huge user id", f.adminB, "GET", "/admin/users/99999999999999999999999", "", "", nil, http.StatusNotFound},
		{"role of unknown user", f.adminB, "POST", "/admin/users/999999/role", "role=admin", "", nil, http.StatusNotFound},
		{"disable unknown user", f.adminB, "POST", "/admin/users/999999/disable", "", "", nil, http.StatusNotFound},
		{"link for unknown user", f.adminB, "POST", "/admin/users/abc/password-link", "", "", nil, http.StatusNotFound},
		{"end sessions of unknown user", f.adminB, "POST", "/admin/users/999999/sessions/end", "", "", nil, http.StatusNotFound},
		{"end non-numeric session", f.agentB, "POST", "/account/sessions/abc/end", "", "", nil, http.StatusNotFound},
		{"unknown id as htmx", f.adminB, "GET", "/admin/users/999999", "", "", []header{htmxHeader}, http.StatusNotFound},
		{"unknown path", f.agentB, "GET", "/nope", "", "", nil, http.StatusNotFound},
		{"unknown path anonymous", f.browser(), "GET", "/nope", "", "", nil, http.StatusNotFound},
		{"unknown admin path", f.adminB, "GET", "/admin/nope", "", "", nil, http.StatusNotFound},
		{"GET on a POST route", f.agentB, "GET", "/logout", "", "", nil, http.StatusMethodNotAllowed},
		{"DELETE on a GET route", f.agentB, "DELETE", "/account", "", "", nil, http.StatusMethodNotAllowed},
		{"PUT on the sign-in page", f.browser(), "PUT", "/login", "", "", nil, http.StatusMethodNotAllowed},
		{"PUT on an admin route", f.adminB, "PUT", "/admin/users", "", "", nil, http.StatusMethodNotAllowed},
		{"PUT on an admin route by an agent", f.agentB, "PUT", "/admin/users", "", "", nil, http.StatusForbidden},
		{"GET on an admin POST route", f.adminB, "GET", "/admin/users/1/role", "", "", nil, http.StatusMethodNotAllowed},
		{"malformed form", f.browser(), "POST", "/login", "email=%zz&password=%", "", nil, http.StatusBadRequest},
		{"empty form", f.browser(), "POST", "/login", "", "", nil, http.StatusBadRequest},
		{"bad multipart", f.browser(), "POST", "/login", "--x\r\nbroken", "multipart/form-data; boundary=y", nil, http.StatusBadRequest},
		{"oversized sign-in", f.browser(), "POST", "/login", big, "", nil, http.StatusRequestEntityTooLarge},
		{"oversized create", f.adminB, "POST", "/admin/users", "email=big%40example.com&role=agent&name=" + strings.Repeat("b", 1<<20+1), "", nil, http.StatusRequestEntityTooLarge},
		{"too long search", f.adminB, "GET", "/admin/users?q=" + strings.Repeat("q", 201), "", "", nil, http.StatusBadRequest},
		{"bad role", f.adminB, "POST", "/admin/users/" + idStr(f.agent.ID) + "/role", "role=root", "", nil, http.StatusUnprocessableEntity},
		{"own role", f.adminB, "POST", "/admin/users/" + idStr(f.admin.ID) + "/role", "role=agent", "", nil, http.StatusConflict},
		{"disable self", f.adminB, "POST", "/admin/users/" + idStr(f.admin.ID) + "/disable", "", "", nil, http.StatusConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users := f.countRows("SELECT count(*) FROM users")
			var body *strings.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			var req *http.Request
			if body != nil {
				req = httptest.NewRequest(tt.method, tt.path, body)
			} else {
				req = httptest.NewRequest(tt.method, tt.path, nil)
			}
			ct := tt.ctype
			if ct == "" {
				ct = "application/x-www-form-urlencoded"
			}
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			for _, hd := range tt.hs {
				req.Header.Set(hd.key, hd.value)
			}
			r := tt.b.do(req)
			wantPage(t, r, tt.want, tt.name)
			if tt.want == http.StatusMethodNotAllowed && r.Header.Get("Allow") == "" {
				t.Errorf("%s: 405 without an Allow header", tt.name)
			}
			if got := f.countRows("SELECT count(*) FROM users"); got != users {
				t.Errorf("%s: users %d, want %d", tt.name, got, users)
			}
		})
	}
	if a := f.user(f.agent.ID); a.Role != store.RoleAgent || !a.Active {
		t.Errorf("agent after bad input: role %q active %v, want agent, active", a.Role, a.Active)
	}
	if a := f.user(f.admin.ID); a.Role != store.RoleAdmin || !a.Active {
		t.Errorf("admin after bad input: role %q active %v, want admin, active", a.Role, a.Active)
	}
}

// TestPanicIsAGenericPage: a panicking handler gives the generic 500 page and a log
// line, never the panic value (O1).
func TestPanicIsAGenericPage(t *testing.T) {
	h := newHarness(t)
	h.e.GET("/test-panic", func(c echo.Context) error { panic("secret detail 42") })
	r := h.browser().get("/test-panic")
	wantPage(t, r, http.StatusInternalServerError, "panic")
	if strings.Contains(r.Body, "secret detail 42") {
		t.Errorf("panic value leaked into the page: %s", r)
	}
	if !strings.Contains(h.logs.String(), "panic") {
		t.Errorf("panic not logged; logs: %s", h.logs.String())
	}
}

func TestHealth(t *testing.T) {
	h := newHarness(t)
	r := h.browser().get("/healthz")
	if r.Code != http.StatusOK {
		t.Fatalf("GET /healthz: got %s, want 200", r)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(r.Body), &got); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
	if got["status"] != "ok" {
		t.Errorf("status %q, want ok", got["status"])
	}

	h.skipAuditCheck = true
	h.db.Close()
	r = h.browser().get("/healthz")
	if r.Code != http.StatusServiceUnavailable {
		t.Errorf("GET /healthz with the database closed: got %s, want 503", r)
	}
	if strings.Contains(r.Body, "sql") {
		t.Errorf("health leaks the database error: %s", r)
	}
}
