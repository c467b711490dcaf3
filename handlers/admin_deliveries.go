package handlers

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

// undeliveredStates are the states of a decision Mobbscan does not have yet.
var undeliveredStates = func() []store.DeliveryState {
	var out []store.DeliveryState
	for _, s := range store.DeliveryStates {
		if s.Undelivered() {
			out = append(out, s)
		}
	}
	return out
}()

// Sizes of the deliveries page.
const (
	maxUndelivered    = 200
	recentlyDelivered = 20
)

func undeliveredURL(id int64, action string) string {
	return "/admin/deliveries/" + strconv.FormatInt(id, 10) + "/" + action
}

func adminDeliveryRow(d *store.Decision) views.AdminDeliveryRow {
	r := views.AdminDeliveryRow{
		ID: d.ID, ProcessID: d.ProcessID, ProcessURL: processURL(d.ProcessID), Holder: d.HolderName,
		VerdictCode: string(d.Verdict), Verdict: d.Verdict.Label(), Reason: d.ReasonLabel, DecidedBy: d.DecidedByName,
		DecidedAt: d.DecidedAt, State: string(d.State), StateLabel: d.StateLabel(), StateClass: d.State.Tone(),
		Attempts: d.Attempts, LastError: d.LastError, DeliveredAt: d.DeliveredAt, MaxNote: review.LimitResolveNote.Max,
	}
	if d.State == store.StateQueued {
		r.NextAttempt = d.NextAttemptAt
	}
	if review.DeliveryRetryable(d) {
		r.RetryURL = undeliveredURL(d.ID, "retry")
	}
	if review.DeliveryResolvable(d) {
		r.ResolveURL = undeliveredURL(d.ID, "resolve")
	}
	return r
}

// deliveriesPage lists the undelivered decisions (newest first) and the recent deliveries.
func (h *Handler) deliveriesPage(c echo.Context) (views.AdminDeliveriesPage, error) {
	ctx := c.Request().Context()
	var p views.AdminDeliveriesPage
	pending, err := h.DB.ListDecisions(ctx, store.DecisionFilter{States: undeliveredStates, Limit: maxUndelivered + 1})
	if err != nil {
		return p, err
	}
	if len(pending) > maxUndelivered {
		pending, p.More = pending[:maxUndelivered], true
	}
	delivered, err := h.DB.ListDecisions(ctx, store.DecisionFilter{States: []store.DeliveryState{store.StateDelivered}, Limit: recentlyDelivered})
	if err != nil {
		return p, err
	}
	for _, d := range pending {
		p.Pending = append(p.Pending, adminDeliveryRow(d))
	}
	for _, d := range delivered {
		p.Delivered = append(p.Delivered, adminDeliveryRow(d))
	}
	return p, nil
}

func (h *Handler) renderDeliveries(c echo.Context, status int, p views.AdminDeliveriesPage) error {
	return render(c, status, views.AdminDeliveriesScreen(h.page(c, i18n.M("Deliveries"), "deliveries"), p))
}

func (h *Handler) showDeliveries(c echo.Context) error {
	p, err := h.deliveriesPage(c)
	if err != nil {
		return err
	}
	if wantsFragment(c) && hxTarget(c) == views.IDAdminDeliveryList {
		return render(c, http.StatusOK, views.AdminDeliveryList(p))
	}
	return h.renderDeliveries(c, http.StatusOK, p)
}

func (h *Handler) undeliveredParam(c echo.Context) (int64, error) {
	id, err := paramID(c, "did")
	if err != nil {
		return 0, err
	}
	return id, nil
}

// deliveryRetried is the status line after "Retry now" of decision id: it names the
// process when the page lists it.
func deliveryRetried(p views.AdminDeliveriesPage, id int64) string {
	for _, rows := range [][]views.AdminDeliveryRow{p.Pending, p.Delivered} {
		for _, r := range rows {
			if r.ID == id {
				return fmt.Sprintf(i18n.M("Delivery of %s retried: queued for sending to Mobbscan now."), r.ProcessID)
			}
		}
	}
	return i18n.M("Delivery retried: queued for sending to Mobbscan now.")
}

// retryUndelivered sends the delivery worker after a parked or conflicting decision, or
// one waiting to retry, now. The answer says so in the page's status line (role=status):
// with htmx the list and the status line (out of band), else a redirect whose flash says
// it. A retry the decision's state no longer allows (delivered, resolved or retried
// meanwhile) says why in the same place, with the list as it is now (409).
func (h *Handler) retryUndelivered(c echo.Context) error {
	id, err := h.undeliveredParam(c)
	if err != nil {
		return err
	}
	err = h.Review.Retry(c.Request().Context(), auth.ActorFrom(c), id)
	e := review.ErrorOf(err)
	refused := e != nil && e.Code == review.CodeConflict
	if err != nil && !refused {
		return err
	}
	if !refused && !wantsFragment(c) {
		return c.Redirect(http.StatusSeeOther, "/admin/deliveries?done=delivery-retried")
	}
	p, perr := h.deliveriesPage(c)
	if perr != nil {
		return perr
	}
	status := http.StatusOK
	if refused {
		p.Problem, status = e.Message, codeStatus[e.Code]
	} else {
		p.Notice = deliveryRetried(p, id)
	}
	if !wantsFragment(c) {
		return h.renderDeliveries(c, status, p)
	}
	return render(c, status, fragments(views.AdminDeliveryList(p), views.AdminDeliveriesStatus(p, true)))
}

// resolveUndelivered records that a person settled a parked or conflicting decision with
// Mobbscan directly; a note saying what was done is required.
func (h *Handler) resolveUndelivered(c echo.Context) error {
	id, err := h.undeliveredParam(c)
	if err != nil {
		return err
	}
	note := c.FormValue("note")
	err = h.Review.Resolve(c.Request().Context(), auth.ActorFrom(c), id, note)
	if e := review.ErrorOf(err); e != nil && e.Code == review.CodeInvalid {
		p, err := h.deliveriesPage(c)
		if err != nil {
			return err
		}
		for i := range p.Pending {
			if p.Pending[i].ID == id {
				p.Pending[i].Note, p.Pending[i].NoteError = note, e.Message
			}
		}
		return h.renderDeliveries(c, http.StatusUnprocessableEntity, p)
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/deliveries?done=delivery-resolved")
}
