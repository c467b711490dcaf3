package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mobbscan-review/portal/store"
)

// withStdin makes `--password-stdin` read s for the rest of the test.
func withStdin(t *testing.T, s string) {
	t.Helper()
	old := commandStdin
	commandStdin = strings.NewReader(s)
	t.Cleanup(func() { commandStdin = old })
}

// TestUserAddChecksBeforeCreating: `portal user add --password-stdin` checks the email,
// name, role and password before it writes anything: a refused one leaves no account
// (and no audit row), so a retry with a good password works (issue 9).
func TestUserAddChecksBeforeCreating(t *testing.T) {
	dir := t.TempDir()
	getenv := hardeningGetenv(map[string]string{"PORTAL_DATA_DIR": dir})
	ctx := context.Background()
	tests := []struct {
		name, stdin, want string
		args              []string
	}{
		{"common password", "password1234567\n", "password refused", []string{"--email", "new@example.com", "--role", "admin"}},
		{"short password", "short\n", "password refused", []string{"--email", "new@example.com", "--role", "admin"}},
		{"bad role", "copper meadow violin 4412 orbit\n", `--role "root": want admin or agent`, []string{"--email", "new@example.com", "--role", "root"}},
		{"bad email", "copper meadow violin 4412 orbit\n", "--email Enter an email address", []string{"--email", "not-an-email", "--role", "agent"}},
		{"override in the name", "copper meadow violin 4412 orbit\n", "--name The display name contains an invisible direction-control character",
			[]string{"--email", "new@example.com", "--role", "agent", "--name", "Eve\u202eevE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withStdin(t, tt.stdin)
			err := run(ctx, append([]string{"user", "add", "--password-stdin"}, tt.args...), getenv, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error saying %q", err, tt.want)
			}
		})
	}
	db, err := store.Open(ctx, filepath.Join(dir, "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := db.CountUsers(ctx); err != nil || n != 0 {
		t.Errorf("after refusals: %d accounts (%v), want none", n, err)
	}
	events, _ := db.ListAudit(ctx, store.AuditFilter{})
	if len(events) != 0 {
		t.Errorf("after refusals: %d audit rows, want none", len(events))
	}
	db.Close()

	// The retry with a good password creates the account with it.
	withStdin(t, "copper meadow violin 4412 orbit\n")
	out := &syncBuffer{}
	if err := run(ctx, []string{"user", "add", "--password-stdin", "--email", "new@example.com", "--role", "admin"}, getenv, out); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if !strings.Contains(out.String(), "password set for new@example.com") {
		t.Errorf("retry output:\n%s", out.String())
	}
	db, err = store.Open(ctx, filepath.Join(dir, "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.UserByEmail(ctx, "new@example.com")
	if err != nil || u.PasswordHash == "" || u.Role != store.RoleAdmin {
		t.Fatalf("account %+v, %v; want an admin with a password", u, err)
	}
}
