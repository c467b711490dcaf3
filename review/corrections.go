package review

import (
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/mobbscan-review/portal/i18n"
)

// Correction is one personal-data field an agent changed before accepting.
type Correction struct{ Key, Old, New string }

// Personal-data keys as the Mobbscan gateway sends them (mobbscan personalDataKeys).
const (
	corrName           = "name"
	corrSurname        = "surname"
	corrDocumentNumber = "documentNumber"
	corrPersonalNumber = "personalNumber"
	corrDateOfBirth    = "dateOfBirth"
	corrDateOfExpiry   = "dateOfExpiry"
	corrGender         = "gender"
	corrNationality    = "nationality"
	corrAddress        = "address"
	corrCity           = "city"
	corrPostCode       = "postCode"
	corrMRZ            = "mrz" // read from the document's machine-readable zone; never corrected
)

// maxCorrectionKey is the longest key a correction may name.
const maxCorrectionKey = 64

// CheckCorrections compares the values the accept form sent (key → value, for every
// correctable field) with the values the page showed (key → original) and returns only
// the changed fields (after trimming; sorted by key), each validated and normalised.
// errs holds one *Error per bad field (Field: FieldPrefix+key); a key that is not in
// originals, "mrz", or not [A-Za-z0-9_]{1,64} is one *Error with Field FieldFields.
//
// All such keys together make a single FieldFields error, first in errs; the other
// errors follow sorted by key. A field whose value, once normalised, equals the
// original (such as "esp" for "ESP") is no correction either. Correction.Old is the
// original trimmed, Correction.New the normalised value. When errs is not empty the
// corrections must not be used.
func CheckCorrections(values, originals map[string]string, now time.Time) ([]Correction, []*Error) {
	var (
		out      []Correction
		errs     []*Error
		badNames []string // well-formed keys that cannot be corrected
		badCount int
	)
	for _, key := range slices.Sorted(maps.Keys(values)) {
		original, known := originals[key]
		switch {
		case !validCorrectionKey(key):
			badCount++
			continue
		case key == corrMRZ, !known:
			badCount++
			badNames = append(badNames, key)
			continue
		}
		old := strings.TrimSpace(original)
		if strings.TrimSpace(values[key]) == old {
			continue
		}
		v, err := CheckCorrection(key, values[key], now)
		if err != nil {
			errs = append(errs, ErrorOf(err))
			continue
		}
		if v == old {
			continue
		}
		out = append(out, Correction{Key: key, Old: old, New: v})
	}
	if badCount > 0 {
		errs = append([]*Error{unknownFieldsError(badNames, badCount)}, errs...)
	}
	return out, errs
}

// unknownFieldsError is the one FieldFields error for keys that cannot be corrected:
// names lists the well-formed ones (sorted); count counts all of them.
func unknownFieldsError(names []string, count int) *Error {
	if count == 1 && len(names) == 1 && names[0] == corrMRZ {
		return errorf(CodeInvalid, FieldFields, "The machine-readable zone (MRZ) cannot be corrected; correct the fields read from it instead.")
	}
	if len(names) == 0 {
		if count > 1 {
			return errorf(CodeInvalid, FieldFields, "The corrections include fields this process does not have; reload the page and try again.")
		}
		return errorf(CodeInvalid, FieldFields, "The corrections include a field this process does not have; reload the page and try again.")
	}
	shown := min(len(names), 3)
	list := strings.Join(names[:shown], ", ") // field keys, as sent: not translated
	switch {
	case count > shown:
		return errorf(CodeInvalid, FieldFields, "The corrections include fields this process does not have (%s and %d more); reload the page and try again.", list, count-shown)
	case count > 1:
		return errorf(CodeInvalid, FieldFields, "The corrections include fields this process does not have (%s); reload the page and try again.", list)
	}
	return errorf(CodeInvalid, FieldFields, "The corrections include a field this process does not have (%s); reload the page and try again.", list)
}

