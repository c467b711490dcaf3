package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RefusalWindow is how long one refusal window lasts (quality bar L3): the first refusal
// of an action for a key in a window is an audit row, the later ones are only counted,
// and one summary row records the count when the window is over. At most two audit rows
// per key and window, so 5,000 refused sign-ins from one client in an hour add a handful.
const RefusalWindow = time.Hour

// refusalSweepBatch is how many finished windows one sweep closes at most, so that a
// refusal never waits on a long sweep; the periodic sweep loops until none is left.
const refusalSweepBatch = 50

// Refusal is a refused request to audit under the L3 bound.
type Refusal struct {
	// Key is whom the refusal is counted against, e.g. "ip:203.0.113.7",
	// "account:alice@example.com" or "user:12": one window per action and key.
	Key string
	// RecordFirst is how many refusals of the key are recorded one by one in a window
	// before the rest are only counted; 0 is 1 (the first only).
	RecordFirst int
	Action      Action
	ObjectType  string
	ObjectID    string
	Outcome     string // OutcomeFailure or OutcomeDenied
	Detail      string
}

// AuditRefusal records a refused request without letting refused traffic grow the
// append-only audit without bound (L3). The first r.RecordFirst refusals (at least one)
// of r.Action for r.Key in a RefusalWindow are appended to the audit as usual (recorded
// is true); later ones in the same window only add to the window's count. A window,
// once over, is summed up ("N more refusals …", when it counted any) in the row of the
// next refusal of its key, or by SweepRefusals in a row of its own. So a key adds at
// most RecordFirst rows a window, plus one summary after its last. One transaction, one
// now.
func (db *DB) AuditRefusal(ctx context.Context, a Actor, r Refusal) (recorded bool, err error) {
	if r.Key == "" {
		r.Key = "ip:" + a.IP
	}
	r.Key = SafeAuditText(r.Key, 290, false)
	action := string(r.Action)
	err = db.tx(ctx, func(tx *sql.Tx) error {
		now := db.now()
		open, carried, err := db.refusalWindow(ctx, tx, action, r.Key, now)
		if err != nil {
			return err
		}
		detail := r.Detail
		if carried != "" { // the key's previous window, summed up in this row
			detail += "; before this, " + carried
		}
		if open {
			res, err := tx.ExecContext(ctx, "UPDATE refusal_windows SET recorded = recorded + 1, last_at = ? WHERE action = ? AND key = ? AND recorded < ?",
				formatTime(now), action, r.Key, max(r.RecordFirst, 1))
			if err != nil {
				return fmt.Errorf("count refusal: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 { // recorded enough: count it
				_, err = tx.ExecContext(ctx, "UPDATE refusal_windows SET count = count + 1, last_at = ?, last_detail = ? WHERE action = ? AND key = ?",
					formatTime(now), SafeAuditText(r.Detail, maxAuditShort, false), action, r.Key)
				if err != nil {
					return fmt.Errorf("count refusal: %w", err)
				}
				return nil
			}
		} else if err := db.openRefusalWindow(ctx, tx, a, r, now); err != nil {
			return err
		}
		if _, err := db.closeFinishedRefusals(ctx, tx, now, refusalSweepBatch); err != nil {
			return err
		}
		recorded = true
		return db.appendAudit(ctx, tx, a, r.Action, r.ObjectType, r.ObjectID, r.Outcome, detail)
	})
	return recorded, err
}

// refusalWindow reports whether (action, key) has a window open at now. A window that
// is over is ended, and its summary ("" when it counted nothing) returned to be told in
// the row of the refusal that opens the next window: one row, not two.
func (db *DB) refusalWindow(ctx context.Context, tx *sql.Tx, action, key string, now time.Time) (open bool, carried string, err error) {
	var started string
	err = tx.QueryRowContext(ctx, "SELECT started_at FROM refusal_windows WHERE action = ? AND key = ?", action, key).Scan(&started)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, "", nil
	case err != nil:
		return false, "", fmt.Errorf("read refusal window: %w", err)
	case !refusalWindowOver(parseTime(started), now):
		return true, "", nil
	}
	_, _, _, _, carried, err = db.endRefusalWindow(ctx, tx, action, key)
	return false, carried, err
}

