package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// config is the portal's configuration: flags override PORTAL_* environment variables,
// which override the defaults (a complete development setup).
type config struct {
	Addr           string
	DataDir        string
	DatabaseURL    string // PostgreSQL (issue 13); empty: SQLite at DataDir/portal.db
	Instance       string // this instance's name among several on one database; empty: host:port (instanceName)
	BaseURL        string
	Env            string
	SessionIdle    time.Duration
	SessionMax     time.Duration
	TrustedProxies []*net.IPNet
	LogLevel       string

	MobbscanURL     string // empty: the embedded sandbox
	MobbscanKey     string
	MobbscanSecret  string
	DecisionType    string
	MobbscanTimeout time.Duration

	WebhookToken string
	WebhookHMAC  string

	SandboxAddr    string
	SandboxInitial int
	SandboxTrickle time.Duration

	ClaimTTL       time.Duration
	AgingAmber     time.Duration
	AgingRed       time.Duration
	ReconcileEvery time.Duration
	RetryBase      time.Duration
	RetryMax       time.Duration
	ParkAfter      time.Duration
	RetentionDays  int // identity data of final processes is cleared from the index after this many days
	EraseAfterDays int // final processes are erased at the gateway after this many days; 0 is never

	MetricsAddr string // listen address of /metrics (Prometheus); empty is off

	// Single sign-on (issue 9, item 2): issuer, client id and secret together or none.
	OIDCIssuer       string
	OIDCClientID     string
	OIDCClientSecret string
	OIDCName         string // the button's "Sign in with <name>"; default: the issuer's host
	// oidcFallbackBase is the portal's listening URL, for the callback when
	// PORTAL_BASE_URL is empty (development only; set by serve).
	oidcFallbackBase string
}

func (c config) production() bool { return c.Env == "production" }

