package review

// Retention and erasure: the settings (how long the index keeps identity data, when
// processes are erased at the gateway), their rules, the worker that purges and queues
// erasures, the erasure outbox's delivery, and an administrator's "Erase now".
//
// The rules of this file (MayErase, Purgeable, Erasable, ErasureRetryable, LastActivity)
// are review rules like those of rules.go; they live here while rules.go is being
// changed by others, and can move there unchanged.

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

// Limits of the retention settings, declared once: the settings form, the server's check
// and the messages read them from here.
const (
	MinRetentionDays = 1
	MaxRetentionDays = 36500 // a hundred years
)

// Form fields of the retention settings (Error.Field, Error.Fields).
const (
	FieldRetentionDays  = "retention_days"
	FieldEraseAfterDays = "erase_after_days"
)

// Pace of the retention worker.
const (
	retentionEvery = 10 * time.Minute // purge run (and one at start)
	retentionBatch = 100              // processes looked at per transaction
	erasureEvery   = 2 * time.Second  // look for due erasures
	erasureBatch   = 20               // erasures attempted per look
)

// Retention is the effective retention: how long the index keeps the identity data of
// final processes, and after how long they are erased at the gateway (0: never).
type Retention struct {
	KeepDays  int
	EraseDays int
}

// Keep is the retention period.
func (r Retention) Keep() time.Duration { return days(r.KeepDays) }

// Erase is the erasure period; 0 means never.
func (r Retention) Erase() time.Duration { return days(r.EraseDays) }

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

// DefaultRetention is the retention the deployment's configuration sets (Config.Retention
// and Config.EraseAfter, in whole days, within the settings' limits); the settings page
// overrides it once saved.
func (s *Service) DefaultRetention() Retention {
	keep := min(max(int(s.cfg.Retention/(24*time.Hour)), MinRetentionDays), MaxRetentionDays)
	erase := min(max(int(s.cfg.EraseAfter/(24*time.Hour)), 0), MaxRetentionDays)
	return Retention{KeepDays: keep, EraseDays: erase}
}

// RetentionSettings returns the effective retention: the admin settings, else the
// configuration's defaults. A stored value that is not a valid number of days (never
// written by the portal) falls back to the default.
func (s *Service) RetentionSettings(ctx context.Context) (Retention, error) {
	def := s.DefaultRetention()
	r := def
	keep, err := s.DB.Setting(ctx, store.SettingRetentionDays, "")
	if err != nil {
		return def, err
	}
	erase, err := s.DB.Setting(ctx, store.SettingEraseAfterDays, "")
	if err != nil {
		return def, err
	}
	if n, err := strconv.Atoi(keep); err == nil && n >= MinRetentionDays && n <= MaxRetentionDays {
		r.KeepDays = n
	}
	if n, err := strconv.Atoi(erase); err == nil && (n == 0 || n >= MinRetentionDays && n <= MaxRetentionDays) {
		r.EraseDays = n
	}
	return r, nil
}

// ParseRetention checks the retention settings as the form sent them: the retention
// period 1–36500 days, the erasure period 0 (never) or 1–36500 days. The error is a
// CodeInvalid *Error with a message per wrong field.
func ParseRetention(keep, erase string) (Retention, error) {
	var r Retention
	e := &Error{Code: CodeInvalid, Fields: map[string]string{}}
	n, err := strconv.Atoi(strings.TrimSpace(keep))
	if err != nil || n < MinRetentionDays || n > MaxRetentionDays {
		e.Fields[FieldRetentionDays] = fmt.Sprintf(i18n.M("Enter the number of days to keep identity data: a whole number from %d to %d."),
			MinRetentionDays, MaxRetentionDays)
	}
	r.KeepDays = n
	erase = strings.TrimSpace(erase)
	if erase == "" {
		erase = "0"
	}
	m, err := strconv.Atoi(erase)
	if err != nil || m != 0 && (m < MinRetentionDays || m > MaxRetentionDays) {
		e.Fields[FieldEraseAfterDays] = fmt.Sprintf(i18n.M("Enter 0 to never erase processes at Mobbscan, or a whole number of days from %d to %d."),
			MinRetentionDays, MaxRetentionDays)
	}
	r.EraseDays = m
	return r, e.fieldsOrNil(FieldRetentionDays, i18n.M("Both periods need correcting; see the messages beside the fields."))
}

