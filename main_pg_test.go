package main

import (
	"os"
	"testing"

	"github.com/mobbscan-review/portal/store/pgtest"
)

// TestMain stops the throwaway PostgreSQL cluster the two-instance tests start
// (instances_test.go), and removes the portal binary they share.
func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	removeBuiltPortal()
	os.Exit(code)
}
