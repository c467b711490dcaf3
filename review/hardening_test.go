package review_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// TestMayCreateOnboarding: the per-user limit refuses the OnboardingsPerHour+1-th
// onboarding of an hour, saying when the next one is possible.
func TestMayCreateOnboarding(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	if err := review.MayCreateOnboarding(review.OnboardingsPerHour-1, now.Add(-50*time.Minute), now); err != nil {
		t.Errorf("below the limit: %v", err)
	}
	err := review.MayCreateOnboarding(review.OnboardingsPerHour, now.Add(-50*time.Minute), now)
	e := review.ErrorOf(err)
	if e == nil || e.Code != review.CodeRateLimited || e.RetryAfter != 10*time.Minute || !strings.Contains(e.Message, "10m0s") {
		t.Fatalf("at the limit: %#v, want rate_limited for 10 minutes", e)
	}
	// A clock that stepped back never asks for a wait of zero or less.
	if e := review.ErrorOf(review.MayCreateOnboarding(review.OnboardingsPerHour, now.Add(-2*time.Hour), now)); e == nil || e.RetryAfter < time.Second {
		t.Errorf("oldest out of the hour: %#v, want a positive wait", e)
	}
}

// TestRefusalKey: a signed-in user is counted as themself, anyone else by IP.
func TestRefusalKey(t *testing.T) {
	if got := review.RefusalKey(store.Actor{UserID: 7, IP: "192.0.2.1"}); got != "user:7" {
		t.Errorf("signed in: %q", got)
	}
	if got := review.RefusalKey(store.Actor{IP: "192.0.2.1"}); got != "ip:192.0.2.1" {
		t.Errorf("anonymous: %q", got)
	}
}

// TestWebhookTokenGuard: wrong tokens per IP are limited (IPv6 by /64) and logged
// sampled; the limit refills with time; the right token from an unlimited IP passes.
func TestWebhookTokenGuard(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	var logs bytes.Buffer
	svc := review.New(db, nil, slog.New(slog.NewTextHandler(&logs, nil)), review.Config{WebhookToken: testWebhookToken})

	for i := range review.WebhookWrongBurst {
		// Two addresses of one IPv6 /64 share the budget.
		ip := "2001:db8:1:2::" + string(rune('a'+i%2))
		if err := svc.CheckWebhookTokenFrom(ip, "wrong"); !errors.Is(err, review.ErrWebhookToken) || review.ErrorCode(err) == review.CodeRateLimited {
			t.Fatalf("wrong token %d: %v, want ErrWebhookToken", i, err)
		}
	}
	err = svc.CheckWebhookTokenFrom("2001:db8:1:2::ffff", testWebhookToken)
	if e := review.ErrorOf(err); e == nil || e.Code != review.CodeRateLimited || e.RetryAfter <= 0 {
		t.Fatalf("beyond the burst: %v, want rate_limited with a wait", err)
	}
	if err := svc.CheckWebhookTokenFrom("2001:db8:1:3::1", testWebhookToken); err != nil {
		t.Errorf("another /64 with the right token: %v", err)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d WARN lines for 11 refusals, want 1:\n%s", n, logs.String())
	}
	now = now.Add(review.WebhookWrongRefill)
	if err := svc.CheckWebhookTokenFrom("2001:db8:1:2::1", testWebhookToken); err != nil {
		t.Errorf("after one refill: %v, want the right token to pass", err)
	}
}

// TestCheckNewUser: the account rules shared by the admin's form and the command line,
// with the C5 character rule.
func TestCheckNewUser(t *testing.T) {
	tests := []struct {
		email, name, role string
		wantFields        []string
	}{
		{" ann@example.com ", " Ann Example ", store.RoleAgent, nil},
		{"ann@example.com", "Ann\u202e", store.RoleAgent, []string{review.FieldName}},
		{"ann@example.com", "Ann\nLee", store.RoleAgent, []string{review.FieldName}},
		{"ann\u200f@example.com", "Ann", store.RoleAdmin, []string{review.FieldEmail}},
		{"Ann <ann@example.com>", "", "root", []string{review.FieldEmail, review.FieldName, review.FieldRole}},
	}
	for _, tt := range tests {
		email, name, errs := review.CheckNewUser(tt.email, tt.name, tt.role)
		if len(errs) != len(tt.wantFields) {
			t.Errorf("CheckNewUser(%q, %q, %q): %v, want errors on %v", tt.email, tt.name, tt.role, errs, tt.wantFields)
		}
		for _, f := range tt.wantFields {
			if errs[f] == "" {
				t.Errorf("CheckNewUser(%q, %q, %q): no message for %s", tt.email, tt.name, tt.role, f)
			}
		}
		if email != strings.TrimSpace(tt.email) || name != strings.TrimSpace(tt.name) {
			t.Errorf("CheckNewUser(%q, %q): kept %q, %q; want the trimmed text", tt.email, tt.name, email, name)
		}
	}
}
