package auth

// The throttle shared through the database (issue 13): the policy of throttle_test.go
// holds when the attempts are spread over two instances, each failure counts once, the
// table stays bounded, and a database that fails leaves this instance counting alone.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// newSharedPair returns two throttles on two handles to one database, standing for two
// instances, on one fake clock; their IP buckets never run dry unless cfg says so.
func newSharedPair(a, b *store.DB, cfg ThrottleConfig) (*Throttle, *Throttle, *throttleClock) {
	if cfg.Burst == 0 {
		cfg.Burst = 1_000_000
	}
	clock := newThrottleClock()
	one, two := NewSharedThrottle(a, cfg), NewSharedThrottle(b, cfg)
	one.Now, two.Now = clock.Now, clock.Now
	return one, two, clock
}

func TestSharedThrottleLocksOnEveryInstance(t *testing.T) {
	forEachEngine(t, func(t *testing.T, a, b *store.DB) {
		one, two, clock := newSharedPair(a, b, ThrottleConfig{})
		const acct = "jane@example.com"
		for i := 1; i <= 4; i++ {
			th := []*Throttle{one, two}[i%2]
			if ok, _, reason := th.Allow(testIP, acct); !ok {
				t.Fatalf("attempt %d refused (%s), want allowed", i, reason)
			}
			if locked, d := th.Failure(acct); locked {
				t.Fatalf("failure %d locked the account for %v, want no lock before 5 over both instances", i, d)
			}
		}
		if locked, d := one.Failure(acct); !locked || d != 30*time.Second {
			t.Fatalf("failure 5 (4 before it, on both instances) = %v, %v; want true, 30s", locked, d)
		}
		for _, th := range []*Throttle{one, two} {
			ok, retry, reason := th.Allow(testIP, acct)
			if ok || retry != 30*time.Second || reason != ReasonAccountLocked {
				t.Errorf("Allow while locked = %v, %v, %q; want false, 30s, %q on both instances", ok, retry, reason, ReasonAccountLocked)
			}
			if ok, retry := th.AllowAccount(acct); ok || retry != 30*time.Second {
				t.Errorf("AllowAccount while locked = %v, %v; want false, 30s", ok, retry)
			}
		}
		if ok, _, _ := two.Allow(testIP, "other@example.com"); !ok {
			t.Errorf("another account is refused while jane is locked, want allowed")
		}
		clock.Advance(29 * time.Second)
		if ok, retry, _ := two.Allow(testIP, acct); ok || retry != time.Second {
			t.Fatalf("Allow 29s later = %v, %v; want false, 1s", ok, retry)
		}
		clock.Advance(time.Second)
		if ok, _, reason := two.Allow(testIP, acct); !ok {
			t.Fatalf("Allow when the lock ends refused (%s), want allowed", reason)
		}
	})
}

func TestSharedThrottleLockDoublesToCapAndSuccessResets(t *testing.T) {
	forEachEngine(t, func(t *testing.T, a, b *store.DB) {
		one, two, clock := newSharedPair(a, b, ThrottleConfig{})
		const acct = "jane@example.com"
		want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute, 15 * time.Minute}
		for i, w := range want {
			for j := range 4 {
				if locked, d := []*Throttle{one, two}[j%2].Failure(acct); locked {
					t.Fatalf("lock %d: locked after %d failures (%v), want 5 needed", i+1, j+1, d)
				}
			}
			if locked, d := two.Failure(acct); !locked || d != w {
				t.Fatalf("lock %d = %v, %v; want true, %v", i+1, locked, d, w)
			}
			clock.Advance(w)
		}
		one.Success(" JANE@example.com") // folded like every other key
		for j := range 4 {
			if locked, d := []*Throttle{one, two}[j%2].Failure(acct); locked {
				t.Fatalf("locked after %d failures following a success (%v), want the count reset", j+1, d)
			}
		}
		if locked, d := two.Failure("Jane@Example.com"); !locked || d != 30*time.Second {
			t.Fatalf("first lock after a success = %v, %v; want true, 30s (doubling reset)", locked, d)
		}
	})
}

func TestSharedThrottleForgetsOldFailures(t *testing.T) {
	forEachEngine(t, func(t *testing.T, a, b *store.DB) {
		one, two, clock := newSharedPair(a, b, ThrottleConfig{ForgetAfter: time.Hour, BaseLock: 2 * time.Hour, MaxLock: 2 * time.Hour})
		failN(one, "a@example.com", 3)
		clock.Advance(time.Hour)
		if locked, _ := failN(two, "a@example.com", 4); locked {
			t.Errorf("failures older than ForgetAfter still counted")
		}
		// A lock outlives ForgetAfter: it is kept until it ends.
		failN(two, "b@example.com", 5)
		clock.Advance(90 * time.Minute)
		if err := one.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		if ok, retry, _ := one.Allow(testIP, "b@example.com"); ok || retry != 30*time.Minute {
			t.Errorf("locked account after a sweep: Allow = %v, %v; want false, 30m", ok, retry)
		}
	})
}

