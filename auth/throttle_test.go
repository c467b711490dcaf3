package auth

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// throttleClock is a manual clock for Throttle.Now.
type throttleClock struct {
	mu  sync.Mutex
	now time.Time
}

func newThrottleClock() *throttleClock {
	return &throttleClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *throttleClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *throttleClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newTestThrottle returns a Throttle on a fake clock whose IP buckets never
// run dry unless cfg says otherwise.
func newTestThrottle(cfg ThrottleConfig) (*Throttle, *throttleClock) {
	if cfg.Burst == 0 {
		cfg.Burst = 1_000_000
	}
	clock := newThrottleClock()
	th := NewThrottle(cfg)
	th.Now = clock.Now
	return th, clock
}

const testIP = "192.0.2.10"

// failN records n failures for account and returns the last Failure result.
func failN(th *Throttle, account string, n int) (bool, time.Duration) {
	var locked bool
	var d time.Duration
	for range n {
		locked, d = th.Failure(account)
	}
	return locked, d
}

func TestThrottleDefaults(t *testing.T) {
	got := NewThrottle(ThrottleConfig{}).Config()
	want := ThrottleConfig{
		MaxFailures: 5, BaseLock: 30 * time.Second, MaxLock: 15 * time.Minute,
		Burst: 10, Refill: 3 * time.Second, ForgetAfter: 24 * time.Hour,
		MaxAccounts: 100_000, MaxIPs: 100_000,
	}
	if got != want {
		t.Errorf("default config = %+v, want %+v", got, want)
	}
}

func TestThrottleLocksAfterFiveFailures(t *testing.T) {
	th, clock := newTestThrottle(ThrottleConfig{})
	const acct = "jane@example.com"
	for i := 1; i <= 4; i++ {
		if ok, _, reason := th.Allow(testIP, acct); !ok {
			t.Fatalf("attempt %d refused (%s), want allowed", i, reason)
		}
		if locked, d := th.Failure(acct); locked {
			t.Fatalf("failure %d locked the account for %v, want no lock before 5", i, d)
		}
	}
	locked, d := th.Failure(acct)
	if !locked || d != 30*time.Second {
		t.Fatalf("failure 5 = %v, %v; want true, 30s", locked, d)
	}
	ok, retry, reason := th.Allow(testIP, acct)
	if ok || retry != 30*time.Second || reason != ReasonAccountLocked {
		t.Fatalf("Allow while locked = %v, %v, %q; want false, 30s, %q", ok, retry, reason, ReasonAccountLocked)
	}
	clock.Advance(29 * time.Second)
	if ok, retry, _ := th.Allow(testIP, acct); ok || retry != time.Second {
		t.Fatalf("Allow 29s later = %v, %v; want false, 1s", ok, retry)
	}
	if ok, _, _ := th.Allow(testIP, "other@example.com"); !ok {
		t.Errorf("another account is refused while jane is locked, want allowed")
	}
	clock.Advance(time.Second)
	if ok, retry, reason := th.Allow(testIP, acct); !ok {
		t.Fatalf("Allow when the lock ends = %v, %v, %q; want allowed", ok, retry, reason)
	}
}

func TestThrottleLockDoublesToCap(t *testing.T) {
	th, clock := newTestThrottle(ThrottleConfig{})
	const acct = "jane@example.com"
	want := []time.Duration{
		30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
		15 * time.Minute, 15 * time.Minute, 15 * time.Minute,
	}
	for i, w := range want {
		if locked, d := failN(th, acct, 4); locked {
			t.Fatalf("lock %d: locked after 4 failures (%v), want 5 needed", i+1, d)
		}
		locked, d := th.Failure(acct)
		if !locked || d != w {
			t.Fatalf("lock %d = %v, %v; want true, %v", i+1, locked, d, w)
		}
		if ok, retry, _ := th.Allow(testIP, acct); ok || retry != w {
			t.Fatalf("lock %d: Allow = %v, %v; want false, %v", i+1, ok, retry, w)
		}
		clock.Advance(d)
	}
}

func TestThrottleSuccessResets(t *testing.T) {
	th, clock := newTestThrottle(ThrottleConfig{})
	const acct = "jane@example.com"
	failN(th, acct, 5) // 30 s
	clock.Advance(30 * time.Second)
	failN(th, acct, 5) // 60 s
	clock.Advance(time.Minute)
	failN(th, acct, 4)
	th.Success(acct)
	if locked, d := failN(th, acct, 4); locked {
		t.Fatalf("locked after 4 failures following a success (%v), want the count reset", d)
	}
	if locked, d := th.Failure(acct); !locked || d != 30*time.Second {
		t.Fatalf("first lock after a success = %v, %v; want true, 30s (doubling reset)", locked, d)
	}
}

func TestThrottleAccountKeyFolded(t *testing.T) {
	th, _ := newTestThrottle(ThrottleConfig{})
	failN(th, "Jane@Example.com", 3)
	failN(th, " jane@example.com", 1)
	if locked, _ := th.Failure("JANE@EXAMPLE.COM "); !locked {
		t.Fatalf("case or spaces gave an account fresh counters, want one account")
	}
	if ok, _, _ := th.Allow(testIP, "jane@example.com"); ok {
		t.Errorf("Allow(jane@example.com) = true while Jane@Example.com is locked")
	}
}

func TestThrottleIPBucket(t *testing.T) {
	th, clock := newTestThrottle(ThrottleConfig{Burst: 10, Refill: 3 * time.Second})
	for i := 1; i <= 10; i++ {
		if ok, _, reason := th.Allow(testIP, fmt.Sprintf("user%d@example.com", i)); !ok {
			t.Fatalf("attempt %d of a burst of 10 refused (%s)", i, reason)
		}
	}
	ok, retry, reason := th.Allow(testIP, "user11@example.com")
	if ok || retry != 3*time.Second || reason != ReasonIPRateLimited {
		t.Fatalf("11th attempt = %v, %v, %q; want false, 3s, %q", ok, retry, reason, ReasonIPRateLimited)
	}
	if ok, _, _ := th.Allow("198.51.100.7", "user11@example.com"); !ok {
		t.Errorf("another IP refused, want its own bucket")
	}
	clock.Advance(2 * time.Second)
	if ok, retry, _ := th.Allow(testIP, "x@example.com"); ok || retry != time.Second {
		t.Fatalf("after 2s = %v, %v; want false, 1s", ok, retry)
	}
	clock.Advance(time.Second)
	if ok, _, _ := th.Allow(testIP, "x@example.com"); !ok {
		t.Fatalf("after 3s refused, want one token refilled")
	}
	if ok, _, _ := th.Allow(testIP, "x@example.com"); ok {
		t.Fatalf("second attempt after 3s allowed, want only one token refilled")
	}
	clock.Advance(time.Hour)
	for i := 1; i <= 10; i++ {
		if ok, _, _ := th.Allow(testIP, "x@example.com"); !ok {
			t.Fatalf("after an hour, attempt %d refused; want the bucket full again (10)", i)
		}
	}
	if ok, _, _ := th.Allow(testIP, "x@example.com"); ok {
		t.Fatalf("after an hour, attempt 11 allowed; want the bucket capped at the burst")
	}
}

func TestThrottleLockedAccountSpendsNoToken(t *testing.T) {
	th, _ := newTestThrottle(ThrottleConfig{Burst: 2, Refill: time.Hour})
	failN(th, "locked@example.com", 5)
	for range 5 {
		if ok, _, reason := th.Allow(testIP, "locked@example.com"); ok || reason != ReasonAccountLocked {
			t.Fatalf("Allow(locked) = %v, %q; want false, %q", ok, reason, ReasonAccountLocked)
		}
	}
	for i := 1; i <= 2; i++ {
		if ok, _, reason := th.Allow(testIP, "free@example.com"); !ok {
			t.Fatalf("attempt %d refused (%s): refusals for a locked account spent the IP's tokens", i, reason)
		}
	}
}

func TestIPKey(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"192.0.2.10", "192.0.2.10"},
		{"::ffff:192.0.2.10", "192.0.2.10"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not an ip", "not an ip"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := store.ClientKey(tt.ip); got != tt.want {
			t.Errorf("store.ClientKey(%q) = %q, want %q", tt.ip, got, tt.want)
		}
	}
	th, _ := newTestThrottle(ThrottleConfig{Burst: 1, Refill: time.Hour})
	if ok, _, _ := th.Allow("2001:db8:1:2::a", ""); !ok {
		t.Fatal("first IPv6 attempt refused")
	}
	if ok, _, _ := th.Allow("2001:db8:1:2::b", ""); ok {
		t.Error("a second address in the same /64 got a fresh bucket, want the /64 to share one")
	}
}

