package store

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// AuditFormat is the file format of an audit export.
type AuditFormat string

// Audit export formats.
const (
	AuditCSV   AuditFormat = "csv"
	AuditJSONL AuditFormat = "jsonl"
)

// AuditFormats lists the export formats, in the order forms offer them.
var AuditFormats = []AuditFormat{AuditCSV, AuditJSONL}

// Label names the format for people.
func (f AuditFormat) Label() string {
	if f == AuditJSONL {
		return "JSON Lines"
	}
	return "CSV"
}

// ContentType is the media type of an export in this format.
func (f AuditFormat) ContentType() string {
	if f == AuditJSONL {
		return "application/jsonl; charset=utf-8"
	}
	return "text/csv; charset=utf-8"
}

// Extension is the file name extension of the format, without the dot.
func (f AuditFormat) Extension() string { return string(f) }

// Valid reports a known format.
func (f AuditFormat) Valid() bool { return f == AuditCSV || f == AuditJSONL }

// AuditColumns are the exported fields, in order: the CSV header and the JSON keys.
var AuditColumns = []string{
	"id", "at", "actor_id", "actor", "ip", "request_id", "action", "object_type", "object_id",
	"outcome", "detail", "prev_hash", "hash",
}

// ExportFilter selects the audit rows of an export; zero fields match everything.
type ExportFilter struct {
	From    time.Time // rows with at >= From; zero: from the first row
	To      time.Time // rows with at < To; zero: up to the last row when the export starts
	ActorID int64     // rows of this account
	Action  Action
	UpToID  int64 // rows with id <= UpToID (the log's head when the export was asked for); 0: no bound
	Batch   int   // rows read per query; 0 is exportBatch
}

// exportBatch is how many rows one read of an export fetches: large enough that the
// per-query cost vanishes, small enough that memory stays flat.
const exportBatch = 1000

// ExportAudit calls fn for every audit row f selects, oldest first, and returns how many
// it passed. It never holds a read open while fn runs: it reads a batch by primary key
// (keyset on id), closes the read, then hands the batch over, so a slow client cannot pin
// the WAL and memory does not grow with the export. The rows are those that exist when
// it starts (the id range is fixed first; f.UpToID can fix it earlier); rows appended
// meanwhile are left out.
func (db *DB) ExportAudit(ctx context.Context, f ExportFilter, fn func(AuditEvent) error) (int64, error) {
	lo, hi, err := db.exportRange(ctx, f)
	if err != nil || hi < lo {
		return 0, err
	}
	if f.Batch <= 0 {
		f.Batch = exportBatch
	}
	// at || '' (a no-op on text) keeps the planner from using the at index for the row
	// filter: the walk is by id (or by the actor index, whose entries are in id order too).
	where := []string{"id >= ?", "id <= ?"}
	args := []any{0, hi}
	if !f.From.IsZero() {
		where, args = append(where, "at || '' >= ?"), append(args, formatTime(f.From))
	}
	if !f.To.IsZero() {
		where, args = append(where, "at || '' < ?"), append(args, formatTime(f.To))
	}
	if f.ActorID != 0 {
		where, args = append(where, "actor_id = ?"), append(args, f.ActorID)
	}
	if f.Action != "" {
		where, args = append(where, "action = ?"), append(args, string(f.Action))
	}
	q := "SELECT id, at, coalesce(actor_id, 0), actor, ip, request_id, action, object_type, object_id, outcome, detail, prev_hash, hash FROM audit_events WHERE " +
		strings.Join(where, " AND ") + " ORDER BY id LIMIT ?"
	args = append(args, f.Batch)
	batch := make([]AuditEvent, 0, f.Batch)
	var n int64
	for next := lo; next <= hi; {
		args[0] = next
		batch, err = db.readAuditBatch(ctx, q, args, batch[:0])
		if err != nil {
			return n, err
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return n, err
			}
			n++
		}
		if len(batch) < f.Batch {
			break
		}
		next = batch[len(batch)-1].ID + 1
	}
	return n, nil
}

// exportRange is the id range that holds every row of f's period: the whole log when
// there is no period, else the smallest and largest id whose time is in it (read from
// the at index, so it is exact even if the clock once stepped back). hi < lo: no rows.
func (db *DB) exportRange(ctx context.Context, f ExportFilter) (lo, hi int64, err error) {
	var min, max sql.NullInt64
	switch {
	case f.From.IsZero() && f.To.IsZero():
		err = db.queryRow(ctx, "SELECT min(id), max(id) FROM audit_events").Scan(&min, &max)
	case f.To.IsZero():
		err = db.queryRow(ctx, "SELECT min(id), max(id) FROM audit_events WHERE at >= ?", formatTime(f.From)).Scan(&min, &max)
	case f.From.IsZero():
		err = db.queryRow(ctx, "SELECT min(id), max(id) FROM audit_events WHERE at < ?", formatTime(f.To)).Scan(&min, &max)
	default:
		err = db.queryRow(ctx, "SELECT min(id), max(id) FROM audit_events WHERE at >= ? AND at < ?",
			formatTime(f.From), formatTime(f.To)).Scan(&min, &max)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("export audit: period: %w", err)
	}
	if !min.Valid {
		return 1, 0, nil
	}
	if f.UpToID > 0 && f.UpToID < max.Int64 {
		max.Int64 = f.UpToID
	}
	return min.Int64, max.Int64, nil
}

