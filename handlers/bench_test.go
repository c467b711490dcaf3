package handlers_test

// Benchmarks of the quality bar's Performance section, measured as ratios and never as
// timed tests (they run only with -bench):
//
//	go test -run '^$' -bench 'QueuePage|TrivialHandler|WebhookIntake' -benchtime 3s ./handlers/
//
// BenchmarkQueuePage and BenchmarkTrivialHandler share one application built once per
// process (handlers.New with every middleware, a real SQLite file with an index of
// 100,000 processes, a signed-in agent): the trivial handler is a route added to the
// same *echo.Echo behind auth.RequireUser, so the ratio of their ns/op is the cost of
// the queue page over the middleware alone (target: the queue page has at least a
// quarter of the trivial handler's throughput, p99 < 10 ms at 64 concurrent clients).
// Both run 64 concurrent clients (b.SetParallelism) and report their p99.
//
// Measured on the shared 2-core development machine (README, "Benchmarks"): queue page
// 2.1–2.7 ms/op against 67–83 µs/op for the trivial handler, a throughput ratio of about
// 1/31 (target ≥ 1/4, not met; 1/7,700 before migration 0004 and the shared recount);
// p99 290–460 ms at 64 clients (target < 10 ms, not met); webhook intake 18,000–20,000
// notifications/s (target ≥ 2,000/s, met).
//
// BenchmarkWebhookIntake posts distinct notifications through the router on a fresh
// database and reports notifications/s (target ≥ 2,000/s on 2 cores); it fails if any
// accepted notification is missing from the inbox afterwards.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/handlers"
	"github.com/mobbscan-review/portal/mobbscan"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/store/pgtest"
)

// TestMain removes the shared benchmark database after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	pgtest.Stop() // the throwaway cluster BenchmarkEnginesQueuePage may have started
	os.Exit(code)
}

const (
	benchProcesses = 100_000
	// benchClients is the number of concurrent clients of the page benchmarks.
	benchClients = 64
	// benchTimeLayout is the store's text format of times (fixed-width UTC); setup
	// checks that the store reads back what it wrote.
	benchTimeLayout = "2006-01-02T15:04:05.000000000Z"
)

// benchApp is the application the page benchmarks share.
type benchApp struct {
	db     *store.DB
	e      *echo.Echo
	cookie *http.Cookie
}

var (
	benchOnce sync.Once
	benchDir  string
	benchEnv  *benchApp
	benchErr  error
)

// sharedBenchApp builds the application with its 100,000-process index once per process.
func sharedBenchApp(b *testing.B) *benchApp {
	b.Helper()
	benchOnce.Do(func() {
		start := time.Now()
		benchEnv, benchErr = buildBenchApp()
		if benchErr == nil {
			fmt.Fprintf(os.Stderr, "bench setup: %d processes indexed in %v\n", benchProcesses, time.Since(start).Round(time.Millisecond))
		}
	})
	if benchErr != nil {
		b.Fatalf("benchmark setup: %v", benchErr)
	}
	return benchEnv
}

