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
	// Escalated selects the Escalated view (cases passed on to administrators) instead
	// of the queue, which leaves them out.
	Escalated bool
	// SkippedBy leaves out the cases this agent skipped, while the skip lasts ("Next case").
	SkippedBy int64
	// After is the keyset cursor: the last row of the previous page.
	AfterSince time.Time
	AfterID    string
	Limit      int
}

// clauses builds the FROM and WHERE clauses shared by the queue and "next case", with
// their arguments in order. What the rows are read from depends on the filters, so that
// every page reads only what it shows:
//   - a search: the few processes the search index finds (store.SearchMatchRecent), each
//     looked up by id, then sorted;
//   - a failed-check filter: queue_failed (migration 0013), already in queue order;
//   - else the queue's indexes on processes, in queue order.
func (q QueueQuery) clauses(now time.Time) (from, where string, args []any) {
	from = processFrom
	conds := []string{"p.reviewable = 1"}
	add := func(c string, a ...any) { conds, args = append(conds, c), append(args, a...) }
	switch q.driver() {
	case driveSearch:
		sub, subArgs, _ := searchRecentIDs(q.Search)
		// The join term is in WHERE: PostgreSQL has no CROSS JOIN … ON.
		from = " FROM (" + sub + ") c CROSS JOIN processes p LEFT JOIN users u ON u.id = p.claimed_by"
		args = append(args, subArgs...)
		add("p.id = c.id")
		if q.Failed != "" {
			add(`p.failed LIKE ? ESCAPE '\'`, containsPattern(","+q.Failed+","))
		}
	case driveFailed:
		from = " FROM queue_failed f JOIN processes p ON p.id = f.process_id LEFT JOIN users u ON u.id = p.claimed_by"
		add("f.name = ?", q.Failed)
	case driveEscalated:
		from = " FROM processes p INDEXED BY processes_escalated LEFT JOIN users u ON u.id = p.claimed_by"
	}
	if q.Escalated {
		add("p.escalated_at IS NOT NULL")
	} else {
		add("p.escalated_at IS NULL")
	}
	if q.SkippedBy != 0 {
		add("NOT EXISTS (SELECT 1 FROM skips s WHERE s.user_id = ? AND s.process_id = p.id AND s.until > ?)", q.SkippedBy, formatTime(now))
	}
	if q.Country != "" {
		add("p.country = ?", q.Country)
	}
	if q.DocType != "" {
		add("p.doc_type = ?", q.DocType)
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
	if q.AfterID != "" {
		op := ">"
		if q.Newest {
			op = "<"
		}
		add("("+q.sinceCol()+", "+q.idCol()+") "+op+" (?, ?)", formatTime(q.AfterSince), q.AfterID)
	}
	return from, strings.Join(conds, " AND "), args
}

// What a queue query reads its rows from.
const (
	driveQueue     = iota
	driveSearch    // the search's matches
	driveFailed    // queue_failed
	driveEscalated // the few escalated cases, through processes_escalated
)

func (q QueueQuery) driver() int {
	if _, _, ok := searchRecentIDs(q.Search); ok {
		return driveSearch
	}
	if q.Failed != "" {
		return driveFailed
	}
	if q.Escalated {
		return driveEscalated
	}
	return driveQueue
}

// sinceCol and idCol are the columns the order and the cursor use: queue_failed's own
// copy of them when it drives (the same values), else the process's.
func (q QueueQuery) sinceCol() string {
	if q.driver() == driveFailed {
		return "f.review_since"
	}
	return "p.review_since"
}

func (q QueueQuery) idCol() string {
	if q.driver() == driveFailed {
		return "f.process_id"
	}
	return "p.id"
}

func (q QueueQuery) order() string {
	if q.Newest {
		return " ORDER BY " + q.sinceCol() + " DESC, " + q.idCol() + " DESC"
	}
	return " ORDER BY " + q.sinceCol() + ", " + q.idCol()
}

// Queue returns a page of processes awaiting review and whether more follow.
func (db *DB) Queue(ctx context.Context, q QueueQuery) ([]*Process, bool, error) {
	if q.Limit <= 0 || q.Limit > 200 {
		q.Limit = 50
	}
	from, where, args := q.clauses(db.now())
	args = append(args, q.Limit+1)
	rows, err := db.query(ctx, "SELECT "+processColumns+from+" WHERE "+where+q.order()+" LIMIT ?", args...)
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

// CountQueue returns the queue's counters for userID, with "over target" meaning in
// review since before now−target. It reads the counters the triggers of migration 0011
// keep, the live claims (a few per agent) and at most one minute of processes per
// minute of the target: its cost does not grow with the queue.
func (db *DB) CountQueue(ctx context.Context, userID int64, target time.Duration) (QueueCounts, error) {
	now := db.now()
	cutoff := now.Add(-target)
	cutoffMinute := cutoff.Unix() / 60
	boundaryEnd := time.Unix((cutoffMinute+1)*60, 0) // the cutoff's own minute is counted exactly
	var c QueueCounts
	var claimed, undated, recent, boundary int
	err := db.queryRow(ctx, `SELECT
		(SELECT n FROM queue_total WHERE id = 1),
		(SELECT count(*) FROM processes INDEXED BY processes_live_claims WHERE reviewable = 1 AND claimed_by IS NOT NULL AND claim_expires_at > ?1),
		(SELECT count(*) FROM processes INDEXED BY processes_claims WHERE claimed_by = ?2 AND claim_expires_at > ?1 AND reviewable = 1),
		coalesce((SELECT n FROM queue_minutes WHERE minute = -1), 0),
		coalesce((SELECT sum(n) FROM queue_minutes WHERE minute > ?3), 0),
		(SELECT count(*) FROM processes INDEXED BY processes_queue WHERE reviewable = 1 AND review_since > ?4 AND review_since < ?5)`,
		formatTime(now), userID, cutoffMinute, formatTime(cutoff), formatTime(boundaryEnd)).
		Scan(&c.InReview, &claimed, &c.Mine, &undated, &recent, &boundary)
	if err != nil {
		return c, fmt.Errorf("count queue: %w", err)
	}
	c.Unclaimed = c.InReview - claimed
	c.OverTarget = c.InReview - undated - recent - boundary
	return c, nil
}

// QueueOptions lists the values the queue's filters offer.
type QueueOptions struct {
	Countries []string
	DocTypes  []string
}

// ListQueueOptions returns the countries and document types of the processes in
// review, from the choices the triggers of migration 0011 keep.
func (db *DB) ListQueueOptions(ctx context.Context) (QueueOptions, error) {
	var o QueueOptions
	rows, err := db.query(ctx, "SELECT kind, value FROM queue_choices WHERE n > 0 AND value <> '' ORDER BY kind, value")
	if err != nil {
		return o, fmt.Errorf("queue options: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, v string
		if err := rows.Scan(&kind, &v); err != nil {
			return o, err
		}
		if kind == "country" {
			o.Countries = append(o.Countries, v)
		} else {
			o.DocTypes = append(o.DocTypes, v)
		}
	}
	if err := rows.Err(); err != nil {
		return o, fmt.Errorf("queue options: %w", err)
	}
	return o, nil
}
