// Package review holds the workflow rules that are neither HTTP nor SQL: learning about
// processes (webhook ingestion, tracking, creating, reconciliation), claiming, and the
// gateway calls the process page needs. It speaks to the gateway through mobbscan and
// keeps the local index in store.
package review

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/mobbscan"
	"github.com/mobbscan-review/portal/store"
)

// Config holds the workflow's settings.
type Config struct {
	ClaimTTL       time.Duration // claim lifetime without a heartbeat (default 5 min)
	AgingAmber     time.Duration // waiting longer than this is marked amber (default 4 h)
	AgingRed       time.Duration // ... and red (default 24 h)
	ReviewRecheck  time.Duration // status re-check of processes in review (default 10 min)
	MaxRecheck     time.Duration // cap of the backoff of other non-final processes (default 1 h)
	InfoCacheTTL   time.Duration // how long fetched process information is reused (default 30 s)
	RedirectURL    string        // where the customer goes after the onboarding (optional)
	WebhookToken   string        // secret path token of the webhook URL
	WebhookHMAC    string        // optional HMAC secret of the X-Mobbscan-Signature header
	WebhookMaxSkew time.Duration // HMAC timestamp tolerance (default 5 min)
	RetryBase      time.Duration // first delivery retry delay (default 2 s)
	RetryMax       time.Duration // cap of the delivery retry delay (default 5 min)
	ParkAfter      time.Duration // undelivered decisions are parked for a person after this (default 24 h)
	Retention      time.Duration // identity data of final processes is cleared from the index after this (default 90 days)
	EraseAfter     time.Duration // final processes are also erased at the gateway after this; 0 is never
}

func (c *Config) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&c.ClaimTTL, 5*time.Minute)
	set(&c.AgingAmber, 4*time.Hour)
	set(&c.AgingRed, 24*time.Hour)
	set(&c.ReviewRecheck, 10*time.Minute)
	set(&c.MaxRecheck, time.Hour)
	set(&c.InfoCacheTTL, 30*time.Second)
	set(&c.WebhookMaxSkew, 5*time.Minute)
	set(&c.RetryBase, 2*time.Second)
	set(&c.RetryMax, 5*time.Minute)
	set(&c.ParkAfter, 24*time.Hour)
	set(&c.Retention, 90*24*time.Hour)
}

// Service is the review workflow.
type Service struct {
	DB     *store.DB
	Client *mobbscan.Client
	Log    *slog.Logger
	cfg    Config

	// cache holds gateway process information per instance for InfoCacheTTL at most.
	// Forget after a decision, erasure or purge runs on the instance that did it, so
	// another instance may show the information from before for up to InfoCacheTTL,
	// never longer: an older entry is never served (and is dropped when met).
	cacheMu sync.Mutex
	cache   map[string]cachedInfo

	deliveryWake   chan struct{}
	reconcilerWake chan struct{} // a catch-up after an outage wakes RunWorkers

	webhookGuard *webhookGuard // wrong webhook tokens per IP (issue 9, webhook_guard.go)
}

type cachedInfo struct {
	p       *mobbscan.Process
	fetched time.Time
}

// New returns the workflow service.
func New(db *store.DB, client *mobbscan.Client, log *slog.Logger, cfg Config) *Service {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	s := &Service{DB: db, Client: client, Log: log, cfg: cfg, cache: map[string]cachedInfo{}, deliveryWake: make(chan struct{}, 1),
		reconcilerWake: make(chan struct{}, 1)}
	s.webhookGuard = newWebhookGuard(func() time.Time { return s.DB.Now() })
	s.wireCatchUp()
	return s
}

// Config returns the service's settings.
func (s *Service) Config() Config { return s.cfg }

