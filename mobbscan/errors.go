package mobbscan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors. Every error the client returns is an *Error whose Unwrap
// yields exactly one of these, so callers branch with errors.Is.
var (
	// ErrNotFound: the gateway does not know the id (404, 410), or the
	// process lacks the requested evidence.
	ErrNotFound = errors.New("mobbscan: not found")
	// ErrConflict: the process is not in a state that allows the decision
	// (409); Error.CurrentStatus tells what it is.
	ErrConflict = errors.New("mobbscan: conflict")
	// ErrUnauthorized: the credentials were refused (401 from the token
	// endpoint, a second 401 after a renewal, or 403).
	ErrUnauthorized = errors.New("mobbscan: unauthorized")
	// ErrRateLimited: 429; Error.RetryAfter tells how long to wait.
	ErrRateLimited = errors.New("mobbscan: rate limited")
	// ErrUnavailable: network error, timeout, connection reset, 408 or 5xx.
	// Retry later; if Error.Ambiguous, read the status before re-sending a
	// decision.
	ErrUnavailable = errors.New("mobbscan: unavailable")
	// ErrBadResponse: the gateway answered something the client cannot use:
	// malformed, oversized or truncated JSON, a redirect, an unexpected
	// status, evidence beyond the size cap.
	ErrBadResponse = errors.New("mobbscan: bad response")
	// ErrBadRequest: the request was refused as invalid (other 4xx), or the
	// client refused to send it (invalid id, kind, blank rejection comment).
	ErrBadRequest = errors.New("mobbscan: bad request")
)

// Error describes a failed gateway call. Its message names the endpoint and
// the HTTP status; it never contains the access token, the API secret or the
// identity data the call carried.
type Error struct {
	// Endpoint names the call: token, create, process, status, accept,
	// reject, pending, evidence, zip or delete.
	Endpoint string
	// StatusCode is the HTTP status, or 0 when no response was received or
	// the client refused to send the request.
	StatusCode int
	// CurrentStatus is the process status a 409 body reported, or "" when
	// absent. CurrentStage is its stage, when present.
	CurrentStatus Status
	CurrentStage  string
	// RetryAfter is the wait the gateway asked for (Retry-After on 429 or
	// 503), or 0.
	RetryAfter time.Duration
	// Description is a short, sanitized extract of the error body (or of
	// the client's reason), with secrets and the call's identity data
	// redacted.
	Description string
	// Err is the sentinel: one of the Err* variables.
	Err error
	// ContentRange is the Content-Range of a 416 answer to an evidence Range
	// ("bytes */N": the evidence's length), or "".
	ContentRange string

	cause     error // underlying network, context or decoding error
	ambiguous bool
	timeout   bool
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("mobbscan ")
	b.WriteString(e.Endpoint)
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "mobbscan: "))
	} else {
		b.WriteString("error")
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	}
	if e.CurrentStatus != "" {
		fmt.Fprintf(&b, ", process is %s", e.CurrentStatus)
	}
	switch {
	case e.Description != "":
		b.WriteString(": ")
		b.WriteString(e.Description)
	case e.cause != nil:
		b.WriteString(": ")
		b.WriteString(e.cause.Error())
	}
	return b.String()
}

// Unwrap returns the sentinel and, when there is one, the underlying cause
// (for example context.DeadlineExceeded), so errors.Is matches either.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// Ambiguous reports whether the request may have taken effect on the gateway
// although the client got no clear answer: the request was sent and then the
// call timed out or the connection failed, the gateway answered 5xx, or it
// answered 2xx with an unreadable body. Before re-sending a decision after an
// ambiguous error, read the process status (D3).
func (e *Error) Ambiguous() bool { return e.ambiguous }

// Timeout reports whether the call failed because a time limit ran out
// (dial, headers, call or stall timeout, or the caller's deadline).
func (e *Error) Timeout() bool { return e.timeout }

// errorf builds a client-side error (nothing was sent).
func errorf(endpoint string, sentinel error, format string, args ...any) *Error {
	return &Error{Endpoint: endpoint, Err: sentinel, Description: fmt.Sprintf(format, args...)}
}

// sentinelFor maps an HTTP status that is not a success to a sentinel.
func sentinelFor(code int) error {
	switch {
	case code == 401 || code == 403:
		return ErrUnauthorized
	case code == 404 || code == 410:
		return ErrNotFound
	case code == 409:
		return ErrConflict
	case code == 429:
		return ErrRateLimited
	case code == 408 || code >= 500 && code <= 599:
		return ErrUnavailable
	case code >= 400 && code <= 499:
		return ErrBadRequest
	default: // 1xx, 3xx (redirects are never followed), 2xx the call did not expect, nonsense
		return ErrBadResponse
	}
}

// netError classifies an error returned by http.Client.Do or a body read.
// cause is the attempt context's cause when that context is done.
func netError(endpoint string, err, ctxCause error, wrote bool) *Error {
	e := &Error{Endpoint: endpoint, Err: ErrUnavailable, ambiguous: wrote}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // drop the URL from the message
	}
	var ne net.Error
	switch {
	case ctxCause != nil:
		e.cause = ctxCause
		e.timeout = errors.Is(ctxCause, errHeaderTimeout) || errors.Is(ctxCause, errCallTimeout) ||
			errors.Is(ctxCause, errStalled) || errors.Is(ctxCause, context.DeadlineExceeded)
	case errors.As(err, &ne) && ne.Timeout():
		e.cause, e.timeout = err, true
	default:
		e.cause = err
	}
	return e
}

// Causes attached to cancelled contexts.
var (
	errHeaderTimeout = errors.New("timeout awaiting response headers")
	errCallTimeout   = errors.New("call timeout")
	errStalled       = errors.New("evidence stream stalled")
)

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
// The result is clamped to [0, maxRetryAfter]; ok is false when v is empty or
// unreadable.
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		if len(v) > 9 { // more than ~31 years
			return maxRetryAfter, true
		}
		var secs int64
		for _, c := range v {
			secs = secs*10 + int64(c-'0')
		}
		return min(time.Duration(secs)*time.Second, maxRetryAfter), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d = t.Sub(now)
	if d < 0 {
		return 0, true
	}
	return min(d, maxRetryAfter), true
}

// maxRetryAfter bounds what a gateway can ask for.
const maxRetryAfter = 24 * time.Hour

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Limits of error descriptions.
const (
	maxErrorBody   = 4 << 10 // bytes of an error body read for its description
	maxDescription = 1 << 10 // bytes kept in Error.Description
	minRedactLen   = 3       // shorter values are not redacted (too many false hits)
)

// sanitize turns an error body extract into a safe one-line description:
// valid UTF-8, no control characters, secrets and the call's identity data
// replaced by "[redacted]", at most maxDescription bytes.
func sanitize(s string, redact []string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	for _, r := range redact {
		if len(r) >= minRedactLen {
			s = strings.ReplaceAll(s, r, "[redacted]")
		}
	}
	// The extract may end inside a secret: drop a tail that starts one.
	for _, r := range redact {
		if len(r) < minRedactLen {
			continue
		}
		for n := min(len(r)-1, len(s)); n >= minRedactLen; n-- {
			if strings.HasSuffix(s, r[:n]) {
				s = s[:len(s)-n] + "[redacted]"
				break
			}
		}
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxDescription {
		cut := maxDescription
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
