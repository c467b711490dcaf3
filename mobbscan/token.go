package mobbscan

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// defaultTokenLifetime is assumed when the token carries no readable exp.
const defaultTokenLifetime = 15 * time.Minute

// maxTokenLen bounds an access token (it travels in a header).
const maxTokenLen = 8 << 10

// tokenCache holds the access token. One renewal runs at a time; callers
// that need a token meanwhile wait for it.
type tokenCache struct {
	mu      sync.Mutex
	token   string
	renewAt time.Time
	renewal *renewal // in flight, or nil
}

type renewal struct {
	done  chan struct{}
	token string
	err   error
}

// token returns a usable access token. stale is a token the gateway just
// refused: if it is still the cached one it is dropped and renewed, otherwise
// the newer cached token is returned.
func (c *Client) token(ctx context.Context, stale string) (string, error) {
	a := &c.auth
	a.mu.Lock()
	if a.token != "" && a.token != stale && c.cfg.Now().Before(a.renewAt) {
		t := a.token
		a.mu.Unlock()
		return t, nil
	}
	if stale != "" && a.token == stale {
		a.token = ""
	}
	r := a.renewal
	if r == nil {
		r = &renewal{done: make(chan struct{})}
		a.renewal = r
		// The renewal belongs to no single caller: it runs on its own with
		// CallTimeout, so one caller giving up does not fail the others.
		go c.renew(context.WithoutCancel(ctx), r)
	}
	a.mu.Unlock()
	select {
	case <-r.done:
		return r.token, r.err
	case <-ctx.Done():
		return "", netError("token", ctx.Err(), context.Cause(ctx), false)
	}
}

func (c *Client) cachedToken() string {
	c.auth.mu.Lock()
	defer c.auth.mu.Unlock()
	return c.auth.token
}

func (c *Client) renew(ctx context.Context, r *renewal) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.cfg.CallTimeout, errCallTimeout)
	defer cancel()
	tok, renewAt, err := c.requestToken(ctx)
	a := &c.auth
	a.mu.Lock()
	if err == nil {
		a.token, a.renewAt = tok, renewAt
	}
	a.renewal = nil
	r.token, r.err = tok, err
	a.mu.Unlock()
	close(r.done)
}

// requestToken asks the token endpoint for a new access token and computes
// when to renew it.
func (c *Client) requestToken(ctx context.Context) (string, time.Time, error) {
	const ep = "token"
	body, err := json.Marshal(tokenRequest{APIKey: c.cfg.APIKey, APISecret: c.cfg.APISecret})
	if err != nil {
		return "", time.Time{}, errorf(ep, ErrBadRequest, "cannot encode the request")
	}
	x, err := c.roundTrip(ctx, ep, http.MethodPost, pathToken, body, nil, "")
	if err != nil {
		return "", time.Time{}, err
	}
	defer x.close()
	code := x.resp.StatusCode
	if code < 200 || code > 299 {
		return "", time.Time{}, c.statusError(ep, x, nil)
	}
	data, err := c.readJSON(ep, x)
	if err != nil {
		return "", time.Time{}, err
	}
	o, err := parseObject(data)
	if err != nil {
		return "", time.Time{}, badResponse(ep, code, err)
	}
	tok := o.str(fieldAccessToken)
	if !validToken(tok) {
		return "", time.Time{}, badResponse(ep, code, errors.New("response has no usable access token"))
	}
	now := c.cfg.Now()
	return tok, renewTime(tok, now), nil
}

// validToken accepts tokens that fit in a header: visible ASCII only.
func validToken(t string) bool {
	if t == "" || len(t) > maxTokenLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] >= 0x7f {
			return false
		}
	}
	return true
}

// renewTime returns when a token received at now should be renewed: a tenth
// of its lifetime (at most a minute) before it expires. The lifetime is
// exp-now, bounded by exp-iat when the token says when it was issued (so a
// clock behind the gateway's does not keep a token too long, and one ahead
// does not renew on every call). A token without exp lives 15 minutes.
func renewTime(tok string, now time.Time) time.Time {
	life := defaultTokenLifetime
	if exp, iat, ok := parseJWTExp(tok); ok {
		life = exp.Sub(now)
		if !iat.IsZero() && exp.After(iat) {
			if issued := exp.Sub(iat); life > issued || life <= 0 {
				life = issued
			}
		}
	}
	if life <= 0 {
		return now // use it for this call only
	}
	return now.Add(life - min(life/10, time.Minute))
}

// parseJWTExp reads the exp (and iat, when present) claims of a JWS compact
// token without verifying it. ok is false when there is no readable exp.
func parseJWTExp(tok string) (exp, iat time.Time, ok bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(parts[1]) > maxTokenLen {
		return time.Time{}, time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, time.Time{}, false
	}
	claims, err := parseObject(payload)
	if err != nil {
		return time.Time{}, time.Time{}, false
	}
	exp, ok = numericDate(claims[claimExp])
	if !ok {
		return time.Time{}, time.Time{}, false
	}
	iat, _ = numericDate(claims[claimIat])
	return exp, iat, true
}

// numericDate reads a JWT NumericDate (seconds since the epoch, possibly
// fractional) between 1970 and 9999.
func numericDate(r json.RawMessage) (time.Time, bool) {
	s, ok := scalar(r)
	if !ok {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || f <= 0 || f > 253402300799 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}
