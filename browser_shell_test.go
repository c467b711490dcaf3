package main

// The page shell in a real browser (issue 12): the top bar fits from 1024 px and folds
// into a menu below; the admin menu closes on Escape and outside clicks; dark mode
// follows the system unless the user chose a theme; a failed form puts the page's own
// address in the address bar and the focus on the first invalid field; the sign-in
// page's language menu.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/mobbscan-review/portal/store"
)

const shellAdminPassword = "orchid lantern summit 4471 pebble"

// shellShot saves a screenshot when SHELL_SHOTS names a folder (for looking, not testing).
func shellShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("SHELL_SHOTS")
	if dir == "" {
		return
	}
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err == nil {
		os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
	}
}

func viewport(w, h int64) chromedp.Action[chromedp.Void] {
	return chromedp.EmulateViewport(w, h)
}

func TestBrowserShell(t *testing.T) {
	p := startReviewPortal(t, 3)
	p.addUser(t, "alexandra.admin@example.com", "Alexandra Administrator", store.RoleAdmin, shellAdminPassword)
	browser := newBrowser(t)
	admin := newProfile(t, browser)
	step(t, admin, "1024×768", viewport(1024, 768))
	signIn(t, admin, p.URL, "alexandra.admin@example.com", shellAdminPassword)

	// 1024 px, an admin with the queue counters: one line, no horizontal scroll, and
	// "Sign out" on screen.
	step(t, admin, "queue", chromedp.Navigate(p.URL+"/queue"), chromedp.WaitVisible(`[data-testid=queue-list]`))
	waitRows(t, admin, 3)
	shellShot(t, admin, "queue-1024")
	if n := count(t, admin, `[data-testid=queue-counts]`); n != 1 {
		t.Fatalf("queue counters in the top bar: %d, want 1", n)
	}
	if w := value(t, admin, "scroll width", chromedp.Evaluate[string](`document.documentElement.scrollWidth + "/" + document.documentElement.clientWidth`)); strings.Split(w, "/")[0] != strings.Split(w, "/")[1] {
		t.Errorf("1024 px: the page scrolls sideways (scrollWidth/clientWidth %s)", w)
	}
	if !value(t, admin, "sign out visible", chromedp.Evaluate[bool](`(() => { const r = document.querySelector("[data-testid=logout]").getBoundingClientRect();
		return r.width > 0 && r.left >= 0 && r.right <= window.innerWidth && r.bottom <= window.innerHeight; })()`)) {
		t.Errorf("1024 px: Sign out is not on screen")
	}
	if !value(t, admin, "one line", chromedp.Evaluate[bool](`(() => { const mid = s => { const r = document.querySelector(s).getBoundingClientRect(); return r.top + r.height / 2; };
		return Math.abs(mid("[data-testid=nav-queue]") - mid("[data-testid=nav-account]")) < 4 && Math.abs(mid("[data-testid=nav-queue]") - mid("[data-testid=logout]")) < 6; })()`)) {
		t.Errorf("1024 px: the navigation and Sign out are not on one line")
	}
	if got := value(t, admin, "aria-current", chromedp.Evaluate[string](`[...document.querySelectorAll(".topbar [aria-current=page]")].map(a => a.dataset.testid).join(",")`)); got != "nav-queue" {
		t.Errorf("aria-current on %q, want nav-queue only", got)
	}

	// The admin menu closes on Escape (focus back on its summary) and on a click outside.
	menuOpen := `document.querySelector("[data-testid=nav-admin]").open`
	step(t, admin, "open admin menu", chromedp.Click(`[data-testid=nav-admin] summary`))
	poll(t, admin, "admin menu open", menuOpen)
	step(t, admin, "Escape", chromedp.KeyEvent(kb.Escape))
	poll(t, admin, "Escape closes the admin menu", `!`+menuOpen)
	if !value(t, admin, "focus", chromedp.Evaluate[bool](`document.activeElement.matches("[data-testid=nav-admin] summary")`)) {
		t.Errorf("Escape: the focus is not on the admin menu's summary")
	}
	step(t, admin, "open again", chromedp.Click(`[data-testid=nav-admin] summary`))
	poll(t, admin, "admin menu open again", menuOpen)
	step(t, admin, "click outside", chromedp.Click(`main h1`))
	poll(t, admin, "a click outside closes the admin menu", `!`+menuOpen)

	// Counters on a user page and on an error page too.
	step(t, admin, "user page", chromedp.Navigate(p.URL+"/admin/users"), chromedp.Click(`//a[normalize-space(.)="Alexandra Administrator"]`), chromedp.WaitVisible(`[data-testid=queue-counts]`))
	step(t, admin, "error page", chromedp.Navigate(p.URL+"/processes/999999999"), chromedp.WaitVisible(`[data-testid=error-page]`), chromedp.WaitVisible(`[data-testid=queue-counts]`))

	// 800 px: the navigation folds behind "Menu"; it opens, and every entry is reachable.
	step(t, admin, "800×700", viewport(800, 700), chromedp.Navigate(p.URL+"/queue"), chromedp.WaitVisible(`[data-testid=nav-toggle]`), chromedp.WaitNotVisible(`[data-testid=nav-queue]`))
	if w := value(t, admin, "scroll width 800", chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= document.documentElement.clientWidth`)); !w {
		t.Errorf("800 px: the page scrolls sideways")
	}
	step(t, admin, "open the menu by keyboard", chromedp.Focus(`[data-testid=nav-toggle]`), chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(`[data-testid=nav-queue]`))
	shellShot(t, admin, "menu-800")
	if got := value(t, admin, "expanded", chromedp.Evaluate[string](`document.querySelector("[data-testid=nav-toggle]").getAttribute("aria-expanded")`)); got != "true" {
		t.Errorf("aria-expanded %q, want true", got)
	}
	step(t, admin, "Tab to the first entry", chromedp.KeyEvent(kb.Tab))
	if got := value(t, admin, "focus", chromedp.Evaluate[string](`document.activeElement.dataset.testid || document.activeElement.tagName`)); got != "nav-queue" {
		t.Errorf("Tab after Menu: focus on %q, want nav-queue", got)
	}
	for _, id := range []string{"nav-processes", "nav-insights", "nav-onboarding", "nav-account", "logout"} {
		if !value(t, admin, id, chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const r = document.querySelector("[data-testid=%s]").getBoundingClientRect(); return r.width > 0 && r.right <= window.innerWidth; })()`, id))) {
			t.Errorf("800 px, menu open: %s is not shown", id)
		}
	}
	step(t, admin, "Escape closes the menu", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(`[data-testid=nav-queue]`))

	// Dark mode follows the system; the user's "light" wins over it.
	step(t, admin, "1280", viewport(1280, 800))
	bg := func() string {
		return value(t, admin, "background", chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
	}
	scheme := func(s string) {
		t.Helper()
		if _, err := chromedp.Call(admin, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: s}}}); err != nil {
			t.Fatalf("emulate %s: %v", s, err)
		}
	}
	scheme("light")
	step(t, admin, "account", chromedp.Navigate(p.URL+"/account"), chromedp.WaitVisible(`[data-testid=account-settings]`))
	light := bg()
	scheme("dark")
	dark := bg()
	shellShot(t, admin, "account-dark")
	if light == dark || dark != "rgb(15, 20, 27)" {
		t.Errorf("prefers-color-scheme: body background light %s, dark %s; want the dark theme's rgb(15, 20, 27)", light, dark)
	}
	step(t, admin, "choose light", chromedp.Click(`[data-testid=pref-theme-light]`))
	clickSubmit(t, admin, "save-preferences")
	step(t, admin, "saved", chromedp.WaitVisible(`[data-testid=flash]`))
	if got := bg(); got != light {
		t.Errorf("theme light under a dark system: background %s, want %s", got, light)
	}
	if got := value(t, admin, "data-theme", chromedp.Evaluate[string](`document.documentElement.dataset.theme || ""`)); got != "light" {
		t.Errorf("html data-theme %q, want light", got)
	}

	// A failed form: the address bar shows the page's own address (not the POST's) and
	// the focus is on the invalid field, whose value is kept.
	value(t, admin, "an unknown zone", chromedp.Evaluate[bool](`(() => { const s = document.querySelector("[data-testid=pref-zone]");
		const o = new Option("Mars/Olympus_Mons", "Mars/Olympus_Mons"); s.add(o); s.value = o.value; return true; })()`))
	clickSubmit(t, admin, "save-preferences")
	step(t, admin, "refused", chromedp.WaitVisible(`[data-testid=err-time_zone]`))
	if loc := value(t, admin, "location", chromedp.Location()); !strings.HasSuffix(loc, "/account") {
		t.Errorf("after a failed POST the address is %s, want …/account", loc)
	}
	poll(t, admin, "focus on the invalid field", `document.activeElement && document.activeElement.id === "pref-zone"`)
	if got := value(t, admin, "kept", chromedp.Value(`[data-testid=pref-zone]`)); got != "Mars/Olympus_Mons" {
		t.Errorf("zone after the refusal: %q, want the value sent", got)
	}
	step(t, admin, "reload", chromedp.Reload(), chromedp.WaitVisible(`[data-testid=account-settings]`))
	if n := count(t, admin, `[data-testid=error-page]`); n != 0 {
		t.Errorf("reloading the failed form's page shows an error page")
	}

	// The sign-in page's language menu.
	anon := newProfile(t, browser)
	step(t, anon, "sign-in page", chromedp.Navigate(p.URL+"/login"), chromedp.WaitVisible(`[data-testid=lang-switch]`),
		chromedp.SetValue(`[data-testid=lang-select]`, "es"), chromedp.Click(`[data-testid=lang-submit]`),
		chromedp.WaitVisible(`html[lang=es] [data-testid=login-form]`))
	if txt := value(t, anon, "title", chromedp.Text(`#login-title`)); txt != "Iniciar sesión" {
		t.Errorf("sign-in page in Spanish: heading %q", txt)
	}
	if loc := value(t, anon, "location", chromedp.Location()); !strings.HasSuffix(loc, "/login") {
		t.Errorf("after choosing the language: at %s, want the sign-in page", loc)
	}
}