// SetRetention stores the retention settings (admins only); the store audits each
// change. Nothing is stored unless both values are valid.
func (s *Service) SetRetention(ctx context.Context, a store.Actor, keep, erase string) (Retention, error) {
	if !IsAdmin(a) {
		return Retention{}, errorf(CodeForbidden, "", "Only an administrator may change the settings.")
	}
	r, err := ParseRetention(keep, erase)
	if err != nil {
		return r, err
	}
	if err := s.DB.SetSetting(ctx, a, store.SettingRetentionDays, strconv.Itoa(r.KeepDays)); err != nil {
		return r, err
	}
	return r, s.DB.SetSetting(ctx, a, store.SettingEraseAfterDays, strconv.Itoa(r.EraseDays))
}

// MayErase: only an administrator erases processes or retries an erasure.
func MayErase(a store.Actor) error {
	if !IsAdmin(a) {
		return errorf(CodeForbidden, "", "Only an administrator may erase a process.")
	}
	return nil
}

// LastActivity is when retention counts from: the later of the process's last update at
// the gateway (when the portal first saw it, if unknown) and the last change of its live
// decision (decided, confirmed, delivered, resolved).
func LastActivity(c *store.Case) time.Time {
	t := c.Process.UpdatedAt
	if t.IsZero() {
		t = c.Process.FirstSeenAt
	}
	if d := c.Decision; d != nil && d.UpdatedAt.After(t) {
		t = d.UpdatedAt
	}
	return t
}

// stillInWorkflow refuses a process the workflow still needs: in review (claimed or not),
// or with a decision Mobbscan does not have yet (awaiting a second agent, queued,
// sending, parked or in conflict).
func stillInWorkflow(c *store.ErasureCase) error {
	switch {
	case c.Process.Reviewable:
		return errorf(CodeConflict, "", "This process is in review. Decide it first; it can be erased once the decision has reached Mobbscan.")
	case c.Decision != nil && c.Decision.State.Undelivered():
		return errorf(CodeConflict, "", "This process has a decision that has not reached Mobbscan yet (%s). Erase it once the decision is delivered or resolved.",
			strings.ToLower(c.Decision.StateLabel()))
	}
	return nil
}

// Purgeable (retention) reports, as an error, whether the identity data of a process
// may be cleared by the retention worker for a period ending at before: it is final (or
// gone from the gateway), out of the workflow (stillInWorkflow), and its last activity
// (LastActivity) is before before.
func Purgeable(c *store.ErasureCase, before time.Time) error {
	if err := stillInWorkflow(c); err != nil {
		return err
	}
	switch {
	case !c.Process.Final && !c.Process.Gone:
		return errorf(CodeConflict, "", "This process is not final.")
	case !LastActivity(c.Case).Before(before):
		return errorf(CodeConflict, "", "This process changed too recently.")
	}
	return nil
}

// Erasable ("Erase now") reports, as an error, whether a process may be purged and
// erased at the gateway now, whatever the periods: it is out of the workflow
// (stillInWorkflow; a process whose customer never finished may be erased), and its
// erasure is not under way or done already (a failed or parked one is queued again).
func Erasable(c *store.ErasureCase) error {
	if err := stillInWorkflow(c); err != nil {
		return err
	}
	switch e := c.Erasure; {
	case e == nil, ErasureRetryable(e):
		return nil
	case e.State == store.ErasureDone:
		return errorf(CodeConflict, "", "This process was already erased at Mobbscan.")
	}
	return errorf(CodeConflict, "", "The erasure of this process at Mobbscan is already under way.")
}

