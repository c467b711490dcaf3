package handlers

// The second factor (issue 9, item 1): the sign-in step after the password, setting up
// an authenticator app on "My account" or at sign-in when the settings require one,
// recovery codes, the admin's reset and the settings card.

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

// Second-factor URLs.
const (
	secondStepURL       = "/login/second-factor"
	accountSecondFactor = "/account/second-factor"
)

// maxCodeLength is the code fields' maxlength: the longest input auth takes for a code.
const maxCodeLength = auth.MaxCodeLength

// Messages of the second factor: one for every refused code, whatever was wrong (A6, A8).
// English, marked for the catalogue; the views translate them.
var (
	msgBadCode        = i18n.M("That code did not work. Type the 6-digit code your app shows now, or one of your unused recovery codes.")
	msgBadEnrolCode   = i18n.M("That code did not work. Type the 6-digit code the app shows now for this account.")
	msgEnrolExpired   = i18n.M("That setup expired. Scan the new QR code below, or type the new key, and try again.")
	msgBadCurrentCode = i18n.M("That code did not work. Type the 6-digit code your current app shows now, or one of your unused recovery codes.")
)

// registerSecondFactor adds the second factor's routes: the sign-in step (public: it is
// reached with a pending sign-in, not a session), "My account" and the admin's.
func (h *Handler) registerSecondFactor(e *echo.Echo, u, a *echo.Group) {
	e.GET(secondStepURL, h.showSecondStep)
	e.POST(secondStepURL, h.verifySecondStep)
	u.GET(accountSecondFactor, h.showEnrolment)
	u.POST(accountSecondFactor, h.confirmEnrolment)
	u.POST(accountSecondFactor+"/recovery-codes", h.renewRecoveryCodes)
	a.POST("/users/:id/second-factor/reset", h.resetUserSecondFactor)
	a.POST("/settings/second-factor", h.saveSecondFactorPolicy)
}

// beginSecondStep hands a right password over to the second factor when the account
// has one or must set one up: a pending sign-in (not a session) and a redirect to the
// second step. done is false when the password alone signs in.
func (h *Handler) beginSecondStep(c echo.Context, user *store.User, next string) (done bool, err error) {
	token, purpose, err := h.Authenticator.BeginSecondStep(c.Request().Context(), user, next)
	if err != nil || token == "" {
		return false, err
	}
	ttl := auth.PendingTTL
	if purpose == store.PendingEnrol {
		ttl = auth.EnrolPendingTTL
	}
	h.Sessions.SetPendingCookie(c.Response(), token, ttl)
	return true, c.Redirect(http.StatusSeeOther, secondStepURL)
}

// pendingSignIn returns the request's pending sign-in, or answers with a redirect to the
// sign-in page (the pending sign-in expired or was spent) and returns nil.
func (h *Handler) pendingSignIn(c echo.Context) (string, *store.PendingSignIn, *store.User, error) {
	token := h.Sessions.PendingToken(c.Request())
	p, u, err := h.Authenticator.PendingSignIn(c.Request().Context(), token)
	if errors.Is(err, store.ErrNotFound) {
		h.Sessions.ClearPendingCookie(c.Response())
		return "", nil, nil, c.Redirect(http.StatusSeeOther, auth.LoginPath+"?expired=1")
	}
	return token, p, u, err
}

// pendingActor is the audit actor of a pending sign-in: its password was right.
func pendingActor(c echo.Context, u *store.User) store.Actor {
	a := auth.ActorFrom(c)
	a.UserID, a.Email, a.Role = u.ID, u.Email, u.Role
	return a
}

func (h *Handler) showSecondStep(c echo.Context) error {
	_, p, u, err := h.pendingSignIn(c)
	if p == nil || err != nil {
		return err
	}
	if p.Purpose == store.PendingEnrol {
		f, err := h.enrolForm(c, u, secondStepURL)
		if err != nil {
			return err
		}
		f.Forced, f.CancelURL = true, auth.LoginPath
		return render(c, http.StatusOK, views.EnrolScreen(views.Page{Title: i18n.M("Set up your authenticator app")}, f))
	}
	return render(c, http.StatusOK, views.SecondStepScreen(views.Page{Title: i18n.M("Sign in")}, views.SecondStepForm{MaxLength: maxCodeLength}))
}

