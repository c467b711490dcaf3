package review

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mobbscan-review/portal/mobbscan"
	"github.com/mobbscan-review/portal/store"
)

// ConfirmationError lists the failed checks an accept did not confirm.
type ConfirmationError struct{ Missing []string }

func (e *ConfirmationError) Error() string {
	return "confirm each failed check before accepting: " + strings.Join(e.Missing, ", ")
}

func (e *ConfirmationError) Unwrap() error { return ErrBadInput }

// DecideInput is an agent's decision as the form sent it.
type DecideInput struct {
	ProcessID     string
	Verdict       string // store.VerdictAccept or store.VerdictReject
	ReasonID      int64
	Addition      string            // free text added to the reason's customer wording
	InternalNote  string            // kept in the portal, never sent
	Confirmations []string          // failed checks the agent confirmed having looked at
	Corrections   map[string]string // corrected personal data (accept only)
}

// Limits of what an agent types.
const (
	MaxAddition   = 500
	MaxNote       = 2000
	MaxCorrection = 200
)

// Decide validates and records a decision; delivery happens in the background. The
// rules: only the claim holder decides a process in review; a reject needs an active
// reason; an accept confirms every failed check; corrections touch known fields only.
func (s *Service) Decide(ctx context.Context, a store.Actor, in DecideInput) (*store.Decision, error) {
	if in.Verdict != store.VerdictAccept && in.Verdict != store.VerdictReject {
		return nil, fmt.Errorf("%w: unknown verdict", ErrBadInput)
	}
	if utf8.RuneCountInString(in.InternalNote) > MaxNote {
		return nil, fmt.Errorf("%w: the internal note is too long (%d characters at most)", ErrBadInput, MaxNote)
	}
	p, err := s.DB.GetProcess(ctx, in.ProcessID)
	if err != nil {
		return nil, err
	}
	nd := store.NewDecision{ProcessID: p.ID, Verdict: in.Verdict, InternalNote: strings.TrimSpace(in.InternalNote)}
	switch in.Verdict {
	case store.VerdictReject:
		if in.ReasonID == 0 {
			return nil, fmt.Errorf("%w: choose a reason for the rejection", ErrBadInput)
		}
		r, err := s.DB.GetReason(ctx, in.ReasonID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !r.Active) {
			return nil, fmt.Errorf("%w: that reason is unknown or retired; choose another", ErrBadInput)
		}
		if err != nil {
			return nil, err
		}
		add := strings.TrimSpace(in.Addition)
		if utf8.RuneCountInString(add) > MaxAddition {
			return nil, fmt.Errorf("%w: the addition is too long (%d characters at most)", ErrBadInput, MaxAddition)
		}
		nd.ReasonID, nd.Comment = r.ID, r.CustomerText
		if add != "" {
			nd.Comment += " " + add
		}
	case store.VerdictAccept:
		confirmed := map[string]bool{}
		for _, c := range in.Confirmations {
			confirmed[c] = true
		}
		var missing []string
		for _, f := range p.Failed {
			if !confirmed[f] {
				missing = append(missing, f)
			}
		}
		if len(missing) > 0 {
			return nil, &ConfirmationError{Missing: missing}
		}
		nd.Confirmations = p.Failed
		if len(in.Corrections) > 0 {
			corr, err := s.checkCorrections(ctx, p.ID, in.Corrections)
			if err != nil {
				return nil, err
			}
			nd.Corrections = corr
		}
	}
	if nd.SecondReview, err = s.needsSecondReview(ctx, in.Verdict, len(p.Failed) > 0); err != nil {
		return nil, err
	}
	d, err := s.DB.Decide(ctx, a, nd)
	if err != nil {
		return nil, err
	}
	s.Forget(p.ID)
	s.InvalidateCounts()
	s.kickDelivery()
	return d, nil
}

// checkCorrections keeps the corrections that change a field the gateway sent.
func (s *Service) checkCorrections(ctx context.Context, id string, in map[string]string) (map[string]string, error) {
	info, err := s.Info(ctx, id, false)
	if err != nil {
		return nil, err
	}
	current := map[string]string{}
	for _, f := range info.Personal {
		current[f[0]] = f[1]
	}
	out := map[string]string{}
	for k, v := range in {
		old, ok := current[k]
		if !ok {
			return nil, fmt.Errorf("%w: %q is not a field of this process", ErrBadInput, k)
		}
		v = strings.TrimSpace(v)
		if utf8.RuneCountInString(v) > MaxCorrection || strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("%w: a corrected value has at most %d characters on one line", ErrBadInput, MaxCorrection)
		}
		if v != old {
			out[k] = v
		}
	}
	return out, nil
}

// needsSecondReview applies the four-eyes settings.
func (s *Service) needsSecondReview(ctx context.Context, verdict string, hasFailed bool) (bool, error) {
	get := func(key string) (bool, error) {
		v, err := s.DB.Setting(ctx, key, "off")
		return v == "on", err
	}
	switch verdict {
	case store.VerdictReject:
		return get(store.SettingFourEyesReject)
	default:
		all, err := get(store.SettingFourEyesAccept)
		if err != nil || all {
			return all, err
		}
		if !hasFailed {
			return false, nil
		}
		return get(store.SettingFourEyesAcceptFailed)
	}
}

