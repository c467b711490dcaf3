package store

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mobbscan-review/portal/store/pgtest"
)

// Every store test runs on SQLite, then again on PostgreSQL (pgtest.RunBoth).
func TestMain(m *testing.M) { os.Exit(pgtest.RunBoth(m)) }

// TargetForTest is where a test's database lives on this pass's engine: a SQLite file
// under t's temporary folder, or a PostgreSQL database of its own, copied from one
// migrated once per test process (migrating costs PostgreSQL seconds, copying a tenth).
func TargetForTest(t testing.TB) string {
	t.Helper()
	if pgtest.Engine() == "postgres" {
		return pgtest.Clone(t, "portal_migrated", func(url string) error {
			db, err := Open(context.Background(), url)
			if err != nil {
				return err
			}
			return db.Close()
		})
	}
	return filepath.Join(t.TempDir(), "portal.db")
}

// EmptyTargetForTest is TargetForTest without the migrations applied, for the tests of
// migrating itself.
func EmptyTargetForTest(t testing.TB) string {
	t.Helper()
	if pgtest.Engine() == "postgres" {
		return pgtest.Database(t)
	}
	return filepath.Join(t.TempDir(), "portal.db")
}

// SQLiteOnly skips t on the PostgreSQL pass, saying why.
func SQLiteOnly(t testing.TB, why string) {
	t.Helper()
	if pgtest.Engine() == "postgres" {
		t.Skipf("SQLite only: %s", why)
	}
}

func TestRebind(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = $1 AND c = $2"},
		{"SELECT ?2, ?1, ?1", "SELECT $2, $1, $1"},
		{"SELECT '?', \"a?\", ? -- what?\n, ?", "SELECT '?', \"a?\", $1 -- what?\n, $2"},
		{"SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1"},
		{"SELECT count(*) FROM processes INDEXED BY processes_queue WHERE x = ?", "SELECT count(*) FROM processes  WHERE x = $1"},
		{"SELECT * FROM t NOT INDEXED WHERE a = ?", "SELECT * FROM t  WHERE a = $1"},
		{"CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 WHERE 'a' ? 'b' $$ LANGUAGE sql", "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 WHERE 'a' ? 'b' $$ LANGUAGE sql"},
		{"SELECT reindexed_by FROM t", "SELECT reindexed_by FROM t"},
	} {
		if got := rebindText(c.in); got != c.want {
			t.Errorf("rebind(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestIsPostgres(t *testing.T) {
	for in, want := range map[string]bool{
		"postgres://u@h/db": true, "postgresql://h/db": true, "/data/portal.db": false, "portal.db": false,
	} {
		if IsPostgres(in) != want {
			t.Errorf("IsPostgres(%q) = %v", in, !want)
		}
	}
}

// TestMigrationsOnceWhenInstancesStartTogether: instances starting at the same moment on
// a new database all open it, and every migration is applied exactly once (on
// PostgreSQL under the migration lock).
func TestMigrationsOnceWhenInstancesStartTogether(t *testing.T) {
	ctx := context.Background()
	target := EmptyTargetForTest(t)
	const instances = 4
	dbs := make([]*DB, instances)
	errs := make([]error, instances)
	var wg sync.WaitGroup
	for i := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbs[i], errs[i] = Open(ctx, target)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		defer dbs[i].Close()
	}
	files, err := fs.Glob(migrationFS, dbs[0].migrationsDir()+"/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations: %v %v", files, err)
	}
	var n, distinct int
	if err := dbs[0].queryRow(ctx, "SELECT count(*), count(DISTINCT version) FROM schema_migrations").Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != len(files) || distinct != n {
		t.Fatalf("schema_migrations: %d rows, %d versions; want %d once each", n, distinct, len(files))
	}
}

// TestAuditChainWithTwoInstances: two instances writing at once on one database make
// one unbroken chain (every write transaction is serialized, across instances too).
func TestAuditChainWithTwoInstances(t *testing.T) {
	ctx := context.Background()
	target := TargetForTest(t)
	var dbs [2]*DB
	for i := range dbs {
		db, err := Open(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs[i] = db
	}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				if err := dbs[w%2].Audit(ctx, System, "test.write", "w", fmt.Sprint(w, i), OutcomeSuccess, ""); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("write: %v", err)
	}
	for i, db := range dbs {
		if n, err := db.VerifyAudit(ctx); err != nil || n != 200 {
			t.Fatalf("verify on instance %d: %d %v; want 200 events, an unbroken chain", i, n, err)
		}
	}
}