// verifySecondStep checks the code of a pending sign-in (or confirms the app it must
// set up) and opens the session, saying how it was signed in.
func (h *Handler) verifySecondStep(c echo.Context) error {
	token, p, u, err := h.pendingSignIn(c)
	if p == nil || err != nil {
		return err
	}
	ctx, a, code := c.Request().Context(), pendingActor(c, u), c.FormValue("code")
	var (
		method = store.SignInTOTP
		codes  []string
	)
	if p.Purpose == store.PendingEnrol {
		codes, err = h.Authenticator.ConfirmEnrolment(ctx, a, u, code, "")
		if msg, status := codeRefusal(c, err, msgBadEnrolCode); msg != "" {
			f, ferr := h.enrolForm(c, u, secondStepURL)
			if ferr != nil {
				return ferr
			}
			f.Forced, f.CancelURL, f.Error, f.Code = true, auth.LoginPath, msg, clip(code)
			return render(c, status, views.EnrolScreen(views.Page{Title: i18n.M("Set up your authenticator app")}, f))
		}
	} else {
		method, err = h.Authenticator.VerifySecondFactor(ctx, a, u, code)
		if msg, status := codeRefusal(c, err, msgBadCode); msg != "" {
			f := views.SecondStepForm{MaxLength: maxCodeLength, Error: msg, Code: clip(code)}
			return render(c, status, views.SecondStepScreen(views.Page{Title: i18n.M("Sign in")}, f))
		}
	}
	if err != nil {
		return err
	}
	if err := h.Authenticator.TakePendingSignIn(ctx, token); errors.Is(err, store.ErrNotFound) {
		h.Sessions.ClearPendingCookie(c.Response())
		return c.Redirect(http.StatusSeeOther, auth.LoginPath+"?expired=1")
	} else if err != nil {
		return err
	}
	h.Sessions.ClearPendingCookie(c.Response())
	if err := h.Sessions.StartSession(c.Response(), c.Request(), a, u, method); err != nil {
		return err
	}
	next := safeNext(p.Next)
	if u.MustChangePassword {
		next = "/account/password"
	}
	if codes != nil {
		return render(c, http.StatusOK, views.RecoveryCodesScreen(views.Page{Title: i18n.M("Recovery codes")},
			views.RecoveryCodesPage{Codes: codes, ContinueURL: next, Enrolled: true}))
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// codeRefusal turns a refused code into the message beside the field and the status;
// "" when err is not a refusal (nil, or an error for the error page).
func codeRefusal(c echo.Context, err error, bad string) (string, int) {
	var te *auth.ThrottledError
	switch {
	case errors.As(err, &te):
		c.Response().Header().Set("Retry-After", retryAfterSeconds(te))
		return fmt.Sprintf(i18n.M("Too many wrong codes. Wait %s and try again."), views.FormatDuration(te.RetryAfter)), http.StatusTooManyRequests
	case errors.Is(err, auth.ErrBadCode):
		return bad, http.StatusUnprocessableEntity
	case errors.Is(err, auth.ErrNoEnrolment):
		return msgEnrolExpired, http.StatusUnprocessableEntity
	}
	return "", 0
}

// clip keeps what the user typed for the form, within the field's length.
func clip(code string) string {
	if len(code) > maxCodeLength {
		return code[:maxCodeLength]
	}
	return code
}

// enrolForm shows the enrolment under way for u, or a new one.
func (h *Handler) enrolForm(c echo.Context, u *store.User, action string) (views.EnrolForm, error) {
	ctx := c.Request().Context()
	en, err := h.Authenticator.CurrentEnrolment(ctx, u)
	if errors.Is(err, auth.ErrNoEnrolment) {
		en, err = h.Authenticator.BeginEnrolment(ctx, u)
	}
	if err != nil {
		return views.EnrolForm{}, err
	}
	return views.EnrolForm{
		Action: action, Secret: en.SecretGroups(), MaxLength: maxCodeLength,
		QRCode: templ.SafeURL("data:image/png;base64," + base64.StdEncoding.EncodeToString(en.QRCode)),
	}, nil
}

// hasAuthenticator reports whether u has an authenticator (for the form; the rule is
// checked by auth.ConfirmEnrolment).
func (h *Handler) hasAuthenticator(c echo.Context, u *store.User) bool {
	st, err := h.Authenticator.SecondFactorStatus(c.Request().Context(), u)
	return err == nil && st.Enrolled
}

// showEnrolment sets up an authenticator app from "My account" (or a new phone's).
func (h *Handler) showEnrolment(c echo.Context) error {
	u := auth.UserFrom(c)
	st, err := h.Authenticator.SecondFactorStatus(c.Request().Context(), u)
	if err != nil {
		return err
	}
	f, err := h.enrolForm(c, u, accountSecondFactor)
	if err != nil {
		return err
	}
	f.Replacing, f.CancelURL = st.Enrolled, "/account"
	return render(c, http.StatusOK, views.EnrolScreen(h.page(c, i18n.M("Set up your authenticator app"), "account"), f))
}

// confirmEnrolment checks the first code of the new app (and, to replace an app, one
// from the current app or a recovery code) and shows the recovery codes once.
func (h *Handler) confirmEnrolment(c echo.Context) error {
	u := auth.UserFrom(c)
	code, current := c.FormValue("code"), c.FormValue("current")
	codes, err := h.Authenticator.ConfirmEnrolment(c.Request().Context(), auth.ActorFrom(c), u, code, current)
	if msg, status := codeRefusal(c, err, msgBadEnrolCode); msg != "" {
		f, ferr := h.enrolForm(c, u, accountSecondFactor)
		if ferr != nil {
			return ferr
		}
		f.CancelURL, f.Code, f.Current = "/account", clip(code), clip(current)
		f.Replacing, f.Error = errors.Is(err, auth.ErrBadCurrentCode) || h.hasAuthenticator(c, u), msg
		if errors.Is(err, auth.ErrBadCurrentCode) {
			f.Error, f.CurrentError = "", msgBadCurrentCode
		}
		return render(c, status, views.EnrolScreen(h.page(c, i18n.M("Set up your authenticator app"), "account"), f))
	}
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.RecoveryCodesScreen(h.page(c, i18n.M("Recovery codes"), "account"),
		views.RecoveryCodesPage{Codes: codes, ContinueURL: "/account", Enrolled: true}))
}

// renewRecoveryCodes replaces the recovery codes, after a current code from the app.
func (h *Handler) renewRecoveryCodes(c echo.Context) error {
	u := auth.UserFrom(c)
	code := c.FormValue("code")
	codes, err := h.Authenticator.NewRecoveryCodes(c.Request().Context(), auth.ActorFrom(c), u, code)
	if msg, status := codeRefusal(c, err, i18n.M("That code did not work. Type the 6-digit code your app shows now.")); msg != "" {
		return h.renderAccount(c, status, func(s *views.SecondFactorCard) { s.Error, s.Code = msg, clip(code) })
	}
	if errors.Is(err, store.ErrNotFound) {
		return h.renderAccount(c, http.StatusConflict, func(s *views.SecondFactorCard) { s.Error = i18n.M("Set up an authenticator app first.") })
	}
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.RecoveryCodesScreen(h.page(c, i18n.M("Recovery codes"), "account"),
		views.RecoveryCodesPage{Codes: codes, ContinueURL: "/account"}))
}

