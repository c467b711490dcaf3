package handlers_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/store"
)

// The second factor (issue 9, item 1) through the real router.

const (
	msgBadCode    = "That code did not work. Type the 6-digit code your app shows now, or one of your unused recovery codes."
	pendingCookie = "portal_pending"
)

var (
	secretRE   = regexp.MustCompile(`data-testid="totp-secret">([A-Z2-7 ]+)</code>`)
	recoveryRE = regexp.MustCompile(`data-testid="recovery-code">([a-z2-7-]+)</li>`)
	qrRE       = regexp.MustCompile(`<img src="data:image/png;base64,[A-Za-z0-9+/=]+"[^>]*data-testid="totp-qr"`)
)

// secretOf reads the secret shown as text on an enrolment page.
func secretOf(t *testing.T, r *response) string {
	t.Helper()
	m := secretRE.FindStringSubmatch(r.Body)
	if m == nil {
		t.Fatalf("no secret on the enrolment page: %s", r)
	}
	if !qrRE.MatchString(r.Body) {
		t.Fatalf("no server-drawn QR code on the enrolment page: %s", r)
	}
	return strings.ReplaceAll(m[1], " ", "")
}

func recoveryCodesOf(t *testing.T, r *response) []string {
	t.Helper()
	var codes []string
	for _, m := range recoveryRE.FindAllStringSubmatch(r.Body, -1) {
		codes = append(codes, m[1])
	}
	if len(codes) != auth.RecoveryCodeCount {
		t.Fatalf("got %d recovery codes, want %d: %s", len(codes), auth.RecoveryCodeCount, r)
	}
	return codes
}

// code is the authenticator's code for secret now (on the harness clock).
func (h *harness) code(secret string) string {
	h.t.Helper()
	c, err := auth.TOTPCode(secret, h.clock.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// wrongCode is a well-formed code that is not secret's now, nor a step either side.
func (h *harness) wrongCode(secret string) string {
	h.t.Helper()
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if _, ok := auth.MatchTOTP(secret, c, h.clock.Now()); !ok {
			return c
		}
	}
	h.t.Fatal("no wrong code")
	return ""
}

// enrolOnAccount sets up an authenticator from "My account" for the signed-in b.
func (h *harness) enrolOnAccount(b *browser) (secret string, codes []string) {
	h.t.Helper()
	r := b.get("/account/second-factor")
	wantPage(h.t, r, http.StatusOK, "enrolment page")
	secret = secretOf(h.t, r)
	r = b.post("/account/second-factor", formOf("code", h.code(secret)))
	wantPage(h.t, r, http.StatusOK, "confirm enrolment")
	return secret, recoveryCodesOf(h.t, r)
}

// startSignIn posts the password and expects to be sent to the second step.
func (b *browser) startSignIn(email, password string) {
	b.h.t.Helper()
	r := b.login(email, password)
	if r.Code != http.StatusSeeOther || r.location() != "/login/second-factor" {
		b.h.t.Fatalf("password of %s: got %s, want 303 to the second step", email, r)
	}
	if b.sessionCookie() != "" {
		b.h.t.Fatalf("password of %s opened a session before the second factor", email)
	}
	if c := b.cookies[pendingCookie]; c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
		b.h.t.Fatalf("pending sign-in cookie: got %+v, want HttpOnly, SameSite=Lax, Path=/", c)
	}
}

