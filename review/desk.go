package review

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/mobbscan"
	"github.com/mobbscan-review/portal/store"
)

// Running the desk: skip, escalate, send a finished process back to review at the
// gateway, and QA sampling. The rules are in rules.go ("Running the desk").

// Limits of the desk settings.
const (
	DefaultSkipMinutes = 30
	MaxSkipMinutes     = 7 * 24 * 60
	MaxSamplePercent   = 100
	sendBackBatch      = 20 // send-backs attempted per look (with the erasures, every two seconds)
)

// Field names of the desk settings form.
const (
	FieldSkipMinutes   = "skip_minutes"
	FieldSamplePercent = "qa_sample_percent"
)

// DeskSettings are the admin settings of skip and QA sampling.
type DeskSettings struct {
	SkipMinutes   int // a skipped case stays out of the agent's "Next case" this long
	SamplePercent int // share of processes the gateway verified automatically that is sent back for a human check
}

// SkipFor is how long a skip lasts.
func (d DeskSettings) SkipFor() time.Duration { return time.Duration(d.SkipMinutes) * time.Minute }

// DeskSettings returns the desk settings; a stored value that is not valid (never
// written by the portal) falls back to the default.
func (s *Service) DeskSettings(ctx context.Context) (DeskSettings, error) {
	d := DeskSettings{SkipMinutes: DefaultSkipMinutes}
	skip, err := s.DB.Setting(ctx, store.SettingSkipMinutes, "")
	if err != nil {
		return d, err
	}
	sample, err := s.DB.Setting(ctx, store.SettingQASamplePercent, "")
	if err != nil {
		return d, err
	}
	if n, err := strconv.Atoi(skip); err == nil && n >= 1 && n <= MaxSkipMinutes {
		d.SkipMinutes = n
	}
	if n, err := strconv.Atoi(sample); err == nil && n >= 0 && n <= MaxSamplePercent {
		d.SamplePercent = n
	}
	return d, nil
}

// ParseDeskSettings checks the desk settings as the form sent them: the skip time 1
// minute to 7 days, the sample 0–100 %. The error is a CodeInvalid *Error with a
// message per wrong field.
func ParseDeskSettings(skip, sample string) (DeskSettings, error) {
	var d DeskSettings
	e := &Error{Code: CodeInvalid, Fields: map[string]string{}}
	n, err := strconv.Atoi(strings.TrimSpace(skip))
	if err != nil || n < 1 || n > MaxSkipMinutes {
		e.Fields[FieldSkipMinutes] = fmt.Sprintf(i18n.M("Enter how many minutes a skipped case stays out of the agent's next case: a whole number from 1 to %d."), MaxSkipMinutes)
	}
	d.SkipMinutes = n
	m, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(sample), "%"))
	if err != nil || m < 0 || m > MaxSamplePercent {
		e.Fields[FieldSamplePercent] = i18n.M("Enter the share to sample as a whole percentage from 0 (off) to 100.")
	}
	d.SamplePercent = m
	return d, e.fieldsOrNil(FieldSkipMinutes, i18n.M("Both settings need correcting; see the messages beside the fields."))
}

// SetDeskSettings stores the desk settings (admins only); the store audits each change.
// Nothing is stored unless both values are valid.
func (s *Service) SetDeskSettings(ctx context.Context, a store.Actor, skip, sample string) (DeskSettings, error) {
	if !IsAdmin(a) {
		return DeskSettings{}, errorf(CodeForbidden, "", "Only an administrator may change the settings.")
	}
	d, err := ParseDeskSettings(skip, sample)
	if err != nil {
		return d, err
	}
	if err := s.DB.SetSetting(ctx, a, store.SettingSkipMinutes, strconv.Itoa(d.SkipMinutes)); err != nil {
		return d, err
	}
	return d, s.DB.SetSetting(ctx, a, store.SettingQASamplePercent, strconv.Itoa(d.SamplePercent))
}

// Skip releases the claim a's page holds (seq) and keeps the case out of a's "Next
// case" for the configured time.
func (s *Service) Skip(ctx context.Context, a store.Actor, id string, seq int64) error {
	d, err := s.DeskSettings(ctx)
	if err != nil {
		return err
	}
	return translate(s.DB.Skip(ctx, a, id, d.SkipFor(), holdsClaim(a, seq)))
}

// Escalate passes the case a's page holds (seq) to the administrators, with a note
// saying why.
func (s *Service) Escalate(ctx context.Context, a store.Actor, id string, seq int64, note string) error {
	note, err := LimitEscalationNote.Check(note)
	if err != nil {
		return err
	}
	return translate(s.DB.Escalate(ctx, a, id, note, mayEscalate(a, seq)))
}

// Deescalate returns an escalated case to the queue (administrators).
func (s *Service) Deescalate(ctx context.Context, a store.Actor, id string) error {
	return translate(s.DB.Deescalate(ctx, a, id, mayDeescalate(a)))
}

// CountEscalated returns how many cases wait in the Escalated view.
func (s *Service) CountEscalated(ctx context.Context) (int, error) {
	return s.DB.CountEscalated(ctx)
}

