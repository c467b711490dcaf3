package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Actor is who does something and from where: it goes into every audit row.
type Actor struct {
	UserID    int64  // 0 for the system or an anonymous caller
	Role      string // RoleAgent or RoleAdmin; empty for the system or an anonymous caller
	Email     string
	IP        string
	RequestID string
}

// System is the actor for work the portal does on its own.
var System = Actor{Email: "system"}

// Outcomes of an audited action.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeDenied  = "denied"
)

// AuditEvent is one row of the append-only, hash-chained audit trail.
type AuditEvent struct {
	ID         int64
	At         time.Time
	ActorID    int64
	Actor      string
	IP         string
	RequestID  string
	Action     string
	ObjectType string
	ObjectID   string
	Outcome    string
	Detail     string
	PrevHash   string
	Hash       string
}

// genesisHash is the prev_hash of the first audit row.
const genesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// hashEvent computes the chained hash of e from its fields and e.PrevHash.
func hashEvent(e AuditEvent) string {
	h := sha256.New()
	for _, f := range []string{
		e.PrevHash, strconv.FormatInt(e.ID, 10), formatTime(e.At), strconv.FormatInt(e.ActorID, 10),
		e.Actor, e.IP, e.RequestID, e.Action, e.ObjectType, e.ObjectID, e.Outcome, e.Detail,
	} {
		// Length-prefix each field so that no two field lists hash alike.
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// appendAudit writes an audit row inside tx, chained to the previous one. Immediate
// transactions serialise writers, so the chain cannot fork.
func (db *DB) appendAudit(ctx context.Context, tx *sql.Tx, a Actor, action Action, objectType, objectID, outcome, detail string) error {
	e := AuditEvent{
		At: db.now(), ActorID: a.UserID, Actor: SafeAuditText(a.Email, maxAuditActor, false), IP: SafeAuditText(a.IP, maxAuditShort, false),
		RequestID: SafeAuditText(a.RequestID, maxAuditShort, false), Action: string(action), ObjectType: objectType,
		ObjectID: SafeAuditText(objectID, maxAuditShort, false), Outcome: outcome, Detail: SafeAuditText(detail, maxAuditDetail, true),
	}
	var lastID sql.NullInt64
	var lastHash sql.NullString
	err := tx.QueryRowContext(ctx, "SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1").Scan(&lastID, &lastHash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		e.ID, e.PrevHash = 1, genesisHash
	case err != nil:
		return fmt.Errorf("audit: read chain head: %w", err)
	default:
		e.ID, e.PrevHash = lastID.Int64+1, lastHash.String
	}
	e.Hash = hashEvent(e)
	var actorID any
	if e.ActorID != 0 {
		actorID = e.ActorID
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO audit_events
		(id, at, actor_id, actor, ip, request_id, action, object_type, object_id, outcome, detail, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, formatTime(e.At), actorID, e.Actor, e.IP, e.RequestID, e.Action, e.ObjectType, e.ObjectID,
		e.Outcome, e.Detail, e.PrevHash, e.Hash)
	if err != nil {
		return fmt.Errorf("audit: append %s: %w", action, err)
	}
	db.observe.collect(tx, e) // told to the metrics once tx commits (observe.go)
	return nil
}

// Audit records an event that changes nothing else (a failed sign-in, a denial, a view).
func (db *DB) Audit(ctx context.Context, a Actor, action Action, objectType, objectID, outcome, detail string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		return db.appendAudit(ctx, tx, a, action, objectType, objectID, outcome, detail)
	})
}

// AuditFilter selects audit rows; zero fields match everything.
type AuditFilter struct {
	ActorID    int64
	ObjectType string
	ObjectID   string
	Action     string
	BeforeID   int64 // keyset pagination: rows with id < BeforeID
	Limit      int
}

// ListAudit returns audit rows newest first.
func (db *DB) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	var where []string
	var args []any
	if f.ActorID != 0 {
		where, args = append(where, "actor_id = ?"), append(args, f.ActorID)
	}
	if f.ObjectType != "" {
		where, args = append(where, "object_type = ?"), append(args, f.ObjectType)
	}
	if f.ObjectID != "" {
		where, args = append(where, "object_id = ?"), append(args, f.ObjectID)
	}
	if f.Action != "" {
		where, args = append(where, "action = ?"), append(args, f.Action)
	}
	if f.BeforeID > 0 {
		where, args = append(where, "id < ?"), append(args, f.BeforeID)
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	q := "SELECT id, at, coalesce(actor_id, 0), actor, ip, request_id, action, object_type, object_id, outcome, detail, prev_hash, hash FROM audit_events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, f.Limit)
	rows, err := db.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	var out []AuditEvent
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func scanAudit(rows *sql.Rows) (AuditEvent, error) {
	var e AuditEvent
	var at string
	if err := rows.Scan(&e.ID, &at, &e.ActorID, &e.Actor, &e.IP, &e.RequestID, &e.Action, &e.ObjectType,
		&e.ObjectID, &e.Outcome, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
		return e, fmt.Errorf("scan audit: %w", err)
	}
	e.At = parseTime(at)
	return e, nil
}

// ChainError says where the audit chain first breaks.
type ChainError struct {
	ID     int64
	Reason string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("audit chain broken at event %d: %s", e.ID, e.Reason)
}

// VerifyAudit walks the whole audit chain and returns the number of events checked,
// or a *ChainError naming the first broken link.
func (db *DB) VerifyAudit(ctx context.Context) (int, error) {
	rows, err := db.query(ctx, "SELECT id, at, coalesce(actor_id, 0), actor, ip, request_id, action, object_type, object_id, outcome, detail, prev_hash, hash FROM audit_events ORDER BY id")
	if err != nil {
		return 0, fmt.Errorf("verify audit: %w", err)
	}
	defer rows.Close()
	prev, want, n := genesisHash, int64(1), 0
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return n, err
		}
		switch {
		case e.ID != want:
			return n, &ChainError{ID: want, Reason: fmt.Sprintf("event missing (next present is %d)", e.ID)}
		case e.PrevHash != prev:
			return n, &ChainError{ID: e.ID, Reason: "previous-hash link does not match"}
		case hashEvent(e) != e.Hash:
			return n, &ChainError{ID: e.ID, Reason: "content does not match its hash"}
		}
		prev, want, n = e.Hash, want+1, n+1
	}
	return n, rows.Err()
}