func TestTOTPEnrolAndSignIn(t *testing.T) {
	f := newFixture(t)
	b := f.agentB
	r := b.get("/account")
	if !strings.Contains(r.Body, `data-testid="enrol-start"`) || !strings.Contains(r.Body, "Password</td>") {
		t.Fatalf("account page: want the set-up button and the sign-in method: %s", r)
	}

	// A wrong code keeps the form, the code typed and the same secret.
	r = b.get("/account/second-factor")
	secret := secretOf(t, r)
	wrong := f.wrongCode(secret)
	r = b.post("/account/second-factor", formOf("code", wrong))
	wantPage(t, r, http.StatusUnprocessableEntity, "wrong enrolment code")
	if !strings.Contains(r.Body, `data-testid="err-code"`) || !strings.Contains(r.Body, `value="`+wrong+`"`) || secretOf(t, r) != secret {
		t.Fatalf("wrong enrolment code: want the message, the code kept and the same secret: %s", r)
	}
	r = b.post("/account/second-factor", formOf("code", f.code(secret)))
	wantPage(t, r, http.StatusOK, "confirm enrolment")
	codes := recoveryCodesOf(t, r)
	if f.countAudit(string(store.ActionSecondFactorEnrol), store.OutcomeSuccess) != 1 {
		t.Fatal("enrolment not audited")
	}
	r = b.get("/account")
	if !strings.Contains(r.Body, `data-testid="recovery-left">10 unused`) {
		t.Fatalf("account page after enrolment: %s", r)
	}
	for _, c := range codes {
		if strings.Contains(r.Body, c) {
			t.Fatal("a recovery code is shown again")
		}
	}

	// Signing in now takes the password, then a code.
	f.clock.Advance(30 * time.Second)
	nb := f.browser()
	r = nb.submit("/login?next=/history", "/login", formOf("email", "agent@example.com", "password", pwAgent, "next", "/history"))
	if r.Code != http.StatusSeeOther || r.location() != "/login/second-factor" || nb.sessionCookie() != "" {
		t.Fatalf("password: got %s, want 303 to the second step and no session", r)
	}
	wantSignedOut(t, nb, "after the password alone")
	r = nb.get("/login/second-factor")
	wantPage(t, r, http.StatusOK, "second step")
	if !strings.Contains(r.Body, "Enter the code from your authenticator app") {
		t.Fatalf("second step page: %s", r)
	}
	r = nb.post("/login/second-factor", formOf("code", f.code(secret)))
	if r.Code != http.StatusSeeOther || r.location() != "/history" || nb.sessionCookie() == "" {
		t.Fatalf("code: got %s, want 303 to /history with a session", r)
	}
	if nb.cookies[pendingCookie] != nil {
		t.Fatal("the pending sign-in cookie outlives the sign-in")
	}
	wantSignedIn(t, nb, "after the code")
	var methods []store.SignInMethod
	for _, s := range f.sessionsOf(f.agent.ID) {
		methods = append(methods, s.Method)
	}
	if !containsMethod(methods, store.SignInTOTP) {
		t.Fatalf("session methods %v, want one %q", methods, store.SignInTOTP)
	}
	if r := nb.get("/account"); !strings.Contains(r.Body, store.SignInTOTP.Label()) {
		t.Fatalf("the sessions list does not say how the session signed in: %s", r)
	}
}

func containsMethod(list []store.SignInMethod, m store.SignInMethod) bool {
	for _, x := range list {
		if x == m {
			return true
		}
	}
	return false
}

// TestSecondStepRefusalsAndRecovery: wrong, reused, expired and malformed codes and a
// wrong recovery code all get the one message with the code kept, no session, and count
// toward the throttle; a recovery code signs in once.
func TestSecondStepRefusalsAndRecovery(t *testing.T) {
	f := newFixture(t)
	secret, codes := f.enrolOnAccount(f.agentB)
	enrolCode := f.code(secret)

	b := f.browser().from("198.51.100.1") // each client its own per-IP budget
	b.startSignIn("agent@example.com", pwAgent)
	expired, _ := auth.TOTPCode(secret, f.clock.Now().Add(-2*time.Minute))
	for _, tc := range []struct{ name, code string }{
		{"the enrolment's code again", enrolCode},
		{"wrong", f.wrongCode(secret)},
		{"expired", expired},
		{"malformed", "12ab56"},
	} {
		r := b.post("/login/second-factor", formOf("code", tc.code))
		wantPage(t, r, http.StatusUnprocessableEntity, tc.name)
		if !strings.Contains(r.Body, msgBadCode) || !strings.Contains(r.Body, `value="`+esc(tc.code)+`"`) || b.sessionCookie() != "" {
			t.Fatalf("%s: want the one message with the code kept and no session: %s", tc.name, r)
		}
	}
	if n := f.countAudit(string(store.ActionSecondFactor), store.OutcomeFailure); n != 4 {
		t.Fatalf("audited code failures: got %d, want 4", n)
	}

	// A recovery code (typed in capitals, without dashes) signs in, once.
	r := b.post("/login/second-factor", formOf("code", strings.ToUpper(strings.ReplaceAll(codes[0], "-", ""))))
	if r.Code != http.StatusSeeOther || b.sessionCookie() == "" {
		t.Fatalf("recovery code: got %s, want 303 with a session", r)
	}
	if !containsMethod(methodsOf(f.harness, f.agent.ID), store.SignInRecovery) {
		t.Fatal("no session signed in with a recovery code")
	}
	b2 := f.browser().from("198.51.100.2")
	b2.startSignIn("agent@example.com", pwAgent)
	r = b2.post("/login/second-factor", formOf("code", codes[0]))
	if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, msgBadCode) {
		t.Fatalf("a used recovery code: got %s, want the one message", r)
	}

	// The fifth refusal since the last success locks the codes: the right code waits too.
	for range 4 {
		b2.post("/login/second-factor", formOf("code", "999999"))
	}
	next, _ := auth.TOTPCode(secret, f.clock.Now().Add(30*time.Second)) // unused, inside the window
	r = b2.post("/login/second-factor", formOf("code", next))
	if r.Code != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || !strings.Contains(r.Body, "Too many wrong codes") || b2.sessionCookie() != "" {
		t.Fatalf("right code while locked: got %s, want 429 with Retry-After", r)
	}
	if f.countAudit(string(store.ActionLockout), "") != 1 {
		t.Fatal("the lock is not audited")
	}
}

