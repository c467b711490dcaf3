package auth

import (
	"context"
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
// Create it with NewSharedThrottle (the portal) or NewThrottle (one process
// alone); the zero value is not usable.
//
// Use it for unknown accounts exactly as for known ones, so that locking
// says nothing about which accounts exist (A4). The IP must be the one the
// caller trusts (Echo's RealIP with a configured IPExtractor); Throttle never
// looks at headers.
//
// Shared, the accounts' state is in the database (issue 13): every instance on
// it counts an account's failures together, each failure once (the read and
// the write are one serialized transaction), so N instances behind a proxy do
// not give an attacker N times the guesses, and a lock holds on all of them.
// The IP buckets stay in each instance's memory: a client spread over N
// instances gets at most N bursts, which the proxy in front (rate-limiting per
// client itself) and the shared account locks bound anyway, and a bucket is
// consulted on every attempt, which is no reason to write to the database.
type Throttle struct {
	// Now returns the current time; tests replace it. Set it before use.
	Now func() time.Time

	cfg ThrottleConfig
	db  *store.DB // shared: the accounts' state; nil: in accounts only

	mu       sync.Mutex
	accounts map[string]*accountState // not shared: every account; shared: the failures the database could not take
	ips      map[string]*bucket
	// lastSweep is when the maps were last swept; lastTableSweep and created, when the
	// table was, and how many accounts this instance added to it since; tableSweeping,
	// that a sweep of the table is under way (one at a time per instance).
	lastSweep      time.Time
	lastTableSweep time.Time
	created        int
	tableSweeping  bool
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

// NewThrottle returns a Throttle with cfg, zero fields taking their defaults,
// that keeps everything in this process's memory: right for a single process
// (tests, tools); the portal uses NewSharedThrottle.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	return &Throttle{
		Now:      time.Now,
		cfg:      cfg.withDefaults(),
		accounts: make(map[string]*accountState),
		ips:      make(map[string]*bucket),
	}
}

// NewSharedThrottle returns a Throttle with cfg that keeps the accounts' state
// in db, shared by every instance on it, the table holding at most about
// MaxAccounts rows (see maybeSweepTable). The IP buckets stay in memory.
func NewSharedThrottle(db *store.DB, cfg ThrottleConfig) *Throttle {
	t := NewThrottle(cfg)
	t.db = db
	return t
}

// tableTimeout bounds one throttle read or write. The caller's context is not
// used: a client that hangs up right after sending a wrong password must still
// have the failure counted.
const tableTimeout = 5 * time.Second

func tableContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), tableTimeout)
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
	if wait := t.lockLeft(accountKey(account), t.Now()); wait > 0 {
		return false, wait
	}
	return true, 0
}

