package auth

// The second factor (issue 9, item 1; quality bar A6, A8): TOTP codes (RFC 6238, with
// github.com/pquerna/otp), recovery codes, the pending sign-in between the password and
// the code, and the admin setting that says who must have one.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/mobbscan-review/portal/store"
)

// Parameters of the second factor. The code parameters are the ones every authenticator
// app supports (SHA-1, 6 digits, 30 s); the skew accepts the code of the step before
// and after the current one, for clocks a little off and slow typists.
const (
	TOTPIssuer        = "Mobbscan Review Portal"
	totpPeriod        = 30 // seconds
	totpSkew          = 1  // steps either side of now
	totpDigits        = otp.DigitsSix
	totpSecretSize    = 20 // bytes (160 bits, as RFC 4226 recommends)
	RecoveryCodeCount = 10
	recoveryCodeBytes = 10 // 80 bits: 16 base32 characters
	qrCodeSize        = 240
	// MaxCodeLength is the longest code input: a recovery code with its dashes and room
	// for spaces. Longer input is not a code (the forms' maxlength comes from here).
	MaxCodeLength = 32

	// PendingTTL is how long a right password waits for its second factor.
	PendingTTL = 5 * time.Minute
	// EnrolPendingTTL is how long it waits when the user must first set up an app
	// (install it, scan, type a code): longer, still far below a session.
	EnrolPendingTTL = 15 * time.Minute
	// EnrolmentTTL is how long a secret shown for enrolment may still be confirmed.
	EnrolmentTTL = 15 * time.Minute
)

// ErrBadCode is the one answer for a code that is wrong, used already, expired or not a
// code at all, from the authenticator or a recovery code (A6, A8): the audit says which.
var ErrBadCode = errors.New("wrong code")

// ErrBadCurrentCode refuses replacing an authenticator without a good code from the
// current one (or a recovery code); the same refusal as ErrBadCode, about another field.
var ErrBadCurrentCode = fmt.Errorf("%w from the current authenticator", ErrBadCode)

// ErrNoEnrolment says the secret shown for enrolment expired or was replaced: show a
// new one.
var ErrNoEnrolment = errors.New("enrolment expired")

// base32NoPad is the alphabet of TOTP secrets and recovery codes.
var base32NoPad = base32.StdEncoding.WithPadding(base32.NoPadding)

// Enrolment is what the user needs to add the portal to an authenticator app.
type Enrolment struct {
	Secret string // base32, for typing in by hand
	URI    string // otpauth:// URI, what the QR code holds
	QRCode []byte // PNG of the QR code
}

// SecretGroups returns the secret in groups of four characters, easier to type.
func (e *Enrolment) SecretGroups() string { return groupsOf4(e.Secret) }

