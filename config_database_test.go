package main

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/store/pgtest"
)

// TestDatabaseURLConfig: PORTAL_DATABASE_URL (or _FILE) selects PostgreSQL; empty keeps
// SQLite in the data folder; anything but a PostgreSQL URL is refused at start.
func TestDatabaseURLConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "db-url")
	if err := os.WriteFile(file, []byte("postgres://portal:s3cret@db.internal:5432/portal\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		env     map[string]string
		want    string
		wantErr string
	}{
		{"SQLite by default", nil, "", ""},
		{"a URL", map[string]string{"PORTAL_DATABASE_URL": "postgres://portal@127.0.0.1/portal"}, "postgres://portal@127.0.0.1/portal", ""},
		{"the long scheme", map[string]string{"PORTAL_DATABASE_URL": "postgresql://h/portal"}, "postgresql://h/portal", ""},
		{"from a file", map[string]string{"PORTAL_DATABASE_URL_FILE": file}, "postgres://portal:s3cret@db.internal:5432/portal", ""},
		{"a missing file", map[string]string{"PORTAL_DATABASE_URL_FILE": file + ".gone"}, "", "PORTAL_DATABASE_URL_FILE"},
		{"another engine", map[string]string{"PORTAL_DATABASE_URL": "mysql://h/portal"}, "", "want a PostgreSQL URL"},
		{"a path", map[string]string{"PORTAL_DATABASE_URL": "/var/lib/portal.db"}, "", "want a PostgreSQL URL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := parseConfig("serve", nil, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || cfg.DatabaseURL != tt.want {
				t.Fatalf("DatabaseURL = %q, %v; want %q", cfg.DatabaseURL, err, tt.want)
			}
		})
	}
}

// TestBackupOnPostgresPointsToPgDump: portal backup copies SQLite files only; on
// PostgreSQL it says to use pg_dump, before touching anything.
func TestBackupOnPostgresPointsToPgDump(t *testing.T) {
	to := filepath.Join(t.TempDir(), "copy.db")
	env := map[string]string{"PORTAL_DATABASE_URL": "postgres://portal@127.0.0.1:1/portal"}
	err := run(context.Background(), []string{"backup", "--to", to}, func(k string) string { return env[k] }, io.Discard)
	if !errors.Is(err, store.ErrBackupEngine) || !strings.Contains(err.Error(), "pg_dump") {
		t.Fatalf("err = %v, want the pg_dump advice", err)
	}
	if _, err := os.Stat(to); !os.IsNotExist(err) {
		t.Fatalf("backup wrote %s: %v", to, err)
	}
}

// TestCommandsOnPostgres: the operator's commands work on PostgreSQL as on SQLite: user
// add and reset, audit verify and export, all on the database PORTAL_DATABASE_URL names.
func TestCommandsOnPostgres(t *testing.T) {
	env := map[string]string{"PORTAL_DATABASE_URL": pgtest.Database(t), "PORTAL_DATA_DIR": t.TempDir()}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	out := &syncBuffer{}
	for _, args := range [][]string{
		{"user", "add", "--email", "ops@example.com", "--role", "admin"},
		{"user", "add", "--email", "agent@example.com", "--role", "agent"},
		{"user", "reset", "--email", "agent@example.com"},
		{"audit", "verify"},
	} {
		if err := run(ctx, args, getenv, out); err != nil {
			t.Fatalf("portal %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
	}
	if !strings.Contains(out.String(), "audit chain intact") {
		t.Errorf("audit verify said: %s", out.String())
	}
	err := run(ctx, []string{"user", "add", "--email", "ops@example.com", "--role", "admin"}, getenv, out)
	if err == nil {
		t.Fatal("a second account with the same email was created")
	}
	stdout := &syncBuffer{}
	day := time.Now().UTC().Format("2006-01-02")
	if err := run(ctx, []string{"audit", "export", "--from", day, "--to", day, "--format", "jsonl"}, getenv, stdout); err != nil {
		t.Fatalf("audit export: %v", err)
	}
	if n := strings.Count(stdout.String(), "\n"); n < 5 {
		t.Fatalf("export: %d lines, want the two creations, their links and the reset:\n%s", n, stdout.String())
	}
	db, err := store.Open(ctx, env["PORTAL_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n, err := db.VerifyAudit(ctx); err != nil || n < 6 {
		t.Fatalf("chain after the commands: %d events, %v", n, err)
	}
}

// TestInstanceNameConfig: -instance or PORTAL_INSTANCE names the instance (the flag
// first); a name that is not usable is refused, saying where it came from; without one
// the name is the host name and the listening port.
func TestInstanceNameConfig(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}
	host, _ := os.Hostname()
	for _, tt := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    string
		wantErr string
	}{
		{"host and port by default", nil, nil, host + ":8443", ""},
		{"from the environment", nil, map[string]string{"PORTAL_INSTANCE": "east-1"}, "east-1", ""},
		{"the flag first", []string{"-instance", "west/2"}, map[string]string{"PORTAL_INSTANCE": "east-1"}, "west/2", ""},
		{"a space", []string{"-instance", "east 1"}, nil, "", "-instance, PORTAL_INSTANCE"},
		{"too long", []string{"-instance", strings.Repeat("a", store.MaxInstanceName+1)}, nil, "", "-instance, PORTAL_INSTANCE"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := parseConfig("serve", tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			got, err := instanceName(cfg.Instance, addr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("instanceName = %q, %v; want an error saying %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("instanceName = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