// envDefault reads PORTAL_<name>, or the file named by PORTAL_<name>_FILE (for secrets).
func envValue(getenv func(string) string, name string) (string, error) {
	if v := getenv("PORTAL_" + name); v != "" {
		return v, nil
	}
	if f := getenv("PORTAL_" + name + "_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("PORTAL_%s_FILE: %w", name, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return "", nil
}

// parseConfig reads flags from args (after the subcommand) and the environment.
func parseConfig(name string, args []string, getenv func(string) string, out io.Writer) (config, *flag.FlagSet, error) {
	var c config
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	def := func(env, fallback string) string {
		if v, _ := envValue(getenv, env); v != "" {
			return v
		}
		return fallback
	}
	fs.StringVar(&c.Addr, "addr", def("ADDR", "127.0.0.1:8080"), "listen address (PORTAL_ADDR)")
	fs.StringVar(&c.DataDir, "data-dir", def("DATA_DIR", "./data"), "folder for the database and other state (PORTAL_DATA_DIR)")
	fs.StringVar(&c.BaseURL, "base-url", def("BASE_URL", ""), "public URL of the portal, e.g. https://review.example.com (PORTAL_BASE_URL)")
	fs.StringVar(&c.Env, "env", def("ENV", "development"), "development or production (PORTAL_ENV)")
	idle := fs.String("session-idle", def("SESSION_IDLE", "15m"), "idle session timeout (PORTAL_SESSION_IDLE)")
	max := fs.String("session-max", def("SESSION_MAX", "8h"), "absolute session lifetime (PORTAL_SESSION_MAX)")
	proxies := fs.String("trusted-proxies", def("TRUSTED_PROXIES", ""), "comma-separated CIDRs whose X-Forwarded-For is trusted (PORTAL_TRUSTED_PROXIES)")
	fs.StringVar(&c.LogLevel, "log-level", def("LOG_LEVEL", "info"), "debug, info, warn or error (PORTAL_LOG_LEVEL)")
	fs.StringVar(&c.MobbscanURL, "mobbscan-url", def("MOBBSCAN_URL", ""), "Mobbscan API Gateway URL; empty runs the embedded sandbox (PORTAL_MOBBSCAN_URL)")
	fs.StringVar(&c.MobbscanKey, "mobbscan-api-key", def("MOBBSCAN_API_KEY", ""), "gateway API key (PORTAL_MOBBSCAN_API_KEY)")
	c.MobbscanSecret = def("MOBBSCAN_API_SECRET", "")
	fs.StringVar(&c.DecisionType, "mobbscan-decision-type", def("MOBBSCAN_DECISION_TYPE", "MANUAL"), "\"type\" sent with decisions (PORTAL_MOBBSCAN_DECISION_TYPE)")
	timeout := fs.String("mobbscan-timeout", def("MOBBSCAN_TIMEOUT", "30s"), "whole-call timeout of gateway JSON calls (PORTAL_MOBBSCAN_TIMEOUT)")
	c.WebhookToken = def("WEBHOOK_TOKEN", "")
	c.WebhookHMAC = def("WEBHOOK_HMAC_SECRET", "")
	fs.StringVar(&c.SandboxAddr, "sandbox-addr", def("SANDBOX_ADDR", "127.0.0.1:0"), "listen address of the embedded sandbox (PORTAL_SANDBOX_ADDR)")
	initial := fs.String("sandbox-initial", def("SANDBOX_INITIAL", "12"), "processes the embedded sandbox puts in review on its first start (PORTAL_SANDBOX_INITIAL)")
	trickle := fs.String("sandbox-trickle", def("SANDBOX_TRICKLE", "3m"), "interval of new processes from the embedded sandbox; 0 is off (PORTAL_SANDBOX_TRICKLE)")
	claimTTL := fs.String("claim-ttl", def("CLAIM_TTL", "5m"), "how long a claim lasts without a heartbeat (PORTAL_CLAIM_TTL)")
	amber := fs.String("aging-amber", def("AGING_AMBER", "4h"), "waiting time marked amber (PORTAL_AGING_AMBER)")
	red := fs.String("aging-red", def("AGING_RED", "24h"), "waiting time marked red (PORTAL_AGING_RED)")
	reconcile := fs.String("reconcile-every", def("RECONCILE_EVERY", "15s"), "how often due status checks run (PORTAL_RECONCILE_EVERY)")
	retryBase := fs.String("delivery-retry-base", def("DELIVERY_RETRY_BASE", "2s"), "first delay before re-sending a decision (PORTAL_DELIVERY_RETRY_BASE)")
	retryMax := fs.String("delivery-retry-max", def("DELIVERY_RETRY_MAX", "5m"), "longest delay between delivery attempts (PORTAL_DELIVERY_RETRY_MAX)")
	parkAfter := fs.String("delivery-park-after", def("DELIVERY_PARK_AFTER", "24h"), "undelivered decisions are parked for a person after this (PORTAL_DELIVERY_PARK_AFTER)")
	retention := fs.String("retention-days", def("RETENTION_DAYS", "90"), "days the index keeps the identity data of final processes (PORTAL_RETENTION_DAYS)")
	eraseAfter := fs.String("erase-after-days", def("ERASE_AFTER_DAYS", "0"), "days after which final processes are also erased at the gateway; 0 is never (PORTAL_ERASE_AFTER_DAYS)")
	fs.StringVar(&c.Instance, "instance", def("INSTANCE", ""), "this instance's name among several on one database, unique among the running ones; empty is host name:listen port (PORTAL_INSTANCE)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", def("METRICS_ADDR", ""), "listen address of /metrics for Prometheus, never the public one; empty is off (PORTAL_METRICS_ADDR)")
	if err := fs.Parse(args); err != nil {
		return c, fs, err
	}
	var err error
	for _, d := range []struct {
		name string
		raw  string
		dst  *time.Duration
		zero bool
	}{
		{"mobbscan timeout", *timeout, &c.MobbscanTimeout, false}, {"sandbox trickle", *trickle, &c.SandboxTrickle, true},
		{"claim ttl", *claimTTL, &c.ClaimTTL, false}, {"aging amber", *amber, &c.AgingAmber, false},
		{"aging red", *red, &c.AgingRed, false}, {"reconcile interval", *reconcile, &c.ReconcileEvery, false},
		{"delivery retry base", *retryBase, &c.RetryBase, false}, {"delivery retry max", *retryMax, &c.RetryMax, false},
		{"delivery park after", *parkAfter, &c.ParkAfter, false},
	} {
		v, err := time.ParseDuration(d.raw)
		if err != nil || v < 0 || (v == 0 && !d.zero) {
			return c, fs, fmt.Errorf("%s %q: want a positive duration like 5m", d.name, d.raw)
		}
		*d.dst = v
	}
	r, err := review.ParseRetention(*retention, *eraseAfter) // the same limits as the admin setting
	if e := review.ErrorOf(err); e != nil {
		return c, fs, fmt.Errorf("retention (PORTAL_RETENTION_DAYS %q, PORTAL_ERASE_AFTER_DAYS %q): %s", *retention, *eraseAfter, e.Message)
	}
	c.RetentionDays, c.EraseAfterDays = r.KeepDays, r.EraseDays
	if c.SandboxInitial, err = strconv.Atoi(*initial); err != nil || c.SandboxInitial < 0 || c.SandboxInitial > 10000 {
		return c, fs, fmt.Errorf("sandbox initial %q: want a number from 0 to 10000", *initial)
	}
	if c.SessionIdle, err = time.ParseDuration(*idle); err != nil || c.SessionIdle <= 0 {
		return c, fs, fmt.Errorf("session idle timeout %q: want a duration like 15m", *idle)
	}
	if c.SessionMax, err = time.ParseDuration(*max); err != nil || c.SessionMax < c.SessionIdle {
		return c, fs, fmt.Errorf("session lifetime %q: want a duration like 8h, not shorter than the idle timeout", *max)
	}
	for _, p := range strings.Split(*proxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			return c, fs, fmt.Errorf("trusted proxy %q: %w", p, err)
		}
		c.TrustedProxies = append(c.TrustedProxies, n)
	}
	if err := c.checkMetricsAddr(); err != nil {
		return c, fs, err
	}
	if err := c.readOIDC(getenv); err != nil { // single sign-on (issue 9, item 2)
		return c, fs, err
	}
	// The database URL carries a password, so it comes from the environment (or a file)
	// only, never a flag that process listings would show.
	if c.DatabaseURL, err = envValue(getenv, "DATABASE_URL"); err != nil {
		return c, fs, err
	}
	if c.DatabaseURL != "" && !store.IsPostgres(c.DatabaseURL) {
		return c, fs, errors.New("PORTAL_DATABASE_URL: want a PostgreSQL URL, postgres://user:password@host:5432/dbname (leave it empty for SQLite in the data folder)")
	}
	if c.Env != "development" && c.Env != "production" {
		return c, fs, fmt.Errorf("environment %q: want development or production", c.Env)
	}
	return c, fs, c.checkProduction()
}