func groupsOf4(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// secondFactorKey is the throttle's account key for second-factor codes. It is not the
// password's key: a right password clears that one (Throttle.Success), which would let
// someone who knows the password guess codes forever, 4 at a time.
func secondFactorKey(email string) string { return "second factor: " + email }

// SecondFactorPolicy returns who must sign in with a second factor. A stored value that
// is not a policy counts as "everyone": failing closed costs an enrolment, not an account.
func (au *Authenticator) SecondFactorPolicy(ctx context.Context) (store.SecondFactorPolicy, error) {
	v, err := au.DB.Setting(ctx, store.SettingSecondFactorRequired, string(store.SecondFactorNobody))
	if err != nil {
		return store.SecondFactorNobody, err
	}
	if p := store.SecondFactorPolicy(v); p.Valid() {
		return p, nil
	}
	return store.SecondFactorEveryone, nil
}

// SetSecondFactorPolicy stores who must sign in with a second factor; the store audits
// the change. Whether a may is review.MaySetSecondFactorPolicy's to say, before.
func (au *Authenticator) SetSecondFactorPolicy(ctx context.Context, a store.Actor, p store.SecondFactorPolicy) error {
	if !p.Valid() {
		return fmt.Errorf("second-factor policy %q: %w", p, store.ErrInvalid)
	}
	return au.DB.SetSetting(ctx, a, store.SettingSecondFactorRequired, string(p))
}

// SecondFactorStatus is what an account has of a second factor.
type SecondFactorStatus struct {
	Enrolled     bool
	EnrolledAt   time.Time
	LastUsedAt   time.Time
	RecoveryLeft int  // unused recovery codes
	Required     bool // the policy requires one for the account's role
	PolicyLabel  string
}

// SecondFactorStatus returns what u has of a second factor and whether it must.
func (au *Authenticator) SecondFactorStatus(ctx context.Context, u *store.User) (SecondFactorStatus, error) {
	var st SecondFactorStatus
	p, err := au.SecondFactorPolicy(ctx)
	if err != nil {
		return st, err
	}
	st.Required, st.PolicyLabel = p.Requires(u.Role), p.Label()
	t, err := au.DB.TOTPByUser(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	st.Enrolled, st.EnrolledAt, st.LastUsedAt = true, t.EnrolledAt, t.LastUsedAt
	st.RecoveryLeft, err = au.DB.CountRecoveryCodes(ctx, u.ID)
	return st, err
}

// BeginSecondStep is called once the password of u is right. When u has a second
// factor, or the policy requires one, it opens a pending sign-in and returns its token
// (for a cookie) and purpose; otherwise it returns "" and the caller signs u in.
func (au *Authenticator) BeginSecondStep(ctx context.Context, u *store.User, next string) (token string, purpose store.PendingPurpose, err error) {
	_, err = au.DB.TOTPByUser(ctx, u.ID)
	switch {
	case err == nil:
		purpose = store.PendingVerify
	case errors.Is(err, store.ErrNotFound):
		p, err := au.SecondFactorPolicy(ctx)
		if err != nil {
			return "", "", err
		}
		if !p.Requires(u.Role) {
			return "", "", nil
		}
		purpose = store.PendingEnrol
	default:
		return "", "", err
	}
	if token, err = randomToken(); err != nil {
		return "", "", err
	}
	ttl := PendingTTL
	if purpose == store.PendingEnrol {
		ttl = EnrolPendingTTL
	}
	now := au.DB.Now().UTC()
	p := &store.PendingSignIn{TokenHash: store.HashToken(token), UserID: u.ID, Purpose: purpose, Next: next, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := au.DB.CreatePendingSignIn(ctx, p); err != nil {
		return "", "", err
	}
	return token, purpose, nil
}

// PendingSignIn returns the pending sign-in of token and its account; one that expired,
// was spent, or whose account was disabled since is store.ErrNotFound.
func (au *Authenticator) PendingSignIn(ctx context.Context, token string) (*store.PendingSignIn, *store.User, error) {
	if token == "" || len(token) > 128 {
		return nil, nil, store.ErrNotFound
	}
	p, u, err := au.DB.PendingSignInByTokenHash(ctx, store.HashToken(token))
	if err != nil {
		return nil, nil, err
	}
	if !u.Active {
		return nil, nil, store.ErrNotFound
	}
	return p, u, nil
}

// TakePendingSignIn spends the pending sign-in of token: of two requests, one only
// gets nil and opens a session.
func (au *Authenticator) TakePendingSignIn(ctx context.Context, token string) error {
	return au.DB.TakePendingSignIn(ctx, store.HashToken(token))
}

// DropPendingSignIn forgets the pending sign-in of token (the user went back).
func (au *Authenticator) DropPendingSignIn(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	return au.DB.DeletePendingSignIn(ctx, store.HashToken(token))
}

// VerifySecondFactor checks a code typed by u at the second step: six digits from the
// authenticator (accepted once: its time step must be after the last one accepted), or
// a recovery code (each works once). Codes are throttled like passwords (A3), on the
// same per-IP budget and a per-account lock of their own. It returns how u signed in;
// a refused code is ErrBadCode or *ThrottledError, audited either way.
func (au *Authenticator) VerifySecondFactor(ctx context.Context, a store.Actor, u *store.User, input string) (store.SignInMethod, error) {
	if err := au.allowCode(ctx, a, u); err != nil {
		return "", err
	}
	method, why, err := au.checkCode(ctx, a, u, input)
	if err != nil {
		return "", err
	}
	if why != "" {
		return "", au.codeFailure(ctx, a, u, why)
	}
	au.Throttle.Success(secondFactorKey(u.Email))
	return method, nil
}

// checkCode returns the sign-in method of a good code, or why it is refused.
func (au *Authenticator) checkCode(ctx context.Context, a store.Actor, u *store.User, input string) (store.SignInMethod, string, error) {
	code := NormalizeCode(input)
	switch {
	case isTOTPCode(code):
		t, err := au.DB.TOTPByUser(ctx, u.ID)
		if errors.Is(err, store.ErrNotFound) {
			return "", "no authenticator set up", nil
		}
		if err != nil {
			return "", "", err
		}
		counter, ok := MatchTOTP(t.Secret, code, au.DB.Now())
		if !ok {
			return "", "wrong or expired authenticator code", nil
		}
		switch err := au.DB.UseTOTPCounter(ctx, u.ID, counter); {
		case errors.Is(err, store.ErrCodeUsed):
			return "", "authenticator code used already", nil
		case errors.Is(err, store.ErrNotFound):
			return "", "no authenticator set up", nil
		case err != nil:
			return "", "", err
		}
		return store.SignInTOTP, "", nil
	case isRecoveryCode(code):
		_, err := au.DB.UseRecoveryCode(ctx, a, u.ID, hashRecoveryCode(code))
		if errors.Is(err, store.ErrNotFound) {
			return "", "wrong or used recovery code", nil
		}
		if err != nil {
			return "", "", err
		}
		return store.SignInRecovery, "", nil
	}
	return "", "malformed code", nil
}

// allowCode checks the throttle before a code is looked at.
func (au *Authenticator) allowCode(ctx context.Context, a store.Actor, u *store.User) error {
	ok, retry, reason := au.Throttle.Allow(a.IP, secondFactorKey(u.Email))
	if ok {
		return nil
	}
	if _, err := au.DB.AuditRefusal(ctx, a, codeRefusal(u, store.ActionSecondFactor, store.OutcomeDenied, "throttled: "+reason)); err != nil {
		return err
	}
	return &ThrottledError{RetryAfter: retry}
}

// codeRefusal is the audit of a refused code under the L3 bound: counted per account,
// each of the first MaxFailures in a window recorded (the throttle lets few more through).
func codeRefusal(u *store.User, action store.Action, outcome, detail string) store.Refusal {
	return store.Refusal{Key: "user:" + fmt.Sprint(u.ID), RecordFirst: DefaultThrottleConfig.MaxFailures, Action: action,
		ObjectType: "user", ObjectID: fmt.Sprint(u.ID), Outcome: outcome, Detail: detail}
}

// codeFailure audits a refused code (never the code itself, L3-bounded) and counts it
// toward the throttle.
func (au *Authenticator) codeFailure(ctx context.Context, a store.Actor, u *store.User, why string) error {
	if _, err := au.DB.AuditRefusal(ctx, a, codeRefusal(u, store.ActionSecondFactor, store.OutcomeFailure, why)); err != nil {
		return err
	}
	if locked, lockFor := au.Throttle.Failure(secondFactorKey(u.Email)); locked {
		if _, err := au.DB.AuditRefusal(ctx, a, codeRefusal(u, store.ActionLockout, store.OutcomeDenied, "second factor locked for "+lockFor.String())); err != nil {
			return err
		}
	}
	return ErrBadCode
}

// BeginEnrolment makes a new secret for u's authenticator app and keeps it until a code
// confirms it (EnrolmentTTL). An existing authenticator keeps working until then.
func (au *Authenticator) BeginEnrolment(ctx context.Context, u *store.User) (*Enrolment, error) {
	raw := make([]byte, totpSecretSize)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("totp secret: %w", err)
	}
	secret := base32NoPad.EncodeToString(raw)
	if err := au.DB.BeginTOTPEnrolment(ctx, u.ID, secret, EnrolmentTTL); err != nil {
		return nil, err
	}
	return enrolmentOf(u, secret)
}

// CurrentEnrolment returns the enrolment shown to u and not confirmed yet, so that a
// wrong code shows the same QR code again; ErrNoEnrolment when there is none.
func (au *Authenticator) CurrentEnrolment(ctx context.Context, u *store.User) (*Enrolment, error) {
	secret, err := au.DB.TOTPEnrolment(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoEnrolment
	}
	if err != nil {
		return nil, err
	}
	return enrolmentOf(u, secret)
}

// enrolmentOf builds the otpauth URI and its QR code for secret.
func enrolmentOf(u *store.User, secret string) (*Enrolment, error) {
	raw, err := base32NoPad.DecodeString(secret)
	if err != nil {
		return nil, fmt.Errorf("totp secret: %w", err)
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: TOTPIssuer, AccountName: u.Email, Period: totpPeriod, Secret: raw,
		Digits: totpDigits, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return nil, fmt.Errorf("totp key: %w", err)
	}
	img, err := key.Image(qrCodeSize, qrCodeSize)
	if err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	return &Enrolment{Secret: key.Secret(), URI: key.URL(), QRCode: buf.Bytes()}, nil
}

// ConfirmEnrolment checks a code from the app u is setting up, under the same throttle
// as sign-in codes. A good code makes the app u's authenticator (replacing any earlier
// one), spends that code, and returns RecoveryCodeCount new recovery codes, which
// replace the old ones and are never shown again. When u has an authenticator already,
// current must be a good code from it or a recovery code (spent), so that a borrowed
// session cannot swap the app for its own. A wrong new code is ErrBadCode, a wrong
// current one ErrBadCurrentCode; an enrolment that expired is ErrNoEnrolment.
func (au *Authenticator) ConfirmEnrolment(ctx context.Context, a store.Actor, u *store.User, input, current string) ([]string, error) {
	secret, err := au.DB.TOTPEnrolment(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoEnrolment
	}
	if err != nil {
		return nil, err
	}
	if err := au.allowCode(ctx, a, u); err != nil {
		return nil, err
	}
	code := NormalizeCode(input)
	counter, ok := int64(0), false
	if isTOTPCode(code) {
		counter, ok = MatchTOTP(secret, code, au.DB.Now())
	}
	if !ok {
		why := "enrolment: wrong or expired authenticator code"
		if !isTOTPCode(code) {
			why = "enrolment: malformed code"
		}
		return nil, au.codeFailure(ctx, a, u, why)
	}
	switch _, err := au.DB.TOTPByUser(ctx, u.ID); {
	case err == nil:
		_, why, err := au.checkCode(ctx, a, u, current)
		if err != nil {
			return nil, err
		}
		if why != "" {
			if err := au.codeFailure(ctx, a, u, "replacing the app: "+why); !errors.Is(err, ErrBadCode) {
				return nil, err
			}
			return nil, ErrBadCurrentCode
		}
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	codes, hashes, err := newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	if err := au.DB.ConfirmTOTPEnrolment(ctx, a, u.ID, secret, counter, hashes); errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoEnrolment
	} else if err != nil {
		return nil, err
	}
	au.Throttle.Success(secondFactorKey(u.Email))
	return codes, nil
}

// NewRecoveryCodes replaces u's recovery codes after checking a current code from u's
// authenticator (so that a borrowed session cannot mint itself a way in), and returns
// the new ones. A refused code is ErrBadCode or *ThrottledError.
func (au *Authenticator) NewRecoveryCodes(ctx context.Context, a store.Actor, u *store.User, input string) ([]string, error) {
	if err := au.allowCode(ctx, a, u); err != nil {
		return nil, err
	}
	code := NormalizeCode(input)
	if !isTOTPCode(code) {
		return nil, au.codeFailure(ctx, a, u, "new recovery codes: not an authenticator code")
	}
	method, why, err := au.checkCode(ctx, a, u, code)
	if err != nil {
		return nil, err
	}
	if why != "" || method != store.SignInTOTP {
		return nil, au.codeFailure(ctx, a, u, "new recovery codes: "+why)
	}
	au.Throttle.Success(secondFactorKey(u.Email))
	codes, hashes, err := newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	if err := au.DB.ReplaceRecoveryCodes(ctx, a, u.ID, hashes); err != nil {
		return nil, err
	}
	return codes, nil
}

// ResetSecondFactor removes the second factor of account userID and ends its sessions,
// audited with reason; at its next sign-in the account signs in with its password alone,
// or sets up a new app if the policy requires one. Whether a may is
// review.MayResetSecondFactor's to say, before. No second factor is store.ErrNotFound.
func (au *Authenticator) ResetSecondFactor(ctx context.Context, a store.Actor, userID int64, reason string) error {
	return au.DB.ResetSecondFactor(ctx, a, userID, reason)
}

// NormalizeCode drops the spaces and dashes people type or paste into a code and
// lower-cases it.
func NormalizeCode(s string) string {
	if len(s) > MaxCodeLength {
		return "" // no code is this long: refused as malformed
	}
	return strings.ToLower(strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, s))
}

func isTOTPCode(s string) bool {
	if len(s) != totpDigits.Length() {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func isRecoveryCode(s string) bool {
	if len(s) != base32NoPad.EncodedLen(recoveryCodeBytes) {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '2' && r <= '7') {
			return false
		}
	}
	return true
}

// MatchTOTP returns the time step whose code is code, among the steps of at-1, at and
// at+1 (comparing in constant time), or false.
func MatchTOTP(secret, code string, at time.Time) (counter int64, ok bool) {
	now := at.Unix() / totpPeriod
	opts := hotp.ValidateOpts{Digits: totpDigits, Algorithm: otp.AlgorithmSHA1}
	for c := now - totpSkew; c <= now+totpSkew; c++ {
		if c < 1 {
			continue
		}
		want, err := hotp.GenerateCodeCustom(secret, uint64(c), opts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			counter, ok = c, true
		}
	}
	return counter, ok
}

// TOTPCode returns the code of secret at t; for tests and the command line.
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
}

// newRecoveryCodes returns RecoveryCodeCount random codes, as shown (xxxx-xxxx-xxxx-xxxx),
// and their hashes, as stored.
func newRecoveryCodes() (codes, hashes []string, err error) {
	for range RecoveryCodeCount {
		b := make([]byte, recoveryCodeBytes)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, fmt.Errorf("recovery code: %w", err)
		}
		code := strings.ToLower(base32NoPad.EncodeToString(b))
		codes = append(codes, strings.ReplaceAll(groupsOf4(code), " ", "-"))
		hashes = append(hashes, hashRecoveryCode(code))
	}
	return codes, hashes, nil
}