// ValidID reports whether id looks like a verification id: 1–128 characters of
// letters, digits, '-', '_' and '.'. Anything else is never sent to the gateway.
func ValidID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// SnapshotOf reduces the gateway's process information to what the index keeps (P2).
func SnapshotOf(p *mobbscan.Process) store.Snapshot {
	s := stateSnapshot(p.VerificationID, p.State)
	s.Partial = false
	s.CreatedAt, s.UpdatedAt = p.CreationDate, p.LastUpdateDate
	s.Country = clip(strings.ToUpper(p.CountryID), 8)
	s.DocType = clip(p.DocType, 64)
	nationality := p.PersonalData.Nationality
	if strings.TrimSpace(nationality) == "" {
		nationality = p.CountryID
	}
	s.HolderName = clip(HolderName(p.PersonalData.Name, p.PersonalData.Surname, nationality), 300)
	s.CustomerRef = clip(customerRef(p.ExtraData), 200)
	failed := p.ValidationResult.Failed
	if len(failed) == 0 {
		for _, f := range p.OrderedValidations() {
			if f.Value == mobbscan.ValidationNotValid {
				failed = append(failed, f.Key)
			}
		}
	}
	for _, f := range failed {
		if validName(f) && len(s.Failed) < 30 { // 30 names of at most 64 bytes fit the index (2000)
			s.Failed = append(s.Failed, f)
		}
	}
	for _, e := range p.Evidences {
		if k, ok := store.EvidenceKindOf(e); ok {
			s.Evidence = append(s.Evidence, k)
		}
	}
	for i, k := range store.ScoreNames {
		if v, ok := p.Scores[string(k)]; ok {
			s.Scores[i] = &v
		}
	}
	return s
}

func stateSnapshot(id string, st mobbscan.State) store.Snapshot {
	status := string(st.Status)
	switch st.Status {
	case mobbscan.StatusPending, mobbscan.StatusVerified, mobbscan.StatusNotVerified:
	default:
		status = "UNKNOWN"
	}
	return store.Snapshot{
		ID: id, Status: status, RawStatus: clip(st.RawStatus, 64), Stage: clip(st.Stage, 64),
		Reviewable: st.Reviewable(), Final: st.Status.Final(), Partial: true,
	}
}

// customerRef picks the integrator's customer reference from the extra data.
func customerRef(extra map[string]string) string {
	for _, k := range []string{"customerRef", "customerId", "customerReference", "reference", "ref"} {
		if v := strings.TrimSpace(extra[k]); v != "" {
			return v
		}
	}
	return ""
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// nextCheck is when a process in this state is next re-read: soon while in review,
// with a growing interval otherwise.
func (s *Service) nextCheck(snap store.Snapshot, failures int) time.Time {
	now := s.DB.Now()
	if snap.Final {
		return now.Add(365 * 24 * time.Hour)
	}
	if snap.Reviewable {
		return now.Add(jitter(s.cfg.ReviewRecheck))
	}
	return now.Add(jitter(backoff(time.Minute, s.cfg.MaxRecheck, failures)))
}

// backoff is base·2^n capped at max.
func backoff(base, max time.Duration, n int) time.Duration {
	d := base
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}

// jitter spreads d by ±20 % so that retries do not march in step.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d - d/5 + rand.N(2*d/5+1)
}

// Track adds a process to the index by id, after the gateway confirmed it exists.
func (s *Service) Track(ctx context.Context, a store.Actor, id string) (*store.Process, error) {
	id = strings.TrimSpace(id)
	if !ValidID(id) {
		return nil, errorf(CodeInvalid, "id", "That is not a verification id: use 1 to 128 letters, digits, '-', '_' or '.'.")
	}
	if p, err := s.DB.GetProcess(ctx, id); err == nil && !p.Gone {
		return p, nil
	}
	info, err := s.Client.Process(ctx, id)
	if err != nil {
		if e := ErrorOf(gatewayError(err, CodeInvalid)); e.Code == CodeInvalid {
			e.Field, e.Message = "id", i18n.M("Mobbscan does not know this verification id. Nothing was added.")
			return nil, e
		}
		return nil, errorf(CodeUnavailable, "id", "Mobbscan is not answering, so the id could not be checked. Try again in a moment.")
	}
	s.remember(info)
	snap := SnapshotOf(info)
	if _, err := s.DB.UpsertProcess(ctx, store.SourceTracked, snap, s.nextCheck(snap, 0)); err != nil {
		return nil, err
	}
	if err := s.DB.Audit(ctx, a, store.ActionProcessTrack, "process", id, store.OutcomeSuccess, ""); err != nil {
		return nil, err
	}
	return s.DB.GetProcess(ctx, id)
}

