package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Config configures a Sandbox. The zero value is usable: in memory, default
// credentials, no webhooks, no control API.
type Config struct {
	// APIKey and APISecret are the credentials POST /auth/token accepts
	// (defaults "sandbox-key" and "sandbox-secret").
	APIKey, APISecret string
	// TokenLifetime is how long access tokens live (default 15 minutes).
	TokenLifetime time.Duration
	// PublicURL is the base of onboardingUrl (e.g. "http://127.0.0.1:9090");
	// when empty it is derived from each request's Host.
	PublicURL string

	// WebhookURLs receive a POST on every status change.
	WebhookURLs []string
	// WebhookSecret, when set, signs notifications with X-Mobbscan-Signature.
	WebhookSecret string
	// WebhookRetries is how many times a failed notification is retried
	// (0 means 5; negative means never).
	WebhookRetries int
	// WebhookBackoff is the delay before the first retry, doubling after
	// each attempt up to a minute (default 200ms).
	WebhookBackoff time.Duration
	// WebhookDuplicates sends every notification twice.
	WebhookDuplicates bool
	// WebhookDelay holds every notification back this long.
	WebhookDelay time.Duration
	// WebhookTimeout bounds one delivery attempt (default 10s).
	WebhookTimeout time.Duration

	// DataDir, when set, keeps processes in DataDir/sandbox.db (SQLite) so
	// they survive a restart. Evidence is regenerated, never stored.
	DataDir string
	// Control enables the control API under /_sandbox/.
	Control bool
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives ids and events, never personal data or secrets
	// (default: discard).
	Logger *slog.Logger

	// InitialReview processes are created in review when Run starts with an
	// empty store.
	InitialReview int
	// Trickle, when positive, makes Run create and complete a new process at
	// this interval.
	Trickle time.Duration
	// Seed makes the generated processes reproducible (0 picks a random one).
	Seed int64
	// ImageCache is how many generated JPEGs are kept in memory (default 64).
	ImageCache int
}

// Default credentials and token lifetime.
const (
	DefaultAPIKey        = "sandbox-key"
	DefaultAPISecret     = "sandbox-secret"
	DefaultTokenLifetime = 15 * time.Minute
)

// Sandbox is the simulated gateway. It is an http.Handler; create it with New
// and release it with Close (or let Run do it).
type Sandbox struct {
	cfg    Config
	log    *slog.Logger
	seed   uint64
	jwtKey []byte
	mux    *http.ServeMux
	db     *store
	hooks  *webhooks
	images *imageCache

	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once

	mu            sync.Mutex
	procs         map[string]*process // committed processes are never mutated: clone, then commit
	byToken       map[string]string   // onboarding token → id
	seq           uint64              // processes ever created (drives ids and content)
	tokenLifetime time.Duration
	faults        map[string]*Fault
	largeVideo    int64
	stats         Stats
}

// New returns a Sandbox, loading its processes from Config.DataDir when set,
// and starts webhook delivery.
func New(cfg Config) (*Sandbox, error) {
	if cfg.APIKey == "" {
		cfg.APIKey = DefaultAPIKey
	}
	if cfg.APISecret == "" {
		cfg.APISecret = DefaultAPISecret
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = DefaultTokenLifetime
	}
	if cfg.WebhookRetries == 0 {
		cfg.WebhookRetries = 5
	} else if cfg.WebhookRetries < 0 {
		cfg.WebhookRetries = 0
	}
	if cfg.WebhookBackoff <= 0 {
		cfg.WebhookBackoff = 200 * time.Millisecond
	}
	if cfg.WebhookTimeout <= 0 {
		cfg.WebhookTimeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ImageCache <= 0 {
		cfg.ImageCache = 64
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("sandbox: signing key: %w", err)
	}
	seed := uint64(cfg.Seed)
	if seed == 0 {
		seed = binary.LittleEndian.Uint64(key[:8]) ^ 0x5eed
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sandbox{
		cfg:           cfg,
		log:           cfg.Logger.With("component", "mobbscan-sandbox"),
		seed:          seed,
		jwtKey:        key,
		images:        newImageCache(cfg.ImageCache),
		ctx:           ctx,
		cancel:        cancel,
		procs:         make(map[string]*process),
		byToken:       make(map[string]string),
		tokenLifetime: cfg.TokenLifetime,
		faults:        make(map[string]*Fault),
		stats:         Stats{Requests: make(map[string]int)},
	}
	if cfg.DataDir != "" {
		st, err := openStore(ctx, cfg.DataDir)
		if err != nil {
			cancel()
			return nil, err
		}
		procs, seq, err := st.load(ctx)
		if err != nil {
			cancel()
			st.close()
			return nil, err
		}
		for _, p := range procs {
			s.procs[p.ID] = p
			s.byToken[p.Token] = p.ID
		}
		s.seq = seq
		s.db = st
	}
	s.hooks = newWebhooks(s)
	s.hooks.start()
	s.routes()
	s.log.Info("sandbox ready", "processes", len(s.procs), "persistent", s.db != nil, "control", cfg.Control)
	return s, nil
}

// ServeHTTP serves the gateway API, the onboarding pages and (when enabled)
// the control API.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Run creates Config.InitialReview processes in review if the store is
// empty, then creates and completes a process every Config.Trickle until ctx
// is cancelled or Close is called. It closes the Sandbox before returning.
// Add webhook URLs before calling Run so the initial processes are notified.
func (s *Sandbox) Run(ctx context.Context) error {
	defer s.Close()
	if n := s.cfg.InitialReview; n > 0 && s.count() == 0 {
		if _, err := s.Seed(SeedSpec{Count: n}); err != nil {
			return fmt.Errorf("sandbox: initial processes: %w", err)
		}
		s.log.Info("created initial processes in review", "count", n)
	}
	var tick <-chan time.Time
	if s.cfg.Trickle > 0 {
		t := time.NewTicker(s.cfg.Trickle)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.ctx.Done():
			return nil
		case <-tick:
			if id, err := s.trickle(ctx); err != nil {
				s.log.Warn("trickle failed", "err", err)
			} else {
				s.log.Info("trickled a new process into review", "verificationId", id)
			}
		}
	}
}

// Close stops webhook delivery (abandoning pending notifications) and closes
// the store. It is safe to call more than once.
func (s *Sandbox) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.cancel()
		s.wg.Wait()
		s.hooks.client.CloseIdleConnections()
		if s.db != nil {
			err = s.db.close()
		}
	})
	return err
}

// AddWebhookURL adds a URL notified of every later status change.
func (s *Sandbox) AddWebhookURL(u string) { s.hooks.addURL(u) }

func (s *Sandbox) now() time.Time { return s.cfg.Now().UTC() }

// rng returns the deterministic random source of the seq-th process; stream
// separates independent uses (identity, completion, …).
func (s *Sandbox) rng(seq, stream uint64) *mrand.Rand {
	return mrand.New(mrand.NewPCG(s.seed, seq<<4|stream))
}

func (s *Sandbox) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.procs)
}