// hashRecoveryCode is what the database keeps of a normalised recovery code: its
// SHA-256, like session tokens. 80 random bits make a slow hash pointless (nobody
// searches 2^80 codes), and a fast one lets a code be found by one indexed lookup
// rather than ten argon2 runs of 64 MiB per attempt, which would hand attackers a
// lever on the server's memory.
func hashRecoveryCode(code string) string { return store.HashToken("recovery:" + code) }

// PendingCookieName is the cookie that carries a pending sign-in's token.
func (c SessionConfig) PendingCookieName() string {
	if c.Secure {
		return "__Host-portal_pending"
	}
	return "portal_pending"
}

// SetPendingCookie hands the browser the token of a pending sign-in, with the session
// cookie's flags (S1), for ttl.
func (s *SessionStore) SetPendingCookie(w http.ResponseWriter, token string, ttl time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cfg.PendingCookieName(), Value: token, Path: "/", MaxAge: int(ttl.Seconds()),
		HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteLaxMode,
	})
}

// PendingToken returns the pending sign-in token the request carries, or "".
func (s *SessionStore) PendingToken(r *http.Request) string {
	c, err := r.Cookie(s.cfg.PendingCookieName())
	if err != nil {
		return ""
	}
	return c.Value
}

// ClearPendingCookie removes the pending sign-in cookie.
func (s *SessionStore) ClearPendingCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cfg.PendingCookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteLaxMode,
	})
}
