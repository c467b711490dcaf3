package auth

// Single sign-on with OpenID Connect (A7; issue 9, item 2): the authorization code flow
// with PKCE, state and nonce against the organisation's identity provider. A verified
// email that matches an active account signs that account in; no account is ever
// created here.
//
// Discovery: the provider is discovered at start; when the issuer cannot be reached
// the portal still starts, the login page shows the button disabled with a message,
// and discovery is tried again lazily (at most once every RetryEvery) when the login
// page or the button is used.
//
// Pending sign-ins (nonce, PKCE verifier, where to go after) are kept on the server, in
// the database under the SHA-256 of their state (store.OIDCPending), for FlowTTL, and
// each is spent by its first callback: so the callback may land on any instance, and
// survives a restart. The browser holds only the state, in a short-lived HttpOnly
// SameSite=Lax cookie ("__Host-" in production) that the callback's state must match, so
// a callback is bound to the browser that started it.

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/store"
)

// OIDCCallbackPath is where the identity provider sends the browser back; the redirect
// URI registered at the provider is the portal's base URL followed by this path.
const OIDCCallbackPath = "/login/oidc/callback"

// SettingSSOOnly is the settings key of "single sign-on is the only way in" ("on" or
// "off"); it has an effect only while single sign-on is configured.
const SettingSSOOnly = "sso_only"

// OIDCConfig configures single sign-on. Zero durations take the defaults in brackets.
type OIDCConfig struct {
	Issuer       string // the provider's issuer URL, exactly as its discovery document says
	ClientID     string
	ClientSecret string
	RedirectURL  string // the portal's base URL + OIDCCallbackPath
	Name         string // shown as "Sign in with <Name>"; default: the issuer's host
	// Secure selects the production cookie: "__Host-" name and the Secure flag.
	Secure     bool
	HTTPClient *http.Client  // for discovery, keys and the token exchange [10 s timeout]
	RetryEvery time.Duration // least time between discovery attempts after a failure [30 s]
	FlowTTL    time.Duration // how long a started sign-in may take [10 min]
	MaxPending int           // sign-ins in progress at most, over all instances [10,000]
	// Throttle, when set, limits starting and finishing sign-ins per client IP, shared
	// with password sign-in (so the pending sign-ins cannot be filled from one address).
	Throttle *Throttle
}

// OIDC signs users in through an OpenID Provider.
type OIDC struct {
	cfg OIDCConfig
	db  *store.DB
	// Now is the clock of pending sign-ins (ID token expiry is checked on the real clock).
	Now func() time.Time

	// The discovered provider: per instance, and immutable once found (a provider that
	// rotates its keys is handled by the verifier, which refetches them on an unknown id).
	mu       sync.Mutex
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	lastTry  time.Time
	lastErr  error
}

// NewOIDC returns single sign-on with defaults filled in; it does not contact the
// provider (see Discover).
func NewOIDC(db *store.DB, cfg OIDCConfig) *OIDC {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.RetryEvery <= 0 {
		cfg.RetryEvery = 30 * time.Second
	}
	if cfg.FlowTTL <= 0 {
		cfg.FlowTTL = 10 * time.Minute
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 10_000
	}
	if cfg.Name == "" {
		cfg.Name = OIDCDefaultName(cfg.Issuer)
	}
	return &OIDC{cfg: cfg, db: db, Now: time.Now}
}

// OIDCDefaultName is the button's name when none is configured: the issuer's host.
func OIDCDefaultName(issuer string) string {
	if u, err := url.Parse(issuer); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "single sign-on"
}

// Name is the provider's name for people ("Sign in with <Name>").
func (o *OIDC) Name() string { return o.cfg.Name }

// CookieName is the name of the cookie that holds a started sign-in's state.
func (o *OIDC) CookieName() string {
	if o.cfg.Secure {
		return "__Host-portal_oidc"
	}
	return "portal_oidc"
}

// FlowTTL is how long a started sign-in may take (the state cookie's lifetime).
func (o *OIDC) FlowTTL() time.Duration { return o.cfg.FlowTTL }

// Discover fetches the provider's discovery document unless it already has it. After a
// failure it tries again only once RetryEvery has passed, and returns the last error
// until then, so a provider that is down does not slow every login page.
func (o *OIDC) Discover(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider != nil {
		return nil
	}
	now := time.Now()
	if o.lastErr != nil && now.Sub(o.lastTry) < o.cfg.RetryEvery {
		return o.lastErr
	}
	o.lastTry = now
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, o.cfg.HTTPClient), 5*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(ctx, o.cfg.Issuer)
	if err != nil {
		o.lastErr = fmt.Errorf("discover %s: %w", o.cfg.Issuer, err)
		return o.lastErr
	}
	o.provider, o.lastErr = p, nil
	// Keys are fetched (and refetched on an unknown key id) with the portal's client.
	o.verifier = p.VerifierContext(oidc.ClientContext(context.Background(), o.cfg.HTTPClient), &oidc.Config{ClientID: o.cfg.ClientID})
	return nil
}