func TestThrottleForgetsStaleEntries(t *testing.T) {
	th, clock := newTestThrottle(ThrottleConfig{Burst: 5, Refill: time.Second, ForgetAfter: time.Hour})
	failN(th, "a@example.com", 3)
	th.Allow(testIP, "a@example.com")
	if got := len(th.accounts); got != 1 {
		t.Fatalf("tracked accounts = %d, want 1", got)
	}
	clock.Advance(time.Hour + sweepEvery)
	th.Allow("198.51.100.1", "")
	if got := len(th.accounts); got != 0 {
		t.Errorf("tracked accounts after ForgetAfter = %d, want 0", got)
	}
	if got := len(th.ips); got != 1 {
		t.Errorf("tracked IPs = %d, want 1 (the full bucket of %s dropped)", got, testIP)
	}
	// Forgotten means the failures are gone: 5 more are needed for a lock.
	if locked, _ := failN(th, "a@example.com", 4); locked {
		t.Errorf("old failures still counted after being forgotten")
	}
}

func TestThrottleKeepsLockedAccounts(t *testing.T) {
	th, clock := newTestThrottle(ThrottleConfig{ForgetAfter: time.Second, MaxLock: time.Hour, BaseLock: time.Hour})
	failN(th, "a@example.com", 5)
	clock.Advance(30 * time.Minute)
	th.Allow(testIP, "b@example.com") // sweeps
	if ok, _, _ := th.Allow(testIP, "a@example.com"); ok {
		t.Fatal("a locked account was forgotten by the sweep before its lock ended")
	}
}

