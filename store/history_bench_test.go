package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// Names for the benchmark's history, with the accents of real ones. A surname is in
// about 1 in 60 names (twice over: two surnames), so a common one such as García
// matches about 3 % of the history: 60,000 processes of 2,000,000.
var (
	benchGiven = strings.Fields(`José María Ana Lucía Íñigo Álvaro Jesús Adrián Joaquín Rubén Sofía Inés Martín Zoë
		João Conceição Françoise Hélène Jürgen Björn Łukasz Małgorzata Dvořák Ángela Noël Raúl Andrés Irene Carmen
		Pilar Elena Beatriz Tomás Ramón Mónica Iván Óscar Sebastián Valentina Emiliano Santiago Iker Nuria`)
	benchSurnames = strings.Fields(`García Fernández Núñez Ibáñez Muñoz Sánchez Gómez Martín Peña Castaño González
		Rodríguez Díaz Álvarez Domínguez López Pérez Jiménez Ruiz Hernández Moreno Romero Alonso Gutiérrez Navarro
		Torres Ramírez Gil Serrano Blanco Suárez Molina Morales Ortega Delgado Castro Ortiz Rubio Marín Sanz Iglesias
		Medina Garrido Cortés Castillo Santos Lozano Guerrero Cano Prieto Méndez Cruz Calvo Gallego Vidal León Márquez
		Herrera Peñalver Gomes Conceição Schröder Müller Wiśniewski Kowalczyk Dubois Lefèvre`)
)

