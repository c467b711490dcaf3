package main

// The layering of ../shared/design.md, checked on what the packages really import: a
// wrong import fails the build's tests, not a review.

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/mobbscan-review/portal"

// allowedImports lists, for every package of the module, the module's packages it may
// import directly (tests aside). Dependencies point one way: main → everything;
// handlers → review, store, auth, views (and the embedded static files); review →
// store, mobbscan; auth → store; views → i18n (the message catalogue, which every layer
// but store and mobbscan may use to mark strings); store, mobbscan → nothing of the module.
var allowedImports = map[string][]string{
	"":                 {"auth", "handlers", "i18n", "metrics", "mobbscan", "mobbscan/sandbox", "review", "store", "static", "views"},
	"handlers":         {"auth", "i18n", "review", "static", "store", "views"},
	"review":           {"i18n", "mobbscan", "store"},
	"auth":             {"i18n", "store"},
	"i18n":             nil, // the message catalogue (issue 12): a leaf every layer may mark strings with
	"auth/oidctest":    nil, // single sign-on (issue 9, item 2): a real OpenID Provider for tests only
	"views":            {"i18n"},
	"store":            nil,
	"processtest":      nil, // tests that run the portal binary as processes (crash rounds, two instances)
	"store/pgtest":     nil, // PostgreSQL for tests (issue 13): a throwaway cluster, a database per test
	"mobbscan":         nil,
	"mobbscan/sandbox": nil,
	"static":           nil,
	"metrics":          {"mobbscan", "store"}, // Prometheus: fed by hooks main wires; nothing but main imports it
}

// TestLayering walks `go list -deps` over the module and fails on any import against
// the layering, and on any package the table does not know.
func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}|{{join .Imports \",\"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, imports, _ := strings.Cut(line, "|")
		pkg, ok := local(path)
		if !ok {
			continue
		}
		seen++
		allowed, known := allowedImports[pkg]
		if !known {
			t.Errorf("package %q is not in the layering table: add it to allowedImports (and to design.md)", path)
			continue
		}
		for _, imp := range strings.Split(imports, ",") {
			if dep, ok := local(imp); ok && !slices.Contains(allowed, dep) {
				t.Errorf("%s imports %s: against the layering (allowed: %v)", path, imp, allowed)
			}
		}
	}
	if seen < len(allowedImports) {
		t.Errorf("go list saw %d of the module's %d packages", seen, len(allowedImports))
	}
}

// local returns the package's path inside the module ("" for the module's root).
func local(path string) (string, bool) {
	if path == module {
		return "", true
	}
	rest, ok := strings.CutPrefix(path, module+"/")
	return rest, ok
}
