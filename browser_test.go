package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// newBrowser starts Debian's chromium headless with a fresh profile. Browser tests skip
// only where chromium is missing, and never when CI is set.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium is required in CI: %v", err)
		}
		t.Skipf("no chromium at %s", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

// newProfile opens a separate browser context (its own cookies) in the same browser.
func newProfile(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("new profile: %v", err)
	}
	return ctx
}

// step runs actions with a deadline so a broken page fails the test instead of hanging.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// waitPage waits until the tab shows a page whose URL contains path (after a form
// submission navigates) and returns its text.
func waitPage(t *testing.T, ctx context.Context, path string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		loc, err := chromedp.Run(c, chromedp.Location())
		if err == nil && strings.Contains(loc, path) {
			var body string
			body, err = chromedp.Run(c, chromedp.Evaluate[string](`document.readyState === "complete" ? document.body.innerText : ""`))
			if err == nil && body != "" {
				cancel()
				return body
			}
		}
		cancel()
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no page at %s", path)
	return ""
}

func signIn(t *testing.T, ctx context.Context, base, email, password string) {
	t.Helper()
	step(t, ctx, "sign in as "+email,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(`[data-testid=login-form]`),
		chromedp.SendKeys(`#email`, email),
		chromedp.SendKeys(`#password`, password),
		chromedp.Click(`[data-testid=login-submit]`),
		chromedp.WaitNotPresent(`[data-testid=login-form]`),
	)
}

func setPassword(t *testing.T, ctx context.Context, current, next string) {
	t.Helper()
	acts := []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(`[data-testid=password-form]`)}
	if current != "" {
		acts = append(acts, chromedp.SendKeys(`#current`, current))
	}
	acts = append(acts, chromedp.SendKeys(`#new`, next), chromedp.SendKeys(`#confirm`, next),
		chromedp.Click(`[data-testid=password-submit]`), chromedp.WaitNotPresent(`[data-testid=password-form]`))
	step(t, ctx, "set password", acts...)
}

func TestBrowserAccountsLifecycle(t *testing.T) {
	p := startPortal(t, nil)
	browser := newBrowser(t)
	admin := newProfile(t, browser)
	adminEmail, oneTime := p.adminCredentials(t)

	// The first admin signs in with the printed password and must change it.
	signIn(t, admin, p.URL, adminEmail, oneTime)
	if loc := value(t, admin, "location", chromedp.Location()); !strings.HasSuffix(loc, "/account/password") {
		t.Fatalf("after first sign-in: at %s, want the password change", loc)
	}
	step(t, admin, "try to skip the change", chromedp.Navigate(p.URL+"/admin/users"), chromedp.WaitVisible(`[data-testid=password-form]`))
	setPassword(t, admin, oneTime, "violet tangerine harbour meadow")

	// The admin creates an agent and gets a one-time link.
	step(t, admin, "create agent",
		chromedp.Navigate(p.URL+"/admin/users"),
		chromedp.WaitVisible(`[data-testid=new-user-form]`),
		chromedp.SendKeys(`#new-email`, "agent.one@example.com"),
		chromedp.SendKeys(`#new-name`, "Agent One"),
		chromedp.Click(`[data-testid=create-user]`),
		chromedp.WaitVisible(`[data-testid=set-password-link]`),
	)
	link := value(t, admin, "read link", chromedp.Value(`[data-testid=set-password-link]`))
	if !strings.HasPrefix(link, p.URL+"/password/") {
		t.Fatalf("link: got %q", link)
	}

	// The agent sets a password through the link, signs in, and may not see admin pages.
	agent := newProfile(t, browser)
	step(t, agent, "open link", chromedp.Navigate(link))
	setPassword(t, agent, "", "quiet river lantern sunrise")
	signIn(t, agent, p.URL, "agent.one@example.com", "quiet river lantern sunrise")
	step(t, agent, "open admin page", chromedp.Navigate(p.URL+"/admin/users"), chromedp.WaitVisible(`[data-testid=error-page]`))
	if txt := value(t, agent, "error text", chromedp.Text(`[data-testid=error-page]`)); !strings.Contains(txt, "403") {
		t.Fatalf("agent on /admin/users: got %q, want a 403 page", txt)
	}
	step(t, agent, "own account", chromedp.Navigate(p.URL+"/account"), chromedp.WaitVisible(`[data-testid=account-name]`))

	// The link works once.
	step(t, agent, "reuse link", chromedp.Navigate(link), chromedp.WaitVisible(`[data-testid=link-expired]`))

	// The admin disables the agent; the agent's open session ends on its next request.
	step(t, admin, "disable agent",
		chromedp.Navigate(p.URL+"/admin/users"),
		chromedp.Click(`//a[normalize-space(.)="Agent One"]`),
		chromedp.Click(`[data-testid=disable-user]`),
		chromedp.WaitVisible(`[data-testid=enable-user]`),
	)
	step(t, agent, "next request", chromedp.Navigate(p.URL+"/account"), chromedp.WaitVisible(`[data-testid=login-notice]`))
	if loc := value(t, agent, "location", chromedp.Location()); !strings.Contains(loc, "/login") {
		t.Fatalf("disabled agent: at %s, want the sign-in page", loc)
	}
	// And cannot sign in again: the same answer as a wrong password.
	step(t, agent, "sign in disabled",
		chromedp.SendKeys(`#email`, "agent.one@example.com"),
		chromedp.SendKeys(`#password`, "quiet river lantern sunrise"),
		chromedp.Click(`[data-testid=login-submit]`),
		chromedp.WaitVisible(`[data-testid=login-error]`),
	)
}

func TestBrowserCrossSiteFormIsRefused(t *testing.T) {
	p := startPortal(t, nil)
	browser := newBrowser(t)
	admin := newProfile(t, browser)
	adminEmail, oneTime := p.adminCredentials(t)
	signIn(t, admin, p.URL, adminEmail, oneTime)
	setPassword(t, admin, oneTime, "violet tangerine harbour meadow")

	// Another origin serves a form that posts to the portal with the admin's cookie.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s/admin/users">
			<input name="email" value="evil@example.com"><input name="name" value="Evil"><input name="role" value="admin">
			<button id="go" type="submit">go</button></form>`, p.URL)
	}))
	defer evil.Close()
	step(t, admin, "cross-site post", chromedp.Navigate(evil.URL), chromedp.Click(`#go`))
	body := waitPage(t, admin, "/admin/users")
	if !strings.Contains(body, "403") {
		t.Fatalf("cross-site post answered %q, want 403", body)
	}
	step(t, admin, "list users", chromedp.Navigate(p.URL+"/admin/users?q=evil"), chromedp.WaitVisible(`[data-testid=no-users]`))
}
