package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

// reasonCodeRE is what a reason code may be (the database checks it too).
var reasonCodeRE = regexp.MustCompile(`^[a-z0-9_-]{2,40}$`)

// Messages of the reason forms.
var (
	msgReasonCode      = fmt.Sprintf("Use 2 to %d characters: lower-case letters a–z, digits, - and _.", views.MaxReasonCode)
	msgReasonCodeTaken = "A reason with this code already exists (retired ones keep their code). Choose another."
	msgReasonLabel     = fmt.Sprintf("Enter a label of 1 to %d characters on one line.", views.MaxReasonLabel)
	msgReasonText      = fmt.Sprintf("Enter the wording for the customer: 1 to %d characters.", views.MaxReasonText)
	msgReasonOneLine   = "Write the wording as one paragraph, without line breaks."
)

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
	p := views.AdminReasonsPage{Reasons: rows, Form: form, Edit: edit}
	return render(c, status, views.AdminReasonsScreen(h.page(c, "Rejection reasons", "reasons"), p))
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

// validateReason checks a reason form; the code only when creating (it never changes).
func validateReason(f *views.AdminReasonForm, withCode bool) {
	f.Errors = views.FormErrors{}
	f.Code = strings.TrimSpace(f.Code)
	f.Label = strings.TrimSpace(f.Label)
	f.CustomerText = strings.TrimSpace(f.CustomerText)
	if withCode && !reasonCodeRE.MatchString(f.Code) {
		f.Errors["code"] = msgReasonCode
	}
	if n := utf8.RuneCountInString(f.Label); n == 0 || n > views.MaxReasonLabel || !singleLine(f.Label) {
		f.Errors["label"] = msgReasonLabel
	}
	switch n := utf8.RuneCountInString(f.CustomerText); {
	case n == 0 || n > views.MaxReasonText:
		f.Errors["customer_text"] = msgReasonText
	case !singleLine(f.CustomerText):
		f.Errors["customer_text"] = msgReasonOneLine
	}
}

// singleLine reports valid UTF-8 on one line: no line breaks, tabs or other control
// characters.
func singleLine(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// createReason adds a reason at the end of the catalogue.
func (h *Handler) createReason(c echo.Context) error {
	f := views.AdminReasonForm{Code: c.FormValue("code"), Label: c.FormValue("label"), CustomerText: c.FormValue("customer_text")}
	validateReason(&f, true)
	if !f.Errors.Has() {
		r := &store.Reason{Code: f.Code, Label: f.Label, CustomerText: f.CustomerText}
		err := h.DB.CreateReason(c.Request().Context(), auth.ActorFrom(c), r)
		switch {
		case errors.Is(err, store.ErrConflict):
			f.Errors["code"] = msgReasonCodeTaken
		case err != nil:
			return err
		}
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
	validateReason(&f, false)
	if f.Errors.Has() {
		return h.renderReasons(c, http.StatusUnprocessableEntity, views.AdminReasonForm{}, &f)
	}
	if f.Label != r.Label || f.CustomerText != r.CustomerText {
		if err := h.DB.UpdateReason(c.Request().Context(), auth.ActorFrom(c), r.ID, f.Label, f.CustomerText); err != nil {
			return err
		}
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
		return echo.NewHTTPError(http.StatusBadRequest, "Move a reason up or down.")
	}
	if !r.Active {
		return echo.NewHTTPError(http.StatusConflict, "A retired reason has no place in the order. Restore it first.")
	}
	if err := h.DB.MoveReason(c.Request().Context(), auth.ActorFrom(c), r.ID, delta); err != nil {
		return err
	}
	return h.reasonsChanged(c, "reason-moved")
}

func (h *Handler) retireReason(c echo.Context) error  { return h.setReasonActive(c, false) }
func (h *Handler) restoreReason(c echo.Context) error { return h.setReasonActive(c, true) }

// setReasonActive retires or restores a reason. Retiring keeps it on record with the
// decisions that use it; the last active reason stays, so that agents can still reject.
func (h *Handler) setReasonActive(c echo.Context, active bool) error {
	r, err := h.reasonParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if r.Active != active {
		if !active {
			list, err := h.DB.ListReasons(ctx, true)
			if err != nil {
				return err
			}
			if len(list) <= 1 {
				return echo.NewHTTPError(http.StatusConflict, "This is the last active reason: agents need one to reject a process. Add another before retiring it.")
			}
		}
		if err := h.DB.SetReasonActive(ctx, auth.ActorFrom(c), r.ID, active); err != nil {
			return err
		}
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
