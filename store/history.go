package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// HistoryState is where a process stands, as the history of every process shows and
// filters it. The values are worked out from the process's row by the view
// process_history_source (migration 0015), in this order of precedence.
type HistoryState string

// Where a process stands.
const (
	HistoryPurged   HistoryState = "purged"   // retention or an erasure cleared its identity data
	HistoryGone     HistoryState = "gone"     // Mobbscan no longer knows it
	HistoryReview   HistoryState = "review"   // awaiting review
	HistoryAccepted HistoryState = "accepted" // final at Mobbscan: verified
	HistoryRejected HistoryState = "rejected" // final at Mobbscan: not verified
	HistoryDecided  HistoryState = "decided"  // decided here; Mobbscan has no final verdict yet
	HistoryOpen     HistoryState = "open"     // with the customer: not finished, expired or unknown
)

// HistoryStates lists the states in the order the history's filter offers them.
var HistoryStates = []HistoryState{HistoryReview, HistoryDecided, HistoryAccepted, HistoryRejected, HistoryOpen,
	HistoryGone, HistoryPurged}

// Valid reports whether s is a known state.
func (s HistoryState) Valid() bool {
	for _, v := range HistoryStates {
		if v == s {
			return true
		}
	}
	return false
}

// Label names the state for people.
func (s HistoryState) Label() string {
	switch s {
	case HistoryReview:
		return "In review"
	case HistoryDecided:
		return "Decided, awaiting delivery"
	case HistoryAccepted:
		return "Accepted (final)"
	case HistoryRejected:
		return "Rejected (final)"
	case HistoryOpen:
		return "With the customer"
	case HistoryGone:
		return "Gone from Mobbscan"
	case HistoryPurged:
		return "Purged"
	}
	return string(s)
}

// HistoryQuery selects processes of the history, newest activity first. The activity of
// a process is the later of its last update at Mobbscan (when the portal first saw it, if
// Mobbscan gave no time) and its live decision, to the second. Zero fields match everything.
type HistoryQuery struct {
	State     HistoryState
	Verdict   Verdict // of the live decision
	DecidedBy int64   // user id of the live decision's author
	// Since and Until bound the last activity: Since <= activity < Until, to the second.
	Since, Until time.Time
	Search       string // verification id, customer reference or holder name (see SearchMatch)
	// After is the keyset cursor: the Key of the last row of the previous page.
	After int64
	Limit int // 50 when zero, at most 200
}

// HistoryRow is one process of the history with its live decision, if any.
type HistoryRow struct {
	Key         int64 // its place in the history's order; the cursor of the next page
	State       HistoryState
	ActivityAt  time.Time
	ID          string
	Status      string // at Mobbscan: PENDING, VERIFIED, NOT_VERIFIED or UNKNOWN
	Stage       string
	Reviewable  bool
	Final       bool
	Gone        bool
	Decided     bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
	FirstSeenAt time.Time
	Country     string
	DocType     string
	HolderName  string // "" once purged
	CustomerRef string // "" once purged
	PurgedAt    time.Time
	Decision    *HistoryDecision // nil when it has no live decision
}

// HistoryDecision is the live decision of a process as the history shows it.
type HistoryDecision struct {
	ID            int64
	Verdict       Verdict
	DecidedBy     int64
	DecidedByName string
	DecidedAt     time.Time
	State         DeliveryState
	Attempts      int
}

// StateLabel is the delivery state for people, as Decision.StateLabel says it.
func (d *HistoryDecision) StateLabel() string {
	return (&Decision{State: d.State, Attempts: d.Attempts}).StateLabel()
}

// historyEpoch is the start of the seconds packed into process_history.ak.
const historyEpoch = 946684800 // 2000-01-01T00:00:00Z

// historyKey is the smallest key of an activity at t (the key of t's second with seq 0).
func historyKey(t time.Time) int64 {
	s := t.Unix() - historyEpoch
	s = max(0, min(s, 1<<32-1))
	return s << 31
}

const historyColumns = `h.ak, h.state, CASE WHEN h.decided_at > h.updated_at THEN h.decided_at ELSE h.updated_at END, p.id, p.status, p.stage, p.reviewable,
	p.final, p.gone, p.decided, p.created_at, p.updated_at, p.first_seen_at, p.country, p.doc_type, p.holder_name,
	p.customer_ref, p.purged_at, d.id, d.verdict, d.decided_by, u.display_name, d.decided_at, d.state, d.attempts`

const historyJoins = ` JOIN processes p ON p.id = h.process_id
	LEFT JOIN decisions d ON d.process_id = p.id AND d.state <> 'overturned' AND d.superseded_at IS NULL
	LEFT JOIN users u ON u.id = d.decided_by`

// sql builds the page's query (exact: the search text is exactly an id or a reference). Without a search, the page is read in order from the
// process_history index made for its equality filters (migration 0015 has one for each
// combination, named after its columns, each ending in ak), ranged on ak by the dates and
// the cursor, and it stops at the page's last row. INDEXED BY names that index: without
// statistics the planner may prefer a less fitting index with a tighter range. With a
// search, the full-text index drives (CROSS JOIN keeps it the outer loop; the join term
// is in WHERE, as PostgreSQL wants with CROSS JOIN): its rowid is ak, so it hands over
// matches newest first and the page stops at its last row however many processes match.
// A text that is exactly an id or a reference (or too short for trigrams) is looked up
// through their indexes instead.
func (q HistoryQuery) sql(exact bool) (string, []any) { return q.sqlOn(false, exact) }