// validCorrectionKey reports whether key is [A-Za-z0-9_]{1,64}.
func validCorrectionKey(key string) bool {
	if key == "" || len(key) > maxCorrectionKey {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// CheckCorrection validates and normalises one corrected value of personal-data field key.
//
// The value is trimmed, must not be blank, must pass the character rule of quality bar
// C5 on a single line, then the rule of its field (dates as YYYY-MM-DD, plausible for
// the UTC date of now; document numbers, sex and nationality upper-cased; runs of
// spaces in names and post codes collapsed) and its length (correctionMax). Errors are
// *Error{Code: CodeInvalid, Field: FieldPrefix + key}; "mrz" and a key that is not
// [A-Za-z0-9_]{1,64} give Field FieldFields. A zero now means time.Now().
func CheckCorrection(key, value string, now time.Time) (string, error) {
	if !validCorrectionKey(key) || key == corrMRZ {
		return "", unknownFieldsError(safeKeyList(key), 1)
	}
	if now.IsZero() {
		now = time.Now()
	}
	field, what := FieldPrefix+key, correctionWhat(key)
	v := strings.TrimSpace(normaliseLineBreaks(value))
	if v == "" {
		return "", errorf(CodeInvalid, field, "Enter a value; to keep what was read, undo your change.")
	}
	if err := refuseCharacters(field, what, v, false); err != nil {
		return "", err
	}
	var err *Error
	switch key {
	case corrName, corrSurname:
		v, err = normaliseName(field, what, v)
	case corrDocumentNumber, corrPersonalNumber:
		v, err = normaliseDocumentNumber(field, what, v)
	case corrDateOfBirth:
		err = checkDateOfBirth(field, what, v, now)
	case corrDateOfExpiry:
		err = checkDateOfExpiry(field, what, v, now)
	case corrGender:
		if up, ok := asciiUpper(v); ok && (up == "M" || up == "F" || up == "X") {
			v = up
		} else {
			err = errorf(CodeInvalid, field, "Enter M, F or X for the sex.")
		}
	case corrNationality:
		if up, ok := asciiUpper(v); ok && nationalityCodes[up] {
			v = up
		} else {
			err = errorf(CodeInvalid, field, "Use the three-letter ISO 3166 code of the country, such as ESP or FRA.")
		}
	case corrPostCode:
		v, err = normalisePostCode(field, what, v)
	}
	if err == nil {
		err = refuseLength(field, what, v, correctionMax(key))
	}
	if err != nil {
		return "", err
	}
	return v, nil
}

// safeKeyList returns key as a one-name list when it is safe to show in a message.
func safeKeyList(key string) []string {
	if validCorrectionKey(key) {
		return []string{key}
	}
	return nil
}

// correctionMax is the most runes a corrected value of key may have once normalised.
func correctionMax(key string) int {
	switch key {
	case corrName, corrSurname, corrCity:
		return 100
	case corrDocumentNumber, corrPersonalNumber:
		return 30
	case corrDateOfBirth, corrDateOfExpiry:
		return len(time.DateOnly)
	case corrGender:
		return 1
	case corrNationality:
		return 3
	case corrPostCode:
		return 20
	case corrAddress:
		return 200
	}
	return LimitCorrection
}

// correctionWhat names the field of key at the start of a message ("The date of
// birth"); a key without a name of its own becomes words ("placeOfBirth" → "The
// place of birth").
func correctionWhat(key string) string {
	switch key {
	case corrName:
		return i18n.M("The given name")
	case corrSurname:
		return i18n.M("The surname")
	case corrDocumentNumber:
		return i18n.M("The document number")
	case corrPersonalNumber:
		return i18n.M("The personal number")
	case corrDateOfBirth:
		return i18n.M("The date of birth")
	case corrDateOfExpiry:
		return i18n.M("The expiry date")
	case corrGender:
		return i18n.M("The sex")
	case corrNationality:
		return i18n.M("The nationality")
	case corrAddress:
		return i18n.M("The address")
	case corrCity:
		return i18n.M("The city")
	case corrPostCode:
		return i18n.M("The post code")
	}
	var b strings.Builder
	b.WriteString("The")
	word := false
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '_':
			word = false
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
			word = false
		}
		if !word {
			b.WriteByte(' ')
			word = true
		}
		b.WriteByte(c)
	}
	return b.String()
}

// asciiUpper upper-cases s when it is made of ASCII letters only.
func asciiUpper(s string) (string, bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return "", false
		}
	}
	return strings.ToUpper(s), true
}

