package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
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
	return render(c, status, views.AdminDeliveriesScreen(h.page(c, "Deliveries", "deliveries"), p))
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

// retryUndelivered sends the delivery worker after a parked or conflicting decision, or
// one waiting to retry, now.
func (h *Handler) retryUndelivered(c echo.Context) error {
	id, err := h.undeliveredParam(c)
	if err != nil {
		return err
	}
	if err := h.Review.Retry(c.Request().Context(), auth.ActorFrom(c), id); err != nil {
		return err
	}
	if wantsFragment(c) {
		p, err := h.deliveriesPage(c)
		if err != nil {
			return err
		}
		p.Notice = "Delivery retried: the portal is sending it to Mobbscan now."
		return render(c, http.StatusOK, views.AdminDeliveryList(p))
	}
	return c.Redirect(http.StatusSeeOther, "/admin/deliveries?done=delivery-retried")
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
