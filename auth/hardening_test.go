package auth_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/store"
)

// auditCount counts every audit row.
func auditCount(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.SQL().QueryRow("SELECT count(*) FROM audit_events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRefusedSignInsBoundTheAudit: 5,000 refused sign-ins from one client add fewer than
// 20 audit rows (quality bar L3), whether they guess one account's password or spray
// many accounts, and the chain still verifies (openTestDB checks it at cleanup).
func TestRefusedSignInsBoundTheAudit(t *testing.T) {
	for _, tt := range []struct {
		spray bool
		pace  time.Duration
	}{
		{false, 100 * time.Millisecond}, // as fast as the attacker likes: 500 s in all
		{true, 100 * time.Millisecond},
		{true, 3 * time.Second}, // at the throttle's pace: 4 h 10 min, five refusal windows
	} {
		spray := tt.spray
		t.Run(fmt.Sprintf("spray=%t,pace=%s", tt.spray, tt.pace), func(t *testing.T) {
			au, db, clk := newAuthenticator(t)
			ctx := context.Background()
			addUser(t, db, au.Hasher, "victim@example.com", goodPassword)
			before := auditCount(t, db)
			a := store.Actor{IP: "203.0.113.66"}
			throttled := 0
			for i := range 5000 {
				email := "victim@example.com"
				if spray {
					email = fmt.Sprintf("user%d@example.com", i%60)
				}
				_, err := au.Authenticate(ctx, a, email, otherPassword)
				var te *auth.ThrottledError
				switch {
				case errors.As(err, &te):
					throttled++
				case !errors.Is(err, auth.ErrBadCredentials):
					t.Fatalf("attempt %d: %v", i, err)
				}
				clk.Advance(tt.pace)
			}
			clk.Advance(store.RefusalWindow)
			if _, err := db.SweepRefusals(ctx); err != nil { // the burst's summary rows
				t.Fatal(err)
			}
			added := auditCount(t, db) - before
			t.Logf("5,000 refused sign-ins: %d audit rows added (%d attempts throttled)", added, throttled)
			if added >= 20 {
				t.Errorf("5,000 refused sign-ins added %d audit rows, want fewer than 20", added)
			}
			if added < 2 || throttled == 0 {
				t.Errorf("added %d rows (%d throttled): the refusals must still be recorded and counted", added, throttled)
			}
			if _, err := db.VerifyAudit(ctx); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestFailedSignInActorIsSafe: the typed email of a failed sign-in reaches the audit with
// its control and direction-control characters escaped, so it cannot forge a line (C5).
func TestFailedSignInActorIsSafe(t *testing.T) {
	au, db, _ := newAuthenticator(t)
	ctx := context.Background()
	typed := "victim@example.com\u202e\n | auth.login | success"
	if _, err := au.Authenticate(ctx, store.Actor{IP: "192.0.2.9"}, typed, otherPassword); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("Authenticate: %v", err)
	}
	rows := auditRows(t, db, "auth.login")
	if len(rows) != 1 {
		t.Fatalf("%d auth.login rows, want 1", len(rows))
	}
	if got, want := rows[0].Actor, `victim@example.com\u202e\u000a | auth.login | success`; got != want {
		t.Errorf("actor %q, want %q", got, want)
	}
}
