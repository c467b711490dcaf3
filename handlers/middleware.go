package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/review"
)

// contentSecurityPolicy forbids inline script (C2); media and images come from the portal.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; " +
	"connect-src 'self'; form-action 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// requestID gives every request a fresh id (never taken from the client) for logs and
// the audit trail.
func (h *Handler) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		c.Response().Header().Set(echo.HeaderXRequestID, hex.EncodeToString(b))
		return next(c)
	}
}

// securityHeaders sets C2's headers on every answer and no-store on signed-in pages.
func (h *Handler) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		hd := c.Response().Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if h.cfg.Production {
			hd.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		if !strings.HasPrefix(c.Request().URL.Path, "/static/") {
			hd.Set("Cache-Control", "no-store")
		}
		return next(c)
	}
}

// recoverPanic turns a panic into a generic 500 page and a log line (O1).
func (h *Handler) recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				h.log.Error("panic", "request_id", c.Response().Header().Get(echo.HeaderXRequestID), "path", c.Path(), "panic", fmt.Sprint(r))
				err = echo.NewHTTPError(http.StatusInternalServerError)
			}
		}()
		return next(c)
	}
}

// logRequests logs one line per request with ids only: the route pattern, never the
// query string (P2).
func (h *Handler) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		} else if strings.HasPrefix(c.Path(), "/static/") || c.Path() == "/healthz" || strings.HasPrefix(c.Path(), "/webhooks/") || c.Request().Header.Get(auth.PollHeader) != "" {
			level = slog.LevelDebug
		}
		attrs := []any{"method", c.Request().Method, "route", c.Path(), "status", status,
			"ms", time.Since(start).Milliseconds(), "request_id", c.Response().Header().Get(echo.HeaderXRequestID)}
		if u := auth.UserFrom(c); u != nil {
			attrs = append(attrs, "user_id", u.ID)
		}
		h.log.Log(c.Request().Context(), level, "http", attrs...)
		return nil
	}
}

// denyCrossOrigin answers a refused cross-origin change (C1).
func (h *Handler) denyCrossOrigin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprintln(w, "403 Forbidden: cross-origin requests may not change anything here.")
}

// requireAdmin refuses non-admins with 403 (Z1); the denial is audited within the L3
// bound (review.Deny).
func (h *Handler) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		a := auth.ActorFrom(c)
		if !review.IsAdmin(a) {
			if err := h.Review.Deny(c.Request().Context(), a, "route", c.Request().Method+" "+c.Path(), "admin role required"); err != nil {
				h.log.Warn("audit a denial", "error", err)
			}
			return echo.NewHTTPError(http.StatusForbidden, "This page is for administrators.")
		}
		return next(c)
	}
}
