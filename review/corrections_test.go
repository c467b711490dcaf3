package review

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// testNow is late on 15 June 2025 in a zone behind UTC: the UTC date is already 16 June.
var testNow = time.Date(2025, 6, 15, 23, 30, 0, 0, time.FixedZone("UTC-3", -3*60*60))

const enterValue = "Enter a value; to keep what was read, undo your change."

func TestCheckCorrection(t *testing.T) {
	nationality := "Use the three-letter ISO 3166 code of the country, such as ESP or FRA."
	tests := []struct {
		key, in string
		want    string // the normalised value, when msg is ""
		msg     string // the whole message of the error
	}{
		// Every field: blank is refused, and so are characters of the C5 rule.
		{"name", "   ", "", enterValue},
		{"documentNumber", "", "", enterValue},
		{"dateOfBirth", "\t", "", enterValue},
		{"address", " ", "", enterValue},
		{"placeOfBirth", "", "", enterValue},
		{"name", "Ana\x00", "", "The given name contains an invisible control character at character 4; control characters are not allowed."},
		{"surname", "Gar\u202Ecia", "", "The surname contains an invisible direction-control character at character 4; direction-control characters are not allowed."},
		{"city", "Ma\u2066drid", "", "The city contains an invisible direction-control character at character 3; direction-control characters are not allowed."},
		{"address", "Calle Mayor 1\r\n2º B", "", "The address contains a line break at character 14; it must be on one line."},
		{"address", "Calle Mayor 1\n2º B", "", "The address contains a line break at character 14; it must be on one line."},
		{"placeOfBirth", "Bil\tbao", "", "The place of birth contains a tab at character 4; tabs are not allowed."},
		{"postCode", "\uFEFF28001", "", "The post code contains an invisible formatting character at character 1; invisible formatting characters are not allowed."},
		{"nationality", "ES\xffP", "", "The nationality contains characters that could not be read; type it again instead of pasting it."},

		// Names.
		{"name", "  Ana   María  ", "Ana María", ""},
		{"name", "Ana\u00a0\u00a0María", "Ana María", ""},
		{"name", "José-Luis", "José-Luis", ""},
		{"surname", "O'Brien", "O'Brien", ""},
		{"surname", "O’Brien", "O’Brien", ""},
		{"surname", "St. John", "St. John", ""},
		{"name", "Zoe\u0308", "Zoe\u0308", ""},
		{"name", "李小龍", "李小龍", ""},
		{"surname", "Ахмедов", "Ахмедов", ""},
		{"surname", "محمد", "محمد", ""},
		{"name", "देवनागरी", "देवनागरी", ""},
		{"name", "Ana2", "", "The given name cannot contain digits (“2” at character 4)."},
		{"surname", "Ⅻ", "", "The surname cannot contain digits (“Ⅻ” at character 1)."},
		{"surname", "Garcia@mail", "", "The surname may contain only letters, spaces, hyphens (-), apostrophes (') and periods (.); “@” at character 7 is not allowed."},
		{"name", "Ana\u200BMaría", "", "The given name may contain only letters, spaces, hyphens (-), apostrophes (') and periods (.); an invisible character at character 4 is not allowed."},
		{"name", "- . '", "", "The given name must contain letters."},
		{"name", strings.Repeat("ñ", 100), strings.Repeat("ñ", 100), ""},
		{"name", strings.Repeat("ñ", 50) + "     " + strings.Repeat("ñ", 49), strings.Repeat("ñ", 50) + " " + strings.Repeat("ñ", 49), ""},
		{"surname", strings.Repeat("ñ", 101), "", "The surname is too long: 100 characters at most (you wrote 101)."},

		// Document and personal numbers.
		{"documentNumber", " ab-1234567 ", "AB-1234567", ""},
		{"personalNumber", "x1234567l", "X1234567L", ""},
		{"documentNumber", strings.Repeat("9", 30), strings.Repeat("9", 30), ""},
		{"documentNumber", strings.Repeat("9", 31), "", "The document number is too long: 30 characters at most (you wrote 31)."},
		{"documentNumber", "AB 123", "", "The document number may contain only letters A–Z, digits 0–9 and hyphens (-); remove the space at character 3."},
		{"personalNumber", "12.345.678", "", "The personal number may contain only letters A–Z, digits 0–9 and hyphens (-); remove “.” at character 3."},
		{"documentNumber", "ıD123", "", "The document number may contain only letters A–Z, digits 0–9 and hyphens (-); remove “ı” at character 1."},
		{"documentNumber", "ＡＢ1", "", "The document number may contain only letters A–Z, digits 0–9 and hyphens (-); remove “Ａ” at character 1."},
		{"documentNumber", "--", "", "The document number must contain letters or digits."},

		// Dates of birth: real, YYYY-MM-DD, not in the future (UTC date), at most 130 years ago.
		{"dateOfBirth", "1990-02-03", "1990-02-03", ""},
		{"dateOfBirth", " 2024-02-29 ", "2024-02-29", ""},
		{"dateOfBirth", "sometime in the 80s", "", "Write the date of birth as YYYY-MM-DD, for example 1985-07-23."},
		{"dateOfBirth", "1990-2-3", "", "Write the date of birth as YYYY-MM-DD, for example 1985-07-23."},
		{"dateOfBirth", "03/02/1990", "", "Write the date of birth as YYYY-MM-DD, for example 1985-07-23."},
		{"dateOfBirth", "1990-02-03T00:00:00Z", "", "Write the date of birth as YYYY-MM-DD, for example 1985-07-23."},
		{"dateOfBirth", "１９９０-02-03", "", "Write the date of birth as YYYY-MM-DD, for example 1985-07-23."},
		{"dateOfBirth", "1990-02-30", "", "The date of birth 1990-02-30 does not exist; check the day and the month."},
		{"dateOfBirth", "2023-02-29", "", "The date of birth 2023-02-29 does not exist; check the day and the month."},
		{"dateOfBirth", "1990-13-01", "", "The date of birth 1990-13-01 does not exist; check the day and the month."},
		{"dateOfBirth", "1990-00-10", "", "The date of birth 1990-00-10 does not exist; check the day and the month."},
		{"dateOfBirth", "2025-06-16", "2025-06-16", ""}, // today in UTC, though yesterday in the agent's zone
		{"dateOfBirth", "2025-06-17", "", "The date of birth cannot be in the future."},
		{"dateOfBirth", "2099-01-01", "", "The date of birth cannot be in the future."},
		{"dateOfBirth", "1895-06-16", "1895-06-16", ""},
		{"dateOfBirth", "1895-06-15", "", "The date of birth cannot be more than 130 years ago."},

		// Expiry dates: real, within 60 years of today.
		{"dateOfExpiry", "2031-10-04", "2031-10-04", ""},
		{"dateOfExpiry", "1965-06-16", "1965-06-16", ""},
		{"dateOfExpiry", "1965-06-15", "", "The expiry date must be within 60 years of today."},
		{"dateOfExpiry", "2085-06-16", "2085-06-16", ""},
		{"dateOfExpiry", "2085-06-17", "", "The expiry date must be within 60 years of today."},
		{"dateOfExpiry", "2030-02-30", "", "The expiry date 2030-02-30 does not exist; check the day and the month."},
		{"dateOfExpiry", "next year", "", "Write the expiry date as YYYY-MM-DD, for example 1985-07-23."},

		// Sex.
		{"gender", "f", "F", ""},
		{"gender", " M ", "M", ""},
		{"gender", "x", "X", ""},
		{"gender", "Female", "", "Enter M, F or X for the sex."},
		{"gender", "U", "", "Enter M, F or X for the sex."},
		{"gender", "ｍ", "", "Enter M, F or X for the sex."},

		// Nationality: ISO 3166-1 alpha-3 and the ICAO 9303 additions.
		{"nationality", "esp", "ESP", ""},
		{"nationality", " Fra ", "FRA", ""},
		{"nationality", "SSD", "SSD", ""},
		{"nationality", "GBD", "GBD", ""},
		{"nationality", "rks", "RKS", ""},
		{"nationality", "XXX", "XXX", ""},
		{"nationality", "UNO", "UNO", ""},
		{"nationality", "ABC", "", nationality},
		{"nationality", "D", "", nationality},
		{"nationality", "DE", "", nationality},
		{"nationality", "Spain", "", nationality},
		{"nationality", "ESPA", "", nationality},
		{"nationality", "ıTA", "", nationality},
		{"nationality", "E S", "", nationality},

		// Post codes.
		{"postCode", "28001", "28001", ""},
		{"postCode", "sw1a   1aa", "sw1a 1aa", ""},
		{"postCode", "1234-567", "1234-567", ""},
		{"postCode", strings.Repeat("1", 20), strings.Repeat("1", 20), ""},
		{"postCode", strings.Repeat("1", 21), "", "The post code is too long: 20 characters at most (you wrote 21)."},
		{"postCode", "28001!", "", "The post code may contain only letters A–Z, digits 0–9, spaces and hyphens (-); “!” at character 6 is not allowed."},
		{"postCode", "-", "", "The post code must contain letters or digits."},

		// Address, city and other fields: the character rule and a length.
		{"address", "Calle Mayor 1, 2º B", "Calle Mayor 1, 2º B", ""},
		{"address", strings.Repeat("a", 200), strings.Repeat("a", 200), ""},
		{"address", strings.Repeat("a", 201), "", "The address is too long: 200 characters at most (you wrote 201)."},
		{"city", "Saint-Étienne", "Saint-Étienne", ""},
		{"city", strings.Repeat("a", 100), strings.Repeat("a", 100), ""},
		{"city", strings.Repeat("a", 101), "", "The city is too long: 100 characters at most (you wrote 101)."},
		{"placeOfBirth", " Bilbao (Bizkaia) ", "Bilbao (Bizkaia)", ""},
		{"placeOfBirth", strings.Repeat("a", 200), strings.Repeat("a", 200), ""},
		{"placeOfBirth", strings.Repeat("a", 201), "", "The place of birth is too long: 200 characters at most (you wrote 201)."},
		{"issuing_authority", strings.Repeat("a", 201), "", "The issuing authority is too long: 200 characters at most (you wrote 201)."},
	}
	for _, tt := range tests {
		got, err := CheckCorrection(tt.key, tt.in, testNow)
		if tt.msg == "" {
			if err != nil {
				t.Errorf("CheckCorrection(%q, %q): got error %v, want %q", tt.key, tt.in, err, tt.want)
			} else if got != tt.want {
				t.Errorf("CheckCorrection(%q, %q): got %q, want %q", tt.key, tt.in, got, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("CheckCorrection(%q, %q): got %q and no error, want %q", tt.key, tt.in, got, tt.msg)
			continue
		}
		e := invalidError(t, err)
		if e.Message != tt.msg {
			t.Errorf("CheckCorrection(%q, %q): got message %q, want %q", tt.key, tt.in, e.Message, tt.msg)
		}
		if want := FieldPrefix + tt.key; e.Field != want {
			t.Errorf("CheckCorrection(%q, %q): got field %q, want %q", tt.key, tt.in, e.Field, want)
		}
	}
}

// Keys that name no correctable field are about the correction block as a whole.
func TestCheckCorrectionBadKey(t *testing.T) {
	tests := []struct{ key, msg string }{
		{"mrz", "The machine-readable zone (MRZ) cannot be corrected; correct the fields read from it instead."},
		{"", "The corrections include a field this process does not have; reload the page and try again."},
		{"a b", "The corrections include a field this process does not have; reload the page and try again."},
		{"a\u202Eb", "The corrections include a field this process does not have; reload the page and try again."},
		{strings.Repeat("k", 65), "The corrections include a field this process does not have; reload the page and try again."},
	}
	for _, tt := range tests {
		got, err := CheckCorrection(tt.key, "value", testNow)
		if err == nil {
			t.Errorf("CheckCorrection(%q): got %q and no error, want %q", tt.key, got, tt.msg)
			continue
		}
		e := invalidError(t, err)
		if e.Message != tt.msg || e.Field != FieldFields {
			t.Errorf("CheckCorrection(%q): got %q on %q, want %q on %q", tt.key, e.Message, e.Field, tt.msg, FieldFields)
		}
	}
	if _, err := CheckCorrection(strings.Repeat("k", 64), "value", testNow); err != nil {
		t.Errorf("a 64-character key: got %v, want accepted", err)
	}
}

// A zero now is the present: yesterday is a valid date of birth, tomorrow is not.
func TestCheckCorrectionZeroNow(t *testing.T) {
	now := time.Now().UTC()
	if _, err := CheckCorrection("dateOfBirth", now.AddDate(0, 0, -1).Format(time.DateOnly), time.Time{}); err != nil {
		t.Errorf("yesterday: got %v, want accepted", err)
	}
	if _, err := CheckCorrection("dateOfBirth", now.AddDate(0, 0, 2).Format(time.DateOnly), time.Time{}); err == nil {
		t.Errorf("the day after tomorrow: accepted, want refused")
	}
}

type errorWant struct{ field, msg string }

func errorsOf(errs []*Error) []errorWant {
	var out []errorWant
	for _, e := range errs {
		if e == nil {
			out = append(out, errorWant{"<nil>", ""})
			continue
		}
		out = append(out, errorWant{e.Field, e.Message})
	}
	return out
}

func TestCheckCorrections(t *testing.T) {
	shown := map[string]string{
		"name": "ANA MARIA", "surname": "Coreia", "documentNumber": "X1234567L", "personalNumber": "",
		"dateOfBirth": "1990-02-03", "dateOfExpiry": "2031-10-04", "gender": "F", "nationality": "ESP",
		"address": "Calle Mayor 1", "city": "Madrid", "postCode": "28001", "mrz": "IDESPX1234567L<<<",
	}
	// What the gateway sent is what it is: invalid originals left alone are no corrections.
	odd := map[string]string{
		"name": "J0hn\u202E", "dateOfBirth": "sometime in the 80s", "nationality": "D",
		"documentNumber": "AB 12/3", "gender": "unknown", "city": strings.Repeat("c", 300), "postCode": "",
	}
	form := func(base map[string]string, changes map[string]string) map[string]string {
		out := make(map[string]string)
		for k, v := range base {
			if k != "mrz" {
				out[k] = v
			}
		}
		for k, v := range changes {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name      string
		values    map[string]string
		originals map[string]string
		want      []Correction
		errs      []errorWant
	}{
		{name: "nothing sent", values: nil, originals: shown},
		{name: "nothing changed", values: form(shown, nil), originals: shown},
		{name: "only spaces added", values: form(shown, map[string]string{"surname": "  Coreia ", "city": "Madrid\n"}), originals: shown},
		{name: "unchanged invalid originals are ignored", values: form(odd, map[string]string{"name": "  J0hn\u202E  "}), originals: odd},
		{name: "blank original left blank", values: map[string]string{"personalNumber": "  "}, originals: shown},
		{name: "same once normalised", values: form(shown, map[string]string{"nationality": "esp", "gender": "f", "documentNumber": "x1234567l"}), originals: shown},
		{
			name:      "changes, sorted by key and normalised",
			values:    form(shown, map[string]string{"surname": "  Correia ", "nationality": "prt", "dateOfBirth": "1990-03-02", "name": "Ana   María"}),
			originals: shown,
			want: []Correction{
				{Key: "dateOfBirth", Old: "1990-02-03", New: "1990-03-02"},
				{Key: "name", Old: "ANA MARIA", New: "Ana María"},
				{Key: "nationality", Old: "ESP", New: "PRT"},
				{Key: "surname", Old: "Coreia", New: "Correia"},
			},
		},
		{
			name:      "a corrected invalid original",
			values:    form(odd, map[string]string{"dateOfBirth": "1985-07-23"}),
			originals: odd,
			want:      []Correction{{Key: "dateOfBirth", Old: "sometime in the 80s", New: "1985-07-23"}},
		},
		{
			name:      "a value for a blank original",
			values:    map[string]string{"personalNumber": "12345678z"},
			originals: shown,
			want:      []Correction{{Key: "personalNumber", Old: "", New: "12345678Z"}},
		},
		{
			name:      "the old value is trimmed",
			values:    map[string]string{"city": "Sevilla"},
			originals: map[string]string{"city": " Madrid "},
			want:      []Correction{{Key: "city", Old: "Madrid", New: "Sevilla"}},
		},
		{
			name:      "one error per bad field, sorted by key",
			values:    form(shown, map[string]string{"surname": "Correia", "documentNumber": "", "dateOfBirth": "1990-02-30", "nationality": "ABC", "city": "Ma\u202Edrid"}),
			originals: shown,
			errs: []errorWant{
				{"field.city", "The city contains an invisible direction-control character at character 3; direction-control characters are not allowed."},
				{"field.dateOfBirth", "The date of birth 1990-02-30 does not exist; check the day and the month."},
				{"field.documentNumber", enterValue},
				{"field.nationality", "Use the three-letter ISO 3166 code of the country, such as ESP or FRA."},
			},
			want: []Correction{{Key: "surname", Old: "Coreia", New: "Correia"}},
		},
		{
			name:      "a future date of birth",
			values:    map[string]string{"dateOfBirth": "2030-01-01"},
			originals: shown,
			errs:      []errorWant{{"field.dateOfBirth", "The date of birth cannot be in the future."}},
		},
		{
			name:      "an unknown key",
			values:    map[string]string{"favouriteColour": "blue", "surname": "Correia"},
			originals: shown,
			errs:      []errorWant{{FieldFields, "The corrections include a field this process does not have (favouriteColour); reload the page and try again."}},
			want:      []Correction{{Key: "surname", Old: "Coreia", New: "Correia"}},
		},
		{
			name:      "an unknown key with an empty value",
			values:    map[string]string{"favouriteColour": ""},
			originals: shown,
			errs:      []errorWant{{FieldFields, "The corrections include a field this process does not have (favouriteColour); reload the page and try again."}},
		},
		{
			name:      "the MRZ, even unchanged",
			values:    map[string]string{"mrz": shown["mrz"]},
			originals: shown,
			errs:      []errorWant{{FieldFields, "The machine-readable zone (MRZ) cannot be corrected; correct the fields read from it instead."}},
		},
		{
			name:      "a malformed key is not repeated",
			values:    map[string]string{"<script>": "x"},
			originals: map[string]string{"<script>": "y"},
			errs:      []errorWant{{FieldFields, "The corrections include a field this process does not have; reload the page and try again."}},
		},
		{
			name: "several bad keys make one error, first",
			values: map[string]string{"mrz": "X", "zeta": "1", "alpha": "2", "beta": "3", "gamma": "4", "a b": "5",
				"dateOfBirth": "sometime in the 80s"},
			originals: shown,
			errs: []errorWant{
				{FieldFields, "The corrections include fields this process does not have (alpha, beta, gamma and 3 more); reload the page and try again."},
				{"field.dateOfBirth", "Write the date of birth as YYYY-MM-DD, for example 1985-07-23."},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := CheckCorrections(tt.values, tt.originals, testNow)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("corrections: got %+v, want %+v", got, tt.want)
			}
			if g := errorsOf(errs); !reflect.DeepEqual(g, tt.errs) {
				t.Errorf("errors: got %q, want %q", g, tt.errs)
			}
			for _, e := range errs {
				if e != nil && e.Code != CodeInvalid {
					t.Errorf("error %q: got code %q, want %q", e.Message, e.Code, CodeInvalid)
				}
			}
		})
	}
}

// The nationality list is complete and sorted: the 249 ISO 3166-1 alpha-3 codes, and
// the ICAO 9303 additions.
func TestCorrectionNationalityCodes(t *testing.T) {
	iso := strings.Fields(isoAlpha3)
	if len(iso) != 249 {
		t.Errorf("ISO 3166-1 alpha-3: got %d codes, want 249", len(iso))
	}
	for _, list := range [][]string{iso, strings.Fields(icaoNationality)} {
		if !slices.IsSorted(list) || len(slices.Compact(slices.Clone(list))) != len(list) {
			t.Errorf("codes are not sorted and unique: %v", list)
		}
		for _, c := range list {
			if len(c) != 3 || strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
				t.Errorf("code %q is not three capital letters", c)
			}
		}
	}
	for _, c := range []string{"AFG", "ALA", "BES", "CUW", "DEU", "ESP", "FRA", "GBR", "PSE", "SSD", "SXM", "TWN", "USA", "ZWE",
		"GBD", "GBN", "GBO", "GBP", "GBS", "UNO", "UNA", "UNK", "XXA", "XXB", "XXC", "XXX", "RKS"} {
		if !nationalityCodes[c] {
			t.Errorf("%s: refused, want accepted", c)
		}
	}
	for _, c := range []string{"D", "ABC", "ANT", "SCG", "YUG", "ZAR", "EUE", "esp", ""} {
		if nationalityCodes[c] {
			t.Errorf("%q: accepted, want refused", c)
		}
	}
	if len(nationalityCodes) != 249+13 {
		t.Errorf("got %d nationality codes, want %d", len(nationalityCodes), 249+13)
	}
}

// correctionKeys are the personal-data keys the gateway sends, and two others.
var correctionKeys = []string{
	"name", "surname", "documentNumber", "personalNumber", "dateOfBirth", "dateOfExpiry",
	"gender", "nationality", "address", "city", "postCode", "mrz", "placeOfBirth", "",
}

// An accepted value passes the character rule, is trimmed, single-line and within the
// field's limit, and checks again to itself; a refusal is an *Error on the field.
func FuzzCheckCorrection(f *testing.F) {
	seeds := []string{"Ana María", "1990-02-30", "esp", "f", "AB-123", "a\u202Eb", "x\x00", "a\r\nb",
		" \t", "sometime in the 80s", "sw1a  1aa", "\xff", "Zoe\u0308", strings.Repeat("ñ", 101)}
	for i := range correctionKeys {
		for _, s := range seeds {
			f.Add(uint8(i), "otherKey", s)
		}
	}
	f.Add(uint8(200), "a b", "x")
	f.Fuzz(func(t *testing.T, pick uint8, other, value string) {
		key := other
		if int(pick) < len(correctionKeys) {
			key = correctionKeys[pick]
		}
		got, err := CheckCorrection(key, value, testNow)
		if err != nil {
			e := ErrorOf(err)
			if e == nil || e.Code != CodeInvalid || e.Field != FieldPrefix+key && e.Field != FieldFields ||
				!strings.HasSuffix(e.Message, ".") {
				t.Fatalf("CheckCorrection(%q, %q): got error %#v, want an invalid *Error on the field", key, value, err)
			}
			if got != "" {
				t.Fatalf("CheckCorrection(%q, %q): got %q with an error", key, value, got)
			}
			return
		}
		if e := refuseCharacters("f", "The value", got, false); e != nil {
			t.Fatalf("CheckCorrection(%q, %q): accepted %q, which breaks the character rule: %s", key, value, got, e.Message)
		}
		if n, limit := utf8.RuneCountInString(got), correctionMax(key); n > limit || n > LimitCorrection {
			t.Fatalf("CheckCorrection(%q, %q): accepted %q, %d characters, over the limit %d", key, value, got, n, limit)
		}
		if got == "" || got != strings.TrimSpace(got) {
			t.Fatalf("CheckCorrection(%q, %q): accepted %q, blank or untrimmed", key, value, got)
		}
		if again, err := CheckCorrection(key, got, testNow); err != nil || again != got {
			t.Fatalf("CheckCorrection(%q, %q) = %q, which checks again to %q, %v", key, value, got, again, err)
		}
	})
}
