package main

// Single sign-on (issue 9, item 2) in a real browser against a real OpenID Provider
// (auth/oidctest) and the real program: the button, the provider's redirects, the
// callback, the session; a person without an account gets a clear sign-in page error.

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/auth/oidctest"
)

const (
	browserSSOClient = "review-portal"
	browserSSOSecret = "portal-client-secret-0123456789"
)

// startSSOPortal starts a provider and the portal configured for it, with an agent
// account agent.b@example.com.
func startSSOPortal(t *testing.T) (*portal, *oidctest.Provider) {
	t.Helper()
	op := oidctest.New(t, browserSSOClient, browserSSOSecret)
	p := startPortal(t, map[string]string{
		"PORTAL_OIDC_ISSUER": op.URL, "PORTAL_OIDC_CLIENT_ID": browserSSOClient,
		"PORTAL_OIDC_CLIENT_SECRET": browserSSOSecret, "PORTAL_OIDC_NAME": "Acme ID",
	})
	op.SetRedirectURIs(p.URL + auth.OIDCCallbackPath)
	env := map[string]string{"PORTAL_DATA_DIR": p.DataDir}
	if err := run(context.Background(), []string{"user", "add", "--email", "agent.b@example.com", "--role", "agent"},
		func(k string) string { return env[k] }, io.Discard); err != nil {
		t.Fatalf("user add: %v", err)
	}
	return p, op
}

func TestBrowserSSOSignIn(t *testing.T) {
	browser := newBrowser(t)
	p, op := startSSOPortal(t)

	op.SignInAs(oidctest.Person{Subject: "sub-b", Email: "Agent.B@Example.com", EmailVerified: true})
	ctx := newProfile(t, browser)
	step(t, ctx, "open the sign-in page", chromedp.Navigate(p.URL+"/login"), chromedp.WaitVisible(`[data-testid=sso-button]`))
	label := value(t, ctx, "button label", chromedp.Text(`[data-testid=sso-button]`))
	if strings.TrimSpace(label) != "Sign in with Acme ID" {
		t.Fatalf("button: got %q, want \"Sign in with Acme ID\"", label)
	}
	step(t, ctx, "sign in with Acme ID", chromedp.Click(`[data-testid=sso-button]`))
	waitPage(t, ctx, "/queue")
	step(t, ctx, "open my account", chromedp.Navigate(p.URL+"/account"), chromedp.WaitVisible(`[data-testid=session-method]`))
	if m := value(t, ctx, "session method", chromedp.Text(`[data-testid=session-method]`)); !strings.Contains(m, "Single sign-on") {
		t.Errorf("session method on My account: got %q, want Single sign-on", m)
	}

	// Someone the provider knows but the portal does not.
	op.SignInAs(oidctest.Person{Subject: "sub-x", Email: "stranger@example.com", EmailVerified: true})
	other := newProfile(t, browser)
	step(t, other, "stranger signs in with Acme ID",
		chromedp.Navigate(p.URL+"/login"), chromedp.WaitVisible(`[data-testid=sso-button]`),
		chromedp.Click(`[data-testid=sso-button]`), chromedp.WaitVisible(`[data-testid=login-error]`))
	msg := value(t, other, "error", chromedp.Text(`[data-testid=login-error]`))
	if !strings.Contains(msg, "no active review portal account") {
		t.Errorf("stranger: got %q, want the no-account message", msg)
	}
	loc := value(t, other, "location", chromedp.Location())
	if !strings.HasPrefix(loc, p.URL+auth.OIDCCallbackPath) {
		t.Errorf("stranger ends at %s, want the portal's callback page", loc)
	}
}

// TestSSOProviderDownAtStart: the portal starts with the provider unreachable, and the
// sign-in page shows the button disabled with a message.
func TestSSOProviderDownAtStart(t *testing.T) {
	op := oidctest.New(t, browserSSOClient, browserSSOSecret)
	op.SetDown(true)
	p := startPortal(t, map[string]string{
		"PORTAL_OIDC_ISSUER": op.URL, "PORTAL_OIDC_CLIENT_ID": browserSSOClient, "PORTAL_OIDC_CLIENT_SECRET": browserSSOSecret,
	})
	resp, err := http.Get(p.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `data-testid="sso-unavailable"`) {
		t.Fatalf("sign-in page with the provider down: got %d, want 200 with the button disabled:\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(p.Out.String(), "single sign-on provider unreachable") {
		t.Errorf("no warning logged at start:\n%s", p.Out.String())
	}
}

// TestOIDCConfig: PORTAL_OIDC_* are all or none; a partial configuration is a clear
// startup error; the secret may come from a file; the callback is the base URL's.
func TestOIDCConfig(t *testing.T) {
	full := map[string]string{
		"PORTAL_OIDC_ISSUER": "https://login.example.com/realms/staff", "PORTAL_OIDC_CLIENT_ID": "portal",
		"PORTAL_OIDC_CLIENT_SECRET": "s3cret", "PORTAL_BASE_URL": "https://review.example.com/",
	}
	with := func(changes map[string]string) map[string]string {
		env := map[string]string{}
		for k, v := range full {
			env[k] = v
		}
		for k, v := range changes {
			if v == "" {
				delete(env, k)
			} else {
				env[k] = v
			}
		}
		return env
	}
	secretFile := t.TempDir() + "/secret"
	if err := os.WriteFile(secretFile, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"none", map[string]string{}, ""},
		{"all", full, ""},
		{"secret from a file", with(map[string]string{"PORTAL_OIDC_CLIENT_SECRET": "", "PORTAL_OIDC_CLIENT_SECRET_FILE": secretFile}), ""},
		{"no secret", with(map[string]string{"PORTAL_OIDC_CLIENT_SECRET": ""}), "PORTAL_OIDC_CLIENT_SECRET"},
		{"only the issuer", map[string]string{"PORTAL_OIDC_ISSUER": "https://login.example.com"}, "PORTAL_OIDC_CLIENT_ID and PORTAL_OIDC_CLIENT_SECRET"},
		{"only a name", map[string]string{"PORTAL_OIDC_NAME": "Acme"}, "partly configured"},
		{"unreadable secret file", with(map[string]string{"PORTAL_OIDC_CLIENT_SECRET": "", "PORTAL_OIDC_CLIENT_SECRET_FILE": secretFile + ".missing"}), "PORTAL_OIDC_CLIENT_SECRET_FILE"},
		{"issuer not a URL", with(map[string]string{"PORTAL_OIDC_ISSUER": "login.example.com"}), "PORTAL_OIDC_ISSUER"},
		{"http issuer in production", with(map[string]string{"PORTAL_OIDC_ISSUER": "http://login.example.com", "PORTAL_ENV": "production"}), "PORTAL_OIDC_ISSUER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parseConfig("serve", nil, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
	cfg, _, err := parseConfig("serve", nil, func(k string) string {
		return with(map[string]string{"PORTAL_OIDC_CLIENT_SECRET": "", "PORTAL_OIDC_CLIENT_SECRET_FILE": secretFile})[k]
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OIDCClientSecret != "from-a-file" || cfg.oidcRedirectURL() != "https://review.example.com/login/oidc/callback" {
		t.Errorf("secret %q, callback %q; want the file's secret and the base URL's callback", cfg.OIDCClientSecret, cfg.oidcRedirectURL())
	}
}
