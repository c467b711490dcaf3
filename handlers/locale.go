package handlers

import (
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/store"
)

// Cookies the browser keeps for people not signed in, and before a preference is saved.
const (
	cookieLang = "portal_lang" // a language chosen on the sign-in page
	cookieZone = "portal_tz"   // the browser's time zone, set by static/shell.js
)

// ctxPrefs is the echo context key of the signed-in user's store.Preferences, set by
// locale for page() (the theme) and the account page.
const ctxPrefs = "shell.prefs"

// locale puts the request's language and time zone in its context (issue 12): the
// signed-in user's saved preference, else the cookie, else Accept-Language; the zone
// likewise (the cookie is the browser's own zone), else UTC. Views read it through
// i18n.From. It runs after Sessions.Load, so the user is known.
func (h *Handler) locale(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Path() == "/static/*" {
			return next(c) // files do not speak; no preference to read
		}
		r := c.Request()
		loc := i18n.Locale{Lang: browserLang(c), Zone: time.UTC}
		if z, ok := browserZone(c); ok {
			loc.Zone = z
		}
		if u := auth.UserFrom(c); u != nil && h.DB != nil {
			// A failed read keeps the browser's choices: the page still shows.
			if p, err := h.DB.Preferences(r.Context(), u.ID); err == nil {
				c.Set(ctxPrefs, p)
				if l, ok := i18n.Parse(p.Language); ok {
					loc.Lang = l
				}
				if z, ok := loadZone(p.TimeZone); ok {
					loc.Zone = z
				}
			}
		}
		c.SetRequest(r.WithContext(i18n.With(r.Context(), loc)))
		return next(c)
	}
}

// prefsFrom returns the signed-in user's preferences as locale read them; the defaults
// for anyone else.
func prefsFrom(c echo.Context) store.Preferences {
	if p, ok := c.Get(ctxPrefs).(store.Preferences); ok {
		return p
	}
	return store.Preferences{Theme: store.ThemeAuto}
}

// browserLang is the language the browser asks for: the sign-in page's choice (cookie),
// else Accept-Language.
func browserLang(c echo.Context) i18n.Lang {
	r := c.Request()
	if ck, err := r.Cookie(cookieLang); err == nil {
		if l, ok := i18n.Parse(ck.Value); ok {
			return l
		}
	}
	return i18n.Match(r.Header.Get("Accept-Language"))
}

// browserZone is the zone the browser reported in its cookie.
func browserZone(c echo.Context) (*time.Location, bool) {
	ck, err := c.Request().Cookie(cookieZone)
	if err != nil {
		return nil, false
	}
	return loadZone(ck.Value)
}

// loadZone returns the IANA time zone a cookie or a preference names. Zones are read
// once and kept: time.LoadLocation parses the zone database on every call, and only
// real zone names (a few hundred) are kept.
func loadZone(name string) (*time.Location, bool) {
	if name == "" || len(name) > 64 || name == "Local" {
		return nil, false
	}
	if z, ok := zones.Load(name); ok {
		return z.(*time.Location), true
	}
	z, err := time.LoadLocation(name)
	if err != nil {
		return nil, false
	}
	zones.Store(name, z)
	return z, true
}

var zones sync.Map // zone name → *time.Location