func buildBenchApp() (*benchApp, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "portal-handlers-bench-")
	if err != nil {
		return nil, err
	}
	benchDir = dir
	db, err := store.Open(ctx, filepath.Join(dir, "portal.db"))
	if err != nil {
		return nil, err
	}
	if err := bulkIndex(ctx, db, benchProcesses); err != nil {
		return nil, err
	}
	hasher := auth.NewHasher(auth.TestParams)
	hash, err := hasher.Hash(pwAgent)
	if err != nil {
		return nil, err
	}
	if err := db.CreateUser(ctx, store.System, &store.User{Email: "agent@example.com", DisplayName: "Alan Agent", Role: store.RoleAgent, Active: true, PasswordHash: hash}); err != nil {
		return nil, err
	}
	// The queue never calls the gateway: a client that points nowhere is enough.
	client, err := mobbscan.New(mobbscan.Config{BaseURL: "http://127.0.0.1:9", APIKey: "k", APISecret: "s"})
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rv := review.New(db, client, log, review.Config{WebhookToken: testWebhookToken})
	sessions := auth.NewSessionStore(db, auth.SessionConfig{})
	e := handlers.New(handlers.Config{Logger: log}, handlers.Deps{
		DB: db, Sessions: sessions, Hasher: hasher, Review: rv, Inbox: review.NewInbox(db),
		Authenticator: &auth.Authenticator{DB: db, Hasher: hasher, Throttle: auth.NewThrottle(auth.ThrottleConfig{})},
	})
	e.GET("/bench-trivial", func(c echo.Context) error { return c.String(http.StatusOK, "ok") }, auth.RequireUser)

	// Sign in as a browser does.
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(url.Values{"email": {"agent@example.com"}, "password": {pwAgent}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.RemoteAddr = "192.0.2.10:40000"
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	app := &benchApp{db: db, e: e}
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessions.Config().CookieName() && c.Value != "" {
			app.cookie = &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	if rec.Code != http.StatusSeeOther || app.cookie == nil {
		return nil, fmt.Errorf("sign in: status %d, no session cookie", rec.Code)
	}
	// Sanity: the page under test answers a full first page.
	code, body := app.get("/queue?country=ESP")
	if code != http.StatusOK || len(queueIDs(body)) != 50 {
		return nil, fmt.Errorf("GET /queue?country=ESP: status %d, %d rows; want 200 with 50", code, len(queueIDs(body)))
	}
	if code, body := app.get("/bench-trivial"); code != http.StatusOK || body != "ok" {
		return nil, fmt.Errorf("GET /bench-trivial: status %d, body %q", code, body)
	}
	return app, nil
}

func (a *benchApp) get(path string) (int, string) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.RemoteAddr = "192.0.2.10:40000"
	req.AddCookie(a.cookie)
	rec := httptest.NewRecorder()
	a.e.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// bulkIndex inserts n processes in one transaction with a prepared statement that
// matches the processes table (migration 0002): about 40 % in review, twelve countries,
// three document types, review times spread over 30 days.
func bulkIndex(ctx context.Context, db *store.DB, n int) error {
	countries := []string{"ESP", "FRA", "DEU", "ITA", "PRT", "NLD", "BEL", "POL", "ROU", "GRC", "SWE", "AUT"}
	docs := []string{"IDCard", "Passport", "DriverLicense"}
	fails := []string{"", "", "", ",validationMRZ,", ",validationFacialMatching,", ",validationLiveness,validationMRZ,"}
	first := []string{"Lucía", "John", "Marie", "Hans", "Giulia", "João", "Anna", "Piotr", "Ioana", "Eleni"}
	last := []string{"García", "Smith", "Dubois", "Müller", "Rossi", "Silva", "de Vries", "Kowalski", "Popescu", "Papadopoulou"}
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Now().UTC()
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO processes (id, source, status, raw_status, stage, reviewable, final,
		created_at, updated_at, review_since, country, doc_type, holder_name, customer_ref, failed, score_facial,
		score_liveness, score_document, first_seen_at, synced_at, sync_due_at)
		VALUES (?, 'webhook', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	ts := func(t time.Time) string { return t.UTC().Format(benchTimeLayout) }
	for i := 0; i < n; i++ {
		updated := now.Add(-time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))
		created := updated.Add(-10 * time.Minute)
		inReview := rng.IntN(10) < 4
		status, stage, final, since := "VERIFIED", "DONE", 1, any(nil)
		if inReview {
			status, stage, final, since = "PENDING", "REVIEW", 0, ts(updated)
		} else if rng.IntN(2) == 0 {
			status = "NOT_VERIFIED"
		}
		// UUID-shaped ids in ascending order keep the primary key's inserts cheap.
		id := fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", i, rng.IntN(1<<16), rng.IntN(1<<12), rng.IntN(1<<12), rng.Int64N(1<<48))
		_, err := stmt.ExecContext(ctx, id, status, status, stage, map[bool]int{true: 1}[inReview], final,
			ts(created), ts(updated), since, countries[rng.IntN(len(countries))], docs[rng.IntN(len(docs))],
			first[rng.IntN(len(first))]+" "+last[rng.IntN(len(last))], fmt.Sprintf("CUST-%07d", i), fails[rng.IntN(len(fails))],
			rng.Float64(), rng.Float64(), rng.Float64(), ts(created), ts(updated), ts(now.Add(time.Hour)))
		if err != nil {
			return fmt.Errorf("insert process %d: %w", i, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// The store must read back the times as written.
	var id, raw string
	if err := db.SQL().QueryRowContext(ctx, "SELECT id, review_since FROM processes WHERE reviewable = 1 LIMIT 1").Scan(&id, &raw); err != nil {
		return err
	}
	p, err := db.GetProcess(ctx, id)
	if err != nil {
		return err
	}
	if p.ReviewSince.IsZero() || p.ReviewSince.UTC().Format(benchTimeLayout) != raw {
		return fmt.Errorf("time format drift: stored %q, read back %v", raw, p.ReviewSince)
	}
	return nil
}

// runPages runs GET path with benchClients concurrent clients and reports the p99;
// acceptLanguage, when given, is sent as the Accept-Language header.
func runPages(b *testing.B, app *benchApp, path string, acceptLanguage ...string) {
	b.ReportAllocs()
	p := (benchClients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0)
	b.SetParallelism(p)
	var mu sync.Mutex
	var all []time.Duration
	var failed atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		lat := make([]time.Duration, 0, 1024)
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.RemoteAddr = "192.0.2.10:40000"
			req.AddCookie(app.cookie)
			for _, l := range acceptLanguage {
				req.Header.Set("Accept-Language", l)
			}
			rec := httptest.NewRecorder()
			start := time.Now()
			app.e.ServeHTTP(rec, req)
			lat = append(lat, time.Since(start))
			if rec.Code != http.StatusOK {
				failed.Add(1)
			}
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d requests did not answer 200", n, b.N)
	}
	if len(all) > 0 {
		slices.Sort(all)
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkQueuePage: a signed-in agent's first page of 50 processes from Spain, oldest
// first, over an index of 100,000 processes, through every middleware.
func BenchmarkQueuePage(b *testing.B) {
	runPages(b, sharedBenchApp(b), "/queue?country=ESP")
}

// BenchmarkQueuePageSpanish: BenchmarkQueuePage in Spanish (issue 12): every string of
// the page through the catalogue, labels and messages matched back to their formats.
func BenchmarkQueuePageSpanish(b *testing.B) {
	runPages(b, sharedBenchApp(b), "/queue?country=ESP", "es-ES,es;q=0.9")
}

// BenchmarkTrivialHandler: a handler that writes "ok", behind the same middleware and
// auth.RequireUser on the same application: the baseline of BenchmarkQueuePage.
func BenchmarkTrivialHandler(b *testing.B) {
	runPages(b, sharedBenchApp(b), "/bench-trivial")
}

// BenchmarkWebhookIntake: distinct notifications posted through the router by 64
// concurrent senders on a fresh database, each recorded durably before its 202.
func BenchmarkWebhookIntake(b *testing.B) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "portal.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	client, err := mobbscan.New(mobbscan.Config{BaseURL: "http://127.0.0.1:9", APIKey: "k", APISecret: "s"})
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rv := review.New(db, client, log, review.Config{WebhookToken: testWebhookToken})
	inbox := review.NewInbox(db)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); inbox.Run(runCtx) }()
	b.Cleanup(func() { stop(); <-done })
	hasher := auth.NewHasher(auth.TestParams)
	e := handlers.New(handlers.Config{Logger: log}, handlers.Deps{
		DB: db, Sessions: auth.NewSessionStore(db, auth.SessionConfig{}), Hasher: hasher, Review: rv, Inbox: inbox,
		Authenticator: &auth.Authenticator{DB: db, Hasher: hasher, Throttle: auth.NewThrottle(auth.ThrottleConfig{})},
	})

	var seq, failed atomic.Int64
	path := webhookPath(testWebhookToken)
	b.ReportAllocs()
	b.SetParallelism((benchClients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := "wh-" + strconv.FormatInt(seq.Add(1), 10)
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{"verificationId":"`+id+`","status":"PENDING","stage":"REVIEW"}`))
			req.Header.Set("Content-Type", "application/json")
			req.RemoteAddr = "198.51.100.7:443"
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != http.StatusAccepted {
				failed.Add(1)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "notifications/s")
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d notifications not accepted", n, b.N)
	}
	if got, err := db.CountNotifications(ctx); err != nil || got != b.N {
		b.Fatalf("inbox rows after %d accepted notifications: %d (%v); nothing may be lost", b.N, got, err)
	}
}
