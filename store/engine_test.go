package store

import (
	"context"
	"database/sql"
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

// TestUnixepochAsSQLite: the time texts the triggers turn into seconds give what SQLite's
// unixepoch() gives (the wants are sqlite3's answers), on both engines: PostgreSQL's
// unixepoch is the schema's own function.
func TestUnixepochAsSQLite(t *testing.T) {
	db, err := Open(context.Background(), TargetForTest(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	null := int64(-1 << 62)
	for _, c := range []struct {
		in   string
		want int64
	}{
		{"2026-12-07T00:10:05Z", 1796602205},
		{"2026-12-07 00:10:05", 1796602205},
		{"2026-12-07", 1796601600},
		{"2026-12-07T00:10", 1796602200},
		{"2026-12-07T00:10:05.123456789Z", 1796602205},
		{"2026-12-07T00:10:05+02:00", 1796595005},
		{"2026-12-07T00:10:05-05:30", 1796622005},
		{"2026-12-07T00:10:05z", 1796602205},
		{"2026-12-07 00:10:05 Z", 1796602205},
		{"2026-12-07\t00:10:05", 1796602205},
		{"2026-12-07T00:10:05\r", 1796602205},
		{"1970-01-01T00:00:00Z", 0},
		{"1969-12-31T23:59:59Z", -1},
		{"2000-02-29T12:00:00Z", 951825600},
		{"2024-02-30", 1709251200}, // rolls over into March, as SQLite does
		{"2026-13-01", null},
		{"2026-12-07T25:00:00Z", null},
		{"2026-12-07T00:60:00Z", null},
		{"2026-12-07T00:10:05+15:00", null},
		{"2026-12-07\u00a000:10:05", null}, // a no-break space is not SQLite's space
		{"٢٠٢٦-12-07", null},
		{"２０２６-12-07", null},
		{"2026-12-07T00:10:05Zjunk", null},
		{"nonsense", null},
		{"", null},
	} {
		var got sql.NullInt64
		if err := db.db.QueryRowContext(context.Background(), `SELECT unixepoch(?)`, c.in).Scan(&got); err != nil {
			t.Fatalf("unixepoch(%q): %v", c.in, err)
		}
		if g := map[bool]int64{true: got.Int64, false: null}[got.Valid]; g != c.want {
			t.Errorf("unixepoch(%q) = %v, want %v (%v is NULL)", c.in, g, c.want, null)
		}
	}
}

// TestFunctionsKeepTheirPlans: on PostgreSQL every plpgsql function of the schema (the
// triggers among them) runs with plan_cache_mode=auto, whatever the session says, so
// its statements are not planned again for every row.
func TestFunctionsKeepTheirPlans(t *testing.T) {
	if pgtest.Engine() != "postgres" {
		t.Skip("PostgreSQL only: SQLite has no plan cache setting")
	}
	db, err := Open(context.Background(), TargetForTest(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var total int
	var missing []string
	rows, err := db.db.QueryContext(context.Background(), `SELECT p.oid::regprocedure::text, coalesce('plan_cache_mode=auto' = ANY (p.proconfig), false)
		FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
		WHERE l.lanname = 'plpgsql' AND p.pronamespace = current_schema()::regnamespace`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var ok bool
		if err := rows.Scan(&name, &ok); err != nil {
			t.Fatal(err)
		}
		total++
		if !ok {
			missing = append(missing, name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if total < 10 || len(missing) > 0 {
		t.Fatalf("%d plpgsql functions; without plan_cache_mode=auto: %v", total, missing)
	}
}
