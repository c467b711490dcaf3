// Package store keeps the portal's state in SQLite (modernc.org/sqlite): accounts,
// sessions, the audit trail and, later, the process index and decisions. It knows
// nothing of HTTP. Exported methods open a transaction and call unexported helpers
// that take it, so a change and the audit row that records it commit together.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Sentinel errors; handlers map them to HTTP statuses in one place.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	ErrInvalid  = errors.New("invalid")
)

//go:embed migrations
var migrationFS embed.FS

// timeLayout is fixed-width UTC so that stored times sort as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) time.Time {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func nullTime(s sql.NullString) time.Time {
	if !s.Valid {
		return time.Time{}
	}
	return parseTime(s.String)
}

// DB is the portal's database.
type DB struct {
	db   *sql.DB
	path string // the SQLite file or the PostgreSQL URL
	pg   bool   // PostgreSQL (engine.go)
	// instance is the portal instance this handle stands for (instances.go).
	instance *instanceState
	stmts    sync.Map // query text → *sql.Stmt, for the hot read paths
	// observe tells committed audit rows to the metrics (observe.go).
	observe observers
	// Now returns the current time; tests replace it.
	Now func() time.Time
}

// Open opens the database target names and applies pending migrations: a PostgreSQL
// URL (postgres://…), or else the path of a SQLite file, created if needed.
func Open(ctx context.Context, target string) (*DB, error) {
	var sqldb *sql.DB
	if IsPostgres(target) {
		var err error
		if sqldb, err = openPostgres(ctx, target); err != nil {
			return nil, err
		}
	} else {
		var err error
		if sqldb, err = openSQLite(ctx, target); err != nil {
			return nil, fmt.Errorf("open %s: %w", target, err)
		}
	}
	db := &DB{db: sqldb, path: target, pg: IsPostgres(target), instance: newInstanceState(), Now: time.Now}
	if err := db.withMigrationLock(ctx, func() error {
		if err := db.migrate(ctx); err != nil {
			return err
		}
		return db.cacheFunctionPlans(ctx)
	}); err != nil {
		sqldb.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the database.
func (db *DB) Close() error {
	db.stmts.Range(func(_, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
	return db.db.Close()
}

// stmt returns a prepared statement for q, prepared once: SQLite's parser is a large
// part of a small query's cost. The queries are program text (never user input), so
// the cache is bounded by the code.
func (db *DB) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if s, ok := db.stmts.Load(q); ok {
		return s.(*sql.Stmt), nil
	}
	s, err := db.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.stmts.LoadOrStore(q, s); loaded {
		s.Close()
		return prev.(*sql.Stmt), nil
	}
	return s, nil
}

// query runs a read query through the statement cache.
func (db *DB) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	s, err := db.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

// queryRow runs a one-row read query through the statement cache.
func (db *DB) queryRow(ctx context.Context, q string, args ...any) scanner {
	s, err := db.stmt(ctx, q)
	if err != nil {
		return errRow{err}
	}
	return s.QueryRowContext(ctx, args...)
}

// errRow is a row that reports a preparation error.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.queryRow(ctx, "SELECT 1").Scan(&one)
}

// SQL exposes the handle for tests and for the backup and integrity commands.
func (db *DB) SQL() *sql.DB { return db.db }

func (db *DB) now() time.Time { return db.Now().UTC() }

// migrate applies the embedded numbered migrations, each in its own transaction.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.db.ExecContext(ctx, db.schemaMigrationsDDL()); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrationFS, db.migrationsDir()+"/*.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		base := filepath.Base(name)
		version, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: bad number: %w", base, err)
		}
		if err := db.applyMigration(ctx, version, name); err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
	}
	return nil
}

func (db *DB) applyMigration(ctx context.Context, version int, name string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ?", version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", version, formatTime(db.now()))
		return err
	})
}

// tx runs fn in a write transaction serialized with every other (an immediate one on
// SQLite, under the write lock on PostgreSQL: engine.go), committing when fn returns nil.
func (db *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	committed := false
	defer func() { db.observe.done(tx, committed) }() // metrics: audit rows told after commit only (observe.go)
	if err := db.lockWrites(ctx, tx); err != nil {
		tx.Rollback()
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	committed = true
	return nil
}

// exec runs one write statement on its own: directly on SQLite, whose writes are
// serialized anyway, and in a write transaction on PostgreSQL so that it is serialized
// with every other write there too (engine.go).
func (db *DB) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if !db.pg {
		return db.db.ExecContext(ctx, q, args...)
	}
	var res sql.Result
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = tx.ExecContext(ctx, q, args...)
		return err
	})
	return res, err
}

// IntegrityCheck runs PRAGMA integrity_check and returns an error unless it says ok.
// PostgreSQL checks its own pages as it reads them; there it only asks for an answer.
func (db *DB) IntegrityCheck(ctx context.Context) error {
	if db.pg {
		return db.Ping(ctx)
	}
	var res string
	if err := db.queryRow(ctx, "PRAGMA integrity_check").Scan(&res); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("integrity check: %s", res)
	}
	return nil
}

// containsPattern is a LIKE pattern (with ESCAPE '\') matching text that contains s.
func containsPattern(s string) string {
	return "%" + likeEscaper.Replace(s) + "%"
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Backup writes a consistent copy of the live database to path with VACUUM INTO (an
// online backup: readers and writers carry on) and checks the copy's integrity.
// On PostgreSQL it returns ErrBackupEngine: pg_dump is the tool there.
func (db *DB) Backup(ctx context.Context, path string) error {
	if db.pg {
		return ErrBackupEngine
	}
	if _, err := db.db.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	copyDB, err := Open(ctx, path)
	if err != nil {
		return fmt.Errorf("open backup: %w", err)
	}
	defer copyDB.Close()
	if err := copyDB.IntegrityCheck(ctx); err != nil {
		return fmt.Errorf("backup %s: %w", path, err)
	}
	if _, err := copyDB.VerifyAudit(ctx); err != nil {
		return fmt.Errorf("backup %s: %w", path, err)
	}
	return nil
}