// NewOnboarding is what an agent enters to create a process.
type NewOnboarding struct {
	Country     string
	DocType     string
	CustomerRef string
}

// DocTypes are the document types the portal offers when creating a process.
var DocTypes = []string{"IDCard", "Passport", "DriverLicense"}

// CreateOnboarding creates a process at the gateway and indexes it; the onboarding URL
// is what the customer needs.
func (s *Service) CreateOnboarding(ctx context.Context, a store.Actor, in NewOnboarding) (*store.Process, error) {
	if now := s.DB.Now(); a.UserID != 0 { // the per-user rate limit (issue 9)
		n, oldest, err := s.DB.RecentSuccesses(ctx, a.UserID, store.ActionProcessCreate, now.Add(-time.Hour))
		if err != nil {
			return nil, err
		}
		if err := MayCreateOnboarding(n, oldest, now); err != nil {
			return nil, err
		}
	}
	req := mobbscan.CreateRequest{CountryID: strings.ToUpper(strings.TrimSpace(in.Country)), DocType: in.DocType, RedirectURL: s.cfg.RedirectURL}
	if ref := strings.TrimSpace(in.CustomerRef); ref != "" {
		req.ExtraData = map[string]string{"customerRef": ref}
	}
	ob, err := s.Client.CreateOnboarding(ctx, req)
	if err != nil {
		return nil, gatewayError(err, CodeUnavailable)
	}
	if !ValidID(ob.VerificationID) {
		return nil, errorf(CodeUnavailable, "", "Mobbscan returned an unusable verification id.")
	}
	now := s.DB.Now()
	snap := store.Snapshot{
		ID: ob.VerificationID, Status: string(mobbscan.StatusPending), RawStatus: "PENDING", Stage: "CREATED",
		CreatedAt: now, Country: req.CountryID, DocType: req.DocType, CustomerRef: clip(strings.TrimSpace(in.CustomerRef), 200),
	}
	if len(ob.OnboardingURL) <= 2000 {
		snap.OnboardingURL = ob.OnboardingURL
	}
	if _, err := s.DB.UpsertProcess(ctx, store.SourceCreated, snap, now.Add(time.Minute)); err != nil {
		return nil, err
	}
	if err := s.DB.Audit(ctx, a, store.ActionProcessCreate, "process", ob.VerificationID, store.OutcomeSuccess, req.CountryID+" "+req.DocType); err != nil {
		return nil, err
	}
	return s.DB.GetProcess(ctx, ob.VerificationID)
}

// Details is the gateway's information of a process, flattened for display. Identity
// data lives only in memory.
type Details struct {
	Personal    [][2]string // field key and value, known fields first
	Validations [][2]string // check name and VALID, NOT_VALID or NOT_CHECKED
	Scores      map[string]float64
	Evidence    []store.EvidenceKind // evidence kinds the process has
	Decision    [][2]string          // label and value of a recorded decision
}

// DetailsOf flattens process information.
func DetailsOf(p *mobbscan.Process) *Details {
	d := &Details{Scores: p.Scores}
	for _, e := range p.Evidences {
		if k, ok := store.EvidenceKindOf(e); ok {
			d.Evidence = append(d.Evidence, k)
		}
	}
	for _, f := range p.PersonalData.Fields() {
		d.Personal = append(d.Personal, [2]string{f.Key, f.Value})
	}
	for _, f := range p.OrderedValidations() {
		d.Validations = append(d.Validations, [2]string{f.Key, f.Value})
	}
	if dec := p.Decision; dec != nil {
		verdict := map[string]string{mobbscan.VerdictAccepted: i18n.M("Accepted"), mobbscan.VerdictRejected: i18n.M("Rejected")}[dec.Verdict]
		if verdict == "" {
			verdict = dec.Verdict
		}
		d.Decision = append(d.Decision, [2]string{i18n.M("Verdict"), verdict})
		if dec.RejectionComment != "" {
			d.Decision = append(d.Decision, [2]string{i18n.M("Reason sent to the customer"), dec.RejectionComment})
		}
		if !dec.DecidedAt.IsZero() {
			d.Decision = append(d.Decision, [2]string{i18n.M("Decided at"), dec.DecidedAt.UTC().Format("2006-01-02 15:04 UTC")})
		}
	}
	return d
}

