// Package mobbscan is a client of the Mobbscan API Gateway, Mobbeel's
// identity verification service (see /work/shared/mobbscan-contract.md).
//
// The client is hardened for a portal that decides on identity checks: it
// caches and renews the access token itself (one renewal shared by all
// callers, one retry after a 401), bounds every phase of a call with a
// timeout, never follows redirects, caps JSON bodies, streams evidence
// without buffering it, decodes answers tolerantly, and returns typed errors
// that never carry the token, the secret or identity data.
//
// Timeouts:
//   - DialTimeout bounds connecting (and the TLS handshake).
//   - HeaderTimeout bounds each attempt from sending the request to receiving
//     the response headers, for every call including evidence.
//   - CallTimeout bounds a whole JSON call: token, attempts (read retries and
//     their pauses included), retry after a 401 and reading the body. It does
//     not apply to evidence streams.
//   - StallTimeout bounds each wait for the next bytes of an evidence stream,
//     so a stalled gateway is cut off while a long video keeps flowing for as
//     long as the caller's context allows.
//
// Transient failures (O4): idempotent reads (Process, Status, Evidence, ZIP)
// are retried ReadRetries times after a failure that says nothing about the
// request itself: no answer (connection refused or reset, a timeout), a 5xx,
// or a 429 or 503 whose Retry-After is short (at most 2 s). The pauses are
// jittered and grow: 100–300 ms, then 300–900 ms by default. Retries stay
// within the call's context and, for JSON calls, within CallTimeout; a pause
// that would outlast the context is not taken: the last error is returned at
// once. Evidence is retried only while no byte of its body has been handed
// to the caller. Writes (create, accept, reject, pending, delete) are never
// retried, nor is any other 4xx; the one token renewal after a 401 is not a
// retry and stays as it is.
//
// Outages: the client notices when the gateway has been failing (no answer,
// timeouts, 5xx or 429 on at least three attempts in a row over at least five
// seconds, by Config.Now) and, on the first answer after that, runs the
// function given to SetOnRecover, so that work held back by long backoffs
// resumes within seconds of the gateway answering again.
package mobbscan

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// BaseURL is the gateway's absolute http or https URL, optionally with
	// a path prefix; no user info, query or fragment.
	BaseURL string
	// APIKey and APISecret are the credentials of the token endpoint.
	APIKey    string
	APISecret string
	// DecisionType is sent as "type" with decisions (default "MANUAL").
	DecisionType string

	DialTimeout   time.Duration // connect and TLS handshake (default 5s)
	HeaderTimeout time.Duration // request sent to response headers, per attempt (default 15s)
	CallTimeout   time.Duration // whole JSON call including token, retries and their pauses (default 30s)
	StallTimeout  time.Duration // evidence: longest wait for the next bytes (default 30s)

	MaxJSONBytes     int64 // cap of a JSON response body (default 4 MiB)
	MaxEvidenceBytes int64 // cap of an evidence stream (default 256 MiB)

	// ReadRetries is how many times an idempotent read is retried after a
	// transient failure (default 2; negative: never).
	ReadRetries int
	// RetryDelay is the base of the jittered pauses between read attempts:
	// the n-th pause is drawn from [d·3^(n-1), 3·d·3^(n-1)], at most 5 s
	// (default 100 ms: 100–300 ms, then 300–900 ms).
	RetryDelay time.Duration

	// Transport replaces the default transport (tests). The header, call
	// and stall timeouts still apply; DialTimeout is the transport's business.
	Transport http.RoundTripper
	// Now is the clock of token renewal, Retry-After dates and outage
	// detection (default time.Now).
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultDecisionType     = "MANUAL"
	DefaultDialTimeout      = 5 * time.Second
	DefaultHeaderTimeout    = 15 * time.Second
	DefaultCallTimeout      = 30 * time.Second
	DefaultStallTimeout     = 30 * time.Second
	DefaultMaxJSONBytes     = 4 << 20
	DefaultMaxEvidenceBytes = 256 << 20
	DefaultReadRetries      = 2
	DefaultRetryDelay       = 100 * time.Millisecond
)

