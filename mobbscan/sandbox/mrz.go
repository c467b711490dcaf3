package sandbox

import (
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Machine readable zones as specified by ICAO Doc 9303: TD1 (three lines of
// 30 characters, ID cards, part 5) and TD3 (two lines of 44 characters,
// passports, part 4).

// mrzFields is what an MRZ encodes. Text fields may hold any script: they are
// transliterated and normalised by the encoders.
type mrzFields struct {
	DocCode     string // two characters, e.g. "ID", "I<", "P<"
	Issuer      string // issuing state, ISO 3166 alpha-3 (mapped to the MRZ code)
	Number      string // document number
	Personal    string // personal number (optional data)
	Nationality string // ISO 3166 alpha-3 (mapped to the MRZ code)
	Birth       time.Time
	Expiry      time.Time
	Sex         string // "M", "F" or anything else for unspecified
	Surname     string
	Given       string
}

// mrzCheckDigit computes the ICAO 9303 check digit of s: weights 7, 3, 1
// repeating, digits count as themselves, A–Z as 10–35 and the filler '<' (and
// anything else) as 0, modulo 10.
func mrzCheckDigit(s string) byte {
	weights := [3]int{7, 3, 1}
	sum := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var v int
		switch {
		case c >= '0' && c <= '9':
			v = int(c - '0')
		case c >= 'A' && c <= 'Z':
			v = int(c-'A') + 10
		}
		sum += v * weights[i%3]
	}
	return byte('0' + sum%10)
}

// mrzCountry maps an ISO 3166 alpha-3 code to its MRZ code (Germany is the
// one exception that matters here: "D<<").
func mrzCountry(code string) string {
	if code == "DEU" {
		return "D<<"
	}
	return mrzField(code, 3)
}

// mrzField normalises s to the MRZ alphabet and pads or truncates it to n
// characters with the filler '<'.
func mrzField(s string, n int) string {
	t := mrzText(s)
	if len(t) > n {
		t = t[:n]
	}
	return t + strings.Repeat("<", n-len(t))
}

// mrzText transliterates s to the MRZ alphabet (A–Z, 0–9, '<'): letters are
// upper-cased and transliterated, spaces, hyphens and apostrophes become
// fillers (apostrophes are dropped), anything else is dropped.
func mrzText(s string) string {
	var b strings.Builder
	for _, r := range greekDigraphs(s) {
		switch {
		case r == ' ' || r == '-' || r == ',':
			b.WriteByte('<')
		case r == '\'' || r == '’' || r == '.':
		case r < 128:
			u := unicode.ToUpper(r)
			if (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '<' {
				b.WriteRune(u)
			}
		default:
			b.WriteString(transliterate(r))
		}
	}
	return b.String()
}

// icaoLatin holds the ICAO 9303 (part 3, section 6) transliterations of Latin
// letters with diacritics that are not simply the base letter. Other accented
// Latin letters lose their marks (Á → A).
var icaoLatin = map[rune]string{
	'Ä': "AE", 'Å': "AA", 'Æ': "AE", 'Ö': "OE", 'Ø': "OE", 'Ü': "UE",
	'ß': "SS", 'Þ': "TH", 'Œ': "OE", 'Ł': "L", 'Đ': "D", 'Ð': "D", 'Ħ': "H", 'Ĳ': "IJ",
}

// icaoCyrillic and icaoGreek are the ICAO 9303 transliteration tables
// (Ukrainian letters included).
var icaoCyrillic = map[rune]string{
	'А': "A", 'Б': "B", 'В': "V", 'Г': "G", 'Ґ': "G", 'Д': "D", 'Е': "E", 'Ё': "E",
	'Є': "IE", 'Ж': "ZH", 'З': "Z", 'И': "I", 'І': "I", 'Ї': "I", 'Й': "I", 'К': "K",
	'Л': "L", 'М': "M", 'Н': "N", 'О': "O", 'П': "P", 'Р': "R", 'С': "S", 'Т': "T",
	'У': "U", 'Ф': "F", 'Х': "KH", 'Ц': "TS", 'Ч': "CH", 'Ш': "SH", 'Щ': "SHCH",
	'Ъ': "IE", 'Ы': "Y", 'Ь': "", 'Э': "E", 'Ю': "IU", 'Я': "IA",
}

var icaoGreek = map[rune]string{
	'Α': "A", 'Β': "V", 'Γ': "G", 'Δ': "D", 'Ε': "E", 'Ζ': "Z", 'Η': "I", 'Θ': "TH",
	'Ι': "I", 'Κ': "K", 'Λ': "L", 'Μ': "M", 'Ν': "N", 'Ξ': "X", 'Ο': "O", 'Π': "P",
	'Ρ': "R", 'Σ': "S", 'Τ': "T", 'Υ': "Y", 'Φ': "F", 'Χ': "CH", 'Ψ': "PS", 'Ω': "O",
}

// greekDiphthongs are the Greek letter pairs ICAO (ELOT 743) transliterates
// together.
var greekDiphthongs = strings.NewReplacer("ΟΥ", "OU", "ΑΥ", "AV", "ΕΥ", "EV")

// greekDigraphs upper-cases Greek letters, drops their accents and
// transliterates the diphthongs; other text is left alone.
func greekDigraphs(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Greek, r) }) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if !unicode.Is(unicode.Greek, r) {
			b.WriteRune(r)
			continue
		}
		if r == 'ς' {
			r = 'σ'
		}
		for _, d := range norm.NFD.String(string(unicode.ToUpper(r))) {
			if !unicode.Is(unicode.Mn, d) {
				b.WriteRune(d)
			}
		}
	}
	return greekDiphthongs.Replace(b.String())
}