// View returns the gateway's information of an indexed process for its page and
// audits the view; see Info.
func (s *Service) View(ctx context.Context, a store.Actor, id string, fresh bool) (*Details, error) {
	d, err := s.Info(ctx, a, id, fresh)
	if aerr := s.DB.Audit(ctx, a, store.ActionProcessView, "process", id, store.OutcomeSuccess, ""); aerr != nil {
		return nil, aerr
	}
	return d, err
}

// Info returns the gateway's full information of an indexed process for a, reusing a
// copy fetched in the last InfoCacheTTL unless fresh is set, and records that a was
// shown it (inside a's claim, accepting needs it: D7).
func (s *Service) Info(ctx context.Context, a store.Actor, id string, fresh bool) (*Details, error) {
	p, err := s.info(ctx, id, fresh)
	if err != nil {
		return nil, err
	}
	if err := s.DB.RecordServed(ctx, a, id, store.ProcessData); err != nil {
		return nil, err
	}
	return DetailsOf(p), nil
}

func (s *Service) info(ctx context.Context, id string, fresh bool) (*mobbscan.Process, error) {
	now := s.DB.Now()
	s.cacheMu.Lock()
	c, ok := s.cache[id]
	if ok && now.Sub(c.fetched) >= s.cfg.InfoCacheTTL {
		delete(s.cache, id) // identity data is not kept past its use
		ok = false
	}
	s.cacheMu.Unlock()
	if ok && !fresh {
		return c.p, nil
	}
	p, err := s.Client.Process(ctx, id)
	if err != nil {
		if errors.Is(err, mobbscan.ErrNotFound) {
			_ = s.DB.MarkGone(ctx, id)
		}
		return nil, gatewayError(err, CodeNotFound)
	}
	s.remember(p)
	snap := SnapshotOf(p)
	if _, err := s.DB.UpsertProcess(ctx, store.SourceTracked, snap, s.nextCheck(snap, 0)); err != nil {
		return nil, err
	}
	return p, nil
}

// remember caches process information briefly; the cache is bounded.
func (s *Service) remember(p *mobbscan.Process) {
	now := s.DB.Now()
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if len(s.cache) >= 500 {
		for k, v := range s.cache {
			if now.Sub(v.fetched) >= s.cfg.InfoCacheTTL {
				delete(s.cache, k)
			}
		}
		if len(s.cache) >= 500 {
			clear(s.cache)
		}
	}
	s.cache[p.VerificationID] = cachedInfo{p: p, fetched: now}
}

// Forget drops the cached information of a process (after a decision).
func (s *Service) Forget(id string) {
	s.cacheMu.Lock()
	delete(s.cache, id)
	s.cacheMu.Unlock()
}

// Evidence streams one evidence item of an indexed process to a, or the ZIP of all
// (store.EvidenceZIP): allow-listed content types only (P1), and every access recorded
// (L4; inside a's claim it counts for the accept rule, D7). The caller closes Body. A
// Range beyond the end is no error: an Evidence with StatusCode 416, no body and the
// gateway's ContentRange ("bytes */N"), recorded as nothing served.
func (s *Service) Evidence(ctx context.Context, a store.Actor, id string, kind store.EvidenceKind, rangeHeader string) (*mobbscan.Evidence, string, error) {
	var ev *mobbscan.Evidence
	var err error
	if kind == store.EvidenceZIP {
		ev, err = s.Client.ZIP(ctx, id)
	} else {
		ev, err = s.Client.Evidence(ctx, id, string(kind), rangeHeader)
	}
	if me := (*mobbscan.Error)(nil); errors.As(err, &me) && me.StatusCode == http.StatusRequestedRangeNotSatisfiable {
		// A Range beyond the end of the video: no evidence is served, and the caller
		// passes the 416 on with the gateway's Content-Range (issue 9).
		return &mobbscan.Evidence{Body: http.NoBody, StatusCode: me.StatusCode, ContentRange: me.ContentRange}, "", nil
	}
	if err != nil {
		if e := ErrorOf(gatewayError(err, CodeNotFound)); e.Code == CodeNotFound {
			e.Message = i18n.M("Mobbscan has no such evidence for this process.")
			return nil, "", e
		}
		return nil, "", gatewayError(err, CodeNotFound)
	}
	mediaType, _, perr := mime.ParseMediaType(ev.ContentType)
	if perr != nil || !EvidenceTypeAllowed(kind, mediaType) {
		ev.Body.Close()
		s.Log.Warn("evidence refused: unexpected content type", "process_id", id, "kind", kind, "content_type", ev.ContentType)
		return nil, "", errorf(CodeBadGateway, "", "Mobbscan sent evidence of an unexpected type; it was not shown.")
	}
	if err := s.DB.RecordServed(ctx, a, id, kind); err != nil {
		ev.Body.Close()
		return nil, "", err
	}
	return ev, mediaType, nil
}