// Limits of the retry policy and of outage detection.
const (
	maxRetryWait   = 2 * time.Second // a longer Retry-After is returned to the caller, not waited for
	maxRetryPause  = 5 * time.Second // cap of one jittered pause
	outageAttempts = 3               // failed attempts in a row ...
	outageAfter    = 5 * time.Second // ... over at least this long make an outage
)

const (
	userAgent = "mobbscan-review-portal"
	maxIDLen  = 256
)

// Client calls the gateway. It is safe for concurrent use.
type Client struct {
	cfg    Config
	base   string // BaseURL without a trailing slash
	http   *http.Client
	auth   tokenCache
	health health
	// observe is told of every attempt (SetObserver); nil when nobody listens.
	observe atomic.Pointer[func(endpoint string, d time.Duration, err error)]
}

// SetObserver sets f to be told of every request sent to the gateway, each attempt
// apart (read retries and token requests included): the endpoint's name (one of the
// names of Error.Endpoint, never the URL), the time from sending to the response
// headers, and nil for a 2xx answer, else an *Error whose sentinel says what went
// wrong (no answer, or the status answered). It runs on the caller's goroutine and
// must not block; nil removes it. For the portal's metrics.
func (c *Client) SetObserver(f func(endpoint string, d time.Duration, err error)) {
	if f == nil {
		c.observe.Store(nil)
		return
	}
	c.observe.Store(&f)
}

// observeAttempt tells the observer of one attempt: err is the attempt's failure, or
// nil with the status the gateway answered.
func (c *Client) observeAttempt(ep string, start time.Time, code int, err error) {
	f := c.observe.Load()
	if f == nil {
		return
	}
	if err == nil && (code < 200 || code > 299) {
		err = &Error{Endpoint: ep, StatusCode: code, Err: sentinelFor(code)}
	}
	(*f)(ep, time.Since(start), err)
}

// New returns a Client for cfg. It fails when the base URL is not an
// absolute http(s) URL without user info, query or fragment, when a
// credential is missing, or when a limit is negative.
func New(cfg Config) (*Client, error) {
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.APIKey == "" || cfg.APISecret == "" {
		return nil, errors.New("mobbscan: API key and secret are required")
	}
	if cfg.DialTimeout < 0 || cfg.HeaderTimeout < 0 || cfg.CallTimeout < 0 || cfg.StallTimeout < 0 ||
		cfg.MaxJSONBytes < 0 || cfg.MaxEvidenceBytes < 0 || cfg.RetryDelay < 0 {
		return nil, errors.New("mobbscan: timeouts and limits must not be negative")
	}
	cfg.DecisionType = strings.TrimSpace(cfg.DecisionType)
	if cfg.DecisionType == "" {
		cfg.DecisionType = DefaultDecisionType
	}
	setDefault(&cfg.DialTimeout, DefaultDialTimeout)
	setDefault(&cfg.HeaderTimeout, DefaultHeaderTimeout)
	setDefault(&cfg.CallTimeout, DefaultCallTimeout)
	setDefault(&cfg.StallTimeout, DefaultStallTimeout)
	setDefault(&cfg.MaxJSONBytes, DefaultMaxJSONBytes)
	setDefault(&cfg.MaxEvidenceBytes, DefaultMaxEvidenceBytes)
	setDefault(&cfg.RetryDelay, DefaultRetryDelay)
	switch {
	case cfg.ReadRetries == 0:
		cfg.ReadRetries = DefaultReadRetries
	case cfg.ReadRetries < 0:
		cfg.ReadRetries = 0
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	rt := cfg.Transport
	if rt == nil {
		rt = newTransport(cfg)
	}
	return &Client{
		cfg:  cfg,
		base: base,
		http: &http.Client{
			Transport: rt,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // a redirect is answered as ErrBadResponse
			},
		},
	}, nil
}

