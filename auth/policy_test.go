package auth

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidatePassword(t *testing.T) {
	const strong = "violet tractor under 9 moons"
	tests := []struct {
		name     string
		password string
		context  []string
		want     error // nil or a sentinel
	}{
		{"empty", "", nil, ErrPasswordTooShort},
		{"14 ascii", "mfZ8#qLr2vX!pT", nil, ErrPasswordTooShort},
		{"15 ascii", "mfZ8#qLr2vX!pTk", nil, nil},
		{"15 runes, more bytes", "žluťoučký kůň ü", nil, nil},
		{"14 runes, 28 bytes", "жёлтыйсинийкот", nil, ErrPasswordTooShort},
		{"256 runes", strings.Repeat("ab1Ž", 64), nil, ErrPasswordCommon}, // repeated unit, but not too long
		{"256 runes varied", variedPassword(256), nil, nil},
		{"257 runes", variedPassword(257), nil, ErrPasswordTooLong},
		{"no composition rules: lower case only", "violettractorundermoons", nil, nil},
		{"passphrase", strong, nil, nil},
		{"leading and trailing spaces count", "  mfZ8#qLr2vX!  ", nil, nil},
		{"spaces only", strings.Repeat(" ", 20), nil, ErrPasswordCommon},

		{"common long entry", "manchesterunited", nil, ErrPasswordCommon},
		{"common, upper case", "ManchesterUnited", nil, ErrPasswordCommon},
		{"common, with spaces", "Manchester United", nil, ErrPasswordCommon},
		{"password doubled", "passwordpassword", nil, ErrPasswordCommon},
		{"password plus digits", "Password1234567", nil, ErrPasswordCommon},
		{"keyboard walk", "qwertyuiopasdfgh", nil, ErrPasswordCommon},
		{"keyboard columns", "1qaz2wsx3edc4rfv", nil, ErrPasswordCommon},
		{"xkcd", "correct horse battery staple", nil, ErrPasswordCommon},

		{"one char repeated", "aaaaaaaaaaaaaaaaaaaa", nil, ErrPasswordCommon},
		{"symbol repeated", "!!!!!!!!!!!!!!!", nil, ErrPasswordCommon},
		{"digits ascending with wrap", "123456789012345", nil, ErrPasswordCommon},
		{"digits descending", "987654321098765", nil, ErrPasswordCommon},
		{"letters ascending", "abcdefghijklmnop", nil, ErrPasswordCommon},
		{"letters descending, upper", "ZYXWVUTSRQPONMLK", nil, ErrPasswordCommon},
		{"up and down", "12345678987654321", nil, ErrPasswordCommon},
		{"three runs", "aaaaabbbbbccccc", nil, ErrPasswordCommon},
		{"letters then digits", "abcdefgh12345678", nil, ErrPasswordCommon},
		{"unit repeated three times", "xk9!xk9!xk9!xk9!", nil, ErrPasswordCommon},
		{"unit repeated twice is fine", "Tr0ub4dor&3xTr0ub4dor&3x", nil, nil},

		{"email local-part inside", "jane.doe-rocks-2024!", []string{"Jane.Doe@example.com"}, ErrPasswordPersonal},
		{"local-part without punctuation", "janedoe is my name ok", []string{"jane.doe@example.com"}, ErrPasswordPersonal},
		{"equal to local-part", "averylongusername", []string{"averylongusername@example.com"}, ErrPasswordPersonal},
		{"domain is not checked", "example violet tractor", []string{"jane.doe@example.com"}, nil},
		{"product name", "MobbScan violet tractor", []string{"jane@example.com", "Mobbscan"}, ErrPasswordPersonal},
		{"short context ignored", "bob likes violet tractors", []string{"bob@example.com"}, nil},
		{"empty context ignored", strong, []string{"", "   "}, nil},
		{"unrelated context", strong, []string{"jane.doe@example.com", "mobbscan"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePassword(tt.password, tt.context...)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("ValidatePassword(%q) = %v, want nil", tt.password, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("ValidatePassword(%q) = %v, want an error wrapping %v", tt.password, err, tt.want)
			}
			var pe *PolicyError
			if !errors.As(err, &pe) || pe.Message == "" || pe.Error() != pe.Message {
				t.Errorf("ValidatePassword(%q) error %#v: want a *PolicyError with a message", tt.password, err)
			}
		})
	}
}

// variedPassword returns n runes with no trivial pattern.
func variedPassword(n int) string {
	var b strings.Builder
	words := []string{"violet", "tractor", "under", "nine", "moons", "žluť", "κύμα", "7"}
	for i := 0; utf8.RuneCountInString(b.String()) < n; i++ {
		b.WriteString(words[i%len(words)])
		b.WriteString(strconv.Itoa(i))
	}
	return string([]rune(b.String())[:n])
}

