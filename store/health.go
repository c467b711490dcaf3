package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"time"
)

// Why the database cannot be written, for the health check (O3). CheckWritable wraps
// one of these when it recognises the cause; the caller words them, never the text of
// the driver's error.
var (
	ErrDiskFull = errors.New("database or disk is full")
	ErrReadOnly = errors.New("database is read-only")
	ErrBusy     = errors.New("database is locked by another writer")
)

// CheckWritable proves the database can be written now (O3): in an immediate
// transaction it checks that the database may still grow (a free page, or room under
// PRAGMA max_page_count) and upserts the one row of health_probe, then commits. A full
// disk, a read-only file or connection, or a lock held past ctx's deadline make it
// fail; the error wraps ErrDiskFull, ErrReadOnly or ErrBusy when the cause is one of
// them.
func (db *DB) CheckWritable(ctx context.Context) error {
	now := db.now()
	err := db.tx(ctx, func(tx *sql.Tx) error {
		// The upsert rewrites its row in place and never needs a page, so it alone
		// would not notice a database that can no longer grow.
		if db.pg {
			return upsertProbe(ctx, tx, now)
		}
		var pages, free, maxPages int64
		if err := tx.QueryRowContext(ctx, `SELECT p.page_count, f.freelist_count, m.max_page_count
			FROM pragma_page_count() p, pragma_freelist_count() f, pragma_max_page_count() m`).Scan(&pages, &free, &maxPages); err != nil {
			return err
		}
		if free == 0 && pages >= maxPages {
			return ErrDiskFull
		}
		return upsertProbe(ctx, tx, now)
	})
	if err == nil {
		return nil
	}
	if cause := writeFailure(err); cause != nil {
		return fmt.Errorf("health probe: %w: %w", cause, err)
	}
	return fmt.Errorf("health probe: %w", err)
}

func upsertProbe(ctx context.Context, tx *sql.Tx, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO health_probe (id, at) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET at = excluded.at`, formatTime(now))
	return err
}
