package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

func userRow(u *store.User) views.UserRow {
	return views.UserRow{ID: u.ID, Email: u.Email, Name: u.DisplayName, Role: u.Role, Active: u.Active}
}

func (h *Handler) listUsers(c echo.Context, q string) ([]views.UserRow, error) {
	users, err := h.DB.ListUsers(c.Request().Context(), q)
	if err != nil {
		return nil, err
	}
	rows := make([]views.UserRow, 0, len(users))
	for _, u := range users {
		rows = append(rows, userRow(u))
	}
	return rows, nil
}

func (h *Handler) showUsers(c echo.Context) error {
	q := c.QueryParam("q")
	if utf8.RuneCountInString(q) > 200 {
		return echo.NewHTTPError(http.StatusBadRequest, i18n.M("The search is too long."))
	}
	rows, err := h.listUsers(c, q)
	if err != nil {
		return err
	}
	if wantsFragment(c) && hxTarget(c) == views.IDUserList {
		return render(c, http.StatusOK, views.UserList(rows, q))
	}
	return h.renderUsers(c, http.StatusOK, q, rows, views.NewUserForm{Role: store.RoleAgent})
}

func (h *Handler) renderUsers(c echo.Context, status int, q string, rows []views.UserRow, f views.NewUserForm) error {
	f.MaxEmail, f.MaxName = review.LimitUserEmail.Max, review.LimitUserName.Max
	return render(c, status, views.UsersScreen(h.page(c, i18n.M("Reviewers"), "users"), views.UsersPage{Query: q, Users: rows, Form: f}))
}

// validateNewUser checks the "add a reviewer" form by the account rules of review (the
// C5 character rule included: issue 9); the typed text stays in the form.
func validateNewUser(f *views.NewUserForm) {
	f.Errors = views.FormErrors{}
	var errs map[string]string
	f.Email, f.Name, errs = review.CheckNewUser(f.Email, f.Name, f.Role)
	for field, msg := range errs {
		f.Errors[field] = msg
	}
}

// createUser adds an account with no password and shows a one-time set-password link (A5).
func (h *Handler) createUser(c echo.Context) error {
	f := views.NewUserForm{Email: c.FormValue("email"), Name: c.FormValue("name"), Role: c.FormValue("role")}
	validateNewUser(&f)
	ctx := c.Request().Context()
	u := &store.User{Email: f.Email, DisplayName: f.Name, Role: f.Role, Active: true}
	if !f.Errors.Has() {
		err := h.DB.CreateUser(ctx, auth.ActorFrom(c), u)
		switch {
		case errors.Is(err, store.ErrConflict):
			f.Errors["email"] = i18n.M("An account with this email already exists.")
		case err != nil:
			return err
		}
	}
	if f.Errors.Has() {
		rows, err := h.listUsers(c, "")
		if err != nil {
			return err
		}
		return h.renderUsers(c, http.StatusUnprocessableEntity, "", rows, f)
	}
	link, err := h.newPasswordLink(c, u.ID)
	if err != nil {
		return err
	}
	return h.renderUser(c, http.StatusCreated, u, link, i18n.M("Account created."), nil)
}

// newPasswordLink issues a one-time set-password link: 256 random bits, stored hashed.
func (h *Handler) newPasswordLink(c echo.Context, userID int64) (string, error) {
	token, err := auth.NewToken()
	if err != nil {
		return "", err
	}
	if err := h.DB.CreateSetPasswordToken(c.Request().Context(), auth.ActorFrom(c), userID, store.HashToken(token), h.cfg.LinkTTL); err != nil {
		return "", err
	}
	return h.baseURL(c) + "/password/" + token, nil
}

// baseURL is the configured public URL, or the request's own origin in development.
func (h *Handler) baseURL(c echo.Context) string {
	if h.cfg.BaseURL != "" {
		return strings.TrimRight(h.cfg.BaseURL, "/")
	}
	return c.Scheme() + "://" + c.Request().Host
}

func (h *Handler) userParam(c echo.Context) (*store.User, error) {
	id, err := paramID(c, "id")
	if err != nil {
		return nil, err
	}
	return h.DB.UserByID(c.Request().Context(), id)
}

func (h *Handler) showUser(c echo.Context) error {
	u, err := h.userParam(c)
	if err != nil {
		return err
	}
	return h.renderUser(c, http.StatusOK, u, "", "", nil)
}

