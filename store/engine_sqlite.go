package store

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"path/filepath"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite's side of the engines (engine.go).

// DSN returns the modernc connection string for path with the project's pragmas.
func DSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	return "file:" + filepath.ToSlash(path) + "?" + q.Encode()
}

func sqliteUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

func sqliteWriteFailure(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return nil
	}
	switch se.Code() & 0xff { // the primary code of an extended one
	case sqlite3.SQLITE_FULL:
		return ErrDiskFull
	case sqlite3.SQLITE_READONLY:
		return ErrReadOnly
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return ErrBusy
	}
	return nil
}

// openSQLite opens the SQLite file at path, created if needed, and its first connection.
// That connection switches a new file to WAL (the DSN's pragma), which takes the file's
// exclusive lock without waiting through busy_timeout: opened while another process or
// DB is doing the same, it failed at once with SQLITE_BUSY (1 run in 30 of four Opens
// at once). So a busy first connection is tried again, for as long as busy_timeout.
func openSQLite(ctx context.Context, path string) (*sql.DB, error) {
	sqldb, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		return nil, err
	}
	sqldb.SetMaxOpenConns(8)
	sqldb.SetMaxIdleConns(8)
	err = sqldb.PingContext(ctx)
	for deadline := time.Now().Add(5 * time.Second); sqliteBusy(err) && time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(10 * time.Millisecond)
		err = sqldb.PingContext(ctx)
	}
	if err != nil {
		sqldb.Close()
		return nil, err
	}
	return sqldb, nil
}

func sqliteBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}
