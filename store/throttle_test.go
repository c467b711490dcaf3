package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

var throttleT0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// addFailure is a stand-in for auth.Throttle's policy: one more failure, forgotten an
// hour later.
func addFailure(now time.Time) func(*LoginThrottle) {
	return func(st *LoginThrottle) {
		st.Failures++
		st.LastFailure = now
		st.ForgetAt = now.Add(time.Hour)
	}
}

func loginThrottleRows(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.db.QueryRowContext(context.Background(), "SELECT count(*) FROM login_throttle").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLoginThrottleStateIsShared: a state written through one handle is read through the
// other; it reads as zero once forgettable, and is deleted when the update says so or
// on a success.
func TestLoginThrottleStateIsShared(t *testing.T) {
	a, b := sharedAuthHandles(t)
	ctx := context.Background()
	locked := LoginThrottle{Failures: 0, Locks: 2, LockedUntil: throttleT0.Add(time.Minute),
		LastFailure: throttleT0, ForgetAt: throttleT0.Add(24 * time.Hour)}
	created, err := a.UpdateLoginThrottle(ctx, "jane@example.com", throttleT0, func(st *LoginThrottle) {
		if *st != (LoginThrottle{}) {
			t.Errorf("state of a new account: %+v, want zero", *st)
		}
		*st = locked
	})
	if err != nil || !created {
		t.Fatalf("first update: created %v, %v; want true", created, err)
	}
	if got, err := b.LoginThrottleState(ctx, "jane@example.com", throttleT0.Add(time.Second)); err != nil || got != locked {
		t.Errorf("read on the other instance: %+v, %v; want %+v", got, err, locked)
	}
	if got, _ := b.LoginThrottleState(ctx, "jane@example.com", throttleT0.Add(24*time.Hour)); got != (LoginThrottle{}) {
		t.Errorf("read once forgettable: %+v, want zero", got)
	}
	created, err = b.UpdateLoginThrottle(ctx, "jane@example.com", throttleT0.Add(24*time.Hour), func(st *LoginThrottle) {
		if *st != (LoginThrottle{}) {
			t.Errorf("forgettable state handed to the update: %+v, want zero", *st)
		}
		addFailure(throttleT0.Add(24 * time.Hour))(st)
	})
	if err != nil || created {
		t.Errorf("update of a forgettable row: created %v, %v; want false (the row was there)", created, err)
	}
	if got, _ := a.LoginThrottleState(ctx, "jane@example.com", throttleT0.Add(24*time.Hour)); got.Failures != 1 || got.Locks != 0 {
		t.Errorf("after a failure on a forgotten state: %+v, want 1 failure, no locks", got)
	}
	// An update that leaves nothing worth keeping deletes the row.
	if _, err := a.UpdateLoginThrottle(ctx, "jane@example.com", throttleT0.Add(24*time.Hour), func(st *LoginThrottle) { *st = LoginThrottle{} }); err != nil {
		t.Fatal(err)
	}
	if n := loginThrottleRows(t, a); n != 0 {
		t.Errorf("rows after an update to nothing: %d, want 0", n)
	}
	// A success forgets everything, on either instance.
	if _, err := a.UpdateLoginThrottle(ctx, "jane@example.com", throttleT0, addFailure(throttleT0)); err != nil {
		t.Fatal(err)
	}
	if err := b.ForgetLoginThrottle(ctx, "jane@example.com"); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.LoginThrottleState(ctx, "jane@example.com", throttleT0); got != (LoginThrottle{}) {
		t.Errorf("after a success: %+v, want zero", got)
	}
}

// TestLoginThrottleLongKeys: keys too long to store as they are are stored hashed, each
// its own.
func TestLoginThrottleLongKeys(t *testing.T) {
	db, _ := sharedAuthHandles(t)
	ctx := context.Background()
	long := strings.Repeat("x", 400)
	for range 3 {
		if _, err := db.UpdateLoginThrottle(ctx, long+"1", throttleT0, addFailure(throttleT0)); err != nil {
			t.Fatalf("long key: %v", err)
		}
	}
	if _, err := db.UpdateLoginThrottle(ctx, long+"2", throttleT0, addFailure(throttleT0)); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]int{long + "1": 3, long + "2": 1} {
		if got, err := db.LoginThrottleState(ctx, key, throttleT0); err != nil || got.Failures != want {
			t.Errorf("failures of a long key: %d, %v; want %d", got.Failures, err, want)
		}
	}
}