// Available reports whether the provider is discovered, trying again if it is due.
func (o *OIDC) Available(ctx context.Context) bool { return o.Discover(ctx) == nil }

func (o *OIDC) oauth2Config() *oauth2.Config {
	return &oauth2.Config{
		ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, RedirectURL: o.cfg.RedirectURL,
		Endpoint: o.provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
	}
}

// ErrOIDCUnavailable: the provider could not be reached (discovery failed).
var ErrOIDCUnavailable = errors.New("single sign-on provider unavailable")

// allow applies the per-IP throttle.
func (o *OIDC) allow(ip string) error {
	if o.cfg.Throttle == nil {
		return nil
	}
	if ok, retry, _ := o.cfg.Throttle.Allow(ip, ""); !ok {
		return &ThrottledError{RetryAfter: retry}
	}
	return nil
}

// Begin starts a sign-in for the client at ip: it returns the provider's authorization
// URL to send the browser to, and the state to keep in the browser's cookie. next is
// where to go after signing in (already checked by the caller). Too many starts from
// one address are a *ThrottledError.
func (o *OIDC) Begin(ctx context.Context, ip, next string) (authURL, state string, err error) {
	if err := o.allow(ip); err != nil {
		return "", "", err
	}
	if err := o.Discover(ctx); err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrOIDCUnavailable, err)
	}
	state, err = randomToken()
	if err != nil {
		return "", "", err
	}
	nonce, err := randomToken()
	if err != nil {
		return "", "", err
	}
	verifier := oauth2.GenerateVerifier()
	now := o.Now()
	err = o.db.CreateOIDCPending(ctx, store.OIDCPending{StateHash: store.HashToken(state), Nonce: nonce, Verifier: verifier,
		Next: next, ExpiresAt: now.Add(o.cfg.FlowTTL)}, now, o.cfg.MaxPending)
	if errors.Is(err, store.ErrTooManyOIDCPending) {
		return "", "", fmt.Errorf("%w: too many sign-ins in progress", ErrOIDCUnavailable)
	}
	if err != nil {
		return "", "", err
	}
	o.mu.Lock()
	cfg := o.oauth2Config()
	o.mu.Unlock()
	return cfg.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), state, nil
}

// take spends the pending sign-in of state, on whichever instance started it: it is
// found at most once, and not once expired (store.ErrNotFound).
func (o *OIDC) take(ctx context.Context, state string) (store.OIDCPending, error) {
	if state == "" {
		return store.OIDCPending{}, store.ErrNotFound
	}
	return o.db.TakeOIDCPending(ctx, store.HashToken(state), o.Now())
}

// Sweep deletes the sign-ins that expired unfinished: for the portal's periodic sweeper
// (a start deletes them too; this tidies up when nobody starts one for a while).
func (o *OIDC) Sweep(ctx context.Context) error {
	_, err := o.db.SweepOIDCPending(ctx, o.Now())
	return err
}

// OIDCCallback is what the provider sent back, and the state in the browser's cookie.
type OIDCCallback struct {
	State       string // the callback's state parameter
	CookieState string // the state cookie of this browser ("" when absent)
	Code        string
	Error       string // the provider's error code (e.g. access_denied), if it sent one
}

// OIDCError is a refused single sign-on: Reason is for the audit log, Message for the
// person at the sign-in page.
type OIDCError struct {
	Reason  string
	Message string
	Err     error // the underlying error (a refused code exchange, a rejected token), for the log
}

func (e *OIDCError) Error() string { return "oidc: " + e.Reason }

func (e *OIDCError) Unwrap() error { return e.Err }

// Messages of a refused single sign-on, shown on the sign-in page.
// They are English, marked for the catalogue; the sign-in page translates them.
var (
	oidcMsgStart      = i18n.M("This sign-in attempt is not valid any more. Start again with the single sign-on button.")
	oidcMsgProvider   = i18n.M("The identity provider did not confirm your sign-in. Try again, or ask an administrator.")
	oidcMsgUnverified = i18n.M("Your identity provider has not verified your email address, so it cannot sign you in here. Ask your identity provider's administrator.")
	oidcMsgNoAccount  = i18n.M("There is no active review portal account for your email address. Ask an administrator for one.")
)