// TestSharedThrottleCountsEachFailureOnce: failures at once on two instances lock the
// account exactly once per MaxFailures of them.
func TestSharedThrottleCountsEachFailureOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, a, b *store.DB) {
		one, two, _ := newSharedPair(a, b, ThrottleConfig{})
		var locks sync.Map
		var wg sync.WaitGroup
		for g := range 8 {
			th := []*Throttle{one, two}[g%2]
			wg.Go(func() {
				for i := range 5 {
					if locked, _ := th.Failure("target@example.com"); locked {
						locks.Store(fmt.Sprint(g, "/", i), true)
					}
				}
			})
		}
		wg.Wait()
		n := 0
		locks.Range(func(any, any) bool { n++; return true })
		if n != 8 {
			t.Errorf("locks from 40 failures over two instances: %d, want 8 (one per 5)", n)
		}
	})
}

// TestSharedThrottleTableBounded: a spray of made-up accounts over two instances keeps
// the table near MaxAccounts (each instance sweeps to MaxAccounts less its headroom
// once it added a headroom's worth), and a locked account outlives the spray.
func TestSharedThrottleTableBounded(t *testing.T) {
	forEachEngine(t, func(t *testing.T, a, b *store.DB) {
		const max = 64
		one, two, clock := newSharedPair(a, b, ThrottleConfig{MaxAccounts: max})
		failN(one, "victim@example.com", 5)
		bound := max + headroom(max) // two instances: MaxAccounts plus one more headroom
		for i := range 400 {
			[]*Throttle{one, two}[i%2].Failure(fmt.Sprintf("user%d@example.com", i))
			if i%50 == 0 {
				clock.Advance(time.Second)
			}
			if n := tableRows(t, a); n > bound {
				t.Fatalf("after %d made-up accounts: %d rows, want at most %d", i+1, n, bound)
			}
		}
		if ok, _, _ := two.Allow(testIP, "victim@example.com"); ok {
			t.Errorf("the spray evicted a locked account, want unlocked ones to go first")
		}
	})
}

func tableRows(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.SQL().QueryRowContext(context.Background(), "SELECT count(*) FROM login_throttle").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSharedThrottleFallsBackToMemory: when the database cannot take a failure, the
// instance counts it in memory, so an unwritable database never means unlimited guesses.
func TestSharedThrottleFallsBackToMemory(t *testing.T) {
	db := openOIDCTestDB(t)
	th := NewSharedThrottle(db, ThrottleConfig{Burst: 1_000_000})
	clock := newThrottleClock()
	th.Now = clock.Now
	failN(th, "jane@example.com", 2) // in the database
	db.Close()
	if locked, d := failN(th, "jane@example.com", 5); !locked || d != 30*time.Second {
		t.Fatalf("5 failures with the database closed = %v, %v; want a 30s lock counted in memory", locked, d)
	}
	if ok, _, reason := th.Allow(testIP, "jane@example.com"); ok || reason != ReasonAccountLocked {
		t.Errorf("Allow with the database closed = %v, %q; want the memory's lock", ok, reason)
	}
	th.Success("jane@example.com")
	if ok, _, _ := th.Allow(testIP, "jane@example.com"); !ok {
		t.Errorf("Allow after a success refused, want the memory's lock gone")
	}
}

// TestAuthenticateLocksOverTwoInstances: wrong passwords for one account, alternately
// on two instances, lock it on both after five in all, and the right password on
// either clears it once the lock is over.
func TestAuthenticateLocksOverTwoInstances(t *testing.T) {
	forEachEngine(t, func(t *testing.T, a, b *store.DB) {
		ctx := context.Background()
		hasher := NewHasher(TestParams)
		hash, err := hasher.Hash("copper meadow violin 4412 orbit")
		if err != nil {
			t.Fatal(err)
		}
		u := &store.User{Email: "agent@example.com", DisplayName: "Agent", Role: store.RoleAgent, Active: true, PasswordHash: hash}
		if err := a.CreateUser(ctx, store.System, u); err != nil {
			t.Fatal(err)
		}
		one, two, clock := newSharedPair(a, b, ThrottleConfig{})
		aus := []*Authenticator{{DB: a, Hasher: hasher, Throttle: one}, {DB: b, Hasher: hasher, Throttle: two}}
		for i := range 5 {
			if _, err := aus[i%2].Authenticate(ctx, store.Actor{IP: testIP}, "Agent@example.com", "wrong wrong wrong"); !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("failure %d: %v", i+1, err)
			}
		}
		for i, au := range aus {
			var te *ThrottledError
			if _, err := au.Authenticate(ctx, store.Actor{IP: testIP}, "agent@example.com", "copper meadow violin 4412 orbit"); !errors.As(err, &te) || te.RetryAfter != 30*time.Second {
				t.Errorf("instance %d, right password while locked: %v, want *ThrottledError for 30s", i+1, err)
			}
		}
		clock.Advance(30 * time.Second)
		if _, err := aus[1].Authenticate(ctx, store.Actor{IP: testIP}, "agent@example.com", "copper meadow violin 4412 orbit"); err != nil {
			t.Fatalf("right password after the lock: %v", err)
		}
		if st, err := a.LoginThrottleState(ctx, "agent@example.com", clock.Now()); err != nil || st != (store.LoginThrottle{}) {
			t.Errorf("state after a success: %+v, %v; want none", st, err)
		}
	})
}