func setDefault[T time.Duration | int64](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

func parseBaseURL(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	switch {
	case err != nil, u.Scheme != "http" && u.Scheme != "https", u.Host == "", u.Opaque != "":
		return "", errors.New("mobbscan: base URL must be an absolute http or https URL")
	case u.User != nil:
		return "", errors.New("mobbscan: base URL must not carry user info")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", errors.New("mobbscan: base URL must not have a query or fragment")
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func newTransport(cfg Config) *http.Transport {
	d := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   cfg.DialTimeout,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		ResponseHeaderTimeout: cfg.HeaderTimeout,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
	}
}

// CreateRequest is what CreateOnboarding sends.
type CreateRequest struct {
	CountryID   string            // ISO 3166 alpha-3, e.g. ESP (required)
	DocType     string            // e.g. IDCard, Passport, DriverLicense (required)
	RedirectURL string            // where the user's browser goes at the end (optional)
	ScanID      string            // caller-chosen UUID (optional)
	ExtraData   map[string]string // the integrator's own references (optional)
}

// CreateOnboarding creates an onboarding process.
func (c *Client) CreateOnboarding(ctx context.Context, req CreateRequest) (*Onboarding, error) {
	const ep = "create"
	if strings.TrimSpace(req.CountryID) == "" || strings.TrimSpace(req.DocType) == "" {
		return nil, errorf(ep, ErrBadRequest, "country and document type are required")
	}
	body := createRequest{
		CountryID:   strings.TrimSpace(req.CountryID),
		DocType:     strings.TrimSpace(req.DocType),
		RedirectURL: req.RedirectURL,
		ScanID:      req.ScanID,
		ExtraData:   req.ExtraData,
	}
	data, code, err := c.callJSON(ctx, ep, http.MethodPost, pathCreate, body, mapValues(req.ExtraData))
	if err != nil {
		return nil, err
	}
	ob, err := decodeOnboarding(data)
	if err != nil {
		return nil, badResponse(ep, code, err)
	}
	if validateID(ob.VerificationID) != nil {
		return nil, badResponse(ep, code, errors.New("response has no usable verification id"))
	}
	return ob, nil
}

// Process returns the full information of a process.
func (c *Client) Process(ctx context.Context, id string) (*Process, error) {
	const ep = "process"
	if err := validateID(id); err != nil {
		return nil, errorf(ep, ErrBadRequest, "%v", err)
	}
	data, code, err := c.callJSON(ctx, ep, http.MethodGet, pathProcess(id), nil, nil)
	if err != nil {
		return nil, err
	}
	p, err := decodeProcess(data)
	if err != nil {
		return nil, badResponse(ep, code, err)
	}
	if p.VerificationID, err = sameID(id, p.VerificationID); err != nil {
		return nil, badResponse(ep, code, err)
	}
	return p, nil
}

// Status returns the status of a process.
func (c *Client) Status(ctx context.Context, id string) (*StatusResult, error) {
	const ep = "status"
	if err := validateID(id); err != nil {
		return nil, errorf(ep, ErrBadRequest, "%v", err)
	}
	data, code, err := c.callJSON(ctx, ep, http.MethodGet, pathStatus(id), nil, nil)
	if err != nil {
		return nil, err
	}
	s, err := decodeStatus(data)
	if err != nil {
		return nil, badResponse(ep, code, err)
	}
	if s.VerificationID, err = sameID(id, s.VerificationID); err != nil {
		return nil, badResponse(ep, code, err)
	}
	return s, nil
}

// Accept accepts a process, optionally with the agent's corrections to the
// personal data. A 409 whose CurrentStatus is StatusVerified means the
// process already has this verdict.
func (c *Client) Accept(ctx context.Context, id string, personalData map[string]string) (*DecisionResult, error) {
	const ep = "accept"
	if err := validateID(id); err != nil {
		return nil, errorf(ep, ErrBadRequest, "%v", err)
	}
	body := acceptRequest{VerificationID: id, Type: c.cfg.DecisionType, PersonalData: personalData}
	data, code, err := c.callJSON(ctx, ep, http.MethodPost, pathAccept, body, mapValues(personalData))
	if err != nil {
		return nil, err
	}
	return decisionResult(ep, id, code, data)
}

// Reject rejects a process with a reason, which must not be blank. A 409
// whose CurrentStatus is StatusNotVerified means the process already has
// this verdict.
func (c *Client) Reject(ctx context.Context, id, comment string) (*DecisionResult, error) {
	const ep = "reject"
	if err := validateID(id); err != nil {
		return nil, errorf(ep, ErrBadRequest, "%v", err)
	}
	comment = strings.TrimSpace(comment)
	if comment == "" {
		return nil, errorf(ep, ErrBadRequest, "a rejection comment is required")
	}
	body := rejectRequest{VerificationID: id, Type: c.cfg.DecisionType, RejectionComment: comment}
	data, code, err := c.callJSON(ctx, ep, http.MethodPost, pathReject, body, []string{comment})
	if err != nil {
		return nil, err
	}
	return decisionResult(ep, id, code, data)
}

// Pending sends a finished process back to manual review.
func (c *Client) Pending(ctx context.Context, id string) error {
	const ep = "pending"
	if err := validateID(id); err != nil {
		return errorf(ep, ErrBadRequest, "%v", err)
	}
	_, _, err := c.callJSON(ctx, ep, http.MethodPost, pathPending, pendingRequest{VerificationID: id}, nil)
	return err
}

// Delete deletes a process and its data on the gateway.
func (c *Client) Delete(ctx context.Context, id string) error {
	const ep = "delete"
	if err := validateID(id); err != nil {
		return errorf(ep, ErrBadRequest, "%v", err)
	}
	_, _, err := c.callJSON(ctx, ep, http.MethodDelete, pathDelete(id), nil, nil)
	return err
}

func decisionResult(ep, id string, code int, data []byte) (*DecisionResult, error) {
	r, err := decodeDecision(data)
	if err != nil {
		return nil, badResponse(ep, code, err)
	}
	if r.VerificationID, err = sameID(id, r.VerificationID); err != nil {
		return nil, badResponse(ep, code, err)
	}
	return r, nil
}

// sameID checks that a response is about the process asked for; an absent id
// is filled in.
func sameID(want, got string) (string, error) {
	if got != "" && got != want {
		return "", errors.New("response is about another process")
	}
	return want, nil
}

func badResponse(ep string, code int, cause error) *Error {
	return &Error{Endpoint: ep, StatusCode: code, Err: ErrBadResponse, cause: cause, ambiguous: true}
}

// validateID accepts ids that are safe as one path segment: 1 to 256 bytes of
// valid UTF-8 without '/', '\', spaces or control characters, and not "." or "..".
func validateID(id string) error {
	if id == "" || len(id) > maxIDLen || id == "." || id == ".." || !utf8.ValidString(id) {
		return errors.New("invalid verification id")
	}
	for _, r := range id {
		if r == '/' || r == '\\' || unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
			return errors.New("invalid verification id")
		}
	}
	return nil
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// callJSON runs a JSON call within CallTimeout and returns the body of a 2xx
// answer and its status. A GET is an idempotent read: it is retried after a
// transient failure (see retryPause); nothing else is.
func (c *Client) callJSON(ctx context.Context, ep, method, path string, reqBody any, redact []string) ([]byte, int, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.cfg.CallTimeout, errCallTimeout)
	defer cancel()
	var body []byte
	if reqBody != nil {
		var err error
		if body, err = json.Marshal(reqBody); err != nil {
			return nil, 0, errorf(ep, ErrBadRequest, "cannot encode the request")
		}
	}
	retries := 0
	if method == http.MethodGet {
		retries = c.cfg.ReadRetries
	}
	for attempt := 1; ; attempt++ {
		data, code, transient, err := c.callOnce(ctx, ep, method, path, body, redact)
		if err == nil || !transient || attempt > retries || !c.retryPause(ctx, attempt, err) {
			return data, code, err
		}
	}
}

// callOnce makes one attempt of a JSON call. transient reports a failure
// that a retry may cure.
func (c *Client) callOnce(ctx context.Context, ep, method, path string, body []byte, redact []string) (data []byte, code int, transient bool, err error) {
	x, err := c.do(ctx, ep, method, path, body, nil)
	if err != nil {
		return nil, 0, retryable(err), err
	}
	defer x.close()
	code = x.resp.StatusCode
	if code < 200 || code > 299 {
		e := c.statusError(ep, x, redact)
		return nil, code, retryable(e), e
	}
	data, transient, err = c.readBody(ep, x)
	return data, code, transient, err
}

// retryable reports whether a failed attempt is worth repeating: no answer
// (network error or timeout, including the token request's), a 5xx, or a 429.
// Any other 4xx, and anything the gateway answered that the client could not
// use, is final.
func retryable(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch {
	case e.StatusCode == http.StatusTooManyRequests, e.StatusCode >= 500 && e.StatusCode <= 599:
		return true
	case e.StatusCode == 0:
		return e.Err == ErrUnavailable
	}
	return false
}

// retryPause waits before attempt+1 of a read that failed with err and
// reports whether to make it: not when the gateway asked for a wait longer
// than maxRetryWait, nor when the pause would outlast ctx (the caller then
// gets err at once rather than a context error later).
func (c *Client) retryPause(ctx context.Context, attempt int, err error) bool {
	d := c.retryDelay(attempt)
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		if e.RetryAfter > maxRetryWait {
			return false
		}
		d = max(d, e.RetryAfter)
	}
	if ctx.Err() != nil {
		return false
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// retryDelay is the jittered pause after the attempt-th attempt: uniform in
// [RetryDelay·3^(attempt-1), 3·RetryDelay·3^(attempt-1)], at most maxRetryPause.
func (c *Client) retryDelay(attempt int) time.Duration {
	lo := c.cfg.RetryDelay
	for i := 1; i < attempt && lo < maxRetryPause; i++ {
		lo *= 3
	}
	lo = min(lo, maxRetryPause/3)
	return lo + rand.N(2*lo+1)
}

// exchange is one request and its response; close releases both.
type exchange struct {
	resp   *http.Response
	ctx    context.Context // the attempt's context, alive until close
	cancel context.CancelCauseFunc
}

func (x *exchange) close() {
	x.resp.Body.Close()
	x.cancel(nil)
}

// do sends a gateway request with the access token; on a 401 it renews the
// token (unless another caller already did) and retries once.
func (c *Client) do(ctx context.Context, ep, method, path string, body []byte, hdr http.Header) (*exchange, error) {
	tok, err := c.token(ctx, "")
	if err != nil {
		return nil, err
	}
	for retried := false; ; retried = true {
		x, err := c.roundTrip(ctx, ep, method, path, body, hdr, tok)
		if err != nil {
			return nil, err
		}
		if x.resp.StatusCode != http.StatusUnauthorized || retried {
			return x, nil
		}
		x.close()
		if tok, err = c.token(ctx, tok); err != nil {
			return nil, err
		}
	}
}

// roundTrip sends one request and waits at most HeaderTimeout for the
// response headers. The response body stays bound to the returned exchange.
// It tells the outage detector whether the gateway answered.
func (c *Client) roundTrip(ctx context.Context, ep, method, path string, body []byte, hdr http.Header, token string) (*exchange, error) {
	actx, cancel := context.WithCancelCause(ctx)
	var wrote atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) },
	})
	var rb io.Reader = http.NoBody
	if body != nil {
		rb = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, method, c.base+path, rb)
	if err != nil {
		cancel(nil)
		return nil, errorf(ep, ErrBadRequest, "cannot build the request")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", userAgent)
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	timer := time.AfterFunc(c.cfg.HeaderTimeout, func() { cancel(errHeaderTimeout) })
	start := time.Now() // metrics: the attempt's latency (SetObserver)
	resp, err := c.http.Do(req)
	if !timer.Stop() && err == nil {
		// The header timeout fired as the headers arrived: the body is dead.
		resp.Body.Close()
		err = errHeaderTimeout
	}
	if err != nil {
		var cause error
		if actx.Err() != nil {
			cause = context.Cause(actx)
		}
		cancel(nil)
		if gatewayFault(cause) {
			c.noteFailure()
		}
		ne := netError(ep, err, cause, wrote.Load())
		c.observeAttempt(ep, start, 0, ne)
		return nil, ne
	}
	c.observeAttempt(ep, start, resp.StatusCode, nil)
	if code := resp.StatusCode; code == http.StatusTooManyRequests || code >= 500 {
		c.noteFailure()
	} else {
		c.noteAnswer()
	}
	return &exchange{resp: resp, ctx: actx, cancel: cancel}, nil
}

