package main

// The message catalogue is complete (issue 12, item 5): every string the sources mark
// for translation has Spanish, every Spanish entry still has its English string, and no
// template shows English text that did not go through the catalogue.

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/store"
)

// The folders whose sources hold user-visible strings. The command line (main, commands)
// speaks English to operators and is not translated.
var catalogueDirs = []string{"views", "handlers", "review", "auth", "store"}

const goString = `("(?:[^"\\\n]|\\.)*"|` + "`[^`]*`" + `)`

var (
	markedTRE     = regexp.MustCompile(`i18n\.Tf?\(\s*[^,()]+,\s*` + goString)
	markedMRE     = regexp.MustCompile(`i18n\.M\(\s*` + goString)
	markedErrorRE = regexp.MustCompile(`\berrorf\(\s*[^,()]+,\s*[^,()]+,\s*` + goString)
)

// markedStrings returns every string the sources mark, with where it was found.
func markedStrings(t *testing.T) map[string]string {
	t.Helper()
	found := map[string]string{}
	for _, dir := range catalogueDirs {
		files, err := filepath.Glob(filepath.Join(dir, "*"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") || strings.HasSuffix(f, "_templ.go") ||
				!(strings.HasSuffix(f, ".go") || strings.HasSuffix(f, ".templ")) {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, re := range []*regexp.Regexp{markedTRE, markedMRE, markedErrorRE} {
				for _, m := range re.FindAllStringSubmatch(string(src), -1) {
					s, err := strconv.Unquote(m[1])
					if err != nil {
						t.Errorf("%s: cannot read the string %s: %v", f, m[1], err)
						continue
					}
					if _, ok := found[s]; !ok {
						found[s] = f
					}
				}
			}
		}
	}
	return found
}

func TestCatalogueIsComplete(t *testing.T) {
	found := markedStrings(t)
	for s, by := range dynamicStrings() {
		if _, ok := found[s]; !ok {
			found[s] = by
		}
	}
	var missing []string
	for s, f := range found {
		if strings.TrimSpace(s) == "" {
			continue
		}
		if !i18n.Has(s) {
			missing = append(missing, f+": "+strconv.Quote(s))
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("English only, no Spanish: %s", m)
	}
	for _, k := range i18n.Keys() {
		if _, ok := found[k]; !ok {
			t.Errorf("Spanish only, no English string marked in the sources: %q", k)
		}
	}
}

// dynamicStrings are labels the views translate but the sources do not mark: the
// store's vocabulary (store imports nothing of the module), listed from its values.
// The states that review's messages show inside a sentence ("this one is parked") are
// listed lower-cased too.
func dynamicStrings() map[string]string {
	out := map[string]string{}
	add := func(by string, labels ...string) {
		for _, l := range labels {
			if _, ok := out[l]; !ok {
				out[l] = by
			}
		}
	}
	lower := func(by string, labels ...string) {
		for _, l := range labels {
			add(by, strings.ToLower(l))
		}
	}
	for _, v := range []store.Verdict{store.VerdictAccept, store.VerdictReject} {
		add("store.Verdict", v.Label())
	}
	for _, s := range store.DeliveryStates {
		add("store.DeliveryState", s.Label(), s.Help())
		d := &store.Decision{State: s}
		add("store.Decision", d.StateLabel())
		lower("store.DeliveryState", s.Label(), d.StateLabel())
	}
	retrying := &store.Decision{State: store.StateQueued, Attempts: 1}
	add("store.Decision", retrying.StateLabel())
	lower("store.Decision", retrying.StateLabel())
	for _, a := range store.Actions {
		add("store.Action", a.Label())
	}
	for _, m := range []store.SignInMethod{store.SignInPassword, store.SignInTOTP, store.SignInRecovery, store.SignInOIDC} {
		add("store.SignInMethod", m.Label())
	}
	for _, k := range append(slices.Clone(store.EvidenceKinds), store.EvidenceZIP) {
		add("store.EvidenceKind", k.Label())
	}
	for _, n := range store.ScoreNames {
		add("store.ScoreName", n.Label(), n.Short())
	}
	for _, s := range store.ErasureStates {
		add("store.ErasureState", s.Label(), s.Help())
		lower("store.ErasureState", s.Label())
		e := &store.Erasure{State: s}
		add("store.Erasure", e.StateLabel())
		for _, attempts := range []int{0, 1} {
			sb := &store.SendBack{State: s, Attempts: attempts}
			add("store.SendBack", sb.StateLabel())
		}
	}
	retryingErasure := &store.Erasure{State: store.ErasureQueued, Attempts: 1}
	add("store.Erasure", retryingErasure.StateLabel())
	lower("store.Erasure", retryingErasure.StateLabel())
	for _, p := range store.SecondFactorPolicies {
		add("store.SecondFactorPolicy", p.Label())
	}
	for _, f := range store.AuditFormats {
		add("store.AuditFormat", f.Label())
	}
	for _, h := range store.HistoryStates {
		add("store.HistoryState", h.Label())
	}
	for _, k := range store.ProcessEventKinds {
		add("store.ProcessEventKind", k.Label())
	}
	return out
}

var (
	templSkipRE  = regexp.MustCompile(`^(if |} else|else |for |switch |case |default:|}|@|//|templ |package |import|func |\{\{|"|\)|<!--)`)
	templExprRE  = regexp.MustCompile(`\{[^{}]*\}`)
	templTextRE  = regexp.MustCompile(`(aria-label|title|placeholder|alt|aria-description|data-confirm)="([^"]*[A-Za-z][^"]*)"`)
	templAttrRE  = regexp.MustCompile(`[\w:@.\-]+=("[^"]*"|'[^']*')`)
	templTagRE   = regexp.MustCompile(`<!DOCTYPE html>|</?[\w\-]+|/?>|&[#\w]+;|[\w:@.\-]+=(\s|$)`)
	templBoolRE  = regexp.MustCompile(`\b(readonly|required|disabled|checked|selected|hidden|autofocus|multiple|novalidate|download|controls|open|defer|async|playsinline|muted|loop|inert|autoplay)\b`)
	templWordsRE = regexp.MustCompile(`[A-Za-z]{2,}`)
)

// TestTemplatesHaveNoRawText fails on English text written straight into a template:
// text between tags and the text attributes (aria-label, title, placeholder, alt) must
// come from the catalogue.
func TestTemplatesHaveNoRawText(t *testing.T) {
	files, err := filepath.Glob("views/*.templ")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inScript, inTempl := false, false
		for i, line := range strings.Split(string(src), "\n") {
			l := strings.TrimSpace(line)
			if !strings.HasPrefix(line, "\t") && l != "" && l != "}" {
				inTempl = strings.HasPrefix(l, "templ ") // Go code between components is not shown
				continue
			}
			if !inTempl {
				continue
			}
			if strings.HasPrefix(l, "<script") || strings.HasPrefix(l, "<style") {
				inScript = !strings.Contains(l, "</script>") && !strings.Contains(l, "</style>")
				continue
			}
			if inScript {
				inScript = !strings.Contains(l, "</script>") && !strings.Contains(l, "</style>")
				continue
			}
			if l == "" || templSkipRE.MatchString(l) || !strings.HasPrefix(line, "\t") {
				continue
			}
			for strings.Contains(l, "{") && templExprRE.MatchString(l) {
				l = templExprRE.ReplaceAllString(l, " ")
			}
			for _, m := range templTextRE.FindAllStringSubmatch(l, -1) {
				t.Errorf("%s:%d: %s=%q is not from the catalogue", f, i+1, m[1], m[2])
			}
			l = templAttrRE.ReplaceAllString(l, " ")
			l = templTagRE.ReplaceAllString(l, " ")
			l = templBoolRE.ReplaceAllString(l, " ")
			if templWordsRE.MatchString(l) {
				t.Errorf("%s:%d: raw text %q is not from the catalogue", f, i+1, strings.TrimSpace(l))
			}
		}
	}
}