// Hardening (issue 9, C5): untrusted text in the audit.

// Longest audit fields, in characters, after SafeAuditText.
const (
	maxAuditActor  = 254  // an email
	maxAuditShort  = 200  // an IP, a request id, an object id
	maxAuditDetail = 4000 // a detail
)

// SafeAuditText is the one rendering of untrusted text that becomes an audit actor, IP,
// object id or detail (quality bar C5): invalid UTF-8 bytes become \xNN and every
// control character (Cc; '\n' kept only when multiLine), format character (Cf: the
// bidirectional overrides and isolates, zero-width characters, U+FEFF, ...), and line or
// paragraph separator becomes \uXXXX, so a typed "victim@example.com\u202e | ..." or a
// newline can never forge or reorder an audit line; then the text is clipped to max
// characters (an ellipsis marks the cut). appendAudit applies it to every row.
func SafeAuditText(s string, max int, multiLine bool) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || auditEscaped(r, multiLine) {
			clean = false
			break
		}
	}
	if clean && utf8.RuneCountInString(s) <= max {
		return s
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(s) && n < max; {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case auditEscaped(r, multiLine) && r > 0xFFFF:
			fmt.Fprintf(&b, "\\U%08x", r)
		case auditEscaped(r, multiLine):
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
		i += size
		n++
		if n == max && i < len(s) {
			b.WriteString("…")
		}
	}
	return b.String()
}

// auditEscaped reports whether SafeAuditText escapes r.
func auditEscaped(r rune, multiLine bool) bool {
	if r == '\n' && multiLine {
		return false
	}
	return unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
}
