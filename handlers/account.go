package handlers

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

func (h *Handler) showAccount(c echo.Context) error {
	a, err := h.accountPage(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.AccountScreen(h.page(c, i18n.M("My account"), "account"), a))
}

// savePreferences stores the account's preferences form (issue 12): the next case after
// deciding, and language, theme and time zone. A value outside the choices (only a
// crafted form sends one) is refused beside its field with everything kept; nothing is
// saved then.
func (h *Handler) savePreferences(c echo.Context) error {
	u := auth.UserFrom(c)
	ctx, actor := c.Request().Context(), auth.ActorFrom(c)
	next := c.FormValue("next_after_decision") == "on"
	prefs := store.Preferences{Language: c.FormValue("language"), Theme: c.FormValue("theme"), TimeZone: c.FormValue("time_zone")}
	errs := views.FormErrors{}
	if _, ok := i18n.Parse(prefs.Language); prefs.Language != "" && !ok {
		errs["language"] = i18n.M("Choose a language from the list.")
	}
	switch prefs.Theme {
	case "", store.ThemeAuto, store.ThemeLight, store.ThemeDark:
	default:
		errs["theme"] = i18n.M("Choose one of the themes.")
	}
	if _, ok := loadZone(prefs.TimeZone); prefs.TimeZone != "" && !ok {
		errs["time_zone"] = i18n.M("That is not a time zone the portal knows. Choose one from the list.")
	}
	if errs.Has() {
		a, err := h.accountPage(c)
		if err != nil {
			return err
		}
		a.NextAfterDecision = next
		a.Prefs = h.prefsForm(c, prefs)
		a.Prefs.Errors = errs
		p := h.page(c, i18n.M("My account"), "account")
		p.URL = "/account"
		return render(c, http.StatusUnprocessableEntity, views.AccountScreen(p, a))
	}
	if prefs.Theme == "" {
		prefs.Theme = store.ThemeAuto
	}
	was, err := h.DB.NextAfterDecision(ctx, u.ID)
	if err != nil {
		return err
	}
	if was != next {
		if err := h.DB.SetNextAfterDecision(ctx, actor, u.ID, next); err != nil {
			return err
		}
	}
	if prefs != prefsFrom(c) {
		if err := h.DB.SetPreferences(ctx, actor, u.ID, prefs); err != nil {
			return err
		}
	}
	return c.Redirect(http.StatusSeeOther, "/account?done=prefs")
}

