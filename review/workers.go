package review

import (
	"context"
	"errors"
	"time"

	"github.com/mobbscan-review/portal/mobbscan"
	"github.com/mobbscan-review/portal/store"
)

// IngestOnce acts on due webhook notifications: it re-reads each process from the
// gateway (the notification is only a hint, W3) and indexes it. It returns how many it
// handled. When a re-read fails while the gateway is failing (an outage, as the client
// sees it), it stops there: the others stay due, and the catch-up after the outage
// brings back the one that failed (O4).
func (s *Service) IngestOnce(ctx context.Context) (int, error) {
	due, err := s.DB.DueNotifications(ctx, 50)
	if err != nil {
		return 0, err
	}
	for i, n := range due {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		p, err := s.Client.Process(ctx, n.ProcessID)
		switch {
		case errors.Is(err, mobbscan.ErrNotFound):
			// A forged or stale notification for a process the gateway does not know.
			if _, gerr := s.DB.GetProcess(ctx, n.ProcessID); gerr == nil {
				_ = s.DB.MarkGone(ctx, n.ProcessID)
			}
			if err := s.DB.DropNotification(ctx, n); err != nil {
				return 0, err
			}
			s.Log.Info("webhook for unknown process dropped", "process_id", n.ProcessID)
		case err != nil:
			wait := jitter(backoff(2*time.Second, 5*time.Minute, n.Attempts))
			var ge *mobbscan.Error
			if errors.As(err, &ge) && ge.RetryAfter > wait {
				wait = ge.RetryAfter
			}
			if err := s.DB.RetryNotification(ctx, n, err.Error(), s.DB.Now().Add(wait)); err != nil {
				return 0, err
			}
			s.Log.Warn("webhook ingestion failed; will retry", "process_id", n.ProcessID, "attempts", n.Attempts+1, "error", err)
			if s.gatewayFailing() {
				return i + 1, nil
			}
		default:
			s.remember(p)
			snap := SnapshotOf(p)
			if err := s.DB.IngestNotification(ctx, n, snap, s.nextCheck(snap, 0)); err != nil {
				// One process the index refuses must not block the others behind it.
				s.Log.Error("ingest notification", "process_id", n.ProcessID, "error", err)
				if err := s.DB.RetryNotification(ctx, n, err.Error(), s.DB.Now().Add(jitter(backoff(time.Minute, time.Hour, n.Attempts)))); err != nil {
					return 0, err
				}
				continue
			}
			s.sampleIfVerified(ctx, snap)
		}
	}
	return len(due), nil
}

// ReconcileOnce re-reads the status of non-final processes whose check is due, and the
// full information of those whose status changed, so a missed webhook never leaves a
// process stuck. It returns how many it checked. Like IngestOnce, it stops at a failure
// while the gateway is failing.
func (s *Service) ReconcileOnce(ctx context.Context) (int, error) {
	ids, err := s.DB.DueForSync(ctx, 50)
	if err != nil {
		return 0, err
	}
	for i, id := range ids {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		cur, err := s.DB.GetProcess(ctx, id)
		if err != nil {
			continue
		}
		if err := s.reconcile(ctx, cur); err != nil {
			wait := jitter(backoff(30*time.Second, s.cfg.MaxRecheck, cur.SyncFailures))
			var ge *mobbscan.Error
			if errors.As(err, &ge) && ge.RetryAfter > wait {
				wait = ge.RetryAfter
			}
			if merr := s.DB.MarkSyncFailed(ctx, id, err.Error(), s.DB.Now().Add(wait)); merr != nil {
				return 0, merr
			}
			s.Log.Warn("reconcile failed; will retry", "process_id", id, "failures", cur.SyncFailures+1, "error", err)
			if s.gatewayFailing() {
				return i + 1, nil
			}
		}
	}
	return len(ids), nil
}

func (s *Service) reconcile(ctx context.Context, cur *store.Process) error {
	st, err := s.Client.Status(ctx, cur.ID)
	if errors.Is(err, mobbscan.ErrNotFound) {
		return s.DB.MarkGone(ctx, cur.ID)
	}
	if err != nil {
		return err
	}
	snap := stateSnapshot(cur.ID, st.State)
	if snap.Status == cur.Status && snap.Stage == cur.Stage && snap.Reviewable == cur.Reviewable {
		// Unchanged, but a process still waiting for its customer is checked less often.
		failures := 0
		if !snap.Reviewable {
			failures = int(s.DB.Now().Sub(cur.FirstSeenAt) / (10 * time.Minute))
		}
		return s.DB.MarkSynced(ctx, cur.ID, s.nextCheck(snap, failures))
	}
	p, err := s.Client.Process(ctx, cur.ID)
	if err != nil {
		return err
	}
	s.remember(p)
	full := SnapshotOf(p)
	if _, err := s.DB.UpsertProcess(ctx, cur.Source, full, s.nextCheck(full, 0)); err != nil {
		return err
	}
	s.sampleIfVerified(ctx, full)
	return nil
}

