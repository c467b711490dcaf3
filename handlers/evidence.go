package handlers

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// evidenceTypes allow-lists the content types each kind of evidence may have (P1).
var evidenceTypes = map[string]map[string]bool{
	"image": {"image/jpeg": true, "image/png": true, "image/webp": true},
	"video": {"video/webm": true, "video/mp4": true},
	"zip":   {"application/zip": true, "application/x-zip-compressed": true},
}

func evidenceClass(kind string) string {
	switch kind {
	case "document_front", "document_back", "face_document", "face_now":
		return "image"
	case "video_liveness":
		return "video"
	}
	return ""
}

// sameOriginOnly refuses evidence requests a browser made for another site (P1).
func sameOriginOnly(c echo.Context) error {
	switch c.Request().Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return nil
	}
	return echo.NewHTTPError(http.StatusForbidden, "Evidence is shown only inside the portal.")
}

// streamEvidence proxies one evidence item from the gateway: streamed, never stored,
// no-store, allow-listed content type, Range passed through for video.
func (h *Handler) streamEvidence(c echo.Context) error {
	if err := sameOriginOnly(c); err != nil {
		return err
	}
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	kind := c.Param("kind")
	class := evidenceClass(kind)
	if class == "" {
		return echo.NewHTTPError(http.StatusNotFound, "There is no such kind of evidence.")
	}
	rangeHeader := ""
	if class == "video" {
		rangeHeader = c.Request().Header.Get("Range")
	}
	return h.proxyEvidence(c, p, kind, class, func() (*evidenceStream, error) {
		ev, err := h.Review.Evidence(c.Request().Context(), p.ID, kind, rangeHeader)
		if err != nil {
			return nil, err
		}
		return &evidenceStream{ev.Body, ev.ContentType, ev.ContentLength, ev.ContentRange, ev.StatusCode, ""}, nil
	})
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
	return h.proxyEvidence(c, p, "zip", "zip", func() (*evidenceStream, error) {
		ev, err := h.Review.ZIP(c.Request().Context(), p.ID)
		if err != nil {
			return nil, err
		}
		return &evidenceStream{ev.Body, ev.ContentType, ev.ContentLength, "", http.StatusOK, p.ID + ".zip"}, nil
	})
}

type evidenceStream struct {
	body          io.ReadCloser
	contentType   string
	contentLength int64
	contentRange  string
	status        int
	filename      string
}

func (h *Handler) proxyEvidence(c echo.Context, p *store.Process, kind, class string, open func() (*evidenceStream, error)) error {
	ctx := c.Request().Context()
	a := auth.ActorFrom(c)
	ev, err := open()
	switch {
	case errors.Is(err, review.ErrUnknownProcess):
		return echo.NewHTTPError(http.StatusNotFound, "Mobbscan has no such evidence for this process.")
	case errors.Is(err, review.ErrGatewayDown):
		h.log.Warn("evidence unavailable", "process_id", p.ID, "kind", kind, "error", err)
		c.Response().Header().Set("Retry-After", "5")
		return echo.NewHTTPError(http.StatusServiceUnavailable, "Mobbscan is not answering; try again in a moment.")
	case err != nil:
		return err
	}
	defer ev.body.Close()
	mediaType, _, perr := mime.ParseMediaType(ev.contentType)
	if perr != nil || !evidenceTypes[class][mediaType] {
		h.log.Warn("evidence refused: unexpected content type", "process_id", p.ID, "kind", kind, "content_type", ev.contentType)
		return echo.NewHTTPError(http.StatusBadGateway, "Mobbscan sent evidence of an unexpected type; it was not shown.")
	}
	// One audit row per claim, user and kind (L1).
	claimedAt := time.Time{}
	if p.ClaimedBy == a.UserID && p.ClaimActive(h.DB.Now()) {
		claimedAt = p.ClaimedAt
	}
	if err := h.DB.RecordEvidenceView(ctx, a, p.ID, claimedAt, kind); err != nil {
		return err
	}
	hd := c.Response().Header()
	hd.Set("Content-Type", mediaType)
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	if ev.contentLength >= 0 {
		hd.Set("Content-Length", strconv.FormatInt(ev.contentLength, 10))
	}
	if class == "video" {
		hd.Set("Accept-Ranges", "bytes")
		if ev.contentRange != "" {
			hd.Set("Content-Range", ev.contentRange)
		}
	}
	if ev.filename != "" {
		hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": ev.filename}))
	} else {
		hd.Set("Content-Disposition", "inline")
	}
	status := http.StatusOK
	if ev.status == http.StatusPartialContent && ev.contentRange != "" {
		status = http.StatusPartialContent
	}
	c.Response().WriteHeader(status)
	if c.Request().Method == http.MethodHead {
		return nil
	}
	buf := make([]byte, 64<<10)
	if _, err := io.CopyBuffer(c.Response(), ev.body, buf); err != nil {
		// The headers are gone; end the response so the browser sees a broken stream.
		h.log.Warn("evidence stream interrupted", "process_id", p.ID, "kind", kind, "error", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}
