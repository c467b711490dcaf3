package views

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/mobbscan-review/portal/i18n"
)

// validationLabels says what a failed automatic check means, in plain words.
var validationLabels = map[string][2]string{
	// code: {label when failed, label when passed}
	"validationDocumentNotExpired":           {i18n.M("Document has expired"), i18n.M("Document is not expired")},
	"validationDocumentNotSpecimen":          {i18n.M("Document looks like a specimen"), i18n.M("Document is not a specimen")},
	"validationFrontAppearence":              {i18n.M("Front of the document looks wrong"), i18n.M("Front of the document looks right")},
	"validationBackAppearence":               {i18n.M("Back of the document looks wrong"), i18n.M("Back of the document looks right")},
	"validationFrontPhotocopy":               {i18n.M("Front may be a photocopy or a screen"), i18n.M("Front is not a photocopy")},
	"validationBackPhotocopy":                {i18n.M("Back may be a photocopy or a screen"), i18n.M("Back is not a photocopy")},
	"validationLegalAge":                     {i18n.M("Holder is under the legal age"), i18n.M("Holder is of legal age")},
	"validationMRZ":                          {i18n.M("Machine-readable zone does not check out"), i18n.M("Machine-readable zone checks out")},
	"validationPersonalNumberBothSidesMatch": {i18n.M("Personal number differs between the sides"), i18n.M("Personal number matches on both sides")},
	"validationFacialMatching":               {i18n.M("Face does not match the document photo"), i18n.M("Face matches the document photo")},
	"validationLiveness":                     {i18n.M("Liveness check failed (possible spoof)"), i18n.M("Liveness check passed")},
	"validationIdentityVerification":         {i18n.M("Identity verification failed"), i18n.M("Identity verification passed")},
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
		return fmt.Sprintf(i18n.M("Failed: %s"), s)
	}
	return fmt.Sprintf(i18n.M("Passed: %s"), s)
}

// ShortValidation is the compact badge text of a failed check.
func ShortValidation(code string) string {
	switch code {
	case "validationFacialMatching":
		return i18n.M("Face mismatch")
	case "validationLiveness":
		return i18n.M("Liveness")
	case "validationDocumentNotExpired":
		return i18n.M("Expired")
	case "validationLegalAge":
		return i18n.M("Under age")
	case "validationMRZ":
		return i18n.M("MRZ")
	case "validationFrontPhotocopy":
		return i18n.M("Front copy")
	case "validationBackPhotocopy":
		return i18n.M("Back copy")
	case "validationFrontAppearence":
		return i18n.M("Front look")
	case "validationBackAppearence":
		return i18n.M("Back look")
	case "validationDocumentNotSpecimen":
		return i18n.M("Specimen")
	case "validationPersonalNumberBothSidesMatch":
		return i18n.M("Number mismatch")
	case "validationIdentityVerification":
		return i18n.M("Identity")
	}
	return ValidationLabel(code, true)
}

// StatusLabel says a status and stage in plain words, with a CSS class.
func StatusLabel(status, stage string, gone bool) (string, string) {
	if gone {
		return i18n.M("Deleted at Mobbscan"), "unknown"
	}
	switch status {
	case "VERIFIED":
		return i18n.M("Accepted"), "accepted"
	case "NOT_VERIFIED":
		return i18n.M("Rejected"), "rejected"
	case "PENDING":
		switch stage {
		case "", "REVIEW":
			return i18n.M("Awaiting review"), "review"
		case "CREATED":
			return i18n.M("Waiting for the customer to start"), "waiting"
		case "IN_PROGRESS":
			return i18n.M("Customer is capturing"), "waiting"
		case "EXPIRED":
			return i18n.M("Expired: the customer never finished"), "unknown"
		}
		return fmt.Sprintf(i18n.M("Pending (%s)"), strings.ToLower(stage)), "waiting"
	}
	return i18n.M("Unknown status"), "unknown"
}

// Countries offered when creating a process (ISO 3166 alpha-3).
var Countries = [][2]string{
	{"ARG", i18n.M("Argentina")}, {"AUT", i18n.M("Austria")}, {"BEL", i18n.M("Belgium")}, {"BRA", i18n.M("Brazil")}, {"CHL", i18n.M("Chile")},
	{"CHN", i18n.M("China")}, {"COL", i18n.M("Colombia")}, {"DEU", i18n.M("Germany")}, {"ESP", i18n.M("Spain")}, {"FRA", i18n.M("France")},
	{"GBR", i18n.M("United Kingdom")}, {"GRC", i18n.M("Greece")}, {"IRL", i18n.M("Ireland")}, {"ITA", i18n.M("Italy")}, {"MEX", i18n.M("Mexico")},
	{"NLD", i18n.M("Netherlands")}, {"POL", i18n.M("Poland")}, {"PRT", i18n.M("Portugal")}, {"ROU", i18n.M("Romania")}, {"UKR", i18n.M("Ukraine")},
	{"USA", i18n.M("United States")},
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
		return i18n.M("ID card")
	case "Passport":
		return i18n.M("Passport")
	case "DriverLicense":
		return i18n.M("Driving licence")
	}
	return t
}

// personalLabels name the identity data fields.
var personalLabels = map[string]string{
	"name": i18n.M("Given names"), "surname": i18n.M("Surname"), "documentNumber": i18n.M("Document number"), "personalNumber": i18n.M("Personal number"),
	"dateOfBirth": i18n.M("Date of birth"), "dateOfExpiry": i18n.M("Expiry date"), "gender": i18n.M("Sex"), "nationality": i18n.M("Nationality"),
	"address": i18n.M("Address"), "city": i18n.M("City"), "postCode": i18n.M("Post code"), "mrz": i18n.M("MRZ"),
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

// PersonalValue formats an identity data value for reading in the language of ctx:
// dates as "12 Apr 1990" / "12 abr 1990" with the age or whether it expired, anything
// else as sent. A date of the document is a calendar day: it is shown as written,
// whatever the reader's time zone.
func PersonalValue(ctx context.Context, key, value string, now time.Time) string {
	if key != "dateOfBirth" && key != "dateOfExpiry" {
		return value
	}
	d, err := time.Parse("2006-01-02", strings.TrimSpace(value))
	if err != nil {
		return value
	}
	// Noon in the reader's zone is the same calendar day there, for i18n.Date.
	out := i18n.Date(ctx, time.Date(d.Year(), d.Month(), d.Day(), 12, 0, 0, 0, i18n.From(ctx).Zone))
	switch key {
	case "dateOfBirth":
		years := now.Year() - d.Year()
		if now.Month() < d.Month() || now.Month() == d.Month() && now.Day() < d.Day() {
			years--
		}
		if years >= 0 && years < 150 {
			out = i18n.Tf(ctx, "%s (%d years old)", out, years)
		}
	case "dateOfExpiry":
		if d.Before(now) {
			out = i18n.Tf(ctx, "%s (expired)", out)
		}
	}
	return out
}
