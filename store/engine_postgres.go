package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL's side of the engines (engine.go).

// Advisory lock keys (any two distinct 64-bit numbers; these spell "portalwr" and
// "portalmg").
const (
	writeLockKey     int64 = 0x706f7274616c7772
	migrationLockKey int64 = 0x706f7274616c6d67
)

// openPostgres opens the PostgreSQL database at url through pgx's database/sql driver,
// wrapped to rebind placeholders.
func openPostgres(ctx context.Context, url string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["timezone"] = "UTC"
	// Plan every execution of the portal's statements for its values: they turn on them
	// (partial indexes, keyset cursors, search patterns), and a generic plan chosen after
	// five runs of a prepared search recomputed its patterns for every matching row
	// (seconds instead of milliseconds over 100k processes). The schema's functions are
	// exempt: cacheFunctionPlans.
	cfg.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	sqldb := sql.OpenDB(pgConnector{stdlib.GetConnector(*cfg)})
	sqldb.SetMaxOpenConns(16)
	sqldb.SetMaxIdleConns(16)
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w", redactURL(url), err)
	}
	return sqldb, nil
}

// redactURL drops the password from a database URL for messages.
func redactURL(u string) string {
	if cfg, err := pgconn.ParseConfig(u); err == nil {
		return fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
	}
	return "(unparsable URL)"
}

type pgConnector struct{ driver.Connector }

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return pgConn{conn.(*stdlib.Conn)}, nil
}

// pgConn is pgx's connection with every query text rebound; everything else is pgx's.
type pgConn struct{ *stdlib.Conn }

func (c pgConn) Prepare(q string) (driver.Stmt, error) { return c.Conn.Prepare(rebind(q)) }

func (c pgConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(q))
}

func (c pgConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(q), args)
}

func (c pgConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(q), args)
}

var rebound sync.Map // query text → PostgreSQL text; bounded by the program's queries

// rebind turns a query written for SQLite into PostgreSQL's spelling, once per text:
// ? becomes $1, $2, … and ?N becomes $N; INDEXED BY name and NOT INDEXED are dropped.
// String literals, quoted names, comments and dollar-quoted bodies are left alone.
func rebind(q string) string {
	if r, ok := rebound.Load(q); ok {
		return r.(string)
	}
	r := rebindText(q)
	rebound.Store(q, r)
	return r
}

func rebindText(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(q) {
				if q[j] == c {
					if j+1 < len(q) && q[j+1] == c { // doubled quote
						j += 2
						continue
					}
					break
				}
				j++
			}
			j = min(j+1, len(q))
			b.WriteString(q[i:j])
			i = j
		case c == '-' && strings.HasPrefix(q[i:], "--"):
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = len(q) - i
			}
			b.WriteString(q[i : i+j])
			i += j
		case c == '$' && strings.HasPrefix(q[i:], "$$"):
			j := strings.Index(q[i+2:], "$$")
			if j < 0 {
				j = len(q) - i - 4
			}
			b.WriteString(q[i : i+j+4])
			i += j + 4
		case c == '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			if j > i+1 {
				b.WriteString("$" + q[i+1:j])
			} else {
				n++
				fmt.Fprintf(&b, "$%d", n)
			}
			i = j
		case isWordStart(q, i) && (hasWordPrefix(q[i:], "INDEXED BY") || hasWordPrefix(q[i:], "NOT INDEXED")):
			j := i
			if hasWordPrefix(q[i:], "INDEXED BY") {
				j += len("INDEXED BY")
				for j < len(q) && q[j] == ' ' {
					j++
				}
				for j < len(q) && isWordByte(q[j]) {
					j++
				}
			} else {
				j += len("NOT INDEXED")
			}
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isWordStart(q string, i int) bool { return i == 0 || !isWordByte(q[i-1]) }

func hasWordPrefix(s, w string) bool {
	return len(s) >= len(w) && strings.EqualFold(s[:len(w)], w) && (len(s) == len(w) || !isWordByte(s[len(w)]))
}

// lockWrites serializes tx with every other write transaction on PostgreSQL (SQLite's
// immediate transactions already are). It is the transaction's first statement, so
// every later statement sees what earlier writers committed.
func (db *DB) lockWrites(ctx context.Context, tx *sql.Tx) error {
	if !db.pg {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", writeLockKey)
	return err
}

// withMigrationLock runs fn holding the migration lock on PostgreSQL: a second instance
// starting at the same moment waits, then finds every migration applied.
func (db *DB) withMigrationLock(ctx context.Context, fn func() error) error {
	if !db.pg {
		return fn()
	}
	conn, err := db.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", migrationLockKey); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", migrationLockKey)
	return fn()
}

func pgUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" // unique_violation
}

func pgWriteFailure(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return nil
	}
	switch pe.Code {
	case "53100": // disk_full
		return ErrDiskFull
	case "25006": // read_only_sql_transaction (a standby)
		return ErrReadOnly
	case "55P03", "40P01": // lock_not_available, deadlock_detected
		return ErrBusy
	}
	return nil
}

// cacheFunctionPlans lets the server's own functions (the triggers) keep their plans:
// the session's plan_cache_mode=force_custom_plan (openPostgres) is for the portal's
// statements, and inside a function it planned every statement for every row, which
// halved decisions/s. Each plpgsql function of the schema gets plan_cache_mode=auto of
// its own; it runs after every migration, so functions a migration adds get it too.
func (db *DB) cacheFunctionPlans(ctx context.Context) error {
	if !db.pg {
		return nil
	}
	_, err := db.db.ExecContext(ctx, `DO $$
DECLARE f regprocedure;
BEGIN
	FOR f IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
		WHERE l.lanname = 'plpgsql' AND p.pronamespace = current_schema()::regnamespace
			AND NOT coalesce('plan_cache_mode=auto' = ANY (p.proconfig), false)
	LOOP
		EXECUTE format('ALTER FUNCTION %s SET plan_cache_mode = auto', f);
	END LOOP;
END $$`)
	if err != nil {
		return fmt.Errorf("functions' plan cache: %w", err)
	}
	return nil
}
