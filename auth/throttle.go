package auth

import (
	"strings"
	"sync"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// Reasons Allow gives for a refusal; safe to log or audit.
const (
	ReasonAccountLocked = "account locked"
	ReasonIPRateLimited = "too many attempts from this IP"
)

// ThrottleConfig tunes a Throttle. Zero fields take the defaults in brackets.
type ThrottleConfig struct {
	MaxFailures int           // failures that lock an account [5]
	BaseLock    time.Duration // first lock [30 s]; each next lock doubles it
	MaxLock     time.Duration // longest lock [15 min]
	Burst       int           // attempts an IP may make at once [10]
	Refill      time.Duration // time to earn back one IP attempt [3 s]
	ForgetAfter time.Duration // an unlocked account with no failure this long is forgotten [24 h]
	MaxAccounts int           // accounts tracked at most [100,000]
	MaxIPs      int           // IPs tracked at most [100,000]
}

// DefaultThrottleConfig is what zero fields of a ThrottleConfig become.
var DefaultThrottleConfig = ThrottleConfig{
	MaxFailures: 5,
	BaseLock:    30 * time.Second,
	MaxLock:     15 * time.Minute,
	Burst:       10,
	Refill:      3 * time.Second,
	ForgetAfter: 24 * time.Hour,
	MaxAccounts: 100_000,
	MaxIPs:      100_000,
}

func (c ThrottleConfig) withDefaults() ThrottleConfig {
	d := DefaultThrottleConfig
	pick := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	pickD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	pick(&c.MaxFailures, d.MaxFailures)
	pickD(&c.BaseLock, d.BaseLock)
	pickD(&c.MaxLock, d.MaxLock)
	pick(&c.Burst, d.Burst)
	pickD(&c.Refill, d.Refill)
	pickD(&c.ForgetAfter, d.ForgetAfter)
	pick(&c.MaxAccounts, d.MaxAccounts)
	pick(&c.MaxIPs, d.MaxIPs)
	c.MaxLock = max(c.MaxLock, c.BaseLock)
	return c
}

// Throttle limits sign-in attempts (quality bar A3) per account, with locks
// after repeated failures, and per client IP, with a token bucket. It is safe
// for concurrent use and its memory is bounded by MaxAccounts and MaxIPs.
// Create it with NewThrottle; the zero value is not usable.
//
// Use it for unknown accounts exactly as for known ones, so that locking
// says nothing about which accounts exist (A4). The IP must be the one the
// caller trusts (Echo's RealIP with a configured IPExtractor); Throttle never
// looks at headers.
type Throttle struct {
	// Now returns the current time; tests replace it. Set it before use.
	Now func() time.Time

	cfg ThrottleConfig

	mu        sync.Mutex
	accounts  map[string]*accountState
	ips       map[string]*bucket
	lastSweep time.Time
}

type accountState struct {
	failures    int       // failures since the last lock or success
	locks       int       // locks since the last success
	lockedUntil time.Time // zero or in the past when not locked
	lastFailure time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// sweepEvery is how often stale entries are dropped, at most.
const sweepEvery = time.Minute

// NewThrottle returns a Throttle with cfg, zero fields taking their defaults.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	return &Throttle{
		Now:      time.Now,
		cfg:      cfg.withDefaults(),
		accounts: make(map[string]*accountState),
		ips:      make(map[string]*bucket),
	}
}

// Config returns the configuration in force, defaults filled in.
func (t *Throttle) Config() ThrottleConfig { return t.cfg }

// accountKey folds an account name so that case and surrounding spaces do not
// give an attacker fresh counters.
func accountKey(account string) string {
	return strings.ToLower(strings.TrimSpace(account))
}

// AllowAccount checks only the account's lock: for password checks of a signed-in
// user, which should not spend the sign-in page's per-IP budget.
func (t *Throttle) AllowAccount(account string) (ok bool, retryAfter time.Duration) {
	now := t.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if a := t.accounts[accountKey(account)]; a != nil && now.Before(a.lockedUntil) {
		return false, a.lockedUntil.Sub(now)
	}
	return true, 0
}

// Allow reports whether a sign-in attempt by ip for account may go ahead;
// call it before checking the password. When it may not, retryAfter says how
// long to wait and reason is ReasonAccountLocked or ReasonIPRateLimited. An
// allowed attempt spends one of the IP's tokens; a refused one spends none.
// An empty account checks the IP only. IPv6 clients are counted per /64.
func (t *Throttle) Allow(ip, account string) (ok bool, retryAfter time.Duration, reason string) {
	now := t.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.maybeSweep(now)

	if a := t.accounts[accountKey(account)]; a != nil && now.Before(a.lockedUntil) {
		return false, a.lockedUntil.Sub(now), ReasonAccountLocked
	}

	key := store.ClientKey(ip)
	b := t.ips[key]
	if b == nil {
		t.makeRoomIPs(now)
		b = &bucket{tokens: float64(t.cfg.Burst), last: now}
		t.ips[key] = b
	}
	t.refill(b, now)
	if b.tokens < 1 {
		wait := time.Duration((1 - b.tokens) * float64(t.cfg.Refill))
		return false, max(wait, time.Nanosecond), ReasonIPRateLimited
	}
	b.tokens--
	return true, 0, ""
}

