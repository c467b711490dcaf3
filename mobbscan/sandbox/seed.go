package sandbox

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// identity is the synthetic person behind a process and the data printed on
// their document. Nothing in it belongs to a real person.
type identity struct {
	Given        string    `json:"given"`
	Surname      string    `json:"surname"`
	GivenLatin   string    `json:"givenLatin"`
	SurnameLatin string    `json:"surnameLatin"`
	Gender       string    `json:"gender"`
	Birth        time.Time `json:"birth"`
	Issue        time.Time `json:"issue"`
	Expiry       time.Time `json:"expiry"`
	Number       string    `json:"number"`
	Personal     string    `json:"personal,omitempty"`
	BackPersonal string    `json:"backPersonal,omitempty"` // differs from Personal when the sides do not match
	Nationality  string    `json:"nationality"`
	Address      string    `json:"address"`
	City         string    `json:"city"`
	PostCode     string    `json:"postCode"`
	BadMRZ       bool      `json:"badMrz,omitempty"`
	OtherFace    bool      `json:"otherFace,omitempty"` // the selfie shows someone else
}

func dateOnly(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func yearsAgo(now time.Time, years, extraDays int) time.Time {
	return dateOnly(now.AddDate(-years, 0, -extraDays))
}

// newIdentity invents a person for a document of countryID and docType.
func newIdentity(r *rand.Rand, countryID, docType string, now time.Time) identity {
	c := lookupCountry(countryID)
	sex := r.IntN(2) // 0 female, 1 male
	given := pick(r, c.Given[sex])
	surnames := c.Surnames[sex]
	if len(surnames) == 0 {
		surnames = c.Surnames[0]
	}
	sn := pick(r, surnames)
	id := identity{
		Given: given.Native, GivenLatin: given.latin(),
		Surname: sn.Native, SurnameLatin: sn.latin(),
		Gender:      [2]string{"F", "M"}[sex],
		Nationality: c.Code,
	}
	if c.TwoSurnames {
		for {
			sn2 := pick(r, surnames)
			if sn2 != sn {
				id.Surname += " " + sn2.Native
				id.SurnameLatin += " " + sn2.latin()
				break
			}
		}
	}
	id.Birth = yearsAgo(now, 19+r.IntN(55), r.IntN(365))
	validity := 10
	if docType == DocDriverLicense {
		validity = 15
	}
	id.Issue = dateOnly(now.AddDate(0, 0, -r.IntN(365*(validity-1))-30))
	id.Expiry = id.Issue.AddDate(validity, 0, -1)
	pattern := c.DocNumber
	if docType == DocPassport {
		pattern = c.PassportNumber
	}
	id.Personal = personalNumber(r, c)
	id.Number = fromPattern(r, pattern)
	if docType == DocDriverLicense && id.Personal != "" {
		id.Number = id.Personal
	}
	pl := pick(r, c.Places)
	id.Address, id.City, id.PostCode = pl.Street, pl.City, pl.PostCode
	return id
}

// applyFailures makes the identity consistent with the validations the
// process fails: an expired document, a minor, a broken MRZ, mismatching
// personal numbers, someone else in the selfie.
func applyFailures(r *rand.Rand, id *identity, failed []string, now time.Time) {
	for _, f := range failed {
		switch f {
		case ValidationDocumentNotExpired:
			id.Expiry = dateOnly(now.AddDate(0, 0, -1-r.IntN(700)))
			id.Issue = id.Expiry.AddDate(-10, 0, 1)
		case ValidationLegalAge:
			id.Birth = yearsAgo(now, 14+r.IntN(4), r.IntN(300))
			if id.Issue.Before(id.Birth) {
				id.Issue = dateOnly(now.AddDate(0, -r.IntN(12)-1, 0))
			}
		case ValidationMRZ:
			id.BadMRZ = true
		case ValidationPersonalNumberBothSidesMatch:
			p := id.Personal
			if p == "" {
				p = id.Number
			}
			b := []byte(p)
			i := r.IntN(len(b))
			if b[i] >= '0' && b[i] <= '9' {
				b[i] = '0' + (b[i]-'0'+1+byte(r.IntN(8)))%10
			} else {
				b[i] = 'X'
				if p[i] == 'X' {
					b[i] = 'K'
				}
			}
			id.BackPersonal = string(b)
		case ValidationFacialMatching:
			id.OtherFace = true
		}
	}
}

// newScores draws confidence scores consistent with the failed validations.
func newScores(r *rand.Rand, failed []string) scores {
	span := func(lo, hi float64) float64 {
		v := lo + r.Float64()*(hi-lo)
		return float64(int(v*100+0.5)) / 100
	}
	sc := scores{FacialMatching: span(0.72, 0.99), Liveness: span(0.80, 0.99), DocumentAuthenticity: span(0.75, 0.99)}
	for _, f := range failed {
		switch f {
		case ValidationFacialMatching:
			sc.FacialMatching = span(0.02, 0.55)
		case ValidationLiveness:
			sc.Liveness = span(0.03, 0.5)
		case ValidationDocumentNotSpecimen, ValidationFrontAppearence, ValidationBackAppearence,
			ValidationFrontPhotocopy, ValidationBackPhotocopy, ValidationMRZ:
			sc.DocumentAuthenticity = span(0.08, 0.6)
		}
	}
	return sc
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// uuidFrom draws a version 4 UUID from r.
func uuidFrom(r *rand.Rand) string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func hexFrom(r *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte("0123456789abcdef"[r.IntN(16)])
	}
	return b.String()
}

// SeedSpec says what Seed creates.
type SeedSpec struct {
	// Count is how many processes to create (1 when zero, at most 1000).
	Count int `json:"count"`
	// States are cycled over the processes: CREATED, IN_PROGRESS, REVIEW
	// (or PENDING), VERIFIED, NOT_VERIFIED, EXPIRED. Default REVIEW.
	States []string `json:"states,omitempty"`
	// CountryID and DocType fix the document; empty varies them.
	CountryID string `json:"countryId,omitempty"`
	DocType   string `json:"docType,omitempty"`
	// Outcome of finished processes: "random" (default: a mix of clean
	// processes and every kind of failed validation) or "clean".
	Outcome string `json:"outcome,omitempty"`
	// Failed, when not empty, are the failed validations of every finished
	// process (overrides Outcome).
	Failed []string `json:"failed,omitempty"`
	// Silent suppresses the webhook for each seeded process's state.
	Silent bool `json:"silent,omitempty"`
}

const maxSeed = 1000

var docTypes = []string{DocIDCard, DocPassport, DocDriverLicense}

func (spec *SeedSpec) normalize() ([]Status, error) {
	if spec.Count == 0 {
		spec.Count = 1
	}
	if spec.Count < 0 || spec.Count > maxSeed {
		return nil, fmt.Errorf("%w: count must be between 1 and %d", ErrInvalid, maxSeed)
	}
	states := []Status{StatusPending}
	if len(spec.States) > 0 {
		states = states[:0]
		for _, s := range spec.States {
			st, err := parseStatus(strings.ToUpper(strings.TrimSpace(s)))
			if err != nil {
				return nil, err
			}
			states = append(states, st)
		}
	}
	if spec.CountryID != "" && !validCountry(spec.CountryID) {
		return nil, fmt.Errorf("%w: countryId must be an ISO 3166 alpha-3 code", ErrInvalid)
	}
	if spec.DocType != "" && !slices.Contains(docTypes, spec.DocType) {
		return nil, fmt.Errorf("%w: unsupported docType %q", ErrInvalid, spec.DocType)
	}
	switch spec.Outcome {
	case "", "random", "clean":
	default:
		return nil, fmt.Errorf("%w: outcome must be \"random\" or \"clean\"", ErrInvalid)
	}
	if err := checkValidations(spec.Failed); err != nil {
		return nil, err
	}
	return states, nil
}

// seedPlan is what the seeder decided for one process.
type seedPlan struct {
	countryID, docType string
	failed             []string
	extra              map[string]string
}

// planProcess decides the document and the failed validations of the seq-th
// process. In "random" mode one process in three is clean and the others
// cycle through every validation, sometimes with a second failure.
func planProcess(r *rand.Rand, spec SeedSpec, seq uint64) seedPlan {
	p := seedPlan{countryID: spec.CountryID, docType: spec.DocType}
	if p.countryID == "" {
		p.countryID = pick(r, seedCountries)
	}
	if p.docType == "" {
		switch n := r.IntN(20); {
		case n < 11:
			p.docType = DocIDCard
		case n < 17:
			p.docType = DocPassport
		default:
			p.docType = DocDriverLicense
		}
	}
	switch {
	case len(spec.Failed) > 0:
		p.failed = slices.Clone(spec.Failed)
	case spec.Outcome == "clean" || seq%3 == 0:
	default:
		k := int(seq - seq/3 - 1)
		first := Validations[k%len(Validations)]
		if !validationApplies(p.docType, first) {
			if spec.DocType == "" {
				p.docType = DocIDCard
			} else {
				first = ValidationFacialMatching
			}
		}
		p.failed = []string{first}
		if r.IntN(5) < 2 {
			second := pick(r, Validations)
			if second != first && validationApplies(p.docType, second) {
				p.failed = append(p.failed, second)
			}
		}
	}
	if r.IntN(4) != 0 {
		p.extra = map[string]string{"customerRef": fmt.Sprintf("C-%d", 1000+r.IntN(9000))}
		if r.IntN(3) == 0 {
			p.extra["channel"] = pick(r, []string{"web", "ios", "android", "branch"})
		}
	}
	return p
}

// rejectionComments are what seeded rejections say.
var rejectionComments = map[string]string{
	ValidationDocumentNotExpired:           "The document has expired.",
	ValidationDocumentNotSpecimen:          "The document is a specimen.",
	ValidationFrontAppearence:              "The front of the document is not legible.",
	ValidationBackAppearence:               "The back of the document is not legible.",
	ValidationFrontPhotocopy:               "The front of the document is a photocopy.",
	ValidationBackPhotocopy:                "The back of the document is a photocopy.",
	ValidationLegalAge:                     "The customer is under age.",
	ValidationMRZ:                          "The MRZ does not validate.",
	ValidationPersonalNumberBothSidesMatch: "The personal numbers on both sides differ.",
	ValidationFacialMatching:               "The selfie does not match the document photo.",
	ValidationLiveness:                     "The liveness check failed.",
	ValidationIdentityVerification:         "The identity could not be verified.",
}

func rejectionFor(failed []string) string {
	if len(failed) == 0 {
		return "Customer withdrew the application."
	}
	return rejectionComments[failed[0]]
}
