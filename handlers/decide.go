package handlers

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

func (h *Handler) acceptProcess(c echo.Context) error { return h.decideProcess(c, store.VerdictAccept) }
func (h *Handler) rejectProcess(c echo.Context) error { return h.decideProcess(c, store.VerdictReject) }

// decideProcess records an accept or reject from the process page's forms. A refusal
// gets the page back with the message beside the field and what was typed kept (a
// lost claim locks the form); nothing changes.
func (h *Handler) decideProcess(c echo.Context, verdict store.Verdict) error {
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The form could not be read.")
	}
	in := review.DecideInput{
		ProcessID: p.ID, ClaimSeq: claimSeq(form.Get("claim")), Verdict: verdict, Addition: form.Get("addition"),
		FormVerdict: form.Get("verdict"), InternalNote: form.Get("note"), Confirmations: form["confirm"],
		CorrectionsSeen: form.Get(review.FieldCorrectionsSeen),
		Values:          map[string]string{}, Originals: map[string]string{},
	}
	if r := form.Get("reason"); r != "" {
		if in.ReasonID, err = strconv.ParseInt(r, 10, 64); err != nil || in.ReasonID <= 0 {
			in.ReasonID = -1
		}
	}
	for k, vs := range form {
		if key, ok := strings.CutPrefix(k, review.FieldPrefix); ok && len(vs) > 0 {
			in.Values[key] = vs[0]
		} else if key, ok := strings.CutPrefix(k, "orig."); ok && len(vs) > 0 {
			in.Originals[key] = vs[0]
		}
	}
	d, err := h.Review.Decide(c.Request().Context(), auth.ActorFrom(c), in)
	if err != nil {
		return h.decisionFormError(c, p, verdict, in, err)
	}
	h.log.Info("decision recorded", "decision_id", d.ID, "process_id", p.ID, "verdict", d.Verdict, "state", d.State)
	return h.afterDecision(c, d)
}

// afterDecision claims the next case (the user's setting, on by default) or goes back
// to the queue. The confirmation says what happens to the decision: delivered to
// Mobbscan, or held for a second review (four-eyes), when nothing is sent yet.
func (h *Handler) afterDecision(c echo.Context, d *store.Decision) error {
	done := "decided"
	if d != nil && d.State == store.StateSecondReview {
		done = "decided-second"
	}
	next, err := h.DB.NextAfterDecision(c.Request().Context(), auth.UserFrom(c).ID)
	if err != nil {
		return err
	}
	if next {
		return h.claimNextCase(c, queueFilters{}, done)
	}
	return c.Redirect(http.StatusSeeOther, "/queue?done="+done)
}

// decisionFormError renders the process page again with the agent's input and the
// refusal: beside the field it is about (the whole form's when none), or, when the
// page's claim is no longer the agent's, in a locked panel that keeps what was typed.
// htmx requests get the message as an error fragment.
func (h *Handler) decisionFormError(c echo.Context, p *store.Process, verdict store.Verdict, in review.DecideInput, err error) error {
	e := review.ErrorOf(err)
	if e == nil || wantsFragment(c) {
		return err
	}
	if fresh, gerr := h.DB.GetProcess(c.Request().Context(), p.ID); gerr == nil {
		p = fresh
	}
	v, berr := h.buildProcessPage(c, p, false, false)
	if berr != nil {
		return berr
	}
	f := v.Decide
	if f == nil || f.ClaimSeq != in.ClaimSeq {
		// Not the agent's to decide from this page now (the claim is gone, or another
		// page of theirs holds it): the form comes back locked, with their text.
		if f, berr = h.decisionForm(c, p, nil); berr != nil {
			return berr
		}
		f.Locked = e.Message
		v.Decide = f
	} else {
		f.Errors = views.FormErrors{e.Field: e.Message}
		if len(e.Fields) > 0 { // the messages go beside each corrected field
			f.Errors = views.FormErrors{}
			if msg, ok := e.Fields[review.FieldFields]; ok {
				f.Errors[review.FieldFields] = msg
			}
		}
	}
	f.Open, f.Note = string(verdict), in.InternalNote
	if verdict == store.VerdictReject {
		f.Addition = in.Addition
		for i := range f.Reasons {
			f.Reasons[i].Selected = f.Reasons[i].ID == in.ReasonID
		}
	} else {
		for _, c := range in.Confirmations {
			f.Confirmed[c] = true
		}
		keepCorrections(f, in, e, h.DB.Now())
		placeCorrections(&v)
	}
	return render(c, codeStatus[e.Code], views.ProcessScreen(h.processPageAt(c, p), v))
}

