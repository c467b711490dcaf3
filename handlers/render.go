package handlers

import (
	"bytes"
	"context"
	"io"
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
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

// page builds the common page model for the current user.
func page(c echo.Context, title, section string) views.Page {
	p := views.Page{Title: title, Section: section}
	if u := auth.UserFrom(c); u != nil && !u.MustChangePassword {
		p.User = navUser(u)
	}
	if f := c.QueryParam("done"); f != "" {
		p.Flash = flashMessages[f]
	}
	return p
}

// flashMessages are the confirmations a redirect can ask for with ?done=key; only known
// keys show, so a link cannot put arbitrary text on the page.
var flashMessages = map[string]string{
	"password":  "Your password has been changed.",
	"created":   "Account created.",
	"role":      "Role changed. The account's sessions were ended.",
	"disabled":  "Account disabled. Its sessions were ended.",
	"enabled":   "Account enabled.",
	"sessions":  "Sessions ended.",
	"signedout": "You have signed out.",
	"decided":   "Decision recorded. It is being delivered to Mobbscan.",
	"settings":  "Your settings are saved.",

	"reason-created":    "Reason added at the end of the catalogue.",
	"reason-updated":    "Reason saved.",
	"reason-moved":      "Order changed.",
	"reason-retired":    "Reason retired. Agents no longer see it; past decisions keep it.",
	"reason-restored":   "Reason restored.",
	"delivery-retried":  "Delivery queued: the portal sends it again now.",
	"delivery-resolved": "Marked resolved. The portal will not send this decision again.",
	"settings-saved":    "Settings saved.",
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
