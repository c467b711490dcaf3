// Command portal is the Mobbscan Review Portal: a review desk where compliance agents
// decide the identity-verification processes that Mobbscan left for manual review.
//
//	portal [serve]                  run the portal (the default)
//	portal user add --email E --role admin|agent [--name N] [--password-stdin]
//	portal user reset --email E     issue a new one-time set-password link
//	portal audit verify             check the audit trail's hash chain
//	portal audit export             the audit log as CSV or JSON Lines, with its hashes
//	portal backup --to FILE         online backup, integrity-checked
//	portal sandbox --addr A --webhook URL   run the Mobbscan gateway simulator alone
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"
	_ "time/tzdata" // time zones (issue 12) on machines without a zone database

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/handlers"
	"github.com/mobbscan-review/portal/metrics"
	"github.com/mobbscan-review/portal/mobbscan"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "portal:", err)
		}
		os.Exit(1)
	}
}

// run is the whole program: tests call it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stdout, nil)
	case "user":
		return userCommand(ctx, args, getenv, stdout)
	case "audit":
		return auditCommand(ctx, args, getenv, stdout)
	case "sandbox":
		return sandboxCommand(ctx, args, getenv, stdout)
	case "backup":
		return backupCommand(ctx, args, getenv, stdout)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: portal [serve|user add|user reset|audit verify|audit export|backup|sandbox] [flags]")
		return nil
	}
	return fmt.Errorf("unknown command %q (want serve, user, audit, backup or sandbox)", cmd)
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// openStore opens PostgreSQL when PORTAL_DATABASE_URL is set, else SQLite in the data
// folder.
func openStore(ctx context.Context, cfg config) (*store.DB, error) {
	if cfg.DatabaseURL != "" {
		return store.Open(ctx, cfg.DatabaseURL)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	return store.Open(ctx, filepath.Join(cfg.DataDir, "portal.db"))
}

// app is the wired portal, for serve and for tests.
type app struct {
	cfg      config
	db       *store.DB
	handler  http.Handler
	sessions *auth.SessionStore
	hasher   *auth.Hasher
	review   *review.Service
	inbox    *review.Inbox
	log      *slog.Logger
	metrics  *metrics.Metrics // nil when PORTAL_METRICS_ADDR is empty
	throttle *auth.Throttle   // sign-in throttling, per account shared through the database
	sso      *auth.OIDC       // nil without single sign-on
}

// workers, when set, reports the background workers' states to /healthz.
func newApp(ctx context.Context, cfg config, stdout io.Writer, hasherParams auth.Params, client *mobbscan.Client, webhookToken string, workers func() map[string]string) (*app, error) {
	log := newLogger(stdout, cfg.LogLevel)
	db, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	hasher := auth.NewHasher(hasherParams)
	sessions := auth.NewSessionStore(db, auth.SessionConfig{Secure: cfg.production(), Idle: cfg.SessionIdle, Max: cfg.SessionMax})
	rv := review.New(db, client, log, review.Config{
		ClaimTTL: cfg.ClaimTTL, AgingAmber: cfg.AgingAmber, AgingRed: cfg.AgingRed,
		WebhookToken: webhookToken, WebhookHMAC: cfg.WebhookHMAC,
		RetryBase: cfg.RetryBase, RetryMax: cfg.RetryMax, ParkAfter: cfg.ParkAfter,
		Retention: time.Duration(cfg.RetentionDays) * 24 * time.Hour, EraseAfter: time.Duration(cfg.EraseAfterDays) * 24 * time.Hour,
	})
	inbox := review.NewInbox(db)
	m := newMetrics(cfg, db, client, log) // nil when metrics are off
	observeRequest, observeWebhook := metricsHooks(m)
	throttle := auth.NewSharedThrottle(db, auth.DefaultThrottleConfig) // every instance counts an account's failures together
	sso := newOIDC(ctx, cfg, db, log, throttle)                        // single sign-on (issue 9, item 2); nil when not configured
	e := handlers.New(handlers.Config{
		Production: cfg.production(), BaseURL: cfg.BaseURL, TrustedProxies: cfg.TrustedProxies, Logger: log,
	}, handlers.Deps{
		DB: db, Sessions: sessions, Hasher: hasher, Review: rv, Inbox: inbox, Workers: workers,
		Authenticator:  &auth.Authenticator{DB: db, Hasher: hasher, Throttle: throttle},
		ObserveRequest: observeRequest, ObserveWebhook: observeWebhook,
		OIDC: sso,
	})
	return &app{cfg: cfg, db: db, handler: e, sessions: sessions, hasher: hasher, review: rv, inbox: inbox, log: log, metrics: m,
		throttle: throttle, sso: sso}, nil
}

// serve runs the portal until ctx ends. ready, when set, receives the listening address.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, ready chan<- string) error {
	cfg, _, err := parseConfig("serve", args, getenv, stdout)
	if err != nil {
		return err
	}
	params := auth.DefaultParams
	if getenv("PORTAL_TEST_CHEAP_HASH") == "1" && !cfg.production() {
		params = auth.TestParams // tests only: argon2id at full cost makes suites slow
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	token, err := webhookToken(cfg, stdout)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	portalURL := "http://" + ln.Addr().String()
	cfg.oidcFallbackBase = portalURL // the single sign-on callback when PORTAL_BASE_URL is empty
	log := newLogger(stdout, cfg.LogLevel)

	// The gateway: the configured one, or the embedded sandbox notifying our webhook.
	var sb *embeddedSandbox
	gatewayURL := cfg.MobbscanURL
	if gatewayURL == "" {
		if sb, err = startSandbox(cfg, portalURL+"/webhooks/mobbscan/"+token, log); err != nil {
			return err
		}
		gatewayURL = sb.URL
	}
	client, err := newClient(cfg, gatewayURL)
	if err != nil {
		return fmt.Errorf("mobbscan client: %w", err)
	}
	instance, err := instanceName(cfg.Instance, ln.Addr())
	if err != nil {
		return err
	}
	// The heartbeat is a worker set of its own: it beats until the other workers have
	// finished their in-flight deliveries, so that no other instance takes them over.
	// /healthz reports both sets: without its heartbeat an instance's gateway calls are
	// taken over by the others.
	workers, beats := &workerSet{log: log}, &workerSet{log: log}
	a, err := newApp(ctx, cfg, stdout, params, client, token, func() map[string]string {
		states := workers.states()
		maps.Copy(states, beats.states())
		return states
	})
	if err != nil {
		return err
	}
	defer a.db.Close()
	a.db.SetInstance(instance)
	firstAdmin, err := a.bootstrap(ctx, cmp.Or(cfg.BaseURL, portalURL))
	if err != nil {
		return err
	}
	stopMetrics, err := a.serveMetrics()
	if err != nil {
		return err
	}
	defer stopMetrics()

	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	a.log.Info("portal listening", "url", portalURL, "env", cfg.Env, "data_dir", cfg.DataDir, "database", a.db.Engine(), "instance", instance)
	if sb != nil {
		a.log.Info("using the EMBEDDED Mobbscan SANDBOX (simulated gateway, synthetic people); set PORTAL_MOBBSCAN_URL, PORTAL_MOBBSCAN_API_KEY and PORTAL_MOBBSCAN_API_SECRET to use a real gateway",
			"sandbox_url", sb.URL)
	} else {
		a.log.Info("using the Mobbscan gateway", "url", gatewayURL, "webhook_path", "/webhooks/mobbscan/<PORTAL_WEBHOOK_TOKEN>")
	}

	// The instance's heartbeat (store/instances.go): the first beat comes before any
	// worker starts an outbox row, so that no other instance ever sees this one's rows
	// without a live owner.
	if err := a.db.TouchInstance(ctx, store.InstanceTTL); errors.Is(err, store.ErrInstanceNameInUse) {
		a.log.Error("instance name clash", "instance", instance, "error", err)
	} else if err != nil {
		return err
	}
	beatCtx, stopBeat := context.WithCancel(context.Background())
	beats.spawn(beatCtx, "instance", a.heartbeat)

	// Background work: webhook intake, ingestion and reconciliation, session sweeping,
	// and the embedded sandbox. It stops after the HTTP server has drained. /healthz
	// reports each worker by name, except the sandbox, which is not the portal's.
	bg, stopBG := context.WithCancel(context.Background())
	workers.spawn(bg, "sessions", a.sweepSessions)
	workers.spawn(bg, "inbox", a.inbox.Run)
	workers.spawn(bg, "reconciliation", func(ctx context.Context) { a.review.RunWorkers(ctx, a.inbox, cfg.ReconcileEvery) })
	workers.spawn(bg, "delivery", a.review.RunDelivery)
	workers.spawn(bg, "retention", a.review.RunRetention)
	if sb != nil {
		workers.spawnUnwatched(bg, "sandbox", sb.run)
	}
	stop := func() {
		stopBG()
		workers.wait()
		stopBeat()
		beats.wait()
	}

	// The first admin's one-time password is the last thing a first start prints, so the
	// startup log does not scroll it away (issue 12).
	fmt.Fprint(stdout, firstAdmin)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if ready != nil {
		ready <- ln.Addr().String()
	}
	select {
	case err := <-errc:
		stop()
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = srv.Shutdown(shutCtx)
	stop()
	return err
}

// workerSet runs the background workers and knows which of them still run (O3).
type workerSet struct {
	log   *slog.Logger
	wg    sync.WaitGroup
	mu    sync.Mutex
	state map[string]string // worker name → handlers.WorkerRunning or WorkerStopped
}

// spawn runs f(ctx) on its own goroutine as the worker name, reported by states.
// If f returns or panics before ctx ends (the portal is not shutting down), the
// worker is logged and reported stopped; a panic does not take the portal down.
func (w *workerSet) spawn(ctx context.Context, name string, f func(context.Context)) {
	w.mu.Lock()
	if w.state == nil {
		w.state = map[string]string{}
	}
	w.state[name] = handlers.WorkerRunning
	w.mu.Unlock()
	w.run(ctx, name, true, f)
}

// spawnUnwatched runs f(ctx) like spawn, but states does not report it.
func (w *workerSet) spawnUnwatched(ctx context.Context, name string, f func(context.Context)) {
	w.run(ctx, name, false, f)
}

func (w *workerSet) run(ctx context.Context, name string, watched bool, f func(context.Context)) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() {
			if r := recover(); r != nil {
				w.log.Error("background worker panicked", "worker", name, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			}
			if ctx.Err() != nil {
				return // shutting down: stopping is expected
			}
			w.log.Error("background worker stopped", "worker", name)
			if watched {
				w.mu.Lock()
				w.state[name] = handlers.WorkerStopped
				w.mu.Unlock()
			}
		}()
		f(ctx)
	}()
}

// states returns a copy of every watched worker's state.
func (w *workerSet) states() map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]string, len(w.state))
	for name, s := range w.state {
		out[name] = s
	}
	return out
}

