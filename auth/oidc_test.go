package auth

// Unit tests of single sign-on's parts that need no provider (issue 9, item 2). The
// whole flow against a real OpenID Provider is tested in handlers/oidc_test.go.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

func openOIDCTestDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "portal.db"))
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOIDCDefaultName(t *testing.T) {
	for _, tt := range []struct{ issuer, want string }{
		{"https://login.example.com/realms/staff", "login.example.com"},
		{"https://accounts.google.com", "accounts.google.com"},
		{"not a url", "single sign-on"},
	} {
		if got := NewOIDC(nil, OIDCConfig{Issuer: tt.issuer}).Name(); got != tt.want {
			t.Errorf("name of %q: got %q, want %q", tt.issuer, got, tt.want)
		}
	}
	if got := NewOIDC(nil, OIDCConfig{Issuer: "https://x.example", Name: "Acme ID"}).Name(); got != "Acme ID" {
		t.Errorf("configured name: got %q, want Acme ID", got)
	}
}

func TestOIDCEmailVerifiedClaim(t *testing.T) {
	for _, tt := range []struct {
		claims string
		want   bool
	}{
		{`{"email":"a@example.com","email_verified":true}`, true},
		{`{"email":"a@example.com","email_verified":"true"}`, true}, // some providers send a string
		{`{"email":"a@example.com","email_verified":false}`, false},
		{`{"email":"a@example.com","email_verified":"false"}`, false},
		{`{"email":"a@example.com"}`, false},
		{`{"email":"a@example.com","email_verified":1}`, false},
	} {
		var c idClaims
		if err := json.Unmarshal([]byte(tt.claims), &c); err != nil {
			t.Fatal(err)
		}
		if got := c.verified(); got != tt.want {
			t.Errorf("%s: verified %v, want %v", tt.claims, got, tt.want)
		}
	}
}

func TestOIDCSSOOnly(t *testing.T) {
	var none *OIDC
	if on, err := none.SSOOnly(context.Background()); on || err != nil {
		t.Errorf("not configured: got %v, %v; want off", on, err)
	}
	db := openOIDCTestDB(t)
	o := NewOIDC(db, OIDCConfig{Issuer: "https://idp.example"})
	if on, _ := o.SSOOnly(context.Background()); on {
		t.Error("unset setting: want off")
	}
	if err := db.SetSetting(context.Background(), store.System, SettingSSOOnly, "on"); err != nil {
		t.Fatal(err)
	}
	if on, err := o.SSOOnly(context.Background()); !on || err != nil {
		t.Errorf("setting on: got %v, %v; want on", on, err)
	}
}

// TestOIDCDiscoveryRetryIsSpaced: a provider that is down is asked again only once
// RetryEvery has passed, so the sign-in page stays fast; then it is asked again.
func TestOIDCDiscoveryRetryIsSpaced(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	o := NewOIDC(openOIDCTestDB(t), OIDCConfig{Issuer: srv.URL, ClientID: "c", RetryEvery: time.Hour})
	ctx := context.Background()
	for range 3 {
		if o.Available(ctx) {
			t.Fatal("available with the provider down")
		}
	}
	if got := hits.Load(); got != 1 {
		t.Errorf("discovery requests within RetryEvery: got %d, want 1", got)
	}
	if _, _, err := o.Begin(ctx, "192.0.2.1", "/"); !errors.Is(err, ErrOIDCUnavailable) {
		t.Errorf("Begin with the provider down: got %v, want ErrOIDCUnavailable", err)
	}
	o.mu.Lock()
	o.lastTry = o.lastTry.Add(-2 * time.Hour) // RetryEvery has passed
	o.mu.Unlock()
	o.Available(ctx)
	if got := hits.Load(); got != 2 {
		t.Errorf("discovery requests once RetryEvery passed: got %d, want 2", got)
	}
}

// TestOIDCFinishRefusesBadStateBeforeAnyNetwork: a callback without this browser's
// state is refused and audited without contacting the provider.
func TestOIDCFinishRefusesBadStateBeforeAnyNetwork(t *testing.T) {
	db := openOIDCTestDB(t)
	o := NewOIDC(db, OIDCConfig{Issuer: "http://127.0.0.1:1", ClientID: "c"})
	ctx := context.Background()
	for _, cb := range []OIDCCallback{
		{State: "abc", CookieState: "", Code: "x"},
		{State: "abc", CookieState: "abd", Code: "x"},
		{State: "", CookieState: "", Code: "x"},
		{State: "abc", CookieState: "abc", Code: "x"}, // matching, but never started
	} {
		u, _, err := o.Finish(ctx, store.Actor{IP: "192.0.2.1"}, cb)
		var oe *OIDCError
		if u != nil || !errors.As(err, &oe) || oe.Message != oidcMsgStart {
			t.Errorf("%+v: got %v, %v; want the start-again refusal", cb, u, err)
		}
	}
	events, err := db.ListAudit(ctx, store.AuditFilter{Action: string(store.ActionLogin), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 4 {
		t.Fatalf("audited refusals: got %d, want 4", len(events))
	}
	for _, e := range events {
		if e.Outcome != store.OutcomeFailure || e.IP != "192.0.2.1" {
			t.Errorf("audit row %+v: want a failure from 192.0.2.1", e)
		}
	}
}

func TestOIDCErrorCodeIsSanitised(t *testing.T) {
	for in, want := range map[string]string{
		"access_denied":               "access_denied",
		"access_denied\n<script>x":    "access_deniedscriptx",
		"temporarily-unavailable 503": "temporarily-unavailable503",
	} {
		if got := errorCode(in); got != want {
			t.Errorf("errorCode(%q) = %q, want %q", in, got, want)
		}
	}
	if got := errorCode(strings.Repeat("a", 100)); len(got) != 64 {
		t.Errorf("long code: got %d characters, want 64", len(got))
	}
}
