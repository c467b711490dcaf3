package sandbox

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"time"
)

// The control API: the same operations as Go methods (for tests in other
// packages) and, when Config.Control is set, over HTTP under /_sandbox/.

// Stats are counters useful to tests.
type Stats struct {
	TokensIssued      int            `json:"tokensIssued"`
	Requests          map[string]int `json:"requests"` // per route name, faulted ones included
	FaultsInjected    int            `json:"faultsInjected"`
	WebhooksQueued    int            `json:"webhooksQueued"`
	WebhookAttempts   int            `json:"webhookAttempts"`
	WebhooksDelivered int            `json:"webhooksDelivered"`
	WebhooksFailed    int            `json:"webhooksFailed"` // abandoned after the last retry
}

// Stats returns a copy of the counters.
func (s *Sandbox) Stats() Stats {
	s.mu.Lock()
	st := s.stats
	st.Requests = maps.Clone(s.stats.Requests)
	s.mu.Unlock()
	s.hooks.counts(&st)
	return st
}

// Seed creates spec.Count processes in the chosen states, each notified by
// webhook in its final state unless spec.Silent, and returns their ids.
func (s *Sandbox) Seed(spec SeedSpec) ([]string, error) {
	states, err := spec.normalize()
	if err != nil {
		return nil, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	start := s.seq
	ps := make([]*process, 0, spec.Count)
	for i := range spec.Count {
		ps = append(ps, s.seedOneLocked(spec, states[i%len(states)], now))
	}
	if err := s.commitLocked(context.Background(), ps...); err != nil {
		s.seq = start
		return nil, err
	}
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
		if !spec.Silent {
			s.notifyLocked(p)
		}
	}
	return ids, nil
}

func randDuration(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Int64N(int64(hi-lo)+1))
}

// seedOneLocked builds one seeded process whose history leads to st, with
// dates spread over the last hours. Caller holds s.mu.
func (s *Sandbox) seedOneLocked(spec SeedSpec, st Status, now time.Time) *process {
	seq := s.seq + 1
	r := s.rng(seq, streamSeed)
	plan := planProcess(r, spec, seq)
	created := now.Add(-randDuration(r, 10*time.Minute, 10*time.Hour))
	if st == StatusExpired {
		created = now.Add(-randDuration(r, 25*time.Hour, 72*time.Hour))
	}
	created = created.Truncate(time.Second)
	p := s.newProcessLocked(plan.countryID, plan.docType, created)
	p.ExtraData = plan.extra
	at := created
	step := func(lo, hi time.Duration) time.Time {
		at = at.Add(randDuration(r, lo, hi)).Truncate(time.Second)
		if at.After(now) {
			at = now
		}
		return at
	}
	switch st {
	case StatusCreated:
	case StatusInProgress:
		p.setStatus(StatusInProgress, step(30*time.Second, 5*time.Minute))
	case StatusExpired:
		p.setStatus(StatusInProgress, step(time.Minute, 10*time.Minute))
		p.setStatus(StatusExpired, created.Add(24*time.Hour))
	default:
		p.setStatus(StatusInProgress, step(30*time.Second, 3*time.Minute))
		s.completeProcess(p, plan.failed, step(2*time.Minute, 20*time.Minute))
		if st == StatusVerified || st == StatusNotVerified {
			d := &decision{Verdict: VerdictAccepted, Type: "MANUAL", DecidedAt: step(5*time.Minute, 90*time.Minute)}
			if st == StatusNotVerified {
				d.Verdict, d.RejectionComment = VerdictRejected, rejectionFor(plan.failed)
			}
			p.Decision = d
			p.setStatus(st, d.DecidedAt)
		}
	}
	return p
}

// trickle creates a process and walks it to review as its user would.
func (s *Sandbox) trickle(ctx context.Context) (string, error) {
	s.mu.Lock()
	seq := s.seq + 1
	s.mu.Unlock()
	plan := planProcess(s.rng(seq, streamSeed), SeedSpec{}, seq)
	p, err := s.create(ctx, createRequest{CountryID: plan.countryID, DocType: plan.docType, ExtraData: plan.extra})
	if err != nil {
		return "", err
	}
	if _, err := s.open(ctx, p.ID); err != nil {
		return "", err
	}
	if _, err := s.complete(ctx, p.ID, plan.failed); err != nil {
		return "", err
	}
	return p.ID, nil
}

