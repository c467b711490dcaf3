package store

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mobbscan-review/portal/store/pgtest"
)

// Every store test runs on SQLite, then again on PostgreSQL (pgtest.RunBoth).
func TestMain(m *testing.M) { os.Exit(pgtest.RunBoth(m)) }

// TargetForTest is where a test's database lives on this pass's engine: a SQLite file
// under t's temporary folder, or a fresh PostgreSQL database.
func TargetForTest(t testing.TB) string {
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
