package handlers_test

// BenchmarkQueueScale measures how the queue page's cost grows with the queue (quality
// bar, Performance: "no request pays for the size of the queue"). One database grows
// through the sizes (processes in review: 10,000, then 100,000, then 1,000,000, with
// 2,000,000 decided processes in the history from the start); at each size one
// signed-in client requests the first page (and a filtered one) sequentially and the
// benchmark reports p50 and p99. At 100,000 it also runs 64 clients on /queue and on
// /account and reports the ratio of their requests/s. It takes several minutes and a
// few GB of temporary disk:
//
//	go test -run '^$' -bench QueueScale -benchtime 400x -timeout 60m ./handlers/
//
// PORTAL_BENCH_SIZES=10000,100000 limits the sizes; PORTAL_BENCH_HISTORY sets the
// number of decided processes (default 2000000). At each size it also measures
// searches: the queue's by name, and the history's (Processes page) by a name, a name
// typed without its accents, a verification id and a customer reference.

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
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/handlers"
	"github.com/mobbscan-review/portal/mobbscan"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

func benchSizes() []int {
	sizes := []int{10_000, 100_000, 1_000_000}
	if v := os.Getenv("PORTAL_BENCH_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
				sizes = append(sizes, n)
			}
		}
	}
	slices.Sort(sizes)
	return sizes
}

func benchHistory() int {
	if n, err := strconv.Atoi(os.Getenv("PORTAL_BENCH_HISTORY")); err == nil && n >= 0 {
		return n
	}
	return 2_000_000
}

// scaleApp builds an application over an empty database at target (a SQLite file or a
// PostgreSQL URL), signed in as an agent.
func scaleApp(b *testing.B, target string) *benchApp {
	b.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, target)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	hasher := auth.NewHasher(auth.TestParams)
	hash, err := hasher.Hash(pwAgent)
	if err != nil {
		b.Fatal(err)
	}
	if err := db.CreateUser(ctx, store.System, &store.User{Email: "agent@example.com", DisplayName: "Alan Agent", Role: store.RoleAgent, Active: true, PasswordHash: hash}); err != nil {
		b.Fatal(err)
	}
	client, err := mobbscan.New(mobbscan.Config{BaseURL: "http://127.0.0.1:9", APIKey: "k", APISecret: "s"})
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rv := review.New(db, client, log, review.Config{WebhookToken: testWebhookToken})
	sessions := auth.NewSessionStore(db, auth.SessionConfig{})
	e := handlers.New(handlers.Config{Logger: log}, handlers.Deps{
		DB: db, Sessions: sessions, Hasher: hasher, Review: rv, Inbox: review.NewInbox(db),
		Authenticator: &auth.Authenticator{DB: db, Hasher: hasher, Throttle: auth.NewThrottle(auth.ThrottleConfig{})},
	})
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
	if app.cookie == nil {
		b.Fatalf("sign in: status %d", rec.Code)
	}
	return app
}

