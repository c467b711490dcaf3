package handlers

import (
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

func (h *Handler) acceptProcess(c echo.Context) error { return h.decideProcess(c, store.VerdictAccept) }
func (h *Handler) rejectProcess(c echo.Context) error { return h.decideProcess(c, store.VerdictReject) }

// decideProcess records an accept or reject from the process page's forms. Bad input
// gets the page back with the message and nothing changes; a process that is not the
// agent's to decide gets 409 in plain words.
func (h *Handler) decideProcess(c echo.Context, verdict string) error {
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	a := auth.ActorFrom(c)
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The form could not be read.")
	}
	in := review.DecideInput{
		ProcessID: p.ID, Verdict: verdict, Addition: form.Get("addition"), InternalNote: form.Get("note"),
		Confirmations: form["confirm"], Corrections: map[string]string{},
	}
	if v := form.Get("verdict"); v != "" && v != verdict {
		return h.decisionFormError(c, p, verdict, in, views.FormErrors{"": "The form was tampered with: its verdict does not match the button. Nothing was recorded."})
	}
	if r := form.Get("reason"); r != "" {
		if in.ReasonID, err = strconv.ParseInt(r, 10, 64); err != nil || in.ReasonID <= 0 {
			return h.decisionFormError(c, p, verdict, in, views.FormErrors{"reason": "Choose one of the listed reasons."})
		}
	}
	for k, vs := range form {
		if key, ok := strings.CutPrefix(k, "field."); ok && len(vs) > 0 {
			in.Corrections[key] = vs[0]
		}
	}
	d, err := h.Review.Decide(ctx, a, in)
	var ce *review.ConfirmationError
	var claimErr *store.ClaimError
	switch {
	case errors.As(err, &ce):
		return h.decisionFormError(c, p, verdict, in, views.FormErrors{"confirm": "Confirm each failed check before accepting: tick every box above."})
	case errors.Is(err, review.ErrBadInput):
		// The message goes next to the field it is about, in the form that was sent (a
		// correction's key is the agent's text and may contain any word).
		msg := strings.TrimPrefix(err.Error(), review.ErrBadInput.Error()+": ")
		field := ""
		switch {
		case verdict == store.VerdictReject && strings.Contains(msg, "reason"):
			field = "reason"
		case verdict == store.VerdictReject && strings.Contains(msg, "addition"):
			field = "addition"
		case verdict == store.VerdictAccept && (strings.Contains(msg, "is not a field") || strings.Contains(msg, "corrected")):
			field = "fields"
		}
		msg = strings.ToUpper(msg[:1]) + msg[1:] + "."
		return h.decisionFormError(c, p, verdict, in, views.FormErrors{field: msg})
	case errors.Is(err, review.ErrGatewayDown):
		return h.decisionFormError(c, p, verdict, in, views.FormErrors{"": "Mobbscan is not answering, so the corrected data could not be checked. Try again in a moment, or accept without corrections."})
	case errors.Is(err, review.ErrUnknownProcess):
		return echo.NewHTTPError(http.StatusConflict, "Mobbscan no longer knows this process (it may have been deleted). Nothing was changed.")
	case errors.Is(err, store.ErrAlreadyDecided):
		if live, lerr := h.DB.LiveDecision(ctx, p.ID); lerr == nil && live.DecidedBy == a.UserID {
			if live.Verdict == verdict {
				return h.afterDecision(c) // a double-submitted form: the first one counted
			}
			return echo.NewHTTPError(http.StatusConflict, "You already decided this process the other way. Nothing was changed.")
		}
		return echo.NewHTTPError(http.StatusConflict, "This process was already decided by someone else. Nothing was changed.")
	case errors.As(err, &claimErr):
		return echo.NewHTTPError(http.StatusConflict, claimErr.HolderName+" is reviewing this process; only the agent holding it may decide. Nothing was changed.")
	case errors.Is(err, store.ErrNotReviewable):
		return echo.NewHTTPError(http.StatusConflict, "This process is not awaiting review (it is decided, not finished or deleted). Nothing was changed.")
	case err != nil:
		return err
	}
	h.log.Info("decision recorded", "decision_id", d.ID, "process_id", p.ID, "verdict", verdict, "state", d.State)
	return h.afterDecision(c)
}