func methodsOf(h *harness, userID int64) []store.SignInMethod {
	var m []store.SignInMethod
	for _, s := range h.sessionsOf(userID) {
		m = append(m, s.Method)
	}
	return m
}

// TestSecondStepIsShortLivedAndSingleUse: the pending sign-in expires, and once spent a
// copy of its cookie opens nothing.
func TestSecondStepIsShortLivedAndSingleUse(t *testing.T) {
	f := newFixture(t)
	secret, _ := f.enrolOnAccount(f.agentB)

	b := f.browser()
	b.startSignIn("agent@example.com", pwAgent)
	f.clock.Advance(auth.PendingTTL)
	r := b.post("/login/second-factor", formOf("code", f.code(secret)))
	if r.Code != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/login?expired=1") || b.sessionCookie() != "" {
		t.Fatalf("code after the pending sign-in expired: got %s, want 303 to the sign-in page", r)
	}

	b = f.browser()
	b.startSignIn("agent@example.com", pwAgent)
	copyB := b.clone()
	f.clock.Advance(30 * time.Second)
	if r := b.post("/login/second-factor", formOf("code", f.code(secret))); r.Code != http.StatusSeeOther || b.sessionCookie() == "" {
		t.Fatalf("sign in: got %s", r)
	}
	f.clock.Advance(30 * time.Second)
	r = copyB.post("/login/second-factor", formOf("code", f.code(secret)))
	if r.Code != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/login") || copyB.sessionCookie() != "" {
		t.Fatalf("replayed pending cookie: got %s, want 303 to the sign-in page and no session", r)
	}
	if r := f.browser().get("/login/second-factor"); r.Code != http.StatusSeeOther {
		t.Fatalf("second step without a pending sign-in: got %s, want 303", r)
	}
}

// TestSecondFactorEnforcement: an admin requires it for admins; an admin without one
// sets it up during sign-in before any session exists; agents are not asked.
func TestSecondFactorEnforcement(t *testing.T) {
	f := newFixture(t)
	r := f.adminB.get("/admin/settings")
	if !strings.Contains(r.Body, `data-testid="second-factor-settings"`) || !strings.Contains(r.Body, `value="nobody" selected`) {
		t.Fatalf("settings page: want the second-factor card with nobody selected: %s", r)
	}
	if r := f.agentB.post("/admin/settings/second-factor", formOf("second_factor_required", "everyone")); r.Code != http.StatusForbidden {
		t.Fatalf("agent changes the policy: got %s, want 403", r)
	}
	r = f.adminB.post("/admin/settings/second-factor", formOf("second_factor_required", "sometimes"))
	wantPage(t, r, http.StatusUnprocessableEntity, "unknown policy")
	if !strings.Contains(r.Body, "Choose who must use a second factor.") {
		t.Fatalf("unknown policy: want the message: %s", r)
	}
	r = f.adminB.post("/admin/settings/second-factor", formOf("second_factor_required", "admins"))
	if r.Code != http.StatusSeeOther {
		t.Fatalf("save policy: got %s", r)
	}
	var changed bool
	for _, e := range f.audit(string(store.ActionSettingChange)) {
		changed = changed || (e.ObjectID == store.SettingSecondFactorRequired && e.ActorID == f.admin.ID)
	}
	if !changed {
		t.Fatal("the policy change is not audited")
	}

	f.signIn("agent@example.com", pwAgent) // agents sign in with the password alone

	f.createUser("admin2@example.com", "Second Admin", store.RoleAdmin, pwAgent2, false)
	b := f.browser()
	b.startSignIn("admin2@example.com", pwAgent2)
	r = b.get("/login/second-factor")
	wantPage(t, r, http.StatusOK, "forced enrolment")
	if !strings.Contains(r.Body, `data-testid="enrol-required"`) {
		t.Fatalf("forced enrolment page: %s", r)
	}
	secret := secretOf(t, r)
	wantSignedOut(t, b, "during the forced enrolment")
	r = b.post("/login/second-factor", formOf("code", "abc"))
	wantPage(t, r, http.StatusUnprocessableEntity, "malformed enrolment code")
	if secretOf(t, r) != secret || b.sessionCookie() != "" {
		t.Fatalf("malformed enrolment code: want the same secret and no session: %s", r)
	}
	r = b.post("/login/second-factor", formOf("code", f.code(secret)))
	wantPage(t, r, http.StatusOK, "forced enrolment confirmed")
	recoveryCodesOf(t, r)
	if b.sessionCookie() == "" {
		t.Fatal("no session after the forced enrolment")
	}
	wantSignedIn(t, b, "after the forced enrolment")
}

