package processtest

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/store/pgtest"
)

// TestMain stops the throwaway PostgreSQL cluster the two-instance tests start
// (instances_test.go), and removes the portal binary they share.
func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	removeBuiltPortal()
	os.Exit(code)
}

// syncBuffer is a bytes.Buffer safe for concurrent writers (a child's output).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freePort returns a loopback address free a moment ago, for a child to listen on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// addUser creates an active account with password in the SQLite database of dataDir
// (the portal must not be running).
func addUser(t *testing.T, dataDir, email, name, role, password string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dataDir, "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hash, err := auth.NewHasher(auth.TestParams).Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(ctx, store.System, &store.User{Email: email, DisplayName: name, Role: role, PasswordHash: hash, Active: true}); err != nil {
		t.Fatal(err)
	}
}