// gatewayFault reports whether a failed exchange is the gateway's doing, given
// the cause of its context (nil when the context was not done): a network
// error, or one of the client's own time limits. The caller giving up (its
// cancellation or deadline, or closing an evidence stream) is not.
func gatewayFault(ctxCause error) bool {
	return ctxCause == nil || errors.Is(ctxCause, errHeaderTimeout) || errors.Is(ctxCause, errCallTimeout) ||
		errors.Is(ctxCause, errStalled)
}

// readJSON reads a success body, at most MaxJSONBytes.
func (c *Client) readJSON(ep string, x *exchange) ([]byte, error) {
	data, _, err := c.readBody(ep, x)
	return data, err
}

// readBody is readJSON that also reports whether a failure is transient: a
// body cut short by the connection or a time limit (not an oversized one).
func (c *Client) readBody(ep string, x *exchange) (data []byte, transient bool, err error) {
	code := x.resp.StatusCode
	data, err = io.ReadAll(io.LimitReader(x.resp.Body, c.cfg.MaxJSONBytes+1))
	if err != nil {
		cause := causeOf(x.ctx)
		transient = gatewayFault(cause)
		if transient {
			c.noteFailure()
		}
		if cause == nil && errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, transient, badResponse(ep, code, errors.New("truncated response body"))
		}
		e := netError(ep, err, cause, true)
		e.StatusCode = code
		return nil, transient, e
	}
	if int64(len(data)) > c.cfg.MaxJSONBytes {
		return nil, false, badResponse(ep, code, fmt.Errorf("response body exceeds %d bytes", c.cfg.MaxJSONBytes))
	}
	return data, false, nil
}