// sqlOn is sql for either engine (pg: PostgreSQL). PostgreSQL's trigram index hands over
// the matches unordered, all of them: there the page is cut from the matches and their
// history rows first, and only its rows are joined to processes and decisions.
func (q HistoryQuery) sqlOn(pg, exact bool) (string, []any) {
	var conds []string
	var args []any
	add := func(c string, a ...any) { conds, args = append(conds, c), append(args, a...) }
	index := "process_history_"
	if q.DecidedBy != 0 {
		index += "by_"
	}
	if q.State != "" {
		index += "state_"
	}
	if q.Verdict != "" {
		index += "verdict_"
	}
	key := "h.ak"
	from := " FROM process_history h INDEXED BY " + index + "ak"
	if s, ok := parseSearch(q.Search); ok {
		switch {
		case s.match != "" && !exact:
			key = "process_search.rowid"
			from = " FROM process_search(?) CROSS JOIN process_history h"
			add("h.ak = process_search.rowid", s.match) // the argument of process_search(?), the first
		default:
			from = " FROM process_history h"
			add("h.process_id IN ("+exactMatch+")", s.exact, s.exact)
		}
	}
	if q.DecidedBy != 0 {
		add("h.decided_by = ?", q.DecidedBy)
	}
	if q.State != "" {
		add("h.state = ?", string(q.State))
	}
	if q.Verdict != "" {
		add("h.verdict = ?", string(q.Verdict))
	}
	if !q.Since.IsZero() {
		add(key+" >= ?", historyKey(q.Since))
	}
	// The cursor and the end date are both upper bounds: one range is enough.
	upper := int64(0)
	if !q.Until.IsZero() {
		upper = historyKey(q.Until)
	}
	if q.After > 0 && (upper == 0 || q.After < upper) {
		upper = q.After
	}
	if upper != 0 {
		add(key+" < ?", upper)
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	args = append(args, q.limit()+1)
	if pg && key == "process_search.rowid" {
		return "SELECT " + historyColumns + " FROM (SELECT h.*" + from + where + " ORDER BY " + key + " DESC LIMIT ?) h" +
			historyJoins + " ORDER BY h.ak DESC", args
	}
	return "SELECT " + historyColumns + from + historyJoins + where + " ORDER BY " + key + " DESC LIMIT ?", args
}

func (q HistoryQuery) limit() int {
	if q.Limit <= 0 || q.Limit > 200 {
		return 50
	}
	return q.Limit
}

// History returns a page of every process the portal knows, newest activity first, and
// whether more follow. Each row carries its live decision, if any.
func (db *DB) History(ctx context.Context, q HistoryQuery) ([]*HistoryRow, bool, error) {
	exact := false
	if s, ok := parseSearch(q.Search); ok && s.match != "" {
		if err := db.queryRow(ctx, "SELECT EXISTS ("+exactMatch+")", s.exact, s.exact).Scan(&exact); err != nil {
			return nil, false, fmt.Errorf("history: %w", err)
		}
	}
	query, args := q.sqlOn(db.pg, exact)
	rows, err := db.query(ctx, query, args...)
	if err != nil {
		return nil, false, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	var out []*HistoryRow
	for rows.Next() {
		r, err := scanHistoryRow(rows)
		if err != nil {
			return nil, false, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("history: %w", err)
	}
	more := len(out) > q.limit()
	if more {
		out = out[:q.limit()]
	}
	return out, more, nil
}

func scanHistoryRow(s scanner) (*HistoryRow, error) {
	var r HistoryRow
	var activity, firstSeen string
	var created, updated, purged sql.NullString
	var dID, dBy, dAttempts sql.NullInt64
	var dVerdict, dByName, dAt, dState sql.NullString
	err := s.Scan(&r.Key, &r.State, &activity, &r.ID, &r.Status, &r.Stage, &r.Reviewable, &r.Final, &r.Gone, &r.Decided,
		&created, &updated, &firstSeen, &r.Country, &r.DocType, &r.HolderName, &r.CustomerRef, &purged,
		&dID, &dVerdict, &dBy, &dByName, &dAt, &dState, &dAttempts)
	if err != nil {
		return nil, fmt.Errorf("scan history row: %w", err)
	}
	r.ActivityAt, r.FirstSeenAt = parseTime(activity), parseTime(firstSeen)
	r.CreatedAt, r.UpdatedAt, r.PurgedAt = nullTime(created), nullTime(updated), nullTime(purged)
	if dID.Valid {
		r.Decision = &HistoryDecision{
			ID: dID.Int64, Verdict: Verdict(dVerdict.String), DecidedBy: dBy.Int64, DecidedByName: dByName.String,
			DecidedAt: parseTime(dAt.String), State: DeliveryState(dState.String), Attempts: int(dAttempts.Int64),
		}
	}
	return &r, nil
}