// RunWorkers runs webhook ingestion and reconciliation until ctx ends, while this
// instance holds the leader lease (Leader: with several instances on one database, one
// of them does it); it renews the lease on every ingestion tick. After a gateway outage
// it is woken to do at once what the catch-up made due; while the gateway is failing it
// probes it every few seconds (O4), leader or not: the probe is this instance's client's.
func (s *Service) RunWorkers(ctx context.Context, inbox *Inbox, reconcileEvery time.Duration) {
	if reconcileEvery <= 0 {
		reconcileEvery = 15 * time.Second
	}
	ingestTick := time.NewTicker(2 * time.Second)
	defer ingestTick.Stop()
	recTick := time.NewTicker(reconcileEvery)
	defer recTick.Stop()
	probeTick := time.NewTicker(probeEvery)
	defer probeTick.Stop()
	var wake <-chan struct{}
	if inbox != nil {
		wake = inbox.Wake()
	}
	lead := s.leaderCheck(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
			if lead() {
				s.drainInbox(ctx)
			}
		case <-ingestTick.C:
			if lead() {
				s.drainInbox(ctx)
			}
		case <-recTick.C:
			if !lead() {
				continue
			}
			if _, err := s.ReconcileOnce(ctx); err != nil && ctx.Err() == nil {
				s.Log.Error("reconcile", "error", err)
			}
		case <-s.reconcilerWake:
			if lead() {
				s.drainInbox(ctx)
				s.drainReconcile(ctx)
			}
		case <-probeTick.C:
			if _, err := s.ProbeOnce(ctx); err != nil && ctx.Err() == nil {
				s.Log.Error("probe the gateway", "error", err)
			}
		}
	}
}

// leaderRecheck is how long RunWorkers trusts its last answer from the leader lease: a
// burst of webhooks does not write the lease once each. Well below store.LeaseTTL, so a
// trusted "yes" always has most of the lease left.
const leaderRecheck = time.Second

// Leader reports whether this instance runs, now, the work done once across the
// instances on one database (webhook ingestion, reconciliation, retention, parking stale
// decisions, the sweeps): it takes the leader lease for store.LeaseTTL when it is free
// or expired, or renews it. A single instance always holds it (after a restart under
// another name, once the old name's lease has expired). What the leader does is safe
// to do twice all the same (each write is a conditional transaction); the lease keeps
// the instances from doing it all at once.
func (s *Service) Leader(ctx context.Context) bool {
	ok, err := s.DB.HoldLease(ctx, store.LeaderLease, s.DB.Instance(), store.LeaseTTL)
	if err != nil {
		if ctx.Err() == nil {
			s.Log.Error("leader lease", "error", err)
		}
		return false
	}
	return ok
}

// leaderCheck returns Leader for one worker's loop, asked at most every leaderRecheck,
// logging when this instance takes or loses the lease.
func (s *Service) leaderCheck(ctx context.Context) func() bool {
	var known, leading bool
	var asked time.Time
	return func() bool {
		if known && time.Since(asked) < leaderRecheck {
			return leading
		}
		ok := s.Leader(ctx)
		switch {
		case ok && (!known || !leading):
			s.Log.Info("this instance holds the leader lease: it runs webhook ingestion, reconciliation, retention and the sweeps", "instance", s.DB.Instance())
		case !ok && (!known || leading) && ctx.Err() == nil:
			s.Log.Info("another instance holds the leader lease: this one delivers, and takes over if the leader stops", "instance", s.DB.Instance())
		}
		known, leading, asked = true, ok, time.Now()
		return ok
	}
}

// takeOver runs one round of an outbox's takeover (store/instances.go): what instances
// that stopped left "sending" is queued again, ambiguous.
func (s *Service) takeOver(ctx context.Context, what string, f func(context.Context) (int64, error)) {
	n, err := f(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		s.Log.Error("take over "+what, "error", err)
	case n > 0:
		s.Log.Warn("took over "+what+" that a stopped instance left in flight; they are queued again, ambiguous", "count", n)
	}
}

func (s *Service) drainInbox(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := s.IngestOnce(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.Log.Error("ingest", "error", err)
			}
			return
		}
		if n < 50 {
			return
		}
	}
}

// drainReconcile reconciles what is due after a catch-up, in passes of 50, at most
// maxCatchUpPasses of them before the worker looks at its other work; the rest is done
// by the following ticks.
func (s *Service) drainReconcile(ctx context.Context) {
	for range maxCatchUpPasses {
		if ctx.Err() != nil {
			return
		}
		n, err := s.ReconcileOnce(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.Log.Error("reconcile", "error", err)
			}
			return
		}
		if n < 50 {
			return
		}
	}
}

// maxCatchUpPasses bounds one drainReconcile.
const maxCatchUpPasses = 20
