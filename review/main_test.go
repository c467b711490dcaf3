package review_test

import (
	"os"
	"testing"

	"github.com/mobbscan-review/portal/store/pgtest"
)

// TestMain stops the throwaway PostgreSQL cluster a benchmark or test may have started.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