// Finish completes a sign-in from the provider's callback: the state must be the one
// this browser started and not spent; the code is exchanged with the PKCE verifier; the
// ID token's signature, issuer, audience, expiry and nonce are verified; the email must
// be verified by the provider and belong to an active account (matched without regard
// to case). It returns the account and where to go next. A refusal is an *OIDCError,
// audited here (auth.login, failure); success is audited when the session starts. Too
// many callbacks from a.IP are a *ThrottledError, not looked at.
func (o *OIDC) Finish(ctx context.Context, a store.Actor, cb OIDCCallback) (*store.User, string, error) {
	if err := o.allow(a.IP); err != nil {
		return nil, "", err
	}
	user, next, email, err := o.finish(ctx, cb)
	var oe *OIDCError
	if errors.As(err, &oe) {
		a.UserID, a.Role, a.Email = 0, "", email
		objectID := ""
		if user != nil {
			objectID = strconv.FormatInt(user.ID, 10)
		}
		if aerr := o.db.Audit(ctx, a, store.ActionLogin, "user", objectID, store.OutcomeFailure, "oidc: "+oe.Reason); aerr != nil {
			return nil, "", aerr
		}
		return nil, "", err
	}
	return user, next, err
}

// idClaims are the ID token claims the portal reads. email_verified is a JSON boolean,
// or the string "true" from some providers.
type idClaims struct {
	Email         string          `json:"email"`
	EmailVerified json.RawMessage `json:"email_verified"`
}

func (c idClaims) verified() bool {
	v := strings.TrimSpace(string(c.EmailVerified))
	return v == "true" || v == `"true"`
}

// finish does the work of Finish; email is the token's email when it got that far.
func (o *OIDC) finish(ctx context.Context, cb OIDCCallback) (user *store.User, next, email string, err error) {
	refuse := func(reason, msg string, cause ...error) (*store.User, string, string, error) {
		return user, "", email, &OIDCError{Reason: reason, Message: msg, Err: errors.Join(cause...)}
	}
	if cb.State == "" || len(cb.State) > 128 || cb.CookieState == "" ||
		subtle.ConstantTimeCompare([]byte(cb.State), []byte(cb.CookieState)) != 1 {
		if len(cb.State) <= 128 {
			// A state seen with the wrong browser is spent too. An error here changes
			// nothing for this refusal; the sign-in then expires unused.
			_, _ = o.take(ctx, cb.State)
		}
		return refuse("wrong state", oidcMsgStart)
	}
	p, err := o.take(ctx, cb.State)
	if errors.Is(err, store.ErrNotFound) {
		return refuse("unknown, used or expired state", oidcMsgStart)
	}
	if err != nil {
		return nil, "", "", err
	}
	if cb.Error != "" {
		return refuse("provider error: "+errorCode(cb.Error), oidcMsgProvider)
	}
	if cb.Code == "" || len(cb.Code) > 2048 {
		return refuse("no code", oidcMsgProvider)
	}
	if err := o.Discover(ctx); err != nil {
		return refuse("provider unavailable", oidcMsgProvider, err)
	}
	o.mu.Lock()
	cfg, verifier := o.oauth2Config(), o.verifier
	o.mu.Unlock()
	tok, err := cfg.Exchange(oidc.ClientContext(ctx, o.cfg.HTTPClient), cb.Code, oauth2.VerifierOption(p.Verifier))
	if err != nil {
		return refuse("code refused by the provider", oidcMsgProvider, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return refuse("no id token", oidcMsgProvider)
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		return refuse("id token rejected: "+clip(err.Error(), 120), oidcMsgProvider, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(p.Nonce)) != 1 {
		return refuse("nonce mismatch", oidcMsgProvider)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		return refuse("unreadable claims", oidcMsgProvider, err)
	}
	email = clip(store.NormalizeEmail(c.Email), 254)
	if email == "" {
		return refuse("no email in the id token", oidcMsgUnverified)
	}
	if !c.verified() {
		return refuse("email not verified", oidcMsgUnverified)
	}
	user, err = o.db.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		user = nil
		return refuse("no account for this email", oidcMsgNoAccount)
	case err != nil:
		return nil, "", email, err
	case !user.Active:
		return refuse("account disabled", oidcMsgNoAccount)
	}
	return user, p.Next, email, nil
}

// errorCode keeps an OAuth error code as the provider sent it (letters, digits, "_",
// "-"), at most 64 characters, for the audit log.
func errorCode(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
	return clip(s, 64)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// SSOOnly reports whether single sign-on is the only way in: the admin setting is on
// and single sign-on is configured (o is nil when it is not).
func (o *OIDC) SSOOnly(ctx context.Context) (bool, error) {
	if o == nil {
		return false, nil
	}
	v, err := o.db.Setting(ctx, SettingSSOOnly, "off")
	return v == "on", err
}

// AuditPasswordRefused records a password sign-in with the right password that was
// refused because single sign-on is the only way in.
func (o *OIDC) AuditPasswordRefused(ctx context.Context, a store.Actor, u *store.User) error {
	a.UserID, a.Role, a.Email = 0, "", u.Email
	return o.db.Audit(ctx, a, store.ActionLogin, "user", strconv.FormatInt(u.ID, 10), store.OutcomeDenied, "sso only: password sign-in refused")
}