func causeOf(ctx context.Context) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// statusError describes a response whose status the call does not accept.
func (c *Client) statusError(ep string, x *exchange, redact []string) *Error {
	resp := x.resp
	code := resp.StatusCode
	e := &Error{Endpoint: ep, StatusCode: code, Err: sentinelFor(code), ambiguous: code >= 500}
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		e.RetryAfter, _ = parseRetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now())
	}
	if code >= 300 && code <= 399 {
		e.Description = "unexpected redirect"
		return e
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if code == http.StatusConflict {
		e.CurrentStatus, e.CurrentStage = decodeConflict(data)
	}
	e.Description = sanitize(errorDescription(data), append(c.secrets(), redact...))
	return e
}

// secrets are the strings no error description may contain.
func (c *Client) secrets() []string {
	s := []string{c.cfg.APISecret, c.cfg.APIKey}
	if t := c.cachedToken(); t != "" {
		s = append(s, t)
	}
	return s
}

// health is the client's view of whether the gateway is failing (O4).
type health struct {
	mu        sync.Mutex
	streak    int       // attempts failed in a row, with no answer in between
	since     time.Time // when the streak began
	down      bool      // the streak makes an outage
	onRecover func()
	dirty     atomic.Bool // streak > 0: an answer has something to reset
}