// wait waits until every worker has returned.
func (w *workerSet) wait() { w.wg.Wait() }

// sweepSessions deletes expired sessions now and then, and closes finished refusal
// windows (store.SweepRefusals); with several instances, only the leader does.
func (a *app) sweepSessions(ctx context.Context) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		if a.review.Leader(ctx) {
			a.sweepOnce(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *app) sweepOnce(ctx context.Context) {
	if n, err := a.db.DeleteExpiredSessions(ctx, a.cfg.SessionIdle); err != nil && ctx.Err() == nil {
		a.log.Warn("sweep sessions", "error", err)
	} else if n > 0 {
		a.log.Debug("swept sessions", "count", n)
	}
	// Issue 9 (L3): finished refusal windows get their summary audit row.
	if _, err := a.db.SweepRefusals(ctx); err != nil && ctx.Err() == nil {
		a.log.Warn("sweep refusals", "error", err)
	}
	// The shared throttle and pending single sign-ons bound themselves; this tidies up
	// when traffic stops.
	if err := a.throttle.Sweep(ctx); err != nil && ctx.Err() == nil {
		a.log.Warn("sweep sign-in throttle", "error", err)
	}
	if a.sso != nil {
		if err := a.sso.Sweep(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("sweep single sign-ons", "error", err)
		}
	}
}

// heartbeat keeps this instance's row alive every store.HeartbeatEvery (for
// store.InstanceTTL) until ctx ends, then removes it and gives up the leader lease, so
// that the other instances need not wait for them to expire (store/instances.go).
func (a *app) heartbeat(ctx context.Context) {
	t := time.NewTicker(store.HeartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := a.db.RemoveInstance(stopCtx); err != nil {
				a.log.Warn("remove the instance's heartbeat", "error", err)
			}
			if err := a.db.ReleaseLease(stopCtx, store.LeaderLease, a.db.Instance()); err != nil {
				a.log.Warn("release the leader lease", "error", err)
			}
			return
		case <-t.C:
		}
		err := a.db.TouchInstance(ctx, store.InstanceTTL)
		switch {
		case errors.Is(err, store.ErrInstanceNameInUse):
			a.log.Error("instance name clash", "instance", a.db.Instance(), "error", err)
		case err != nil && ctx.Err() == nil:
			a.log.Warn("instance heartbeat", "error", err)
		}
	}
}

