package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestAuditExportPlans: the period's id range comes from the at index (no table scan),
// and each batch walks the table by id (or the actor index, in id order) with no sort, so
// a batch costs the same at any depth of the log.
func TestAuditExportPlans(t *testing.T) {
	SQLiteOnly(t, "reads SQLite's query plans")
	db, err := Open(context.Background(), TargetForTest(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ts := formatTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cols := "SELECT id, at, coalesce(actor_id, 0), actor, ip, request_id, action, object_type, object_id, outcome, detail, prev_hash, hash FROM audit_events WHERE "
	for _, tt := range []struct {
		name, query string
		args        []any
		want        string // a step of the plan
	}{
		{"period range", "SELECT min(id), max(id) FROM audit_events WHERE at >= ? AND at < ?", []any{ts, ts}, "USING COVERING INDEX audit_events_at"},
		{"batch", cols + "id >= ? AND id <= ? AND +at >= ? AND +at < ? ORDER BY id LIMIT ?", []any{1, 2, ts, ts, 10}, "USING INTEGER PRIMARY KEY"},
		{"batch of an action", cols + "id >= ? AND id <= ? AND +at >= ? AND action = ? ORDER BY id LIMIT ?", []any{1, 2, ts, "auth.login", 10}, "USING INTEGER PRIMARY KEY"},
		{"batch of an account", cols + "id >= ? AND id <= ? AND actor_id = ? ORDER BY id LIMIT ?", []any{1, 2, 3, 10}, "audit_events_actor"},
	} {
		plan := strings.Join(queryPlan(t, db, tt.query, tt.args...), "\n")
		if !strings.Contains(plan, tt.want) || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("%s: plan\n%s\nwant %q and no sort", tt.name, plan, tt.want)
		}
	}
}
