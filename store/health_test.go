package store

// Internal test: it also checks writeFailure on a real SQLITE_FULL.

import (
	"context"
	"errors"
	"testing"
	"time"
)

func openHealthDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), TargetForTest(t))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// fillDisk makes db full the way SQLite sees a full disk: the pool keeps one
// connection, whose PRAGMA max_page_count is set to the current page count, so any
// write that needs a new page fails with SQLITE_FULL ("database or disk is full").
func fillDisk(t *testing.T, db *DB) {
	t.Helper()
	db.db.SetMaxOpenConns(1)
	if _, err := db.db.Exec("PRAGMA max_page_count = 1"); err != nil { // raised to the current count
		t.Fatal(err)
	}
	var pages, limit int
	if err := db.db.QueryRow("SELECT p.page_count, m.max_page_count FROM pragma_page_count() p, pragma_max_page_count() m").Scan(&pages, &limit); err != nil {
		t.Fatal(err)
	}
	if pages != limit {
		t.Fatalf("max_page_count %d, want the page count %d", limit, pages)
	}
}

// readOnly makes db's connection refuse writes (PRAGMA query_only), on a pool of one
// connection. (The tests run as root, so file permissions would not stop a write.)
func readOnly(t *testing.T, db *DB) {
	t.Helper()
	db.db.SetMaxOpenConns(1)
	if _, err := db.db.Exec("PRAGMA query_only = 1"); err != nil {
		t.Fatal(err)
	}
}

func TestHealthProbeWritesItsRow(t *testing.T) {
	db := openHealthDB(t)
	ctx := context.Background()
	at := time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return at }
	for i := range 3 {
		if err := db.CheckWritable(ctx); err != nil {
			t.Fatalf("probe %d: %v", i, err)
		}
		at = at.Add(time.Second)
	}
	var n int
	var got string
	if err := db.db.QueryRow("SELECT count(*), max(at) FROM health_probe").Scan(&n, &got); err != nil {
		t.Fatal(err)
	}
	if want := "2030-03-04T09:00:02.000000000Z"; n != 1 || got != want {
		t.Errorf("health_probe: got %d rows, at %q; want 1 row at %q", n, got, want)
	}
}

func TestHealthProbeDiskFull(t *testing.T) {
	SQLiteOnly(t, "fills the database with PRAGMA max_page_count")
	db := openHealthDB(t)
	ctx := context.Background()
	if err := db.CheckWritable(ctx); err != nil {
		t.Fatalf("probe before: %v", err)
	}
	if _, err := db.db.Exec("CREATE TABLE filler (b BLOB) STRICT"); err != nil {
		t.Fatal(err)
	}
	fillDisk(t, db)

	// What the portal's writes meet: SQLITE_FULL, which writeFailure recognises.
	_, err := db.db.Exec("INSERT INTO filler VALUES (zeroblob(100000))")
	if got := writeFailure(err); got != ErrDiskFull {
		t.Fatalf("a write needing a page on a full database: got %v (writeFailure %v), want SQLITE_FULL", err, got)
	}

	if err := db.CheckWritable(ctx); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("probe on a full database: got %v, want ErrDiskFull", err)
	}
	if err := db.Ping(ctx); err != nil {
		t.Errorf("reads on a full database: %v", err)
	}
}

func TestHealthProbeReadOnly(t *testing.T) {
	SQLiteOnly(t, "makes the connection read-only with a PRAGMA")
	db := openHealthDB(t)
	readOnly(t, db)
	if err := db.CheckWritable(context.Background()); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("probe on a read-only database: got %v, want ErrReadOnly", err)
	}
}

func TestHealthProbeBusy(t *testing.T) {
	db := openHealthDB(t)
	// Another writer holds the write lock past the probe's deadline.
	other, err := Open(context.Background(), db.path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := other.lockWrites(context.Background(), tx); err != nil { // PostgreSQL: the write lock
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = db.CheckWritable(ctx)
	if !errors.Is(err, ErrBusy) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("probe while another writer holds the lock: got %v, want ErrBusy or the deadline", err)
	}
}
