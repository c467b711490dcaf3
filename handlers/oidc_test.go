package handlers_test

// Single sign-on (A7; issue 9, item 2) end to end through the real Echo router against
// a real OpenID Provider on httptest (oidcop_test.go): the portal's redirect to the
// provider, the provider's authorize and login, its redirect back, the token exchange
// and the ID token verification are all real HTTP and real protocol.

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/auth/oidctest"
	"github.com/mobbscan-review/portal/handlers"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

const (
	ssoClientID = "review-portal"
	ssoSecret   = "portal-client-secret-0123456789"
	ssoCallback = "http://" + testHost + auth.OIDCCallbackPath
)

// ssoHarness is a portal with single sign-on against a provider of its own.
type ssoHarness struct {
	*harness
	op   *oidctest.Provider
	oidc *auth.OIDC
}

// newSSOHarness starts a provider and a portal configured for it, with an admin and
// an agent (both with passwords).
func newSSOHarness(t *testing.T, configure ...func(*auth.OIDCConfig)) *ssoHarness {
	t.Helper()
	op := oidctest.New(t, ssoClientID, ssoSecret, ssoCallback)
	h := newHarness(t)
	cfg := auth.OIDCConfig{Issuer: op.URL, ClientID: ssoClientID, ClientSecret: ssoSecret, RedirectURL: ssoCallback, Name: "Acme ID",
		Throttle: h.throttle}
	for _, f := range configure {
		f(&cfg)
	}
	o := auth.NewOIDC(h.db, cfg)
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.e = handlers.New(handlers.Config{BaseURL: "http://" + testHost, Logger: log}, handlers.Deps{
		DB: h.db, Sessions: h.sessions, Hasher: h.hasher, Review: review.New(h.db, nil, log, review.Config{}),
		Authenticator: &auth.Authenticator{DB: h.db, Hasher: h.hasher, Throttle: h.throttle}, OIDC: o,
	})
	h.createUser("admin@example.com", "Ada Admin", store.RoleAdmin, pwAdmin, false)
	h.createUser("agent.smith@example.com", "Alan Agent", store.RoleAgent, pwAgent, false)
	return &ssoHarness{harness: h, op: op, oidc: o}
}

