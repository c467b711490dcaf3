// Package i18n is the portal's message catalogue (issue 12, item 5): every user-visible
// string is written in English in the code, marked where it is written, and translated
// where it is shown. English is the key; each other language is a map from that key to
// its translation, kept in this package's catalogue files (es_*.go). A test in the
// module's root (i18n_catalogue_test.go) finds every marked string in the sources and
// fails when one has no Spanish, or when a Spanish entry has no English string left.
//
// How strings are marked:
//   - in templates and views: i18n.T(ctx, "Sign out"), i18n.Tf(ctx, "%d cases", n);
//   - in Go code that hands text to a view (flash messages, notices, error messages):
//     i18n.M("Account created."), translated when the view shows it;
//   - review's errorf(code, field, "format", args...) formats are marked by their call.
//
// A message formatted before it reaches the view ("Note is too long: 2000 characters at
// most (you wrote 2031).") is translated by matching it against the catalogue's formats
// ("%s is too long: %d characters at most (you wrote %d)."): the English values are
// taken back out, string values translated in turn, and the Spanish format applied.
package i18n

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Lang is a language the portal speaks.
type Lang string

// The portal's languages; English is the default and the catalogue's key.
const (
	EN Lang = "en"
	ES Lang = "es"
)

// Langs lists the languages in the order the preference shows them.
var Langs = []Lang{EN, ES}

// Name is the language's name in itself, as a language menu shows it.
func (l Lang) Name() string {
	if l == ES {
		return "Español"
	}
	return "English"
}

// Tag is the language's BCP 47 tag.
func (l Lang) Tag() language.Tag {
	if l == ES {
		return language.Spanish
	}
	return language.English
}

// Parse returns the language a stored or submitted value names; ok is false for anything
// else (the empty string included).
func Parse(s string) (Lang, bool) {
	switch Lang(s) {
	case EN, ES:
		return Lang(s), true
	}
	return EN, false
}

var matcher = language.NewMatcher([]language.Tag{language.English, language.Spanish})

// Match picks the language for an Accept-Language header; English when none fits.
func Match(acceptLanguage string) Lang {
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return EN
	}
	_, i, conf := matcher.Match(tags...)
	if conf == language.No {
		return EN
	}
	return Langs[i]
}

// Locale is how one request shows text, numbers and times.
type Locale struct {
	Lang Lang
	Zone *time.Location // nil means UTC
}

type ctxKey struct{}

// With returns ctx carrying the locale.
func With(ctx context.Context, l Locale) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// From returns the locale ctx carries: English and UTC when none.
func From(ctx context.Context) Locale {
	if ctx != nil {
		if l, ok := ctx.Value(ctxKey{}).(Locale); ok {
			if l.Zone == nil {
				l.Zone = time.UTC
			}
			return l
		}
	}
	return Locale{Lang: EN, Zone: time.UTC}
}

// M marks an English string for the catalogue where it is written and returns it
// unchanged; the view that shows it translates it with T.
func M(s string) string { return s }

// T translates s into the language of ctx. A string that is not in the catalogue as
// such is matched against the catalogue's formats (a message formatted before it
// reached the view). What the catalogue does not know is shown in English.
func T(ctx context.Context, s string) string { return From(ctx).Lang.T(s) }

// Tf translates the format into the language of ctx and applies it to args; string args
// are translated too (a field's label inside a message).
func Tf(ctx context.Context, format string, args ...any) string {
	return From(ctx).Lang.Tf(format, args...)
}

// T translates s into l (see the package function T).
func (l Lang) T(s string) string {
	if l != ES {
		return s
	}
	if t, ok := es[s]; ok {
		return t
	}
	return esFormats.translate(s)
}

// Tf translates format into l and applies it (see the package function Tf).
func (l Lang) Tf(format string, args ...any) string {
	if l != ES {
		return fmt.Sprintf(format, args...)
	}
	if t, ok := es[format]; ok {
		format = t
	}
	out := make([]any, len(args))
	for i, a := range args {
		if str, ok := a.(string); ok {
			out[i] = l.T(str)
		} else {
			out[i] = a
		}
	}
	return fmt.Sprintf(format, out...)
}

// Has reports whether the Spanish catalogue has s as a key.
func Has(s string) bool {
	_, ok := es[s]
	return ok
}

