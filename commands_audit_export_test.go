package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// TestAuditExportCommand: portal audit export writes the same file as the web export to
// stdout or to a new file, records itself, and refuses bad input before writing anything.
func TestAuditExportCommand(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"PORTAL_DATA_DIR": dir}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	out := &syncBuffer{}
	for _, email := range []string{"one@example.com", "two@example.com"} {
		if err := run(ctx, []string{"user", "add", "--email", email, "--role", "agent"}, getenv, out); err != nil {
			t.Fatalf("user add: %v", err)
		}
	}
	// Each account: its creation and its set-password link, by the operator.
	now := time.Now().UTC()
	from, to := now.AddDate(0, 0, -1).Format("2006-01-02"), now.Format("2006-01-02")

	// CSV to stdout: nothing but the file.
	stdout := &syncBuffer{}
	if err := run(ctx, []string{"audit", "export", "--from", from, "--to", to, "--format", "csv"}, getenv, stdout); err != nil {
		t.Fatalf("audit export: %v", err)
	}
	recs, err := csv.NewReader(strings.NewReader(stdout.String())).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v\n%s", err, stdout.String())
	}
	if !slices.Equal(recs[0], store.AuditColumns) || len(recs) != 5 {
		t.Fatalf("CSV: got %d records %q, want the header and 4 rows", len(recs), recs)
	}

	// JSON Lines of one action to a file; the first export is in the log now.
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	stdout = &syncBuffer{}
	if err := run(ctx, []string{"audit", "export", "--from", from, "--to", to, "--format", "jsonl", "--action", "audit.export", "--out", file}, getenv, stdout); err != nil {
		t.Fatalf("audit export --out: %v", err)
	}
	if !strings.Contains(stdout.String(), "exported 1 audit events to "+file) {
		t.Errorf("stdout: %q", stdout.String())
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var row map[string]any
	if err := json.Unmarshal(data, &row); err != nil {
		t.Fatalf("JSONL: %v: %q", err, data)
	}
	if row["action"] != "audit.export" || row["actor"] != "operator (command line)" || !strings.Contains(row["detail"].(string), "format=csv") {
		t.Errorf("the first export's audit row: %v", row)
	}

	// Bad input: a clear message naming the flag, nothing written, no file left.
	tomorrow := now.AddDate(0, 0, 1).Format("2006-01-02")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", tomorrow}, "--from: The period starts in the future"},
		{[]string{"--from", to, "--to", from}, "--to: The period ends before it starts"},
		{[]string{"--actor", "nobody@example.com"}, "--actor: There is no account"},
		{[]string{"--action", "made.up", "--format", "xml"}, "--action: There is no action called that; choose one from the list.\n  --format: Choose CSV or JSON Lines."},
		{[]string{"--out", file}, "exists; choose a new file"},
		{[]string{"2026-01-01"}, "every option is a flag"},
	} {
		stdout := &syncBuffer{}
		bad := filepath.Join(t.TempDir(), "bad.csv")
		args := append([]string{"audit", "export"}, tt.args...)
		if !slices.Contains(tt.args, "--out") {
			args = append(args, "--out", bad)
		}
		err := run(ctx, args, getenv, stdout)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: got %v, want an error containing %q", tt.args, err, tt.want)
		}
		if stdout.String() != "" {
			t.Errorf("%v: wrote %q", tt.args, stdout.String())
		}
		if _, err := os.Stat(bad); err == nil {
			t.Errorf("%v: left a file", tt.args)
		}
	}

	// Two exports recorded, and the chain still verifies.
	db, err := store.Open(ctx, filepath.Join(dir, "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ev, err := db.ListAudit(ctx, store.AuditFilter{Action: string(store.ActionAuditExport)})
	if err != nil || len(ev) != 2 {
		t.Fatalf("export audit rows: %v %v, want 2", ev, err)
	}
	if _, err := db.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
}
