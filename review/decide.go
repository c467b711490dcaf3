package review

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/mobbscan"
	"github.com/mobbscan-review/portal/store"
)

// DecideInput is an agent's decision as the form sent it.
type DecideInput struct {
	ProcessID     string
	ClaimSeq      int64 // the claim the page was rendered with (D6)
	Verdict       store.Verdict
	FormVerdict   string // the verdict the form says it is for; must match Verdict
	ReasonID      int64
	Addition      string   // free text added to the reason's customer wording
	InternalNote  string   // kept in the portal, never sent
	Confirmations []string // failed checks the agent confirmed having looked at
	// Values are the correctable fields as the accept form sent them, Originals the
	// values the page showed; only the changed ones are corrections (D8).
	Values    map[string]string
	Originals map[string]string
	// CorrectionsSeen is the summary of corrections the agent was shown, as
	// CorrectionsSummary encodes it; corrections are sent only once it matches.
	CorrectionsSeen string
}

// FieldCorrectionsSeen is the form field carrying CorrectionsSeen.
const FieldCorrectionsSeen = "corrections_seen"

// summaryPairs is what the page lists as corrections: [key, typed value] of every
// field whose trimmed value differs from its trimmed original, sorted by key.
func summaryPairs(values, originals map[string]string) [][2]string {
	var pairs [][2]string
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if v := strings.TrimSpace(values[k]); v != strings.TrimSpace(originals[k]) {
			pairs = append(pairs, [2]string{k, v})
		}
	}
	return pairs
}

// CorrectionsSummary encodes the corrections a form holds as the page summarises them:
// a JSON array of summaryPairs ("" for none); app.js builds the same from the inputs.
func CorrectionsSummary(values, originals map[string]string) string {
	pairs := summaryPairs(values, originals)
	if len(pairs) == 0 {
		return ""
	}
	b, _ := json.Marshal(pairs)
	return string(b)
}

// sameSummary reports whether the summary the agent saw lists exactly what the form holds.
func sameSummary(seen string, values, originals map[string]string) bool {
	var got [][2]string
	return json.Unmarshal([]byte(seen), &got) == nil && slices.Equal(got, summaryPairs(values, originals))
}

// Decide validates and records a decision; delivery happens in the background. The
// rules: only the holder of the page's claim decides a process in review (D6); an
// accept needs the evidence seen (D7), confirms every failed check, and sends only
// checked corrections the agent saw summarised (D8); a reject needs an active reason.
// Every refusal is audited. A form submitted twice counts once.
func (s *Service) Decide(ctx context.Context, a store.Actor, in DecideInput) (*store.Decision, error) {
	d, err := s.decide(ctx, a, in)
	if err == nil {
		return d, nil
	}
	if errors.Is(err, store.ErrAlreadyDecided) {
		// A double-submitted form: the first one counted.
		if live, lerr := s.DB.LiveDecision(ctx, in.ProcessID); lerr == nil && live.DecidedBy == a.UserID && live.Verdict == in.Verdict {
			return live, nil
		}
	}
	return nil, s.refused(ctx, a, in.ProcessID, "decision "+in.Verdict.Verb(), translate(err))
}

// refused audits a refused decision (L1) and returns err.
func (s *Service) refused(ctx context.Context, a store.Actor, processID, what string, err error) error {
	e := ErrorOf(err)
	if e == nil || e.Code == CodeConfirm {
		return err
	}
	detail := what + " refused (" + string(e.Code) + "): " + e.Message
	if aerr := s.DB.Audit(ctx, a, store.ActionDecisionRefuse, "process", processID, store.OutcomeDenied, clip(detail, 500)); aerr != nil {
		return aerr
	}
	return err
}

