package store

import (
	"errors"
	"strings"
)

// The store runs on one of two engines (design.md, "Storage engines"): SQLite, the
// zero-configuration default, or PostgreSQL when PORTAL_DATABASE_URL names one, for
// several instances on one database. The SQL is written once, in SQLite's spelling with
// ? placeholders; what differs between the engines lives in engine_sqlite.go and
// engine_postgres.go, and the few choices between them in this file, so that the rest
// of the package never asks which engine it runs on:
//
//   - placeholders are rebound to $n, once per query text, at the driver boundary;
//   - SQLite's planner hints (INDEXED BY, NOT INDEXED) are dropped for PostgreSQL;
//   - every write transaction is serialized: SQLite's BEGIN IMMEDIATE does it in one
//     file, a transaction-scoped advisory lock does it across instances on PostgreSQL,
//     so the rules that read then write (claims, D1, the audit chain) hold on both;
//   - migrations live in a folder per engine and, on PostgreSQL, run under a session
//     advisory lock so that two instances starting at once apply them once;
//   - constraint and failure errors are recognised by their codes.

// IsPostgres reports whether target (a path or a URL) names a PostgreSQL database.
func IsPostgres(target string) bool {
	return strings.HasPrefix(target, "postgres://") || strings.HasPrefix(target, "postgresql://")
}

// Engine names the engine, for logs: "postgresql" or "sqlite".
func (db *DB) Engine() string {
	if db.pg {
		return "postgresql"
	}
	return "sqlite"
}

// migrationsDir is the engine's folder of numbered migrations.
func (db *DB) migrationsDir() string {
	if db.pg {
		return "migrations/postgres"
	}
	return "migrations/sqlite"
}

// schemaMigrationsDDL creates the table that records applied migrations.
func (db *DB) schemaMigrationsDDL() string {
	if db.pg {
		return `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)`
	}
	return `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL) STRICT`
}

// isUniqueViolation reports whether err is a UNIQUE or PRIMARY KEY constraint failure.
func isUniqueViolation(err error) bool {
	return sqliteUniqueViolation(err) || pgUniqueViolation(err)
}

// writeFailure maps the engine's error code to one of the health sentinels (nil when it
// is none of them).
func writeFailure(err error) error {
	if cause := sqliteWriteFailure(err); cause != nil {
		return cause
	}
	return pgWriteFailure(err)
}

// ErrBackupEngine says that `portal backup` copies SQLite files only.
var ErrBackupEngine = errors.New("the portal's database is PostgreSQL: back it up with pg_dump (see the README), not with portal backup")
