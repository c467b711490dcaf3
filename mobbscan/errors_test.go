package mobbscan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestStatusMapping(t *testing.T) {
	tests := []struct {
		code          int
		body          string
		header        map[string]string
		want          error
		wantAmbiguous bool
		wantCurrent   Status
		wantStage     string
		wantRetry     time.Duration
	}{
		{code: 400, body: `{"code":400,"description":"rejectionComment is blank"}`, want: ErrBadRequest},
		{code: 403, want: ErrUnauthorized},
		{code: 404, body: `{"code":404,"description":"unknown verification"}`, want: ErrNotFound},
		{code: 405, want: ErrBadRequest},
		{code: 408, want: ErrUnavailable},
		{code: 409, body: `{"code":409,"description":"not in review","status":"VERIFIED","stage":"DONE"}`,
			want: ErrConflict, wantCurrent: StatusVerified, wantStage: "DONE"},
		{code: 409, body: `{"code":409,"status":"SOMETHING"}`, want: ErrConflict, wantCurrent: StatusUnknown},
		{code: 409, body: `not json`, want: ErrConflict},
		{code: 410, want: ErrNotFound},
		{code: 422, want: ErrBadRequest},
		{code: 429, header: map[string]string{"Retry-After": "7"}, want: ErrRateLimited, wantRetry: 7 * time.Second},
		{code: 429, header: map[string]string{"Retry-After": "Fri, 20 Nov 2026 10:01:00 GMT"}, want: ErrRateLimited, wantRetry: time.Minute},
		{code: 429, header: map[string]string{"Retry-After": "soon"}, want: ErrRateLimited},
		{code: 429, want: ErrRateLimited},
		{code: 500, want: ErrUnavailable, wantAmbiguous: true},
		{code: 502, want: ErrUnavailable, wantAmbiguous: true},
		{code: 503, header: map[string]string{"Retry-After": "120"}, want: ErrUnavailable, wantAmbiguous: true, wantRetry: 2 * time.Minute},
		{code: 504, want: ErrUnavailable, wantAmbiguous: true},
		{code: 202, body: `{"verificationId":"v-1","status":"VERIFIED"}`}, // any 2xx is a success
		{code: 204},
		{code: 304, want: ErrBadResponse},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.code), func(t *testing.T) {
			f := newFake(t)
			f.handle("POST "+pathAccept, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				writeJSON(w, tt.code, tt.body)
			})
			_, err := f.client(t).Accept(context.Background(), "v-1", nil)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if e.Endpoint != "accept" || e.StatusCode != tt.code {
				t.Errorf("endpoint, code = %q, %d; want accept, %d", e.Endpoint, e.StatusCode, tt.code)
			}
			if e.Ambiguous() != tt.wantAmbiguous {
				t.Errorf("Ambiguous = %v, want %v", e.Ambiguous(), tt.wantAmbiguous)
			}
			if e.CurrentStatus != tt.wantCurrent || e.CurrentStage != tt.wantStage {
				t.Errorf("current = %q/%q, want %q/%q", e.CurrentStatus, e.CurrentStage, tt.wantCurrent, tt.wantStage)
			}
			if e.RetryAfter != tt.wantRetry {
				t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tt.wantRetry)
			}
			if msg := err.Error(); !strings.Contains(msg, "accept") || !strings.Contains(msg, fmt.Sprint(tt.code)) {
				t.Errorf("message %q does not name the endpoint and status", msg)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	f := newFake(t)
	f.handle("POST "+pathReject, reply(409, `{"code":409,"description":"process is already decided","status":"NOT_VERIFIED"}`))
	_, err := f.client(t).Reject(context.Background(), "v-1", "expired document")
	want := "mobbscan reject: conflict (HTTP 409), process is NOT_VERIFIED: process is already decided"
	if err == nil || err.Error() != want {
		t.Errorf("message = %q, want %q", err, want)
	}
}

