package main

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserCrossSiteSandboxControlIsRefused: a page on another origin that makes the
// browser post a text/plain form shaped like JSON to the sandbox's control API does not
// drive it (issue 9): 415, and nothing is seeded.
func TestBrowserCrossSiteSandboxControlIsRefused(t *testing.T) {
	p := startReviewPortal(t, 0)
	browser := newBrowser(t)
	visitor := newProfile(t, browser)
	count := func() int {
		t.Helper()
		var list struct{ Processes []json.RawMessage }
		p.control(t, http.MethodGet, "/_sandbox/processes", nil, &list)
		return len(list.Processes)
	}
	before := count()
	// enctype text/plain sends `{"count": 5, "pad": "="}`: JSON, but not declared so.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" enctype="text/plain" action="%s/_sandbox/seed">
			<input name='{"count": 5, "pad": "' value='"}'><button id="go" type="submit">go</button></form>`, p.sandbox)
	}))
	defer evil.Close()
	step(t, visitor, "cross-site text/plain post", chromedp.Navigate(evil.URL), chromedp.Click(`#go`))
	deadline := time.Now().Add(10 * time.Second)
	var body string
	for time.Now().Before(deadline) {
		body, _ = chromedp.Run(visitor, chromedp.Evaluate[string](`location.href.includes("/_sandbox/seed") ? document.body.innerText : ""`))
		if body != "" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(body, "application/json") {
		t.Errorf("the sandbox answered %q, want the 415 asking for application/json", body)
	}
	if got := count(); got != before {
		t.Errorf("the cross-site post seeded %d processes", got-before)
	}
}

// TestBrowserHostileSignInIsEscapedAndIsolated: a sign-in typed with a direction override
// and a forged "| auth.login | success" shows in the admin's audit log escaped, in an
// isolated cell, so it cannot pass for a successful sign-in (C5).
func TestBrowserHostileSignInIsEscapedAndIsolated(t *testing.T) {
	p := startPortal(t, nil)
	browser := newBrowser(t)
	admin := newProfile(t, browser)
	adminEmail, oneTime := p.adminCredentials(t)
	signIn(t, admin, p.URL, adminEmail, oneTime)
	setPassword(t, admin, oneTime, "violet tangerine harbour meadow")

	attacker := newProfile(t, browser)
	typed := "victim@example.com\u202e | auth.login | success"
	step(t, attacker, "hostile sign-in",
		chromedp.Navigate(p.URL+"/login"),
		chromedp.WaitVisible(`[data-testid=login-form]`),
		chromedp.SetAttributeValue(`#email`, "type", "text"), // the page's type=email would refuse it
		chromedp.SetValue(`#email`, typed),
		chromedp.SendKeys(`#password`, "not the password at all"),
		chromedp.Click(`[data-testid=login-submit]`),
		chromedp.WaitVisible(`[data-testid=login-error]`),
	)

	step(t, admin, "audit log", chromedp.Navigate(p.URL+"/admin/audit"), chromedp.WaitVisible(`bdi`))
	cells := value(t, admin, "actors", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("td bdi")).map(b => b.textContent + "|" + getComputedStyle(b).unicodeBidi)`))
	want := `victim@example.com\u202e | auth.login | success|isolate`
	found := false
	for _, c := range cells {
		if strings.ContainsRune(c, '\u202e') {
			t.Errorf("an actor shows the override itself: %q", html.EscapeString(c))
		}
		found = found || c == want
	}
	if !found {
		t.Errorf("actors %q, want one %q", cells, want)
	}
}
