package store_test

// An auditor's check of an exported audit log, written from the recipe in the README
// ("Audit export" → "Verifying the chain") and nothing else: it never calls the store's
// hash function, only reads the exported file.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// hashedFields are the columns the hash covers, in order (after prev_hash).
var hashedFields = []string{"id", "at", "actor_id", "actor", "ip", "request_id", "action", "object_type", "object_id", "outcome", "detail"}

// recomputeHash follows the README's recipe: SHA-256 over prev_hash and the hashed
// fields, each written as "<length in bytes>:<value>;", lower-case hex.
func recomputeHash(row map[string]string) string {
	h := sha256.New()
	for _, f := range append([]string{row["prev_hash"]}, fieldValues(row)...) {
		io.WriteString(h, strconv.Itoa(len(f))+":"+f+";")
	}
	return hex.EncodeToString(h.Sum(nil))
}

func fieldValues(row map[string]string) []string {
	out := make([]string, len(hashedFields))
	for i, k := range hashedFields {
		out[i] = row[k]
	}
	return out
}

// verifyRows checks every row's hash and, where ids follow each other, the link to the
// row before; row 1 links to 64 zeros. It returns the first problem, or "".
func verifyRows(rows []map[string]string) string {
	var prevID int64
	var prevHash string
	for _, r := range rows {
		id, err := strconv.ParseInt(r["id"], 10, 64)
		if err != nil {
			return "bad id " + r["id"]
		}
		if got := recomputeHash(r); got != r["hash"] {
			return fmt.Sprintf("row %d: content does not match its hash", id)
		}
		switch {
		case id == 1 && r["prev_hash"] != strings.Repeat("0", 64):
			return "row 1 does not start the chain"
		case prevID != 0 && id == prevID+1 && r["prev_hash"] != prevHash:
			return fmt.Sprintf("row %d: does not link to row %d", id, prevID)
		case prevID != 0 && id <= prevID:
			return fmt.Sprintf("row %d: out of order", id)
		}
		prevID, prevHash = id, r["hash"]
	}
	return ""
}

// verifyFullChain also demands that no row is missing between the first and the last.
func verifyFullChain(rows []map[string]string) string {
	if p := verifyRows(rows); p != "" {
		return p
	}
	for i := 1; i < len(rows); i++ {
		a, _ := strconv.ParseInt(rows[i-1]["id"], 10, 64)
		b, _ := strconv.ParseInt(rows[i]["id"], 10, 64)
		if b != a+1 {
			return fmt.Sprintf("rows %d to %d are missing", a+1, b-1)
		}
	}
	return ""
}

func readCSVExport(t *testing.T, data []byte) []map[string]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("read CSV: %v", err)
	}
	header := recs[0]
	var rows []map[string]string
	for _, rec := range recs[1:] {
		row := map[string]string{}
		for i, k := range header {
			row[k] = rec[i]
		}
		rows = append(rows, row)
	}
	return rows
}

func readJSONLExport(t *testing.T, data []byte) []map[string]string {
	t.Helper()
	var rows []map[string]string
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("read JSONL line %q: %v", line, err)
		}
		row := map[string]string{}
		for k, v := range m {
			row[k] = fmt.Sprint(v) // json.Number prints its digits as written
		}
		rows = append(rows, row)
	}
	return rows
}

// exportFile exports the whole log of db in format f.
func exportFile(t *testing.T, db *store.DB, f store.AuditFormat, filter store.ExportFilter) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := store.NewAuditWriter(&buf, f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExportAudit(context.Background(), filter, w.Write); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// seedAwkwardAudit writes rows whose values are hard to carry through a file: commas,
// quotes, line breaks, formula-looking text, non-ASCII, empty fields, the system actor.
func seedAwkwardAudit(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	u := newUser(t, db, "zoë@example.com", store.RoleAdmin)
	a := store.Actor{UserID: u.ID, Email: u.Email, IP: "2001:db8::1", RequestID: "req-1"}
	for i, d := range []string{
		"plain", "comma, and \"quotes\"", "line\nbreak", "=HYPERLINK(\"http://x\")", "Núñez Gómez ⚖", "", "trailing space ",
		"<script>&amp;</script>",
	} {
		act := a
		if i%3 == 0 {
			act = store.System
		}
		db.Now = func() time.Time { return time.Date(2026, 3, 1, 0, 0, i, 999, time.UTC) }
		if err := db.Audit(ctx, act, store.ActionSettingChange, "setting", strconv.Itoa(i), store.OutcomeSuccess, d); err != nil {
			t.Fatal(err)
		}
	}
}

func TestExportedChainVerifiesIndependently(t *testing.T) {
	db := openDB(t)
	seedAwkwardAudit(t, db)
	for _, tc := range []struct {
		format store.AuditFormat
		read   func(*testing.T, []byte) []map[string]string
	}{
		{store.AuditCSV, readCSVExport},
		{store.AuditJSONL, readJSONLExport},
	} {
		t.Run(string(tc.format), func(t *testing.T) {
			rows := tc.read(t, exportFile(t, db, tc.format, store.ExportFilter{}))
			if len(rows) != 9 {
				t.Fatalf("got %d rows, want 9", len(rows))
			}
			if p := verifyFullChain(rows); p != "" {
				t.Fatalf("untouched export does not verify: %s", p)
			}
			// A filtered export: each row still proves its own content.
			part := tc.read(t, exportFile(t, db, tc.format, store.ExportFilter{Action: store.ActionSettingChange}))
			if len(part) != 8 {
				t.Fatalf("filtered: got %d rows, want 8", len(part))
			}
			if p := verifyRows(part); p != "" {
				t.Fatalf("filtered export does not verify: %s", p)
			}

			tampered := []struct {
				name string
				edit func(rows []map[string]string) []map[string]string
				want string
			}{
				{"detail changed", func(r []map[string]string) []map[string]string { r[4]["detail"] = "line break"; return r }, "row 5: content does not match its hash"},
				{"time changed", func(r []map[string]string) []map[string]string {
					r[2]["at"] = strings.Replace(r[2]["at"], "2026-03-01", "2026-03-02", 1)
					return r
				}, "row 3: content does not match its hash"},
				{"actor changed", func(r []map[string]string) []map[string]string { r[8]["actor_id"] = "0"; return r }, "row 9: content does not match its hash"},
				{"row removed", func(r []map[string]string) []map[string]string { return append(r[:3:3], r[4:]...) }, "rows 4 to 4 are missing"},
				{"row rehashed after a change", func(r []map[string]string) []map[string]string {
					r[6]["detail"] = "forged"
					r[6]["hash"] = recomputeHash(r[6])
					return r
				}, "row 8: does not link to row 7"},
			}
			for _, tt := range tampered {
				rows := tc.read(t, exportFile(t, db, tc.format, store.ExportFilter{}))
				if got := verifyFullChain(tt.edit(rows)); got != tt.want {
					t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
				}
			}
		})
	}
}