// ErasureRetryable: an administrator may send the erasure worker after a failed or parked
// erasure.
func ErasureRetryable(e *store.Erasure) bool { return e != nil && e.State.NeedsPerson() }

func mayPurge(before time.Time) store.ErasureRule {
	return func(c *store.ErasureCase) error { return Purgeable(c, before) }
}

func mayEraseNow(a store.Actor) store.ErasureRule {
	return func(c *store.ErasureCase) error {
		if err := MayErase(a); err != nil {
			return err
		}
		return Erasable(c)
	}
}

func mayRetryErasure(a store.Actor) store.ErasureRule {
	return func(c *store.ErasureCase) error {
		if err := MayErase(a); err != nil {
			return errorf(CodeForbidden, "", "Only an administrator may retry an erasure.")
		}
		if !ErasureRetryable(c.Erasure) {
			return errorf(CodeConflict, "", "Only a failed or parked erasure can be retried; this one is %s.",
				strings.ToLower(c.Erasure.State.Label()))
		}
		return nil
	}
}

// EraseNow clears the identity data of a process here at once and queues its erasure at
// Mobbscan, whatever the retention settings (a right-to-erasure request). Only an
// administrator may; refused while the process is in review or has an undelivered
// decision. Refusals are audited.
func (s *Service) EraseNow(ctx context.Context, a store.Actor, processID string) (*store.Erasure, error) {
	e, err := s.DB.EraseNow(ctx, a, processID, "erase now, requested by an administrator", mayEraseNow(a))
	if err != nil {
		err = translate(err)
		if code := ErrorCode(err); code == CodeConflict || code == CodeForbidden {
			msg := ErrorOf(err).Message
			if aerr := s.DB.Audit(ctx, a, store.ActionProcessErase, "process", processID, store.OutcomeDenied,
				clip("erase now refused ("+string(code)+"): "+msg, 500)); aerr != nil {
				return nil, aerr
			}
		}
		return nil, err
	}
	s.Forget(processID)
	s.Log.Info("process erasure requested", "process_id", processID, "erasure_id", e.ID, "by", a.UserID)
	return e, nil
}

// RetryErasure puts a failed or parked erasure back in the queue now (admins only).
func (s *Service) RetryErasure(ctx context.Context, a store.Actor, id int64) error {
	err := translate(s.DB.RetryErasure(ctx, a, id, mayRetryErasure(a)))
	if ErrorCode(err) == CodeForbidden {
		pid := ""
		if e, gerr := s.DB.GetErasure(ctx, id); gerr == nil {
			pid = e.ProcessID
		}
		_ = s.Deny(ctx, a, "process", pid, "erasure retry by someone who is not an administrator")
	}
	return err
}

// RetentionReport sums up a retention run.
type RetentionReport struct {
	Purged  int // processes whose identity data was cleared
	Queued  int // erasures queued
	Skipped int // processes past a period that the rules kept (in review, undelivered decision, recent decision)
}

