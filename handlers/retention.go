package handlers

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

// registerRetention adds the retention settings, "Erase now" and the erasure retry to
// the admin group (every route here already requires an admin); u has nothing of it.
func (h *Handler) registerRetention(u, a *echo.Group) {
	a.POST("/settings/retention", h.saveRetention)
	a.GET("/processes/:id/erase", h.showEraseProcess)
	a.POST("/processes/:id/erase", h.eraseProcess)
	a.POST("/erasures/:eid/retry", h.retryErasure)
}

// erasuresURL is the settings page's list of erasures in progress.
const erasuresURL = "/admin/settings#" + views.IDErasures

func eraseURL(id string) string { return "/admin/processes/" + url.PathEscape(id) + "/erase" }

func erasureRetryURL(id int64) string {
	return "/admin/erasures/" + strconv.FormatInt(id, 10) + "/retry"
}

// Size of the list of erasures on the settings page.
const maxErasures = 100

// erasureStatesShown are the erasures the settings page lists: those needing a person
// first, then those under way.
var erasureStatesShown = [][]store.ErasureState{
	{store.ErasureFailed, store.ErasureParked},
	{store.ErasureQueued, store.ErasureSending},
}

// erasuresView lists the erasures that are not done.
func (h *Handler) erasuresView(c echo.Context) (views.AdminErasures, error) {
	var out views.AdminErasures
	for _, states := range erasureStatesShown {
		left := maxErasures - len(out.Rows)
		if left <= 0 {
			out.More = true
			break
		}
		list, err := h.DB.ListErasures(c.Request().Context(), states, left+1)
		if err != nil {
			return out, err
		}
		if len(list) > left {
			list, out.More = list[:left], true
		}
		for _, e := range list {
			out.Rows = append(out.Rows, erasureRow(e))
		}
	}
	return out, nil
}

func erasureRow(e *store.Erasure) views.AdminErasureRow {
	r := views.AdminErasureRow{
		ID: e.ID, ProcessID: e.ProcessID, ProcessURL: processURL(e.ProcessID), State: string(e.State),
		StateLabel: e.StateLabel(), StateHelp: e.State.Help(), StateClass: e.State.Tone(), RequestedBy: e.RequestedByName,
		RequestedAt: e.RequestedAt, Attempts: e.Attempts, NextAttempt: e.NextAttemptAt, LastError: e.LastError,
	}
	if review.ErasureRetryable(e) {
		r.RetryURL = erasureRetryURL(e.ID)
	}
	return r
}

// retentionForm is the retention form showing r.
func (h *Handler) retentionForm(r review.Retention) views.RetentionForm {
	def := h.Review.DefaultRetention()
	return views.RetentionForm{
		KeepDays: strconv.Itoa(r.KeepDays), EraseDays: strconv.Itoa(r.EraseDays), DefaultKeep: def.KeepDays, DefaultErase: def.EraseDays,
		MinDays: review.MinRetentionDays, MaxDays: review.MaxRetentionDays, Errors: views.FormErrors{},
	}
}