func TestValidatePasswordMessages(t *testing.T) {
	tests := []struct {
		password string
		want     string
	}{
		{"short", "Use at least 15 characters."},
		{strings.Repeat("x", 300), "Use at most 256 characters."},
		{"manchesterunited", "This password is too common; choose another."},
	}
	for _, tt := range tests {
		err := ValidatePassword(tt.password)
		if err == nil || err.Error() != tt.want {
			t.Errorf("ValidatePassword(%.20q) = %v, want %q", tt.password, err, tt.want)
		}
	}
}

func TestIsTrivialPattern(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"", true},
		{"zabcdefghijklmn", true},
		{"0987654321", true},
		{"1111222233334444", true},
		{"aaaaaaaaaaaaaaab", true},
		{"ab", false},
		{"abxy", false},
		{"correcthorsebatterystaple", false},
		{"1a2b3c4d5e6f7g8h", false},
		{"13579135791357913579", true},  // a unit four times
		{"13579246801357924680", false}, // a unit twice only: left to the word list
	}
	for _, tt := range tests {
		if got := isTrivialPattern(tt.s); got != tt.want {
			t.Errorf("isTrivialPattern(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

// ---- the embedded word list ----

var updateCommon = flag.Bool("update-common-passwords", false,
	"regenerate common-passwords.txt from Debian's john-data and libdata-password-zxcvbn-perl")

// Sources of the ranked lists of common passwords (see regenerateCommonList).
const (
	johnListPath   = "/usr/share/john/password.lst"
	zxcvbnListPath = "/usr/share/perl5/Data/Password/zxcvbn/RankedDictionaries/Common.pm"
)

// TestCommonPasswordList checks the embedded list's shape and that every
// generated pattern is in it; with -update-common-passwords it first rewrites
// the file from the Debian packages.
func TestCommonPasswordList(t *testing.T) {
	if *updateCommon {
		content, err := regenerateCommonList()
		if err != nil {
			t.Fatalf("regenerate: %v (apt-get install -y john-data libdata-password-zxcvbn-perl)", err)
		}
		if err := os.WriteFile("common-passwords.txt", []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		commonPasswordsFile = content
		t.Logf("wrote common-passwords.txt: %d bytes", len(content))
	}
	const maxSize = 200 << 10
	if got := len(commonPasswordsFile); got >= maxSize {
		t.Errorf("common-passwords.txt is %d bytes, want < %d", got, maxSize)
	}
	var entries []string
	for line := range strings.Lines(commonPasswordsFile) {
		line = strings.TrimSuffix(line, "\n")
		if line == "" || line[0] == '#' {
			continue
		}
		if line != foldPassword(line) {
			t.Errorf("entry %q is not folded (lower case, no white space)", line)
		}
		if n := utf8.RuneCountInString(line); n < MinPasswordLen || n > MaxPasswordLen {
			t.Errorf("entry %q has %d characters, want %d to %d", line, n, MinPasswordLen, MaxPasswordLen)
		}
		if isTrivialPattern(line) {
			t.Errorf("entry %q is already refused by the pattern rules", line)
		}
		entries = append(entries, line)
	}
	if !slices.IsSorted(entries) || len(slices.Compact(slices.Clone(entries))) != len(entries) {
		t.Errorf("entries are not sorted and unique")
	}
	if len(entries) < 1000 {
		t.Errorf("list has %d entries, want at least 1000", len(entries))
	}
	set := commonPasswords()
	for _, p := range generatedPatterns() {
		if _, ok := set[p]; !ok && !isTrivialPattern(p) {
			t.Errorf("generated pattern %q is missing from the list", p)
		}
	}
}

// Inputs of the generated part of the list.
var (
	// keyboardWalks are typed across or down a keyboard (QWERTY, QWERTZ,
	// AZERTY, number pad); each is also repeated and reversed.
	keyboardWalks = []string{
		"1234567890qwertyuiopasdfghjklzxcvbnm", "qwertyuiopasdfghjklzxcvbnm",
		"qwertzuiopasdfghjklyxcvbnm", "azertyuiopqsdfghjklmwxcvbn",
		"qwertyuiop", "asdfghjkl", "zxcvbnm", "qwerty", "asdfgh", "zxcvbn", "qwertz", "azerty",
		"qweasdzxc", "qweasd", "asdzxc", "qazwsx", "qazwsxedc", "123qwe", "123qweasd", "123qweasdzxc",
		"qwe123", "qwerty123", "1qaz2wsx", "1qaz2wsx3edc", "1q2w3e4r", "1q2w3e4r5t", "1q2w3e",
		"1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p", "qazwsxedcrfvtgbyhnujmikolp",
		"zaq1xsw2cde3vfr4bgt5nhy6mju7ki8lo9p0", "zaq12wsxcde34rfvbgt56yhnmju78ik",
		"1qazxsw23edcvfr45tgbnhy67ujm", "1q2w3e4r5t6y7u8i9o0p", "q1w2e3r4t5y6u7i8o9p0",
		"1a2s3d4f5g6h7j8k9l", "a1s2d3f4g5h6j7k8l9", "1234qwerasdfzxcv", "qwerasdfzxcv", "qwertasdfgzxcvb",
		"!qaz@wsx#edc$rfv%tgb^yhn", "1qaz!qaz2wsx@wsx3edc#edc4rfv$rfv", "!qaz1qaz@wsx2wsx#edc3edc",
		"!@#$%^&*()", "1!2@3#4$5%6^7&8*9(0)", "!@#$%^&*()_+", "1234567890-=", "!@#qwe", "123!@#qwe",
		"147258369", "159357", "789456123", "741852963", "963852741", "123698745", "1472583690",
		"11223344556677889900", "123321", "12344321", "123454321", "1234554321",
	}
	// phrases are well-known long passwords and passphrases.
	phrases = []string{
		"correct horse battery staple", "the quick brown fox jumps over the lazy dog",
		"the quick brown fox", "i love you forever", "i love you so much", "i love you very much",
		"i love you baby", "i love my mom", "i love my family", "i love my wife", "i love my husband",
		"i love my kids", "i love my dog", "i love jesus", "jesus loves me", "god is good all the time",
		"jesus is lord", "jesus christ", "this is my password", "this is a password", "this is my new password",
		"my new password", "my secret password", "my password", "super secret password", "very secret password",
		"very secure password", "secure password", "strong password", "my password is strong",
		"my password is password", "password is password", "i hate passwords", "i forgot my password",
		"forgot my password", "forgot password", "change my password", "change this password",
		"reset my password", "new password please", "let me in please", "let me in now", "open sesame",
		"may the force be with you", "may the 4th be with you", "to be or not to be",
		"to be or not to be that is the question", "one two three four five", "one two three four",
		"hello world", "hello there", "good morning", "welcome to the jungle", "welcome home",
		"winter is coming", "you shall not pass", "all your base are belong to us", "never gonna give you up",
		"hakuna matata", "carpe diem", "live laugh love", "just do it", "no pain no gain", "keep calm and carry on",
		"trust no one", "the truth is out there", "i am the best", "i am the one", "life is good",
		"default password", "temporary password", "temp password", "admin password", "administrator",
		"change me", "change me now", "welcome", "welcome to the portal", "compliance", "compliance team",
		"summer time", "spring time", "happy birthday", "merry christmas", "happy new year",
		"manchester united", "real madrid", "barcelona", "liverpool", "chelsea", "arsenal",
		"star wars", "harry potter", "lord of the rings", "game of thrones", "pokemon", "minecraft",
		"the beatles", "led zeppelin", "pink floyd", "metallica", "iron maiden",
	}
	// suffixes are appended to the common passwords that contain a letter.
	suffixes = []string{
		"1", "12", "123", "1234", "12345", "123456", "1234567", "12345678", "123456789", "1234567890",
		"007", "69", "111", "2020", "2021", "2022", "2023", "2024", "2025", "2026",
		"!", "!!", "!!!", "1!", "123!", "123456!", "@123", "!@#", "!@#$%", "!@#$%^&*", "123!@#",
		"qwerty", "abc123", "password",
	}
)

// maxWalkLen is the longest cut of a repeated keyboard walk that is listed.
const maxWalkLen = 24

// generatedPatterns returns the part of the list that needs no input: walks
// (repeated, reversed, cut at every length from the minimum to maxWalkLen),
// phrases (alone, twice, and with a few suffixes) and counting sequences.
func generatedPatterns() []string {
	var out []string
	add := func(s string) {
		s = foldPassword(s)
		if n := utf8.RuneCountInString(s); n >= MinPasswordLen && n <= MaxPasswordLen {
			out = append(out, s)
		}
	}
	for _, w := range keyboardWalks {
		for _, w := range []string{w, reverse(w)} {
			long := strings.Repeat(w, maxWalkLen/len(w)+1)
			for n := MinPasswordLen; n <= maxWalkLen; n++ {
				add(long[:n])
			}
		}
	}
	for _, p := range phrases {
		add(p)
		add(p + p)
		for _, s := range []string{"1", "12", "123", "1234", "!", "1!", "123!"} {
			add(p + s)
		}
	}
	// Counting: 123456789101112…, 010203…
	var count, count0 strings.Builder
	for i := 1; i <= 30; i++ {
		count.WriteString(strconv.Itoa(i))
		fmt.Fprintf(&count0, "%02d", i)
	}
	for n := MinPasswordLen; n <= maxWalkLen; n++ {
		add(count.String()[:n])
		add(count0.String()[:n])
	}
	return out
}

func reverse(s string) string {
	r := []rune(s)
	slices.Reverse(r)
	return string(r)
}

// How many of the ranked common passwords are doubled or given suffixes.
const (
	topDoubled  = 3000
	topSuffixed = 1200
)

// regenerateCommonList builds common-passwords.txt: the ranked short lists
// (zxcvbn's 30,000 passwords by rank, then John's list in its order) give
// (1) their entries of at least 15 characters, (2) their top topDoubled
// entries typed twice, (3) their top topSuffixed entries that contain a
// letter followed by each suffix; then the generated patterns. Entries the
// pattern rules already refuse are left out.
func regenerateCommonList() (string, error) {
	ranked, err := rankedCommonPasswords()
	if err != nil {
		return "", err
	}
	set := map[string]bool{}
	add := func(s string) {
		s = foldPassword(s)
		if n := utf8.RuneCountInString(s); n >= MinPasswordLen && n <= MaxPasswordLen && !isTrivialPattern(s) {
			set[s] = true
		}
	}
	for i, p := range ranked {
		add(p)
		if i < topDoubled {
			add(p + p)
		}
		if i < topSuffixed && strings.ContainsFunc(p, func(r rune) bool { return 'a' <= r && r <= 'z' }) {
			for _, s := range suffixes {
				add(p + s)
			}
		}
	}
	for _, p := range generatedPatterns() {
		add(p)
	}
	entries := make([]string, 0, len(set))
	for s := range set {
		entries = append(entries, s)
	}
	sort.Strings(entries)
	var b strings.Builder
	b.WriteString(`# Common passwords of at least 15 characters, refused by ValidatePassword.
# Folded (lower case, no white space), sorted. Generated by
#   go test ./auth -run TestCommonPasswordList -update-common-passwords
# from two public ranked lists of the most common passwords, as shipped by Debian:
#   john-data: /usr/share/john/password.lst (Openwall, public domain)
#   libdata-password-zxcvbn-perl: the "passwords" list of
#     Data/Password/zxcvbn/RankedDictionaries/Common.pm (zxcvbn's top 30,000)
# It holds their entries of 15 characters or more, their top entries typed
# twice or followed by common suffixes (digits, years, symbols), keyboard
# walks, counting sequences and well-known phrases (see policy_test.go).
# Repeated and sequential characters are refused by rule and not listed.
`)
	for _, s := range entries {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// rankedCommonPasswords reads zxcvbn's list ordered by rank, then John's list
// in file order, lower-cased and without duplicates.
func rankedCommonPasswords() ([]string, error) {
	type ranked struct {
		word string
		rank int
	}
	var zx []ranked
	f, err := os.Open(zxcvbnListPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entry := regexp.MustCompile(`^\s+'((?:[^'\\]|\\.)*)' => (\d+),?$`)
	inPasswords := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "  'passwords' => {"):
			inPasswords = true
		case inPasswords && strings.HasPrefix(line, "  }"):
			inPasswords = false
		case inPasswords:
			m := entry.FindStringSubmatch(line)
			if m == nil {
				return nil, fmt.Errorf("%s: unexpected line %q", zxcvbnListPath, line)
			}
			rank, _ := strconv.Atoi(m[2])
			word := strings.NewReplacer(`\\`, `\`, `\'`, `'`).Replace(m[1])
			zx = append(zx, ranked{word, rank})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(zx) < 10000 {
		return nil, fmt.Errorf("%s: found %d passwords, want the 30,000 list", zxcvbnListPath, len(zx))
	}
	sort.SliceStable(zx, func(i, j int) bool { return zx[i].rank < zx[j].rank })

	john, err := os.ReadFile(johnListPath)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	push := func(w string) {
		w = strings.ToLower(w)
		if w != "" && !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	for _, r := range zx {
		push(r.word)
	}
	for line := range strings.Lines(string(john)) {
		line = strings.TrimRight(line, "\r\n")
		if !strings.HasPrefix(line, "#!comment:") {
			push(line)
		}
	}
	return out, nil
}