// RetainOnce runs retention once: first the erasure period (each process purged and its
// erasure queued in one transaction), then the retention period (purged only), each in
// batches walked in index order, so that a run costs what it clears, not the history.
func (s *Service) RetainOnce(ctx context.Context) (RetentionReport, error) {
	var rep RetentionReport
	r, err := s.RetentionSettings(ctx)
	if err != nil {
		return rep, err
	}
	now := s.DB.Now()
	type pass struct {
		run    func(context.Context, store.RetentionPass, store.ErasureRule) (store.RetentionBatch, error)
		before time.Time
		detail string
	}
	var passes []pass
	if r.EraseDays > 0 {
		passes = append(passes, pass{s.DB.EraseDue, now.Add(-r.Erase()), fmt.Sprintf("retention: final for more than %d days (erasure period)", r.EraseDays)})
	}
	passes = append(passes, pass{s.DB.PurgeDue, now.Add(-r.Keep()), fmt.Sprintf("retention: final for more than %d days", r.KeepDays)})
	for _, p := range passes {
		rp := store.RetentionPass{Before: p.before, Limit: retentionBatch, Detail: p.detail}
		for ctx.Err() == nil {
			b, err := p.run(ctx, rp, mayPurge(p.before))
			if err != nil {
				return rep, err
			}
			rep.Purged, rep.Queued, rep.Skipped = rep.Purged+len(b.Purged), rep.Queued+len(b.Queued), rep.Skipped+b.Skipped
			for _, id := range b.Purged {
				s.Forget(id)
			}
			if !b.More {
				break
			}
			rp.After = b.Next
		}
	}
	return rep, ctx.Err()
}