// openRefusalWindow starts the window of (r.Action, r.Key) at now, remembering who and
// what its first refusal was for the summary.
func (db *DB) openRefusalWindow(ctx context.Context, tx *sql.Tx, a Actor, r Refusal, now time.Time) error {
	var actorID any
	if a.UserID != 0 {
		actorID = a.UserID
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO refusal_windows
		(action, key, started_at, last_at, count, recorded, actor_id, actor, ip, object_type, object_id, outcome, last_detail)
		VALUES (?, ?, ?, ?, 0, 1, ?, ?, ?, ?, ?, ?, '')`,
		string(r.Action), r.Key, formatTime(now), formatTime(now), actorID, SafeAuditText(a.Email, maxAuditActor, false),
		SafeAuditText(a.IP, maxAuditShort, false), r.ObjectType, SafeAuditText(r.ObjectID, maxAuditShort, false), r.Outcome)
	if err != nil {
		return fmt.Errorf("open refusal window: %w", err)
	}
	return nil
}

// SweepRefusals closes every finished refusal window (a summary audit row for each that
// counted refusals) and returns how many it closed. The portal runs it periodically, so a
// burst that stops is summed up even when its key is never refused again.
func (db *DB) SweepRefusals(ctx context.Context) (int, error) {
	total := 0
	for {
		n := 0
		err := db.tx(ctx, func(tx *sql.Tx) error {
			var err error
			n, err = db.closeFinishedRefusals(ctx, tx, db.now(), refusalSweepBatch)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < refusalSweepBatch {
			return total, nil
		}
	}
}

// refusalWindowOver reports whether a window started at started is over at now. A clock
// that stepped back keeps the window open rather than opening new ones.
func refusalWindowOver(started, now time.Time) bool {
	return !now.Before(started.Add(RefusalWindow))
}

// closeFinishedRefusals closes at most limit windows that are over at now, oldest first,
// and returns how many it closed.
func (db *DB) closeFinishedRefusals(ctx context.Context, tx *sql.Tx, now time.Time, limit int) (int, error) {
	rows, err := tx.QueryContext(ctx, "SELECT action, key FROM refusal_windows WHERE started_at <= ? ORDER BY started_at LIMIT ?",
		formatTime(now.Add(-RefusalWindow)), limit)
	if err != nil {
		return 0, fmt.Errorf("finished refusals: %w", err)
	}
	var keys [][2]string
	for rows.Next() {
		var k [2]string
		if err := rows.Scan(&k[0], &k[1]); err != nil {
			rows.Close()
			return 0, fmt.Errorf("finished refusals: %w", err)
		}
		keys = append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("finished refusals: %w", err)
	}
	for _, k := range keys {
		if err := db.closeRefusalWindow(ctx, tx, k[0], k[1]); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// closeRefusalWindow deletes the window of (action, key), first appending its summary
// row when it counted refusals not recorded one by one. The summary is written as the
// first refusal's actor, from its IP, on its object.
func (db *DB) closeRefusalWindow(ctx context.Context, tx *sql.Tx, action, key string) error {
	a, objectType, objectID, outcome, summary, err := db.endRefusalWindow(ctx, tx, action, key)
	if err != nil || summary == "" {
		return err
	}
	return db.appendAudit(ctx, tx, a, Action(action), objectType, objectID, outcome, summary)
}

// endRefusalWindow deletes the window of (action, key) and returns what its summary
// row would say ("" when it counted nothing), with the first refusal's actor, object
// and outcome.
func (db *DB) endRefusalWindow(ctx context.Context, tx *sql.Tx, action, key string) (a Actor, objectType, objectID, outcome, summary string, err error) {
	var started, last, lastDetail string
	var count int64
	var actorID sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT started_at, last_at, count, actor_id, actor, ip, object_type, object_id, outcome, last_detail
		FROM refusal_windows WHERE action = ? AND key = ?`, action, key).
		Scan(&started, &last, &count, &actorID, &a.Email, &a.IP, &objectType, &objectID, &outcome, &lastDetail)
	if err != nil {
		return a, "", "", "", "", fmt.Errorf("read refusal window: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM refusal_windows WHERE action = ? AND key = ?", action, key); err != nil {
		return a, "", "", "", "", fmt.Errorf("close refusal window: %w", err)
	}
	a.UserID = actorID.Int64
	if count > 0 {
		summary = fmt.Sprintf("%d more refusals for %s between %s and %s (counted, not recorded one by one); last: %s",
			count, key, parseTime(started).Format(time.RFC3339), parseTime(last).Format(time.RFC3339), lastDetail)
	}
	return a, objectType, objectID, outcome, summary, nil
}

// RecentSuccesses counts the successful audit rows of action by actorID after since,
// and returns the oldest one's time: what a per-user rate limit (issue 9: the
// onboardings an agent creates) is judged on, in the database so that every instance
// sees the same count.
func (db *DB) RecentSuccesses(ctx context.Context, actorID int64, action Action, since time.Time) (int, time.Time, error) {
	var n int
	var oldest sql.NullString
	err := db.queryRow(ctx, "SELECT count(*), min(at) FROM audit_events WHERE actor_id = ? AND action = ? AND outcome = ? AND at > ?",
		actorID, string(action), OutcomeSuccess, formatTime(since)).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count recent %s: %w", action, err)
	}
	return n, nullTime(oldest), nil
}