func TestThrottleMapsBounded(t *testing.T) {
	th, _ := newTestThrottle(ThrottleConfig{MaxAccounts: 64, MaxIPs: 64, Burst: 3})
	failN(th, "victim@example.com", 5) // locked
	for i := range 1000 {
		th.Allow(fmt.Sprintf("10.0.%d.%d", i/256, i%256), "")
		th.Failure(fmt.Sprintf("user%d@example.com", i))
		if a, n := len(th.accounts), len(th.ips); a > 64 || n > 64 {
			t.Fatalf("after %d inserts: %d accounts, %d IPs; want at most 64 each", i+1, a, n)
		}
	}
	if ok, _, _ := th.Allow(testIP, "victim@example.com"); ok {
		t.Errorf("flooding unlocked accounts evicted a locked one, want locked entries kept while others can go")
	}
}

func TestThrottleConcurrent(t *testing.T) {
	th, clock := newTestThrottle(ThrottleConfig{MaxAccounts: 50, MaxIPs: 50})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				acct := fmt.Sprintf("user%d@example.com", (g*500+i)%97)
				addr := fmt.Sprintf("10.1.%d.%d", g, i%200)
				th.Allow(addr, acct)
				if i%7 == 0 {
					th.Success(acct)
				} else {
					th.Failure(acct)
				}
				if i%50 == 0 {
					clock.Advance(time.Minute)
				}
			}
		})
	}
	wg.Wait()
	if a, n := len(th.accounts), len(th.ips); a > 50 || n > 50 {
		t.Errorf("%d accounts, %d IPs tracked; want at most 50 each", a, n)
	}
}
