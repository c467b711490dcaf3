package handlers

import (
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// sameOriginOnly refuses evidence requests a browser made for another site (P1).
func sameOriginOnly(c echo.Context) error {
	switch c.Request().Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return nil
	}
	return echo.NewHTTPError(http.StatusForbidden, "Evidence is shown only inside the portal.")
}

// streamEvidence proxies one evidence item from the gateway: streamed, never stored,
// no-store, allow-listed content type, Range passed through for video; every access
// recorded (L4, D7).
func (h *Handler) streamEvidence(c echo.Context) error {
	if err := sameOriginOnly(c); err != nil {
		return err
	}
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	kind, ok := store.EvidenceKindOf(c.Param("kind"))
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, "There is no such kind of evidence.")
	}
	rangeHeader := ""
	if kind == store.EvidenceVideo {
		rangeHeader = c.Request().Header.Get("Range")
	}
	return h.proxyEvidence(c, p, kind, rangeHeader, "")
}

// streamZIP proxies all the evidence of a process as one ZIP download.
func (h *Handler) streamZIP(c echo.Context) error {
	if err := sameOriginOnly(c); err != nil {
		return err
	}
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	return h.proxyEvidence(c, p, store.EvidenceZIP, "", p.ID+".zip")
}

func (h *Handler) proxyEvidence(c echo.Context, p *store.Process, kind store.EvidenceKind, rangeHeader, filename string) error {
	ev, mediaType, err := h.Review.Evidence(c.Request().Context(), auth.ActorFrom(c), p.ID, kind, rangeHeader)
	if err != nil {
		if review.ErrorCode(err) == review.CodeUnavailable {
			h.log.Warn("evidence unavailable", "process_id", p.ID, "kind", kind, "error", err)
		}
		return err
	}
	defer ev.Body.Close()
	if ev.StatusCode == http.StatusRequestedRangeNotSatisfiable {
		return rangeNotSatisfiable(c, ev.ContentRange)
	}
	hd := c.Response().Header()
	hd.Set("Content-Type", mediaType)
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	if ev.ContentLength >= 0 {
		hd.Set("Content-Length", strconv.FormatInt(ev.ContentLength, 10))
	}
	status := http.StatusOK
	if kind == store.EvidenceVideo {
		hd.Set("Accept-Ranges", "bytes")
		if ev.ContentRange != "" {
			hd.Set("Content-Range", ev.ContentRange)
			if ev.StatusCode == http.StatusPartialContent {
				status = http.StatusPartialContent
			}
		}
	}
	if filename != "" {
		hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
	} else {
		hd.Set("Content-Disposition", "inline")
	}
	c.Response().WriteHeader(status)
	if c.Request().Method == http.MethodHead {
		return nil
	}
	buf := make([]byte, 64<<10)
	if _, err := io.CopyBuffer(c.Response(), ev.Body, buf); err != nil {
		// The headers are gone; end the response so the browser sees a broken stream.
		h.log.Warn("evidence stream interrupted", "process_id", p.ID, "kind", kind, "error", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// rangeNotSatisfiable passes on the gateway's 416 for a Range beyond the end of the
// video (issue 9: not a 500): no body, and Content-Range "bytes */N" with the length N
// the gateway gave, so that a player can ask again within it.
func rangeNotSatisfiable(c echo.Context, gatewayRange string) error {
	hd := c.Response().Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Accept-Ranges", "bytes")
	if n, ok := completeLength(gatewayRange); ok {
		hd.Set("Content-Range", "bytes */"+strconv.FormatInt(n, 10))
	}
	return c.NoContent(http.StatusRequestedRangeNotSatisfiable)
}

// completeLength reads the complete length N of a Content-Range "bytes */N" (or
// "bytes a-b/N"); false when it is absent or unknown ("*").
func completeLength(contentRange string) (int64, bool) {
	unit, rest, ok := strings.Cut(strings.TrimSpace(contentRange), " ")
	if !ok || !strings.EqualFold(unit, "bytes") {
		return 0, false
	}
	_, size, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(size), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
