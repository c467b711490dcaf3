package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

// TestBrowserTOTPEnrolAndSignIn (issue 9, item 1): an admin sets up an authenticator
// app on "My account" from the QR code's page (the code is made here, with the library,
// from the secret the page shows as text), keeps the recovery codes, and signs in again
// with the password and a code; a malformed code gets its message beside the field.
func TestBrowserTOTPEnrolAndSignIn(t *testing.T) {
	p := startPortal(t, nil)
	browser := newBrowser(t)
	admin := newProfile(t, browser)
	adminEmail, oneTime := p.adminCredentials(t)
	const password = "violet tangerine harbour meadow"
	signIn(t, admin, p.URL, adminEmail, oneTime)
	setPassword(t, admin, oneTime, password)

	step(t, admin, "open enrolment",
		chromedp.Navigate(p.URL+"/account"),
		chromedp.WaitVisible(`[data-testid=second-factor-card]`),
		chromedp.Click(`[data-testid=enrol-start]`),
		chromedp.WaitVisible(`[data-testid=enrol-form]`),
	)
	// The QR code is an image the CSP lets the browser draw (no inline script needed).
	if w := value(t, admin, "QR code drawn", chromedp.Evaluate[int](`(() => { const i = document.querySelector("[data-testid=totp-qr]"); return i.complete ? i.naturalWidth : 0 })()`)); w < 100 {
		t.Fatalf("QR code: natural width %d, want a drawn image", w)
	}
	secret := strings.ReplaceAll(value(t, admin, "secret", chromedp.Text(`[data-testid=totp-secret]`)), " ", "")
	if len(secret) != 32 {
		t.Fatalf("secret shown as text: %q, want 32 base32 characters", secret)
	}
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	step(t, admin, "confirm with a code",
		chromedp.SendKeys(`[data-testid=enrol-code]`, code),
		chromedp.Click(`[data-testid=enrol-submit]`),
		chromedp.WaitVisible(`[data-testid=recovery-codes]`),
	)
	if n := value(t, admin, "recovery codes", chromedp.Evaluate[int](`document.querySelectorAll("[data-testid=recovery-code]").length`)); n != 10 {
		t.Fatalf("recovery codes shown: %d, want 10", n)
	}
	step(t, admin, "continue", chromedp.Click(`[data-testid=recovery-continue]`), chromedp.WaitVisible(`[data-testid=second-factor-status]`))
	if txt := value(t, admin, "status", chromedp.Text(`[data-testid=second-factor-status]`)); !strings.Contains(txt, "On") {
		t.Fatalf("second factor status: %q, want On", txt)
	}

	// Another browser: the password leads to the code, not to a session.
	other := newProfile(t, browser)
	signIn(t, other, p.URL, adminEmail, password)
	step(t, other, "second step", chromedp.WaitVisible(`[data-testid=second-step-form]`))
	if loc := value(t, other, "location", chromedp.Location()); !strings.HasSuffix(loc, "/login/second-factor") {
		t.Fatalf("after the password: at %s, want the second step", loc)
	}
	step(t, other, "malformed code",
		chromedp.SendKeys(`[data-testid=second-factor-code]`, "12 34"),
		chromedp.Click(`[data-testid=second-factor-submit]`),
		chromedp.WaitVisible(`[data-testid=err-code]`),
	)
	if kept := value(t, other, "code kept", chromedp.Value(`[data-testid=second-factor-code]`)); kept != "12 34" {
		t.Fatalf("code field after a refusal: %q, want what was typed", kept)
	}
	// The enrolment spent this step's code; the next step's is inside the window.
	next, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	value(t, other, "clear the field", chromedp.Evaluate[string](`document.querySelector("[data-testid=second-factor-code]").value = ""`))
	step(t, other, "right code",
		chromedp.SendKeys(`[data-testid=second-factor-code]`, next),
		chromedp.Click(`[data-testid=second-factor-submit]`),
		chromedp.WaitNotPresent(`[data-testid=second-step-form]`),
		chromedp.Navigate(p.URL+"/account"),
		chromedp.WaitVisible(`[data-testid=session-table]`),
	)
	methods := value(t, other, "session methods", chromedp.Evaluate[string](`[...document.querySelectorAll("[data-testid=session-method]")].map(e => e.innerText).join("|")`))
	if !strings.Contains(methods, "Password and authenticator code") {
		t.Fatalf("sessions list methods %q, want one signed in with an authenticator code", methods)
	}
}
