// Package pgtest gives tests a real PostgreSQL server: the one PORTAL_TEST_DATABASE_URL
// names (a superuser's URL), or else a throwaway cluster it creates with Debian's
// initdb under a temporary folder, listening on loopback only, run as the postgres user
// when the tests run as root (initdb refuses root). Each test gets a database of its
// own, dropped when it ends.
//
// Where no server can be had, tests that need one skip and say why; when CI is set they
// fail instead, as the browser tests do without chromium.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names an existing server's superuser URL; EnvEngine tells a test process which
// engine its store tests run on (see RunBoth).
const (
	EnvURL    = "PORTAL_TEST_DATABASE_URL"
	EnvEngine = "PORTAL_TEST_ENGINE"
)

var (
	once     sync.Once
	adminURL string
	stopFn   func()
	failure  error
)

// server returns the admin URL of a running server, starting a cluster the first time.
func server() (string, error) {
	once.Do(func() {
		if u := os.Getenv(EnvURL); u != "" {
			adminURL = u
			return
		}
		adminURL, stopFn, failure = startCluster()
	})
	return adminURL, failure
}

// Stop stops the cluster this process started, if any.
func Stop() {
	if stopFn != nil {
		stopFn()
		stopFn = nil
	}
}

// Main runs m and stops the cluster a test started: call it from TestMain in packages
// whose tests call Database.
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Engine is the engine this process's store tests run on: "postgres" in the second pass
// RunBoth starts, "sqlite" otherwise.
func Engine() string {
	if os.Getenv(EnvEngine) == "postgres" {
		return "postgres"
	}
	return "sqlite"
}

// RunBoth runs the tests of the calling package on SQLite, then runs this test binary
// again with the same flags on PostgreSQL (Engine reports "postgres" there), and returns
// a failing code if either failed. Benchmarks and fuzzing run once, on SQLite.
func RunBoth(m *testing.M) int {
	if Engine() == "postgres" {
		return m.Run()
	}
	code := m.Run()
	if flagSet("test.bench") || flagSet("test.fuzz") || flagSet("test.list") {
		return code
	}
	u, err := server()
	if err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintf(os.Stderr, "PostgreSQL is required in CI: %v\n", err)
			return 1
		}
		fmt.Printf("PostgreSQL pass skipped: %v\n", err)
		return code
	}
	defer Stop()
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), EnvEngine+"=postgres", EnvURL+"="+u)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	fmt.Println("== the same tests on PostgreSQL")
	if err := cmd.Run(); err != nil {
		return 1
	}
	return code
}

func flagSet(name string) bool {
	for _, a := range os.Args[1:] {
		a = strings.TrimLeft(a, "-")
		if k, v, ok := strings.Cut(a, "="); ok && k == name && v != "" {
			return true
		}
	}
	return false
}

// Database creates an empty database for t and returns its URL; it is dropped when t
// ends. Without a server it skips t (fails it when CI is set).
func Database(t testing.TB) string {
	t.Helper()
	u, err := server()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL is required in CI: %v", err)
		}
		t.Skipf("PostgreSQL not available: %v", err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("connect to the test server: %v", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return withDatabase(u, name)
}

func withDatabase(u, name string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.Path = "/" + name
	return p.String()
}

// startCluster creates and starts a throwaway cluster; stop removes it.
func startCluster() (string, func(), error) {
	bin, err := binDir()
	if err != nil {
		return "", nil, err
	}
	var run func(name string, args ...string) *exec.Cmd
	var owner *user.User
	if os.Geteuid() == 0 {
		if owner, err = user.Lookup("postgres"); err != nil {
			return "", nil, errors.New("running as root and there is no postgres user to run the server as")
		}
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			return "", nil, errors.New("running as root without runuser to run the server as postgres")
		}
		run = func(name string, args ...string) *exec.Cmd {
			return exec.Command(runuser, append([]string{"-u", "postgres", "--", filepath.Join(bin, name)}, args...)...)
		}
	} else {
		run = func(name string, args ...string) *exec.Cmd { return exec.Command(filepath.Join(bin, name), args...) }
	}
	dir, err := os.MkdirTemp("", "portal-pg-")
	if err != nil {
		return "", nil, err
	}
	if owner != nil {
		uid, _ := strconv.Atoi(owner.Uid)
		gid, _ := strconv.Atoi(owner.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("initdb: %v: %s", err, lastLines(out))
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	opts := fmt.Sprintf("-h 127.0.0.1 -p %d -k %s -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400", port, dir)
	start := run("pg_ctl", "-D", data, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "-o", opts, "start")
	start.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the server outlives no signal meant for the tests
	if out, err := start.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("pg_ctl start: %v: %s %s", err, lastLines(out), lastLines(log))
	}
	stop := func() {
		run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop").Run()
		os.RemoveAll(dir)
	}
	u := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, u)
		if err == nil {
			conn.Close(ctx)
			return u, stop, nil
		}
		if ctx.Err() != nil {
			stop()
			return "", nil, fmt.Errorf("the test server does not answer: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// binDir finds the server's programs: pg_config's bindir, else Debian's newest
// /usr/lib/postgresql/N/bin.
func binDir() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	if len(dirs) == 0 {
		return "", errors.New("no PostgreSQL server installed (no initdb; on Debian: apt-get install postgresql)")
	}
	return filepath.Dir(dirs[0]), nil
}

func version(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}