// TestNoSecretsInErrors makes the gateway echo everything it got, and checks
// that no error message carries the secret, the token or identity data.
func TestNoSecretsInErrors(t *testing.T) {
	f := newFake(t)
	echo := func(w http.ResponseWriter, r *http.Request) {
		rec := f.requests()
		last := rec[len(rec)-1]
		writeJSON(w, 400, `{"code":400,"description":`+jsonString("bad: "+string(last.Body)+" auth: "+last.Header.Get("Authorization"))+`}`)
	}
	f.handle("POST "+pathAccept, echo)
	f.handle("POST "+pathReject, echo)
	c := f.client(t)
	ctx := context.Background()
	pd := map[string]string{"name": "Ana", "surname": "García-Pérez", "documentNumber": "12345678Z"}
	_, errA := c.Accept(ctx, "v-1", pd)
	_, errR := c.Reject(ctx, "v-1", "face of Juan Nadie does not match")
	tok := c.cachedToken()
	for _, err := range []error{errA, errR} {
		if !errors.Is(err, ErrBadRequest) {
			t.Fatalf("err = %v, want ErrBadRequest", err)
		}
		msg := err.Error()
		for _, secret := range []string{testSecret, tok, "Ana", "García-Pérez", "12345678Z", "Juan Nadie"} {
			if strings.Contains(msg, secret) {
				t.Errorf("message %q leaks %q", msg, secret)
			}
		}
		if !strings.Contains(msg, "[redacted]") {
			t.Errorf("message %q: nothing redacted", msg)
		}
	}

	// Wrong credentials: the fake echoes the secret in its 401 body.
	bad := f.client(t, func(c *Config) { c.APISecret = "another-secret-value" })
	_, err := bad.Status(ctx, "v-1")
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrUnauthorized) || e.Endpoint != "token" {
		t.Fatalf("err = %v, want ErrUnauthorized from the token endpoint", err)
	}
	if strings.Contains(err.Error(), "another-secret-value") {
		t.Errorf("message %q leaks the secret", err)
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct {
		in, want string
		redact   []string
	}{
		{"plain text", "plain text", nil},
		{"a\nb\r\n\tc\x00d", "a b c d", nil},
		{"token abcdefgh here", "token [redacted] here", []string{"abcdefgh"}},
		{"ends with abcd", "ends with [redacted]", []string{"abcdefgh"}},
		{"short ab stays", "short ab stays", []string{"ab"}},
		{"bad \xff utf8", "bad \uFFFD utf8", nil},
		{"line\u2028sep", "line sep", nil},
	}
	for _, tt := range tests {
		if got := sanitize(tt.in, tt.redact); got != tt.want {
			t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	long := sanitize(strings.Repeat("é", 4000), nil)
	if len(long) > maxDescription+len("…") || !strings.HasSuffix(long, "…") {
		t.Errorf("long description: %d bytes", len(long))
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{" 30 ", 30 * time.Second, true},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"99999999999999999999", maxRetryAfter, true},
		{"86401", maxRetryAfter, true},
		{"Fri, 20 Nov 2026 10:00:30 GMT", 30 * time.Second, true},
		{"Friday, 20-Nov-26 10:00:30 GMT", 30 * time.Second, true},
		{"Fri Nov 20 10:00:30 2026", 30 * time.Second, true},
		{"Thu, 19 Nov 2026 10:00:00 GMT", 0, true}, // in the past
		{"Wed, 20 Nov 2030 10:00:00 GMT", maxRetryAfter, true},
		{"tomorrow", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestMalformedAndOversizedJSON(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"malformed", `{"verificationId": "v-1", "status": `},
		{"not an object", `["v-1"]`},
		{"null", `null`},
		{"empty", ``},
		{"html", `<html>gateway error</html>`},
		{"oversized", `{"verificationId":"v-1","status":"PENDING","pad":"` + strings.Repeat("x", 2048) + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.handle("GET /mobbscan-agent/getVerificationProcessData/{id}", reply(200, tt.body))
			c := f.client(t, func(c *Config) { c.MaxJSONBytes = 1024 })
			_, err := c.Process(context.Background(), "v-1")
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrBadResponse) || e.StatusCode != 200 {
				t.Errorf("err = %v, want ErrBadResponse with status 200", err)
			}
		})
	}
}