// showRune names r in a message: quoted when it can be seen, otherwise "an invisible
// character".
func showRune(r rune) string {
	switch {
	case r == ' ':
		return i18n.M("the space")
	case unicode.IsGraphic(r) && !unicode.Is(unicode.Zs, r):
		return "“" + string(r) + "”"
	}
	return i18n.M("an invisible character")
}

// normaliseName checks a given name or surname (letters of any script with their
// combining marks, spaces, hyphens, apostrophes and periods; at least one letter) and
// collapses runs of spaces into one space.
func normaliseName(field, what, s string) (string, *Error) {
	var b strings.Builder
	pos, space, letters := 0, false, false
	for _, r := range s {
		pos++
		switch {
		case unicode.Is(unicode.Zs, r):
			space = true
			continue
		case unicode.IsLetter(r):
			letters = true
		case unicode.Is(unicode.M, r), r == '-', r == '\'', r == '’', r == '.':
		case unicode.IsNumber(r):
			return "", errorf(CodeInvalid, field, "%s cannot contain digits (%s at character %d).", what, showRune(r), pos)
		default:
			return "", errorf(CodeInvalid, field, "%s may contain only letters, spaces, hyphens (-), apostrophes (') and periods (.); %s at character %d is not allowed.", what, showRune(r), pos)
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	if !letters {
		return "", errorf(CodeInvalid, field, "%s must contain letters.", what)
	}
	return b.String(), nil
}

// normaliseDocumentNumber checks a document or personal number (letters A–Z, digits
// and hyphens, at least one letter or digit) and upper-cases it.
func normaliseDocumentNumber(field, what, s string) (string, *Error) {
	pos, alnum := 0, false
	for _, r := range s {
		pos++
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
			alnum = true
		case r == '-':
		default:
			return "", errorf(CodeInvalid, field, "%s may contain only letters A–Z, digits 0–9 and hyphens (-); remove %s at character %d.", what, showRune(r), pos)
		}
	}
	if !alnum {
		return "", errorf(CodeInvalid, field, "%s must contain letters or digits.", what)
	}
	return strings.ToUpper(s), nil
}

// normalisePostCode checks a post code (letters A–Z, digits, spaces and hyphens, at
// least one letter or digit) and collapses runs of spaces into one space.
func normalisePostCode(field, what, s string) (string, *Error) {
	var b strings.Builder
	pos, space, alnum := 0, false, false
	for _, r := range s {
		pos++
		switch {
		case unicode.Is(unicode.Zs, r):
			space = true
			continue
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
			alnum = true
		case r == '-':
		default:
			return "", errorf(CodeInvalid, field, "%s may contain only letters A–Z, digits 0–9, spaces and hyphens (-); %s at character %d is not allowed.", what, showRune(r), pos)
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	if !alnum {
		return "", errorf(CodeInvalid, field, "%s must contain letters or digits.", what)
	}
	return b.String(), nil
}

// parseCorrectionDate reads a real calendar date written YYYY-MM-DD.
func parseCorrectionDate(field, what, s string) (time.Time, *Error) {
	shaped := len(s) == len(time.DateOnly)
	for i := 0; shaped && i < len(s); i++ {
		if i == 4 || i == 7 {
			shaped = s[i] == '-'
		} else {
			shaped = '0' <= s[i] && s[i] <= '9'
		}
	}
	if !shaped {
		return time.Time{}, errorf(CodeInvalid, field, "Write %s as YYYY-MM-DD, for example 1985-07-23.", lowerWhat(what))
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		// One format per date field: "%s %s" could not be taken apart again to translate it.
		switch what {
		case correctionWhat(corrDateOfBirth):
			return time.Time{}, errorf(CodeInvalid, field, "The date of birth %s does not exist; check the day and the month.", s)
		case correctionWhat(corrDateOfExpiry):
			return time.Time{}, errorf(CodeInvalid, field, "The expiry date %s does not exist; check the day and the month.", s)
		}
		return time.Time{}, errorf(CodeInvalid, field, "%s %s does not exist; check the day and the month.", what, s)
	}
	return d, nil
}

// utcToday is the UTC date of now, at midnight UTC.
func utcToday(now time.Time) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Plausible dates, in years from today.
const (
	maxAgeYears    = 130
	expiryYearsOff = 60
)

// checkDateOfBirth accepts a real date neither after today nor more than 130 years before.
func checkDateOfBirth(field, what, s string, now time.Time) *Error {
	d, err := parseCorrectionDate(field, what, s)
	if err != nil {
		return err
	}
	t := utcToday(now)
	switch {
	case d.After(t):
		return errorf(CodeInvalid, field, "%s cannot be in the future.", what)
	case d.Before(t.AddDate(-maxAgeYears, 0, 0)):
		return errorf(CodeInvalid, field, "%s cannot be more than %d years ago.", what, maxAgeYears)
	}
	return nil
}

// checkDateOfExpiry accepts a real date within 60 years before or after today.
func checkDateOfExpiry(field, what, s string, now time.Time) *Error {
	d, err := parseCorrectionDate(field, what, s)
	if err != nil {
		return err
	}
	t := utcToday(now)
	if d.Before(t.AddDate(-expiryYearsOff, 0, 0)) || d.After(t.AddDate(expiryYearsOff, 0, 0)) {
		return errorf(CodeInvalid, field, "%s must be within %d years of today.", what, expiryYearsOff)
	}
	return nil
}

// isoAlpha3 holds every officially assigned ISO 3166-1 alpha-3 code (249), sorted.
const isoAlpha3 = "ABW AFG AGO AIA ALA ALB AND ARE ARG ARM ASM ATA ATF ATG AUS AUT AZE BDI BEL BEN " +
	"BES BFA BGD BGR BHR BHS BIH BLM BLR BLZ BMU BOL BRA BRB BRN BTN BVT BWA CAF CAN " +
	"CCK CHE CHL CHN CIV CMR COD COG COK COL COM CPV CRI CUB CUW CXR CYM CYP CZE DEU " +
	"DJI DMA DNK DOM DZA ECU EGY ERI ESH ESP EST ETH FIN FJI FLK FRA FRO FSM GAB GBR " +
	"GEO GGY GHA GIB GIN GLP GMB GNB GNQ GRC GRD GRL GTM GUF GUM GUY HKG HMD HND HRV " +
	"HTI HUN IDN IMN IND IOT IRL IRN IRQ ISL ISR ITA JAM JEY JOR JPN KAZ KEN KGZ KHM " +
	"KIR KNA KOR KWT LAO LBN LBR LBY LCA LIE LKA LSO LTU LUX LVA MAC MAF MAR MCO MDA " +
	"MDG MDV MEX MHL MKD MLI MLT MMR MNE MNG MNP MOZ MRT MSR MTQ MUS MWI MYS MYT NAM " +
	"NCL NER NFK NGA NIC NIU NLD NOR NPL NRU NZL OMN PAK PAN PCN PER PHL PLW PNG POL " +
	"PRI PRK PRT PRY PSE PYF QAT REU ROU RUS RWA SAU SDN SEN SGP SGS SHN SJM SLB SLE " +
	"SLV SMR SOM SPM SRB SSD STP SUR SVK SVN SWE SWZ SXM SYC SYR TCA TCD TGO THA TJK " +
	"TKL TKM TLS TON TTO TUN TUR TUV TWN TZA UGA UKR UMI URY USA UZB VAT VCT VEN VGB " +
	"VIR VNM VUT WLF WSM YEM ZAF ZMB ZWE"

// icaoNationality holds the three-letter codes ICAO 9303 adds for travel documents:
// British nationals of other kinds (GBD, GBN, GBO, GBP, GBS), United Nations (UNO, UNA,
// UNK), stateless and refugees (XXA, XXB, XXC), unspecified (XXX) and Kosovo (RKS).
const icaoNationality = "GBD GBN GBO GBP GBS RKS UNA UNK UNO XXA XXB XXC XXX"

// nationalityCodes is the set of accepted nationalities.
var nationalityCodes = func() map[string]bool {
	codes := strings.Fields(isoAlpha3 + " " + icaoNationality)
	set := make(map[string]bool, len(codes))
	for _, c := range codes {
		set[c] = true
	}
	return set
}()