// bulkProcesses inserts n processes numbered from first, in review or decided (final),
// in one transaction, through the triggers that keep the counters and the search index.
func bulkProcesses(ctx context.Context, db *store.DB, first, n int, inReview bool) error {
	countries := []string{"ESP", "FRA", "DEU", "ITA", "PRT", "NLD", "BEL", "POL", "ROU", "GRC", "SWE", "AUT"}
	docs := []string{"IDCard", "Passport", "DriverLicense"}
	fails := []string{"", "", "", ",validationMRZ,", ",validationFacialMatching,", ",validationLiveness,validationMRZ,"}
	givens := []string{"Lucía", "John", "Marie", "Hans", "Giulia", "João", "Anna", "Piotr", "Ioana", "Eleni", "José", "Zoë"}
	surnames := []string{"García", "Smith", "Dubois", "Müller", "Rossi", "Silva", "de Vries", "Kowalski", "Popescu", "Papadopoulou", "Núñez", "Ångström"}
	rng := rand.New(rand.NewPCG(uint64(first), 3))
	now := time.Now().UTC()
	ts := func(t time.Time) string { return t.UTC().Format(benchTimeLayout) }
	const batch = 50_000
	for done := 0; done < n; done += batch {
		tx, err := db.SQL().BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO processes (id, source, status, raw_status, stage, reviewable, final,
			created_at, updated_at, review_since, country, doc_type, holder_name, customer_ref, failed, score_facial,
			score_liveness, score_document, first_seen_at, synced_at, sync_due_at)
			VALUES (?, 'webhook', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			tx.Rollback()
			return err
		}
		for i := first + done; i < first+min(done+batch, n); i++ {
			updated := now.Add(-time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))
			created := updated.Add(-10 * time.Minute)
			status, stage, final, reviewable, since := "VERIFIED", "DONE", 1, 0, any(nil)
			if inReview {
				status, stage, final, reviewable, since = "PENDING", "REVIEW", 0, 1, ts(updated)
			} else if rng.IntN(2) == 0 {
				status = "NOT_VERIFIED"
			}
			id := fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", i, rng.IntN(1<<16), rng.IntN(1<<12), rng.IntN(1<<12), rng.Int64N(1<<48))
			if _, err := stmt.ExecContext(ctx, id, status, status, stage, reviewable, final, ts(created), ts(updated), since,
				countries[rng.IntN(len(countries))], docs[rng.IntN(len(docs))],
				givens[rng.IntN(len(givens))]+" "+surnames[rng.IntN(len(surnames))], fmt.Sprintf("CUST-%08d", i),
				fails[rng.IntN(len(fails))], rng.Float64(), rng.Float64(), rng.Float64(), ts(created), ts(updated), ts(now.Add(time.Hour))); err != nil {
				stmt.Close()
				tx.Rollback()
				return fmt.Errorf("insert process %d: %w", i, err)
			}
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// benchID returns the verification id of the i-th process bulkProcesses inserted.
func benchID(app *benchApp, i int) string {
	var id string
	app.db.SQL().QueryRow("SELECT id FROM processes WHERE id >= ? ORDER BY id LIMIT 1", fmt.Sprintf("%08x-", i)).Scan(&id)
	return url.QueryEscape(id)
}

// latencies requests path n times from one client and returns the sorted latencies.
func latencies(b *testing.B, app *benchApp, path string, n int) []time.Duration {
	b.Helper()
	out := make([]time.Duration, 0, n)
	for range n {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.RemoteAddr = "192.0.2.10:40000"
		req.AddCookie(app.cookie)
		rec := httptest.NewRecorder()
		start := time.Now()
		app.e.ServeHTTP(rec, req)
		out = append(out, time.Since(start))
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: status %d", path, rec.Code)
		}
	}
	slices.Sort(out)
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// throughput runs 64 clients on path for d and returns requests per second.
func throughput(b *testing.B, app *benchApp, path string, d time.Duration) float64 {
	b.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	deadline := time.Now().Add(d)
	start := time.Now()
	for range benchClients {
		wg.Go(func() {
			n := 0
			for time.Now().Before(deadline) {
				req := httptest.NewRequest(http.MethodGet, path, nil)
				req.RemoteAddr = "192.0.2.10:40000"
				req.AddCookie(app.cookie)
				rec := httptest.NewRecorder()
				app.e.ServeHTTP(rec, req)
				if rec.Code == http.StatusOK {
					n++
				}
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	return float64(total) / time.Since(start).Seconds()
}

func BenchmarkQueueScale(b *testing.B) {
	ctx := context.Background()
	app := scaleApp(b, filepath.Join(b.TempDir(), "portal.db"))
	start := time.Now()
	history := benchHistory()
	if err := bulkProcesses(ctx, app.db, 0, history, false); err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "scale: %d decided processes in %v\n", history, time.Since(start).Round(time.Second))
	inReview := 0
	for _, size := range benchSizes() {
		start := time.Now()
		if err := bulkProcesses(ctx, app.db, history+inReview, size-inReview, true); err != nil {
			b.Fatal(err)
		}
		inReview = size
		fmt.Fprintf(os.Stderr, "scale: %d in review (+%v)\n", size, time.Since(start).Round(time.Second))
		for _, page := range []struct{ name, path string }{
			{"first", "/queue"}, {"country", "/queue?country=ESP"}, {"failed", "/queue?failed=validationMRZ"},
		} {
			b.Run(fmt.Sprintf("%s/%d", page.name, size), func(b *testing.B) {
				lat := latencies(b, app, page.path, b.N)
				b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
				b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
			})
		}
		searches := []struct{ name, path string }{
			{"queue-search-name", "/queue?q=garcia"},
			{"history-name", "/processes?q=papadopoulou"},
			{"history-name-without-accents", "/processes?q=nunez"},
			{"history-id", "/processes?q=" + benchID(app, history/2)},
			{"history-reference", "/processes?q=" + fmt.Sprintf("CUST-%08d", history/3)},
		}
		for _, page := range searches {
			b.Run(fmt.Sprintf("%s/%d", page.name, size), func(b *testing.B) {
				lat := latencies(b, app, page.path, b.N)
				b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
				b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
			})
		}
		if size == 100_000 {
			b.Run("ratio-64-clients/100000", func(b *testing.B) {
				queue := throughput(b, app, "/queue?country=ESP", 8*time.Second)
				account := throughput(b, app, "/account", 8*time.Second)
				b.ReportMetric(queue, "queue-req/s")
				b.ReportMetric(account, "account-req/s")
				b.ReportMetric(queue/account, "ratio")
			})
		}
	}
}