// secondFactorCard is the "Second factor" card of "My account".
func (h *Handler) secondFactorCard(c echo.Context, u *store.User) (views.SecondFactorCard, error) {
	st, err := h.Authenticator.SecondFactorStatus(c.Request().Context(), u)
	if err != nil {
		return views.SecondFactorCard{}, err
	}
	return views.SecondFactorCard{
		Enrolled: st.Enrolled, EnrolledAt: st.EnrolledAt, LastUsedAt: st.LastUsedAt, RecoveryLeft: st.RecoveryLeft,
		Required: st.Required, MaxLength: maxCodeLength,
	}, nil
}

// renderAccount renders "My account" with its second-factor card changed by edit.
func (h *Handler) renderAccount(c echo.Context, status int, edit func(*views.SecondFactorCard)) error {
	a, err := h.accountPage(c)
	if err != nil {
		return err
	}
	edit(&a.SecondFactor)
	return render(c, status, views.AccountScreen(h.page(c, i18n.M("My account"), "account"), a))
}

// userSecondFactor is the "Second factor" card of an admin's page of account u.
func (h *Handler) userSecondFactor(c echo.Context, u *store.User) (views.UserSecondFactor, error) {
	st, err := h.Authenticator.SecondFactorStatus(c.Request().Context(), u)
	if err != nil {
		return views.UserSecondFactor{}, err
	}
	return views.UserSecondFactor{
		ResetURL: "/admin/users/" + strconv.FormatInt(u.ID, 10) + "/second-factor/reset",
		Self:     auth.UserFrom(c).ID == u.ID, Enrolled: st.Enrolled, EnrolledAt: st.EnrolledAt,
		RecoveryLeft: st.RecoveryLeft, Required: st.Required,
	}, nil
}

