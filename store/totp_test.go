package store_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

const testSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

// enrolTOTP gives u a confirmed authenticator with last accepted step counter and the
// recovery codes of hashes.
func enrolTOTP(t *testing.T, db *store.DB, u *store.User, counter int64, hashes ...string) {
	t.Helper()
	ctx := context.Background()
	if err := db.BeginTOTPEnrolment(ctx, u.ID, testSecret, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := db.ConfirmTOTPEnrolment(ctx, store.Actor{UserID: u.ID, Email: u.Email}, u.ID, testSecret, counter, hashes); err != nil {
		t.Fatalf("confirm: %v", err)
	}
}

func TestTOTPEnrolmentIsConfirmedOnceAndAudited(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	u := newUser(t, db, "ann@example.com", store.RoleAgent)
	if _, err := db.TOTPByUser(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("before enrolment: got %v, want ErrNotFound", err)
	}
	if err := db.BeginTOTPEnrolment(ctx, u.ID, testSecret, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, err := db.TOTPEnrolment(ctx, u.ID); err != nil || got != testSecret {
		t.Fatalf("enrolment: got %q, %v", got, err)
	}
	a := store.Actor{UserID: u.ID, Email: u.Email}
	if err := db.ConfirmTOTPEnrolment(ctx, a, u.ID, testSecret, 42, []string{store.HashToken("a"), store.HashToken("b")}); err != nil {
		t.Fatal(err)
	}
	if err := db.ConfirmTOTPEnrolment(ctx, a, u.ID, testSecret, 43, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second confirmation: got %v, want ErrNotFound", err)
	}
	got, err := db.TOTPByUser(ctx, u.ID)
	if err != nil || got.Secret != testSecret || got.LastCounter != 42 {
		t.Fatalf("totp: got %+v, %v; want the secret with last counter 42", got, err)
	}
	if n, _ := db.CountRecoveryCodes(ctx, u.ID); n != 2 {
		t.Fatalf("recovery codes: got %d, want 2", n)
	}
	events, err := db.ListAudit(ctx, store.AuditFilter{Action: string(store.ActionSecondFactorEnrol)})
	if err != nil || len(events) != 1 {
		t.Fatalf("enrol audit: got %d rows, %v; want 1", len(events), err)
	}
	if strings.Contains(events[0].Detail, testSecret) {
		t.Fatalf("the audit carries the secret: %q", events[0].Detail)
	}
}

func TestTOTPEnrolmentExpires(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	now := time.Now()
	db.Now = func() time.Time { return now }
	u := newUser(t, db, "ann@example.com", store.RoleAgent)
	if err := db.BeginTOTPEnrolment(ctx, u.ID, testSecret, time.Minute); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	if _, err := db.TOTPEnrolment(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired enrolment: got %v, want ErrNotFound", err)
	}
	if err := db.ConfirmTOTPEnrolment(ctx, store.System, u.ID, testSecret, 1, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("confirming an expired enrolment: got %v, want ErrNotFound", err)
	}
}

func TestTOTPCounterIsAcceptedOnceOnly(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	u := newUser(t, db, "ann@example.com", store.RoleAgent)
	if err := db.UseTOTPCounter(ctx, u.ID, 10); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("no authenticator: got %v, want ErrNotFound", err)
	}
	enrolTOTP(t, db, u, 100)
	for _, tc := range []struct {
		counter int64
		want    error
	}{
		{100, store.ErrCodeUsed}, // the code that confirmed the enrolment
		{99, store.ErrCodeUsed},  // an older one
		{101, nil},
		{101, store.ErrCodeUsed}, // the same code again
		{103, nil},
		{102, store.ErrCodeUsed}, // a step before the last accepted one
	} {
		if err := db.UseTOTPCounter(ctx, u.ID, tc.counter); !errors.Is(err, tc.want) {
			t.Errorf("counter %d: got %v, want %v", tc.counter, err, tc.want)
		}
	}
}

func TestTOTPCounterRaceHasOneWinner(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	u := newUser(t, db, "ann@example.com", store.RoleAgent)
	enrolTOTP(t, db, u, 1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Go(func() {
			if err := db.UseTOTPCounter(ctx, u.ID, 5); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, store.ErrCodeUsed) {
				t.Errorf("use counter: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("the same code was accepted %d times, want once", wins)
	}
}

func TestRecoveryCodeWorksOnceAndIsStoredHashed(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	u := newUser(t, db, "ann@example.com", store.RoleAgent)
	code := "abcd2345efgh6723"
	enrolTOTP(t, db, u, 1, store.HashToken(code), store.HashToken("other"))
	a := store.Actor{UserID: u.ID, Email: u.Email}
	left, err := db.UseRecoveryCode(ctx, a, u.ID, store.HashToken(code))
	if err != nil || left != 1 {
		t.Fatalf("first use: got %d left, %v; want 1, nil", left, err)
	}
	if _, err := db.UseRecoveryCode(ctx, a, u.ID, store.HashToken(code)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second use: got %v, want ErrNotFound", err)
	}
	other := newUser(t, db, "bob@example.com", store.RoleAgent)
	if _, err := db.UseRecoveryCode(ctx, store.System, other.ID, store.HashToken("other")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another account's code: got %v, want ErrNotFound", err)
	}
	var n int
	if err := db.SQL().QueryRow("SELECT count(*) FROM recovery_codes WHERE code_hash = ? OR code_hash LIKE ?", code, "%"+code+"%").Scan(&n); err != nil || n != 0 {
		t.Fatalf("the code is stored in clear: %d rows, %v", n, err)
	}
}

func TestResetSecondFactorRemovesEverythingEndsSessionsAndAudits(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	admin := newUser(t, db, "admin@example.com", store.RoleAdmin)
	u := newUser(t, db, "ann@example.com", store.RoleAgent)
	enrolTOTP(t, db, u, 1, store.HashToken("x"))
	newSession(t, db, u, "ann-token")
	now := time.Now()
	if err := db.CreatePendingSignIn(ctx, &store.PendingSignIn{TokenHash: store.HashToken("p"), UserID: u.ID, Purpose: store.PendingVerify,
		CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	a := store.Actor{UserID: admin.ID, Email: admin.Email, Role: admin.Role}
	if err := db.ResetSecondFactor(ctx, a, u.ID, "lost phone"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.TOTPByUser(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("totp after reset: got %v, want ErrNotFound", err)
	}
	if n, _ := db.CountRecoveryCodes(ctx, u.ID); n != 0 {
		t.Fatalf("recovery codes after reset: %d", n)
	}
	if _, _, err := db.PendingSignInByTokenHash(ctx, store.HashToken("p")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("pending sign-in after reset: got %v, want ErrNotFound", err)
	}
	if list, _ := db.ListUserSessions(ctx, u.ID); len(list) != 0 {
		t.Fatalf("sessions after reset: %d, want 0", len(list))
	}
	events, _ := db.ListAudit(ctx, store.AuditFilter{Action: string(store.ActionSecondFactorReset)})
	if len(events) != 1 || events[0].ActorID != admin.ID || events[0].ObjectID != strconv.FormatInt(u.ID, 10) || events[0].Detail != "lost phone" {
		t.Fatalf("reset audit: got %+v, want one row by the admin", events)
	}
	if err := db.ResetSecondFactor(ctx, a, u.ID, "again"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second reset: got %v, want ErrNotFound", err)
	}
}

func TestPendingSignInIsSpentOnceAndExpires(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	now := time.Now().UTC()
	db.Now = func() time.Time { return now }
	u := newUser(t, db, "ann@example.com", store.RoleAgent)
	p := &store.PendingSignIn{TokenHash: store.HashToken("tok"), UserID: u.ID, Purpose: store.PendingVerify, Next: "/queue",
		CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
	if err := db.CreatePendingSignIn(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, gu, err := db.PendingSignInByTokenHash(ctx, p.TokenHash)
	if err != nil || got.Next != "/queue" || got.Purpose != store.PendingVerify || gu.ID != u.ID {
		t.Fatalf("pending: got %+v %v, %v", got, gu, err)
	}
	if err := db.TakePendingSignIn(ctx, p.TokenHash); err != nil {
		t.Fatal(err)
	}
	if err := db.TakePendingSignIn(ctx, p.TokenHash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second take: got %v, want ErrNotFound", err)
	}
	p.TokenHash = store.HashToken("tok2")
	if err := db.CreatePendingSignIn(ctx, p); err != nil {
		t.Fatal(err)
	}
	now = now.Add(5 * time.Minute)
	if _, _, err := db.PendingSignInByTokenHash(ctx, p.TokenHash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired pending: got %v, want ErrNotFound", err)
	}
	if err := db.TakePendingSignIn(ctx, p.TokenHash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("taking an expired pending: got %v, want ErrNotFound", err)
	}
}