// SendBack queues a request to send a finished process back to manual review at the
// gateway (administrators), with the reason.
func (s *Service) SendBack(ctx context.Context, a store.Actor, id, reason string) (*store.SendBack, error) {
	reason, err := LimitSendBackReason.Check(reason)
	if err != nil {
		return nil, err
	}
	sb, err := s.DB.RequestSendBack(ctx, a, id, reason, maySendBack(a))
	if err != nil {
		return nil, translate(err)
	}
	return sb, nil
}

// RetrySendBack queues a failed or parked send-back again (administrators).
func (s *Service) RetrySendBack(ctx context.Context, a store.Actor, id int64) error {
	return translate(s.DB.RetrySendBack(ctx, a, id, mayRetrySendBack(a)))
}

// sampleIfVerified sends a process the gateway verified automatically back for a human
// check when it falls in the sample (QA sampling); called after the index learns a
// process's new state. A failure is logged: sampling never blocks the intake.
func (s *Service) sampleIfVerified(ctx context.Context, snap store.Snapshot) {
	if !snap.Final || snap.Status != store.VerdictAccept.GatewayStatus() {
		return
	}
	id := snap.ID
	d, err := s.DeskSettings(ctx)
	if err != nil || d.SamplePercent == 0 {
		return
	}
	sampled, err := s.DB.SampleForQA(ctx, id, qaSample(d.SamplePercent))
	switch {
	case err != nil && !errors.Is(err, store.ErrNotFound):
		s.Log.Error("QA sampling", "process_id", id, "error", err)
	case sampled:
		s.Log.Info("QA sampling: sending an automatically verified process back for a human check", "process_id", id)
	}
}

// SendBackOnce attempts the due send-backs and returns how many it attempted; like
// EraseOnce, an attempt under way finishes even when shutdown begins.
func (s *Service) SendBackOnce(ctx context.Context) (int, error) {
	if s.Client == nil {
		return 0, nil
	}
	due, err := s.DB.DueSendBacks(ctx, sendBackBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, sb := range due {
		if ctx.Err() != nil {
			break
		}
		ok, err := s.DB.StartSendBack(ctx, sb.ID)
		if err != nil {
			return n, err
		}
		if !ok {
			continue
		}
		n++
		callCtx := context.WithoutCancel(ctx)
		o := s.sendBack(callCtx, sb)
		if err := s.DB.FinishSendBack(callCtx, sb, o); err != nil {
			return n, err
		}
		s.Log.Info("send back to review", "send_back_id", sb.ID, "process_id", sb.ProcessID, "state", o.State, "attempt", sb.Attempts+1)
		if o.State == store.ErasureDone {
			s.refresh(callCtx, sb.ProcessID)
		}
	}
	return n, nil
}

// sendBack makes one attempt. The gateway leaves a process already in review alone, so
// after an ambiguous attempt the request is simply sent again.
func (s *Service) sendBack(ctx context.Context, sb *store.SendBack) store.ErasureOutcome {
	err := s.Client.Pending(ctx, sb.ProcessID)
	switch {
	case err == nil:
		return store.ErasureOutcome{State: store.ErasureDone, Ambiguous: sb.Ambiguous, Audit: true, Note: "Mobbscan put the process back into manual review"}
	case errors.Is(err, mobbscan.ErrNotFound), errors.Is(err, mobbscan.ErrBadRequest), errors.Is(err, mobbscan.ErrConflict):
		return store.ErasureOutcome{State: store.ErasureFailed, Ambiguous: sb.Ambiguous, Audit: true,
			Error: fmt.Sprintf(i18n.M("Mobbscan refused to put the process back into review: %s"), err)}
	}
	var ge *mobbscan.Error
	ambiguous := errors.As(err, &ge) && ge.Ambiguous() || errors.Is(err, mobbscan.ErrBadResponse)
	park, next := s.outboxRetry(sb.DeliverableSince, sb.Attempts, err)
	if park {
		return store.ErasureOutcome{State: store.ErasureParked, Ambiguous: ambiguous || sb.Ambiguous, Audit: true,
			Error: fmt.Sprintf(i18n.M("not sent back within %s; last error: %s"), s.cfg.ParkAfter, err)}
	}
	return store.ErasureOutcome{State: store.ErasureQueued, Next: next, Ambiguous: ambiguous || sb.Ambiguous, Error: err.Error()}
}

// refresh re-reads a process from the gateway and indexes it, so a process sent back
// is in the queue at once; if the read fails, the reconciler (the process is due for a
// status check) or the gateway's webhook brings it.
func (s *Service) refresh(ctx context.Context, id string) {
	p, err := s.Client.Process(ctx, id)
	if err != nil {
		s.Log.Warn("re-read after send-back failed; the reconciler will pick it up", "process_id", id, "error", err)
		return
	}
	s.remember(p)
	cur, err := s.DB.GetProcess(ctx, id)
	if err != nil {
		return
	}
	snap := SnapshotOf(p)
	if _, err := s.DB.UpsertProcess(ctx, cur.Source, snap, s.nextCheck(snap, 0)); err != nil {
		s.Log.Error("index after send-back", "process_id", id, "error", err)
	}
}