// Keys returns the Spanish catalogue's keys, sorted.
func Keys() []string {
	keys := make([]string, 0, len(es))
	for k := range es {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Spanish returns the Spanish entry for key, for tests.
func Spanish(key string) (string, bool) {
	t, ok := es[key]
	return t, ok
}

// es is the Spanish catalogue, filled by the es_*.go files.
var es = map[string]string{}

// add registers catalogue entries; a key given two different translations is a
// programming error caught when the package loads.
func add(m map[string]string) {
	for k, v := range m {
		if old, ok := es[k]; ok && old != v {
			panic(fmt.Sprintf("i18n: %q has two Spanish translations: %q and %q", k, old, v))
		}
		es[k] = v
	}
}

// Number formats n with the language's digit grouping (1,234 / 1234 and 12.345).
func Number(ctx context.Context, n int) string {
	return message.NewPrinter(From(ctx).Lang.Tag()).Sprintf("%d", n)
}

var monthsES = [...]string{"ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic"}

// Date shows a day in the language: "6 Dec 2026" / "6 dic 2026", in the locale's zone.
func Date(ctx context.Context, t time.Time) string {
	loc := From(ctx)
	t = t.In(loc.Zone)
	if loc.Lang == ES {
		return fmt.Sprintf("%d %s %d", t.Day(), monthsES[t.Month()-1], t.Year())
	}
	return t.Format("2 Jan 2006")
}

// DateTime shows a time to the minute in the locale's zone and language:
// "6 Dec 2026, 14:05 CET" / "6 dic 2026, 14:05 CET". The zero time is "—".
func DateTime(ctx context.Context, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	loc := From(ctx)
	t = t.In(loc.Zone)
	return Date(ctx, t) + ", " + t.Format("15:04 MST")
}

// formats holds the catalogue's keys that contain verbs, compiled once into patterns
// that take a formatted English message apart again.
type formats struct {
	once sync.Once
	list []pattern
}

type pattern struct {
	parts []string // the format's fixed text between its verbs: a message lacking one cannot match
	re    *regexp.Regexp
	verbs []byte // the verb of each argument, in order: 's', 'd', 'q', 'v'
	key   string
}

var esFormats = &formats{}

var verbRE = regexp.MustCompile(`%(\[\d+\])?[-+# 0]*\d*(\.\d+)?[sdqv]|%%`)

func (f *formats) compile() {
	for key := range es {
		if !strings.Contains(key, "%") {
			continue
		}
		var b strings.Builder
		var verbs []byte
		parts := []string{}
		b.WriteString("^")
		last := 0
		ok := true
		for _, m := range verbRE.FindAllStringIndex(key, -1) {
			b.WriteString(regexp.QuoteMeta(key[last:m[0]]))
			if fixed := key[last:m[0]]; fixed != "" {
				parts = append(parts, fixed)
			}
			v := key[m[0]:m[1]]
			last = m[1]
			if v == "%%" {
				b.WriteString("%")
				continue
			}
			if strings.Contains(v, "[") {
				ok = false // English keys take their arguments in order
				break
			}
			verb := v[len(v)-1]
			verbs = append(verbs, verb)
			switch verb {
			case 'd':
				b.WriteString(`(-?[0-9]+)`)
			case 'q':
				b.WriteString(`("(?:[^"\\]|\\.)*")`)
			default:
				b.WriteString(`(.+?)`)
			}
		}
		if !ok || len(verbs) == 0 {
			continue
		}
		b.WriteString(regexp.QuoteMeta(key[last:]))
		b.WriteString("$")
		if key[last:] != "" {
			parts = append(parts, key[last:])
		}
		f.list = append(f.list, pattern{parts: parts, re: regexp.MustCompile("(?s)" + b.String()), verbs: verbs, key: key})
	}
	// The most specific format first: the one with the most fixed text.
	sort.Slice(f.list, func(i, j int) bool {
		li, lj := fixedLen(f.list[i].key), fixedLen(f.list[j].key)
		if li != lj {
			return li > lj
		}
		return f.list[i].key < f.list[j].key
	})
}

func fixedLen(key string) int { return len(verbRE.ReplaceAllString(key, "")) }

// translate returns s in Spanish when one of the catalogue's formats produced it, and s
// unchanged otherwise.
func (f *formats) translate(s string) string {
	f.once.Do(f.compile)
	for _, p := range f.list {
		if !containsAll(s, p.parts) {
			continue
		}
		m := p.re.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		args := make([]any, len(p.verbs))
		for i, verb := range p.verbs {
			v := m[i+1]
			switch verb {
			case 'd':
				n, err := strconv.Atoi(v)
				if err != nil {
					args[i] = v
				} else {
					args[i] = n
				}
			case 'q':
				if u, err := strconv.Unquote(v); err == nil {
					args[i] = u
				} else {
					args[i] = v
				}
			default:
				args[i] = ES.T(v)
			}
		}
		return fmt.Sprintf(es[p.key], args...)
	}
	return s
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