// TestAdminResetsSecondFactor: an admin resets another account's second factor after a
// confirmation, audited, ending its sessions; an agent cannot, nor an admin their own.
func TestAdminResetsSecondFactor(t *testing.T) {
	f := newFixture(t)
	f.enrolOnAccount(f.agentB)
	f.enrolOnAccount(f.adminB)
	url := "/admin/users/" + idStr(f.agent.ID) + "/second-factor/reset"

	r := f.adminB.get("/admin/users/" + idStr(f.agent.ID))
	if !strings.Contains(r.Body, `data-testid="reset-second-factor"`) {
		t.Fatalf("user page: no reset button: %s", r)
	}
	if r := f.agentB.post(url, formOf("confirm", "yes")); r.Code != http.StatusForbidden {
		t.Fatalf("agent resets: got %s, want 403", r)
	}
	if r := f.adminB.post("/admin/users/"+idStr(f.admin.ID)+"/second-factor/reset", formOf("confirm", "yes")); r.Code != http.StatusForbidden {
		t.Fatalf("admin resets their own: got %s, want 403", r)
	}
	r = f.adminB.post(url, formOf())
	wantPage(t, r, http.StatusUnprocessableEntity, "reset without confirmation")
	if _, err := f.db.TOTPByUser(context.Background(), f.agent.ID); err != nil {
		t.Fatalf("reset without confirmation removed the authenticator: %v", err)
	}
	r = f.adminB.post(url, formOf("confirm", "yes"))
	wantPage(t, r, http.StatusOK, "reset")
	if !strings.Contains(r.Body, "Second factor reset.") {
		t.Fatalf("reset: no confirmation: %s", r)
	}
	events := f.audit(string(store.ActionSecondFactorReset))
	if len(events) != 1 || events[0].ActorID != f.admin.ID || events[0].ObjectID != idStr(f.agent.ID) {
		t.Fatalf("reset audit: got %+v, want one row by the admin on the agent", events)
	}
	wantSignedOut(t, f.agentB, "agent after the reset")
	f.signIn("agent@example.com", pwAgent) // the password alone again (policy: nobody)
	if r := f.adminB.post(url, formOf("confirm", "yes")); r.Code != http.StatusConflict {
		t.Fatalf("reset of an account without one: got %s, want 409", r)
	}
}

func TestNewRecoveryCodesNeedACurrentCode(t *testing.T) {
	f := newFixture(t)
	secret, old := f.enrolOnAccount(f.agentB)
	f.clock.Advance(30 * time.Second)
	r := f.agentB.post("/account/second-factor/recovery-codes", formOf("code", old[1]))
	wantPage(t, r, http.StatusUnprocessableEntity, "new codes with a recovery code")
	if !strings.Contains(r.Body, `data-testid="err-code"`) {
		t.Fatalf("new codes with a recovery code: want the message beside the field: %s", r)
	}
	r = f.agentB.post("/account/second-factor/recovery-codes", formOf("code", f.code(secret)))
	wantPage(t, r, http.StatusOK, "new codes")
	fresh := recoveryCodesOf(t, r)
	if f.countAudit(string(store.ActionRecoveryCodes), store.OutcomeSuccess) != 1 {
		t.Fatal("new recovery codes not audited")
	}
	b := f.browser()
	b.startSignIn("agent@example.com", pwAgent)
	if r := b.post("/login/second-factor", formOf("code", old[2])); r.Code != http.StatusUnprocessableEntity {
		t.Fatalf("an old recovery code: got %s, want 422", r)
	}
	if r := b.post("/login/second-factor", formOf("code", fresh[0])); r.Code != http.StatusSeeOther || b.sessionCookie() == "" {
		t.Fatalf("a new recovery code: got %s, want a session", r)
	}
}

