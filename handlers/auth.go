package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

const (
	passwordMin = 15
	passwordMax = 256
)

// safeNext keeps only same-site relative paths for the post-login redirect. Control
// characters are refused: browsers drop tabs and newlines, so "/\t/evil" means "//evil".
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f }) || len(next) > 512 || strings.HasPrefix(next, "/login") {
		return "/"
	}
	return next
}

func (h *Handler) showLogin(c echo.Context) error {
	if u := auth.UserFrom(c); u != nil {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	f := views.LoginForm{Next: safeNext(c.QueryParam("next"))}
	switch {
	case c.QueryParam("expired") != "":
		f.Notice = i18n.M("Your session has ended. Sign in again to continue.")
	case c.QueryParam("done") == "signedout":
		f.Notice = i18n.M("You have signed out.")
	case c.QueryParam("done") == "password":
		f.Notice = i18n.M("Your password is set. Sign in with it.")
	}
	f.SSO = h.ssoLogin(c, f.Next) // single sign-on (issue 9, item 2)
	return render(c, http.StatusOK, views.LoginScreen(views.Page{Title: i18n.M("Sign in")}, f))
}

func (h *Handler) login(c echo.Context) error {
	email, password := c.FormValue("email"), c.FormValue("password")
	f := views.LoginForm{Email: email, Next: safeNext(c.FormValue("next"))}
	f.SSO = h.ssoLogin(c, f.Next) // single sign-on (issue 9, item 2)
	p := views.Page{Title: i18n.M("Sign in")}
	if strings.TrimSpace(email) == "" || password == "" {
		f.Error = i18n.M("Enter your email and password.")
		return render(c, http.StatusBadRequest, views.LoginScreen(p, f))
	}
	if len(password) > 1024 {
		f.Error = i18n.M("Wrong email or password.")
		return render(c, http.StatusUnauthorized, views.LoginScreen(p, f))
	}
	user, err := h.Authenticator.Authenticate(c.Request().Context(), auth.ActorFrom(c), email, password)
	var te *auth.ThrottledError
	switch {
	case errors.As(err, &te):
		f.Error = fmt.Sprintf(i18n.M("Too many sign-in attempts. Wait %s and try again."), views.FormatDuration(te.RetryAfter))
		c.Response().Header().Set("Retry-After", retryAfterSeconds(te))
		return render(c, http.StatusTooManyRequests, views.LoginScreen(p, f))
	case errors.Is(err, auth.ErrBadCredentials):
		f.Error = i18n.M("Wrong email or password.")
		return render(c, http.StatusUnauthorized, views.LoginScreen(p, f))
	case err != nil:
		return err
	}
	if refused, err := h.refusePasswordSignIn(c, user, f); refused || err != nil { // single sign-on only (issue 9, item 2)
		return err
	}
	if done, err := h.beginSecondStep(c, user, f.Next); done || err != nil { // second factor (issue 9, item 1; handlers/totp.go)
		return err
	}
	a := auth.ActorFrom(c)
	a.UserID, a.Email = user.ID, user.Email
	if err := h.Sessions.StartSession(c.Response(), c.Request(), a, user, store.SignInPassword); err != nil {
		return err
	}
	if user.MustChangePassword {
		return c.Redirect(http.StatusSeeOther, "/account/password")
	}
	return c.Redirect(http.StatusSeeOther, f.Next)
}

func retryAfterSeconds(te *auth.ThrottledError) string {
	s := int(te.RetryAfter.Seconds() + 0.999)
	if s < 1 {
		s = 1
	}
	return strconv.Itoa(s)
}

func (h *Handler) logout(c echo.Context) error {
	if err := h.Sessions.EndSession(c.Response(), c.Request(), auth.ActorFrom(c)); err != nil {
		return err
	}
	return hxRedirect(c, "/login?done=signedout")
}

func (h *Handler) passwordForm(c echo.Context) views.PasswordForm {
	u := auth.UserFrom(c)
	f := views.PasswordForm{
		Action: "/account/password", Heading: i18n.M("Change your password"), NeedCurrent: true, Email: u.Email,
		SubmitLabel: i18n.M("Change password"), CancelURL: "/account", MinLength: passwordMin, MaxLength: passwordMax,
	}
	if u.MustChangePassword {
		f.Heading = i18n.M("Choose your own password")
		f.Intro = i18n.M("You signed in with a one-time password. Choose your own before you continue.")
		f.CancelURL = ""
		f.ForcedChange = true
	}
	return f
}

func (h *Handler) showChangePassword(c echo.Context) error {
	return render(c, http.StatusOK, views.PasswordScreen(h.page(c, i18n.M("Change password"), "account"), h.passwordForm(c)))
}

// changePassword needs the current password (A2); it ends every session of the user and
// opens a new one for this browser (S2, S3).
func (h *Handler) changePassword(c echo.Context) error {
	u := auth.UserFrom(c)
	f := h.passwordForm(c)
	current, next, confirm := c.FormValue("current"), c.FormValue("new"), c.FormValue("confirm")
	f.Errors = views.FormErrors{}
	ctx := c.Request().Context()
	var te *auth.ThrottledError
	switch err := h.Authenticator.CheckPassword(ctx, auth.ActorFrom(c), u, current); {
	case errors.As(err, &te):
		f.Errors["current"] = fmt.Sprintf(i18n.M("Too many wrong attempts. Wait %s and try again."), views.FormatDuration(te.RetryAfter))
		c.Response().Header().Set("Retry-After", retryAfterSeconds(te))
		return render(c, http.StatusTooManyRequests, views.PasswordScreen(h.page(c, i18n.M("Change password"), "account"), f))
	case errors.Is(err, auth.ErrBadCredentials):
		f.Errors["current"] = i18n.M("That is not your current password.")
	case err != nil:
		return err
	}
	if msg := passwordProblem(next, confirm, u.Email); msg != nil {
		for k, v := range msg {
			f.Errors[k] = v
		}
	}
	if next != "" && next == current {
		f.Errors["new"] = i18n.M("Choose a password different from the current one.")
	}
	if f.Errors.Has() {
		return render(c, http.StatusUnprocessableEntity, views.PasswordScreen(h.page(c, i18n.M("Change password"), "account"), f))
	}
	hash, err := h.Hasher.Hash(next)
	if err != nil {
		return err
	}
	a := auth.ActorFrom(c)
	if err := h.DB.SetPassword(ctx, a, u.ID, hash, false); err != nil {
		return err
	}
	u.MustChangePassword, u.PasswordHash = false, hash
	method := store.SignInPassword // a new session, signed in as the one it replaces
	if cur := auth.SessionFrom(c); cur != nil && cur.Method != "" {
		method = cur.Method
	}
	if err := h.Sessions.StartSession(c.Response(), c.Request(), a, u, method); err != nil {
		return err
	}
	if f.ForcedChange {
		// A newcomer's first password (issue 12): on to the work, not to "My account".
		return c.Redirect(http.StatusSeeOther, "/queue?done=password")
	}
	return c.Redirect(http.StatusSeeOther, "/account?done=password")
}

// passwordProblem checks a new password and its confirmation; nil when fine.
func passwordProblem(next, confirm, email string) views.FormErrors {
	errs := views.FormErrors{}
	local, _, _ := strings.Cut(email, "@")
	if err := auth.ValidatePassword(next, email, local); err != nil {
		errs["new"] = policyMessage(err)
	} else if next != confirm {
		errs["confirm"] = i18n.M("The two passwords differ.")
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func policyMessage(err error) string {
	var pe *auth.PolicyError
	if errors.As(err, &pe) {
		return pe.Message
	}
	return i18n.M("Choose another password.")
}

func (h *Handler) linkForm(token string) views.PasswordForm {
	return views.PasswordForm{
		Action: "/password/" + token, Heading: i18n.M("Set your password"), SubmitLabel: i18n.M("Set password"),
		Intro: i18n.M("Choose the password you will sign in with."), MinLength: passwordMin, MaxLength: passwordMax,
	}
}

// openLink looks up the account of the link in the URL. A used, expired or unknown
// link is answered here with its page (404), and the user is nil.
func (h *Handler) openLink(c echo.Context) (views.PasswordForm, *store.User, error) {
	token := c.Param("token")
	f := h.linkForm(token)
	u, err := h.DB.SetPasswordTokenUser(c.Request().Context(), store.HashToken(token))
	if errors.Is(err, store.ErrNotFound) || len(token) > 128 {
		f.LinkExpired = true
		return f, nil, render(c, http.StatusNotFound, views.PasswordScreen(views.Page{Title: i18n.M("Set password")}, f))
	}
	if err != nil {
		return f, nil, err
	}
	f.Email = u.Email
	return f, u, nil
}

// showSetPasswordLink opens a one-time set-password link (A5).
func (h *Handler) showSetPasswordLink(c echo.Context) error {
	f, u, err := h.openLink(c)
	if u == nil || err != nil {
		return err
	}
	c.Response().Header().Set("Referrer-Policy", "no-referrer")
	return render(c, http.StatusOK, views.PasswordScreen(views.Page{Title: i18n.M("Set password")}, f))
}

func (h *Handler) setPasswordFromLink(c echo.Context) error {
	f, u, err := h.openLink(c)
	if u == nil || err != nil {
		return err
	}
	token, ctx := c.Param("token"), c.Request().Context()
	if errs := passwordProblem(c.FormValue("new"), c.FormValue("confirm"), u.Email); errs != nil {
		f.Errors = errs
		return render(c, http.StatusUnprocessableEntity, views.PasswordScreen(views.Page{Title: i18n.M("Set password")}, f))
	}
	hash, err := h.Hasher.Hash(c.FormValue("new"))
	if err != nil {
		return err
	}
	a := auth.ActorFrom(c)
	a.UserID, a.Email = u.ID, u.Email
	if _, err := h.DB.UseSetPasswordToken(ctx, a, store.HashToken(token), hash); errors.Is(err, store.ErrNotFound) {
		f.LinkExpired = true
		return render(c, http.StatusNotFound, views.PasswordScreen(views.Page{Title: i18n.M("Set password")}, f))
	} else if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/login?done=password")
}
