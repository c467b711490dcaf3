package sandbox

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Every change to a process follows the same steps under s.mu: clone the
// committed process, change the clone, commit it (store first, then memory)
// and queue its webhook. Committed processes are never mutated, so a caller
// may read one after unlocking.

// Random streams of one process (see Sandbox.rng).
const (
	streamIDs uint64 = iota + 1
	streamIdentity
	streamComplete
	streamSeed
)

// newProcessLocked allocates the next process in CREATED. Caller holds s.mu.
func (s *Sandbox) newProcessLocked(countryID, docType string, now time.Time) *process {
	s.seq++
	seq := s.seq
	r := s.rng(seq, streamIDs)
	p := &process{
		Seq: seq, Status: StatusCreated, Created: now, Updated: now,
		CountryID: countryID, DocType: docType,
		History: []Status{StatusCreated},
	}
	for {
		p.ID = uuidFrom(r)
		if _, dup := s.procs[p.ID]; !dup {
			break
		}
	}
	p.ScanID = uuidFrom(r)
	p.Token = hexFrom(r, 32)
	p.Identity = newIdentity(s.rng(seq, streamIdentity), countryID, docType, now)
	return p
}

// commitLocked stores ps and makes them current. Caller holds s.mu.
func (s *Sandbox) commitLocked(ctx context.Context, ps ...*process) error {
	if s.db != nil {
		if err := s.db.put(context.WithoutCancel(ctx), s.seq, ps...); err != nil {
			return err
		}
	}
	for _, p := range ps {
		s.procs[p.ID] = p
		s.byToken[p.Token] = p.ID
	}
	return nil
}

// notifyLocked queues the webhook for p's current status.
func (s *Sandbox) notifyLocked(p *process) {
	status, stage := p.Status.Wire()
	s.hooks.enqueue(webhookEvent{VerificationID: p.ID, Status: status, Stage: stage})
}

// setStatus moves a clone to st at now, recording the history.
func (p *process) setStatus(st Status, now time.Time) {
	p.Status = st
	p.Updated = now
	p.History = append(p.History, st)
}

// completeProcess is what the end user finishing the capture does.
func (s *Sandbox) completeProcess(p *process, failed []string, now time.Time) {
	r := s.rng(p.Seq, streamComplete)
	p.Failed = slices.Clone(failed)
	applyFailures(r, &p.Identity, failed, now)
	sc := newScores(r, failed)
	p.Scores = &sc
	p.setStatus(StatusPending, now)
}

// createRequest is a validated POST /onboarding/token body.
type createRequest struct {
	CountryID   string
	DocType     string
	RedirectURL string
	ScanID      string
	ExtraData   map[string]string
}

func (s *Sandbox) create(ctx context.Context, req createRequest) (*process, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.newProcessLocked(req.CountryID, req.DocType, now)
	if req.ScanID != "" {
		p.ScanID = req.ScanID
	}
	p.RedirectURL = req.RedirectURL
	p.ExtraData = maps.Clone(req.ExtraData)
	if err := s.commitLocked(ctx, p); err != nil {
		s.seq--
		return nil, err
	}
	s.notifyLocked(p)
	return p, nil
}

func (s *Sandbox) getLocked(id string) (*process, error) {
	p, ok := s.procs[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return p, nil
}

func (s *Sandbox) get(id string) (*process, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getLocked(id)
}

func (s *Sandbox) byOnboardingToken(token string) (*process, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byToken[token]
	if !ok {
		return nil, ErrNotFound
	}
	return s.getLocked(id)
}

// change applies fn to a clone of process id and commits it; fn returns
// false when nothing changed (nothing is committed or notified).
func (s *Sandbox) change(ctx context.Context, id string, fn func(p *process, now time.Time) (bool, error)) (*process, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.getLocked(id)
	if err != nil {
		return nil, err
	}
	c := cur.clone()
	changed, err := fn(c, now)
	if err != nil || !changed {
		return cur, err
	}
	if err := s.commitLocked(ctx, c); err != nil {
		return nil, err
	}
	s.notifyLocked(c)
	return c, nil
}

// open is the end user opening the onboarding page: CREATED → IN_PROGRESS.
func (s *Sandbox) open(ctx context.Context, id string) (*process, error) {
	return s.change(ctx, id, func(p *process, now time.Time) (bool, error) {
		if p.Status != StatusCreated {
			return false, nil
		}
		p.setStatus(StatusInProgress, now)
		return true, nil
	})
}

// complete is the end user finishing: CREATED or IN_PROGRESS → PENDING
// (stage REVIEW) with the given failed validations.
func (s *Sandbox) complete(ctx context.Context, id string, failed []string) (*process, error) {
	if err := checkValidations(failed); err != nil {
		return nil, err
	}
	return s.change(ctx, id, func(p *process, now time.Time) (bool, error) {
		if p.Status != StatusCreated && p.Status != StatusInProgress {
			return false, &conflictError{p.Status, "process is not waiting for its user"}
		}
		s.completeProcess(p, failed, now)
		return true, nil
	})
}

func (s *Sandbox) expire(ctx context.Context, id string) (*process, error) {
	return s.change(ctx, id, func(p *process, now time.Time) (bool, error) {
		if p.Status != StatusCreated && p.Status != StatusInProgress {
			return false, &conflictError{p.Status, "only unfinished processes expire"}
		}
		p.setStatus(StatusExpired, now)
		return true, nil
	})
}

// decisionInput is a validated accept or reject.
type decisionInput struct {
	Verdict     string
	Type        string
	Comment     string
	Corrections map[string]string
}

// decide accepts or rejects a process in review. Any other status, including
// the same verdict already applied, is a conflict.
func (s *Sandbox) decide(ctx context.Context, id string, in decisionInput) (*process, error) {
	return s.change(ctx, id, func(p *process, now time.Time) (bool, error) {
		if p.Status != StatusPending {
			return false, &conflictError{p.Status, "process is not in review"}
		}
		p.Decision = &decision{Verdict: in.Verdict, Type: in.Type, RejectionComment: in.Comment, DecidedAt: now}
		if in.Verdict == VerdictAccepted {
			p.Accepts++
			if len(in.Corrections) > 0 {
				if p.Corrections == nil {
					p.Corrections = make(map[string]string, len(in.Corrections))
				}
				maps.Copy(p.Corrections, in.Corrections)
			}
			p.setStatus(StatusVerified, now)
		} else {
			p.Rejects++
			p.setStatus(StatusNotVerified, now)
		}
		return true, nil
	})
}

// backToReview is POST /mobbscan-agent/pending: a decided process returns to
// review (its decision is cleared); one already in review is left alone;
// unfinished or expired ones conflict.
func (s *Sandbox) backToReview(ctx context.Context, id string) (*process, error) {
	return s.change(ctx, id, func(p *process, now time.Time) (bool, error) {
		switch p.Status {
		case StatusPending:
			return false, nil
		case StatusVerified, StatusNotVerified:
			p.Decision = nil
			p.Pendings++
			p.setStatus(StatusPending, now)
			return true, nil
		}
		return false, &conflictError{p.Status, "process is not finished"}
	})
}

// remove deletes a process and its data.
func (s *Sandbox) remove(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.getLocked(id)
	if err != nil {
		return err
	}
	if s.db != nil {
		if err := s.db.delete(context.WithoutCancel(ctx), id); err != nil {
			return err
		}
	}
	delete(s.procs, id)
	delete(s.byToken, p.Token)
	s.images.purge(id)
	return nil
}