// Failure records a failed sign-in for account (wrong password, unknown or
// disabled account). When it is the MaxFailures-th failure since the last lock
// or success, the account is locked now: lockedNow is true and lockFor is
// BaseLock doubled once per earlier lock since the last success, at most
// MaxLock.
func (t *Throttle) Failure(account string) (lockedNow bool, lockFor time.Duration) {
	now := t.Now()
	key := accountKey(account)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.maybeSweep(now)

	a := t.accounts[key]
	if a == nil {
		t.makeRoomAccounts(now)
		a = &accountState{}
		t.accounts[key] = a
	}
	a.lastFailure = now
	a.failures++
	if a.failures < t.cfg.MaxFailures {
		return false, 0
	}
	lockFor = t.lockDuration(a.locks)
	a.failures = 0
	a.locks++
	a.lockedUntil = now.Add(lockFor)
	return true, lockFor
}

// Success records a successful sign-in for account: its failures and lock
// history are forgotten. It does not refund the IP's token.
func (t *Throttle) Success(account string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.accounts, accountKey(account))
}

// lockDuration is BaseLock·2^locks, at most MaxLock.
func (t *Throttle) lockDuration(locks int) time.Duration {
	d := t.cfg.BaseLock
	for range locks {
		if d >= t.cfg.MaxLock/2 {
			return t.cfg.MaxLock
		}
		d *= 2
	}
	return min(d, t.cfg.MaxLock)
}

func (t *Throttle) refill(b *bucket, now time.Time) {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(float64(t.cfg.Burst), b.tokens+float64(elapsed)/float64(t.cfg.Refill))
	}
	b.last = now
}

// stale reports whether forgetting a changes nothing that matters any more.
func (t *Throttle) accountStale(a *accountState, now time.Time) bool {
	return !now.Before(a.lockedUntil) && now.Sub(a.lastFailure) >= t.cfg.ForgetAfter
}

// bucketFull reports whether b has refilled to Burst, so that dropping it
// changes nothing.
func (t *Throttle) bucketFull(b *bucket, now time.Time) bool {
	return float64(now.Sub(b.last)) >= (float64(t.cfg.Burst)-b.tokens)*float64(t.cfg.Refill)
}

// maybeSweep drops stale entries at most once a sweepEvery.
func (t *Throttle) maybeSweep(now time.Time) {
	if now.Sub(t.lastSweep) < sweepEvery && !now.Before(t.lastSweep) {
		return
	}
	t.lastSweep = now
	t.sweep(now)
}

func (t *Throttle) sweep(now time.Time) {
	for k, a := range t.accounts {
		if t.accountStale(a, now) {
			delete(t.accounts, k)
		}
	}
	for k, b := range t.ips {
		if t.bucketFull(b, now) {
			delete(t.ips, k)
		}
	}
}

// headroom returns how many entries to free when a map of capacity limit is
// full, so that a full map is swept once per max/8 insertions, not each time.
func headroom(limit int) int { return limit/8 + 1 }

// makeRoomAccounts makes room for one more account when the map is full:
// stale entries go first, then unlocked ones, then (only if every tracked
// account is locked) any.
func (t *Throttle) makeRoomAccounts(now time.Time) {
	if len(t.accounts) < t.cfg.MaxAccounts {
		return
	}
	t.sweep(now)
	target := t.cfg.MaxAccounts - headroom(t.cfg.MaxAccounts)
	for k, a := range t.accounts {
		if len(t.accounts) <= target {
			return
		}
		if !now.Before(a.lockedUntil) {
			delete(t.accounts, k)
		}
	}
	for k := range t.accounts {
		if len(t.accounts) <= target {
			return
		}
		delete(t.accounts, k)
	}
}

// makeRoomIPs makes room for one more IP when the map is full: full buckets
// go first, then any (a forgotten IP starts again with a full bucket).
func (t *Throttle) makeRoomIPs(now time.Time) {
	if len(t.ips) < t.cfg.MaxIPs {
		return
	}
	t.sweep(now)
	target := t.cfg.MaxIPs - headroom(t.cfg.MaxIPs)
	for k := range t.ips {
		if len(t.ips) <= target {
			return
		}
		delete(t.ips, k)
	}
}