// checkProduction refuses a production start without what production needs (O2).
func (c config) checkProduction() error {
	if !c.production() {
		return nil
	}
	var problems []string
	if !strings.HasPrefix(c.BaseURL, "https://") {
		problems = append(problems, "PORTAL_BASE_URL must be the portal's https:// address (cookies are Secure)")
	}
	if c.MobbscanURL == "" {
		problems = append(problems, "PORTAL_MOBBSCAN_URL must name the real gateway (the sandbox is for development)")
	} else if u, err := url.Parse(c.MobbscanURL); err != nil || u.Scheme != "https" || u.Host == "" {
		// Issue 9 (O2): the API secret and every identity document travel over it.
		problems = append(problems, "PORTAL_MOBBSCAN_URL must be the gateway's https:// address")
	}
	if c.MobbscanKey == "" {
		problems = append(problems, "PORTAL_MOBBSCAN_API_KEY must be set")
	}
	// Issue 9 (O2): every secret long and varied enough, the message naming the variable.
	for _, sec := range []struct {
		name, value string
		optional    bool
	}{
		{"PORTAL_MOBBSCAN_API_SECRET", c.MobbscanSecret, false},
		{"PORTAL_WEBHOOK_TOKEN", c.WebhookToken, false},
		{"PORTAL_WEBHOOK_HMAC_SECRET", c.WebhookHMAC, true},
		{"PORTAL_OIDC_CLIENT_SECRET", c.OIDCClientSecret, true},
	} {
		if sec.optional && sec.value == "" {
			continue
		}
		if why := weakSecret(sec.value); why != "" {
			problems = append(problems, sec.name+" (or _FILE) "+why)
		}
	}
	if len(problems) > 0 {
		return errors.New("production start refused: " + strings.Join(problems, "; "))
	}
	return nil
}

// Hardening (issue 9, O2): what makes a production secret weak.
const (
	minSecretBytes    = 32 // shortest secret a production start accepts
	minSecretDistinct = 10 // fewest distinct characters: "aaaa…" or "abab…" is no secret
)

