package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ProcessEventKind is what a process_events row records: what happened to a process that
// the audit trail does not record (nobody in the portal did it).
type ProcessEventKind string

// Process events.
const (
	EventNotified ProcessEventKind = "notified" // a webhook notification arrived for it
	EventIndexed  ProcessEventKind = "indexed"  // it entered the portal's index
	EventStatus   ProcessEventKind = "status"   // its status or stage at the gateway changed
	EventGone     ProcessEventKind = "gone"     // the gateway no longer knows it
)

// Label names the event for people.
func (k ProcessEventKind) Label() string {
	switch k {
	case EventNotified:
		return "Notified by Mobbscan"
	case EventIndexed:
		return "Entered the portal"
	case EventStatus:
		return "Status changed at Mobbscan"
	case EventGone:
		return "No longer known to Mobbscan"
	}
	return string(k)
}

// recordProcessEvent appends a process event inside tx, at the transaction's instant.
func (db *DB) recordProcessEvent(ctx context.Context, tx *sql.Tx, processID string, at time.Time, kind ProcessEventKind, status, stage, detail string) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO process_events (process_id, at, kind, status, stage, detail) VALUES (?, ?, ?, ?, ?, ?)",
		processID, formatTime(at), string(kind), clipText(status, 64), clipText(stage, 64), clipText(detail, 200))
	if err != nil {
		return fmt.Errorf("process event %s of %s: %w", kind, processID, err)
	}
	return nil
}

// TimelineSource says which table a timeline event comes from.
type TimelineSource int

// Timeline sources, in the order events of the same instant are shown.
const (
	FromProcessEvents TimelineSource = iota // process_events
	FromAudit                               // the audit trail: the process's rows and its decisions'
	FromNotes                               // notes
)

// TimelineEvent is one entry of a process's timeline.
type TimelineEvent struct {
	At     time.Time
	Source TimelineSource
	ID     int64 // the row's id in its table
	// Action is the audit action (FromAudit), or ActionNoteAdd for a note.
	Action Action
	// Event is the process event (FromProcessEvents); Status and Stage are the gateway's
	// status and stage it reported, Detail the process's source for EventIndexed.
	Event         ProcessEventKind
	Status, Stage string
	ActorID       int64
	ActorName     string // display name; empty for the system and the gateway
	ActorEmail    string // the audit row's actor (an email, "system"), or the note's author's email
	Outcome       string // audit rows: OutcomeSuccess, OutcomeFailure or OutcomeDenied
	Detail        string // the audit row's detail (ids only)
	// Evidence is the kind of an evidence view; OutsideClaim when it was not inside the
	// viewer's own claim.
	Evidence     EvidenceKind
	OutsideClaim bool
	ReasonLabel  string // a rejection's reason, from the catalogue
	Note         *Note  // FromNotes
}

// TimelineCursor is where a page of the timeline ends: the smallest id shown of each
// source. The next (older) page reads below it; zero reads from the newest.
type TimelineCursor struct {
	Audit, DecisionAudit, Events, Notes int64
}

// String encodes the cursor for a URL.
func (c TimelineCursor) String() string {
	return fmt.Sprintf("%d.%d.%d.%d", c.Audit, c.DecisionAudit, c.Events, c.Notes)
}

// ParseTimelineCursor decodes String's form; anything else is the newest page.
func ParseTimelineCursor(s string) TimelineCursor {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return TimelineCursor{}
	}
	var v [4]int64
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 0 {
			return TimelineCursor{}
		}
		v[i] = n
	}
	return TimelineCursor{Audit: v[0], DecisionAudit: v[1], Events: v[2], Notes: v[3]}
}

// below is the exclusive upper bound of ids for a cursor position (0: no bound).
func below(id int64) int64 {
	if id <= 0 {
		return math.MaxInt64
	}
	return id
}

// Timeline is a page of a process's timeline.
type Timeline struct {
	Events []TimelineEvent // oldest first
	// Older is where the earlier events start; nil when the page holds the first event.
	Older *TimelineCursor
}

// The timeline's queries, one per source: each reads one process newest first by id
// through an index that starts with the process (its decisions' audit rows are few).
const (
	timelineAuditColumns = `SELECT a.id, a.at, coalesce(a.actor_id, 0), a.actor, coalesce(u.display_name, ''), a.action,
		a.outcome, a.detail FROM audit_events a LEFT JOIN users u ON u.id = a.actor_id`
	timelineAuditQuery = timelineAuditColumns + `
		WHERE a.object_type = 'process' AND a.object_id = ? AND a.id < ? AND a.action <> ? ORDER BY a.id DESC LIMIT ?`
	timelineDecisionAuditQuery = timelineAuditColumns + `
		WHERE a.object_type = 'decision' AND a.object_id IN (SELECT CAST(d.id AS TEXT) FROM decisions d WHERE d.process_id = ?)
		AND a.id < ? ORDER BY a.id DESC LIMIT ?`
	timelineEventsQuery = `SELECT id, at, kind, status, stage, detail FROM process_events
		WHERE process_id = ? AND id < ? ORDER BY id DESC LIMIT ?`
	timelineNotesQuery = "SELECT " + noteColumns + noteFrom + " WHERE n.process_id = ? AND n.id < ? ORDER BY n.id DESC LIMIT ?"
)

// TimelineMax caps a page of the timeline, so that a huge case cannot blow the page.
const TimelineMax = 500

