package auth

// Single sign-on over two instances (issue 13): a sign-in started on one instance is
// finished by the other, against a real OpenID Provider (oidctest), and only once.

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/mobbscan-review/portal/auth/oidctest"
	"github.com/mobbscan-review/portal/store"
)

const (
	sharedSSOClient   = "review-portal"
	sharedSSOSecret   = "portal-client-secret-0123456789"
	sharedSSOCallback = "http://portal.test" + OIDCCallbackPath
)

// authorize follows authURL at the provider (which signs in whoever the test chose)
// up to its redirect back to the portal, and returns that callback's query.
func authorize(t *testing.T, authURL string) url.Values {
	t.Helper()
	client := &http.Client{CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host == "portal.test" {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	res, err := client.Get(authURL)
	if err != nil {
		t.Fatalf("provider: %v", err)
	}
	res.Body.Close()
	back, err := res.Location()
	if err != nil || back.Host != "portal.test" || back.Path != OIDCCallbackPath {
		t.Fatalf("provider answered %d, Location %v (%v), want a redirect to the callback", res.StatusCode, back, err)
	}
	return back.Query()
}

func TestOIDCFinishesOnAnotherInstance(t *testing.T) {
	forEachEngine(t, func(t *testing.T, a, b *store.DB) {
		ctx := context.Background()
		op := oidctest.New(t, sharedSSOClient, sharedSSOSecret, sharedSSOCallback)
		u := &store.User{Email: "agent.smith@example.com", DisplayName: "Alan Agent", Role: store.RoleAgent, Active: true}
		if err := a.CreateUser(ctx, store.System, u); err != nil {
			t.Fatal(err)
		}
		cfg := OIDCConfig{Issuer: op.URL, ClientID: sharedSSOClient, ClientSecret: sharedSSOSecret, RedirectURL: sharedSSOCallback}
		first, second := NewOIDC(a, cfg), NewOIDC(b, cfg)
		op.SignInAs(oidctest.Person{Subject: "sub-smith", Email: "Agent.Smith@example.com", EmailVerified: true})

		authURL, state, err := first.Begin(ctx, testIP, "/queue?view=mine")
		if err != nil {
			t.Fatalf("Begin on the first instance: %v", err)
		}
		q := authorize(t, authURL)
		if q.Get("state") != state || q.Get("code") == "" {
			t.Fatalf("callback %v: want the state %q and a code", q, state)
		}
		cb := OIDCCallback{State: q.Get("state"), CookieState: state, Code: q.Get("code")}
		got, next, err := second.Finish(ctx, store.Actor{IP: testIP}, cb)
		if err != nil {
			t.Fatalf("Finish on the second instance: %v", err)
		}
		if got.ID != u.ID || next != "/queue?view=mine" {
			t.Errorf("signed in %d, next %q; want %d, /queue?view=mine", got.ID, next, u.ID)
		}
		// The same callback again, on either instance, finds the sign-in spent.
		for _, o := range []*OIDC{first, second} {
			var oe *OIDCError
			if _, _, err := o.Finish(ctx, store.Actor{IP: testIP}, cb); !errors.As(err, &oe) || oe.Reason != "unknown, used or expired state" {
				t.Errorf("replayed callback: %v, want refused as spent", err)
			}
		}
	})
}

// TestOIDCPendingBoundIsShared: MaxPending counts the sign-ins in progress on every
// instance.
func TestOIDCPendingBoundIsShared(t *testing.T) {
	forEachEngine(t, func(t *testing.T, a, b *store.DB) {
		ctx := context.Background()
		op := oidctest.New(t, sharedSSOClient, sharedSSOSecret, sharedSSOCallback)
		cfg := OIDCConfig{Issuer: op.URL, ClientID: sharedSSOClient, ClientSecret: sharedSSOSecret, RedirectURL: sharedSSOCallback, MaxPending: 2}
		first, second := NewOIDC(a, cfg), NewOIDC(b, cfg)
		if _, _, err := first.Begin(ctx, testIP, "/"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := second.Begin(ctx, testIP, "/"); err != nil {
			t.Fatal(err)
		}
		for _, o := range []*OIDC{first, second} {
			if _, _, err := o.Begin(ctx, testIP, "/"); !errors.Is(err, ErrOIDCUnavailable) {
				t.Errorf("third start over both instances: %v, want ErrOIDCUnavailable (too many in progress)", err)
			}
		}
	})
}