// TestLoginThrottleCountsEachFailureOnce: failures of one account through two instances
// at once are all counted: each read-then-write is serialized with the others.
func TestLoginThrottleCountsEachFailureOnce(t *testing.T) {
	a, b := sharedAuthHandles(t)
	ctx := context.Background()
	const each = 15
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for i := range 2 * each {
		db := []*DB{a, b}[i%2]
		wg.Go(func() {
			_, err := db.UpdateLoginThrottle(ctx, "spray@example.com", throttleT0, addFailure(throttleT0))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("update: %v", err)
		}
	}
	if got, err := a.LoginThrottleState(ctx, "spray@example.com", throttleT0); err != nil || got.Failures != 2*each {
		t.Errorf("failures counted: %d, %v; want %d", got.Failures, err, 2*each)
	}
}

// TestSweepLoginThrottleBoundsTheTable: a sweep deletes the forgettable states, then,
// above the limit, unlocked states oldest first, and locks only when nothing else is left.
func TestSweepLoginThrottleBoundsTheTable(t *testing.T) {
	db, _ := sharedAuthHandles(t)
	ctx := context.Background()
	set := func(key string, st LoginThrottle) {
		t.Helper()
		if _, err := db.UpdateLoginThrottle(ctx, key, throttleT0, func(s *LoginThrottle) { *s = st }); err != nil {
			t.Fatal(err)
		}
	}
	now := throttleT0.Add(time.Hour)
	// 3 forgettable at now, 10 unlocked (forgotten at +2h…+11h), 3 locked until +1 day.
	for i := range 3 {
		set(fmt.Sprint("old", i), LoginThrottle{Failures: 1, LastFailure: throttleT0, ForgetAt: now.Add(-time.Duration(i) * time.Minute)})
	}
	for i := range 10 {
		set(fmt.Sprint("unlocked", i), LoginThrottle{Failures: 1, LastFailure: throttleT0, ForgetAt: throttleT0.Add(time.Duration(i+2) * time.Hour)})
	}
	for i := range 3 {
		until := throttleT0.Add(24*time.Hour + time.Duration(i)*time.Minute)
		set(fmt.Sprint("locked", i), LoginThrottle{Locks: 1, LockedUntil: until, LastFailure: throttleT0, ForgetAt: until})
	}
	if n, err := db.SweepLoginThrottle(ctx, now, 100); err != nil || n != 3 {
		t.Fatalf("sweep under the limit: %d, %v; want the 3 forgettable", n, err)
	}
	if n, err := db.SweepLoginThrottle(ctx, now, 8); err != nil || n != 5 {
		t.Fatalf("sweep to 8: %d, %v; want 5", n, err)
	}
	keep := func(prefix string, from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if st, _ := db.LoginThrottleState(ctx, fmt.Sprint(prefix, i), now); st.LastFailure.IsZero() {
				t.Errorf("%s%d swept, want kept", prefix, i)
			}
		}
	}
	keep("unlocked", 5, 10) // the five failed longest ago went
	keep("locked", 0, 3)
	if n, err := db.SweepLoginThrottle(ctx, now, 2); err != nil || n != 6 {
		t.Fatalf("sweep to 2: %d, %v; want 6", n, err)
	}
	keep("locked", 1, 3) // every unlocked state went before the first lock
	if n := loginThrottleRows(t, db); n != 2 {
		t.Errorf("rows after sweeping to 2: %d", n)
	}
}