// EraseOnce attempts the due erasures and returns how many it attempted. An attempt
// under way finishes even when shutdown begins (the client's timeouts bound it), so its
// outcome is recorded, not guessed.
func (s *Service) EraseOnce(ctx context.Context) (int, error) {
	if s.Client == nil {
		return 0, nil
	}
	due, err := s.DB.DueErasures(ctx, erasureBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range due {
		if ctx.Err() != nil {
			break
		}
		ok, err := s.DB.StartErasure(ctx, e.ID)
		if err != nil {
			return n, err
		}
		if !ok {
			continue
		}
		n++
		callCtx := context.WithoutCancel(ctx)
		o := s.erase(callCtx, e)
		if err := s.DB.FinishErasure(callCtx, e, o); errors.Is(err, store.ErrStaleAttempt) {
			// Another instance took the erasure over meanwhile (this one's heartbeat
			// expired): it sends the DELETE again, which is harmless.
			s.Log.Warn("erasure outcome dropped: another instance took the erasure over meanwhile",
				"erasure_id", e.ID, "process_id", e.ProcessID, "state", o.State, "attempt", e.Attempts+1)
			continue
		} else if err != nil {
			return n, err
		}
		s.Log.Info("process erasure", "erasure_id", e.ID, "process_id", e.ProcessID, "state", o.State, "attempt", e.Attempts+1)
	}
	return n, nil
}

// erase makes one attempt. After an ambiguous attempt (a timeout or reset after the
// DELETE was sent, or a crash while sending) it simply sends the DELETE again instead of
// reading the status first: a DELETE is idempotent at the gateway, and a second one
// answers 404, which counts as done; a status read would cost a call and answer the same
// 404 without closing any race.
func (s *Service) erase(ctx context.Context, e *store.Erasure) store.ErasureOutcome {
	// The process may have come back into the workflow since the erasure was queued
	// (Mobbscan put it back into review): it is not deleted under an agent's feet.
	if ec, err := s.DB.LoadErasureCase(ctx, e.ProcessID); err == nil {
		if werr := stillInWorkflow(ec); werr != nil {
			return store.ErasureOutcome{State: store.ErasureFailed, Ambiguous: e.Ambiguous, Audit: true,
				Error: fmt.Sprintf(i18n.M("not sent: %s"), ErrorOf(werr).Message)}
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return s.erasureRetry(e, err, false)
	}
	err := s.Client.Delete(ctx, e.ProcessID)
	switch {
	case err == nil:
		return store.ErasureOutcome{State: store.ErasureDone, Ambiguous: e.Ambiguous, Audit: true, Note: "Mobbscan deleted the process"}
	case errors.Is(err, mobbscan.ErrNotFound):
		note := "Mobbscan no longer knows the process (404)"
		if e.Ambiguous {
			note += "; an earlier attempt whose answer was lost most likely deleted it"
		}
		return store.ErasureOutcome{State: store.ErasureDone, Ambiguous: e.Ambiguous, Audit: true, Note: note}
	case errors.Is(err, mobbscan.ErrBadRequest), errors.Is(err, mobbscan.ErrConflict):
		return store.ErasureOutcome{State: store.ErasureFailed, Ambiguous: e.Ambiguous, Audit: true,
			Error: fmt.Sprintf(i18n.M("Mobbscan refused to delete the process: %s"), err)}
	}
	var ge *mobbscan.Error
	ambiguous := errors.As(err, &ge) && ge.Ambiguous() || errors.Is(err, mobbscan.ErrBadResponse)
	return s.erasureRetry(e, err, ambiguous)
}

// erasureRetry schedules another erasure attempt, or parks it (outboxRetry, the
// decisions' rule).
func (s *Service) erasureRetry(e *store.Erasure, err error, ambiguous bool) store.ErasureOutcome {
	park, next := s.outboxRetry(e.DeliverableSince, e.Attempts, err)
	if park {
		return store.ErasureOutcome{State: store.ErasureParked, Ambiguous: ambiguous || e.Ambiguous, Audit: true,
			Error: fmt.Sprintf(i18n.M("not erased within %s; last error: %s"), s.cfg.ParkAfter, err)}
	}
	return store.ErasureOutcome{State: store.ErasureQueued, Next: next, Ambiguous: ambiguous || e.Ambiguous, Error: err.Error()}
}

// RunRetention clears identity data of final processes past the retention period and
// erases processes at the gateway, until ctx ends: erasures and send-backs left
// "sending" by this instance's previous life (or a stopped instance) are queued again
// first; retention runs at start and every ten minutes on the leader (Leader); due
// erasures and send-backs are sent every two seconds by every instance, which also takes
// over what instances that stopped left sending (store/instances.go).
func (s *Service) RunRetention(ctx context.Context) {
	if n, err := s.DB.RecoverErasures(ctx); err != nil {
		s.Log.Error("recover erasures", "error", err)
	} else if n > 0 {
		s.Log.Warn("recovered erasures interrupted by a stop; they are sent again", "count", n)
	}
	retain := func() {
		if !s.Leader(ctx) {
			return
		}
		rep, err := s.RetainOnce(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.Log.Error("retention", "error", err)
		case rep.Purged > 0 || rep.Queued > 0:
			s.Log.Info("retention", "purged", rep.Purged, "erasures_queued", rep.Queued, "kept", rep.Skipped)
		}
	}
	if n, err := s.DB.RecoverSendBacks(ctx); err != nil {
		s.Log.Error("recover send-backs", "error", err)
	} else if n > 0 {
		s.Log.Warn("recovered send-backs interrupted by a stop; they are sent again", "count", n)
	}
	retain()
	purgeTick := time.NewTicker(retentionEvery)
	defer purgeTick.Stop()
	eraseTick := time.NewTicker(erasureEvery)
	defer eraseTick.Stop()
	for {
		for ctx.Err() == nil {
			n, err := s.EraseOnce(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.Log.Error("erase", "error", err)
				}
				break
			}
			if n < erasureBatch {
				break
			}
		}
		for ctx.Err() == nil {
			n, err := s.SendBackOnce(ctx)
			if errors.Is(err, store.ErrStaleAttempt) {
				// Another instance took the send-back over meanwhile (this one's heartbeat
				// expired): it sends it again, which is harmless; the rest waits a tick.
				s.Log.Warn("send-back outcome dropped: another instance took it over meanwhile", "error", err)
				break
			}
			if err != nil {
				if ctx.Err() == nil {
					s.Log.Error("send back", "error", err)
				}
				break
			}
			if n < sendBackBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-purgeTick.C:
			retain()
		case <-eraseTick.C:
			s.takeOver(ctx, "erasures", s.DB.TakeOverErasures)
			s.takeOver(ctx, "send-backs", s.DB.TakeOverSendBacks)
		}
	}
}
