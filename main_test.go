package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// portal is a running in-process portal for tests.
type portal struct {
	URL     string
	DataDir string
	Out     *syncBuffer
}

// startPortal runs the real program (run → serve) on 127.0.0.1:0 with a fresh data
// folder, the way design.md asks browser tests to, and stops it when the test ends.
func startPortal(t *testing.T, extraEnv map[string]string) *portal {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{
		"PORTAL_ADDR": "127.0.0.1:0", "PORTAL_DATA_DIR": dir, "PORTAL_TEST_CHEAP_HASH": "1", "PORTAL_LOG_LEVEL": "warn",
	}
	for k, v := range extraEnv {
		env[k] = v
	}
	getenv := func(k string) string { return env[k] }
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	go func() { errc <- serve(ctx, nil, getenv, out, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-errc:
		cancel()
		t.Fatalf("portal did not start: %v\n%s", err, out.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("portal did not start in time\n%s", out.String())
	}
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil && err != http.ErrServerClosed {
			t.Errorf("serve: %v", err)
		}
	})
	return &portal{URL: "http://" + addr, DataDir: dir, Out: out}
}

var adminLine = regexp.MustCompile(`(?m)^\s+email:\s+(\S+)\s*\n\s+password:\s+(\S+)`)

// adminCredentials returns the first-run admin's email and one-time password as printed.
func (p *portal) adminCredentials(t *testing.T) (string, string) {
	t.Helper()
	m := adminLine.FindStringSubmatch(p.Out.String())
	if m == nil {
		t.Fatalf("no admin credentials printed:\n%s", p.Out.String())
	}
	return m[1], m[2]
}

func TestFirstRunPrintsAdminCredentialsAndServesSignIn(t *testing.T) {
	p := startPortal(t, nil)
	email, password := p.adminCredentials(t)
	if email == "" || len(password) < 20 {
		t.Fatalf("credentials: got %q / %d chars", email, len(password))
	}
	resp, err := http.Get(p.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /login: got %d, want 200", resp.StatusCode)
	}
	// A second start on the same data prints no new password.
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	env := map[string]string{"PORTAL_ADDR": "127.0.0.1:0", "PORTAL_DATA_DIR": p.DataDir, "PORTAL_TEST_CHEAP_HASH": "1", "PORTAL_LOG_LEVEL": "warn"}
	go func() { errc <- serve(ctx, nil, func(k string) string { return env[k] }, out, ready) }()
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("second start: %v", err)
	}
	cancel()
	<-errc
	if strings.Contains(out.String(), "password:") {
		t.Fatalf("second start printed credentials again:\n%s", out.String())
	}
}

func TestProductionRefusesWeakConfiguration(t *testing.T) {
	env := map[string]string{"PORTAL_ENV": "production", "PORTAL_DATA_DIR": t.TempDir(), "PORTAL_BASE_URL": "http://insecure.example"}
	err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "production start refused") {
		t.Fatalf("got %v, want a refused production start", err)
	}
}

func TestUserAndAuditCommands(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"PORTAL_DATA_DIR": dir}
	getenv := func(k string) string { return env[k] }
	out := &syncBuffer{}
	ctx := context.Background()
	if err := run(ctx, []string{"user", "add", "--email", "Agent@Example.com", "--role", "agent"}, getenv, out); err != nil {
		t.Fatalf("user add: %v", err)
	}
	if !regexp.MustCompile(`/password/[A-Za-z0-9_-]{43}\b`).MatchString(out.String()) {
		t.Fatalf("user add printed no set-password link:\n%s", out.String())
	}
	if err := run(ctx, []string{"user", "add", "--email", "agent@example.com", "--role", "agent"}, getenv, out); err == nil {
		t.Fatal("duplicate user add succeeded")
	}
	if err := run(ctx, []string{"user", "add", "--email", "x@example.com", "--role", "root"}, getenv, out); err == nil {
		t.Fatal("bad role accepted")
	}
	if err := run(ctx, []string{"user", "reset", "--email", "agent@example.com"}, getenv, out); err != nil {
		t.Fatalf("user reset: %v", err)
	}
	if err := run(ctx, []string{"audit", "verify"}, getenv, out); err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "audit chain intact: 3 events") {
		t.Fatalf("audit verify output:\n%s", out.String())
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if err := run(ctx, []string{"backup", "--to", backup}, getenv, out); err != nil {
		t.Fatalf("backup: %v\n%s", err, out.String())
	}
	if err := run(ctx, []string{"backup", "--to", backup}, getenv, out); err == nil {
		t.Fatal("backup over an existing file succeeded")
	}
	// The backup is a working database: the same accounts, a verifiable audit chain.
	bdb, err := store.Open(ctx, backup)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	if u, err := bdb.UserByEmail(ctx, "agent@example.com"); err != nil || u.Role != store.RoleAgent {
		t.Fatalf("backup: agent %v %v", u, err)
	}
	if n, err := bdb.VerifyAudit(ctx); err != nil || n != 3 {
		t.Fatalf("backup audit chain: %d %v", n, err)
	}
}

// TestFirstRunNoticeComesLastAndSaysHowToRecover: the one-time password is printed after
// the startup log (so it does not scroll away) and says how to get a new one (issue 12).
func TestFirstRunNoticeComesLastAndSaysHowToRecover(t *testing.T) {
	p := startPortal(t, map[string]string{"PORTAL_LOG_LEVEL": "info"})
	email, _ := p.adminCredentials(t)
	out := p.Out.String()
	listening, notice := strings.Index(out, "portal listening"), strings.Index(out, "First start")
	if listening < 0 || notice < listening {
		t.Errorf("the first-start notice (at %d) comes before the startup log's last line (at %d):\n%s", notice, listening, out)
	}
	for _, want := range []string{"user reset --email " + email, "Sign in at " + p.URL} {
		if !strings.Contains(out[max(notice, 0):], want) {
			t.Errorf("the first-start notice does not say %q:\n%s", want, out)
		}
	}
}
