package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// config is the portal's configuration: flags override PORTAL_* environment variables,
// which override the defaults (a complete development setup).
type config struct {
	Addr           string
	DataDir        string
	BaseURL        string
	Env            string
	SessionIdle    time.Duration
	SessionMax     time.Duration
	TrustedProxies []*net.IPNet
	LogLevel       string
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
	if err := fs.Parse(args); err != nil {
		return c, fs, err
	}
	var err error
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
	if len(problems) > 0 {
		return errors.New("production start refused: " + strings.Join(problems, "; "))
	}
	return nil
}