// SetOnRecover sets f to run when the gateway answers again after an outage
// (see Failing); nil removes it, and a later call replaces an earlier one.
// f runs in its own goroutine, once per recovery, so it never delays the
// call that noticed the recovery; it may call the client.
func (c *Client) SetOnRecover(f func()) {
	c.health.mu.Lock()
	c.health.onRecover = f
	c.health.mu.Unlock()
}

// Failing reports whether the gateway is in an outage as the client sees it:
// at least three attempts in a row got no answer, timed out, or were answered
// 5xx or 429, over at least five seconds (by Config.Now), and nothing has
// answered since. Any answer of the gateway (a success, or a 4xx other than
// 429) ends the outage.
func (c *Client) Failing() bool {
	c.health.mu.Lock()
	defer c.health.mu.Unlock()
	return c.health.down
}

// noteFailure records an attempt the gateway failed.
func (c *Client) noteFailure() {
	h := &c.health
	now := c.cfg.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.streak == 0 {
		h.since = now
	}
	h.streak++
	h.dirty.Store(true)
	if h.streak >= outageAttempts && now.Sub(h.since) >= outageAfter {
		h.down = true
	}
}

// noteAnswer records that the gateway answered, and runs the recovery hook
// when that ends an outage.
func (c *Client) noteAnswer() {
	h := &c.health
	if !h.dirty.Load() {
		return // the common case: nothing failed
	}
	h.mu.Lock()
	recovered, f := h.down, h.onRecover
	h.streak, h.down = 0, false
	h.dirty.Store(false)
	h.mu.Unlock()
	if recovered && f != nil {
		go f()
	}
}
