package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mobbscan-review/portal/store"
)

// The store no longer judges who may do what: every conditional write loads a
// store.Case inside its transaction, asks the store.Rule it was given, and aborts with
// the rule's error, writing nothing. The real rules live in review/rules.go; these
// tests use the small rules below to see what the store hands a rule and what it does
// with the answer.

// allow is the permissive rule, for tests about what the store itself guarantees.
func allow(*store.Case) error { return nil }

// errRefused is what the test rules answer when they refuse.
var errRefused = errors.New("refused by the test rule")

// recorder is a rule that records every Case it is given and answers err.
type recorder struct {
	mu    sync.Mutex
	err   error
	cases []*store.Case
}

// refuse returns a recorder that refuses every write with errRefused.
func refuse() *recorder { return &recorder{err: errRefused} }

// judge returns a recorder that allows every write (and records what it saw).
func judge() *recorder { return &recorder{} }

func (r *recorder) rule(c *store.Case) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cases = append(r.cases, c)
	return r.err
}

// only returns the one Case the rule saw, failing the test unless it saw exactly one.
func (r *recorder) only(t *testing.T) *store.Case {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cases) != 1 {
		t.Fatalf("the rule was called %d times, want once", len(r.cases))
	}
	return r.cases[0]
}

func (r *recorder) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.cases)
}

// notOthersClaim refuses a write by a while someone else holds a live claim: a
// stand-in for review's claim rule, judged on the rows inside the write's transaction.
func notOthersClaim(a store.Actor) store.Rule {
	return func(c *store.Case) error {
		if c.Process.ClaimActive(c.Now) && c.Process.ClaimedBy != a.UserID {
			return fmt.Errorf("held by user %d: %w", c.Process.ClaimedBy, errRefused)
		}
		return nil
	}
}

// wantRefusedUnchanged checks that a write refused by a test rule returned the rule's
// error itself, neither wrapped nor replaced.
func wantRefusedUnchanged(t *testing.T, what string, err error) {
	t.Helper()
	if err != errRefused {
		t.Errorf("%s: got %v, want the rule's error unchanged", what, err)
	}
}

// servedKinds lists a Case's Served set, sorted.
func servedKinds(c *store.Case) []string {
	var out []string
	for k, ok := range c.Served {
		if ok {
			out = append(out, string(k))
		}
	}
	slices.Sort(out)
	return out
}

// dump returns every row of the tables a workflow write touches, as sorted text, so a
// test can tell that a refused write changed nothing at all.
func dump(t *testing.T, db *store.DB) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, table := range []string{"processes", "decisions", "evidence_views", "audit_events", "reasons"} {
		rows, err := db.SQL().QueryContext(ctx, "SELECT * FROM "+table)
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("dump %s: %v", table, err)
			}
			var line strings.Builder
			for i, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&line, "%s=%v ", cols[i], v)
			}
			lines = append(lines, line.String())
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		slices.Sort(lines)
		fmt.Fprintf(&b, "%s (%d rows)\n%s\n", table, len(lines), strings.Join(lines, "\n"))
	}
	return b.String()
}

// wantUnchanged fails the test when the database differs from before.
func wantUnchanged(t *testing.T, db *store.DB, what, before string) {
	t.Helper()
	if after := dump(t, db); after != before {
		t.Errorf("%s wrote something:\nbefore:\n%s\nafter:\n%s", what, before, after)
	}
}