// weakSecret says why s is too weak to be a production secret (it must be set, have at
// least minSecretBytes bytes and minSecretDistinct distinct characters, and not be one
// short pattern repeated or a run like "abcdef…"), or "" when it is acceptable. The
// message never contains the secret.
func weakSecret(s string) string {
	switch {
	case s == "":
		return "must be set"
	case len(s) < minSecretBytes:
		return fmt.Sprintf("must have at least %d characters (it has %d); use a random string, e.g. openssl rand -hex 32", minSecretBytes, len(s))
	}
	distinct := map[rune]bool{}
	for _, r := range s {
		distinct[r] = true
	}
	if len(distinct) < minSecretDistinct {
		return fmt.Sprintf("has too little variety (%d distinct characters, want at least %d); use a random string", len(distinct), minSecretDistinct)
	}
	for n := 1; n <= len(s)/2; n++ {
		if strings.Repeat(s[:n], len(s)/n+1)[:len(s)] == s {
			return "is one short pattern repeated; use a random string"
		}
	}
	if run := []rune(s); len(run) > 1 {
		step, steady := run[1]-run[0], true
		for i := 2; i < len(run) && steady; i++ {
			steady = run[i]-run[i-1] == step
		}
		if steady {
			return "is a run of characters (like abcdef…); use a random string"
		}
	}
	return ""
}

// checkMetricsAddr accepts an empty metrics address (off) or a host:port with a port
// number that is not the public listen address: /metrics is never served to the public.
func (c config) checkMetricsAddr() error {
	if c.MetricsAddr == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(c.MetricsAddr)
	if err != nil {
		return fmt.Errorf("metrics address %q (PORTAL_METRICS_ADDR): want host:port, like 127.0.0.1:9100", c.MetricsAddr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("metrics address %q (PORTAL_METRICS_ADDR): want a port number from 0 to 65535", c.MetricsAddr)
	}
	if c.MetricsAddr == c.Addr && port != "0" {
		return fmt.Errorf("metrics address %q (PORTAL_METRICS_ADDR): must not be the public listen address (PORTAL_ADDR)", c.MetricsAddr)
	}
	return nil
}

// Single sign-on (issue 9, item 2).

// oidcConfigured reports whether single sign-on is configured.
func (c config) oidcConfigured() bool { return c.OIDCIssuer != "" }

// oidcRedirectURL is the callback URL to register at the identity provider.
func (c config) oidcRedirectURL() string {
	base := c.BaseURL
	if base == "" {
		base = c.oidcFallbackBase
	}
	return strings.TrimRight(base, "/") + auth.OIDCCallbackPath
}

// readOIDC reads PORTAL_OIDC_ISSUER, PORTAL_OIDC_CLIENT_ID, PORTAL_OIDC_CLIENT_SECRET
// (or _FILE) and PORTAL_OIDC_NAME: all of the first three or none; a partial
// configuration is an error, not single sign-on silently off.
func (c *config) readOIDC(getenv func(string) string) error {
	var err error
	for _, v := range []struct {
		name string
		dst  *string
	}{
		{"OIDC_ISSUER", &c.OIDCIssuer}, {"OIDC_CLIENT_ID", &c.OIDCClientID},
		{"OIDC_CLIENT_SECRET", &c.OIDCClientSecret}, {"OIDC_NAME", &c.OIDCName},
	} {
		if *v.dst, err = envValue(getenv, v.name); err != nil {
			return fmt.Errorf("single sign-on: %w", err)
		}
		*v.dst = strings.TrimSpace(*v.dst)
	}
	if c.OIDCIssuer == "" && c.OIDCClientID == "" && c.OIDCClientSecret == "" && c.OIDCName == "" {
		return nil
	}
	var missing []string
	for _, v := range []struct{ name, value string }{
		{"PORTAL_OIDC_ISSUER", c.OIDCIssuer}, {"PORTAL_OIDC_CLIENT_ID", c.OIDCClientID},
		{"PORTAL_OIDC_CLIENT_SECRET (or _FILE)", c.OIDCClientSecret},
	} {
		if v.value == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("single sign-on is partly configured: set %s too, or unset every PORTAL_OIDC_* variable", strings.Join(missing, " and "))
	}
	u, err := url.Parse(c.OIDCIssuer)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || (u.Scheme != "https" && (u.Scheme != "http" || c.production())) {
		return fmt.Errorf("PORTAL_OIDC_ISSUER %q: want the identity provider's https:// issuer URL, exactly as its discovery document says (http:// only in development)", c.OIDCIssuer)
	}
	if len(c.OIDCName) > 64 {
		return fmt.Errorf("PORTAL_OIDC_NAME: at most 64 characters, for the \"Sign in with\" button")
	}
	return nil
}