// processPageAt is the page model of a process page rendered by a POST (a refused
// decision or desk action): the address bar then shows the process page, which a reload
// or a bookmark can open, never the POST's URL.
func (h *Handler) processPageAt(c echo.Context, p *store.Process) views.Page {
	pg := h.page(c, "Process", "queue")
	pg.URL = processURL(p.ID)
	return pg
}

// keepCorrections puts the typed corrections back in the form, with each field's
// message and the summary of what would be sent (old → new).
func keepCorrections(f *views.DecisionForm, in review.DecideInput, e *review.Error, now time.Time) {
	if len(f.Fields) == 0 { // the gateway's data is not at hand: the fields as the form sent them
		for _, k := range slices.Sorted(maps.Keys(in.Originals)) {
			f.Fields = append(f.Fields, views.CorrectionField{Key: k, Label: views.PersonalLabel(k)})
		}
	}
	for i := range f.Fields {
		fl := &f.Fields[i]
		if orig, ok := in.Originals[fl.Key]; ok {
			fl.Original = orig
		}
		if val, ok := in.Values[fl.Key]; ok {
			fl.Value = val
		}
		fl.Corrected = strings.TrimSpace(fl.Value) != strings.TrimSpace(fl.Original)
		fl.Error = e.Fields[review.FieldPrefix+fl.Key]
		if fl.Corrected {
			f.Corrections = append(f.Corrections, views.CorrectionLine{Label: fl.Label, Old: fl.Original, New: strings.TrimSpace(fl.Value)})
		}
	}
	if _, errs := review.CheckCorrections(in.Values, in.Originals, now); len(errs) == 0 {
		f.CorrectionsSeen = review.CorrectionsSummary(in.Values, in.Originals)
	}
}

// placeCorrections puts every correction input on the page: the fields the data groups
// do not show (the gateway's data was not at hand) get a group of their own.
func placeCorrections(v *views.ProcessPage) {
	if v.Decide == nil {
		return
	}
	shown := map[string]bool{}
	for _, g := range v.Data {
		for _, f := range g.Fields {
			shown[f.Key] = true
		}
	}
	var rest views.DataGroup
	for _, fl := range v.Decide.Fields {
		if !shown[fl.Key] {
			rest.Fields = append(rest.Fields, views.DataField{Key: fl.Key, Label: fl.Label, Value: fl.Original})
		}
	}
	if len(rest.Fields) > 0 {
		rest.Title = i18n.M("Extracted data as your form sent it")
		v.Data = append(v.Data, rest)
	}
}

// decisionForm builds the accept and reject panel for the claim the agent holds.
func (h *Handler) decisionForm(c echo.Context, p *store.Process, info *review.Details) (*views.DecisionForm, error) {
	ctx := c.Request().Context()
	reasons, err := h.DB.ListReasons(ctx, true)
	if err != nil {
		return nil, err
	}
	base := processURL(p.ID)
	f := &views.DecisionForm{
		AcceptURL: base + "/accept", RejectURL: base + "/reject", Confirmed: map[string]bool{}, ClaimSeq: p.ClaimSeq,
		MaxAddition: review.LimitAddition.Max, MaxNote: review.LimitNote.Max, MaxCorrection: review.LimitCorrection,
	}
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
				// would drop its line breaks.
				continue
			}
			f.Fields = append(f.Fields, views.CorrectionField{Key: fl[0], Label: views.PersonalLabel(fl[0]), Value: fl[1], Original: strings.TrimSpace(fl[1])})
		}
	}
	if err := h.fillReadiness(c, p, f); err != nil {
		return nil, err
	}
	return f, nil
}

// fillReadiness says what the agent must still see before accepting (D7).
func (h *Handler) fillReadiness(c echo.Context, p *store.Process, f *views.DecisionForm) error {
	base := processURL(p.ID)
	f.ReadinessURL = base + "/readiness?claim=" + strconv.FormatInt(f.ClaimSeq, 10)
	f.ReloadURL = base + "?retry=1"
	missing, err := h.Review.Readiness(c.Request().Context(), auth.ActorFrom(c), p.ID, f.ClaimSeq)
	if review.ErrorOf(err) != nil {
		f.Missing = []string{i18n.M("a claim on this process")}
		return nil
	}
	if err != nil {
		return err
	}
	f.Missing = missingLabels(missing)
	return nil
}

func missingLabels(kinds []store.EvidenceKind) []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = review.MissingLabel(k)
	}
	return out
}