func (s *Service) decide(ctx context.Context, a store.Actor, in DecideInput) (*store.Decision, error) {
	if !in.Verdict.Valid() || in.FormVerdict != "" && in.FormVerdict != string(in.Verdict) {
		return nil, errorf(CodeInvalid, "", "The form was tampered with: its verdict does not match the button. Nothing was recorded.")
	}
	// Who may decide is judged before what was typed (a non-holder gets the conflict
	// whatever the form holds), and again inside the write.
	c, err := s.DB.LoadCase(ctx, in.ProcessID)
	if err != nil {
		return nil, err
	}
	if err := decidable(a, in.ClaimSeq, c); err != nil {
		return nil, err
	}
	p := c.Process
	note, err := LimitNote.Check(in.InternalNote)
	if err != nil {
		return nil, err
	}
	nd := store.NewDecision{ProcessID: p.ID, Verdict: in.Verdict, InternalNote: note}
	if in.Verdict == store.VerdictReject {
		if in.ReasonID <= 0 {
			return nil, errorf(CodeInvalid, FieldReason, "Choose a reason for the rejection.")
		}
		add, err := LimitAddition.Check(in.Addition)
		if err != nil {
			return nil, err
		}
		r, err := s.DB.GetReason(ctx, in.ReasonID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, store.ErrReasonInactive
		}
		if err != nil {
			return nil, err
		}
		nd.ReasonID, nd.Comment = r.ID, strings.TrimSpace(r.CustomerText)
		if nd.Comment == "" {
			return nil, errorf(CodeInvalid, FieldReason, "That reason has no wording for the customer; choose another.")
		}
		if add != "" {
			nd.Comment += " " + add
		}
	} else {
		if err := checkConfirmations(p.Failed, in.Confirmations); err != nil {
			return nil, err
		}
		nd.Confirmations = p.Failed
		if nd.Corrections, err = s.corrections(ctx, p.ID, in); err != nil {
			return nil, err
		}
	}
	fe, err := s.fourEyes(ctx)
	if err != nil {
		return nil, err
	}
	nd.SecondReview = NeedsSecondReview(fe, in.Verdict, len(p.Failed) > 0)
	d, err := s.DB.Decide(ctx, a, nd, mayDecide(a, in.ClaimSeq, in.Verdict))
	if err != nil {
		return nil, err
	}
	s.Forget(p.ID)
	s.kickDelivery()
	return d, nil
}

// checkConfirmations: an accept confirms every failed check of the process.
func checkConfirmations(failed, confirmations []string) error {
	confirmed := map[string]bool{}
	for _, c := range confirmations {
		confirmed[c] = true
	}
	for _, f := range failed {
		if !confirmed[f] {
			return errorf(CodeInvalid, FieldConfirm, "Confirm each failed check before accepting: tick every box above.")
		}
	}
	return nil
}

// corrections returns the checked corrections of an accept (D8). None needs no gateway
// call; some are compared with the gateway's data, so that old → new is true.
func (s *Service) corrections(ctx context.Context, id string, in DecideInput) (map[string]string, error) {
	cs, errs := CheckCorrections(in.Values, in.Originals, s.DB.Now())
	if len(errs) > 0 {
		e := &Error{Code: CodeInvalid, Field: FieldFields, Fields: map[string]string{}}
		for _, fe := range errs {
			e.Fields[fe.Field] = fe.Message
		}
		e.Message = i18n.M("Some corrections are not valid; see the messages beside the fields.")
		if len(errs) == 1 {
			e.Message = errs[0].Message
		}
		return nil, e
	}
	if len(cs) == 0 {
		return nil, nil
	}
	if !sameSummary(in.CorrectionsSeen, in.Values, in.Originals) {
		return nil, errorf(CodeConfirm, FieldFields, "Check the corrections listed below (old → new), then accept again to send them.")
	}
	info, err := s.info(ctx, id, false)
	switch ErrorCode(err) {
	case "":
		if err != nil {
			return nil, err
		}
	case CodeNotFound:
		return nil, errorf(CodeConflict, "", "Mobbscan no longer knows this process (it may have been deleted). Nothing was changed.")
	default:
		return nil, errorf(CodeUnavailable, FieldFields, "Mobbscan is not answering, so the corrections could not be checked against the data it holds. Try again in a moment, or accept without corrections.")
	}
	current := map[string]string{}
	for _, f := range info.PersonalData.Fields() {
		current[f.Key] = f.Value
	}
	out := map[string]string{}
	for _, c := range cs {
		if strings.TrimSpace(current[c.Key]) != c.Old {
			return nil, errorf(CodeConflict, FieldFields, "The data at Mobbscan changed since this page was opened. Reload the page and correct it again.")
		}
		out[c.Key] = c.New
	}
	return out, nil
}

// Values of an on/off setting.
const (
	settingOn  = "on"
	settingOff = "off"
)