func (h *Handler) renderUser(c echo.Context, status int, u *store.User, link, flash string, errs views.FormErrors) error {
	ctx := c.Request().Context()
	sessions, err := h.sessionRows(c, u.ID, "/admin/users/"+strconv.FormatInt(u.ID, 10)+"/sessions/")
	if err != nil {
		return err
	}
	events, err := h.DB.ListAudit(ctx, store.AuditFilter{ObjectType: "user", ObjectID: strconv.FormatInt(u.ID, 10), Limit: 20})
	if err != nil {
		return err
	}
	me := auth.UserFrom(c)
	p := h.page(c, u.DisplayName, "users")
	if flash != "" {
		p.Flash = flash
	}
	up := views.UserPage{
		User: userRow(u), Self: me.ID == u.ID, Created: u.CreatedAt, Updated: u.UpdatedAt, Link: link,
		LinkTTL: h.cfg.LinkTTL, Sessions: sessions, Errors: errs, Audit: auditRows(events),
	}
	if up.SecondFactor, err = h.userSecondFactor(c, u); err != nil { // second factor (issue 9, item 1; handlers/totp.go)
		return err
	}
	return render(c, status, views.UserScreen(p, up))
}

func auditRows(events []store.AuditEvent) []views.AuditRow {
	rows := make([]views.AuditRow, 0, len(events))
	for _, e := range events {
		rows = append(rows, views.AuditRow{At: e.At, Actor: e.Actor, IP: e.IP, Action: e.Action, ActionLabel: store.Action(e.Action).Label(),
			Object: e.ObjectType + " " + e.ObjectID, Outcome: e.Outcome, Detail: e.Detail})
	}
	return rows
}

// notSelf refuses an admin changing their own role or status: another admin does that,
// so that nobody locks the last admin out by accident.
func notSelf(c echo.Context, u *store.User) error {
	if me := auth.UserFrom(c); me.ID == u.ID {
		return echo.NewHTTPError(http.StatusConflict, i18n.M("You cannot change your own role or status; ask another admin."))
	}
	return nil
}

func (h *Handler) changeUserRole(c echo.Context) error {
	u, err := h.userParam(c)
	if err != nil {
		return err
	}
	if err := notSelf(c, u); err != nil {
		return err
	}
	role := c.FormValue("role")
	if !store.ValidRole(role) {
		return h.renderUser(c, http.StatusUnprocessableEntity, u, "", "", views.FormErrors{"": i18n.M("Choose agent or admin.")})
	}
	if role != u.Role {
		if err := h.DB.SetUserRole(c.Request().Context(), auth.ActorFrom(c), u.ID, role); err != nil {
			return err
		}
	}
	return c.Redirect(http.StatusSeeOther, "/admin/users/"+strconv.FormatInt(u.ID, 10)+"?done=role")
}

func (h *Handler) disableUser(c echo.Context) error { return h.setUserActive(c, false) }
func (h *Handler) enableUser(c echo.Context) error  { return h.setUserActive(c, true) }

func (h *Handler) setUserActive(c echo.Context, active bool) error {
	u, err := h.userParam(c)
	if err != nil {
		return err
	}
	if err := notSelf(c, u); err != nil {
		return err
	}
	if u.Active != active {
		if err := h.DB.SetUserActive(c.Request().Context(), auth.ActorFrom(c), u.ID, active); err != nil {
			return err
		}
	}
	done := "enabled"
	if !active {
		done = "disabled"
	}
	return c.Redirect(http.StatusSeeOther, "/admin/users/"+strconv.FormatInt(u.ID, 10)+"?done="+done)
}

func (h *Handler) issuePasswordLink(c echo.Context) error {
	u, err := h.userParam(c)
	if err != nil {
		return err
	}
	if err := notSelf(c, u); err != nil {
		return err
	}
	link, err := h.newPasswordLink(c, u.ID)
	if err != nil {
		return err
	}
	return h.renderUser(c, http.StatusOK, u, link, i18n.M("New set-password link issued."), nil)
}

func (h *Handler) endUserSessions(c echo.Context) error {
	u, err := h.userParam(c)
	if err != nil {
		return err
	}
	if err := h.DB.EndUserSessions(c.Request().Context(), auth.ActorFrom(c), u.ID, "ended by admin"); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/users/"+strconv.FormatInt(u.ID, 10)+"?done=sessions")
}

func (h *Handler) endUserSession(c echo.Context) error {
	u, err := h.userParam(c)
	if err != nil {
		return err
	}
	sid, err := paramID(c, "sid")
	if err != nil {
		return err
	}
	if err := h.DB.EndSession(c.Request().Context(), auth.ActorFrom(c), u.ID, sid, "ended by admin"); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if wantsFragment(c) {
		rows, err := h.sessionRows(c, u.ID, "/admin/users/"+strconv.FormatInt(u.ID, 10)+"/sessions/")
		if err != nil {
			return err
		}
		return render(c, http.StatusOK, views.SessionTable(views.IDSessionList, rows))
	}
	return c.Redirect(http.StatusSeeOther, "/admin/users/"+strconv.FormatInt(u.ID, 10)+"?done=sessions")
}
