package sandbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// store keeps processes in SQLite, one JSON blob per process, so that a
// sandbox with a DataDir survives restarts.
type store struct{ db *sql.DB }

const schema = `
CREATE TABLE IF NOT EXISTS processes (
	id   TEXT PRIMARY KEY,
	seq  INTEGER NOT NULL,
	data TEXT NOT NULL CHECK (json_valid(data))
) STRICT;
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) STRICT;
`

func openStore(ctx context.Context, dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: creating data dir: %w", err)
	}
	path := filepath.Join(dir, "sandbox.db")
	dsn := "file:" + path + "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sandbox: opening %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("sandbox: creating schema: %w", err)
	}
	return &store{db: db}, nil
}

func (st *store) close() error {
	if err := st.db.Close(); err != nil {
		return fmt.Errorf("sandbox: closing store: %w", err)
	}
	return nil
}

// load returns every process and the sequence counter.
func (st *store) load(ctx context.Context) ([]*process, uint64, error) {
	rows, err := st.db.QueryContext(ctx, `SELECT data FROM processes ORDER BY seq`)
	if err != nil {
		return nil, 0, fmt.Errorf("sandbox: loading processes: %w", err)
	}
	defer rows.Close()
	var out []*process
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, 0, fmt.Errorf("sandbox: loading processes: %w", err)
		}
		p := new(process)
		if err := json.Unmarshal([]byte(data), p); err != nil {
			return nil, 0, fmt.Errorf("sandbox: decoding a stored process: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sandbox: loading processes: %w", err)
	}
	var seq uint64
	var v string
	err = st.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'seq'`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, 0, fmt.Errorf("sandbox: loading the sequence: %w", err)
	default:
		if seq, err = strconv.ParseUint(v, 10, 64); err != nil {
			return nil, 0, fmt.Errorf("sandbox: bad stored sequence %q: %w", v, err)
		}
	}
	return out, seq, nil
}

// put saves ps and the sequence counter in one transaction.
func (st *store) put(ctx context.Context, seq uint64, ps ...*process) error {
	return st.tx(ctx, func(tx *sql.Tx) error {
		for _, p := range ps {
			data, err := json.Marshal(p)
			if err != nil {
				return fmt.Errorf("encoding process: %w", err)
			}
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO processes (id, seq, data) VALUES (?, ?, ?)
				 ON CONFLICT (id) DO UPDATE SET data = excluded.data`, p.ID, int64(p.Seq), string(data)); err != nil {
				return fmt.Errorf("saving process: %w", err)
			}
		}
		return setSeq(ctx, tx, seq)
	})
}

func setSeq(ctx context.Context, tx *sql.Tx, seq uint64) error {
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO meta (key, value) VALUES ('seq', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
		strconv.FormatUint(seq, 10)); err != nil {
		return fmt.Errorf("saving the sequence: %w", err)
	}
	return nil
}

func (st *store) delete(ctx context.Context, id string) error {
	if _, err := st.db.ExecContext(ctx, `DELETE FROM processes WHERE id = ?`, id); err != nil {
		return fmt.Errorf("sandbox: deleting process: %w", err)
	}
	return nil
}

// clear removes every process and resets the sequence.
func (st *store) clear(ctx context.Context) error {
	return st.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM processes`); err != nil {
			return fmt.Errorf("clearing processes: %w", err)
		}
		return setSeq(ctx, tx, 0)
	})
}

func (st *store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sandbox: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("sandbox: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sandbox: commit: %w", err)
	}
	return nil
}