// setLanguage is the sign-in page's language menu (issue 12): a cookie for the browser,
// then back to the page (a same-site path only). Signed-in users keep the choice in their
// preferences too, when they have saved one. Cross-origin POSTs are refused by the
// CrossOriginProtection middleware like every other POST.
func (h *Handler) setLanguage(c echo.Context) error {
	next := c.FormValue("next")
	if next == "" {
		next = postedFrom(c)
	}
	next = safeNextPage(next)
	l, ok := i18n.Parse(c.FormValue("l"))
	if !ok {
		return c.Redirect(http.StatusSeeOther, next)
	}
	c.SetCookie(&http.Cookie{
		Name: cookieLang, Value: string(l), Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: c.Scheme() == "https", SameSite: http.SameSiteLaxMode,
	})
	if u := auth.UserFrom(c); u != nil {
		if p := prefsFrom(c); p.Language != "" && p.Language != string(l) {
			p.Language = string(l)
			if err := h.DB.SetPreferences(c.Request().Context(), auth.ActorFrom(c), u.ID, p); err != nil {
				return err
			}
		}
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// safeNextPage is safeNext that also allows the signed-out pages under /login (the
// language menu is on them; safeNext refuses them as a place to go after signing in).
func safeNextPage(next string) string {
	if strings.HasPrefix(next, "/login") {
		if safeNext("/x"+next) != "/" {
			return next
		}
		return "/login"
	}
	return safeNext(next)
}

// commonZones are the time zones the preference offers (the saved one is always added).
var commonZones = []string{
	"UTC", "Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Denver", "America/Chicago",
	"America/Mexico_City", "America/Bogota", "America/Lima", "America/New_York", "America/Caracas", "America/Halifax",
	"America/Santiago", "America/Argentina/Buenos_Aires", "America/Sao_Paulo", "Atlantic/Azores", "Atlantic/Canary",
	"Europe/Lisbon", "Europe/London", "Africa/Casablanca", "Africa/Lagos", "Europe/Madrid", "Europe/Paris",
	"Europe/Amsterdam", "Europe/Berlin", "Europe/Rome", "Europe/Warsaw", "Africa/Johannesburg", "Europe/Athens",
	"Europe/Bucharest", "Europe/Kyiv", "Africa/Nairobi", "Europe/Istanbul", "Europe/Moscow", "Asia/Dubai",
	"Asia/Karachi", "Asia/Kolkata", "Asia/Bangkok", "Asia/Singapore", "Asia/Shanghai", "Asia/Manila",
	"Asia/Tokyo", "Asia/Seoul", "Australia/Sydney", "Pacific/Auckland",
}

var (
	zonesOnce   sync.Once
	sortedZones []string
)

// zoneChoices are commonZones that this machine knows, west to east (by today's offset).
func zoneChoices() []string {
	zonesOnce.Do(func() {
		now := time.Now()
		offset := map[string]int{}
		for _, name := range commonZones {
			if z, ok := loadZone(name); ok {
				_, off := now.In(z).Zone()
				offset[name] = off
				sortedZones = append(sortedZones, name)
			}
		}
		slices.SortStableFunc(sortedZones, func(a, b string) int { return offset[a] - offset[b] })
	})
	return sortedZones
}

// prefsForm is the preferences form showing p.
func (h *Handler) prefsForm(c echo.Context, p store.Preferences) views.PrefsForm {
	f := views.PrefsForm{Language: p.Language, Theme: p.Theme, TimeZone: p.TimeZone, BrowserLang: browserLang(c).Name(), Zones: zoneChoices()}
	if f.Theme == "" {
		f.Theme = store.ThemeAuto
	}
	if z, ok := browserZone(c); ok {
		f.BrowserZone = z.String()
	}
	return f
}

// accountPage is "my account" for the signed-in user.
func (h *Handler) accountPage(c echo.Context) (views.AccountPage, error) {
	u := auth.UserFrom(c)
	rows, err := h.sessionRows(c, u.ID, "/account/sessions/")
	if err != nil {
		return views.AccountPage{}, err
	}
	next, err := h.DB.NextAfterDecision(c.Request().Context(), u.ID)
	if err != nil {
		return views.AccountPage{}, err
	}
	a := views.AccountPage{Name: u.DisplayName, Email: u.Email, Role: u.Role, Since: u.CreatedAt, Sessions: rows, NextAfterDecision: next}
	a.Prefs = h.prefsForm(c, prefsFrom(c))
	a.SecondFactor, err = h.secondFactorCard(c, u) // second factor (issue 9, item 1; handlers/totp.go)
	return a, err
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
			ExpiresAt: s.ExpiresAt, IP: s.IP, UserAgent: s.UserAgent, Method: s.Method.Label(),
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
		h.deny(c, "session", c.Param("sid"), "not a session id")
		return err
	}
	if cur := auth.SessionFrom(c); cur != nil && cur.ID == sid {
		return echo.NewHTTPError(http.StatusBadRequest, i18n.M("Use “Sign out” to end the session you are using."))
	}
	err = h.DB.EndSession(c.Request().Context(), auth.ActorFrom(c), u.ID, sid, "ended by its owner")
	if errors.Is(err, store.ErrNotFound) {
		// Another user's session or none at all: nothing ended, and the probe is audited
		// (issue 9, through the L3 bound of Deny).
		h.deny(c, "session", c.Param("sid"), "not a session of this user")
		return echo.NewHTTPError(http.StatusNotFound, i18n.M("You have no such session; nothing was ended."))
	}
	if err != nil {
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