// fields pairs each four-eyes setting's key with its switch.
func (fe *FourEyes) fields() map[string]*bool {
	return map[string]*bool{
		store.SettingFourEyesAccept:       &fe.Accept,
		store.SettingFourEyesAcceptFailed: &fe.AcceptFailed,
		store.SettingFourEyesReject:       &fe.Reject,
	}
}

// On reports the switch of the four-eyes setting key.
func (fe FourEyes) On(key string) bool {
	on, ok := fe.fields()[key]
	return ok && *on
}

// Set turns the four-eyes setting key on or off (unknown keys change nothing).
func (fe *FourEyes) Set(key string, on bool) {
	if f, ok := fe.fields()[key]; ok {
		*f = on
	}
}

// fourEyes reads the four-eyes settings (off unless set).
func (s *Service) fourEyes(ctx context.Context) (FourEyes, error) {
	var fe FourEyes
	for key, on := range fe.fields() {
		v, err := s.DB.Setting(ctx, key, settingOff)
		if err != nil {
			return fe, err
		}
		*on = v == settingOn
	}
	return fe, nil
}

// FourEyesSettings returns the four-eyes settings.
func (s *Service) FourEyesSettings(ctx context.Context) (FourEyes, error) { return s.fourEyes(ctx) }

// SetFourEyes stores the four-eyes settings (admins only); the store audits each change.
func (s *Service) SetFourEyes(ctx context.Context, a store.Actor, fe FourEyes) error {
	if !IsAdmin(a) {
		return errorf(CodeForbidden, "", "Only an administrator may change the settings.")
	}
	for key, on := range fe.fields() {
		v := settingOff
		if *on {
			v = settingOn
		}
		if err := s.DB.SetSetting(ctx, a, key, v); err != nil {
			return err
		}
	}
	return nil
}

// ConfirmSecond confirms a four-eyes decision as the holder of the page's claim; it is
// then delivered.
func (s *Service) ConfirmSecond(ctx context.Context, a store.Actor, id, seq int64) (*store.Decision, error) {
	d, err := s.DB.ConfirmSecond(ctx, a, id, maySecondReview(a, seq, true))
	if err != nil {
		return nil, s.refusedDecision(ctx, a, id, "second review (confirm)", err)
	}
	s.kickDelivery()
	return d, nil
}

// Overturn refuses a four-eyes decision, with a reason; the process returns to review
// with the second agent holding the claim.
func (s *Service) Overturn(ctx context.Context, a store.Actor, id, seq int64, note string) error {
	note, err := LimitOverturnNote.Check(note)
	if err == nil {
		err = s.DB.Overturn(ctx, a, id, note, s.cfg.ClaimTTL, maySecondReview(a, seq, false))
	}
	if err != nil {
		return s.refusedDecision(ctx, a, id, "second review (overturn)", err)
	}
	return nil
}

// refusedDecision audits a refused action on decision id, against its process.
func (s *Service) refusedDecision(ctx context.Context, a store.Actor, id int64, what string, err error) error {
	err = translate(err)
	if ErrorCode(err) == CodeNotFound {
		return err
	}
	pid := ""
	if d, gerr := s.DB.GetDecision(ctx, id); gerr == nil {
		pid = d.ProcessID
	}
	return s.refused(ctx, a, pid, what+" of decision "+strconv.FormatInt(id, 10), err)
}

// Retry puts a decision back in the delivery queue now (its author or an admin).
func (s *Service) Retry(ctx context.Context, a store.Actor, id int64) error {
	err := s.DB.RetryDelivery(ctx, a, id, mayRetry(a))
	if ErrorCode(err) == CodeForbidden {
		if d, gerr := s.DB.GetDecision(ctx, id); gerr == nil {
			_ = s.Deny(ctx, a, "process", d.ProcessID, "delivery retry of decision "+strconv.FormatInt(id, 10)+" by someone who did not make it")
		}
	}
	if err == nil {
		s.kickDelivery()
	}
	return translate(err)
}

// Resolve records that an admin settled a parked or conflicting decision with
// Mobbscan directly; the note says what was done.
func (s *Service) Resolve(ctx context.Context, a store.Actor, id int64, note string) error {
	note, err := LimitResolveNote.Check(note)
	if err != nil {
		return err
	}
	return translate(s.DB.ResolveDecision(ctx, a, id, note, mayResolve(a)))
}

