package handlers

import (
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/review"
)

// maxWebhookBody caps a notification; the real ones are tiny.
const maxWebhookBody = 16 << 10

// receiveWebhook takes a gateway notification: checks the secret path token and the
// optional signature, records it durably and answers at once; a worker re-reads the
// process from the API (W1–W3).
func (h *Handler) receiveWebhook(c echo.Context) error {
	if err := h.Review.CheckWebhookTokenFrom(c.RealIP(), c.Param("token")); err != nil {
		// Logged sampled by review (issue 9); an IP guessing tokens is slowed down.
		if review.ErrorCode(err) == review.CodeRateLimited {
			c.Response().Header().Set("Retry-After", retryAfter(err))
			return c.JSON(http.StatusTooManyRequests, map[string]string{"error": "too many requests"})
		}
		return c.JSON(http.StatusNotFound, map[string]string{"error": "not found"})
	}
	if mt, _, err := mime.ParseMediaType(c.Request().Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return c.JSON(http.StatusUnsupportedMediaType, map[string]string{"error": "send application/json"})
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxWebhookBody+1))
	if err != nil {
		if bodyTimedOut(err) || bodyCutShort(c) { // issue 9: too slow is 408
			return c.JSON(http.StatusRequestTimeout, map[string]string{"error": "body too slow"})
		}
		return c.JSON(http.StatusBadRequest, map[string]string{"error": "unreadable body"})
	}
	if len(body) > maxWebhookBody {
		return c.JSON(http.StatusRequestEntityTooLarge, map[string]string{"error": "body too large"})
	}
	if err := h.Review.CheckWebhookSignature(c.Request().Header.Get("X-Mobbscan-Signature"), body); err != nil {
		h.log.Warn("webhook refused: signature", "ip", c.RealIP(), "error", err)
		return c.JSON(http.StatusUnauthorized, map[string]string{"error": "bad signature"})
	}
	if err := h.Inbox.Receive(c.Request().Context(), body); err != nil {
		if errors.Is(err, review.ErrWebhookBody) {
			return c.JSON(http.StatusBadRequest, map[string]string{"error": "not a notification"})
		}
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]string{"status": "accepted"})
}