func TestTruncatedBody(t *testing.T) {
	f := newFake(t)
	f.handle("GET /mobbscan-agent/getVerificationProcessData/{id}",
		rawReply("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"verificationId\":\"v-1\","))
	_, err := f.client(t).Process(context.Background(), "v-1")
	if !errors.Is(err, ErrBadResponse) {
		t.Errorf("err = %v, want ErrBadResponse", err)
	}
}

func TestConnectionReset(t *testing.T) {
	f := newFake(t)
	f.handle("POST "+pathAccept, resetConn)
	f.handle("GET /mobbscan-agent/getVerificationProcessData/{id}", resetConn)
	c := f.client(t)
	_, err := c.Accept(context.Background(), "v-1", nil)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrUnavailable) || !e.Ambiguous() || e.StatusCode != 0 {
		t.Errorf("Accept err = %v, want an ambiguous ErrUnavailable", err)
	}
	if _, err := c.Process(context.Background(), "v-1"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Process err = %v, want ErrUnavailable", err)
	}
}

func TestSlowHeaders(t *testing.T) {
	f := newFake(t)
	f.handle("POST "+pathAccept, hang)
	c := f.client(t, func(c *Config) { c.HeaderTimeout = 200 * time.Millisecond })
	_, err := c.Accept(context.Background(), "v-1", nil)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrUnavailable) || !e.Timeout() || !e.Ambiguous() {
		t.Errorf("err = %v, want an ambiguous ErrUnavailable timeout", err)
	}
}

// TestSlowHeadersCustomTransport checks that the header timeout holds with a
// transport that has none of its own.
func TestSlowHeadersCustomTransport(t *testing.T) {
	f := newFake(t)
	f.handle("GET /mobbscan-agent/checkVerificationProcessResult/{id}", hang)
	c := f.client(t, func(c *Config) {
		c.HeaderTimeout = 200 * time.Millisecond
		c.Transport = &http.Transport{}
	})
	_, err := c.Status(context.Background(), "v-1")
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrUnavailable) || !e.Timeout() || !errors.Is(err, errHeaderTimeout) {
		t.Errorf("err = %v, want ErrUnavailable from the header timeout", err)
	}
}

func TestCallTimeoutCoversBody(t *testing.T) {
	f := newFake(t)
	f.handle("GET /mobbscan-agent/getVerificationProcessData/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		w.Write([]byte(`{"verificationId":`))
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	c := f.client(t, func(c *Config) { c.CallTimeout = 300 * time.Millisecond })
	_, err := c.Process(context.Background(), "v-1")
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrUnavailable) || !e.Timeout() || !errors.Is(err, errCallTimeout) {
		t.Errorf("err = %v, want ErrUnavailable from the call timeout", err)
	}
}

func TestDialFailureIsNotAmbiguous(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := New(Config{BaseURL: "http://" + addr, APIKey: testKey, APISecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Accept(context.Background(), "v-1", nil)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrUnavailable) || e.Ambiguous() {
		t.Errorf("err = %v, want a non-ambiguous ErrUnavailable", err)
	}
}

func TestErrorUnwrap(t *testing.T) {
	cause := errors.New("boom")
	e := &Error{Endpoint: "status", Err: ErrUnavailable, cause: cause}
	if !errors.Is(e, ErrUnavailable) || !errors.Is(e, cause) || errors.Is(e, ErrNotFound) {
		t.Errorf("errors.Is does not see the sentinel and the cause")
	}
	if got, want := e.Error(), "mobbscan status: unavailable: boom"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
