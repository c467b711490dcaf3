package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Claim filters of the queue.
const (
	ClaimAll       = "all"
	ClaimMine      = "mine"
	ClaimUnclaimed = "unclaimed"
)

// QueueQuery selects processes awaiting review. Zero fields match everything.
type QueueQuery struct {
	UserID    int64 // the agent looking, for ClaimMine
	Country   string
	DocType   string
	Failed    string // a validation name
	Claim     string // ClaimAll, ClaimMine or ClaimUnclaimed
	OlderThan time.Duration
	Search    string // verification id, customer reference or holder name
	Newest    bool   // newest first instead of oldest first
	// After is the keyset cursor: the last row of the previous page.
	AfterSince time.Time
	AfterID    string
	Limit      int
}

// where builds the WHERE clause shared by the queue and "next case".
func (q QueueQuery) where(now time.Time) (string, []any) {
	conds := []string{"p.reviewable = 1"}
	var args []any
	add := func(c string, a ...any) { conds, args = append(conds, c), append(args, a...) }
	if q.Country != "" {
		add("p.country = ?", q.Country)
	}
	if q.DocType != "" {
		add("p.doc_type = ?", q.DocType)
	}
	if q.Failed != "" {
		add("p.failed LIKE ? ESCAPE '\\'", "%,"+escapeLike(q.Failed)+",%")
	}
	switch q.Claim {
	case ClaimMine:
		add("p.claimed_by = ? AND p.claim_expires_at > ?", q.UserID, formatTime(now))
	case ClaimUnclaimed:
		add("(p.claimed_by IS NULL OR p.claim_expires_at <= ?)", formatTime(now))
	}
	if q.OlderThan > 0 {
		add("p.review_since <= ?", formatTime(now.Add(-q.OlderThan)))
	}
	if s := strings.TrimSpace(q.Search); s != "" {
		like := "%" + escapeLike(s) + "%"
		add("(p.id = ? OR p.customer_ref = ? OR p.holder_name LIKE ? ESCAPE '\\' OR p.customer_ref LIKE ? ESCAPE '\\')", s, s, like, like)
	}
	if q.AfterID != "" {
		op := ">"
		if q.Newest {
			op = "<"
		}
		add("(p.review_since, p.id) "+op+" (?, ?)", formatTime(q.AfterSince), q.AfterID)
	}
	return strings.Join(conds, " AND "), args
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func (q QueueQuery) order() string {
	if q.Newest {
		return " ORDER BY p.review_since DESC, p.id DESC"
	}
	return " ORDER BY p.review_since, p.id"
}

// Queue returns a page of processes awaiting review and whether more follow.
func (db *DB) Queue(ctx context.Context, q QueueQuery) ([]*Process, bool, error) {
	if q.Limit <= 0 || q.Limit > 200 {
		q.Limit = 50
	}
	where, args := q.where(db.now())
	args = append(args, q.Limit+1)
	rows, err := db.query(ctx, "SELECT "+processColumns+processFrom+" WHERE "+where+q.order()+" LIMIT ?", args...)
	if err != nil {
		return nil, false, fmt.Errorf("queue: %w", err)
	}
	defer rows.Close()
	var out []*Process
	for rows.Next() {
		p, err := scanProcess(rows)
		if err != nil {
			return nil, false, err
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	more := len(out) > q.Limit
	if more {
		out = out[:q.Limit]
	}
	return out, more, nil
}

// QueueCounts are the navigation's counters.
type QueueCounts struct {
	InReview   int
	Unclaimed  int
	Mine       int
	OverTarget int
}

// CountQueue counts processes in review, unclaimed ones, those claimed by userID and
// those waiting longer than target.
func (db *DB) CountQueue(ctx context.Context, userID int64, target time.Duration) (QueueCounts, error) {
	now := formatTime(db.now())
	var c QueueCounts
	err := db.queryRow(ctx, `SELECT count(*),
		coalesce(sum(claimed_by IS NULL OR claim_expires_at <= ?), 0),
		coalesce(sum(claimed_by = ? AND claim_expires_at > ?), 0),
		coalesce(sum(review_since <= ?), 0)
		FROM processes WHERE reviewable = 1`, now, userID, now, formatTime(db.now().Add(-target))).
		Scan(&c.InReview, &c.Unclaimed, &c.Mine, &c.OverTarget)
	if err != nil {
		return c, fmt.Errorf("count queue: %w", err)
	}
	return c, nil
}

// QueueOptions lists the values the queue's filters offer.
type QueueOptions struct {
	Countries []string
	DocTypes  []string
}

// ListQueueOptions returns the distinct countries and document types in review. Each
// list is read by skipping through an index from one value to the next, so its cost
// grows with the number of distinct values, not with the size of the queue.
func (db *DB) ListQueueOptions(ctx context.Context) (QueueOptions, error) {
	var o QueueOptions
	for _, f := range []struct {
		col string
		dst *[]string
	}{{"country", &o.Countries}, {"doc_type", &o.DocTypes}} {
		rows, err := db.query(ctx, `WITH RECURSIVE v(val, n) AS (
				SELECT (SELECT min(`+f.col+`) FROM processes WHERE reviewable = 1 AND `+f.col+` > ''), 1
				UNION ALL
				SELECT (SELECT min(`+f.col+`) FROM processes WHERE reviewable = 1 AND `+f.col+` > v.val), n + 1
				FROM v WHERE v.val IS NOT NULL AND n < 300)
			SELECT val FROM v WHERE val IS NOT NULL`)
		if err != nil {
			return o, fmt.Errorf("queue options: %w", err)
		}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return o, err
			}
			*f.dst = append(*f.dst, v)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return o, fmt.Errorf("queue options: %w", err)
		}
	}
	return o, nil
}

// CountClaimedBy counts the processes in review that userID holds a claim on.
func (db *DB) CountClaimedBy(ctx context.Context, userID int64) (int, error) {
	var n int
	err := db.queryRow(ctx, "SELECT count(*) FROM processes WHERE claimed_by = ? AND claim_expires_at > ? AND reviewable = 1",
		userID, formatTime(db.now())).Scan(&n)
	return n, err
}
