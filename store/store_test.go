package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/store/pgtest"
)

func openDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), store.TargetForTest(t))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newUser(t *testing.T, db *store.DB, email, role string) *store.User {
	t.Helper()
	u := &store.User{Email: email, DisplayName: "Test " + email, Role: role, Active: true, PasswordHash: "x"}
	if err := db.CreateUser(context.Background(), store.System, u); err != nil {
		t.Fatalf("create %s: %v", email, err)
	}
	return u
}

func newSession(t *testing.T, db *store.DB, u *store.User, token string) *store.Session {
	t.Helper()
	now := time.Now()
	s := &store.Session{TokenHash: store.HashToken(token), UserID: u.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := db.CreateSession(context.Background(), store.Actor{UserID: u.ID, Email: u.Email}, s); err != nil {
		t.Fatalf("create session: %v", err)
	}
	return s
}

func TestOpenTwiceAppliesMigrationsOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	for i := 0; i < 2; i++ {
		db, err := store.Open(context.Background(), path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if err := db.IntegrityCheck(context.Background()); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
}

func TestCreateUserRejectsDuplicateEmailAndBadValues(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	newUser(t, db, "Ana@Example.com", store.RoleAgent)
	err := db.CreateUser(ctx, store.System, &store.User{Email: "ana@example.COM", DisplayName: "Ana", Role: store.RoleAgent})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate email: got %v, want ErrConflict", err)
	}
	if err := db.CreateUser(ctx, store.System, &store.User{Email: "b@example.com", DisplayName: "B", Role: "root"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad role: got %v, want ErrInvalid", err)
	}
	// The CHECK constraints hold even when Go validation is bypassed.
	if err := db.CreateUser(ctx, store.System, &store.User{Email: "noatsign", DisplayName: "C", Role: store.RoleAgent}); err == nil {
		t.Fatal("email without @ was stored")
	}
	u, err := db.UserByEmail(ctx, "ANA@example.com")
	if err != nil || u.Email != "ana@example.com" {
		t.Fatalf("lookup: got %v %v", u, err)
	}
}

func TestPrivilegeChangesEndSessions(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		change func(db *store.DB, id int64) error
	}{
		{"disable", func(db *store.DB, id int64) error { return db.SetUserActive(ctx, store.System, id, false) }},
		{"role", func(db *store.DB, id int64) error { return db.SetUserRole(ctx, store.System, id, store.RoleAdmin) }},
		{"password", func(db *store.DB, id int64) error { return db.SetPassword(ctx, store.System, id, "new", false) }},
		{"admin ends all", func(db *store.DB, id int64) error { return db.EndUserSessions(ctx, store.System, id, "ended by admin") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t)
			u := newUser(t, db, "a@example.com", store.RoleAgent)
			other := newUser(t, db, "b@example.com", store.RoleAgent)
			newSession(t, db, u, "tok-1")
			newSession(t, db, u, "tok-2")
			newSession(t, db, other, "tok-3")
			if err := tc.change(db, u.ID); err != nil {
				t.Fatal(err)
			}
			for _, tok := range []string{"tok-1", "tok-2"} {
				if _, _, err := db.SessionByTokenHash(ctx, store.HashToken(tok)); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s: got %v, want ErrNotFound", tok, err)
				}
			}
			if _, _, err := db.SessionByTokenHash(ctx, store.HashToken("tok-3")); err != nil {
				t.Errorf("other user's session ended: %v", err)
			}
		})
	}
}

func TestAuditChainDetectsTampering(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if err := db.Audit(ctx, store.Actor{Email: "x@example.com", IP: "127.0.0.1"}, "auth.login_failed", "user", fmt.Sprint(i), store.OutcomeFailure, ""); err != nil {
			t.Fatal(err)
		}
	}
	n, err := db.VerifyAudit(ctx)
	if err != nil || n != 5 {
		t.Fatalf("verify: got %d %v, want 5 nil", n, err)
	}
	if _, err := db.SQL().ExecContext(ctx, "UPDATE audit_events SET detail = 'edited' WHERE id = 3"); err == nil {
		t.Fatal("update of an audit row was allowed")
	}
	if _, err := db.SQL().ExecContext(ctx, "DELETE FROM audit_events WHERE id = 3"); err == nil {
		t.Fatal("delete of an audit row was allowed")
	}
	// Someone with the file drops the trigger and edits a row: verification finds it.
	drop := "DROP TRIGGER audit_events_no_update"
	if pgtest.Engine() == "postgres" {
		drop += " ON audit_events"
	}
	if _, err := db.SQL().ExecContext(ctx, drop); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, "UPDATE audit_events SET actor = 'someone else' WHERE id = 3"); err != nil {
		t.Fatal(err)
	}
	_, err = db.VerifyAudit(ctx)
	var ce *store.ChainError
	if !errors.As(err, &ce) || ce.ID != 3 {
		t.Fatalf("verify after tampering: got %v, want a ChainError at 3", err)
	}
}

func TestSetPasswordTokenIsSingleUseAndExpires(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	u := newUser(t, db, "a@example.com", store.RoleAgent)
	if err := db.CreateSetPasswordToken(ctx, store.System, u.ID, store.HashToken("link"), 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UseSetPasswordToken(ctx, store.Actor{}, store.HashToken("link"), "h1"); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if _, err := db.UseSetPasswordToken(ctx, store.Actor{}, store.HashToken("link"), "h2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second use: got %v, want ErrNotFound", err)
	}
	if err := db.CreateSetPasswordToken(ctx, store.System, u.ID, store.HashToken("old"), 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	db.Now = func() time.Time { return time.Now().Add(25 * time.Hour) }
	if _, err := db.SetPasswordTokenUser(ctx, store.HashToken("old")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired link: got %v, want ErrNotFound", err)
	}
	got, _ := db.UserByID(ctx, u.ID)
	if got.PasswordHash != "h1" {
		t.Fatalf("password hash: got %q, want h1", got.PasswordHash)
	}
}

func TestBootstrapAdminOnlyOnEmptyDatabase(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ok, err := db.BootstrapAdmin(ctx, &store.User{Email: fmt.Sprintf("admin%d@example.com", i), DisplayName: "Admin", Role: store.RoleAdmin, Active: true})
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				created++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if n, _ := db.CountUsers(ctx); created != 1 || n != 1 {
		t.Fatalf("bootstrap: created %d, users %d; want 1, 1", created, n)
	}
}

func TestConcurrentWritersNeverSeeLocked(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				if err := db.Audit(ctx, store.System, "test.write", "w", fmt.Sprint(w), store.OutcomeSuccess, ""); err != nil {
					errs <- err
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent write: %v", err)
	}
	if n, err := db.VerifyAudit(ctx); err != nil || n != 400 {
		t.Fatalf("verify: got %d %v, want 400 nil", n, err)
	}
}
