package handlers

// Single sign-on with OpenID Connect (A7; issue 9, item 2): the button's start, the
// provider's callback, and the "single sign-on is the only way in" setting. The
// protocol (state, nonce, PKCE, token verification, account matching) is auth.OIDC's.

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

// ssoLogin is the single sign-on part of the sign-in page; empty when single sign-on
// is not configured. Asking whether the provider is available may retry discovery.
func (h *Handler) ssoLogin(c echo.Context, next string) views.SSOLogin {
	if h.OIDC == nil {
		return views.SSOLogin{}
	}
	ctx := c.Request().Context()
	only, err := h.OIDC.SSOOnly(ctx)
	if err != nil {
		h.log.Warn("read single sign-on setting", "error", err)
	}
	return views.SSOLogin{Name: h.OIDC.Name(), Available: h.OIDC.Available(ctx), Next: next, Only: only}
}

// refusePasswordSignIn answers a password sign-in that "single sign-on is the only
// way in" forbids (the password was right: wrong ones get the usual answer first), and
// reports whether it did; f is the sign-in form as submitted.
func (h *Handler) refusePasswordSignIn(c echo.Context, user *store.User, f views.LoginForm) (refused bool, err error) {
	ctx := c.Request().Context()
	only, err := h.OIDC.SSOOnly(ctx)
	if err != nil {
		return false, err
	}
	rerr := review.ErrorOf(review.MaySignInWithPassword(only, user))
	if rerr == nil {
		return false, nil
	}
	if err := h.OIDC.AuditPasswordRefused(ctx, auth.ActorFrom(c), user); err != nil {
		return true, err
	}
	f.Error = rerr.Message
	return true, render(c, http.StatusForbidden, views.LoginScreen(views.Page{Title: i18n.M("Sign in")}, f))
}

// startSSO sends the browser to the identity provider, keeping the sign-in's state in
// a short-lived cookie bound to this browser.
func (h *Handler) startSSO(c echo.Context) error {
	if h.OIDC == nil {
		return echo.ErrNotFound
	}
	if u := auth.UserFrom(c); u != nil {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	next := safeNext(c.QueryParam("next"))
	authURL, state, err := h.OIDC.Begin(c.Request().Context(), c.RealIP(), next)
	var te *auth.ThrottledError
	if errors.As(err, &te) {
		return h.ssoThrottled(c, te, next)
	}
	if errors.Is(err, auth.ErrOIDCUnavailable) {
		h.log.Warn("single sign-on unavailable", "error", err)
		f := views.LoginForm{Next: next, SSO: h.ssoLogin(c, next)}
		f.Error = fmt.Sprintf(i18n.M("%s cannot be reached right now. Try again in a minute."), h.OIDC.Name())
		return render(c, http.StatusServiceUnavailable, views.LoginScreen(views.Page{Title: i18n.M("Sign in")}, f))
	}
	if err != nil {
		return err
	}
	h.setSSOCookie(c, state, h.OIDC.FlowTTL())
	return c.Redirect(http.StatusSeeOther, authURL)
}

// finishSSO is the provider's callback: a refused sign-in gets the sign-in page with
// the reason (audited by auth.OIDC), a good one a new session.
func (h *Handler) finishSSO(c echo.Context) error {
	if h.OIDC == nil {
		return echo.ErrNotFound
	}
	cb := auth.OIDCCallback{State: c.QueryParam("state"), Code: c.QueryParam("code"), Error: c.QueryParam("error")}
	if ck, err := c.Cookie(h.OIDC.CookieName()); err == nil {
		cb.CookieState = ck.Value
	}
	h.setSSOCookie(c, "", -1) // single use, whatever happens next
	a := auth.ActorFrom(c)
	user, next, err := h.OIDC.Finish(c.Request().Context(), a, cb)
	var oe *auth.OIDCError
	var te *auth.ThrottledError
	if errors.As(err, &te) {
		return h.ssoThrottled(c, te, "")
	}
	if errors.As(err, &oe) {
		h.log.Info("single sign-on refused", "reason", oe.Reason, "error", oe.Err)
		f := views.LoginForm{Error: oe.Message, SSO: h.ssoLogin(c, "")}
		return render(c, http.StatusUnauthorized, views.LoginScreen(views.Page{Title: i18n.M("Sign in")}, f))
	}
	if err != nil {
		return err
	}
	a.UserID, a.Email, a.Role = user.ID, user.Email, user.Role
	if err := h.Sessions.StartSession(c.Response(), c.Request(), a, user, store.SignInOIDC); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, safeNext(next))
}

// ssoThrottled answers too many single sign-on requests from one address.
func (h *Handler) ssoThrottled(c echo.Context, te *auth.ThrottledError, next string) error {
	f := views.LoginForm{Next: next, SSO: h.ssoLogin(c, next)}
	f.Error = fmt.Sprintf(i18n.M("Too many sign-in attempts. Wait %s and try again."), views.FormatDuration(te.RetryAfter))
	c.Response().Header().Set("Retry-After", retryAfterSeconds(te))
	return render(c, http.StatusTooManyRequests, views.LoginScreen(views.Page{Title: i18n.M("Sign in")}, f))
}

// setSSOCookie sets the state cookie (maxAge < 0 deletes it): HttpOnly, SameSite=Lax
// so that it comes back on the provider's top-level redirect, "__Host-" and Secure in
// production.
func (h *Handler) setSSOCookie(c echo.Context, value string, maxAge time.Duration) {
	ck := &http.Cookie{
		Name: h.OIDC.CookieName(), Value: value, Path: "/", HttpOnly: true, Secure: h.cfg.Production,
		SameSite: http.SameSiteLaxMode, MaxAge: int(maxAge / time.Second),
	}
	if maxAge < 0 {
		ck.MaxAge = -1
	}
	c.SetCookie(ck)
}

// ssoSettings is the single sign-on card of the settings page.
func (h *Handler) ssoSettings(c echo.Context) (views.SSOSettingsForm, error) {
	if h.OIDC == nil {
		return views.SSOSettingsForm{}, nil
	}
	only, err := h.OIDC.SSOOnly(c.Request().Context())
	return views.SSOSettingsForm{
		Configured: true, Name: h.OIDC.Name(), Only: only,
		CallbackURL: strings.TrimRight(h.cfg.BaseURL, "/") + auth.OIDCCallbackPath,
	}, err
}

// saveSSOSettings turns "single sign-on is the only way in" on or off (audited as a
// setting change).
func (h *Handler) saveSSOSettings(c echo.Context) error {
	if h.OIDC == nil {
		return echo.ErrNotFound
	}
	value := "off"
	switch c.FormValue("sso_only") {
	case "":
	case "on":
		value = "on"
	default:
		return echo.NewHTTPError(http.StatusBadRequest, i18n.M("Use the check box of the settings page."))
	}
	if err := h.DB.SetSetting(c.Request().Context(), auth.ActorFrom(c), auth.SettingSSOOnly, value); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/settings?done=settings-saved#"+views.IDSSOSettings)
}
