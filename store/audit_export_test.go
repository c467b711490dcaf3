package store_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// auditAt appends one audit event at the instant at.
func auditAt(t *testing.T, db *store.DB, at time.Time, a store.Actor, action store.Action, detail string) {
	t.Helper()
	db.Now = func() time.Time { return at }
	if err := db.Audit(context.Background(), a, action, "test", "", store.OutcomeSuccess, detail); err != nil {
		t.Fatalf("audit: %v", err)
	}
}

// exportIDs runs an export and returns the ids it passed, checking the count it reports.
func exportIDs(t *testing.T, db *store.DB, f store.ExportFilter) []int64 {
	t.Helper()
	var ids []int64
	n, err := db.ExportAudit(context.Background(), f, func(e store.AuditEvent) error {
		ids = append(ids, e.ID)
		return nil
	})
	if err != nil {
		t.Fatalf("export %+v: %v", f, err)
	}
	if n != int64(len(ids)) {
		t.Fatalf("export %+v: reported %d rows, passed %d", f, n, len(ids))
	}
	return ids
}

func day(d int) time.Time { return time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC) }

func TestExportAuditFiltersByPeriodActorAndAction(t *testing.T) {
	db := openDB(t)
	db.Now = func() time.Time { return day(1) }
	alice := newUser(t, db, "alice@example.com", store.RoleAgent) // audit row 1 (user.create)
	bob := newUser(t, db, "bob@example.com", store.RoleAdmin)     // row 2
	aa := store.Actor{UserID: alice.ID, Email: alice.Email}
	ba := store.Actor{UserID: bob.ID, Email: bob.Email}
	// Rows 3..8, one a day from 1 March, alternating actors and actions.
	for i := 0; i < 6; i++ {
		a, act := aa, store.ActionProcessView
		if i%2 == 1 {
			a, act = ba, store.ActionLogin
		}
		auditAt(t, db, day(1+i).Add(12*time.Hour), a, act, fmt.Sprint("event ", i))
	}
	tests := []struct {
		name string
		f    store.ExportFilter
		want []int64
	}{
		{"everything", store.ExportFilter{}, []int64{1, 2, 3, 4, 5, 6, 7, 8}},
		{"period of two days", store.ExportFilter{From: day(2), To: day(4)}, []int64{4, 5}},
		{"from only", store.ExportFilter{From: day(5)}, []int64{7, 8}},
		{"to only, exclusive", store.ExportFilter{To: day(2).Add(12 * time.Hour)}, []int64{1, 2, 3}},
		{"actor", store.ExportFilter{ActorID: bob.ID}, []int64{4, 6, 8}},
		{"action", store.ExportFilter{Action: store.ActionProcessView}, []int64{3, 5, 7}},
		{"period, actor and action", store.ExportFilter{From: day(1), To: day(5), ActorID: alice.ID, Action: store.ActionProcessView}, []int64{3, 5}},
		{"actor and action that never meet", store.ExportFilter{ActorID: alice.ID, Action: store.ActionLogin}, nil},
		{"period with nothing in it", store.ExportFilter{From: day(20), To: day(21)}, nil},
		{"up to a row", store.ExportFilter{UpToID: 5}, []int64{1, 2, 3, 4, 5}},
		{"up to a row, in a period", store.ExportFilter{From: day(2), UpToID: 5}, []int64{4, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exportIDs(t, db, tt.f); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestExportAuditCrossesBatchBoundaries(t *testing.T) {
	db := openDB(t)
	for i := 0; i < 25; i++ {
		act := store.ActionProcessView
		if i%3 == 0 {
			act = store.ActionLogin
		}
		auditAt(t, db, day(1).Add(time.Duration(i)*time.Minute), store.System, act, "")
	}
	var all, logins []int64
	for i := int64(1); i <= 25; i++ {
		all = append(all, i)
		if (i-1)%3 == 0 {
			logins = append(logins, i)
		}
	}
	for _, batch := range []int{1, 5, 7, 25, 26, 1000} {
		if got := exportIDs(t, db, store.ExportFilter{Batch: batch}); !reflect.DeepEqual(got, all) {
			t.Errorf("batch %d: got %v, want %v", batch, got, all)
		}
		if got := exportIDs(t, db, store.ExportFilter{Batch: batch, Action: store.ActionLogin}); !reflect.DeepEqual(got, logins) {
			t.Errorf("batch %d, logins: got %v, want %v", batch, got, logins)
		}
		got := exportIDs(t, db, store.ExportFilter{Batch: batch, From: day(1).Add(4 * time.Minute), To: day(1).Add(17 * time.Minute)})
		if want := all[4:17]; !reflect.DeepEqual(got, want) {
			t.Errorf("batch %d, period: got %v, want %v", batch, got, want)
		}
	}
}

func TestExportAuditEmptyLog(t *testing.T) {
	db := openDB(t)
	if head, err := db.AuditHead(context.Background()); err != nil || head != 0 {
		t.Fatalf("head of an empty log: %d, %v", head, err)
	}
	if got := exportIDs(t, db, store.ExportFilter{}); got != nil {
		t.Fatalf("empty log: got %v", got)
	}
	if got := exportIDs(t, db, store.ExportFilter{From: day(1), To: day(2)}); got != nil {
		t.Fatalf("empty log, period: got %v", got)
	}
}

// A clock that steps back breaks "ids and times grow together": the period still
// selects by time exactly.
func TestExportAuditPeriodSurvivesClockStepBack(t *testing.T) {
	db := openDB(t)
	auditAt(t, db, day(3), store.System, store.ActionLogin, "")                   // 1: in
	auditAt(t, db, day(9), store.System, store.ActionLogin, "")                   // 2: after
	auditAt(t, db, day(2), store.System, store.ActionLogin, "clock stepped back") // 3: in
	auditAt(t, db, day(1), store.System, store.ActionLogin, "")                   // 4: before
	auditAt(t, db, day(4), store.System, store.ActionLogin, "")                   // 5: in
	got := exportIDs(t, db, store.ExportFilter{From: day(2), To: day(5), Batch: 1})
	if want := []int64{1, 3, 5}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestExportAuditStopsOnCallbackError(t *testing.T) {
	db := openDB(t)
	for i := 0; i < 10; i++ {
		auditAt(t, db, day(1).Add(time.Duration(i)*time.Second), store.System, store.ActionLogin, "")
	}
	stop := errors.New("client went away")
	n, err := db.ExportAudit(context.Background(), store.ExportFilter{Batch: 3}, func(e store.AuditEvent) error {
		if e.ID == 5 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 4 {
		t.Fatalf("got %d, %v; want 4 rows and the callback's error", n, err)
	}
}

func TestAuditWritersWriteEveryColumnExactly(t *testing.T) {
	at := time.Date(2026, 3, 1, 8, 0, 0, 123, time.UTC)
	e := store.AuditEvent{ID: 7, At: at, ActorID: 3, Actor: "a@example.com", IP: "10.0.0.1", RequestID: "r1",
		Action: "auth.login", ObjectType: "user", ObjectID: "3", Outcome: "success",
		Detail: "=1+1, \"quoted\"\nsecond line <b>&", PrevHash: strings.Repeat("a", 64), Hash: strings.Repeat("b", 64)}
	want := []string{"7", "2026-03-01T08:00:00.000000123Z", "3", "a@example.com", "10.0.0.1", "r1", "auth.login", "user", "3",
		"success", "=1+1, \"quoted\"\nsecond line <b>&", strings.Repeat("a", 64), strings.Repeat("b", 64)}

	var buf bytes.Buffer
	w, err := store.NewAuditWriter(&buf, store.AuditCSV)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(e); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("read CSV: %v", err)
	}
	if len(recs) != 2 || !reflect.DeepEqual(recs[0], store.AuditColumns) || !reflect.DeepEqual(recs[1], want) {
		t.Fatalf("CSV: got %q, want header %q and %q", recs, store.AuditColumns, want)
	}

	buf.Reset()
	if w, err = store.NewAuditWriter(&buf, store.AuditJSONL); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(e); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("JSONL: got %d lines, want 1: %q", len(lines), buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatalf("JSONL: %v", err)
	}
	if len(m) != len(store.AuditColumns) {
		t.Fatalf("JSONL keys: got %v, want %v", m, store.AuditColumns)
	}
	for i, col := range store.AuditColumns {
		if got := fmt.Sprint(m[col]); got != want[i] {
			t.Errorf("JSONL %s: got %q, want %q", col, got, want[i])
		}
	}
	if _, err := store.NewAuditWriter(&buf, "xml"); err == nil {
		t.Error("unknown format accepted")
	}
}