// TestMoveToANewPhone: replacing the app on "My account" needs a code from the current
// one (or a recovery code); a wrong one gets its message beside its own field.
func TestMoveToANewPhone(t *testing.T) {
	f := newFixture(t)
	oldSecret, _ := f.enrolOnAccount(f.agentB)
	f.clock.Advance(30 * time.Second)
	r := f.agentB.get("/account/second-factor")
	if !strings.Contains(r.Body, `data-testid="enrol-current"`) {
		t.Fatalf("replacing: no field for the current app's code: %s", r)
	}
	secret := secretOf(t, r)
	r = f.agentB.post("/account/second-factor", formOf("code", f.code(secret), "current", f.wrongCode(oldSecret)))
	wantPage(t, r, http.StatusUnprocessableEntity, "replace with a wrong current code")
	if !strings.Contains(r.Body, `data-testid="err-current"`) || strings.Contains(r.Body, `data-testid="err-code"`) || secretOf(t, r) != secret {
		t.Fatalf("wrong current code: want its message beside its field and the same new secret: %s", r)
	}
	r = f.agentB.post("/account/second-factor", formOf("code", f.code(secret), "current", f.code(oldSecret)))
	wantPage(t, r, http.StatusOK, "replace")
	recoveryCodesOf(t, r)
	if got, _ := f.db.TOTPByUser(context.Background(), f.agent.ID); got.Secret != secret {
		t.Fatal("the app was not replaced")
	}
}

// TestSecondFactorInSpanish: the second step, its refusals (the throttle's included),
// the set-up page and the "My account" card in Spanish (issue 12, item 5).
func TestSecondFactorInSpanish(t *testing.T) {
	f := newFixture(t)
	es := header{"Accept-Language", "es"}
	r := f.agentB.get("/account/second-factor", es)
	wantPage(t, r, http.StatusOK, "enrolment page in Spanish")
	for _, want := range []string{"Configure su aplicación de autenticación", `alt="Código QR para escanear con su aplicación de autenticación"`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("enrolment page in Spanish: no %q", want)
		}
	}
	secret := secretOf(t, r)
	r = f.agentB.post("/account/second-factor", formOf("code", f.wrongCode(secret)), es)
	if want := esc("Ese código no ha funcionado. Escriba el código de 6 cifras que muestra ahora la aplicación para esta cuenta."); r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, want) || !strings.Contains(r.Body, `aria-invalid="true"`) {
		t.Fatalf("wrong enrolment code in Spanish: want 422 with %q on an invalid field, got %s", want, r)
	}
	r = f.agentB.post("/account/second-factor", formOf("code", f.code(secret)), es)
	if !strings.Contains(r.Body, "Sus códigos de recuperación") {
		t.Fatalf("recovery codes in Spanish: got %s", r)
	}
	r = f.agentB.get("/account", es)
	for _, want := range []string{"Segundo factor", "Activado", "10 códigos de recuperación sin usar."} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("account card in Spanish: no %q", want)
		}
	}

	f.clock.Advance(30 * time.Second)
	b := f.browser().from("198.51.100.9")
	b.startSignIn("agent@example.com", pwAgent)
	if r := b.get("/login/second-factor", es); !strings.Contains(r.Body, "Escriba el código de su aplicación de autenticación") {
		t.Fatalf("second step in Spanish: got %s", r)
	}
	bad := esc("Ese código no ha funcionado. Escriba el código de 6 cifras que muestra ahora su aplicación, o uno de sus códigos de recuperación sin usar.")
	r = b.post("/login/second-factor", formOf("code", "999999"), es)
	if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, bad) || strings.Contains(r.Body, msgBadCode) {
		t.Fatalf("wrong code in Spanish: want 422 with the Spanish message only, got %s", r)
	}
	for i := 0; i < 10 && r.Code != http.StatusTooManyRequests; i++ { // until the codes lock
		r = b.post("/login/second-factor", formOf("code", "999999"), es)
	}
	if r.Code != http.StatusTooManyRequests || !strings.Contains(r.Body, "Demasiados códigos incorrectos. Espere ") {
		t.Fatalf("locked codes in Spanish: want 429 with the Spanish message, got %s", r)
	}
}
