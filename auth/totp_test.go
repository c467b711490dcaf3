package auth_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/store"
)

// TestMatchTOTPRFC6238 checks the codes against RFC 6238's SHA-1 test vectors (their
// last six digits) and the window: the step before and after now, no further.
func TestMatchTOTPRFC6238(t *testing.T) {
	const secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" // "12345678901234567890"
	for _, tc := range []struct {
		unix int64
		code string
	}{{59, "287082"}, {1111111109, "081804"}, {1234567890, "005924"}, {2000000000, "279037"}} {
		at := time.Unix(tc.unix, 0)
		if got, err := auth.TOTPCode(secret, at); err != nil || got != tc.code {
			t.Errorf("code at %d: got %q, %v; want %q", tc.unix, got, err, tc.code)
		}
		counter, ok := auth.MatchTOTP(secret, tc.code, at)
		if !ok || counter != tc.unix/30 {
			t.Errorf("match at %d: got %d, %v; want step %d", tc.unix, counter, ok, tc.unix/30)
		}
	}
	now := time.Date(2030, 3, 4, 9, 0, 10, 0, time.UTC)
	for _, tc := range []struct {
		offset time.Duration
		want   bool
	}{{-60 * time.Second, false}, {-30 * time.Second, true}, {0, true}, {30 * time.Second, true}, {60 * time.Second, false}} {
		code, _ := auth.TOTPCode(secret, now.Add(tc.offset))
		counter, ok := auth.MatchTOTP(secret, code, now)
		if ok != tc.want {
			t.Errorf("code of now%+v: accepted %v, want %v", tc.offset, ok, tc.want)
		}
		if ok && counter != now.Add(tc.offset).Unix()/30 {
			t.Errorf("code of now%+v: step %d, want %d", tc.offset, counter, now.Add(tc.offset).Unix()/30)
		}
	}
}

