package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

func (h *Handler) showAccount(c echo.Context) error {
	u := auth.UserFrom(c)
	rows, err := h.sessionRows(c, u.ID, "/account/sessions/")
	if err != nil {
		return err
	}
	next, err := h.DB.NextAfterDecision(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	a := views.AccountPage{Name: u.DisplayName, Email: u.Email, Role: u.Role, Since: u.CreatedAt, Sessions: rows, NextAfterDecision: next}
	return render(c, http.StatusOK, views.AccountScreen(h.page(c, "My account", "account"), a))
}

// sessionRows lists a user's sessions with end URLs under base ("…/sessions/").
func (h *Handler) sessionRows(c echo.Context, userID int64, base string) ([]views.SessionRow, error) {
	list, err := h.DB.ListUserSessions(c.Request().Context(), userID)
	if err != nil {
		return nil, err
	}
	cur := auth.SessionFrom(c)
	rows := make([]views.SessionRow, 0, len(list))
	for _, s := range list {
		rows = append(rows, views.SessionRow{
			ID: s.ID, Current: cur != nil && cur.ID == s.ID, CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt,
			ExpiresAt: s.ExpiresAt, IP: s.IP, UserAgent: s.UserAgent,
			EndURL: base + strconv.FormatInt(s.ID, 10) + "/end",
		})
	}
	return rows, nil
}

// paramID parses a numeric path parameter; anything else is 404.
func paramID(c echo.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.ErrNotFound
	}
	return id, nil
}

func (h *Handler) endMySession(c echo.Context) error {
	u := auth.UserFrom(c)
	sid, err := paramID(c, "sid")
	if err != nil {
		return err
	}
	if cur := auth.SessionFrom(c); cur != nil && cur.ID == sid {
		return echo.NewHTTPError(http.StatusBadRequest, "Use “Sign out” to end the session you are using.")
	}
	if err := h.DB.EndSession(c.Request().Context(), auth.ActorFrom(c), u.ID, sid, "ended by its owner"); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if wantsFragment(c) {
		rows, err := h.sessionRows(c, u.ID, "/account/sessions/")
		if err != nil {
			return err
		}
		return render(c, http.StatusOK, views.SessionTable(views.IDSessionList, rows))
	}
	return c.Redirect(http.StatusSeeOther, "/account?done=sessions")
}