// instanceName is this instance's name among the portals sharing one database
// (store/instances.go): PORTAL_INSTANCE, or else the host name and the port it listens
// on, which a restart on the same address keeps (it then recovers at once what its
// previous life was sending) and two instances on one host do not share. It must be
// unique among the instances running at the same time: one starting under the name of a
// running one would take that one's in-flight gateway calls over (the fence and the
// status read of D3 keep that safe, not quiet; the heartbeat logs the clash).
func instanceName(name string, addr net.Addr) (string, error) {
	if name != "" {
		if !validInstanceName(name) {
			return "", fmt.Errorf("instance name %q (-instance, PORTAL_INSTANCE): want 1 to %d letters, digits and . - _ : @ /, unique among the running instances",
				name, store.MaxInstanceName)
		}
		return name, nil
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "", fmt.Errorf("instance name from the listening address %s: %w", addr, err)
	}
	name = host + ":" + port
	if !validInstanceName(name) {
		return "", fmt.Errorf("the host name %q makes no usable instance name: set -instance or PORTAL_INSTANCE", host)
	}
	return name, nil
}

func validInstanceName(s string) bool {
	if s == "" || len(s) > store.MaxInstanceName {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_:@/", r)) {
			return false
		}
	}
	return true
}

// bootstrap creates the first admin with a random one-time password when there are no
// accounts at all (A5), and returns the notice that shows it once: where to sign in and
// how to get a new one-time link if it is lost. It returns "" when accounts exist.
func (a *app) bootstrap(ctx context.Context, url string) (string, error) {
	n, err := a.db.CountUsers(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	password := oneTimePassword()
	hash, err := a.hasher.Hash(password)
	if err != nil {
		return "", err
	}
	u := &store.User{Email: "admin@portal.local", DisplayName: "Administrator", Role: store.RoleAdmin,
		PasswordHash: hash, MustChangePassword: true, Active: true}
	created, err := a.db.BootstrapAdmin(ctx, u)
	if err != nil || !created {
		return "", err
	}
	return firstAdminNotice(url, u.Email, password), nil
}

// firstAdminNotice is the first start's message with the administrator's credentials.
func firstAdminNotice(url, email, password string) string {
	const rule = "  ════════════════════════════════════════════════════════════════════════\n"
	return "\n" + rule +
		"  First start: created the administrator account. Sign in at " + url + "\n" +
		"    email:    " + email + "\n" +
		"    password: " + password + "\n" +
		"  This one-time password is shown only now; you choose your own at first sign-in.\n" +
		"  Lost it? Run:  go run . user reset --email " + email + "\n" +
		"  (or `portal user reset --email " + email + "`): it prints a one-time link to set a new one.\n" +
		rule + "\n"
}

// oneTimePassword returns 24 characters from an unambiguous alphabet (about 120 bits).
func oneTimePassword() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789"
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// Metrics (Prometheus): built only when PORTAL_METRICS_ADDR is set, fed by the hooks
// of the store, the gateway client and the handlers, and served by a server of its
// own on that address, never on the public one.

// newMetrics returns the portal's metrics wired to db and client, or nil when
// metrics are off.
func newMetrics(cfg config, db *store.DB, client *mobbscan.Client, log *slog.Logger) *metrics.Metrics {
	if cfg.MetricsAddr == "" {
		return nil
	}
	m := metrics.New(metrics.Options{DB: db, SessionIdle: cfg.SessionIdle, WebhookResults: handlers.WebhookResults, Logger: log})
	db.SetAuditObserver(m.ObserveAudit)
	if client != nil {
		client.SetObserver(m.ObserveGateway)
	}
	return m
}

// metricsHooks returns the handlers' hooks into m, nil when metrics are off.
func metricsHooks(m *metrics.Metrics) (func(route, method string, status int, d time.Duration), func(result string)) {
	if m == nil {
		return nil, nil
	}
	return m.ObserveRequest, m.ObserveWebhook
}

// serveMetrics serves GET /metrics on the metrics address until the returned stop is
// called; it does nothing when metrics are off. A bad or busy address is an error.
func (a *app) serveMetrics() (stop func(), err error) {
	if a.metrics == nil {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", a.cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen (PORTAL_METRICS_ADDR): %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("metrics server", "error", err)
		}
	}()
	a.log.Info("metrics listening", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}

// Single sign-on (issue 9, item 2).

// newOIDC returns single sign-on when it is configured, else nil. The provider is
// discovered now; when it cannot be reached the portal starts all the same (the sign-in
// button is shown disabled) and discovery is retried when the sign-in page is used.
// It shares the password sign-in's per-IP throttle.
func newOIDC(ctx context.Context, cfg config, db *store.DB, log *slog.Logger, throttle *auth.Throttle) *auth.OIDC {
	if !cfg.oidcConfigured() {
		return nil
	}
	o := auth.NewOIDC(db, auth.OIDCConfig{
		Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCClientSecret,
		RedirectURL: cfg.oidcRedirectURL(), Name: cfg.OIDCName, Secure: cfg.production(), Throttle: throttle,
	})
	if err := o.Discover(ctx); err != nil {
		log.Warn("single sign-on provider unreachable at start; retrying when the sign-in page is used", "issuer", cfg.OIDCIssuer, "error", err)
	} else {
		log.Info("single sign-on ready", "issuer", cfg.OIDCIssuer, "name", o.Name(), "redirect_uri", cfg.oidcRedirectURL())
	}
	return o
}
