package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// TestUserResetSecondFactor (issue 9, item 1): the operator's way back in for an
// administrator who lost their phone when no other administrator can reset it.
func TestUserResetSecondFactor(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"PORTAL_DATA_DIR": dir}
	getenv := func(k string) string { return env[k] }
	out := &syncBuffer{}
	ctx := context.Background()
	if err := run(ctx, []string{"user", "add", "--email", "boss@example.com", "--role", "admin"}, getenv, out); err != nil {
		t.Fatalf("user add: %v", err)
	}
	db, err := openStore(ctx, config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	u, err := db.UserByEmail(ctx, "boss@example.com")
	if err != nil {
		t.Fatal(err)
	}
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	if err := db.BeginTOTPEnrolment(ctx, u.ID, secret, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := db.ConfirmTOTPEnrolment(ctx, store.Actor{UserID: u.ID, Email: u.Email}, u.ID, secret, 1, []string{store.HashToken("r")}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	if err := run(ctx, []string{"user", "reset", "--email", "boss@example.com", "--second-factor"}, getenv, out); err != nil {
		t.Fatalf("user reset --second-factor: %v", err)
	}
	if !strings.Contains(out.String(), "second factor of boss@example.com removed") {
		t.Fatalf("output:\n%s", out.String())
	}
	db, err = openStore(ctx, config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.TOTPByUser(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second factor after the reset: %v, want ErrNotFound", err)
	}
	events, err := db.ListAudit(ctx, store.AuditFilter{Action: string(store.ActionSecondFactorReset)})
	if err != nil || len(events) != 1 || events[0].Actor != operator.Email {
		t.Fatalf("reset audit: %+v %v, want one row by the operator", events, err)
	}
	if err := run(ctx, []string{"user", "reset", "--email", "boss@example.com", "--second-factor"}, getenv, out); err != nil {
		t.Fatalf("second reset: %v", err)
	}
	if !strings.Contains(out.String(), "boss@example.com has no second factor") {
		t.Fatalf("output:\n%s", out.String())
	}
}
