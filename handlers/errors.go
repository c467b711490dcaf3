package handlers

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/views"
)

// codeStatus is the HTTP status of each workflow error code: the one table.
var codeStatus = map[review.Code]int{
	review.CodeInvalid:     http.StatusUnprocessableEntity,
	review.CodeConfirm:     http.StatusUnprocessableEntity,
	review.CodeNotFound:    http.StatusNotFound,
	review.CodeConflict:    http.StatusConflict,
	review.CodeForbidden:   http.StatusForbidden,
	review.CodeUnavailable: http.StatusServiceUnavailable,
	review.CodeBadGateway:  http.StatusBadGateway,
	review.CodeRateLimited: http.StatusTooManyRequests,
}

// statusOf maps an error to an HTTP status and a message fit for the user: Echo's
// errors as they are, the workflow's by their code (store errors are translated by
// review first); anything else is a 500.
func statusOf(err error) (int, string) {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg, _ := he.Message.(string)
		if msg == http.StatusText(he.Code) {
			msg = "" // Echo's default text: say something more helpful below
		}
		if he.Code == http.StatusRequestEntityTooLarge {
			msg = i18n.M("What you sent is too large.")
		}
		return he.Code, msg
	}
	if e := review.ErrorOf(review.Translate(err)); e != nil {
		if status, ok := codeStatus[e.Code]; ok {
			return status, e.Message
		}
	}
	if bodyTimedOut(err) {
		return http.StatusRequestTimeout, i18n.M("What you sent arrived too slowly; send it again.")
	}
	return http.StatusInternalServerError, ""
}

// bodyTimedOut reports whether err is a request body that did not arrive in time: the
// server's ReadTimeout (a read deadline) struck while a handler read it (issue 9: a
// slow body is a 408, not a 500).
func bodyTimedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// bodyCutShort reports whether the request carried a body and was cancelled by the
// server before its answer: a body read that hit the server's ReadTimeout cancels the
// request's context (or the client left, to whom no answer matters).
func bodyCutShort(c echo.Context) bool {
	r := c.Request()
	return r.Context().Err() != nil && (r.ContentLength > 0 || len(r.TransferEncoding) > 0)
}

// retryAfter is the Retry-After, in whole seconds, of a rate-limited workflow error, or "".
func retryAfter(err error) string {
	if e := review.ErrorOf(err); e != nil && e.RetryAfter > 0 {
		return strconv.Itoa(int((e.RetryAfter + time.Second - 1) / time.Second))
	}
	return ""
}

var errorTitles = map[int]string{
	http.StatusBadRequest:            i18n.M("That request was not understood"),
	http.StatusUnauthorized:          i18n.M("Please sign in"),
	http.StatusForbidden:             i18n.M("Not allowed"),
	http.StatusNotFound:              i18n.M("Nothing here"),
	http.StatusMethodNotAllowed:      i18n.M("That action is not available here"),
	http.StatusConflict:              i18n.M("Conflict"),
	http.StatusUnprocessableEntity:   i18n.M("Check what you entered"),
	http.StatusRequestEntityTooLarge: i18n.M("Too large"),
	http.StatusRequestTimeout:        i18n.M("Too slow"),
	http.StatusTooManyRequests:       i18n.M("Too many requests"),
	http.StatusInternalServerError:   i18n.M("Something went wrong on our side"),
	http.StatusServiceUnavailable:    i18n.M("Temporarily unavailable"),
}

var errorMessages = map[int]string{
	http.StatusBadRequest:            i18n.M("Check what you entered and try again."),
	http.StatusUnauthorized:          i18n.M("Your session has ended. Sign in again."),
	http.StatusForbidden:             i18n.M("Your account may not do this."),
	http.StatusNotFound:              i18n.M("The page or item you asked for does not exist, or you may not see it."),
	http.StatusMethodNotAllowed:      i18n.M("Use the buttons and links of the portal."),
	http.StatusInternalServerError:   i18n.M("The error was logged. Try again in a moment."),
	http.StatusServiceUnavailable:    i18n.M("Try again in a moment."),
	http.StatusRequestEntityTooLarge: i18n.M("What you sent is too large."),
}

// handleError is Echo's error handler: a full page, or a fragment for htmx swaps; never
// a stack trace.
func (h *Handler) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg := statusOf(err)
	if bodyCutShort(c) {
		// Issue 9: the body did not arrive in time (the server's ReadTimeout) and the
		// server cancelled the request; whatever failed after that, the answer is 408,
		// rendered outside the cancelled context.
		status, msg = http.StatusRequestTimeout, i18n.M("What you sent arrived too slowly; send it again.")
		c.SetRequest(c.Request().WithContext(context.WithoutCancel(c.Request().Context())))
		h.log.Warn("request body too slow", "request_id", c.Response().Header().Get(echo.HeaderXRequestID), "route", c.Path(), "error", err)
	}
	if ra := retryAfter(err); ra != "" && c.Response().Header().Get("Retry-After") == "" {
		c.Response().Header().Set("Retry-After", ra)
	}
	if status == http.StatusServiceUnavailable && c.Response().Header().Get("Retry-After") == "" {
		c.Response().Header().Set("Retry-After", "5")
	}
	if status >= 500 {
		h.log.Error("request failed", "request_id", c.Response().Header().Get(echo.HeaderXRequestID), "route", c.Path(), "error", err)
		msg = ""
	}
	if msg == "" {
		msg = errorMessages[status]
	}
	title := errorTitles[status]
	if title == "" {
		title = http.StatusText(status)
	}
	e := views.ErrorPage{Status: status, Title: title, Message: msg}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	var rerr error
	if isHTMX(c) {
		// htmx does not swap error responses by default; app.js shows them in a banner.
		rerr = render(c, status, views.ErrorFragment(e))
	} else {
		rerr = render(c, status, views.ErrorScreen(h.page(c, title, ""), e))
	}
	if rerr != nil {
		h.log.Error("render error page", "error", rerr)
		_ = c.String(http.StatusInternalServerError, "500 Internal Server Error")
	}
}
