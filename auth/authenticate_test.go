package auth_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/store"
)

const (
	goodPassword  = "copper meadow violin 4412 orbit"
	otherPassword = "saffron tundra piano 2290 ember"
)

func newAuthenticator(t *testing.T) (*auth.Authenticator, *store.DB, *testClock) {
	t.Helper()
	db, clk := openTestDB(t)
	th := auth.NewThrottle(auth.ThrottleConfig{})
	th.Now = clk.Now
	return &auth.Authenticator{DB: db, Hasher: auth.NewHasher(auth.TestParams), Throttle: th}, db, clk
}

func auditRows(t *testing.T, db *store.DB, action string) []store.AuditEvent {
	t.Helper()
	ev, err := db.ListAudit(context.Background(), store.AuditFilter{Action: action, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestAuthenticateOneAnswer: unknown account, wrong password, disabled account and an
// account without a password all give ErrBadCredentials, and each is audited (A4, L1).
func TestAuthenticateOneAnswer(t *testing.T) {
	au, db, _ := newAuthenticator(t)
	ctx := context.Background()
	addUser(t, db, au.Hasher, "agent@example.com", goodPassword)
	off := addUser(t, db, au.Hasher, "off@example.com", goodPassword)
	if err := db.SetUserActive(ctx, store.System, off.ID, false); err != nil {
		t.Fatal(err)
	}
	addUser(t, db, au.Hasher, "nopass@example.com", "")

	tests := []struct {
		name, email, password string
		wantErr               error
		wantObject            bool
	}{
		{"right password", "agent@example.com", goodPassword, nil, false},
		{"other spelling of the email", "  Agent@EXAMPLE.com ", goodPassword, nil, false},
		{"unknown account", "nobody@example.com", goodPassword, auth.ErrBadCredentials, false},
		{"wrong password", "agent@example.com", otherPassword, auth.ErrBadCredentials, true},
		{"password with a trailing space", "agent@example.com", goodPassword + " ", auth.ErrBadCredentials, true},
		{"disabled account", "off@example.com", goodPassword, auth.ErrBadCredentials, true},
		{"no password set", "nopass@example.com", "", auth.ErrBadCredentials, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(auditRows(t, db, "auth.login"))
			a := store.Actor{IP: "192.0.2." + strconv.Itoa(i+1), RequestID: "req-" + tt.name}
			u, err := au.Authenticate(ctx, a, tt.email, tt.password)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Authenticate: err %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil {
				if u == nil || u.Email != "agent@example.com" {
					t.Errorf("user %+v, want agent@example.com", u)
				}
				return
			}
			if u != nil {
				t.Errorf("user %+v returned with an error", u)
			}
			if err.Error() != auth.ErrBadCredentials.Error() {
				t.Errorf("error text %q, want the one message", err)
			}
			rows := auditRows(t, db, "auth.login")
			if len(rows) != before+1 {
				t.Fatalf("auth.login rows %d, want %d", len(rows), before+1)
			}
			e := rows[0]
			if e.Outcome != store.OutcomeFailure || e.IP != a.IP || e.RequestID != a.RequestID || e.ActorID != 0 ||
				e.Actor != store.NormalizeEmail(tt.email) || (e.ObjectID != "") != tt.wantObject {
				t.Errorf("audit row %+v, want failure from %s by %q with object %v", e, a.IP, store.NormalizeEmail(tt.email), tt.wantObject)
			}
		})
	}
}

// TestAuthenticateLocks: five failures lock any account name,
// existing or not, so that the lock says nothing about which exist (A3, A4).
func TestAuthenticateLocks(t *testing.T) {
	for _, exists := range []bool{true, false} {
		name := "unknown account"
		if exists {
			name = "existing account"
		}
		t.Run(name, func(t *testing.T) {
			au, db, clk := newAuthenticator(t)
			ctx := context.Background()
			if exists {
				addUser(t, db, au.Hasher, "agent@example.com", goodPassword)
			}
			for i := range 5 {
				a := store.Actor{IP: "198.51.100." + strconv.Itoa(i+1)}
				if _, err := au.Authenticate(ctx, a, "agent@example.com", "wrong wrong wrong"); !errors.Is(err, auth.ErrBadCredentials) {
					t.Fatalf("failure %d: %v", i+1, err)
				}
			}
			if n := len(auditRows(t, db, "auth.lockout")); n != 1 {
				t.Errorf("auth.lockout rows %d, want 1", n)
			}
			_, err := au.Authenticate(ctx, store.Actor{IP: "198.51.100.77"}, "agent@example.com", goodPassword)
			var te *auth.ThrottledError
			if !errors.As(err, &te) {
				t.Fatalf("6th attempt: err %v, want *ThrottledError", err)
			}
			if te.RetryAfter <= 0 || te.RetryAfter > 30*time.Second {
				t.Errorf("RetryAfter %v, want (0, 30s]", te.RetryAfter)
			}
			denied := auditRows(t, db, "auth.login")[0]
			if denied.Outcome != store.OutcomeDenied || !strings.Contains(denied.Detail, "throttled") {
				t.Errorf("throttled attempt audited as %q %q, want denied, throttled", denied.Outcome, denied.Detail)
			}
			clk.Advance(30 * time.Second)
			_, err = au.Authenticate(ctx, store.Actor{IP: "198.51.100.78"}, "agent@example.com", goodPassword)
			if exists && err != nil {
				t.Errorf("after the lock: %v, want success", err)
			}
			if !exists && !errors.Is(err, auth.ErrBadCredentials) {
				t.Errorf("after the lock, unknown account: %v, want ErrBadCredentials", err)
			}
		})
	}
}

// TestAuthenticateIPBucket: one peer is limited across account names (A3).
func TestAuthenticateIPBucket(t *testing.T) {
	au, _, _ := newAuthenticator(t)
	ctx := context.Background()
	a := store.Actor{IP: "203.0.113.7"}
	for i := range auth.DefaultThrottleConfig.Burst {
		email := "user" + strconv.Itoa(i) + "@example.com"
		if _, err := au.Authenticate(ctx, a, email, "wrong wrong wrong"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	var te *auth.ThrottledError
	if _, err := au.Authenticate(ctx, a, "fresh@example.com", "wrong wrong wrong"); !errors.As(err, &te) {
		t.Errorf("attempt past the burst: %v, want *ThrottledError", err)
	}
	if _, err := au.Authenticate(ctx, store.Actor{IP: "203.0.113.8"}, "fresh@example.com", "wrong wrong wrong"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("other IP: %v, want ErrBadCredentials", err)
	}
}

// TestAuthenticateRehashes: a successful sign-in upgrades a hash made with weaker
// parameters; a failed one leaves it (A1).
func TestAuthenticateRehashes(t *testing.T) {
	au, db, _ := newAuthenticator(t)
	ctx := context.Background()
	u := addUser(t, db, au.Hasher, "agent@example.com", goodPassword) // TestParams
	stronger := auth.TestParams
	stronger.Memory *= 2
	stronger.Time++
	au.Hasher = auth.NewHasher(stronger)

	if _, err := au.Authenticate(ctx, store.Actor{IP: "192.0.2.1"}, "agent@example.com", otherPassword); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	got, _ := db.UserByID(ctx, u.ID)
	if got.PasswordHash != u.PasswordHash {
		t.Errorf("a failed sign-in changed the hash")
	}
	if _, err := au.Authenticate(ctx, store.Actor{IP: "192.0.2.1"}, "agent@example.com", goodPassword); err != nil {
		t.Fatalf("right password: %v", err)
	}
	got, _ = db.UserByID(ctx, u.ID)
	if got.PasswordHash == u.PasswordHash {
		t.Fatalf("hash not upgraded after a successful sign-in")
	}
	if ok, rehash, err := au.Hasher.Verify(goodPassword, got.PasswordHash); !ok || rehash || err != nil {
		t.Errorf("upgraded hash: ok %v rehash %v err %v, want ok, no rehash", ok, rehash, err)
	}
	if _, err := au.Authenticate(ctx, store.Actor{IP: "192.0.2.1"}, "agent@example.com", goodPassword); err != nil {
		t.Errorf("sign in after the upgrade: %v", err)
	}
}
