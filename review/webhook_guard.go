package review

import (
	"sync"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// Wrong webhook tokens (issue 9): each client IP may present a few wrong tokens, then
// is refused (429 with Retry-After) until its bucket refills; and the log gets one WARN
// line for the first wrong token of an IP in a window, then one line per window with the
// count, not a line per guess.
const (
	WebhookWrongBurst  = 10               // wrong tokens an IP may present at once
	WebhookWrongRefill = 6 * time.Second  // time to earn back one (10 a minute)
	WebhookLogWindow   = 10 * time.Minute // at most one WARN line per IP and window
	webhookGuardMaxIPs = 10_000           // IPs tracked at most (memory bound)
)

// webhookGuard is the per-IP token bucket and log sampler of wrong webhook tokens. It
// is safe for concurrent use; its memory is bounded by webhookGuardMaxIPs.
type webhookGuard struct {
	now func() time.Time

	mu  sync.Mutex
	ips map[string]*wrongTokens
}

type wrongTokens struct {
	tokens   float64
	last     time.Time // of the last refill
	loggedAt time.Time // of the last WARN line; zero: none yet
	unlogged int       // refusals since the last WARN line
}

func newWebhookGuard(now func() time.Time) *webhookGuard {
	return &webhookGuard{now: now, ips: make(map[string]*wrongTokens)}
}

// allow reports whether ip may present a token now; when not, retryAfter is how long it
// must wait for its next try.
func (g *webhookGuard) allow(ip string) (ok bool, retryAfter time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.ips[store.ClientKey(ip)]
	if w == nil {
		return true, 0
	}
	g.refill(w, g.now())
	if w.tokens >= 1 {
		return true, 0
	}
	return false, max(time.Duration((1-w.tokens)*float64(WebhookWrongRefill)), time.Second)
}

// refuse records a refusal of ip (a wrong token spends one of its tokens, spend; a
// refusal while limited spends none) and says whether to log it now, with how many
// refusals the line stands for (those since the last line, this one included).
func (g *webhookGuard) refuse(ip string, spend bool) (logNow bool, count int) {
	now := g.now()
	key := store.ClientKey(ip)
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.ips[key]
	if w == nil {
		g.makeRoom(now)
		w = &wrongTokens{tokens: WebhookWrongBurst, last: now}
		g.ips[key] = w
	}
	g.refill(w, now)
	if spend && w.tokens >= 1 {
		w.tokens--
	}
	w.unlogged++
	if w.loggedAt.IsZero() || now.Sub(w.loggedAt) >= WebhookLogWindow || now.Before(w.loggedAt) {
		count, w.unlogged, w.loggedAt = w.unlogged, 0, now
		return true, count
	}
	return false, 0
}

func (g *webhookGuard) refill(w *wrongTokens, now time.Time) {
	if d := now.Sub(w.last); d > 0 {
		w.tokens = min(WebhookWrongBurst, w.tokens+float64(d)/float64(WebhookWrongRefill))
	}
	w.last = now
}

// makeRoom drops entries when the map is full: those whose bucket refilled and whose
// log window is over first, then any (a forgotten IP starts again with a full bucket).
func (g *webhookGuard) makeRoom(now time.Time) {
	if len(g.ips) < webhookGuardMaxIPs {
		return
	}
	for k, w := range g.ips {
		g.refill(w, now)
		if w.tokens >= WebhookWrongBurst && now.Sub(w.loggedAt) >= WebhookLogWindow {
			delete(g.ips, k)
		}
	}
	for k := range g.ips {
		if len(g.ips) < webhookGuardMaxIPs*7/8 {
			return
		}
		delete(g.ips, k)
	}
}
