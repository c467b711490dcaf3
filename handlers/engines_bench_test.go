package handlers_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store/pgtest"
)

// BenchmarkEnginesQueuePage is the queue page over the same processes in review on
// SQLite and on PostgreSQL, in one run, for the ratio in the README (issue 13): one
// client's p50/p99 on the first page and a filtered one, and 64 clients' requests/s.
// PostgreSQL is the test server (loopback, fsync off): the ratio compares the engines'
// query cost and round trips, not disks. PORTAL_BENCH_ENGINE_SIZE changes the 100,000.
func BenchmarkEnginesQueuePage(b *testing.B) {
	size := 100_000
	if n, err := strconv.Atoi(os.Getenv("PORTAL_BENCH_ENGINE_SIZE")); err == nil && n > 0 {
		size = n
	}
	ctx := context.Background()
	rps := map[string]float64{}
	for _, eng := range []struct {
		name   string
		target func(testing.TB) string
	}{
		{"sqlite", func(tb testing.TB) string { return filepath.Join(tb.TempDir(), "portal.db") }},
		{"postgres", pgtest.Database},
	} {
		app := scaleApp(b, eng.target(b))
		start := time.Now()
		if err := bulkProcesses(ctx, app.db, 0, size, true); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "engines: %s: %d in review (%v)\n", eng.name, size, time.Since(start).Round(time.Second))
		for _, page := range []struct{ name, path string }{{"first", "/queue"}, {"country", "/queue?country=ESP"}} {
			b.Run(fmt.Sprintf("%s/%s/%d", eng.name, page.name, size), func(b *testing.B) {
				lat := latencies(b, app, page.path, b.N)
				b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
				b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
			})
		}
		b.Run(fmt.Sprintf("%s/64-clients/%d", eng.name, size), func(b *testing.B) {
			rps[eng.name] = throughput(b, app, "/queue", 8*time.Second)
			b.ReportMetric(rps[eng.name], "queue-req/s")
		})
	}
	if rps["sqlite"] > 0 {
		fmt.Fprintf(os.Stderr, "engines: /queue at 64 clients, PostgreSQL/SQLite = %.2f\n", rps["postgres"]/rps["sqlite"])
	}
}