// Complete finishes process id as its end user would, failing the given
// validations (none: a clean process). It moves to PENDING/REVIEW and the
// webhook fires.
func (s *Sandbox) Complete(id string, failed []string) error {
	_, err := s.complete(context.Background(), id, failed)
	return err
}

// Expire marks an unfinished process as expired.
func (s *Sandbox) Expire(id string) error {
	_, err := s.expire(context.Background(), id)
	return err
}

// Get returns a snapshot of process id.
func (s *Sandbox) Get(id string) (ProcessSnapshot, bool) {
	p, err := s.get(id)
	if err != nil {
		return ProcessSnapshot{}, false
	}
	return p.snapshot(), true
}

// List returns snapshots of every process, oldest first.
func (s *Sandbox) List() []ProcessSnapshot {
	s.mu.Lock()
	ps := slices.Collect(maps.Values(s.procs))
	s.mu.Unlock()
	sort.Slice(ps, func(i, j int) bool { return ps[i].Seq < ps[j].Seq })
	out := make([]ProcessSnapshot, len(ps))
	for i, p := range ps {
		out[i] = p.snapshot()
	}
	return out
}

// Replay queues again the notifications of every status process id went
// through, in order, and returns how many deliveries were queued.
func (s *Sandbox) Replay(id string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.getLocked(id)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, st := range p.History {
		status, stage := st.Wire()
		n += s.hooks.enqueue(webhookEvent{VerificationID: p.ID, Status: status, Stage: stage})
	}
	return n, nil
}

// SetFault injects f into the requests of route (one of Routes), replacing
// any fault already there.
func (s *Sandbox) SetFault(route string, f Fault) error {
	if !slices.Contains(Routes, route) {
		return fmt.Errorf("%w: unknown route %q", ErrInvalid, route)
	}
	if f.Kind == "" && f.Latency > 0 {
		f.Kind = FaultLatency
	}
	if err := f.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[route] = &f
	return nil
}

// ClearFault removes the fault of one route.
func (s *Sandbox) ClearFault(route string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.faults, route)
}

// ClearFaults removes every fault.
func (s *Sandbox) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.faults)
}

// Faults returns the active faults by route.
func (s *Sandbox) Faults() map[string]Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Fault, len(s.faults))
	for k, f := range s.faults {
		out[k] = *f
	}
	return out
}

// SetTokenLifetime changes the lifetime of tokens issued from now on.
func (s *Sandbox) SetTokenLifetime(d time.Duration) {
	if d <= 0 {
		d = s.cfg.TokenLifetime
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenLifetime = d
}

// SetLargeVideo makes video_liveness a video of n bytes: the real clip
// followed by generated padding, streamed without being held in memory.
// 0 restores the plain clip.
func (s *Sandbox) SetLargeVideo(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.largeVideo = max(n, 0)
}

// WaitWebhooks blocks until every queued notification has been delivered
// or abandoned.
func (s *Sandbox) WaitWebhooks(ctx context.Context) error { return s.hooks.wait(ctx) }

// Reset forgets every process, fault and counter and restores the token
// lifetime and the video size; the sequence restarts, so with a fixed Seed
// the same processes are seeded again.
func (s *Sandbox) Reset() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		if err := s.db.clear(context.Background()); err != nil {
			return err
		}
	}
	clear(s.procs)
	clear(s.byToken)
	clear(s.faults)
	s.seq = 0
	s.tokenLifetime = s.cfg.TokenLifetime
	s.largeVideo = 0
	s.stats = Stats{Requests: make(map[string]int)}
	s.images.clear()
	s.hooks.resetCounts()
	return nil
}

// HTTP control API.