// saveRetention stores the retention settings; a refused value shows the settings page
// again with what was typed and a message beside the field (422).
func (h *Handler) saveRetention(c echo.Context) error {
	keep, erase := c.FormValue(review.FieldRetentionDays), c.FormValue(review.FieldEraseAfterDays)
	_, err := h.Review.SetRetention(c.Request().Context(), auth.ActorFrom(c), keep, erase)
	if e := review.ErrorOf(err); e != nil && e.Code == review.CodeInvalid {
		p, perr := h.settingsPage(c)
		if perr != nil {
			return perr
		}
		p.Retention.KeepDays, p.Retention.EraseDays = keep, erase
		for f, msg := range e.Fields {
			p.Retention.Errors[f] = msg
		}
		if len(e.Fields) == 0 {
			p.Retention.Errors[e.Field] = e.Message
		}
		return render(c, http.StatusUnprocessableEntity, views.AdminSettingsScreen(h.page(c, i18n.M("Settings"), "settings"), p))
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/settings?done=settings-saved#"+views.IDRetention)
}

// retryErasure sends the erasure worker after a failed or parked erasure now.
func (h *Handler) retryErasure(c echo.Context) error {
	id, err := paramID(c, "eid")
	if err != nil {
		return err
	}
	if err := h.Review.RetryErasure(c.Request().Context(), auth.ActorFrom(c), id); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/settings?erasure=retried#"+views.IDErasures)
}

// erasureNotices are what the settings page says after an erasure action (?erasure=key);
// only known keys show.
var erasureNotices = map[string]string{
	"retried": i18n.M("Erasure queued again: the portal asks Mobbscan to delete the process now."),
}

// eraseControl is the process page's "Erase now" for administrators (nil for agents):
// offered when the erasure rule allows it now, else why not; and what retention did.
func (h *Handler) eraseControl(c echo.Context, p *store.Process) *views.EraseControl {
	if review.MayErase(auth.ActorFrom(c)) != nil {
		return nil
	}
	ec, err := h.DB.LoadErasureCase(c.Request().Context(), p.ID)
	if err != nil {
		h.log.Warn("erase control", "process_id", p.ID, "error", err)
		return nil
	}
	v := eraseView(ec)
	return &v
}

// eraseView describes what retention and erasure did to a process, and whether "Erase
// now" applies (review.Erasable).
func eraseView(ec *store.ErasureCase) views.EraseControl {
	v := views.EraseControl{PurgedAt: ec.Process.PurgedAt, ErasuresURL: erasuresURL}
	if e := ec.Erasure; e != nil {
		v.State, v.StateLabel, v.StateHelp, v.StateClass = string(e.State), e.StateLabel(), e.State.Help(), e.State.Tone()
	}
	if err := review.Erasable(ec); err != nil {
		if e := review.ErrorOf(err); e != nil && (ec.Erasure == nil || ec.Erasure.State != store.ErasureDone) {
			v.Blocked = e.Message
		}
	} else {
		v.URL = eraseURL(ec.Process.ID)
	}
	return v
}

// erasePage is the confirmation page of "Erase now" for the process named by :id.
func (h *Handler) erasePage(c echo.Context, p *store.Process) (views.AdminEraseProcessPage, error) {
	ec, err := h.DB.LoadErasureCase(c.Request().Context(), p.ID)
	if err != nil {
		return views.AdminEraseProcessPage{}, err
	}
	status, _ := views.StatusLabel(p.Status, p.Stage, p.Gone)
	v := views.AdminEraseProcessPage{
		ID: p.ID, ProcessURL: processURL(p.ID), Holder: ec.Process.HolderName, CustomerRef: ec.Process.CustomerRef,
		Status: status, Erase: eraseView(ec),
	}
	v.Blocked = v.Erase.Blocked
	if v.Erase.URL != "" {
		v.ActionURL = eraseURL(p.ID)
	}
	v.Erase.URL, v.Erase.Blocked = "", ""
	return v, nil
}

// showEraseProcess asks the administrator to confirm "Erase now" (or shows what became
// of an erasure already requested).
func (h *Handler) showEraseProcess(c echo.Context) error {
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	v, err := h.erasePage(c, p)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.EraseProcessScreen(h.page(c, i18n.M("Erase process"), "queue"), v))
}

// eraseProcess purges the process at once and queues its erasure at Mobbscan, then shows
// the confirmation page with the outcome (303). A refusal (in review, undelivered
// decision, erasure under way) shows the page again with why, and its status (409).
func (h *Handler) eraseProcess(c echo.Context) error {
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	_, err = h.Review.EraseNow(c.Request().Context(), auth.ActorFrom(c), p.ID)
	if e := review.ErrorOf(err); e != nil && e.Code == review.CodeConflict {
		if p, err = h.DB.GetProcess(c.Request().Context(), p.ID); err != nil {
			return err
		}
		v, err := h.erasePage(c, p)
		if err != nil {
			return err
		}
		v.Notice = e.Message
		return render(c, codeStatus[e.Code], views.EraseProcessScreen(h.page(c, i18n.M("Erase process"), "queue"), v))
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, eraseURL(p.ID))
}