// lockLeft is how much longer the account of key is locked at now; 0 when it
// is not, or key is empty (no account named). Shared, the database says, and
// so does memory, which holds what the database could not take: the longer wins.
func (t *Throttle) lockLeft(key string, now time.Time) time.Duration {
	if key == "" {
		return 0
	}
	var wait time.Duration
	if t.db != nil {
		ctx, cancel := tableContext()
		st, err := t.db.LoginThrottleState(ctx, key, now)
		cancel()
		// An error allows: with the database unreachable no account can be read to sign in.
		if err == nil && now.Before(st.LockedUntil) {
			wait = st.LockedUntil.Sub(now)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if a := t.accounts[key]; a != nil && now.Before(a.lockedUntil) {
		wait = max(wait, a.lockedUntil.Sub(now))
	}
	return wait
}

// Allow reports whether a sign-in attempt by ip for account may go ahead;
// call it before checking the password. When it may not, retryAfter says how
// long to wait and reason is ReasonAccountLocked or ReasonIPRateLimited. An
// allowed attempt spends one of the IP's tokens; a refused one spends none.
// An empty account checks the IP only. IPv6 clients are counted per /64.
func (t *Throttle) Allow(ip, account string) (ok bool, retryAfter time.Duration, reason string) {
	now := t.Now()
	if wait := t.lockLeft(accountKey(account), now); wait > 0 {
		return false, wait, ReasonAccountLocked
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.maybeSweep(now)

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
//
// Shared, the failure is counted in the database; should that fail, it is
// counted in this instance's memory instead, so that an unwritable database
// never means unlimited guesses.
func (t *Throttle) Failure(account string) (lockedNow bool, lockFor time.Duration) {
	now := t.Now()
	key := accountKey(account)
	if t.db != nil {
		ctx, cancel := tableContext()
		defer cancel()
		created, err := t.db.UpdateLoginThrottle(ctx, key, now, func(st *store.LoginThrottle) {
			a := accountState{failures: st.Failures, locks: st.Locks, lockedUntil: st.LockedUntil, lastFailure: st.LastFailure}
			lockedNow, lockFor = t.fail(&a, now)
			*st = store.LoginThrottle{Failures: a.failures, Locks: a.locks, LockedUntil: a.lockedUntil,
				LastFailure: a.lastFailure, ForgetAt: t.forgetAt(&a)}
		})
		if err == nil {
			t.maybeSweepTable(ctx, now, created)
			return lockedNow, lockFor
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.maybeSweep(now)

	a := t.accounts[key]
	if a == nil {
		t.makeRoomAccounts(now)
		a = &accountState{}
		t.accounts[key] = a
	}
	return t.fail(a, now)
}

// fail applies one failure at now to a: the policy Failure documents.
func (t *Throttle) fail(a *accountState, now time.Time) (lockedNow bool, lockFor time.Duration) {
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
	key := accountKey(account)
	if t.db != nil {
		ctx, cancel := tableContext()
		// An error keeps the history: the account is unlocked (it just signed in)
		// and the failures are forgotten after ForgetAfter all the same.
		_ = t.db.ForgetLoginThrottle(ctx, key)
		cancel()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.accounts, key)
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

// forgetAt is when forgetting a changes nothing that matters any more: its lock
// is over and its last failure ForgetAfter old.
func (t *Throttle) forgetAt(a *accountState) time.Time {
	return later(a.lockedUntil, a.lastFailure.Add(t.cfg.ForgetAfter))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// accountStale reports whether forgetting a changes nothing that matters any more.
func (t *Throttle) accountStale(a *accountState, now time.Time) bool {
	return !now.Before(t.forgetAt(a))
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

// maybeSweepTable sweeps the shared table (store.SweepLoginThrottle) when a
// sweepEvery has passed or this instance has added headroom accounts since its
// last sweep, down to MaxAccounts less the headroom: so one instance keeps the
// table at MaxAccounts at most, and N instances at MaxAccounts plus N-1
// headrooms, whatever the spray of made-up accounts. A failed sweep is tried
// again at the next failure.
func (t *Throttle) maybeSweepTable(ctx context.Context, now time.Time, created bool) {
	t.mu.Lock()
	if created {
		t.created++
	}
	due := t.created >= headroom(t.cfg.MaxAccounts) || now.Sub(t.lastTableSweep) >= sweepEvery || now.Before(t.lastTableSweep)
	t.mu.Unlock()
	if due {
		_ = t.sweepTable(ctx, now)
	}
}

// sweepTable sweeps the shared table down to MaxAccounts less the headroom,
// unless this instance is sweeping it already.
func (t *Throttle) sweepTable(ctx context.Context, now time.Time) error {
	t.mu.Lock()
	if t.tableSweeping {
		t.mu.Unlock()
		return nil
	}
	t.tableSweeping = true
	counted := t.created
	t.mu.Unlock()
	_, err := t.db.SweepLoginThrottle(ctx, now, t.cfg.MaxAccounts-headroom(t.cfg.MaxAccounts))
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tableSweeping = false
	if err != nil {
		return err
	}
	// Accounts added while it ran count toward the next sweep.
	t.created, t.lastTableSweep = max(t.created-counted, 0), now
	return nil
}

// Sweep drops what is stale now: for the portal's periodic sweeper, so the
// shared table is tidied even when no sign-in fails for a while.
func (t *Throttle) Sweep(ctx context.Context) error {
	now := t.Now()
	t.mu.Lock()
	t.sweep(now)
	t.mu.Unlock()
	if t.db == nil {
		return nil
	}
	return t.sweepTable(ctx, now)
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
