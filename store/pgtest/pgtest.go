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

// Stop drops the template databases and stops the cluster this process started, if any.
func Stop() {
	dropTemplates()
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
		code := m.Run()
		dropTemplates()
		return code
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
	u := mustServer(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("connect to the test server: %v", err)
	}
	defer conn.Close(ctx)
	name := "t_" + randomSuffix()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() { dropLater(u, name) })
	return withDatabase(u, name)
}

// Clone creates a database for t as a copy of the template database name, which setup
// builds (given its URL, and leaving no connection open) the first time this process
// asks for it: a migrated schema is copied in a fraction of the time migrating takes.
func Clone(t testing.TB, name string, setup func(url string) error) string {
	t.Helper()
	u := mustServer(t)
	templatesMu.Lock()
	tmpl, ok := templates[name]
	if !ok {
		tmpl = &template{}
		templates[name] = tmpl
	}
	templatesMu.Unlock()
	tmpl.once.Do(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			tmpl.err = err
			return
		}
		defer conn.Close(ctx)
		db := name + "_" + randomSuffix() // unique per process: test binaries may share a server
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+db); err != nil {
			tmpl.err = err
			return
		}
		if tmpl.err = setup(withDatabase(u, db)); tmpl.err == nil {
			tmpl.db = db
			tmpl.ready = make(chan string, 2)
			tmpl.stop = make(chan struct{})
			go tmpl.fill(u)
		}
	})
	if tmpl.err != nil {
		t.Fatalf("template database %s: %v", name, tmpl.err)
	}
	clone, ok := <-tmpl.ready
	if !ok {
		t.Fatalf("template database %s: copies stopped", name)
	}
	t.Cleanup(func() { dropLater(u, clone) })
	return withDatabase(u, clone)
}

type template struct {
	once  sync.Once
	db    string
	err   error
	ready chan string   // copies made ahead, while the tests before run
	stop  chan struct{} // closed by dropTemplates
}

// fill makes copies of the template ahead of the tests that will ask for them.
func (tmpl *template) fill(u string) {
	defer close(tmpl.ready)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	for {
		name := "t_" + randomSuffix()
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+tmpl.db); err != nil {
			return
		}
		select {
		case tmpl.ready <- name:
		case <-tmpl.stop:
			conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name)
			return
		}
	}
}

var drops sync.WaitGroup

// dropLater drops a test's database without making the next test wait for it.
func dropLater(u, name string) {
	drops.Add(1)
	go func() {
		defer drops.Done()
		ctx := context.Background()
		if conn, err := pgx.Connect(ctx, u); err == nil {
			conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			conn.Close(ctx)
		}
	}()
}

var (
	templatesMu sync.Mutex
	templates   = map[string]*template{}
)

// dropTemplates drops the template databases this process made (a shared server keeps
// nothing of a test run).
func dropTemplates() {
	templatesMu.Lock()
	defer templatesMu.Unlock()
	if adminURL == "" || len(templates) == 0 {
		return
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	for name, tmpl := range templates {
		if tmpl.db != "" {
			close(tmpl.stop)
			for clone := range tmpl.ready { // the copies made ahead that no test took
				conn.Exec(ctx, "DROP DATABASE IF EXISTS "+clone+" WITH (FORCE)")
			}
			conn.Exec(ctx, "DROP DATABASE IF EXISTS "+tmpl.db+" WITH (FORCE)")
		}
		delete(templates, name)
	}
	drops.Wait()
}

func mustServer(t testing.TB) string {
	t.Helper()
	u, err := server()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL is required in CI: %v", err)
		}
		t.Skipf("PostgreSQL not available: %v", err)
	}
	return u
}

func randomSuffix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func withDatabase(u, name string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.Path = "/" + name
	return p.String()
}

// startCluster creates and starts a throwaway cluster; stop removes it. The server is
// this process's child (as the postgres user when we are root: initdb refuses root),
// told to shut down when this process dies (serverAttr), so a killed test run leaves
// no server behind.
func startCluster() (string, func(), error) {
	bin, err := binDir()
	if err != nil {
		return "", nil, err
	}
	sweepStale()
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		owner, err := user.Lookup("postgres")
		if err != nil {
			return "", nil, errors.New("running as root and there is no postgres user to run the server as")
		}
		uid, _ := strconv.Atoi(owner.Uid)
		gid, _ := strconv.Atoi(owner.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir, err := os.MkdirTemp("", "portal-pg-")
	if err != nil {
		return "", nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("initdb: %v: %s", err, lastLines(out))
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	srv := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-k", dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=400")
	srv.Dir = dir
	srv.Stdout, srv.Stderr = logFile, logFile // never the test's own output: go test would wait for it
	srv.SysProcAttr = serverAttr(cred)
	if err := srv.Start(); err != nil {
		logFile.Close()
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { srv.Wait(); logFile.Close(); close(exited) }()
	stop := func() {
		srv.Process.Signal(syscall.SIGQUIT) // immediate shutdown: the data is thrown away
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			srv.Process.Kill()
			<-exited
		}
		os.RemoveAll(dir)
	}
	u := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, u)
		if err == nil {
			conn.Close(ctx)
			return u, stop, nil
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			os.RemoveAll(dir)
			return "", nil, fmt.Errorf("postgres exited: %s", lastLines(log))
		case <-ctx.Done():
			stop()
			return "", nil, fmt.Errorf("the test server does not answer: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// sweepStale removes the folders of throwaway clusters whose server is gone (a test run
// killed before it could clean up).
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "portal-pg-*"))
	for _, d := range dirs {
		if info, err := os.Stat(d); err != nil || time.Since(info.ModTime()) < time.Minute {
			continue // being set up right now, perhaps by another test binary
		}
		if _, err := os.Stat(filepath.Join(d, "data", "postmaster.pid")); os.IsNotExist(err) {
			os.RemoveAll(d)
		}
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