// afterDecision goes to the next case (the user's setting, on by default) or the queue.
func (h *Handler) afterDecision(c echo.Context) error {
	next, err := h.DB.NextAfterDecision(c.Request().Context(), auth.UserFrom(c).ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if next {
		return c.Redirect(http.StatusSeeOther, "/queue/next?done=decided")
	}
	return c.Redirect(http.StatusSeeOther, "/queue?done=decided")
}

// decisionFormError renders the process page again with the agent's input and the
// message (422).
func (h *Handler) decisionFormError(c echo.Context, p *store.Process, verdict string, in review.DecideInput, errs views.FormErrors) error {
	// The form comes back to be finished: hold the claim again if it lapsed meanwhile
	// and nobody else took it, as opening the page would.
	if p.Reviewable && !p.Decided {
		if claimed, err := h.Review.Claim(c.Request().Context(), auth.ActorFrom(c), p.ID, false); err == nil {
			p = claimed
		}
	}
	v, err := h.buildProcessPage(c, p, false)
	if err != nil {
		return err
	}
	if v.Decide == nil {
		if v.ClaimedBy != "" {
			return echo.NewHTTPError(http.StatusConflict, v.ClaimedBy+" is reviewing this process; only the agent holding it may decide. Nothing was changed.")
		}
		return echo.NewHTTPError(http.StatusConflict, "This process is not yours to decide now. Nothing was changed.")
	}
	if wantsFragment(c) {
		// htmx swaps no 4xx answer: the message goes to the error banner.
		msgs := slices.Sorted(maps.Values(errs))
		return echo.NewHTTPError(http.StatusUnprocessableEntity, strings.Join(msgs, " "))
	}
	f := v.Decide
	f.Errors, f.Open, f.Note = errs, verdict, in.InternalNote
	if verdict == store.VerdictReject {
		f.Addition = in.Addition
		for i := range f.Reasons {
			f.Reasons[i].Selected = f.Reasons[i].ID == in.ReasonID
		}
	} else {
		for _, c := range in.Confirmations {
			f.Confirmed[c] = true
		}
		for i := range f.Fields {
			if val, ok := in.Corrections[f.Fields[i].Key]; ok {
				f.Fields[i].Value = val
				f.Fields[i].Corrected = strings.TrimSpace(val) != f.Fields[i].Original
			}
		}
	}
	return render(c, http.StatusUnprocessableEntity, views.ProcessScreen(h.page(c, "Process", "queue"), v))
}

// decisionForm builds the accept and reject panel.
func (h *Handler) decisionForm(c echo.Context, p *store.Process, info *review.Details) (*views.DecisionForm, error) {
	reasons, err := h.DB.ListReasons(c.Request().Context(), true)
	if err != nil {
		return nil, err
	}
	base := processURL(p.ID)
	f := &views.DecisionForm{AcceptURL: base + "/accept", RejectURL: base + "/reject", Confirmed: map[string]bool{}}
	for _, code := range p.Failed {
		f.Failed = append(f.Failed, views.Validation{Code: code, Label: views.ValidationLabel(code, true), Result: "failed"})
	}
	for i, r := range reasons {
		o := views.ReasonOption{ID: r.ID, Label: r.Label, CustomerText: r.CustomerText}
		if i < 9 {
			o.Key = strconv.Itoa(i + 1)
		}
		f.Reasons = append(f.Reasons, o)
	}
	if info != nil {
		for _, fl := range info.Personal {
			if fl[0] == "mrz" {
				// Lines of machine-read text, not a correctable field: a one-line input
				// would drop its line breaks and send a changed MRZ with every accept.
				continue
			}
			f.Fields = append(f.Fields, views.CorrectionField{Key: fl[0], Label: views.PersonalLabel(fl[0]), Value: fl[1], Original: fl[1]})
		}
	}
	return f, nil
}

// deliveryView describes a decision and its delivery for the viewer.
func (h *Handler) deliveryView(c echo.Context, d *store.Decision) views.DeliveryView {
	u := auth.UserFrom(c)
	v := views.DeliveryView{
		ID: d.ID, ProcessURL: processURL(d.ProcessID), Holder: d.HolderName, VerdictCode: d.Verdict, Reason: d.ReasonLabel,
		Comment: d.Comment, DecidedBy: d.DecidedByName, DecidedAt: d.DecidedAt, SecondBy: d.SecondByName, State: d.State,
		Attempts: d.Attempts, LastError: d.LastError, Confirmed: labels(d.Confirmations),
	}
	v.Verdict = "Accepted"
	if d.Verdict == store.VerdictReject {
		v.Verdict = "Rejected"
	}
	for k := range d.Corrections {
		v.Corrected = append(v.Corrected, views.PersonalLabel(k))
	}
	if d.DecidedBy == u.ID || u.IsAdmin() {
		v.Note = d.InternalNote
	}
	switch d.State {
	case store.StateSecondReview:
		v.StateLabel, v.StateHelp = "Awaiting second review", "A second agent must confirm it before it is sent to Mobbscan."
	case store.StateQueued:
		v.StateLabel, v.StateHelp = "Queued", "It is sent to Mobbscan in a moment."
		if d.Attempts > 0 {
			v.StateLabel, v.StateHelp = "Retrying", "Mobbscan has not taken it yet; the portal keeps trying on its own (next try "+views.FormatTime(d.NextAttemptAt)+")."
		}
	case store.StateSending:
		v.StateLabel, v.StateHelp = "Sending", "Being sent to Mobbscan now."
	case store.StateDelivered:
		v.StateLabel, v.StateHelp = "Delivered", "Mobbscan has this verdict."
	case store.StateConflict:
		v.StateLabel, v.StateHelp = "Conflict", "Mobbscan did not take this verdict; a person must look at it."
	case store.StateParked:
		v.StateLabel, v.StateHelp = "Parked", "Delivery stopped after failing for too long; a person must look at it."
	case store.StateOverturned:
		v.StateLabel, v.StateHelp = "Overturned", "A second agent overturned it; it was never sent."
	case store.StateResolved:
		v.StateLabel, v.StateHelp = "Resolved by hand", "An administrator settled it."
	}
	if d.State == store.StateQueued || d.State == store.StateSending || d.State == store.StateSecondReview {
		v.PollURL = processURL(d.ProcessID) + "/delivery"
	}
	canRetry := d.State == store.StateParked || d.State == store.StateConflict || (d.State == store.StateQueued && d.Attempts > 0)
	if canRetry && (d.DecidedBy == u.ID || u.IsAdmin()) {
		v.RetryURL = processURL(d.ProcessID) + "/delivery/retry"
	}
	return v
}

func labels(codes []string) []string {
	out := make([]string, 0, len(codes))
	for _, c := range codes {
		out = append(out, views.ShortValidation(c))
	}
	return out
}

// showDelivery answers the delivery panel (htmx polling) or the process page.
func (h *Handler) showDelivery(c echo.Context) error {
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	d, err := h.DB.LiveDecision(c.Request().Context(), p.ID)
	if err != nil {
		return err
	}
	if !wantsFragment(c) {
		return c.Redirect(http.StatusSeeOther, processURL(p.ID))
	}
	return render(c, http.StatusOK, views.DeliveryStatus(h.deliveryView(c, d)))
}

// retryDelivery puts the process's decision back in the delivery queue (its author or
// an admin).
func (h *Handler) retryDelivery(c echo.Context) error {
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	d, err := h.DB.LiveDecision(ctx, p.ID)
	if err != nil {
		return err
	}
	u := auth.UserFrom(c)
	if d.DecidedBy != u.ID && !u.IsAdmin() {
		_ = h.DB.Audit(ctx, auth.ActorFrom(c), "access.denied", "process", p.ID, store.OutcomeDenied, "delivery retry of decision "+strconv.FormatInt(d.ID, 10)+" by someone who did not make it")
		return echo.NewHTTPError(http.StatusForbidden, "Only the agent who decided or an administrator may retry the delivery.")
	}
	if err := h.Review.Retry(ctx, auth.ActorFrom(c), d.ID); errors.Is(err, store.ErrConflict) {
		return echo.NewHTTPError(http.StatusConflict, "This decision is not waiting for a retry.")
	} else if err != nil {
		return err
	}
	return hxRedirect(c, processURL(p.ID))
}

// decisionParam returns the decision named by :did; unknown or malformed ids are 404
// and the denial is audited (Z2).
func (h *Handler) decisionParam(c echo.Context) (*store.Decision, error) {
	ctx := c.Request().Context()
	if id, err := paramID(c, "did"); err == nil {
		d, err := h.DB.GetDecision(ctx, id)
		if !errors.Is(err, store.ErrNotFound) {
			return d, err
		}
	}
	objectID := c.Param("did")
	if len(objectID) > 128 {
		objectID = objectID[:128]
	}
	_ = h.DB.Audit(ctx, auth.ActorFrom(c), "access.denied", "decision", objectID, store.OutcomeDenied, "unknown decision: "+c.Request().Method+" "+c.Path())
	return nil, echo.ErrNotFound
}

// confirmDecision is a second agent's confirmation of a four-eyes decision.
func (h *Handler) confirmDecision(c echo.Context) error {
	d, err := h.decisionParam(c)
	if err != nil {
		return err
	}
	_, err = h.Review.ConfirmSecond(c.Request().Context(), auth.ActorFrom(c), d.ID)
	switch {
	case errors.Is(err, store.ErrInvalid):
		return echo.NewHTTPError(http.StatusConflict, "You made this decision; another agent must confirm it.")
	case errors.Is(err, store.ErrConflict):
		return echo.NewHTTPError(http.StatusConflict, "This decision no longer awaits a second review.")
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusSeeOther, processURL(d.ProcessID))
}

// overturnDecision is a second agent's refusal: the process returns to review, theirs.
func (h *Handler) overturnDecision(c echo.Context) error {
	d, err := h.decisionParam(c)
	if err != nil {
		return err
	}
	note := strings.TrimSpace(c.FormValue("note"))
	if note == "" {
		return echo.NewHTTPError(http.StatusBadRequest, "Say why you overturn the decision.")
	}
	err = h.Review.Overturn(c.Request().Context(), auth.ActorFrom(c), d.ID, note)
	switch {
	case errors.Is(err, store.ErrInvalid):
		return echo.NewHTTPError(http.StatusConflict, "You made this decision; another agent must review it.")
	case errors.Is(err, store.ErrConflict):
		return echo.NewHTTPError(http.StatusConflict, "This decision no longer awaits a second review.")
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusSeeOther, processURL(d.ProcessID))
}

// saveAccountSettings stores the agent's own preferences.
func (h *Handler) saveAccountSettings(c echo.Context) error {
	u := auth.UserFrom(c)
	on := c.FormValue("next_after_decision") == "on"
	if err := h.DB.SetNextAfterDecision(c.Request().Context(), auth.ActorFrom(c), u.ID, on); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/account?done=settings")
}