// showAcceptReadiness answers the accept button's region while the page waits for the
// evidence to load: enabled once everything was served in the page's claim.
func (h *Handler) showAcceptReadiness(c echo.Context) error {
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	f := &views.DecisionForm{ClaimSeq: claimSeq(c.QueryParam("claim"))}
	base := processURL(p.ID)
	f.ReadinessURL, f.ReloadURL = base+"/readiness?claim="+strconv.FormatInt(f.ClaimSeq, 10), base+"?retry=1"
	missing, err := h.Review.Readiness(c.Request().Context(), auth.ActorFrom(c), p.ID, f.ClaimSeq)
	if err != nil {
		return err
	}
	f.Missing = missingLabels(missing)
	if !wantsFragment(c) {
		return c.Redirect(http.StatusSeeOther, base)
	}
	return render(c, http.StatusOK, views.AcceptReadiness(*f))
}

// deliveryView describes a decision and its delivery for the viewer.
func (h *Handler) deliveryView(c echo.Context, d *store.Decision) views.DeliveryView {
	a := auth.ActorFrom(c)
	v := views.DeliveryView{
		ID: d.ID, ProcessURL: processURL(d.ProcessID), Holder: d.HolderName, Verdict: d.Verdict.Label(), VerdictCode: string(d.Verdict),
		Reason: d.ReasonLabel, Comment: d.Comment, DecidedBy: d.DecidedByName, DecidedAt: d.DecidedAt, SecondBy: d.SecondByName,
		State: string(d.State), StateLabel: d.StateLabel(), StateHelp: d.State.Help(), Attempts: d.Attempts, LastError: d.LastError,
		Confirmed: labels(d.Confirmations),
	}
	if d.Retrying() {
		v.StateHelp = fmt.Sprintf(i18n.M("Mobbscan has not taken it yet; the portal keeps trying on its own (next try %s)."),
			views.FormatTime(c.Request().Context(), d.NextAttemptAt))
	}
	for k := range d.Corrections {
		v.Corrected = append(v.Corrected, views.PersonalLabel(k))
	}
	slices.Sort(v.Corrected)
	if review.MaySeeNote(a, d) {
		v.Note = d.InternalNote
	}
	if !d.State.Settled() {
		v.PollURL = processURL(d.ProcessID) + "/delivery"
	}
	if review.DeliveryRetryable(d) && review.MayManageDelivery(a, d) {
		v.RetryURL = processURL(d.ProcessID) + "/delivery/retry"
	}
	return v
}

// secondReviewView offers the second review to an agent holding the claim who did not
// make the decision.
func (h *Handler) secondReviewView(c echo.Context, p *store.Process, d *store.Decision, dv views.DeliveryView) *views.SecondReviewView {
	a := auth.ActorFrom(c)
	did := "/decisions/" + strconv.FormatInt(d.ID, 10)
	s := &views.SecondReviewView{ConfirmURL: did + "/confirm", OverturnURL: did + "/overturn", Decision: dv, ClaimSeq: p.ClaimSeq,
		MaxNote: review.LimitOverturnNote.Max}
	if err := review.MaySecondReview(a, d); err != nil {
		s.Reason = review.ErrorOf(err).Message
		return s
	}
	missing, err := h.Review.Readiness(c.Request().Context(), a, p.ID, p.ClaimSeq)
	if e := review.ErrorOf(err); e != nil || err != nil {
		s.Reason = i18n.M("Open the process to give it its second review.")
		if e != nil {
			s.Reason = e.Message
		}
		return s
	}
	s.Allowed = true
	if d.Verdict == store.VerdictAccept {
		s.Missing = missingLabels(missing)
	}
	return s
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
	if err := h.Review.Retry(ctx, auth.ActorFrom(c), d.ID); err != nil {
		return err
	}
	return hxRedirect(c, processURL(p.ID))
}

// decisionParam returns the decision named by :did; unknown or malformed ids are 404
// and the denial is audited (Z2).
func (h *Handler) decisionParam(c echo.Context) (*store.Decision, error) {
	if id, err := paramID(c, "did"); err == nil {
		d, err := h.DB.GetDecision(c.Request().Context(), id)
		if review.ErrorCode(review.Translate(err)) != review.CodeNotFound {
			return d, err
		}
	}
	h.deny(c, "decision", c.Param("did"), "unknown decision")
	return nil, echo.ErrNotFound
}

// confirmDecision is a second agent's confirmation of a four-eyes decision.
func (h *Handler) confirmDecision(c echo.Context) error {
	d, err := h.decisionParam(c)
	if err != nil {
		return err
	}
	if _, err := h.Review.ConfirmSecond(c.Request().Context(), auth.ActorFrom(c), d.ID, claimSeq(c.FormValue("claim"))); err != nil {
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
	if err := h.Review.Overturn(c.Request().Context(), auth.ActorFrom(c), d.ID, claimSeq(c.FormValue("claim")), c.FormValue("note")); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, processURL(d.ProcessID))
}
