package auth

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/store/pgtest"
)

// TestMain stops the throwaway PostgreSQL cluster that the tests of state shared
// between instances start (pgtest.Database), if any did.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// forEachEngine runs f on both engines with two handles to one database, standing for
// two portal instances on it: on SQLite two handles to one file (as the store tests
// do; SQLite serves one instance, but its handles serialize the same way), on
// PostgreSQL two connection pools to one fresh database (skipped without a server,
// failed in CI).
func forEachEngine(t *testing.T, f func(t *testing.T, a, b *store.DB)) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "portal.db")
			if engine == "postgres" {
				target = pgtest.Database(t)
			}
			var dbs [2]*store.DB
			for i := range dbs {
				db, err := store.Open(context.Background(), target)
				if err != nil {
					t.Fatalf("open %d: %v", i+1, err)
				}
				t.Cleanup(func() { db.Close() })
				dbs[i] = db
			}
			f(t, dbs[0], dbs[1])
		})
	}
}
