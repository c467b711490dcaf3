package mobbscan

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

func statusRoute(f *fakeGateway) {
	f.handle("GET /mobbscan-agent/checkVerificationProcessResult/{id}", reply(200, `{"status":"PENDING","stage":"REVIEW"}`))
}

func TestTokenRequest(t *testing.T) {
	f := newFake(t)
	statusRoute(f)
	if _, err := f.client(t).Status(context.Background(), "v-1"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	tr := f.reqs[0]
	f.mu.Unlock()
	var body map[string]string
	if err := json.Unmarshal(tr.Body, &body); err != nil {
		t.Fatal(err)
	}
	if tr.Method != "POST" || tr.Path != pathToken || body[fieldAPIKey] != testKey || body[fieldAPISecret] != testSecret || len(body) != 2 {
		t.Errorf("token request = %s %s %v", tr.Method, tr.Path, body)
	}
	if tr.Header.Get("Authorization") != "" {
		t.Errorf("token request carries an Authorization header")
	}
}

func TestTokenCached(t *testing.T) {
	f := newFake(t)
	statusRoute(f)
	c := f.client(t)
	for range 5 {
		if _, err := c.Status(context.Background(), "v-1"); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.tokens(); got != 1 {
		t.Errorf("token requests = %d, want 1", got)
	}
}

func TestTokenRenewedBeforeExpiry(t *testing.T) {
	tests := []struct {
		name     string
		lifetime time.Duration
		noIat    bool
		advance  time.Duration
		want     int // token requests after two calls
	}{
		{"well before", 15 * time.Minute, false, 13 * time.Minute, 1},
		{"in the last minute", 15 * time.Minute, false, 14*time.Minute + time.Second, 2},
		{"without iat, in the last minute", 15 * time.Minute, true, 14*time.Minute + time.Second, 2},
		{"short lifetime, early", 10 * time.Second, false, 8 * time.Second, 1},
		{"short lifetime, last tenth", 10 * time.Second, false, 9*time.Second + 100*time.Millisecond, 2},
		{"no exp assumes 15 minutes", 0, false, 13 * time.Minute, 1},
		{"no exp renews at 14 minutes", 0, false, 14*time.Minute + time.Second, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.lifetime, f.noIat = tt.lifetime, tt.noIat
			statusRoute(f)
			c := f.client(t)
			ctx := context.Background()
			if _, err := c.Status(ctx, "v-1"); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(tt.advance)
			if _, err := c.Status(ctx, "v-1"); err != nil {
				t.Fatal(err)
			}
			if got := f.tokens(); got != tt.want {
				t.Errorf("token requests = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestRenewOnceOn401(t *testing.T) {
	f := newFake(t)
	statusRoute(f)
	c := f.client(t)
	ctx := context.Background()
	if _, err := c.Status(ctx, "v-1"); err != nil {
		t.Fatal(err)
	}
	f.revokeTokens() // the gateway forgets the token early
	if _, err := c.Status(ctx, "v-1"); err != nil {
		t.Fatalf("after revocation: %v", err)
	}
	if got := f.tokens(); got != 2 {
		t.Errorf("token requests = %d, want 2", got)
	}
	if got := len(f.requests()); got != 3 {
		t.Errorf("gateway requests = %d, want 3 (ok, 401, retried ok)", got)
	}
}

func TestSecond401GivesUp(t *testing.T) {
	f := newFake(t)
	f.handle("POST "+pathAccept, reply(401, `{"code":401,"description":"no"}`))
	c := f.client(t)
	_, err := c.Accept(context.Background(), "v-1", nil)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrUnauthorized) || e.Endpoint != "accept" || e.StatusCode != 401 {
		t.Fatalf("err = %v, want ErrUnauthorized from accept", err)
	}
	if got := f.tokens(); got != 2 {
		t.Errorf("token requests = %d, want 2", got)
	}
	if got := len(f.requests()); got != 2 {
		t.Errorf("accept requests = %d, want 2", got)
	}
}

func TestConcurrentCallersShareOneRenewal(t *testing.T) {
	const callers = 20
	tests := []struct {
		name    string
		prepare func(f *fakeGateway, c *Client) // after a first call
		want    int
	}{
		{"first token", nil, 1},
		{"expiry", func(f *fakeGateway, c *Client) { f.clock.Advance(14*time.Minute + time.Second) }, 2},
		{"revoked", func(f *fakeGateway, c *Client) { f.revokeTokens() }, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			statusRoute(f)
			c := f.client(t)
			ctx := context.Background()
			if tt.prepare != nil {
				if _, err := c.Status(ctx, "v-1"); err != nil {
					t.Fatal(err)
				}
				tt.prepare(f, c)
			}
			// Hold the token endpoint until every caller has started, so
			// that they all need the token while the renewal is in flight.
			gate := make(chan struct{})
			f.mu.Lock()
			f.tokenGate = gate
			f.mu.Unlock()
			var started, wg sync.WaitGroup
			started.Add(callers)
			errs := make(chan error, callers)
			for range callers {
				wg.Go(func() {
					started.Done()
					_, err := c.Status(ctx, "v-1")
					errs <- err
				})
			}
			started.Wait()
			close(gate)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("caller: %v", err)
				}
			}
			if got := f.tokens(); got != tt.want {
				t.Errorf("token requests = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestRenewalOutlivesCaller checks that a caller giving up does not fail the
// renewal the others wait for.
func TestRenewalOutlivesCaller(t *testing.T) {
	f := newFake(t)
	statusRoute(f)
	gate := make(chan struct{})
	f.tokenGate = gate
	c := f.client(t)

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := c.Status(ctx, "v-1")
		first <- err
	}()
	// Wait until the renewal is in flight, then give up on the first call.
	for f.tokens() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller: %v, want context.Canceled", err)
	}
	second := make(chan error, 1)
	go func() {
		_, err := c.Status(context.Background(), "v-1")
		second <- err
	}()
	close(gate)
	if err := <-second; err != nil {
		t.Fatalf("second caller: %v", err)
	}
	if got := f.tokens(); got != 1 {
		t.Errorf("token requests = %d, want 1", got)
	}
}

func TestBadTokenResponses(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"no token", `{"token":"x"}`},
		{"empty token", `{"accessToken":""}`},
		{"token with newline", `{"accessToken":"a\r\nX-Evil: 1"}`},
		{"not json", `accessToken=abc`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t)
			srv.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, tt.body)
			})
			_, err := srv.client(t).Status(context.Background(), "v-1")
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrBadResponse) || e.Endpoint != "token" {
				t.Errorf("err = %v, want ErrBadResponse from the token endpoint", err)
			}
		})
	}
}

