package handlers

// Request metrics: every request is timed and handed, with its route pattern, method
// and status, to Deps.ObserveRequest; webhook intake is also counted by result through
// Deps.ObserveWebhook. The handlers know nothing of Prometheus: main wires these hooks
// to the metrics package, and /metrics itself is served on its own address, never here.

import (
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// RouteUnmatched is the route label of a request no route matched: the label never
// carries the raw URL, so the number of series stays bounded.
const RouteUnmatched = "unmatched"

// webhookRoute is the route of gateway notifications (routes.go).
const webhookRoute = "/webhooks/mobbscan/:token"

// Results of webhook intake, for Deps.ObserveWebhook.
const (
	WebhookAccepted       = "accepted"         // recorded durably (202)
	WebhookBadToken       = "bad_token"        // wrong path token (404)
	WebhookBadSignature   = "bad_signature"    // missing or wrong signature (401)
	WebhookBadContentType = "bad_content_type" // not application/json (415)
	WebhookTooLarge       = "too_large"        // body over the cap (413)
	WebhookBadBody        = "bad_body"         // unreadable, or not a notification (400)
	WebhookError          = "error"            // could not be recorded (5xx)
	WebhookOtherStatus    = "other"            // any other answer
)

// WebhookResults lists every result of webhook intake.
var WebhookResults = []string{WebhookAccepted, WebhookBadToken, WebhookBadSignature,
	WebhookBadContentType, WebhookTooLarge, WebhookBadBody, WebhookError, WebhookOtherStatus}

// webhookResult names the result of an intake by the status receiveWebhook answered.
func webhookResult(status int) string {
	switch {
	case status == http.StatusAccepted:
		return WebhookAccepted
	case status == http.StatusNotFound:
		return WebhookBadToken
	case status == http.StatusUnauthorized:
		return WebhookBadSignature
	case status == http.StatusUnsupportedMediaType:
		return WebhookBadContentType
	case status == http.StatusRequestEntityTooLarge:
		return WebhookTooLarge
	case status == http.StatusBadRequest:
		return WebhookBadBody
	case status >= 500:
		return WebhookError
	}
	return WebhookOtherStatus
}

// observeRequests is the outermost middleware when a request hook is set: it times the
// whole request (the error handler's answer and a recovered panic included) and hands
// the route pattern, method and final status to the hooks.
func (h *Handler) observeRequests(next echo.HandlerFunc) echo.HandlerFunc {
	if h.ObserveRequest == nil && h.ObserveWebhook == nil {
		return next
	}
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err) // answer now, so that the status is the one sent
		}
		route := routeLabel(c)
		status := c.Response().Status
		if h.ObserveRequest != nil {
			h.ObserveRequest(route, c.Request().Method, status, time.Since(start))
		}
		if h.ObserveWebhook != nil && route == webhookRoute {
			h.ObserveWebhook(webhookResult(status))
		}
		return nil
	}
}

// routeLabel is the request's route pattern, or RouteUnmatched when no route matched
// (the catch-all not-found routes included).
func routeLabel(c echo.Context) string {
	route := c.Path()
	if route == "" || notFoundRoutes(c.Echo())[route] {
		return RouteUnmatched
	}
	return route
}

// notFoundPaths caches, per application, the paths of its not-found routes.
var notFoundPaths sync.Map // *echo.Echo → map[string]bool

func notFoundRoutes(e *echo.Echo) map[string]bool {
	if m, ok := notFoundPaths.Load(e); ok {
		return m.(map[string]bool)
	}
	m := map[string]bool{}
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound {
			m[r.Path] = true
		}
	}
	notFoundPaths.Store(e, m)
	return m
}
