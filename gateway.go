package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mobbscan-review/portal/mobbscan"
	"github.com/mobbscan-review/portal/mobbscan/sandbox"
)

// webhookToken returns the configured webhook path token or, in development, one kept
// in the data folder (generated and printed on first use).
func webhookToken(cfg config, stdout io.Writer) (string, error) {
	if cfg.WebhookToken != "" {
		return cfg.WebhookToken, nil
	}
	path := filepath.Join(cfg.DataDir, "webhook-token")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keep webhook token: %w", err)
	}
	fmt.Fprintf(stdout, "  Generated a webhook token (kept in %s; set PORTAL_WEBHOOK_TOKEN to choose your own).\n"+
		"  The gateway notifies /webhooks/mobbscan/%s on this portal.\n", path, token)
	return token, nil
}

// embeddedSandbox is the simulated gateway `portal serve` runs when no real one is set.
type embeddedSandbox struct {
	sb  *sandbox.Sandbox
	srv *http.Server
	ln  net.Listener
	URL string
}

// startSandbox listens for the embedded sandbox; it notifies webhookURL.
func startSandbox(cfg config, webhookURL string, log *slog.Logger) (*embeddedSandbox, error) {
	ln, err := net.Listen("tcp", cfg.SandboxAddr)
	if err != nil {
		return nil, fmt.Errorf("sandbox listen: %w", err)
	}
	url := "http://" + ln.Addr().String()
	sb, err := sandbox.New(sandbox.Config{
		PublicURL: url, WebhookURLs: []string{webhookURL}, WebhookSecret: cfg.WebhookHMAC, DataDir: cfg.DataDir,
		Control: true, Logger: log, InitialReview: cfg.SandboxInitial, Trickle: cfg.SandboxTrickle,
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	return &embeddedSandbox{sb: sb, srv: srv, ln: ln, URL: url}, nil
}

// run serves the sandbox and its background work until ctx ends.
func (e *embeddedSandbox) run(ctx context.Context) {
	go func() {
		if err := e.srv.Serve(e.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("sandbox server", "error", err)
		}
	}()
	_ = e.sb.Run(ctx)
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = e.srv.Shutdown(shut)
	_ = e.sb.Close()
}

// newClient returns the gateway client for cfg (the sandbox's default credentials when
// it is embedded).
func newClient(cfg config, baseURL string) (*mobbscan.Client, error) {
	key, secret := cfg.MobbscanKey, cfg.MobbscanSecret
	if cfg.MobbscanURL == "" {
		key, secret = sandbox.DefaultAPIKey, sandbox.DefaultAPISecret
	}
	return mobbscan.New(mobbscan.Config{
		BaseURL: baseURL, APIKey: key, APISecret: secret, DecisionType: cfg.DecisionType, CallTimeout: cfg.MobbscanTimeout,
	})
}

// sandboxCommand runs the sandbox standalone: portal sandbox --addr A --webhook URL.
func sandboxCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:9090", "listen address")
	var hooks stringList
	fs.Var(&hooks, "webhook", "webhook URL to notify (repeatable)")
	secret := fs.String("webhook-secret", getenv("PORTAL_WEBHOOK_HMAC_SECRET"), "HMAC secret to sign notifications")
	dataDir := fs.String("data-dir", "", "keep processes in this folder (default: in memory)")
	initial := fs.Int("initial", 12, "processes put in review on the first start")
	trickle := fs.Duration("trickle", 3*time.Minute, "interval of new processes (0 off)")
	lifetime := fs.Duration("token-lifetime", 15*time.Minute, "access token lifetime")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	log := newLogger(stdout, "info")
	sb, err := sandbox.New(sandbox.Config{
		PublicURL: "http://" + ln.Addr().String(), WebhookURLs: hooks, WebhookSecret: *secret, DataDir: *dataDir,
		Control: true, Logger: log, InitialReview: *initial, Trickle: *trickle, TokenLifetime: *lifetime,
	})
	if err != nil {
		ln.Close()
		return err
	}
	e := &embeddedSandbox{sb: sb, srv: &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}, ln: ln, URL: "http://" + ln.Addr().String()}
	fmt.Fprintf(stdout, "Mobbscan sandbox on %s (API key %q, secret %q); control API under /_sandbox/\n", e.URL, sandbox.DefaultAPIKey, sandbox.DefaultAPISecret)
	e.run(ctx)
	return nil
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