// benchHistory builds a history of n processes: 70 % decided here and final, 5 % decided
// and awaiting delivery, 10 % in review, 10 % with the customer, 3 % gone, 2 % purged;
// their last activity spread over three years, in order; 20 agents deciding. As an
// installation upgraded to migration 0015 would be: all but the last 2,000 (or 5 %) are
// written without 0015's triggers and indexed by its backfill when the database is
// reopened; the rest arrive one transaction each through the triggers.
func benchHistory(b *testing.B, n int) (*store.DB, []int64, []string) {
	b.Helper()
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "portal.db")
	db, err := store.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	var users []int64
	for i := range 20 {
		u := &store.User{Email: fmt.Sprintf("agent%d@example.com", i), DisplayName: fmt.Sprintf("Agent %d", i), Role: store.RoleAgent, Active: true, PasswordHash: "x"}
		if err := db.CreateUser(ctx, store.System, u); err != nil {
			b.Fatal(err)
		}
		users = append(users, u.ID)
	}
	var reason int64
	if err := db.SQL().QueryRow("SELECT id FROM reasons ORDER BY id LIMIT 1").Scan(&reason); err != nil {
		b.Fatal(err)
	}
	undoSearchMigration(b, db)
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	start := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	span := 3 * 365 * 24 * time.Hour
	step := int64(span) / int64(n)
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }
	ids := make([]string, 0, n)
	insert := func(tx *sql.Tx, i int) {
		id := fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint64()&0xffffffffffff)
		ids = append(ids, id)
		updated := start.Add(time.Duration(step*int64(i) + rng.Int64N(step)))
		holder := benchGiven[rng.IntN(len(benchGiven))] + " " + benchSurnames[rng.IntN(len(benchSurnames))] + " " + benchSurnames[rng.IntN(len(benchSurnames))]
		ref := fmt.Sprintf("CUST-%07d", i)
		status, stage, reviewable, final, gone, decided := "VERIFIED", "DONE", 0, 1, 0, 0
		var since, purged any
		verdict := ""
		switch r := rng.IntN(100); {
		case r < 70:
			decided, verdict = 1, []string{"accept", "accept", "reject"}[rng.IntN(3)]
			if verdict == "reject" {
				status = "NOT_VERIFIED"
			}
		case r < 75:
			status, stage, final, decided, verdict = "PENDING", "REVIEW", 0, 1, "accept"
		case r < 85:
			status, stage, reviewable, final, since = "PENDING", "REVIEW", 1, 0, ts(updated)
		case r < 95:
			status, stage, final = "PENDING", "IN_PROGRESS", 0
		case r < 98:
			gone = 1
		default:
			holder, ref, purged = "", "", ts(updated.Add(time.Hour))
		}
		if _, err := tx.Exec(`INSERT INTO processes (id, source, status, raw_status, stage, reviewable, final, gone, created_at, updated_at,
			review_since, country, doc_type, holder_name, customer_ref, first_seen_at, sync_due_at, decided, purged_at)
			VALUES (?, 'webhook', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'IDCard', ?, ?, ?, ?, ?, ?)`,
			id, status, status, stage, reviewable, final, gone, ts(updated.Add(-time.Hour)), ts(updated), since,
			[]string{"ESP", "PRT", "FRA", "DEU", "POL", "MEX"}[rng.IntN(6)], holder, ref, ts(updated.Add(-time.Hour)), ts(updated), decided, purged); err != nil {
			b.Fatal(err)
		}
		if verdict == "" {
			return
		}
		var rid, delivered any
		comment, state := "", "delivered"
		if verdict == "reject" {
			rid, comment = reason, "The document has expired."
		}
		if final == 0 {
			state = "queued"
		} else {
			delivered = ts(updated)
		}
		at := ts(updated.Add(-time.Minute))
		if _, err := tx.Exec(`INSERT INTO decisions (process_id, verdict, reason_id, comment, decided_by, decided_at, state, updated_at, delivered_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, verdict, rid, comment, users[rng.IntN(len(users))], at, state, at, delivered); err != nil {
			b.Fatal(err)
		}
	}
	write := func(db *store.DB, lo, hi int) {
		tx, err := db.SQL().BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		for i := lo; i < hi; i++ {
			insert(tx, i)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	tail := min(2000, n/20)
	for lo := 0; lo < n-tail; lo += 50000 {
		write(db, lo, min(n-tail, lo+50000))
	}
	db.Close()
	t0 := time.Now()
	if db, err = store.Open(ctx, path); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	b.Logf("migration 0015 indexed %d processes in %v", n-tail, time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	for i := n - tail; i < n; i++ {
		write(db, i, i+1)
	}
	b.Logf("%d processes written one by one through the triggers: %v each", tail, (time.Since(t0) / time.Duration(tail)).Round(time.Microsecond))
	return db, users, ids
}

// BenchmarkHistorySearch measures a page of 50 of the history, the first and a later
// one, for each filter and for searches, at 10,000 and 100,000 processes (and 2,000,000
// with PORTAL_BENCH_HISTORY_2M=1; building it takes minutes). Each reports its p99 and
// p50 in ms and the rows it returned:
//
//	go test -run '^$' -bench HistorySearch -benchtime 200x ./store/
func BenchmarkHistorySearch(b *testing.B) {
	sizes := []int{10_000, 100_000}
	if os.Getenv("PORTAL_BENCH_HISTORY_2M") != "" {
		sizes = append(sizes, 2_000_000)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			built := time.Now()
			db, users, ids := benchHistory(b, n)
			b.Logf("built %d processes in %v", n, time.Since(built).Round(time.Millisecond))
			ctx := context.Background()
			day := time.Date(2028, 6, 1, 0, 0, 0, 0, time.UTC)
			// A later page: the cursor after the first 1,000 rows.
			var after int64
			q := store.HistoryQuery{Limit: 200}
			for range 5 {
				rows, _, err := db.History(ctx, q)
				if err != nil || len(rows) == 0 {
					b.Fatal(err)
				}
				q.After = rows[len(rows)-1].Key
			}
			after = q.After
			cases := []struct {
				name string
				q    store.HistoryQuery
			}{
				{"all", store.HistoryQuery{}},
				{"all/page6", store.HistoryQuery{After: after}},
				{"state=rejected", store.HistoryQuery{State: store.HistoryRejected}},
				{"state=purged", store.HistoryQuery{State: store.HistoryPurged}},
				{"by+verdict", store.HistoryQuery{DecidedBy: users[3], Verdict: store.VerdictReject}},
				{"by+state+verdict", store.HistoryQuery{DecidedBy: users[3], State: store.HistoryDecided, Verdict: store.VerdictAccept}},
				{"one-day", store.HistoryQuery{Since: day, Until: day.AddDate(0, 0, 1)}},
				{"search=nunez", store.HistoryQuery{Search: "nunez"}},
				{"search=garcia/page6", store.HistoryQuery{Search: "garcia", After: after}},
				{"search=gom", store.HistoryQuery{Search: "gom"}},
				{"search=jose+gomez", store.HistoryQuery{Search: "josé gómez"}},
				{"search=ines+penalver", store.HistoryQuery{Search: "ines penalver"}},
				{"search=id", store.HistoryQuery{Search: ids[len(ids)/3]}},
				{"search=id-part", store.HistoryQuery{Search: ids[len(ids)/2][9:18]}},
				{"search=ref", store.HistoryQuery{Search: fmt.Sprintf("CUST-%07d", n/2)}},
				{"search=miss", store.HistoryQuery{Search: "qqxqq"}},
				{"search=2chars", store.HistoryQuery{Search: "zz"}},
				{"search=garcia+state=rejected", store.HistoryQuery{Search: "garcia", State: store.HistoryRejected}},
				{"search=garcia+by", store.HistoryQuery{Search: "garcia", DecidedBy: users[5]}},
				// The worst case: a common name and a filter almost nothing passes. The
				// page reads every match.
				{"search=garcia+state=purged", store.HistoryQuery{Search: "garcia", State: store.HistoryPurged}},
			}
			for _, c := range cases {
				b.Run(c.name, func(b *testing.B) {
					lat := make([]time.Duration, 0, b.N)
					rows := 0
					b.ResetTimer()
					for range b.N {
						t0 := time.Now()
						page, _, err := db.History(ctx, c.q)
						lat = append(lat, time.Since(t0))
						if err != nil {
							b.Fatal(err)
						}
						rows = len(page)
					}
					b.StopTimer()
					reportLatency(b, lat)
					b.ReportMetric(float64(rows), "rows")
				})
			}
			// The queue's use of SearchMatch: a page of processes in review matching a name.
			where, args, _ := store.SearchMatch("garcia")
			queue := "SELECT p.id FROM processes p WHERE p.reviewable = 1 AND " + where + " ORDER BY p.review_since, p.id LIMIT 51"
			b.Run("queue-search=garcia", func(b *testing.B) {
				lat := make([]time.Duration, 0, b.N)
				for range b.N {
					t0 := time.Now()
					rs, err := db.SQL().QueryContext(ctx, queue, args...)
					if err != nil {
						b.Fatal(err)
					}
					for rs.Next() {
					}
					rs.Close()
					lat = append(lat, time.Since(t0))
				}
				reportLatency(b, lat)
			})
		})
	}
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	at := func(p float64) float64 {
		i := int(float64(len(lat))*p+0.5) - 1
		return float64(lat[max(0, min(i, len(lat)-1))]) / 1e6
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// BenchmarkHistoryWrites measures what migration 0015's triggers add to the writes of
// processes: a new process indexed (one transaction, as ingestion does), then a later
// update from Mobbscan (new last-update time: the history row and the search entry move),
// with and without the triggers, over an index of 2,000 processes.
func BenchmarkHistoryWrites(b *testing.B) {
	for _, with := range []bool{true, false} {
		b.Run(fmt.Sprintf("history=%v", with), func(b *testing.B) {
			ctx := context.Background()
			db, err := store.Open(ctx, filepath.Join(b.TempDir(), "portal.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if !with {
				undoSearchMigration(b, db)
			}
			at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			snap := func(i int, updated time.Time) store.Snapshot {
				return store.Snapshot{ID: fmt.Sprintf("p-%09d", i), Status: "PENDING", RawStatus: "PENDING", Stage: "REVIEW", Reviewable: true,
					UpdatedAt: updated, Country: "ESP", DocType: "IDCard", HolderName: benchGiven[i%len(benchGiven)] + " " + benchSurnames[i%len(benchSurnames)],
					CustomerRef: fmt.Sprintf("CUST-%07d", i)}
			}
			for i := range 2_000 {
				if _, err := db.UpsertProcess(ctx, store.SourceWebhook, snap(i, at.Add(time.Duration(i)*time.Second)), at); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := range b.N {
				n := 2_000 + i
				if _, err := db.UpsertProcess(ctx, store.SourceWebhook, snap(n, at.Add(time.Duration(n)*time.Second)), at); err != nil {
					b.Fatal(err)
				}
				if _, err := db.UpsertProcess(ctx, store.SourceWebhook, snap(n, at.Add(time.Duration(n)*time.Second+time.Hour)), at); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
