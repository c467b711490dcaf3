package main

import (
	"os"
	"testing"

	"github.com/mobbscan-review/portal/store/pgtest"
)

// TestMain drops what the PostgreSQL tests made (config_database_test.go) and stops
// the throwaway cluster if they started one.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