// transliterate returns the MRZ letters for one non-ASCII rune.
func transliterate(r rune) string {
	u := unicode.ToUpper(r)
	if r == 'ς' {
		u = 'Σ'
	}
	if t, ok := icaoLatin[u]; ok {
		return t
	}
	if t, ok := icaoCyrillic[u]; ok {
		return t
	}
	// Greek and Latin letters with marks: decompose and keep the base letter.
	var out strings.Builder
	for _, d := range norm.NFD.String(string(u)) {
		if unicode.Is(unicode.Mn, d) {
			continue
		}
		if t, ok := icaoGreek[d]; ok {
			out.WriteString(t)
		} else if d >= 'A' && d <= 'Z' {
			out.WriteRune(d)
		}
	}
	return out.String()
}

// mrzName encodes "SURNAME<<GIVEN<NAMES" in width characters. When the name
// is too long the given names are truncated first, as ICAO recommends.
func mrzName(surname, given string, width int) string {
	s, g := mrzText(surname), mrzText(given)
	if len(s) > width-3 {
		s = s[:width-3]
	}
	name := s + "<<" + g
	if len(name) > width {
		name = name[:width]
	}
	return mrzField(name, width)
}

func mrzDate(t time.Time) string {
	if t.IsZero() {
		return "<<<<<<"
	}
	return t.Format("060102")
}

func mrzSex(s string) string {
	if s == "M" || s == "F" {
		return s
	}
	return "<"
}

// td1 encodes the three 30-character lines of an ID card MRZ. The document
// number is limited to 9 characters; the personal number goes in the first
// optional data field.
func td1(f mrzFields) [3]string {
	number := mrzField(f.Number, 9)
	line1 := mrzField(f.DocCode, 2) + mrzCountry(f.Issuer) + number + string(mrzCheckDigit(number)) + mrzField(f.Personal, 15)
	birth, expiry := mrzDate(f.Birth), mrzDate(f.Expiry)
	upper := birth + string(mrzCheckDigit(birth)) + mrzSex(f.Sex) + expiry + string(mrzCheckDigit(expiry)) +
		mrzCountry(f.Nationality) + strings.Repeat("<", 11)
	// The composite check covers line 1 from the document number on, and
	// line 2's birth date, expiry date (with their check digits) and optional data.
	composite := line1[5:30] + upper[0:7] + upper[8:15] + upper[18:29]
	line2 := upper + string(mrzCheckDigit(composite))
	line3 := mrzName(f.Surname, f.Given, 30)
	return [3]string{line1, line2, line3}
}

// td3 encodes the two 44-character lines of a passport MRZ.
func td3(f mrzFields) [2]string {
	line1 := mrzField(f.DocCode, 2) + mrzCountry(f.Issuer) + mrzName(f.Surname, f.Given, 39)
	number := mrzField(f.Number, 9)
	birth, expiry := mrzDate(f.Birth), mrzDate(f.Expiry)
	personal := mrzField(f.Personal, 14)
	personalCheck := string(mrzCheckDigit(personal))
	if strings.Trim(personal, "<") == "" {
		personalCheck = "<"
	}
	upper := number + string(mrzCheckDigit(number)) + mrzCountry(f.Nationality) +
		birth + string(mrzCheckDigit(birth)) + mrzSex(f.Sex) +
		expiry + string(mrzCheckDigit(expiry)) + personal + personalCheck
	composite := upper[0:10] + upper[13:20] + upper[21:43]
	return [2]string{line1, upper + string(mrzCheckDigit(composite))}
}

// corruptMRZ changes the last check digit of the last line so that the MRZ
// no longer validates (used for processes that fail validationMRZ).
func corruptMRZ(lines []string) []string {
	out := append([]string(nil), lines...)
	if len(out) == 0 {
		return out
	}
	i := len(out) - 1
	if i == 2 { // TD1: the composite check digit ends line 2
		i = 1
	}
	l := []byte(out[i])
	last := len(l) - 1
	if l[last] >= '0' && l[last] <= '9' {
		l[last] = '0' + (l[last]-'0'+5)%10
	} else {
		l[last] = '7'
	}
	out[i] = string(l)
	return out
}
