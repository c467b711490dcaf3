package review_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

var exportNow = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// openExportDB is a database at exportNow with one agent (id 1) and one admin (id 2).
func openExportDB(t *testing.T) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.Now = func() time.Time { return exportNow }
	for _, u := range []*store.User{
		{Email: "agent@example.com", DisplayName: "Agent", Role: store.RoleAgent, Active: true, PasswordHash: "x"},
		{Email: "admin@example.com", DisplayName: "Admin", Role: store.RoleAdmin, Active: true, PasswordHash: "x"},
	} {
		if err := db.CreateUser(ctx, store.System, u); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func TestMayExportAudit(t *testing.T) {
	for _, tt := range []struct {
		a    store.Actor
		want string
	}{
		{ruleAdmin, "ok"}, {ruleAgent, "forbidden"}, {store.System, "forbidden"}, {store.Actor{}, "forbidden"},
	} {
		if got := codeOf(review.MayExportAudit(tt.a)); got != tt.want {
			t.Errorf("%+v: got %s, want %s", tt.a, got, tt.want)
		}
	}
}

func TestCheckAuditExport(t *testing.T) {
	db := openExportDB(t)
	ctx := context.Background()
	d := func(s string) time.Time { t, _ := time.Parse(time.RFC3339Nano, s); return t }
	tests := []struct {
		name      string
		in        review.AuditExportInput
		errs      map[string]string // field → part of its message
		from, to  time.Time
		file      string
		actorID   int64
		action    store.Action
		formatOut store.AuditFormat
	}{
		{name: "whole days, inclusive", in: review.AuditExportInput{From: "2026-01-01", To: "2026-01-31"},
			from: d("2026-01-01T00:00:00Z"), to: d("2026-02-01T00:00:00Z"), file: "audit-2026-01-01-2026-01-31.csv", formatOut: store.AuditCSV},
		{name: "instants, the end included", in: review.AuditExportInput{From: "2026-03-01T08:00:00+01:00", To: "2026-03-01T18:00:00Z", Format: "jsonl"},
			from: d("2026-03-01T07:00:00Z"), to: d("2026-03-01T18:00:00.000000001Z"), file: "audit-2026-03-01-2026-03-01.jsonl", formatOut: store.AuditJSONL},
		{name: "no period: everything up to now", in: review.AuditExportInput{},
			to: exportNow.Add(time.Nanosecond), file: "audit-start-2026-03-14.csv", formatOut: store.AuditCSV},
		{name: "today is allowed and ends now", in: review.AuditExportInput{From: "2026-03-14", To: "2026-03-14"},
			from: d("2026-03-14T00:00:00Z"), to: exportNow.Add(time.Nanosecond), file: "audit-2026-03-14-2026-03-14.csv", formatOut: store.AuditCSV},
		{name: "an end in the future ends now", in: review.AuditExportInput{From: "2026-03-01", To: "2099-12-31"},
			from: d("2026-03-01T00:00:00Z"), to: exportNow.Add(time.Nanosecond), file: "audit-2026-03-01-2026-03-14.csv", formatOut: store.AuditCSV},
		{name: "a huge period is allowed (streamed)", in: review.AuditExportInput{From: "0001-01-01", To: "9999-12-31"},
			from: d("0001-01-01T00:00:00Z"), to: exportNow.Add(time.Nanosecond), file: "audit-0001-01-01-2026-03-14.csv", formatOut: store.AuditCSV},
		{name: "actor by email, any case; action", in: review.AuditExportInput{Actor: " Agent@Example.com ", Action: "auth.login", Format: "CSV"},
			to: exportNow.Add(time.Nanosecond), file: "audit-start-2026-03-14.csv", actorID: 1, action: store.ActionLogin, formatOut: store.AuditCSV},
		{name: "actor by id", in: review.AuditExportInput{Actor: "2"},
			to: exportNow.Add(time.Nanosecond), file: "audit-start-2026-03-14.csv", actorID: 2, formatOut: store.AuditCSV},

		{name: "start in the future", in: review.AuditExportInput{From: "2026-03-15"}, errs: map[string]string{"from": "starts in the future"}},
		{name: "reversed", in: review.AuditExportInput{From: "2026-03-10", To: "2026-03-01"}, errs: map[string]string{"to": "ends before it starts"}},
		{name: "bad dates", in: review.AuditExportInput{From: "31/01/2026", To: "2026-02-30"},
			errs: map[string]string{"from": "Write the start as a day", "to": "Write the end as a day"}},
		{name: "unknown actor and action, bad format", in: review.AuditExportInput{Actor: "nobody@example.com", Action: "drop.table", Format: "xlsx"},
			errs: map[string]string{"actor": "There is no account", "action": "no action called", "format": "CSV or JSON Lines"}},
		{name: "unknown actor id", in: review.AuditExportInput{Actor: "999"}, errs: map[string]string{"actor": "There is no account"}},
		{name: "actor too long", in: review.AuditExportInput{Actor: strings.Repeat("a", 255)}, errs: map[string]string{"actor": "too long"}},
		{name: "actor with a control character", in: review.AuditExportInput{Actor: "a\u202eb"}, errs: map[string]string{"actor": "direction-control"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, err := review.CheckAuditExport(ctx, db, tt.in, exportNow)
			if tt.errs != nil {
				e := review.ErrorOf(err)
				if e == nil || e.Code != review.CodeInvalid {
					t.Fatalf("got %v, want an invalid error", err)
				}
				if len(e.Fields) != len(tt.errs) {
					t.Fatalf("fields: got %v, want %v", e.Fields, tt.errs)
				}
				for f, part := range tt.errs {
					if !strings.Contains(e.Fields[f], part) {
						t.Errorf("field %s: got %q, want it to contain %q", f, e.Fields[f], part)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !x.Filter.From.Equal(tt.from) || !x.Filter.To.Equal(tt.to) {
				t.Errorf("period: got %v – %v, want %v – %v", x.Filter.From, x.Filter.To, tt.from, tt.to)
			}
			if x.FileName() != tt.file {
				t.Errorf("file name: got %q, want %q", x.FileName(), tt.file)
			}
			if x.Filter.ActorID != tt.actorID || x.Filter.Action != tt.action || x.Format != tt.formatOut {
				t.Errorf("got actor %d action %q format %q, want %d %q %q", x.Filter.ActorID, x.Filter.Action, x.Format, tt.actorID, tt.action, tt.formatOut)
			}
		})
	}
}

// lastAudit is the newest audit row.
func lastAudit(t *testing.T, db *store.DB) store.AuditEvent {
	t.Helper()
	ev, err := db.ListAudit(context.Background(), store.AuditFilter{Limit: 1})
	if err != nil || len(ev) != 1 {
		t.Fatalf("last audit: %v %v", ev, err)
	}
	return ev[0]
}

func TestExportAuditIsRecordedBeforeAnythingIsWritten(t *testing.T) {
	db := openExportDB(t)
	ctx := context.Background()
	admin := store.Actor{UserID: 2, Role: store.RoleAdmin, Email: "admin@example.com", IP: "192.0.2.1", RequestID: "r-9"}
	var buf bytes.Buffer
	var name string
	n, err := review.ExportAudit(ctx, db, admin, review.AuditExportInput{Actor: "admin@example.com", Format: "csv"},
		func(x review.AuditExport) (io.Writer, error) {
			name = x.FileName()
			e := lastAudit(t, db)
			if e.Action != string(store.ActionAuditExport) || e.ActorID != 2 || e.Outcome != store.OutcomeSuccess {
				t.Errorf("when the download opens, the last audit row is %+v; want the export", e)
			}
			if want := "format=csv to=2026-03-14T09:26:53.000000001Z actor=2 admin@example.com"; e.Detail != want {
				t.Errorf("detail: got %q, want %q", e.Detail, want)
			}
			return &buf, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if name != "audit-start-2026-03-14.csv" {
		t.Errorf("file name %q", name)
	}
	// Account 2 has done nothing before (the system created it) and the export's own
	// row, though at the same instant, is not in it: an empty result, the header only.
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 || len(recs) != 1 || !reflect.DeepEqual(recs[0], store.AuditColumns) {
		t.Fatalf("got %d rows: %q; want only the header", n, recs)
	}

	// Without the actor filter: the two account creations and the first export (the
	// clock has not moved: "now" is included).
	buf.Reset()
	n, err = review.ExportAudit(ctx, db, admin, review.AuditExportInput{}, func(review.AuditExport) (io.Writer, error) { return &buf, nil })
	if err != nil || n != 3 {
		t.Fatalf("got %d rows, %v; want 3", n, err)
	}
}

func TestExportAuditRefusesAgentsAndBadInput(t *testing.T) {
	db := openExportDB(t)
	ctx := context.Background()
	opened := false
	open := func(review.AuditExport) (io.Writer, error) { opened = true; return io.Discard, nil }

	agent := store.Actor{UserID: 1, Role: store.RoleAgent, Email: "agent@example.com"}
	_, err := review.ExportAudit(ctx, db, agent, review.AuditExportInput{}, open)
	if got := codeOf(err); got != "forbidden" {
		t.Fatalf("agent: got %s, want forbidden", got)
	}
	if e := lastAudit(t, db); e.Action != string(store.ActionAuditExport) || e.Outcome != store.OutcomeDenied || e.ActorID != 1 {
		t.Errorf("agent's attempt: last audit row %+v, want a denied export", e)
	}

	admin := store.Actor{UserID: 2, Role: store.RoleAdmin, Email: "admin@example.com"}
	before := lastAudit(t, db).ID
	_, err = review.ExportAudit(ctx, db, admin, review.AuditExportInput{From: "2027-01-01"}, open)
	if got := codeOf(err); got != "invalid" {
		t.Fatalf("future period: got %s, want invalid", got)
	}
	if opened {
		t.Error("a refused export opened the download")
	}
	if after := lastAudit(t, db).ID; after != before {
		t.Errorf("a refused input was recorded as an export (row %d)", after)
	}
}