// resetUserSecondFactor removes another account's second factor (A8): the admin ticks
// a confirmation; the account's sessions end; the audit records who did it.
func (h *Handler) resetUserSecondFactor(c echo.Context) error {
	u, err := h.userParam(c)
	if err != nil {
		return err
	}
	a := auth.ActorFrom(c)
	if err := review.MayResetSecondFactor(a, u); err != nil {
		return err
	}
	if c.FormValue("confirm") != "yes" {
		return h.renderUser(c, http.StatusUnprocessableEntity, u, "", "", views.FormErrors{"": i18n.M("Tick the box to confirm the reset of the second factor.")})
	}
	switch err := h.Authenticator.ResetSecondFactor(c.Request().Context(), a, u.ID, "reset by an administrator"); {
	case errors.Is(err, store.ErrNotFound):
		return h.renderUser(c, http.StatusConflict, u, "", "", views.FormErrors{"": i18n.M("This account has no second factor to reset.")})
	case err != nil:
		return err
	}
	return h.renderUser(c, http.StatusOK, u, "", i18n.M("Second factor reset. The account's sessions were ended."), nil)
}

// secondFactorPolicyForm is the settings card with policy checked.
func secondFactorPolicyForm(policy store.SecondFactorPolicy) views.SecondFactorPolicyForm {
	help := map[store.SecondFactorPolicy]string{
		store.SecondFactorNobody:   i18n.M("Everyone may set up an authenticator app on “My account”; nobody has to."),
		store.SecondFactorAdmins:   i18n.M("Administrators without an authenticator app set one up at their next sign-in."),
		store.SecondFactorEveryone: i18n.M("Every account without an authenticator app sets one up at its next sign-in."),
	}
	f := views.SecondFactorPolicyForm{}
	for _, p := range store.SecondFactorPolicies {
		f.Options = append(f.Options, views.SecondFactorOption{Value: string(p), Label: p.Label(), Help: help[p], Checked: p == policy})
	}
	return f
}

// saveSecondFactorPolicy stores who must use a second factor.
func (h *Handler) saveSecondFactorPolicy(c echo.Context) error {
	a := auth.ActorFrom(c)
	if err := review.MaySetSecondFactorPolicy(a); err != nil {
		return err
	}
	p := store.SecondFactorPolicy(c.FormValue("second_factor_required"))
	if !p.Valid() {
		page, err := h.settingsPage(c)
		if err != nil {
			return err
		}
		page.SecondFactor.Error = i18n.M("Choose who must use a second factor.")
		return render(c, http.StatusUnprocessableEntity, views.AdminSettingsScreen(h.page(c, i18n.M("Settings"), "settings"), page))
	}
	if err := h.Authenticator.SetSecondFactorPolicy(c.Request().Context(), a, p); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/settings?done=settings-saved#"+views.IDSecondFactorSettings)
}
