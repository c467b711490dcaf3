package review

import (
	"context"
	"time"
)

// Catching up after a gateway outage (O4). While the gateway is down, every delivery,
// status re-read and webhook re-read that fails is put off by a backoff that grows to
// minutes. The client tells when the gateway answers again (mobbscan.Client.SetOnRecover);
// the service then makes the work that failed due at once and wakes the workers, so
// that it resumes within seconds instead of at the end of its backoff. While the
// gateway is failing, the workers probe it every few seconds (ProbeOnce), so that a
// quiet portal notices the recovery too.

const (
	// catchUpBatch is the most rows one pull-forward UPDATE changes.
	catchUpBatch = 500
	// catchUpTimeout bounds one catch-up's database work.
	catchUpTimeout = time.Minute
	// probeEvery is how often the workers probe a failing gateway.
	probeEvery = 5 * time.Second
	// probeTimeout bounds one probe, retries included.
	probeTimeout = 10 * time.Second
)

// wireCatchUp makes the service resume queued work soon after the gateway answers
// again (O4).
func (s *Service) wireCatchUp() {
	if s.Client == nil || s.DB == nil {
		return
	}
	s.Client.SetOnRecover(func() { s.catchUp(context.Background()) })
}

// CatchUpResult counts the work a catch-up made due.
type CatchUpResult struct {
	Deliveries    int // queued decisions whose delivery failed
	Rereads       int // processes whose status re-read failed
	Notifications int // webhook notifications whose re-read failed
	Erasures      int // queued gateway erasures that failed
	SendBacks     int // queued send-backs to review that failed
}

// CatchUp makes the gateway work that failed due now, kicks the delivery worker and
// wakes the reconciler. It runs by itself when the gateway recovers from an outage.
func (s *Service) CatchUp(ctx context.Context) (CatchUpResult, error) {
	var r CatchUpResult
	var err error
	if r.Deliveries, err = pullForward(ctx, s.DB.PullForwardDeliveries); err != nil {
		return r, err
	}
	if r.Deliveries > 0 {
		s.kickDelivery()
	}
	if r.Erasures, err = pullForward(ctx, s.DB.PullForwardErasures); err != nil {
		return r, err
	}
	if r.SendBacks, err = pullForward(ctx, s.DB.PullForwardSendBacks); err != nil {
		return r, err
	}
	if r.Rereads, err = pullForward(ctx, s.DB.PullForwardSyncs); err != nil {
		return r, err
	}
	if r.Notifications, err = pullForward(ctx, s.DB.PullForwardNotifications); err != nil {
		return r, err
	}
	if r.Rereads > 0 || r.Notifications > 0 {
		s.wakeReconciler()
	}
	return r, nil
}

// catchUp is the recovery hook: CatchUp, logged.
func (s *Service) catchUp(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, catchUpTimeout)
	defer cancel()
	r, err := s.CatchUp(ctx)
	if err != nil {
		s.Log.Error("catch up after a gateway outage", "error", err)
		return
	}
	s.Log.Info("gateway answering again: resuming the work it failed", "deliveries", r.Deliveries,
		"status_rereads", r.Rereads, "webhook_rereads", r.Notifications, "erasures", r.Erasures, "send_backs", r.SendBacks)
}

// pullForward runs one pull-forward UPDATE in batches until a batch is not full.
func pullForward(ctx context.Context, pull func(context.Context, int) (int, error)) (int, error) {
	total := 0
	for {
		n, err := pull(ctx, catchUpBatch)
		total += n
		if err != nil || n < catchUpBatch {
			return total, err
		}
	}
}

// wakeReconciler wakes RunWorkers, when it runs, to reconcile and ingest what a
// catch-up made due.
func (s *Service) wakeReconciler() {
	select {
	case s.reconcilerWake <- struct{}{}:
	default:
	}
}

// gatewayFailing reports whether the client sees the gateway in an outage.
func (s *Service) gatewayFailing() bool { return s.Client != nil && s.Client.Failing() }

// ProbeOnce, while the gateway is failing, reads the status of one process the portal
// is waiting on; when the gateway answers, the client runs the catch-up. It reports
// whether it probed (not when the gateway is not failing, or nothing waits).
func (s *Service) ProbeOnce(ctx context.Context) (bool, error) {
	if !s.gatewayFailing() {
		return false, nil
	}
	id, err := s.DB.ProbeTarget(ctx)
	if err != nil || id == "" {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	// The answer itself is not needed: that there is one is what counts.
	_, _ = s.Client.Status(ctx, id)
	return true, nil
}
