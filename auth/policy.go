package auth

import (
	_ "embed"
	"errors"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/mobbscan-review/portal/i18n"
)

// Password length limits in characters (Unicode code points), quality bar A2.
const (
	MinPasswordLen = 15
	MaxPasswordLen = 256
)

// Sentinels wrapped by the *PolicyError that ValidatePassword returns; test
// with errors.Is.
var (
	ErrPasswordTooShort = errors.New("password too short")
	ErrPasswordTooLong  = errors.New("password too long")
	ErrPasswordCommon   = errors.New("password too common")
	ErrPasswordPersonal = errors.New("password contains the email address or product name")
)

// PolicyError is a refused password. Error returns a sentence fit to show to
// the user next to the password field; Unwrap returns one of the
// ErrPassword* sentinels.
type PolicyError struct {
	Err     error
	Message string
}

func (e *PolicyError) Error() string { return e.Message }
func (e *PolicyError) Unwrap() error { return e.Err }

// minContextLen is the shortest context string (or email local-part) that is
// looked for inside a password; shorter ones ("al", "bob") would refuse too
// many good passphrases.
const minContextLen = 4

// commonPasswordsFile lists lower-case passwords of at least MinPasswordLen
// characters that are too common to allow, one a line; lines starting with
// '#' are comments. Its header says how it was produced: the long entries of
// two public lists of the most common passwords (John the Ripper's
// password.lst from Debian's john-data, and the 30,000 ranked passwords of
// zxcvbn from Debian's libdata-password-zxcvbn-perl), those lists' top entries
// repeated or extended with common suffixes until they reach the minimum
// length, keyboard walks, counting sequences and well-known phrases.
// Regenerate it with
//
//	apt-get install -y john-data libdata-password-zxcvbn-perl
//	go test ./auth -run TestCommonPasswordList -update-common-passwords
//
//go:embed common-passwords.txt
var commonPasswordsFile string

var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 8192)
	for line := range strings.Lines(commonPasswordsFile) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || line[0] == '#' {
			continue
		}
		set[line] = struct{}{}
	}
	return set
})

// ValidatePassword checks a new password against the policy (quality bar A2):
// 15 to 256 characters counted as Unicode code points, no composition rules,
// and not one of the most common passwords, not a repeated or sequential
// pattern, and not containing any of the context strings. Pass as context the
// user's email address (its local-part is what is looked for) and the product
// name; context strings shorter than four characters are ignored. Case and
// white space do not matter for these comparisons, but the password itself is
// never trimmed, truncated or otherwise changed: hash exactly what was typed.
func ValidatePassword(password string, context ...string) error {
	switch n := utf8.RuneCountInString(password); {
	case n < MinPasswordLen:
		return &PolicyError{ErrPasswordTooShort, i18n.M("Use at least 15 characters.")}
	case n > MaxPasswordLen:
		return &PolicyError{ErrPasswordTooLong, i18n.M("Use at most 256 characters.")}
	}
	folded := foldPassword(password)
	if containsContext(folded, context) {
		return &PolicyError{ErrPasswordPersonal, i18n.M("Don't use your email address or the product name in your password.")}
	}
	if _, ok := commonPasswords()[folded]; ok {
		return &PolicyError{ErrPasswordCommon, i18n.M("This password is too common; choose another.")}
	}
	if isTrivialPattern(folded) {
		return &PolicyError{ErrPasswordCommon, i18n.M("This password is a simple pattern of repeated or sequential characters; choose another.")}
	}
	return nil
}

// foldPassword lower-cases s and drops white space: the form compared with
// the common list, the context strings and the pattern rules.
func foldPassword(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, strings.ToLower(s))
}

// lettersAndDigits keeps only the letters and digits of s.
func lettersAndDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return -1
	}, s)
}

// containsContext reports whether folded contains one of the context
// strings (an email address stands for its local-part), also when
// punctuation is ignored on both sides ("j.smith" and "jsmith").
func containsContext(folded string, context []string) bool {
	bare := lettersAndDigits(folded)
	for _, c := range context {
		c = foldPassword(c)
		if at := strings.LastIndexByte(c, '@'); at >= 0 {
			c = c[:at]
		}
		if utf8.RuneCountInString(c) >= minContextLen && strings.Contains(folded, c) {
			return true
		}
		if c = lettersAndDigits(c); utf8.RuneCountInString(c) >= minContextLen && strings.Contains(bare, c) {
			return true
		}
	}
	return false
}

// isTrivialPattern reports whether s is one group of characters repeated
// three times or more ("abcabcabc…"), or is made of long runs of one
// repeated character or of consecutive digits or letters in either
// direction, on average four characters a run or more ("aaaaaaaaaaaaaaa",
// "123456789012345", "zyxwvutsrqponml", "aaaaabbbbbccccc").
func isTrivialPattern(s string) bool {
	r := []rune(s)
	n := len(r)
	if n == 0 {
		return true
	}
	for unit := 1; unit <= n/3; unit++ {
		if n%unit == 0 && repeats(r, unit) {
			return true
		}
	}
	runs, step, hasStep := 1, 0, false
	for i := 1; i < n; i++ {
		d, ok := seqStep(r[i-1], r[i])
		switch {
		case ok && !hasStep:
			step, hasStep = d, true
		case ok && d == step:
		default:
			runs++
			hasStep = false
		}
	}
	return runs*4 <= n
}

// repeats reports whether r is its first unit runes repeated.
func repeats(r []rune, unit int) bool {
	for i := unit; i < len(r); i++ {
		if r[i] != r[i-unit] {
			return false
		}
	}
	return true
}

// seqStep returns the step from a to b when it is trivial: 0 for the same
// character, +1 or -1 between ASCII digits (0 follows 9) or lower-case ASCII
// letters (a follows z).
func seqStep(a, b rune) (int, bool) {
	if a == b {
		return 0, true
	}
	var d, mod rune
	switch {
	case '0' <= a && a <= '9' && '0' <= b && b <= '9':
		d, mod = b-a, 10
	case 'a' <= a && a <= 'z' && 'a' <= b && b <= 'z':
		d, mod = b-a, 26
	default:
		return 0, false
	}
	switch (d + mod) % mod {
	case 1:
		return 1, true
	case mod - 1:
		return -1, true
	}
	return 0, false
}
