package store

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// benchAuditRows is the size of the benchmark's audit log.
const benchAuditRows = 1_000_000

// seedAuditChain appends n audit rows one second apart from start, with a correct hash
// chain, straight into the table in large transactions (appendAudit's per-row head read
// would make a million rows slow to build).
func seedAuditChain(tb testing.TB, db *DB, n int, start time.Time) {
	tb.Helper()
	ctx := context.Background()
	prev := genesisHash
	const perTx = 50_000
	for done := 0; done < n; {
		err := db.tx(ctx, func(tx *sql.Tx) error {
			st, err := tx.PrepareContext(ctx, `INSERT INTO audit_events
				(id, at, actor_id, actor, ip, request_id, action, object_type, object_id, outcome, detail, prev_hash, hash)
				VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
			if err != nil {
				return err
			}
			defer st.Close()
			for i := 0; i < perTx && done < n; i++ {
				id := int64(done + 1)
				e := AuditEvent{ID: id, At: start.Add(time.Duration(done) * time.Second), Actor: "system", IP: "10.0.0." + strconv.Itoa(done%250),
					RequestID: "req-" + strconv.Itoa(done), Action: string(ActionProcessView), ObjectType: "process",
					ObjectID: "verification-" + strconv.Itoa(done%5000), Outcome: OutcomeSuccess,
					Detail: "viewed from the queue, \"next case\"", PrevHash: prev}
				e.Hash = hashEvent(e)
				if _, err := st.ExecContext(ctx, e.ID, formatTime(e.At), e.Actor, e.IP, e.RequestID, e.Action, e.ObjectType,
					e.ObjectID, e.Outcome, e.Detail, e.PrevHash, e.Hash); err != nil {
					return err
				}
				prev = e.Hash
				done++
			}
			return nil
		})
		if err != nil {
			tb.Fatalf("seed audit: %v", err)
		}
	}
}

// heapSampler records the largest HeapInuse seen, sampled every few thousand rows.
type heapSampler struct {
	ms   runtime.MemStats
	peak uint64
}

func (h *heapSampler) sample() {
	runtime.ReadMemStats(&h.ms)
	h.peak = max(h.peak, h.ms.HeapInuse)
}

// BenchmarkAuditExportCSV exports the first 100,000 and then all 1,000,000 rows of a
// 1,000,000-row audit log as CSV (to io.Discard) and reports, per export: the time
// (ns/op), the rows per second and the peak heap in use above the heap before the export
// (peak-heap-MiB), sampled every 10,000 rows. Flat memory: the two peaks are about the
// same although one export is ten times the other. Building the log takes a while:
//
//	go test ./store -run '^$' -bench BenchmarkAuditExportCSV -benchtime 1x -timeout 30m
func BenchmarkAuditExportCSV(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seedAuditChain(b, db, benchAuditRows, start)

	for _, rows := range []int{100_000, benchAuditRows} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			f := ExportFilter{From: start, To: start.Add(time.Duration(rows) * time.Second)}
			var h heapSampler
			runtime.GC()
			runtime.ReadMemStats(&h.ms)
			base := h.ms.HeapInuse
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				w, err := NewAuditWriter(io.Discard, AuditCSV)
				if err != nil {
					b.Fatal(err)
				}
				n, err := db.ExportAudit(ctx, f, func(e AuditEvent) error {
					if e.ID%10_000 == 0 {
						h.sample()
					}
					return w.Write(e)
				})
				if err != nil {
					b.Fatal(err)
				}
				if err := w.Flush(); err != nil {
					b.Fatal(err)
				}
				if n != int64(rows) {
					b.Fatalf("exported %d rows, want %d", n, rows)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(h.peak-min(base, h.peak))/(1<<20), "peak-heap-MiB")
		})
	}
}