// ConfirmSecond confirms a four-eyes decision; it is then delivered.
func (s *Service) ConfirmSecond(ctx context.Context, a store.Actor, id int64) (*store.Decision, error) {
	d, err := s.DB.ConfirmSecond(ctx, a, id)
	if err == nil {
		s.kickDelivery()
	}
	return d, err
}

// Overturn refuses a four-eyes decision; the process returns to review with the
// second agent holding the claim.
func (s *Service) Overturn(ctx context.Context, a store.Actor, id int64, note string) error {
	err := s.DB.Overturn(ctx, a, id, clip(strings.TrimSpace(note), 500), s.cfg.ClaimTTL)
	if err == nil {
		s.InvalidateCounts()
	}
	return err
}

// Retry puts a decision back in the delivery queue now.
func (s *Service) Retry(ctx context.Context, a store.Actor, id int64) error {
	err := s.DB.RetryDelivery(ctx, a, id)
	if err == nil {
		s.kickDelivery()
	}
	return err
}

func (s *Service) kickDelivery() {
	select {
	case s.deliveryWake <- struct{}{}:
	default:
	}
}

// wantStatus is the gateway status a verdict leads to.
func wantStatus(verdict string) mobbscan.Status {
	if verdict == store.VerdictReject {
		return mobbscan.StatusNotVerified
	}
	return mobbscan.StatusVerified
}

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
		// An attempt under way finishes even when shutdown begins (the client's own
		// timeouts bound it), so that its outcome is recorded, not guessed (D4).
		callCtx := context.WithoutCancel(ctx)
		o := s.deliver(callCtx, d)
		if err := s.DB.FinishDelivery(callCtx, d, o); err != nil {
			return n, err
		}
		if o.State == store.StateDelivered {
			s.Forget(d.ProcessID)
		}
		s.Log.Info("decision delivery", "decision_id", d.ID, "process_id", d.ProcessID, "state", o.State, "attempt", d.Attempts+1)
	}
	return n, nil
}

// deliver makes one attempt (D2, D3).
func (s *Service) deliver(ctx context.Context, d *store.Decision) store.DeliveryOutcome {
	want := wantStatus(d.Verdict)
	if d.Ambiguous {
		// The last attempt may have reached the gateway: read before sending again.
		st, err := s.Client.Status(ctx, d.ProcessID)
		if errors.Is(err, mobbscan.ErrNotFound) {
			return store.DeliveryOutcome{State: store.StateConflict, Audit: true, Error: "Mobbscan no longer knows this process"}
		}
		if err != nil {
			return s.retryOutcome(d, err, true)
		}
		switch {
		case st.Status == want:
			return store.DeliveryOutcome{State: store.StateDelivered, GatewayStatus: string(st.Status), Audit: true}
		case st.Status.Final():
			return store.DeliveryOutcome{State: store.StateConflict, GatewayStatus: string(st.Status), Audit: true,
				Error: "Mobbscan already holds another verdict: " + string(st.Status)}
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
		msg := "Mobbscan refused the decision: the process is not in review"
		if cur != "" {
			msg += " (status " + string(cur) + ")"
		}
		return store.DeliveryOutcome{State: store.StateConflict, GatewayStatus: string(cur), Audit: true, Error: msg}
	case errors.Is(err, mobbscan.ErrNotFound):
		return store.DeliveryOutcome{State: store.StateConflict, Audit: true, Error: "Mobbscan no longer knows this process"}
	case errors.Is(err, mobbscan.ErrBadRequest):
		return store.DeliveryOutcome{State: store.StateParked, Audit: true, Error: "Mobbscan refused the request: " + err.Error()}
	}
	return s.retryOutcome(d, err, ge != nil && ge.Ambiguous() || errors.Is(err, mobbscan.ErrBadResponse))
}

// retryOutcome schedules another attempt with capped exponential backoff and jitter,
// honouring Retry-After, or parks the decision once it is older than ParkAfter.
func (s *Service) retryOutcome(d *store.Decision, err error, ambiguous bool) store.DeliveryOutcome {
	now := s.DB.Now()
	if now.Sub(d.DeliverableSince) >= s.cfg.ParkAfter {
		return store.DeliveryOutcome{State: store.StateParked, Ambiguous: ambiguous || d.Ambiguous, Audit: true,
			Error: "not delivered within " + s.cfg.ParkAfter.String() + "; last error: " + err.Error()}
	}
	wait := jitter(backoff(s.cfg.RetryBase, s.cfg.RetryMax, d.Attempts))
	var ge *mobbscan.Error
	if errors.As(err, &ge) && ge.RetryAfter > wait {
		wait = ge.RetryAfter
	}
	return store.DeliveryOutcome{State: store.StateQueued, Next: now.Add(wait), Ambiguous: ambiguous || d.Ambiguous, Error: err.Error()}
}

// RunDelivery delivers decisions until ctx ends: on a kick after a decision, and on a
// timer for retries. Decisions left "sending" by a crash are recovered first.
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
		case <-park.C:
			if n, err := s.DB.ParkStale(ctx, s.cfg.ParkAfter); err != nil && ctx.Err() == nil {
				s.Log.Error("park stale deliveries", "error", err)
			} else if n > 0 {
				s.Log.Warn("parked undelivered decisions", "count", n)
			}
		}
	}
}