func (s *Service) kickDelivery() {
	select {
	case s.deliveryWake <- struct{}{}:
	default:
	}
}

// wantStatus is the gateway status a verdict leads to.
func wantStatus(v store.Verdict) mobbscan.Status { return mobbscan.Status(v.GatewayStatus()) }

// DeliverOnce sends due decisions to the gateway and returns how many it attempted.
func (s *Service) DeliverOnce(ctx context.Context) (int, error) {
	due, err := s.DB.DueDeliveries(ctx, 20)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range due {
		if ctx.Err() != nil {
			break
		}
		ok, err := s.DB.StartDelivery(ctx, d.ID)
		if err != nil {
			return n, err
		}
		if !ok {
			continue
		}
		n++
		d, err = s.startedDecision(ctx, d)
		if err != nil {
			return n, err
		}
		// An attempt under way finishes even when shutdown begins (the client's own
		// timeouts bound it), so that its outcome is recorded, not guessed (D4).
		callCtx := context.WithoutCancel(ctx)
		o := s.deliver(callCtx, d)
		if err := s.DB.FinishDelivery(callCtx, d, o); errors.Is(err, store.ErrStaleAttempt) {
			// This instance's heartbeat expired during the call and another instance took
			// the decision over: it is the new owner's, which reads the status first (D3).
			s.Log.Warn("decision delivery outcome dropped: another instance took the decision over meanwhile",
				"decision_id", d.ID, "process_id", d.ProcessID, "state", o.State, "attempt", d.Attempts+1)
			continue
		} else if err != nil {
			return n, err
		}
		if o.State == store.StateDelivered {
			s.Forget(d.ProcessID)
		}
		s.Log.Info("decision delivery", "decision_id", d.ID, "process_id", d.ProcessID, "state", o.State, "attempt", d.Attempts+1)
	}
	return n, nil
}

