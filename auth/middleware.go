package auth

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/store"
)

// Context keys set by Load.
const (
	ctxUser    = "auth.user"
	ctxSession = "auth.session"
	ctxEnded   = "auth.ended"
)

// PollHeader marks background requests (htmx polling): they do not count as activity
// for the idle timeout (S4).
const PollHeader = "X-Portal-Poll"

// LoginPath is where anonymous users are sent.
const LoginPath = "/login"

// UserFrom returns the signed-in user, or nil.
func UserFrom(c echo.Context) *store.User {
	u, _ := c.Get(ctxUser).(*store.User)
	return u
}

// SessionFrom returns the current session row, or nil.
func SessionFrom(c echo.Context) *store.Session {
	s, _ := c.Get(ctxSession).(*store.Session)
	return s
}

// ActorFrom returns who is acting on this request, for the audit trail.
func ActorFrom(c echo.Context) store.Actor {
	a := store.Actor{IP: c.RealIP(), RequestID: c.Response().Header().Get(echo.HeaderXRequestID)}
	if u := UserFrom(c); u != nil {
		a.UserID, a.Email, a.Role = u.ID, u.Email, u.Role
	}
	return a
}

// Load puts the session's user on the context when there is a valid session, and
// records activity unless the request is background polling.
func (s *SessionStore) Load(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, err := s.Get(c.Request(), s.cfg.CookieName())
		if err != nil {
			return err
		}
		if ended, ok := sess.Values[valEnded].(string); ok {
			c.Set(ctxEnded, ended)
		}
		if sess.IsNew {
			return next(c)
		}
		user, _ := sess.Values[valUser].(*store.User)
		row, _ := sess.Values[valSession].(*store.Session)
		c.Set(ctxUser, user)
		c.Set(ctxSession, row)
		if c.Request().Header.Get(PollHeader) == "" {
			if err := s.Touch(c.Request().Context(), row); err != nil {
				return err
			}
		}
		return next(c)
	}
}

// IsHTMX reports whether the request was made by htmx.
func IsHTMX(c echo.Context) bool { return c.Request().Header.Get("HX-Request") == "true" }

// passwordChangePaths are reachable while a password change is pending.
var passwordChangePaths = map[string]bool{"/account/password": true, "/logout": true}

// RequireUser answers anonymous requests with a redirect to the sign-in page (401 with
// HX-Redirect for htmx, S5), and holds a user who must change their password on that page.
func RequireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := UserFrom(c)
		if u == nil {
			target := LoginPath
			if c.Request().Method == http.MethodGet && !IsHTMX(c) {
				target += "?next=" + url.QueryEscape(c.Request().URL.RequestURI())
			}
			if _, ended := c.Get(ctxEnded).(string); ended {
				if strings.Contains(target, "?") {
					target += "&expired=1"
				} else {
					target += "?expired=1"
				}
			}
			if IsHTMX(c) {
				c.Response().Header().Set("HX-Redirect", target)
				return c.NoContent(http.StatusUnauthorized)
			}
			if c.Request().Method != http.MethodGet && c.Request().Method != http.MethodHead {
				c.Response().Header().Set("Location", target)
				return echo.NewHTTPError(http.StatusUnauthorized, i18n.M("Your session has ended. Sign in again."))
			}
			return c.Redirect(http.StatusSeeOther, target)
		}
		if u.MustChangePassword && !passwordChangePaths[c.Path()] {
			if IsHTMX(c) {
				c.Response().Header().Set("HX-Redirect", "/account/password")
				return c.NoContent(http.StatusForbidden)
			}
			return c.Redirect(http.StatusSeeOther, "/account/password")
		}
		return next(c)
	}
}