func jwtWith(claims string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"HS256"}`)) + "." + enc.EncodeToString([]byte(claims)) + ".sig"
}

func TestParseJWTExp(t *testing.T) {
	tests := []struct {
		name    string
		tok     string
		wantExp time.Time
		wantIat time.Time
		wantOK  bool
	}{
		{"exp and iat", jwtWith(`{"exp":1795000000,"iat":1794999100}`), time.Unix(1795000000, 0), time.Unix(1794999100, 0), true},
		{"exp only", jwtWith(`{"exp":1795000000}`), time.Unix(1795000000, 0), time.Time{}, true},
		{"fractional", jwtWith(`{"exp":1795000000.5}`), time.Unix(1795000000, 5e8), time.Time{}, true},
		{"exp as string", jwtWith(`{"exp":"1795000000"}`), time.Unix(1795000000, 0), time.Time{}, true},
		{"padded payload", "e30." + base64.URLEncoding.EncodeToString([]byte(`{"exp":1795000000}`)) + ".s",
			time.Unix(1795000000, 0), time.Time{}, true},
		{"no exp", jwtWith(`{"sub":"x"}`), time.Time{}, time.Time{}, false},
		{"negative exp", jwtWith(`{"exp":-1}`), time.Time{}, time.Time{}, false},
		{"huge exp", jwtWith(`{"exp":1e300}`), time.Time{}, time.Time{}, false},
		{"exp object", jwtWith(`{"exp":{}}`), time.Time{}, time.Time{}, false},
		{"not a jwt", "opaque-token", time.Time{}, time.Time{}, false},
		{"five parts", "a.b.c.d.e", time.Time{}, time.Time{}, false},
		{"bad base64", "a.!!!.c", time.Time{}, time.Time{}, false},
		{"payload not json", "a." + base64.RawURLEncoding.EncodeToString([]byte("exp")) + ".c", time.Time{}, time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp, iat, ok := parseJWTExp(tt.tok)
			if ok != tt.wantOK || !exp.Equal(tt.wantExp) || !iat.Equal(tt.wantIat) {
				t.Errorf("parseJWTExp = %v, %v, %v; want %v, %v, %v", exp, iat, ok, tt.wantExp, tt.wantIat, tt.wantOK)
			}
		})
	}
}

func TestRenewTime(t *testing.T) {
	now := time.Unix(1795000000, 0)
	at := func(d time.Duration) time.Time { return now.Add(d) }
	claims := func(exp, iat time.Duration) string {
		b, _ := json.Marshal(map[string]int64{"exp": now.Add(exp).Unix(), "iat": now.Add(iat).Unix()})
		return jwtWith(string(b))
	}
	tests := []struct {
		name string
		tok  string
		want time.Time
	}{
		{"15 minutes", claims(15*time.Minute, 0), at(14 * time.Minute)},
		{"2 seconds", claims(2*time.Second, 0), at(1800 * time.Millisecond)},
		{"our clock behind: trust exp-iat", claims(25*time.Minute, 10*time.Minute), at(14 * time.Minute)},
		{"our clock ahead: trust exp-iat", claims(-time.Minute, -16*time.Minute), at(14 * time.Minute)},
		{"expired without iat", jwtWith(`{"exp":1}`), now},
		{"opaque token", "opaque", at(14 * time.Minute)},
	}
	for _, tt := range tests {
		if got := renewTime(tt.tok, now); !got.Equal(tt.want) {
			t.Errorf("%s: renewTime = %v, want %v", tt.name, got.Sub(now), tt.want.Sub(now))
		}
	}
}