// enrol sets up an authenticator for u through the Authenticator and returns its secret
// and recovery codes.
func enrol(t *testing.T, au *auth.Authenticator, clk *testClock, u *store.User) (string, []string) {
	t.Helper()
	ctx := context.Background()
	en, err := au.BeginEnrolment(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if len(en.QRCode) < 100 || !strings.HasPrefix(string(en.QRCode), "\x89PNG") {
		t.Fatalf("QR code is not a PNG (%d bytes)", len(en.QRCode))
	}
	if !strings.HasPrefix(en.URI, "otpauth://totp/") || !strings.Contains(en.URI, "secret="+en.Secret) {
		t.Fatalf("URI %q does not carry the secret", en.URI)
	}
	code, _ := auth.TOTPCode(en.Secret, clk.Now())
	codes, err := au.ConfirmEnrolment(ctx, store.Actor{UserID: u.ID, Email: u.Email}, u, code, "")
	if err != nil {
		t.Fatalf("confirm enrolment: %v", err)
	}
	return en.Secret, codes
}

func TestEnrolmentNeedsARightCodeAndMakesRecoveryCodes(t *testing.T) {
	au, db, clk := newAuthenticator(t)
	ctx := context.Background()
	u := addUser(t, db, au.Hasher, "ann@example.com", goodPassword)
	a := store.Actor{UserID: u.ID, Email: u.Email}
	if _, err := au.ConfirmEnrolment(ctx, a, u, "123456", ""); !errors.Is(err, auth.ErrNoEnrolment) {
		t.Fatalf("confirm with no enrolment: got %v, want ErrNoEnrolment", err)
	}
	en, err := au.BeginEnrolment(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	again, err := au.CurrentEnrolment(ctx, u)
	if err != nil || again.Secret != en.Secret {
		t.Fatalf("current enrolment: got %v, %v; want the same secret", again, err)
	}
	good, _ := auth.TOTPCode(en.Secret, clk.Now())
	wrong := "000000"
	if wrong == good {
		wrong = "111111"
	}
	for _, bad := range []string{wrong, "12345", "abcdef", ""} {
		if _, err := au.ConfirmEnrolment(ctx, a, u, bad, ""); !errors.Is(err, auth.ErrBadCode) {
			t.Errorf("confirm with %q: got %v, want ErrBadCode", bad, err)
		}
	}
	codes, err := au.ConfirmEnrolment(ctx, a, u, good[:3]+" "+good[3:], "")
	if err != nil {
		t.Fatalf("confirm with the right code (with a space): %v", err)
	}
	if len(codes) != auth.RecoveryCodeCount {
		t.Fatalf("got %d recovery codes, want %d", len(codes), auth.RecoveryCodeCount)
	}
	shape := regexp.MustCompile(`^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`)
	seen := map[string]bool{}
	for _, c := range codes {
		if !shape.MatchString(c) || seen[c] {
			t.Fatalf("recovery code %q: malformed or repeated", c)
		}
		seen[c] = true
	}
	if _, err := au.CurrentEnrolment(ctx, u); !errors.Is(err, auth.ErrNoEnrolment) {
		t.Fatalf("enrolment after confirmation: got %v, want ErrNoEnrolment", err)
	}
	st, err := au.SecondFactorStatus(ctx, u)
	if err != nil || !st.Enrolled || st.RecoveryLeft != auth.RecoveryCodeCount {
		t.Fatalf("status: got %+v, %v", st, err)
	}
}

// TestVerifySecondFactorCodeOnce: a code works once (the enrolment's code too), within
// the window; a recovery code works once; every refusal is the same ErrBadCode and is
// audited without the code.
func TestVerifySecondFactorCodeOnce(t *testing.T) {
	au, db, clk := newAuthenticator(t)
	ctx := context.Background()
	u := addUser(t, db, au.Hasher, "ann@example.com", goodPassword)
	secret, recovery := enrol(t, au, clk, u)
	a := store.Actor{UserID: u.ID, Email: u.Email, IP: "192.0.2.1"}
	verify := func(code string) (store.SignInMethod, error) { return au.VerifySecondFactor(ctx, a, u, code) }

	enrolCode, _ := auth.TOTPCode(secret, clk.Now())
	if _, err := verify(enrolCode); !errors.Is(err, auth.ErrBadCode) {
		t.Fatalf("the enrolment's code again: got %v, want ErrBadCode", err)
	}
	clk.Advance(30 * time.Second)
	code, _ := auth.TOTPCode(secret, clk.Now())
	if m, err := verify(code); err != nil || m != store.SignInTOTP {
		t.Fatalf("fresh code: got %q, %v; want %q", m, err, store.SignInTOTP)
	}
	if _, err := verify(code); !errors.Is(err, auth.ErrBadCode) {
		t.Fatalf("reused code: got %v, want ErrBadCode", err)
	}
	clk.Advance(30 * time.Second)
	late, _ := auth.TOTPCode(secret, clk.Now().Add(-90*time.Second))
	if _, err := verify(late); !errors.Is(err, auth.ErrBadCode) {
		t.Fatalf("expired code: got %v, want ErrBadCode", err)
	}
	if m, err := verify(strings.ToUpper(recovery[0])); err != nil || m != store.SignInRecovery {
		t.Fatalf("recovery code: got %q, %v; want %q", m, err, store.SignInRecovery)
	}
	if _, err := verify(recovery[0]); !errors.Is(err, auth.ErrBadCode) {
		t.Fatalf("reused recovery code: got %v, want ErrBadCode", err)
	}
	au.Throttle.Success("second factor: " + u.Email) // the refusals so far must not lock the next check
	if _, err := verify("1234567"); !errors.Is(err, auth.ErrBadCode) {
		t.Fatalf("malformed code: got %v, want ErrBadCode", err)
	}
	st, _ := au.SecondFactorStatus(ctx, u)
	if st.RecoveryLeft != auth.RecoveryCodeCount-1 {
		t.Fatalf("recovery codes left: got %d, want %d", st.RecoveryLeft, auth.RecoveryCodeCount-1)
	}
	rows := auditRows(t, db, string(store.ActionSecondFactor))
	failures := 0
	for _, r := range rows {
		if r.Outcome == store.OutcomeFailure {
			failures++
		}
		for _, c := range append([]string{code, enrolCode, late, secret}, recovery...) {
			if strings.Contains(r.Detail, c) {
				t.Fatalf("audit row %q carries a code or the secret", r.Detail)
			}
		}
	}
	if failures != 5 {
		t.Fatalf("audited failures: got %d, want 5", failures)
	}

	// The stored recovery codes are hashes: no code appears in the table.
	var stored []string
	r, err := db.SQL().Query("SELECT code_hash FROM recovery_codes")
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var h string
		_ = r.Scan(&h)
		stored = append(stored, h)
	}
	r.Close()
	if len(stored) != auth.RecoveryCodeCount {
		t.Fatalf("stored codes: %d", len(stored))
	}
	for _, h := range stored {
		for _, c := range recovery {
			if strings.Contains(h, strings.ReplaceAll(c, "-", "")) || strings.Contains(h, c) {
				t.Fatalf("recovery code %q stored in clear", c)
			}
		}
	}
}

// TestSecondFactorThrottle: wrong codes lock the codes like wrong passwords (A3), the
// right code is then refused too, and a right password does not lift the lock.
func TestSecondFactorThrottle(t *testing.T) {
	au, db, clk := newAuthenticator(t)
	ctx := context.Background()
	u := addUser(t, db, au.Hasher, "ann@example.com", goodPassword)
	secret, _ := enrol(t, au, clk, u)
	clk.Advance(30 * time.Second)
	a := store.Actor{UserID: u.ID, Email: u.Email, IP: "192.0.2.1"}
	good, _ := auth.TOTPCode(secret, clk.Now())
	wrong := "000000"
	if good == wrong {
		wrong = "111111"
	}
	for i := range auth.DefaultThrottleConfig.MaxFailures {
		if _, err := au.VerifySecondFactor(ctx, a, u, wrong); !errors.Is(err, auth.ErrBadCode) {
			t.Fatalf("wrong code %d: got %v, want ErrBadCode", i+1, err)
		}
	}
	if _, err := au.Authenticate(ctx, store.Actor{IP: "192.0.2.9"}, u.Email, goodPassword); err != nil {
		t.Fatalf("password: %v", err)
	}
	var te *auth.ThrottledError
	if _, err := au.VerifySecondFactor(ctx, a, u, good); !errors.As(err, &te) {
		t.Fatalf("right code while locked: got %v, want ThrottledError", err)
	}
	if len(auditRows(t, db, string(store.ActionLockout))) != 1 {
		t.Fatalf("lockout not audited")
	}
	clk.Advance(te.RetryAfter)
	good, _ = auth.TOTPCode(secret, clk.Now())
	if m, err := au.VerifySecondFactor(ctx, a, u, good); err != nil || m != store.SignInTOTP {
		t.Fatalf("right code after the lock: got %q, %v", m, err)
	}
}

func TestBeginSecondStepFollowsThePolicy(t *testing.T) {
	au, db, clk := newAuthenticator(t)
	ctx := context.Background()
	agent := addUser(t, db, au.Hasher, "agent@example.com", goodPassword)
	admin := addUser(t, db, au.Hasher, "admin@example.com", goodPassword)
	if err := db.SetUserRole(ctx, store.System, admin.ID, store.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	admin.Role = store.RoleAdmin
	enrolled := addUser(t, db, au.Hasher, "totp@example.com", goodPassword)
	enrol(t, au, clk, enrolled)

	for _, tc := range []struct {
		policy string
		user   *store.User
		want   store.PendingPurpose
	}{
		{"nobody", agent, ""}, {"nobody", admin, ""}, {"nobody", enrolled, store.PendingVerify},
		{"admins", agent, ""}, {"admins", admin, store.PendingEnrol}, {"admins", enrolled, store.PendingVerify},
		{"everyone", agent, store.PendingEnrol}, {"everyone", admin, store.PendingEnrol},
		{"garbage", agent, store.PendingEnrol}, // an unknown stored value fails closed
	} {
		if err := db.SetSetting(ctx, store.System, store.SettingSecondFactorRequired, tc.policy); err != nil {
			t.Fatal(err)
		}
		token, purpose, err := au.BeginSecondStep(ctx, tc.user, "/queue")
		if err != nil || purpose != tc.want || (token == "") != (tc.want == "") {
			t.Errorf("%s, %s: got %q, %q, %v; want %q", tc.policy, tc.user.Email, token, purpose, err, tc.want)
			continue
		}
		if token == "" {
			continue
		}
		p, u, err := au.PendingSignIn(ctx, token)
		if err != nil || p.Purpose != tc.want || u.ID != tc.user.ID || p.Next != "/queue" {
			t.Errorf("%s, %s: pending %+v, %v", tc.policy, tc.user.Email, p, err)
		}
	}
	if err := au.SetSecondFactorPolicy(ctx, store.System, "sometimes"); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("unknown policy: got %v, want ErrInvalid", err)
	}
}

func TestPendingSignInOfADisabledAccountIsGone(t *testing.T) {
	au, db, clk := newAuthenticator(t)
	ctx := context.Background()
	u := addUser(t, db, au.Hasher, "ann@example.com", goodPassword)
	enrol(t, au, clk, u)
	token, _, err := au.BeginSecondStep(ctx, u, "/")
	if err != nil || token == "" {
		t.Fatalf("begin: %q, %v", token, err)
	}
	if err := db.SetUserActive(ctx, store.System, u.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := au.PendingSignIn(ctx, token); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("pending sign-in of a disabled account: got %v, want ErrNotFound", err)
	}
}

// TestRefusedCodesDoNotGrowTheAuditUnbounded (L3): an hour of wrong codes against one
// account adds a bounded number of audit rows.
func TestRefusedCodesDoNotGrowTheAuditUnbounded(t *testing.T) {
	au, db, clk := newAuthenticator(t)
	ctx := context.Background()
	u := addUser(t, db, au.Hasher, "ann@example.com", goodPassword)
	enrol(t, au, clk, u)
	a := store.Actor{UserID: u.ID, Email: u.Email, IP: "192.0.2.1"}
	refused := 0
	for range 200 {
		_, err := au.VerifySecondFactor(ctx, a, u, "12345x")
		var te *auth.ThrottledError
		switch {
		case errors.As(err, &te):
			clk.Advance(te.RetryAfter)
		case !errors.Is(err, auth.ErrBadCode):
			t.Fatalf("wrong code: %v", err)
		}
		refused++
		if clk.Now().Sub(time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC)) > 50*time.Minute {
			break
		}
	}
	rows := len(auditRows(t, db, string(store.ActionSecondFactor))) + len(auditRows(t, db, string(store.ActionLockout)))
	t.Logf("%d refused codes, %d audit rows", refused, rows)
	if refused < 20 || rows > 2*(auth.DefaultThrottleConfig.MaxFailures+1) {
		t.Fatalf("%d refused codes added %d audit rows, want at most %d", refused, rows, 2*(auth.DefaultThrottleConfig.MaxFailures+1))
	}
}

