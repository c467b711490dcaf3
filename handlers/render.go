package handlers

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

// render writes a component with status, rendering into a buffer first so that a
// render error can still become a 500 page.
func render(c echo.Context, status int, cmp templ.Component) error {
	var buf bytes.Buffer
	if err := cmp.Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// htmx helpers: one per header, in one place.

// isHTMX reports an htmx request.
func isHTMX(c echo.Context) bool { return auth.IsHTMX(c) }

// wantsFragment reports an htmx request that swaps part of the page (not boosted, not a
// history restore), which gets a fragment instead of the full page.
func wantsFragment(c echo.Context) bool {
	r := c.Request()
	return isHTMX(c) && r.Header.Get("HX-Boosted") != "true" && r.Header.Get("HX-History-Restore-Request") != "true"
}

// hxTarget returns the id htmx will swap into.
func hxTarget(c echo.Context) string { return c.Request().Header.Get("HX-Target") }

// hxRedirect tells htmx to load another page; plain requests get a 303.
func hxRedirect(c echo.Context, url string) error {
	if isHTMX(c) {
		c.Response().Header().Set("HX-Redirect", url)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, url)
}

// page builds the common page model for the current user: the navigation's user, the
// flash a redirect asked for, the theme of their preferences, and — for a POST that
// re-renders a page (a form with errors) — the address the page lives at.
func page(c echo.Context, title, section string) views.Page {
	p := views.Page{Title: title, Section: section}
	if u := auth.UserFrom(c); u != nil && !u.MustChangePassword {
		p.User = navUser(u)
	}
	if f := c.QueryParam("done"); f != "" {
		p.Flash = flashMessages[f]
	}
	if t := prefsFrom(c).Theme; t == store.ThemeLight || t == store.ThemeDark {
		p.Theme = t
	}
	if c.Request().Method == http.MethodPost {
		p.URL = postedFrom(c)
	}
	return p
}

// postedFrom is the address of the page a POST's form was on, for a POST answered with
// a page rather than a redirect (issue 12): the browser would otherwise keep the POST's
// URL in its address bar, and reloading or bookmarking it gives 405 or 404. The form's
// page is the Referer (the portal sends Referrer-Policy: same-origin, so a same-origin
// form always has one); only a same-origin path is taken, without its "done" flash.
// Handlers that know the page's address set Page.URL themselves; "" leaves the address
// bar alone.
func postedFrom(c echo.Context) string {
	ref, err := url.Parse(c.Request().Referer())
	if err != nil || ref.Host != c.Request().Host {
		return ""
	}
	q := ref.Query()
	q.Del("done")
	ref.RawQuery = q.Encode()
	u := ref.Path
	if ref.RawQuery != "" {
		u += "?" + ref.RawQuery
	}
	if safeNextPage(u) != u {
		return ""
	}
	return u
}

// flashMessages are the confirmations a redirect can ask for with ?done=key; only known
// keys show, so a link cannot put arbitrary text on the page. The layout translates them.
var flashMessages = map[string]string{
	"password":  i18n.M("Your password has been changed."),
	"created":   i18n.M("Account created."),
	"role":      i18n.M("Role changed. The account's sessions were ended."),
	"disabled":  i18n.M("Account disabled. Its sessions were ended."),
	"enabled":   i18n.M("Account enabled."),
	"sessions":  i18n.M("Sessions ended."),
	"signedout": i18n.M("You have signed out."),
	"decided":   i18n.M("Decision recorded. It is being delivered to Mobbscan."),
	"prefs":     i18n.M("Your preferences are saved."),

	"reason-created":    i18n.M("Reason added at the end of the catalogue."),
	"reason-updated":    i18n.M("Reason saved."),
	"reason-moved":      i18n.M("Order changed."),
	"reason-retired":    i18n.M("Reason retired. Agents no longer see it; past decisions keep it."),
	"reason-restored":   i18n.M("Reason restored."),
	"delivery-retried":  i18n.M("Delivery queued: the portal sends it again now."),
	"delivery-resolved": i18n.M("Marked resolved. The portal will not send this decision again."),
	"settings-saved":    i18n.M("Settings saved."),
	"decided-second":    i18n.M("Decision recorded. It waits for a second review; nothing is sent to Mobbscan until another agent confirms it."),
}

func navUser(u *store.User) *views.NavUser {
	return &views.NavUser{ID: u.ID, Name: u.DisplayName, Email: u.Email, Role: u.Role, IsAdmin: u.IsAdmin()}
}

// fragments renders several components one after the other (a swap target plus
// out-of-band swaps).
func fragments(cs ...templ.Component) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		for _, c := range cs {
			if err := c.Render(ctx, w); err != nil {
				return err
			}
		}
		return nil
	})
}

// page builds the common page model with the queue counters for the navigation.
func (h *Handler) page(c echo.Context, title, section string) views.Page {
	p := page(c, title, section)
	if p.User != nil && h.Review != nil {
		if counts, err := h.Review.Counts(c.Request().Context(), p.User.ID); err == nil {
			vc := viewCounts(counts)
			p.Counts = &vc
		}
	}
	return p
}
