package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

// undeliveredStates are the states of a decision Mobbscan does not have yet.
var undeliveredStates = []string{store.StateQueued, store.StateSending, store.StateParked, store.StateConflict, store.StateSecondReview}

// Sizes of the deliveries page.
const (
	maxUndelivered    = 200
	recentlyDelivered = 20
)

func undeliveredURL(id int64, action string) string {
	return "/admin/deliveries/" + strconv.FormatInt(id, 10) + "/" + action
}

// deliveryRetryable: the worker may be sent after the decision now.
func deliveryRetryable(state string) bool {
	return state == store.StateQueued || state == store.StateParked || state == store.StateConflict
}

// deliveryResolvable: a person may settle the decision by hand.
func deliveryResolvable(state string) bool {
	return state == store.StateParked || state == store.StateConflict
}

func adminDeliveryRow(d *store.Decision) views.AdminDeliveryRow {
	r := views.AdminDeliveryRow{
		ID: d.ID, ProcessID: d.ProcessID, ProcessURL: processURL(d.ProcessID), Holder: d.HolderName,
		VerdictCode: d.Verdict, Verdict: "Accept", Reason: d.ReasonLabel, DecidedBy: d.DecidedByName,
		DecidedAt: d.DecidedAt, State: d.State, Attempts: d.Attempts, LastError: d.LastError, DeliveredAt: d.DeliveredAt,
	}
	if d.Verdict == store.VerdictReject {
		r.Verdict = "Reject"
	}
	switch d.State {
	case store.StateQueued:
		r.StateLabel, r.NextAttempt = "Queued", d.NextAttemptAt
		if d.Attempts > 0 {
			r.StateLabel = "Retrying"
		}
	case store.StateSending:
		r.StateLabel = "Sending"
	case store.StateParked:
		r.StateLabel, r.StateClass = "Parked", "off"
	case store.StateConflict:
		r.StateLabel, r.StateClass = "Conflict", "off"
	case store.StateSecondReview:
		r.StateLabel = "Awaiting second review"
	case store.StateDelivered:
		r.StateLabel, r.StateClass = "Delivered", "ok"
	default:
		r.StateLabel = d.State
	}
	if deliveryRetryable(d.State) {
		r.RetryURL = undeliveredURL(d.ID, "retry")
	}
	if deliveryResolvable(d.State) {
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
	delivered, err := h.DB.ListDecisions(ctx, store.DecisionFilter{States: []string{store.StateDelivered}, Limit: recentlyDelivered})
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

func (h *Handler) undeliveredParam(c echo.Context) (*store.Decision, error) {
	id, err := paramID(c, "did")
	if err != nil {
		return nil, err
	}
	return h.DB.GetDecision(c.Request().Context(), id)
}

// wrongDeliveryState is the 409 for a retry or resolve the decision's state does not allow.
func wrongDeliveryState(d *store.Decision, resolving bool) error {
	var msg string
	switch d.State {
	case store.StateSending:
		msg = "This decision is being sent to Mobbscan right now. Wait for the outcome."
	case store.StateSecondReview:
		msg = "This decision waits for a second agent; it is sent once they confirm it."
	case store.StateDelivered:
		msg = "Mobbscan already has this decision."
	case store.StateOverturned:
		msg = "A second agent overturned this decision; it is never sent."
	case store.StateResolved:
		msg = "This decision was already marked resolved."
	case store.StateQueued:
		msg = "This decision is still being delivered. Only a parked or conflicting decision can be marked resolved."
	default:
		msg = "This decision cannot be changed in its current state."
	}
	if resolving && d.State == store.StateSecondReview {
		msg = "This decision waits for a second agent. Only a parked or conflicting decision can be marked resolved."
	}
	return echo.NewHTTPError(http.StatusConflict, msg)
}

// errDeliveryChanged is the 409 when the state changed between reading and writing.
func errDeliveryChanged() error {
	return echo.NewHTTPError(http.StatusConflict, "This decision changed in the meantime (it may have been delivered). Reload the page.")
}

// retryUndelivered sends the delivery worker after a queued, parked or conflicting
// decision now.
func (h *Handler) retryUndelivered(c echo.Context) error {
	d, err := h.undeliveredParam(c)
	if err != nil {
		return err
	}
	if !deliveryRetryable(d.State) {
		return wrongDeliveryState(d, false)
	}
	ctx, a := c.Request().Context(), auth.ActorFrom(c)
	if h.Review != nil {
		err = h.Review.Retry(ctx, a, d.ID)
	} else {
		err = h.DB.RetryDelivery(ctx, a, d.ID) // no worker to wake (a portal without a gateway)
	}
	if errors.Is(err, store.ErrConflict) {
		return errDeliveryChanged()
	}
	if err != nil {
		return err
	}
	if wantsFragment(c) {
		p, err := h.deliveriesPage(c)
		if err != nil {
			return err
		}
		return render(c, http.StatusOK, views.AdminDeliveryList(p))
	}
	return c.Redirect(http.StatusSeeOther, "/admin/deliveries?done=delivery-retried")
}

// resolveUndelivered records that a person settled a parked or conflicting decision with
// Mobbscan directly; a note saying what was done is required.
func (h *Handler) resolveUndelivered(c echo.Context) error {
	d, err := h.undeliveredParam(c)
	if err != nil {
		return err
	}
	if !deliveryResolvable(d.State) {
		return wrongDeliveryState(d, true)
	}
	note := strings.TrimSpace(c.FormValue("note"))
	var problem string
	switch n := utf8.RuneCountInString(note); {
	case n == 0:
		problem = "Say what was done with Mobbscan: the note is required."
	case n > views.MaxResolveNote || !utf8.ValidString(note):
		problem = "Keep the note to " + strconv.Itoa(views.MaxResolveNote) + " characters."
	}
	if problem != "" {
		p, err := h.deliveriesPage(c)
		if err != nil {
			return err
		}
		for i := range p.Pending {
			if p.Pending[i].ID == d.ID {
				p.Pending[i].Note, p.Pending[i].NoteError = note, problem
			}
		}
		return h.renderDeliveries(c, http.StatusUnprocessableEntity, p)
	}
	err = h.DB.ResolveDecision(c.Request().Context(), auth.ActorFrom(c), d.ID, note)
	if errors.Is(err, store.ErrConflict) {
		return errDeliveryChanged()
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/deliveries?done=delivery-resolved")
}