// TestReplacingTheAppNeedsTheCurrentOne: a second enrolment is confirmed only with a code
// from the current app or a recovery code; until then the current app keeps working.
func TestReplacingTheAppNeedsTheCurrentOne(t *testing.T) {
	au, db, clk := newAuthenticator(t)
	ctx := context.Background()
	u := addUser(t, db, au.Hasher, "ann@example.com", goodPassword)
	oldSecret, recovery := enrol(t, au, clk, u)
	a := store.Actor{UserID: u.ID, Email: u.Email}
	clk.Advance(30 * time.Second)
	en, err := au.BeginEnrolment(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	newCode, _ := auth.TOTPCode(en.Secret, clk.Now())
	for _, current := range []string{"", "000000", "not a code"} {
		if _, err := au.ConfirmEnrolment(ctx, a, u, newCode, current); !errors.Is(err, auth.ErrBadCurrentCode) {
			t.Fatalf("replace with current %q: got %v, want ErrBadCurrentCode", current, err)
		}
	}
	if got, _ := db.TOTPByUser(ctx, u.ID); got.Secret != oldSecret {
		t.Fatal("the app was replaced without the current one")
	}
	if _, err := au.ConfirmEnrolment(ctx, a, u, newCode, recovery[3]); err != nil {
		t.Fatalf("replace with a recovery code: %v", err)
	}
	if got, _ := db.TOTPByUser(ctx, u.ID); got.Secret == oldSecret {
		t.Fatal("the app was not replaced")
	}
	clk.Advance(30 * time.Second)
	oldCode, _ := auth.TOTPCode(oldSecret, clk.Now())
	if _, err := au.VerifySecondFactor(ctx, a, u, oldCode); !errors.Is(err, auth.ErrBadCode) {
		t.Fatalf("the old app after the replacement: got %v, want ErrBadCode", err)
	}
	if _, err := au.VerifySecondFactor(ctx, a, u, recovery[4]); !errors.Is(err, auth.ErrBadCode) {
		t.Fatalf("an old recovery code after the replacement: got %v, want ErrBadCode", err)
	}
}
