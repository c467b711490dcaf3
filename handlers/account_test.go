package handlers_test

// The page shell's preferences (issue 12): language, theme and time zone per user, the
// locale of a request (preference, cookie, Accept-Language), times in the request's
// zone, the address of a page a failed POST re-rendered, and the queue counters on
// every signed-in page.

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/mobbscan-review/portal/store"
)

func (h *harness) prefs(userID int64) store.Preferences {
	h.t.Helper()
	p, err := h.db.Preferences(context.Background(), userID)
	if err != nil {
		h.t.Fatalf("preferences: %v", err)
	}
	return p
}

func wantIn(t *testing.T, r *response, what string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(r.Body, p) {
			t.Errorf("%s: body lacks %q", what, p)
		}
	}
}

func wantNotIn(t *testing.T, r *response, what string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if strings.Contains(r.Body, p) {
			t.Errorf("%s: body has %q", what, p)
		}
	}
}

func TestPreferencesForm(t *testing.T) {
	f := newFixture(t)
	b := f.agentB
	r := b.get("/account")
	wantPage(t, r, http.StatusOK, "GET /account")
	wantIn(t, r, "GET /account", `action="/account/preferences"`, `data-testid="pref-language"`, `data-testid="pref-zone"`,
		"Use my browser&#39;s (English)", `value="auto" checked`, `value="Europe/Madrid"`, `lang="es"`, "Español")

	// Refused values: a message beside the field, the values kept, nothing saved, and the
	// page says its own address (the POST's URL has no page).
	tests := []struct {
		name, field string
		form        []string
		kept        string
	}{
		{"unknown zone", "time_zone", []string{"language", "es", "theme", "dark", "time_zone", "Mars/Olympus_Mons"}, `<option value="Mars/Olympus_Mons" selected>`},
		{"zone file path", "time_zone", []string{"time_zone", "../../etc/passwd"}, `selected>../../etc/passwd</option>`},
		{"Local", "time_zone", []string{"time_zone", "Local"}, `selected>Local</option>`},
		{"unknown language", "language", []string{"language", "fr", "time_zone", "Europe/Madrid"}, `<option value="fr" selected>`},
		{"unknown theme", "theme", []string{"theme", "sepia"}, `data-testid="err-theme"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.post("/account/preferences", formOf(tt.form...))
			wantPage(t, r, http.StatusUnprocessableEntity, tt.name)
			wantIn(t, r, tt.name, `data-testid="err-`+tt.field+`"`, `aria-invalid="true"`, tt.kept, `data-url="/account"`)
			if got := f.prefs(f.agent.ID); got != (store.Preferences{Theme: store.ThemeAuto}) {
				t.Errorf("%s: saved %+v", tt.name, got)
			}
		})
	}
	if n := f.countAudit(string(store.ActionUserSetting), ""); n != 0 {
		t.Errorf("audit rows after refusals: %d, want 0", n)
	}

	// Saved: back to the account with a confirmation, in the chosen language and theme.
	r = b.post("/account/preferences", formOf("next_after_decision", "on", "language", "es", "theme", "dark", "time_zone", "Europe/Madrid"))
	if r.Code != http.StatusSeeOther || r.location() != "/account?done=prefs" {
		t.Fatalf("save: got %s, want 303 to /account?done=prefs", r)
	}
	want := store.Preferences{Language: "es", Theme: store.ThemeDark, TimeZone: "Europe/Madrid"}
	if got := f.prefs(f.agent.ID); got != want {
		t.Errorf("saved %+v, want %+v", got, want)
	}
	if n := f.countAudit(string(store.ActionUserSetting), store.OutcomeSuccess); n != 1 {
		t.Errorf("audit rows after saving: %d, want 1 (next_after_decision unchanged)", n)
	}
	r = b.get("/account?done=prefs")
	wantIn(t, r, "after saving", `<html lang="es" data-theme="dark">`, `<meta name="color-scheme" content="dark">`,
		"Sus preferencias se han guardado.", `<option value="Europe/Madrid" selected>`, `value="dark" checked`, "Mi cuenta")
	// Saving the same again writes nothing.
	b.post("/account/preferences", formOf("next_after_decision", "on", "language", "es", "theme", "dark", "time_zone", "Europe/Madrid"))
	if n := f.countAudit(string(store.ActionUserSetting), store.OutcomeSuccess); n != 1 {
		t.Errorf("audit rows after saving the same: %d, want 1", n)
	}
	// Back to the defaults: the theme follows the system again.
	b.post("/account/preferences", formOf("next_after_decision", "on", "language", "", "theme", "auto", "time_zone", ""))
	r = b.get("/account")
	wantNotIn(t, r, "defaults", "data-theme=")
	wantIn(t, r, "defaults", `<meta name="color-scheme" content="light dark">`)
}

func TestLocaleOfARequest(t *testing.T) {
	f := newFixture(t)
	es := header{"Accept-Language", "es-ES,es;q=0.9,en;q=0.5"}

	anon := f.browser()
	r := anon.get("/login", es)
	wantIn(t, r, "sign-in, Accept-Language es", `<html lang="es">`, "Iniciar sesión", `data-testid="lang-switch"`)
	r = anon.get("/login", header{"Accept-Language", "de-DE,en;q=0.8"})
	wantIn(t, r, "sign-in, Accept-Language de/en", `<html lang="en">`, ">Sign in<")

	// The sign-in page's language menu: a cookie that wins over Accept-Language.
	r = anon.post("/lang", formOf("l", "en", "next", "/login?next=%2Fqueue"))
	if r.Code != http.StatusSeeOther || r.location() != "/login?next=%2Fqueue" {
		t.Fatalf("POST /lang: got %s, want 303 back to the sign-in page", r)
	}
	if c := anon.cookies["portal_lang"]; c == nil || c.Value != "en" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("POST /lang: cookie %+v, want portal_lang=en, HttpOnly, SameSite=Lax", c)
	}
	r = anon.get("/login", es)
	wantIn(t, r, "cookie en over Accept-Language es", `<html lang="en">`, ">Sign in<")
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil", "/login\n"} {
		if r := anon.post("/lang", formOf("l", "es", "next", next)); r.Code != http.StatusSeeOther || strings.Contains(r.location(), "evil") || strings.Contains(r.location(), "\n") {
			t.Errorf("POST /lang next=%q: got %s, want a redirect within the portal", next, r)
		}
	}
	if r := anon.post("/lang", formOf("l", "fr", "next", "/login")); r.Code != http.StatusSeeOther || anon.cookies["portal_lang"].Value != "es" {
		t.Errorf("POST /lang l=fr: got %s, cookie %v; want the cookie unchanged", r, anon.cookies["portal_lang"])
	}
	if r := anon.post("/lang", formOf("l", "en"), header{"Sec-Fetch-Site", "cross-site"}); r.Code != http.StatusForbidden {
		t.Errorf("cross-site POST /lang: got %s, want 403", r)
	}

	// Signed in: Accept-Language until a preference is saved, then the preference.
	b := f.agentB
	if r := b.get("/account", es); !strings.Contains(r.Body, `<html lang="es">`) {
		t.Errorf("signed in without a preference, Accept-Language es: not Spanish")
	}
	if err := f.db.SetPreferences(context.Background(), store.System, f.agent.ID, store.Preferences{Language: "en"}); err != nil {
		t.Fatal(err)
	}
	r = b.get("/account", es)
	wantIn(t, r, "preference en over Accept-Language es", `<html lang="en">`, ">My account<")
	b.cookies["portal_lang"] = &http.Cookie{Name: "portal_lang", Value: "es"}
	if r := b.get("/account"); !strings.Contains(r.Body, `<html lang="en">`) {
		t.Errorf("preference en over the cookie es: not English")
	}
}

func TestTimesInTheRequestZone(t *testing.T) {
	f := newFixture(t)
	b := f.agentB
	// The account was created at the harness clock's 2030-03-04 09:00 UTC.
	utc := `datetime="2030-03-04T09:00:00Z" title="2030-03-04 09:00 UTC"`
	r := b.get("/account")
	wantIn(t, r, "no zone known", utc+`>4 Mar 2030, 09:00 UTC</time>`)

	b.cookies["portal_tz"] = &http.Cookie{Name: "portal_tz", Value: "Europe/Madrid"}
	r = b.get("/account")
	wantIn(t, r, "the browser's zone", utc+`>4 Mar 2030, 10:00 CET</time>`, "Use my browser&#39;s (Europe/Madrid)")
	r = b.get("/account", header{"Accept-Language", "es"})
	wantIn(t, r, "the browser's zone, in Spanish", utc+`>4 mar 2030, 10:00 CET</time>`)

	b.cookies["portal_tz"] = &http.Cookie{Name: "portal_tz", Value: "Not/A_Zone"}
	r = b.get("/account")
	wantIn(t, r, "a bad cookie", utc+`>4 Mar 2030, 09:00 UTC</time>`)

	// The preference wins over the browser's zone.
	b.cookies["portal_tz"] = &http.Cookie{Name: "portal_tz", Value: "Europe/Madrid"}
	if r := b.post("/account/preferences", formOf("next_after_decision", "on", "time_zone", "America/New_York")); r.Code != http.StatusSeeOther {
		t.Fatalf("save zone: %s", r)
	}
	r = b.get("/account")
	wantIn(t, r, "the preferred zone", utc+`>4 Mar 2030, 04:00 EST</time>`)
}

func TestShellOnEveryPage(t *testing.T) {
	f := newFixture(t)
	// Queue counters on user pages and error pages too.
	for _, path := range []string{"/account", "/admin/users/" + idStr(f.agent.ID), "/processes/999999999", "/no/such/page"} {
		r := f.adminB.get(path)
		wantIn(t, r, path, `data-testid="queue-counts"`)
	}
	// The current section says so (aria-current), once.
	r := f.adminB.get("/account")
	if n := strings.Count(r.Body, `aria-current="page"`); n != 1 || !strings.Contains(r.Body, `href="/account" class="active" aria-current="page"`) {
		t.Errorf("/account: %d aria-current, want 1 on My account", n)
	}

	// A POST answered with a page says the page's address: from a same-origin Referer
	// (without its flash), never from another site's.
	bad := formOf("current", "not my password", "new", pwNew, "confirm", pwNew)
	r = f.agentB.post("/account/password", bad, header{"Referer", "http://" + testHost + "/account/password?done=password"})
	wantPage(t, r, http.StatusUnprocessableEntity, "wrong current password")
	wantIn(t, r, "wrong current password", `data-url="/account/password"`, `aria-invalid="true"`)
	r = f.agentB.post("/account/password", bad, header{"Referer", "http://evil.example/account/password"})
	wantNotIn(t, r, "foreign Referer", "data-url=")
}

// A newcomer's set-password page names the account it is for.
func TestSetPasswordPageNamesTheAccount(t *testing.T) {
	f := newFixture(t)
	r := f.adminB.submit("/admin/users", "/admin/users", formOf("email", "nina.new@example.com", "name", "Nina New", "role", "agent"))
	_, token := passwordLink(t, r)
	r = f.browser().get("/password/" + token)
	wantPage(t, r, http.StatusOK, "set-password link")
	wantIn(t, r, "set-password link", `data-testid="pw-account"`, "nina.new@example.com")
}
