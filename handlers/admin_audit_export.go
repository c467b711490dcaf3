package handlers

import (
	"io"
	"mime"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

// auditExportForm is the export form with in's values and the known actions and formats.
func auditExportForm(in review.AuditExportInput) views.AuditExportForm {
	f := views.AuditExportForm{From: in.From, To: in.To, Actor: in.Actor, MaxActor: review.LimitExportActor.Max,
		Actions: auditOptions(auditActions(), in.Action)}
	for i, af := range store.AuditFormats {
		sel := string(af) == in.Format || (in.Format == "" && i == 0)
		f.Formats = append(f.Formats, views.Option{Value: string(af), Label: af.Label(), Selected: sel})
	}
	return f
}

// exportAudit downloads the audit log filtered by period, account and action as CSV or
// JSON Lines, streamed; the export is recorded before the first byte. Without a query it
// shows the form; a refused export shows the form again with its messages (422).
func (h *Handler) exportAudit(c echo.Context) error {
	if len(c.QueryParams()) == 0 {
		return render(c, http.StatusOK, views.AuditExportScreen(h.page(c, i18n.M("Export the audit log"), "audit"), auditExportForm(review.AuditExportInput{})))
	}
	q := c.QueryParams()
	in := review.AuditExportInput{From: q.Get("from"), To: q.Get("to"), Actor: q.Get("actor"), Action: q.Get("action"), Format: q.Get("format")}
	_, err := h.Review.ExportAudit(c.Request().Context(), auth.ActorFrom(c), in, func(x review.AuditExport) (io.Writer, error) {
		hd := c.Response().Header()
		hd.Set(echo.HeaderContentType, x.Format.ContentType())
		hd.Set(echo.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": x.FileName()}))
		hd.Set("Cache-Control", "no-store")
		hd.Set("X-Content-Type-Options", "nosniff")
		c.Response().WriteHeader(http.StatusOK)
		return c.Response(), nil
	})
	switch e := review.ErrorOf(err); {
	case err == nil:
		return nil
	case c.Response().Committed:
		// The headers are gone; end the response so the browser sees a broken download
		// rather than a file that looks complete.
		h.log.Warn("audit export interrupted", "error", err)
		panic(http.ErrAbortHandler)
	case e != nil && e.Code == review.CodeInvalid:
		f := auditExportForm(in)
		f.Errors = views.FormErrors{"": e.Message}
		for k, v := range e.Fields {
			f.Errors[k] = v
		}
		return render(c, http.StatusUnprocessableEntity, views.AuditExportScreen(h.page(c, i18n.M("Export the audit log"), "audit"), f))
	}
	return err
}