// Counts returns the queue counters for userID: the store keeps them current in the
// transactions that change processes, so no request counts the queue.
func (s *Service) Counts(ctx context.Context, userID int64) (store.QueueCounts, error) {
	return s.DB.CountQueue(ctx, userID, s.cfg.AgingAmber)
}

// QueueOptions returns the countries and document types in review for the queue's
// filters.
func (s *Service) QueueOptions(ctx context.Context) (store.QueueOptions, error) {
	return s.DB.ListQueueOptions(ctx)
}

// Claim claims a process for a (renewing their own claim); takeover takes it from
// another agent, which is audited.
func (s *Service) Claim(ctx context.Context, a store.Actor, id string, takeover bool) (*store.Process, error) {
	p, err := s.DB.Claim(ctx, a, id, s.cfg.ClaimTTL, mayClaim(a, takeover))
	return p, translate(err)
}

// Heartbeat renews the claim a page holds (seq) while it is open.
func (s *Service) Heartbeat(ctx context.Context, a store.Actor, id string, seq int64) (*store.Process, error) {
	p, err := s.DB.Heartbeat(ctx, id, s.cfg.ClaimTTL, holdsClaim(a, seq))
	return p, translate(err)
}

// Release gives up a's claim; seq, when not zero, names the claim to release.
func (s *Service) Release(ctx context.Context, a store.Actor, id string, seq int64) error {
	err := s.DB.Release(ctx, a, id, seq)
	return translate(err)
}

// NextCase claims the oldest unclaimed process matching q for a; a CodeNotFound error
// when the queue has nothing for them.
func (s *Service) NextCase(ctx context.Context, a store.Actor, q store.QueueQuery) (*store.Process, error) {
	q.SkippedBy, q.Escalated = a.UserID, false
	p, err := s.DB.ClaimNext(ctx, a, s.cfg.ClaimTTL, q, mayClaim(a, false))
	return p, translate(err)
}

// Readiness lists what a must still be served before accepting (D7), judged on the
// claim a's page holds; an error when that is not a's claim any more.
func (s *Service) Readiness(ctx context.Context, a store.Actor, id string, seq int64) ([]store.EvidenceKind, error) {
	c, err := s.DB.LoadCase(ctx, id)
	if err != nil {
		return nil, translate(err)
	}
	if err := HoldsClaim(a, seq, c); err != nil {
		return nil, err
	}
	return MissingForAccept(c), nil
}

// Deny audits a refused request (an unknown id, a forbidden action): Z2, L1. Under the
// L3 bound (store.AuditRefusal): the first DeniedRecorded denials of a user (or of an
// anonymous IP) in a window are recorded one by one, the rest counted into a summary.
func (s *Service) Deny(ctx context.Context, a store.Actor, objectType, objectID, detail string) error {
	_, err := s.DB.AuditRefusal(ctx, a, store.Refusal{Key: RefusalKey(a), RecordFirst: DeniedRecorded,
		Action: store.ActionAccessDenied, ObjectType: objectType, ObjectID: objectID, Outcome: store.OutcomeDenied, Detail: detail})
	return err
}
