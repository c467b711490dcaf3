package store

import (
	"context"
	"math"
	"strings"
	"testing"
)

// TestTimelinePlansReadOnlyOneProcess: every source of the timeline is read through an
// index that starts with the process, newest first by id, without sorting, so a page
// costs the same however many rows the tables hold and stops after its limit. (The
// audit rows of a process's decisions are few, and sorted.)
func TestTimelinePlansReadOnlyOneProcess(t *testing.T) {
	SQLiteOnly(t, "reads SQLite's query plans")
	db, err := Open(context.Background(), TargetForTest(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		name, query, index string
		args               []any
	}{
		{"audit", timelineAuditQuery, "audit_events_object", []any{"p", int64(math.MaxInt64), string(ActionNoteAdd), 11}},
		{"process events", timelineEventsQuery, "process_events_process", []any{"p", int64(math.MaxInt64), 11}},
		{"notes", timelineNotesQuery, "notes_process", []any{"p", int64(math.MaxInt64), 11}},
		{"decisions' audit", timelineDecisionAuditQuery, "audit_events_object", []any{"p", int64(math.MaxInt64), 11}},
	} {
		plan := strings.Join(queryPlan(t, db, tc.query, tc.args...), "\n")
		if !strings.Contains(plan, "USING INDEX "+tc.index) && !strings.Contains(plan, "USING COVERING INDEX "+tc.index) {
			t.Errorf("%s: not read through %s:\n%s", tc.name, tc.index, plan)
		}
		if strings.Contains(plan, "TEMP B-TREE") && tc.name != "decisions' audit" {
			t.Errorf("%s: sorts its rows:\n%s", tc.name, plan)
		}
	}
}