// toProvider clicks "Sign in with …": it returns the provider's redirect back to the
// portal (the callback's path and query) after the provider signed person in.
func (s *ssoHarness) toProvider(b *browser, next string, person oidctest.Person) string {
	s.t.Helper()
	s.op.SignInAs(person)
	start := "/login/oidc"
	if next != "" {
		start += "?next=" + url.QueryEscape(next)
	}
	r := b.get(start)
	if r.Code != http.StatusSeeOther || !strings.HasPrefix(r.location(), s.op.URL+"/") {
		s.t.Fatalf("GET %s: got %s, want 303 to the provider", start, r)
	}
	authz, _ := url.Parse(r.location())
	q := authz.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
		s.t.Fatalf("authorization request %s: want PKCE S256, a nonce and a state", r.location())
	}
	client := &http.Client{CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host == testHost {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	res, err := client.Get(r.location())
	if err != nil {
		s.t.Fatalf("provider: %v", err)
	}
	res.Body.Close()
	back, err := res.Location()
	if err != nil || back.Host != testHost || back.Path != auth.OIDCCallbackPath {
		s.t.Fatalf("provider answered %d, Location %v (%v), want a redirect to the portal's callback", res.StatusCode, back, err)
	}
	return back.RequestURI()
}

// signInSSO goes through the whole sign-in and returns the callback's answer.
func (s *ssoHarness) signInSSO(b *browser, next string, person oidctest.Person) *response {
	s.t.Helper()
	return b.get(s.toProvider(b, next, person))
}

// wantRefused fails unless r is the sign-in page with message, with no session and a
// failed auth.login audited with detail.
func (s *ssoHarness) wantRefused(b *browser, r *response, message, detail string) {
	s.t.Helper()
	wantPage(s.t, r, http.StatusUnauthorized, "refused callback")
	if !strings.Contains(r.Body, `data-testid="login-error"`) || !strings.Contains(r.Body, message) {
		s.t.Errorf("refused callback: want the sign-in page with %q, got %s", message, r)
	}
	if b.sessionCookie() != "" {
		s.t.Errorf("refused callback set a session cookie")
	}
	found := false
	for _, e := range s.audit(string(store.ActionLogin)) {
		if e.Outcome == store.OutcomeFailure && strings.HasPrefix(e.Detail, "oidc: "+detail) {
			found = true
		}
	}
	if !found {
		s.t.Errorf("no auth.login failure audited with detail %q; audit: %+v", "oidc: "+detail, s.audit(string(store.ActionLogin)))
	}
	if n := s.countRows("SELECT count(*) FROM users"); n != 2 {
		s.t.Errorf("users: got %d, want 2 (single sign-on never creates accounts)", n)
	}
}

var smith = oidctest.Person{Subject: "sub-smith", Email: "Agent.Smith@EXAMPLE.com", EmailVerified: true}

func TestSSOSignInEndToEnd(t *testing.T) {
	s := newSSOHarness(t)
	b := s.browser()
	login := b.get("/login")
	wantPage(t, login, http.StatusOK, "login page")
	if !strings.Contains(login.Body, `data-testid="sso-button"`) || !strings.Contains(login.Body, "Sign in with Acme ID") ||
		!strings.Contains(login.Body, `href="/login/oidc"`) {
		t.Fatalf("login page: want an enabled \"Sign in with Acme ID\" link, got %s", login)
	}
	r := s.signInSSO(b, "/queue?view=mine", smith)
	if r.Code != http.StatusSeeOther || r.location() != "/queue?view=mine" {
		t.Fatalf("callback: got %s, want 303 to /queue?view=mine", r)
	}
	if b.sessionCookie() == "" {
		t.Fatal("callback: no session cookie")
	}
	if _, ok := b.cookies[s.oidc.CookieName()]; ok {
		t.Error("the state cookie is still set after the callback")
	}
	wantSignedIn(t, b, "signed in with SSO")
	u, err := s.db.UserByEmail(context.Background(), "agent.smith@example.com")
	if err != nil {
		t.Fatal(err)
	}
	list := s.sessionsOf(u.ID)
	if len(list) != 1 || list[0].Method != store.SignInOIDC {
		t.Fatalf("sessions of the agent: got %+v, want one signed in with oidc", list)
	}
	ok := 0
	for _, e := range s.audit(string(store.ActionLogin)) {
		if e.Outcome == store.OutcomeSuccess && e.Detail == "method: oidc" && e.ActorID == u.ID {
			ok++
		}
	}
	if ok != 1 {
		t.Errorf("successful oidc sign-ins audited: got %d, want 1; audit: %+v", ok, s.audit(string(store.ActionLogin)))
	}
}

func TestSSOStateCookieIsHostOnlyLaxAndShortLived(t *testing.T) {
	s := newSSOHarness(t)
	r := s.browser().get("/login/oidc")
	var ck *http.Cookie
	for _, c := range r.Cookies {
		if c.Name == s.oidc.CookieName() {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.MaxAge <= 0 || ck.MaxAge > 600 {
		t.Fatalf("state cookie: got %+v, want HttpOnly, SameSite=Lax, Path=/, Max-Age at most 10 minutes", ck)
	}
	prod := auth.NewOIDC(s.db, auth.OIDCConfig{Issuer: s.op.URL, Secure: true})
	if got := prod.CookieName(); !strings.HasPrefix(got, "__Host-") {
		t.Errorf("production state cookie name %q, want the __Host- prefix", got)
	}
}

func TestSSOWrongStateIsRefused(t *testing.T) {
	s := newSSOHarness(t)
	b := s.browser()
	back := s.toProvider(b, "", smith)
	u, _ := url.Parse(back)
	q := u.Query()
	q.Set("state", "forged-state")
	u.RawQuery = q.Encode()
	s.wantRefused(b, b.get(u.RequestURI()), "not valid any more", "wrong state")

	// A callback that reaches another browser (login CSRF: the attacker's code in the
	// victim's browser) has no state cookie there.
	other := s.browser()
	s.wantRefused(other, other.get(s.toProvider(s.browser(), "", smith)), "not valid any more", "wrong state")
}

func TestSSOReplayedCodeIsRefused(t *testing.T) {
	s := newSSOHarness(t)
	b := s.browser()
	back := s.toProvider(b, "", smith)
	stolen := b.clone() // the browser's state cookie, copied before the callback
	if r := b.get(back); r.Code != http.StatusSeeOther {
		t.Fatalf("first callback: got %s, want 303", r)
	}
	// The same callback again, with the state cookie: the state is spent.
	s.wantRefused(stolen, stolen.get(back), "not valid any more", "unknown, used or expired state")

	// The spent code under a fresh, valid state: the provider refuses it.
	b2 := s.browser()
	fresh, _ := url.Parse(s.toProvider(b2, "", smith))
	old, _ := url.Parse(back)
	q := fresh.Query()
	q.Set("code", old.Query().Get("code"))
	fresh.RawQuery = q.Encode()
	s.wantRefused(b2, b2.get(fresh.RequestURI()), "did not confirm your sign-in", "code refused by the provider")
}

func TestSSOBadSignatureIsRefused(t *testing.T) {
	s := newSSOHarness(t)
	s.op.SignWithUnpublishedKey(true)
	b := s.browser()
	r := s.signInSSO(b, "", smith)
	s.wantRefused(b, r, "did not confirm your sign-in", "id token rejected: ")
}

func TestSSOWrongNonceIsRefused(t *testing.T) {
	s := newSSOHarness(t)
	s.op.SendWrongNonce(true)
	b := s.browser()
	s.wantRefused(b, s.signInSSO(b, "", smith), "did not confirm your sign-in", "nonce mismatch")
}

func TestSSOUnverifiedEmailIsRefused(t *testing.T) {
	s := newSSOHarness(t)
	b := s.browser()
	p := smith
	p.EmailVerified = false
	s.wantRefused(b, s.signInSSO(b, "", p), "has not verified your email address", "email not verified")
}

func TestSSOUnknownEmailCreatesNothing(t *testing.T) {
	s := newSSOHarness(t)
	b := s.browser()
	p := oidctest.Person{Subject: "sub-stranger", Email: "stranger@example.com", EmailVerified: true}
	s.wantRefused(b, s.signInSSO(b, "", p), "no active review portal account", "no account for this email")
}

func TestSSODisabledAccountIsRefused(t *testing.T) {
	s := newSSOHarness(t)
	u, _ := s.db.UserByEmail(context.Background(), "agent.smith@example.com")
	if err := s.db.SetUserActive(context.Background(), store.System, u.ID, false); err != nil {
		t.Fatal(err)
	}
	b := s.browser()
	s.wantRefused(b, s.signInSSO(b, "", smith), "no active review portal account", "account disabled")
}

func TestSSOProviderErrorAndExpiredStateAreRefused(t *testing.T) {
	s := newSSOHarness(t)
	b := s.browser()
	back, _ := url.Parse(s.toProvider(b, "", smith))
	q := url.Values{"state": {back.Query().Get("state")}, "error": {"access_denied"}}
	s.wantRefused(b, b.get(auth.OIDCCallbackPath+"?"+q.Encode()), "did not confirm your sign-in", "provider error: access_denied")

	b2 := s.browser()
	late := s.toProvider(b2, "", smith)
	s.oidc.Now = func() time.Time { return time.Now().Add(11 * time.Minute) }
	s.wantRefused(b2, b2.get(late), "not valid any more", "unknown, used or expired state")
}

func TestSSOUnavailableProviderDisablesTheButtonAndIsRetried(t *testing.T) {
	s := newSSOHarness(t, func(c *auth.OIDCConfig) { c.RetryEvery = time.Nanosecond })
	s.op.SetDown(true)
	b := s.browser()
	r := b.get("/login")
	wantPage(t, r, http.StatusOK, "login page, provider down")
	if !strings.Contains(r.Body, `data-testid="sso-unavailable"`) || !strings.Contains(r.Body, "disabled") {
		t.Fatalf("login page with the provider down: want the button disabled with a message, got %s", r)
	}
	r = b.get("/login/oidc")
	wantPage(t, r, http.StatusServiceUnavailable, "start with the provider down")
	if !strings.Contains(r.Body, "cannot be reached") {
		t.Errorf("start with the provider down: want a clear message, got %s", r)
	}
	s.op.SetDown(false)
	if r := b.get("/login"); strings.Contains(r.Body, `data-testid="sso-unavailable"`) {
		t.Fatalf("login page once the provider is back: still unavailable: %s", r)
	}
	if r := s.signInSSO(b, "", smith); r.Code != http.StatusSeeOther {
		t.Fatalf("sign-in once the provider is back: got %s, want 303", r)
	}
}

func TestSSOOnlyBlocksPasswordsExceptAdmins(t *testing.T) {
	s := newSSOHarness(t)
	admin := s.signIn("admin@example.com", pwAdmin)
	settings := admin.get("/admin/settings")
	wantPage(t, settings, http.StatusOK, "settings")
	if !strings.Contains(settings.Body, `data-testid="sso-settings-form"`) || !strings.Contains(settings.Body, ssoCallback) {
		t.Fatalf("settings: want the single sign-on card with the callback URL, got %s", settings)
	}
	if r := admin.post("/admin/settings/sso", url.Values{"sso_only": {"maybe"}}); r.Code != http.StatusBadRequest {
		t.Errorf("bad value: got %s, want 400", r)
	}
	if r := admin.post("/admin/settings/sso", url.Values{"sso_only": {"on"}}); r.Code != http.StatusSeeOther {
		t.Fatalf("turn SSO-only on: got %s, want 303", r)
	}
	changes := 0
	for _, e := range s.audit(string(store.ActionSettingChange)) {
		if e.ObjectID == auth.SettingSSOOnly && strings.Contains(e.Detail, `"on"`) {
			changes++
		}
	}
	if changes != 1 {
		t.Errorf("setting change audited %d times, want 1", changes)
	}

	agent := s.browser()
	r := agent.login("agent.smith@example.com", pwAgent)
	wantPage(t, r, http.StatusForbidden, "agent password sign-in, SSO only")
	if !strings.Contains(r.Body, "Single sign-on is the only way") || agent.sessionCookie() != "" {
		t.Fatalf("agent password sign-in with SSO only: want a refusal and no session, got %s", r)
	}
	if !strings.Contains(r.Body, `value="agent.smith@example.com"`) {
		t.Errorf("the refused form lost the email typed")
	}
	if n := s.countAudit(string(store.ActionLogin), store.OutcomeDenied); n != 1 {
		t.Errorf("refused password sign-ins audited: got %d, want 1", n)
	}
	// The recovery path: administrators keep their password.
	s.signIn("admin@example.com", pwAdmin)
	// Agents come in through the identity provider.
	if r := s.signInSSO(agent, "", smith); r.Code != http.StatusSeeOther || agent.sessionCookie() == "" {
		t.Fatalf("agent SSO sign-in with SSO only: got %s, want 303 and a session", r)
	}
	// Off again: passwords work for agents.
	if r := admin.post("/admin/settings/sso", url.Values{}); r.Code != http.StatusSeeOther {
		t.Fatalf("turn SSO-only off: got %s", r)
	}
	s.signIn("agent.smith@example.com", pwAgent)
}

func TestSSONotConfiguredOffersNothing(t *testing.T) {
	f := newFixture(t)
	if r := f.browser().get("/login"); strings.Contains(r.Body, `data-testid="sso`) {
		t.Errorf("login page without SSO shows a button: %s", r)
	}
	if r := f.adminB.get("/admin/settings"); strings.Contains(r.Body, `data-testid="sso-settings-form"`) {
		t.Errorf("settings without SSO offer the SSO-only switch")
	}
	if r := f.adminB.post("/admin/settings/sso", url.Values{"sso_only": {"on"}}); r.Code != http.StatusNotFound {
		t.Errorf("POST /admin/settings/sso without SSO: got %s, want 404", r)
	}
	// A setting left on from an earlier configuration locks nobody out.
	if err := f.db.SetSetting(context.Background(), store.System, auth.SettingSSOOnly, "on"); err != nil {
		t.Fatal(err)
	}
	f.signIn("agent@example.com", pwAgent)
	for _, p := range []string{"/login/oidc", auth.OIDCCallbackPath + "?state=x&code=y"} {
		if r := f.browser().get(p); r.Code != http.StatusNotFound {
			t.Errorf("GET %s without SSO: got %s, want 404", p, r)
		}
	}
}

func TestSSOPendingSignInsAreBounded(t *testing.T) {
	s := newSSOHarness(t, func(c *auth.OIDCConfig) { c.MaxPending = 2 })
	for i := range 2 {
		if r := s.browser().get("/login/oidc"); r.Code != http.StatusSeeOther {
			t.Fatalf("start %d: got %s, want 303", i+1, r)
		}
	}
	r := s.browser().get("/login/oidc")
	wantPage(t, r, http.StatusServiceUnavailable, "start beyond the bound")
	// Expired sign-ins make room again.
	s.oidc.Now = func() time.Time { return time.Now().Add(11 * time.Minute) }
	if r := s.browser().get("/login/oidc"); r.Code != http.StatusSeeOther {
		t.Fatalf("start once the others expired: got %s, want 303", r)
	}
}

func TestSSOIsThrottledPerAddress(t *testing.T) {
	s := newSSOHarness(t)
	burst := s.throttle.Config().Burst
	for i := range burst {
		if r := s.browser().from("198.51.100.7").get("/login/oidc"); r.Code != http.StatusSeeOther {
			t.Fatalf("start %d: got %s, want 303", i+1, r)
		}
	}
	r := s.browser().from("198.51.100.7").get("/login/oidc")
	wantPage(t, r, http.StatusTooManyRequests, "start beyond the burst")
	if r.Header.Get("Retry-After") == "" || !strings.Contains(r.Body, "Too many sign-in attempts") {
		t.Errorf("throttled start: want Retry-After and a message, got %s", r)
	}
	r = s.browser().from("198.51.100.7").get(auth.OIDCCallbackPath + "?state=x&code=y")
	wantPage(t, r, http.StatusTooManyRequests, "callback beyond the burst")
	// Another address is not affected.
	if r := s.signInSSO(s.browser().from("198.51.100.8"), "", smith); r.Code != http.StatusSeeOther {
		t.Fatalf("sign-in from another address: got %s, want 303", r)
	}
}

// TestSSOInSpanish: the unavailable provider's messages, the button and a refusal speak
// the browser's language (issue 12, item 5).
func TestSSOInSpanish(t *testing.T) {
	s := newSSOHarness(t, func(c *auth.OIDCConfig) { c.RetryEvery = time.Nanosecond })
	es := header{"Accept-Language", "es-ES,es;q=0.9"}
	b := s.browser()
	s.op.SetDown(true)
	if r := b.get("/login", es); !strings.Contains(r.Body, esc("No se puede contactar con Acme ID en este momento, así que el inicio de sesión único no está disponible.")) {
		t.Errorf("provider down, in Spanish: got %s", r)
	}
	if r := b.get("/login/oidc", es); r.Code != http.StatusServiceUnavailable || !strings.Contains(r.Body, esc("No se puede contactar con Acme ID en este momento. Inténtelo de nuevo dentro de un minuto.")) {
		t.Errorf("start with the provider down, in Spanish: got %s", r)
	}
	s.op.SetDown(false)
	if r := b.get("/login", es); !strings.Contains(r.Body, "Iniciar sesión con Acme ID") || strings.Contains(r.Body, "Sign in with Acme ID") {
		t.Fatalf("login page in Spanish: want \"Iniciar sesión con Acme ID\", got %s", r)
	}
	p := oidctest.Person{Subject: "sub-stranger", Email: "stranger@example.com", EmailVerified: true}
	r := b.get(s.toProvider(b, "", p), es)
	wantPage(t, r, http.StatusUnauthorized, "refused callback in Spanish")
	if want := esc("No hay ninguna cuenta activa del portal de revisión para su dirección de correo electrónico."); !strings.Contains(r.Body, want) {
		t.Errorf("refusal in Spanish: want %q, got %s", want, r)
	}
}
