package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mobbscan-review/portal/store"
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