// AuditHead is the id of the newest audit row, 0 when there is none.
func (db *DB) AuditHead(ctx context.Context) (int64, error) {
	var id int64
	if err := db.queryRow(ctx, "SELECT coalesce(max(id), 0) FROM audit_events").Scan(&id); err != nil {
		return 0, fmt.Errorf("audit head: %w", err)
	}
	return id, nil
}

// readAuditBatch runs one keyset read and appends its rows to into.
func (db *DB) readAuditBatch(ctx context.Context, q string, args []any, into []AuditEvent) ([]AuditEvent, error) {
	rows, err := db.query(ctx, q, args...)
	if err != nil {
		return into, fmt.Errorf("export audit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return into, err
		}
		into = append(into, e)
	}
	if err := rows.Err(); err != nil {
		return into, fmt.Errorf("export audit: %w", err)
	}
	return into, nil
}

// AuditWriter writes audit rows in an export format. Values are written exactly as
// stored (times in the stored fixed-width UTC form), because the chain hashes are
// computed over those bytes: an auditor recomputes them from the file alone.
type AuditWriter interface {
	Write(AuditEvent) error
	// Flush writes out what is buffered; call it once at the end.
	Flush() error
}

// NewAuditWriter returns a writer of format f on w; the CSV one writes its header row
// first.
func NewAuditWriter(w io.Writer, f AuditFormat) (AuditWriter, error) {
	bw := bufio.NewWriterSize(w, 32<<10)
	switch f {
	case AuditCSV:
		cw := csv.NewWriter(bw)
		if err := cw.Write(AuditColumns); err != nil {
			return nil, fmt.Errorf("export audit: %w", err)
		}
		return &csvAuditWriter{w: cw, bw: bw, rec: make([]string, len(AuditColumns))}, nil
	case AuditJSONL:
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		return &jsonlAuditWriter{enc: enc, bw: bw}, nil
	}
	return nil, fmt.Errorf("export audit: unknown format %q", f)
}

type csvAuditWriter struct {
	w   *csv.Writer
	bw  *bufio.Writer
	rec []string
}

func (c *csvAuditWriter) Write(e AuditEvent) error {
	c.rec[0], c.rec[1], c.rec[2] = strconv.FormatInt(e.ID, 10), formatTime(e.At), strconv.FormatInt(e.ActorID, 10)
	c.rec[3], c.rec[4], c.rec[5], c.rec[6] = e.Actor, e.IP, e.RequestID, e.Action
	c.rec[7], c.rec[8], c.rec[9], c.rec[10] = e.ObjectType, e.ObjectID, e.Outcome, e.Detail
	c.rec[11], c.rec[12] = e.PrevHash, e.Hash
	return c.w.Write(c.rec)
}

func (c *csvAuditWriter) Flush() error {
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return err
	}
	return c.bw.Flush()
}

// auditLine is one JSON Lines record; the keys are AuditColumns.
type auditLine struct {
	ID         int64  `json:"id"`
	At         string `json:"at"`
	ActorID    int64  `json:"actor_id"`
	Actor      string `json:"actor"`
	IP         string `json:"ip"`
	RequestID  string `json:"request_id"`
	Action     string `json:"action"`
	ObjectType string `json:"object_type"`
	ObjectID   string `json:"object_id"`
	Outcome    string `json:"outcome"`
	Detail     string `json:"detail"`
	PrevHash   string `json:"prev_hash"`
	Hash       string `json:"hash"`
}

type jsonlAuditWriter struct {
	enc *json.Encoder
	bw  *bufio.Writer
}

func (j *jsonlAuditWriter) Write(e AuditEvent) error {
	return j.enc.Encode(auditLine{
		ID: e.ID, At: formatTime(e.At), ActorID: e.ActorID, Actor: e.Actor, IP: e.IP, RequestID: e.RequestID,
		Action: e.Action, ObjectType: e.ObjectType, ObjectID: e.ObjectID, Outcome: e.Outcome, Detail: e.Detail,
		PrevHash: e.PrevHash, Hash: e.Hash,
	})
}

func (j *jsonlAuditWriter) Flush() error { return j.bw.Flush() }
