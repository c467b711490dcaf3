package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// sharedAuthHandles opens the database of one test twice, two handles standing for two portal
// instances on it (on SQLite: two handles to one file).
func sharedAuthHandles(t *testing.T) (*DB, *DB) {
	t.Helper()
	target := TargetForTest(t)
	var dbs [2]*DB
	for i := range dbs {
		db, err := Open(context.Background(), target)
		if err != nil {
			t.Fatalf("open %d: %v", i+1, err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	return dbs[0], dbs[1]
}

var oidcT0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func testOIDCPending(state string, expires time.Time) OIDCPending {
	return OIDCPending{StateHash: HashToken(state), Nonce: "nonce-" + state,
		Verifier: strings.Repeat("v", 43), Next: "/queue?after=" + state, ExpiresAt: expires}
}

// TestOIDCPendingIsSpentOnceOnAnyInstance: a sign-in started through one handle is
// finished through the other, once; the state itself is never stored.
func TestOIDCPendingIsSpentOnceOnAnyInstance(t *testing.T) {
	a, b := sharedAuthHandles(t)
	ctx := context.Background()
	p := testOIDCPending("s1", oidcT0.Add(10*time.Minute))
	if err := a.CreateOIDCPending(ctx, p, oidcT0, 10); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := a.db.QueryRowContext(ctx, "SELECT count(*) FROM oidc_pending WHERE state_hash = ? OR nonce = ? OR verifier = ? OR next = ?",
		"s1", "s1", "s1", "s1").Scan(&n); err != nil || n != 0 {
		t.Errorf("rows keyed by the state in clear: %d (%v), want 0", n, err)
	}
	got, err := b.TakeOIDCPending(ctx, HashToken("s1"), oidcT0.Add(time.Minute))
	if err != nil {
		t.Fatalf("take on the other instance: %v", err)
	}
	if got != p {
		t.Errorf("taken %+v, want %+v", got, p)
	}
	for _, db := range []*DB{a, b} {
		if _, err := db.TakeOIDCPending(ctx, HashToken("s1"), oidcT0.Add(time.Minute)); !errors.Is(err, ErrNotFound) {
			t.Errorf("second take: %v, want ErrNotFound", err)
		}
	}
	if _, err := a.TakeOIDCPending(ctx, HashToken("never"), oidcT0); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown state: %v, want ErrNotFound", err)
	}
}

// TestOIDCPendingExpires: a sign-in taken at or after its expiry is refused, and spent.
func TestOIDCPendingExpires(t *testing.T) {
	db, _ := sharedAuthHandles(t)
	ctx := context.Background()
	if err := db.CreateOIDCPending(ctx, testOIDCPending("late", oidcT0.Add(time.Minute)), oidcT0, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := db.TakeOIDCPending(ctx, HashToken("late"), oidcT0.Add(time.Minute)); !errors.Is(err, ErrNotFound) {
		t.Errorf("take at expiry: %v, want ErrNotFound", err)
	}
	var n int
	if err := db.db.QueryRowContext(ctx, "SELECT count(*) FROM oidc_pending").Scan(&n); err != nil || n != 0 {
		t.Errorf("rows left after an expired take: %d (%v), want 0", n, err)
	}
}

// TestOIDCPendingIsBounded: beyond max sign-ins in progress over both instances a start
// is refused; expired ones make room and are deleted by the next start or a sweep.
func TestOIDCPendingIsBounded(t *testing.T) {
	a, b := sharedAuthHandles(t)
	ctx := context.Background()
	for i := range 3 {
		db := []*DB{a, b}[i%2]
		if err := db.CreateOIDCPending(ctx, testOIDCPending(fmt.Sprint("s", i), oidcT0.Add(time.Duration(i+1)*time.Minute)), oidcT0, 3); err != nil {
			t.Fatalf("start %d: %v", i+1, err)
		}
	}
	for _, db := range []*DB{a, b} {
		if err := db.CreateOIDCPending(ctx, testOIDCPending("over", oidcT0.Add(time.Hour)), oidcT0, 3); !errors.Is(err, ErrTooManyOIDCPending) {
			t.Errorf("start beyond the bound: %v, want ErrTooManyOIDCPending", err)
		}
	}
	// At +1 min the first has expired: one start fits again, and the expired row goes.
	at := oidcT0.Add(time.Minute)
	if err := b.CreateOIDCPending(ctx, testOIDCPending("room", at.Add(time.Hour)), at, 3); err != nil {
		t.Fatalf("start once one expired: %v", err)
	}
	if err := a.CreateOIDCPending(ctx, testOIDCPending("over2", at.Add(time.Hour)), at, 3); !errors.Is(err, ErrTooManyOIDCPending) {
		t.Errorf("start beyond the bound again: %v, want ErrTooManyOIDCPending", err)
	}
	// A sweep at +3 min deletes the two others that expired by then.
	if n, err := a.SweepOIDCPending(ctx, oidcT0.Add(3*time.Minute)); err != nil || n != 2 {
		t.Errorf("sweep: %d, %v; want 2 deleted", n, err)
	}
	var left int
	if err := a.db.QueryRowContext(ctx, "SELECT count(*) FROM oidc_pending").Scan(&left); err != nil || left != 1 {
		t.Errorf("rows left: %d (%v), want 1", left, err)
	}
}

// TestOIDCPendingRaceHasOneWinner: callbacks with one state on both instances at once
// finish one sign-in.
func TestOIDCPendingRaceHasOneWinner(t *testing.T) {
	a, b := sharedAuthHandles(t)
	ctx := context.Background()
	if err := a.CreateOIDCPending(ctx, testOIDCPending("race", oidcT0.Add(time.Hour)), oidcT0, 10); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make(chan error, 20)
	for i := range 20 {
		db := []*DB{a, b}[i%2]
		wg.Go(func() {
			_, err := db.TakeOIDCPending(ctx, HashToken("race"), oidcT0)
			results <- err
		})
	}
	wg.Wait()
	close(results)
	won := 0
	for err := range results {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrNotFound):
			t.Errorf("take: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("winners: %d, want 1", won)
	}
}

// TestOIDCPendingPlansUseTheExpiryIndex: counting the sign-ins in progress and deleting
// the expired ones read the expiry index, not the table (SQLite's plans).
func TestOIDCPendingPlansUseTheExpiryIndex(t *testing.T) {
	SQLiteOnly(t, "reads SQLite's query plans")
	db, _ := sharedAuthHandles(t)
	for _, q := range []string{countOIDCPendingQuery, expireOIDCPendingQuery} {
		plan := strings.Join(queryPlan(t, db, q, formatTime(oidcT0)), "\n")
		if !strings.Contains(plan, "INDEX oidc_pending_expires") {
			t.Errorf("%s: not through oidc_pending_expires:\n%s", q, plan)
		}
	}
}