// startedDecision re-reads decision d after its StartDelivery, as it was just before it:
// the list d came from may be older, for another instance may have made an attempt
// meanwhile and left it ambiguous, and the attempt must follow the row (D3).
func (s *Service) startedDecision(ctx context.Context, d *store.Decision) (*store.Decision, error) {
	cur, err := s.DB.GetDecision(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	cur.State, cur.Attempts = store.StateQueued, cur.Attempts-1
	return cur, nil
}

// deliver makes one attempt (D2, D3).
func (s *Service) deliver(ctx context.Context, d *store.Decision) store.DeliveryOutcome {
	want := wantStatus(d.Verdict)
	if d.Ambiguous {
		// The last attempt may have reached the gateway: read before sending again.
		st, err := s.Client.Status(ctx, d.ProcessID)
		if errors.Is(err, mobbscan.ErrNotFound) {
			return store.DeliveryOutcome{State: store.StateConflict, Audit: true, Error: i18n.M("Mobbscan no longer knows this process")}
		}
		if err != nil {
			return s.retryOutcome(d, err, true)
		}
		switch {
		case st.Status == want:
			return store.DeliveryOutcome{State: store.StateDelivered, GatewayStatus: string(st.Status), Audit: true}
		case st.Status.Final():
			return store.DeliveryOutcome{State: store.StateConflict, GatewayStatus: string(st.Status), Audit: true,
				Error: fmt.Sprintf(i18n.M("Mobbscan already holds another verdict: %s"), st.Status)}
		}
	}
	var err error
	var res *mobbscan.DecisionResult
	if d.Verdict == store.VerdictReject {
		res, err = s.Client.Reject(ctx, d.ProcessID, d.Comment)
	} else {
		res, err = s.Client.Accept(ctx, d.ProcessID, d.Corrections)
	}
	if err == nil {
		status := string(want)
		if res != nil && res.Status != "" && res.Status != mobbscan.StatusUnknown {
			status = string(res.Status)
		}
		return store.DeliveryOutcome{State: store.StateDelivered, GatewayStatus: status, Audit: true}
	}
	var ge *mobbscan.Error
	errors.As(err, &ge)
	switch {
	case errors.Is(err, mobbscan.ErrConflict):
		cur := mobbscan.Status("")
		if ge != nil {
			cur = ge.CurrentStatus
		}
		if cur == "" || cur == mobbscan.StatusUnknown {
			if st, serr := s.Client.Status(ctx, d.ProcessID); serr == nil {
				cur = st.Status
			}
		}
		if cur == want {
			return store.DeliveryOutcome{State: store.StateDelivered, GatewayStatus: string(cur), Audit: true}
		}
		msg := i18n.M("Mobbscan refused the decision: the process is not in review")
		if cur != "" {
			msg = fmt.Sprintf(i18n.M("Mobbscan refused the decision: the process is not in review (status %s)"), cur)
		}
		return store.DeliveryOutcome{State: store.StateConflict, GatewayStatus: string(cur), Audit: true, Error: msg}
	case errors.Is(err, mobbscan.ErrNotFound):
		return store.DeliveryOutcome{State: store.StateConflict, Audit: true, Error: i18n.M("Mobbscan no longer knows this process")}
	case errors.Is(err, mobbscan.ErrBadRequest):
		return store.DeliveryOutcome{State: store.StateParked, Audit: true, Error: fmt.Sprintf(i18n.M("Mobbscan refused the request: %s"), err)}
	}
	return s.retryOutcome(d, err, ge != nil && ge.Ambiguous() || errors.Is(err, mobbscan.ErrBadResponse))
}

// outboxRetry is the outboxes' retry rule (D2), for decisions and erasures alike: an
// item deliverable for ParkAfter is parked for a person; otherwise the next attempt
// waits a capped exponential backoff with jitter, or the gateway's Retry-After if longer.
func (s *Service) outboxRetry(deliverableSince time.Time, attempts int, err error) (park bool, next time.Time) {
	now := s.DB.Now()
	if now.Sub(deliverableSince) >= s.cfg.ParkAfter {
		return true, time.Time{}
	}
	wait := jitter(backoff(s.cfg.RetryBase, s.cfg.RetryMax, attempts))
	var ge *mobbscan.Error
	if errors.As(err, &ge) && ge.RetryAfter > wait {
		wait = ge.RetryAfter
	}
	return false, now.Add(wait)
}

// retryOutcome schedules another delivery attempt, or parks the decision (outboxRetry).
func (s *Service) retryOutcome(d *store.Decision, err error, ambiguous bool) store.DeliveryOutcome {
	park, next := s.outboxRetry(d.DeliverableSince, d.Attempts, err)
	if park {
		return store.DeliveryOutcome{State: store.StateParked, Ambiguous: ambiguous || d.Ambiguous, Audit: true,
			Error: fmt.Sprintf(i18n.M("not delivered within %s; last error: %s"), s.cfg.ParkAfter, err)}
	}
	return store.DeliveryOutcome{State: store.StateQueued, Next: next, Ambiguous: ambiguous || d.Ambiguous, Error: err.Error()}
}

// RunDelivery delivers decisions until ctx ends: on a kick after a decision, and on a
// timer for retries. Every instance runs it; StartDelivery gives each decision to one.
// At start it recovers what this instance's previous life (or a stopped instance) left
// "sending"; afterwards it takes over, every heartbeat, what instances that stopped left
// (store/instances.go). Parking stale decisions is the leader's (Leader).
func (s *Service) RunDelivery(ctx context.Context) {
	if n, err := s.DB.RecoverDeliveries(ctx); err != nil {
		s.Log.Error("recover deliveries", "error", err)
	} else if n > 0 {
		s.Log.Warn("recovered deliveries interrupted by a stop; their status is read before sending again", "count", n)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	park := time.NewTicker(time.Minute)
	defer park.Stop()
	takeOver := time.NewTicker(store.HeartbeatEvery)
	defer takeOver.Stop()
	for {
		for ctx.Err() == nil {
			n, err := s.DeliverOnce(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.Log.Error("deliver", "error", err)
				}
				break
			}
			if n == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.deliveryWake:
		case <-tick.C:
		case <-takeOver.C:
			s.takeOver(ctx, "decision deliveries", s.DB.TakeOverDeliveries)
		case <-park.C:
			if s.Leader(ctx) {
				s.parkStale(ctx)
			}
		}
	}
}

// parkStale parks the decisions not delivered within ParkAfter (D2).
func (s *Service) parkStale(ctx context.Context) {
	if n, err := s.DB.ParkStale(ctx, s.cfg.ParkAfter); err != nil && ctx.Err() == nil {
		s.Log.Error("park stale deliveries", "error", err)
	} else if n > 0 {
		s.Log.Warn("parked undelivered decisions", "count", n)
	}
}