func (s *Sandbox) controlRoutes() {
	m := s.mux
	m.HandleFunc("GET /_sandbox/{$}", s.showConsole)
	m.HandleFunc("POST /_sandbox/seed", jsonOnly(s.controlSeed))
	m.HandleFunc("GET /_sandbox/processes", s.controlList)
	m.HandleFunc("GET /_sandbox/processes/{id}", s.controlGet)
	m.HandleFunc("POST /_sandbox/processes/{id}/complete", jsonOnly(s.controlComplete))
	m.HandleFunc("POST /_sandbox/processes/{id}/expire", jsonOnly(s.controlExpire))
	m.HandleFunc("POST /_sandbox/processes/{id}/replay", jsonOnly(s.controlReplay))
	m.HandleFunc("GET /_sandbox/faults", s.controlFaults)
	m.HandleFunc("POST /_sandbox/faults", jsonOnly(s.controlSetFault))
	m.HandleFunc("DELETE /_sandbox/faults", s.controlClearFaults)
	m.HandleFunc("DELETE /_sandbox/faults/{route}", s.controlClearFault)
	m.HandleFunc("POST /_sandbox/token-lifetime", jsonOnly(s.controlTokenLifetime))
	m.HandleFunc("POST /_sandbox/video", jsonOnly(s.controlVideo))
	m.HandleFunc("POST /_sandbox/webhooks", jsonOnly(s.controlAddWebhook))
	m.HandleFunc("GET /_sandbox/stats", s.controlStats)
	m.HandleFunc("POST /_sandbox/reset", jsonOnly(s.controlReset))
}

// jsonOnly refuses a control POST whose body is not declared application/json with 415
// (issue 9): a web page on another origin can make a browser post text/plain or a form
// without asking first, but not application/json, so no page the operator visits can
// drive the sandbox.
func jsonOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "the control API takes Content-Type: application/json")
			return
		}
		next(w, r)
	}
}

func (s *Sandbox) controlSeed(w http.ResponseWriter, r *http.Request) {
	var spec SeedSpec
	if err := decodeJSON(w, r, &spec); err != nil {
		s.fail(w, r, err)
		return
	}
	ids, err := s.Seed(spec)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]string{"ids": ids})
}

func (s *Sandbox) controlList(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string][]ProcessSnapshot{"processes": s.List()})
}

func (s *Sandbox) controlGet(w http.ResponseWriter, r *http.Request) {
	snap, ok := s.Get(r.PathValue("id"))
	if !ok {
		s.fail(w, r, ErrNotFound)
		return
	}
	writeJSON(w, http.StatusOK, snap)
}

// completeBody is the body of POST /_sandbox/processes/{id}/complete.
type completeBody struct {
	Outcome string   `json:"outcome"` // "clean", "random", or "" (use Failed)
	Failed  []string `json:"failed"`
}

