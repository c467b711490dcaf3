package views

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// validationLabels says what a failed automatic check means, in plain words.
var validationLabels = map[string][2]string{
	// code: {label when failed, label when passed}
	"validationDocumentNotExpired":           {"Document has expired", "Document is not expired"},
	"validationDocumentNotSpecimen":          {"Document looks like a specimen", "Document is not a specimen"},
	"validationFrontAppearence":              {"Front of the document looks wrong", "Front of the document looks right"},
	"validationBackAppearence":               {"Back of the document looks wrong", "Back of the document looks right"},
	"validationFrontPhotocopy":               {"Front may be a photocopy or a screen", "Front is not a photocopy"},
	"validationBackPhotocopy":                {"Back may be a photocopy or a screen", "Back is not a photocopy"},
	"validationLegalAge":                     {"Holder is under the legal age", "Holder is of legal age"},
	"validationMRZ":                          {"Machine-readable zone does not check out", "Machine-readable zone checks out"},
	"validationPersonalNumberBothSidesMatch": {"Personal number differs between the sides", "Personal number matches on both sides"},
	"validationFacialMatching":               {"Face does not match the document photo", "Face matches the document photo"},
	"validationLiveness":                     {"Liveness check failed (possible spoof)", "Liveness check passed"},
	"validationIdentityVerification":         {"Identity verification failed", "Identity verification passed"},
}

// ValidationOrder is Mobbeel's list of checks, for the queue's filter.
var ValidationOrder = []string{
	"validationFacialMatching", "validationLiveness", "validationDocumentNotExpired", "validationLegalAge",
	"validationMRZ", "validationFrontPhotocopy", "validationBackPhotocopy", "validationFrontAppearence",
	"validationBackAppearence", "validationDocumentNotSpecimen", "validationPersonalNumberBothSidesMatch",
	"validationIdentityVerification",
}

var camelWord = regexp.MustCompile(`[A-Z][a-z]*|[a-z]+|[0-9]+`)

// ValidationLabel returns the plain-language label of a check; unknown codes are
// turned from camelCase into words.
func ValidationLabel(code string, failed bool) string {
	if l, ok := validationLabels[code]; ok {
		if failed {
			return l[0]
		}
		return l[1]
	}
	words := camelWord.FindAllString(strings.TrimPrefix(code, "validation"), -1)
	s := strings.ToLower(strings.Join(words, " "))
	if s == "" {
		s = code
	}
	if failed {
		return "Failed: " + s
	}
	return "Passed: " + s
}

// ShortValidation is the compact badge text of a failed check.
func ShortValidation(code string) string {
	switch code {
	case "validationFacialMatching":
		return "Face mismatch"
	case "validationLiveness":
		return "Liveness"
	case "validationDocumentNotExpired":
		return "Expired"
	case "validationLegalAge":
		return "Under age"
	case "validationMRZ":
		return "MRZ"
	case "validationFrontPhotocopy":
		return "Front copy"
	case "validationBackPhotocopy":
		return "Back copy"
	case "validationFrontAppearence":
		return "Front look"
	case "validationBackAppearence":
		return "Back look"
	case "validationDocumentNotSpecimen":
		return "Specimen"
	case "validationPersonalNumberBothSidesMatch":
		return "Number mismatch"
	case "validationIdentityVerification":
		return "Identity"
	}
	return ValidationLabel(code, true)
}

// StatusLabel says a status and stage in plain words, with a CSS class.
func StatusLabel(status, stage string, gone bool) (string, string) {
	if gone {
		return "Deleted at Mobbscan", "unknown"
	}
	switch status {
	case "VERIFIED":
		return "Accepted", "accepted"
	case "NOT_VERIFIED":
		return "Rejected", "rejected"
	case "PENDING":
		switch stage {
		case "", "REVIEW":
			return "Awaiting review", "review"
		case "CREATED":
			return "Waiting for the customer to start", "waiting"
		case "IN_PROGRESS":
			return "Customer is capturing", "waiting"
		case "EXPIRED":
			return "Expired: the customer never finished", "unknown"
		}
		return "Pending (" + strings.ToLower(stage) + ")", "waiting"
	}
	return "Unknown status", "unknown"
}

// Countries offered when creating a process (ISO 3166 alpha-3).
var Countries = [][2]string{
	{"ARG", "Argentina"}, {"AUT", "Austria"}, {"BEL", "Belgium"}, {"BRA", "Brazil"}, {"CHL", "Chile"},
	{"CHN", "China"}, {"COL", "Colombia"}, {"DEU", "Germany"}, {"ESP", "Spain"}, {"FRA", "France"},
	{"GBR", "United Kingdom"}, {"GRC", "Greece"}, {"IRL", "Ireland"}, {"ITA", "Italy"}, {"MEX", "Mexico"},
	{"NLD", "Netherlands"}, {"POL", "Poland"}, {"PRT", "Portugal"}, {"ROU", "Romania"}, {"UKR", "Ukraine"},
	{"USA", "United States"},
}

// CountryName returns a country's name for an alpha-3 code, or the code.
func CountryName(code string) string {
	for _, c := range Countries {
		if c[0] == code {
			return c[1]
		}
	}
	return code
}

// DocTypeLabel names a document type.
func DocTypeLabel(t string) string {
	switch t {
	case "IDCard":
		return "ID card"
	case "Passport":
		return "Passport"
	case "DriverLicense":
		return "Driving licence"
	}
	return t
}

// personalLabels name the identity data fields.
var personalLabels = map[string]string{
	"name": "Given names", "surname": "Surname", "documentNumber": "Document number", "personalNumber": "Personal number",
	"dateOfBirth": "Date of birth", "dateOfExpiry": "Expiry date", "gender": "Sex", "nationality": "Nationality",
	"address": "Address", "city": "City", "postCode": "Post code", "mrz": "MRZ",
}

// PersonalLabel names an identity data field; unknown keys become words.
func PersonalLabel(key string) string {
	if l, ok := personalLabels[key]; ok {
		return l
	}
	words := camelWord.FindAllString(key, -1)
	if len(words) == 0 {
		return key
	}
	s := strings.ToLower(strings.Join(words, " "))
	return strings.ToUpper(s[:1]) + s[1:]
}

// PersonalValue formats an identity data value for reading: dates as "12 Apr 1990"
// with the age or the time left, anything else as sent.
func PersonalValue(key, value string, now time.Time) string {
	if key != "dateOfBirth" && key != "dateOfExpiry" {
		return value
	}
	d, err := time.Parse("2006-01-02", strings.TrimSpace(value))
	if err != nil {
		return value
	}
	out := d.Format("2 Jan 2006")
	switch key {
	case "dateOfBirth":
		years := now.Year() - d.Year()
		if now.Month() < d.Month() || now.Month() == d.Month() && now.Day() < d.Day() {
			years--
		}
		if years >= 0 && years < 150 {
			out += fmt.Sprintf(" (%d years old)", years)
		}
	case "dateOfExpiry":
		if d.Before(now) {
			out += " (expired)"
		}
	}
	return out
}