// Timeline returns the newest limit events of a process older than before, oldest
// first: its audit rows (and those of its decisions), its process events and its notes.
// Each source is read newest first by id through an index that starts with the process
// and stops after limit+1 rows, so a page costs the same however large the tables and
// the case are. Notes appear once, as notes (their audit rows are left out).
func (db *DB) Timeline(ctx context.Context, processID string, before TimelineCursor, limit int) (*Timeline, error) {
	if limit <= 0 || limit > TimelineMax {
		limit = TimelineMax
	}
	var all []TimelineEvent
	reasons := map[int64]string{}
	add := func(evs []TimelineEvent, err error) error {
		all = append(all, evs...)
		return err
	}
	if err := add(db.timelineAudit(ctx, timelineAuditQuery, reasons, processID, below(before.Audit), string(ActionNoteAdd), limit+1)); err != nil {
		return nil, err
	}
	n := len(all)
	if err := add(db.timelineAudit(ctx, timelineDecisionAuditQuery, reasons, processID, below(before.DecisionAudit), limit+1)); err != nil {
		return nil, err
	}
	decisionAudit := map[int64]bool{} // the two audit queries share ids: tell them apart
	for _, e := range all[n:] {
		decisionAudit[e.ID] = true
	}
	if err := add(db.timelineProcessEvents(ctx, processID, below(before.Events), limit+1)); err != nil {
		return nil, err
	}
	if err := add(db.timelineNotes(ctx, processID, below(before.Notes), limit+1)); err != nil {
		return nil, err
	}
	// Newest first, then keep limit: each source is sorted, so these are the newest of all.
	sort.SliceStable(all, func(i, j int) bool { return timelineAfter(all[i], all[j]) })
	t := &Timeline{}
	if len(all) > limit {
		all = all[:limit]
		older := before
		for _, e := range all {
			p := &older.Notes
			switch {
			case e.Source == FromProcessEvents:
				p = &older.Events
			case e.Source == FromAudit && decisionAudit[e.ID]:
				p = &older.DecisionAudit
			case e.Source == FromAudit:
				p = &older.Audit
			}
			if *p == 0 || e.ID < *p {
				*p = e.ID
			}
		}
		t.Older = &older
	}
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	t.Events = all
	return t, nil
}

// timelineAfter orders events: by time, then source, then id.
func timelineAfter(a, b TimelineEvent) bool {
	switch {
	case !a.At.Equal(b.At):
		return a.At.After(b.At)
	case a.Source != b.Source:
		return a.Source > b.Source
	}
	return a.ID > b.ID
}

// timelineAudit reads audit rows for the timeline and reads what their details name:
// the evidence kind of a view, the reason of a rejection (through reasons, a cache).
func (db *DB) timelineAudit(ctx context.Context, q string, reasons map[int64]string, args ...any) ([]TimelineEvent, error) {
	rows, err := db.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	var out []TimelineEvent
	for rows.Next() {
		e := TimelineEvent{Source: FromAudit}
		var at, action string
		if err := rows.Scan(&e.ID, &at, &e.ActorID, &e.ActorEmail, &e.ActorName, &action, &e.Outcome, &e.Detail); err != nil {
			rows.Close()
			return nil, fmt.Errorf("timeline: %w", err)
		}
		e.At, e.Action = parseTime(at), Action(action)
		out = append(out, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	for i := range out {
		e := &out[i]
		switch e.Action {
		case ActionEvidenceView:
			kind, rest, _ := strings.Cut(e.Detail, ";")
			e.Evidence = EvidenceKind(kind)
			if k, ok := EvidenceKindOf(kind); ok {
				e.Evidence = k
			}
			e.OutsideClaim = strings.Contains(rest, "outside")
		case ActionDecisionAccept, ActionDecisionReject:
			id := detailInt(e.Detail, "reason=")
			if id == 0 {
				continue
			}
			label, ok := reasons[id]
			if !ok {
				if err := db.queryRow(ctx, "SELECT label FROM reasons WHERE id = ?", id).Scan(&label); err != nil && !errors.Is(err, sql.ErrNoRows) {
					return nil, fmt.Errorf("timeline: %w", err)
				}
				reasons[id] = label
			}
			e.ReasonLabel = label
		}
	}
	return out, nil
}

// detailInt reads the number after key in an audit detail ("decision=reject; reason=3").
func detailInt(detail, key string) int64 {
	i := strings.Index(detail, key)
	if i < 0 {
		return 0
	}
	s := detail[i+len(key):]
	end := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if end >= 0 {
		s = s[:end]
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func (db *DB) timelineProcessEvents(ctx context.Context, processID string, before int64, limit int) ([]TimelineEvent, error) {
	rows, err := db.query(ctx, timelineEventsQuery, processID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	defer rows.Close()
	var out []TimelineEvent
	for rows.Next() {
		e := TimelineEvent{Source: FromProcessEvents}
		var at, kind string
		if err := rows.Scan(&e.ID, &at, &kind, &e.Status, &e.Stage, &e.Detail); err != nil {
			return nil, fmt.Errorf("timeline: %w", err)
		}
		e.At, e.Event = parseTime(at), ProcessEventKind(kind)
		out = append(out, e)
	}
	return out, rows.Err()
}

func (db *DB) timelineNotes(ctx context.Context, processID string, before int64, limit int) ([]TimelineEvent, error) {
	rows, err := db.query(ctx, timelineNotesQuery, processID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	defer rows.Close()
	var out []TimelineEvent
	for rows.Next() {
		n, err := scanNote(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, TimelineEvent{At: n.At, Source: FromNotes, ID: n.ID, Action: ActionNoteAdd, ActorID: n.AuthorID,
			ActorName: n.AuthorName, ActorEmail: n.AuthorEmail, Outcome: OutcomeSuccess, Note: n})
	}
	return out, rows.Err()
}
