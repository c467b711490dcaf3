package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

// reasonLimits are the reason form's limits, from the rules.
var reasonLimits = views.ReasonLimits{Code: review.MaxReasonCode, Label: review.LimitReasonLabel.Max, Text: review.LimitReasonText.Max}

// reasonRows returns the catalogue, active reasons first in their order, with the
// position and shortcut key agents see on the process page.
func (h *Handler) reasonRows(c echo.Context) ([]views.AdminReasonRow, error) {
	list, err := h.DB.ListReasons(c.Request().Context(), false)
	if err != nil {
		return nil, err
	}
	active := 0
	for _, r := range list {
		if r.Active {
			active++
		}
	}
	rows := make([]views.AdminReasonRow, 0, len(list))
	pos := 0
	for _, r := range list {
		row := views.AdminReasonRow{ID: r.ID, Code: r.Code, Label: r.Label, CustomerText: r.CustomerText, Active: r.Active, InUse: r.InUse}
		if r.Active {
			pos++
			row.Position, row.First, row.Last = pos, pos == 1, pos == active
			if pos <= 9 {
				row.Key = strconv.Itoa(pos)
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func (h *Handler) renderReasons(c echo.Context, status int, form views.AdminReasonForm, edit *views.AdminReasonForm) error {
	rows, err := h.reasonRows(c)
	if err != nil {
		return err
	}
	form.Limits = reasonLimits
	if edit != nil {
		edit.Limits = reasonLimits
	}
	p := views.AdminReasonsPage{Reasons: rows, Form: form, Edit: edit}
	return render(c, status, views.AdminReasonsScreen(h.page(c, i18n.M("Rejection reasons"), "reasons"), p))
}

// showReasons is the catalogue; ?edit=<id> opens the edit form of one reason.
func (h *Handler) showReasons(c echo.Context) error {
	if wantsFragment(c) && hxTarget(c) == views.IDAdminReasonList {
		rows, err := h.reasonRows(c)
		if err != nil {
			return err
		}
		return render(c, http.StatusOK, views.AdminReasonList(rows))
	}
	var edit *views.AdminReasonForm
	if v := c.QueryParam("edit"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return echo.ErrNotFound
		}
		r, err := h.DB.GetReason(c.Request().Context(), id)
		if err != nil {
			return err
		}
		edit = &views.AdminReasonForm{ID: r.ID, Code: r.Code, Label: r.Label, CustomerText: r.CustomerText}
	}
	return h.renderReasons(c, http.StatusOK, views.AdminReasonForm{}, edit)
}

// reasonFormError puts a refused reason's messages into its form, or returns the
// error when it is not about the form.
func reasonFormError(f *views.AdminReasonForm, err error) error {
	e := review.ErrorOf(err)
	if e == nil || len(e.Fields) == 0 {
		return err
	}
	f.Errors = views.FormErrors(e.Fields)
	return nil
}

// createReason adds a reason at the end of the catalogue.
func (h *Handler) createReason(c echo.Context) error {
	f := views.AdminReasonForm{Code: c.FormValue("code"), Label: c.FormValue("label"), CustomerText: c.FormValue("customer_text")}
	_, err := h.Review.CreateReason(c.Request().Context(), auth.ActorFrom(c), review.ReasonInput{Code: f.Code, Label: f.Label, CustomerText: f.CustomerText})
	if err := reasonFormError(&f, err); err != nil {
		return err
	}
	if f.Errors.Has() {
		return h.renderReasons(c, http.StatusUnprocessableEntity, f, nil)
	}
	return c.Redirect(http.StatusSeeOther, "/admin/reasons?done=reason-created")
}

func (h *Handler) reasonParam(c echo.Context) (*store.Reason, error) {
	id, err := paramID(c, "rid")
	if err != nil {
		return nil, err
	}
	return h.DB.GetReason(c.Request().Context(), id)
}

// updateReason changes a reason's label and customer wording; its code stays.
func (h *Handler) updateReason(c echo.Context) error {
	r, err := h.reasonParam(c)
	if err != nil {
		return err
	}
	f := views.AdminReasonForm{ID: r.ID, Code: r.Code, Label: c.FormValue("label"), CustomerText: c.FormValue("customer_text")}
	err = h.Review.UpdateReason(c.Request().Context(), auth.ActorFrom(c), r.ID, review.ReasonInput{Label: f.Label, CustomerText: f.CustomerText})
	if err := reasonFormError(&f, err); err != nil {
		return err
	}
	if f.Errors.Has() {
		return h.renderReasons(c, http.StatusUnprocessableEntity, views.AdminReasonForm{}, &f)
	}
	return c.Redirect(http.StatusSeeOther, "/admin/reasons?done=reason-updated")
}

// moveReason moves an active reason one place up or down (dir=up|down).
func (h *Handler) moveReason(c echo.Context) error {
	r, err := h.reasonParam(c)
	if err != nil {
		return err
	}
	var delta int
	switch c.FormValue("dir") {
	case "up":
		delta = -1
	case "down":
		delta = 1
	default:
		return echo.NewHTTPError(http.StatusBadRequest, i18n.M("Move a reason up or down."))
	}
	if err := h.Review.MoveReason(c.Request().Context(), auth.ActorFrom(c), r.ID, delta); err != nil {
		return err
	}
	return h.reasonsChanged(c, "reason-moved")
}

func (h *Handler) retireReason(c echo.Context) error  { return h.setReasonActive(c, false) }
func (h *Handler) restoreReason(c echo.Context) error { return h.setReasonActive(c, true) }

// setReasonActive retires or restores a reason.
func (h *Handler) setReasonActive(c echo.Context, active bool) error {
	r, err := h.reasonParam(c)
	if err != nil {
		return err
	}
	if err := h.Review.SetReasonActive(c.Request().Context(), auth.ActorFrom(c), r.ID, active); err != nil {
		return err
	}
	done := "reason-restored"
	if !active {
		done = "reason-retired"
	}
	return h.reasonsChanged(c, done)
}

// reasonsChanged answers a change to the list: the list for htmx, else a redirect.
func (h *Handler) reasonsChanged(c echo.Context, done string) error {
	if wantsFragment(c) {
		rows, err := h.reasonRows(c)
		if err != nil {
			return err
		}
		return render(c, http.StatusOK, views.AdminReasonList(rows))
	}
	return c.Redirect(http.StatusSeeOther, "/admin/reasons?done="+done)
}
