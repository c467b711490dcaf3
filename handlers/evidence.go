package handlers

import (
	"io"
	"mime"
	"net/http"
	"strconv"

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