// outcomeFailures turns a chosen outcome into failed validations.
func outcomeFailures(outcome string, failed []string, r *rand.Rand, docType string) ([]string, error) {
	switch outcome {
	case "", "failed":
		return failed, checkValidations(failed)
	case "clean":
		if len(failed) > 0 {
			return nil, fmt.Errorf("%w: a clean outcome has no failed validations", ErrInvalid)
		}
		return nil, nil
	case "random":
		if r.IntN(3) == 0 {
			return nil, nil
		}
		var out []string
		for len(out) == 0 || (len(out) < 2 && r.IntN(3) == 0) {
			v := pick(r, Validations)
			if validationApplies(docType, v) && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: outcome must be clean, random or failed", ErrInvalid)
}

func (s *Sandbox) controlComplete(w http.ResponseWriter, r *http.Request) {
	var body completeBody
	if err := decodeJSON(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.get(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	failed, err := outcomeFailures(body.Outcome, body.Failed, s.rng(p.Seq, streamSeed+1), p.DocType)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if p, err = s.complete(r.Context(), p.ID, failed); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p.snapshot())
}

func (s *Sandbox) controlExpire(w http.ResponseWriter, r *http.Request) {
	p, err := s.expire(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p.snapshot())
}

func (s *Sandbox) controlReplay(w http.ResponseWriter, r *http.Request) {
	n, err := s.Replay(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"queued": n})
}

// faultBody is the wire shape of a fault.
type faultBody struct {
	Route      string    `json:"route,omitempty"`
	Kind       FaultKind `json:"kind"`
	Latency    string    `json:"latency,omitempty"` // a Go duration, e.g. "750ms"
	RetryAfter int       `json:"retryAfterSeconds,omitempty"`
	Count      int       `json:"count,omitempty"`
	NotApplied bool      `json:"notApplied,omitempty"`
}

func (b faultBody) fault() (Fault, error) {
	f := Fault{Kind: b.Kind, RetryAfter: time.Duration(b.RetryAfter) * time.Second, Count: b.Count, NotApplied: b.NotApplied}
	if b.Latency != "" {
		d, err := time.ParseDuration(b.Latency)
		if err != nil {
			return f, fmt.Errorf("%w: latency must be a duration such as \"750ms\"", ErrInvalid)
		}
		f.Latency = d
	}
	if b.RetryAfter < 0 || b.RetryAfter > 3600 {
		return f, fmt.Errorf("%w: retryAfterSeconds must be between 0 and 3600", ErrInvalid)
	}
	return f, nil
}

func faultWire(route string, f Fault) faultBody {
	b := faultBody{Route: route, Kind: f.Kind, RetryAfter: int(f.RetryAfter / time.Second), Count: f.Count, NotApplied: f.NotApplied}
	if f.Latency > 0 {
		b.Latency = f.Latency.String()
	}
	return b
}

func (s *Sandbox) writeFaults(w http.ResponseWriter) {
	out := []faultBody{}
	faults := s.Faults()
	for _, route := range Routes {
		if f, ok := faults[route]; ok {
			out = append(out, faultWire(route, f))
		}
	}
	writeJSON(w, http.StatusOK, map[string][]faultBody{"faults": out})
}

func (s *Sandbox) controlFaults(w http.ResponseWriter, r *http.Request) { s.writeFaults(w) }

func (s *Sandbox) controlSetFault(w http.ResponseWriter, r *http.Request) {
	var body faultBody
	if err := decodeJSON(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := body.fault()
	if err == nil {
		err = s.SetFault(body.Route, f)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeFaults(w)
}

func (s *Sandbox) controlClearFaults(w http.ResponseWriter, r *http.Request) {
	s.ClearFaults()
	s.writeFaults(w)
}

func (s *Sandbox) controlClearFault(w http.ResponseWriter, r *http.Request) {
	route := r.PathValue("route")
	if !slices.Contains(Routes, route) {
		s.fail(w, r, fmt.Errorf("%w: unknown route %q", ErrInvalid, route))
		return
	}
	s.ClearFault(route)
	s.writeFaults(w)
}

func (s *Sandbox) controlTokenLifetime(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Lifetime string `json:"lifetime"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := time.ParseDuration(body.Lifetime)
	if err != nil || d <= 0 || d > 24*time.Hour {
		s.fail(w, r, fmt.Errorf("%w: lifetime must be a duration between 1ns and 24h, such as \"2s\"", ErrInvalid))
		return
	}
	s.SetTokenLifetime(d)
	writeJSON(w, http.StatusOK, map[string]string{"lifetime": d.String()})
}

func (s *Sandbox) controlVideo(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Bytes int64 `json:"bytes"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if body.Bytes < 0 || body.Bytes > 16<<30 {
		s.fail(w, r, fmt.Errorf("%w: bytes must be between 0 and 16 GiB", ErrInvalid))
		return
	}
	s.SetLargeVideo(body.Bytes)
	writeJSON(w, http.StatusOK, map[string]int64{"bytes": s.video().size})
}

func (s *Sandbox) controlAddWebhook(w http.ResponseWriter, r *http.Request) {
	var body struct {
		URL string `json:"url"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := url.Parse(body.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		s.fail(w, r, fmt.Errorf("%w: url must be an absolute http(s) URL", ErrInvalid))
		return
	}
	s.AddWebhookURL(body.URL)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sandbox) controlStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

func (s *Sandbox) controlReset(w http.ResponseWriter, r *http.Request) {
	if err := s.Reset(); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
