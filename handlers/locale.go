package handlers

import (
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/i18n"
)

// Cookies the browser keeps for people not signed in, and before a preference is saved.
const (
	cookieLang = "portal_lang" // a language chosen on the sign-in page
	cookieZone = "portal_tz"   // the browser's time zone, set by static/shell.js
)

// locale puts the request's language and time zone in its context (issue 12): the
// signed-in user's preference, else the cookie, else Accept-Language; the zone likewise,
// else UTC. Views read it through i18n.From.
func (h *Handler) locale(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		loc := i18n.Locale{Lang: i18n.Match(r.Header.Get("Accept-Language")), Zone: time.UTC}
		if ck, err := r.Cookie(cookieLang); err == nil {
			if l, ok := i18n.Parse(ck.Value); ok {
				loc.Lang = l
			}
		}
		if ck, err := r.Cookie(cookieZone); err == nil {
			if z, ok := loadZone(ck.Value); ok {
				loc.Zone = z
			}
		}
		c.SetRequest(r.WithContext(i18n.With(r.Context(), loc)))
		return next(c)
	}
}

// loadZone returns the IANA time zone a cookie or a preference names.
func loadZone(name string) (*time.Location, bool) {
	if name == "" || len(name) > 64 {
		return nil, false
	}
	z, err := time.LoadLocation(name)
	if err != nil {
		return nil, false
	}
	return z, true
}
