package views

import (
	"context"
	"testing"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"github.com/mobbscan-review/portal/i18n"
)

func TestPersonalValue(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct{ key, value, want string }{
		{"dateOfBirth", "1990-04-12", "12 Apr 1990 (36 years old)"},
		{"dateOfBirth", "2008-11-28", "28 Nov 2008 (17 years old)"},
		{"dateOfBirth", "2008-11-27", "27 Nov 2008 (18 years old)"},
		{"dateOfExpiry", "2026-11-26", "26 Nov 2026 (expired)"},
		{"dateOfExpiry", "2031-01-01", "1 Jan 2031"},
		{"dateOfBirth", "12/04/1990", "12/04/1990"},
		{"name", "2020-01-01", "2020-01-01"},
	}
	for _, tt := range tests {
		if got := PersonalValue(context.Background(), tt.key, tt.value, now); got != tt.want {
			t.Errorf("PersonalValue(%q, %q) = %q, want %q", tt.key, tt.value, got, tt.want)
		}
	}
}

func TestValidationLabels(t *testing.T) {
	for _, code := range ValidationOrder {
		if ValidationLabel(code, true) == ValidationLabel(code, false) {
			t.Errorf("%s: failed and passed labels are the same", code)
		}
		if ShortValidation(code) == "" {
			t.Errorf("%s: no short label", code)
		}
	}
	if got := ValidationLabel("validationSomethingNew", true); got != "Failed: something new" {
		t.Errorf("unknown check: got %q", got)
	}
}

func TestPersonalValueSpanish(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	// A reader far west of UTC still sees the document's calendar day.
	zone := time.FixedZone("UTC-10", -10*3600)
	ctx := i18n.With(context.Background(), i18n.Locale{Lang: i18n.ES, Zone: zone})
	tests := []struct{ key, value, want string }{
		{"dateOfBirth", "1990-04-12", "12 abr 1990 (36 años)"},
		{"dateOfExpiry", "2026-11-26", "26 nov 2026 (caducado)"},
		{"dateOfExpiry", "2031-01-01", "1 ene 2031"},
		{"dateOfBirth", "12/04/1990", "12/04/1990"},
	}
	for _, tt := range tests {
		if got := PersonalValue(ctx, tt.key, tt.value, now); got != tt.want {
			t.Errorf("PersonalValue(es, %q, %q) = %q, want %q", tt.key, tt.value, got, tt.want)
		}
	}
}

// The countries' names are CLDR's (golang.org/x/text/language/display), in English in
// the list and in Spanish in the catalogue.
func TestCountryNamesMatchCLDR(t *testing.T) {
	for _, c := range Countries {
		r, err := language.ParseRegion(c[0])
		if err != nil {
			t.Errorf("%s: %v", c[0], err)
			continue
		}
		if want := display.English.Regions().Name(r); c[1] != want {
			t.Errorf("%s is %q, CLDR says %q", c[0], c[1], want)
		}
		if got, want := i18n.ES.T(c[1]), display.Spanish.Regions().Name(r); got != want {
			t.Errorf("%s in Spanish is %q, CLDR says %q", c[0], got, want)
		}
		if CountryName(c[0]) != c[1] {
			t.Errorf("CountryName(%s) = %q", c[0], CountryName(c[0]))
		}
	}
	if CountryName("XYZ") != "XYZ" {
		t.Errorf("an unknown code is not shown as it is")
	}
}

func TestLabelsInSpanish(t *testing.T) {
	es := i18n.ES
	if got := es.T(ValidationLabel("validationLiveness", true)); got == ValidationLabel("validationLiveness", true) {
		t.Errorf("the liveness check is not translated: %q", got)
	}
	if got := es.T(ValidationLabel("validationSomethingNew", true)); got != "Fallida: something new" {
		t.Errorf("unknown check: %q", got)
	}
	if got, _ := StatusLabel("PENDING", "WEIRD", false); es.T(got) != "Pendiente (weird)" {
		t.Errorf("unknown stage: %q", es.T(got))
	}
	for _, code := range ValidationOrder {
		for _, l := range []string{ValidationLabel(code, true), ValidationLabel(code, false), ShortValidation(code)} {
			if !i18n.Has(l) {
				t.Errorf("%s: %q has no Spanish", code, l)
			}
		}
	}
	for key := range personalLabels {
		if !i18n.Has(PersonalLabel(key)) {
			t.Errorf("%s: %q has no Spanish", key, PersonalLabel(key))
		}
	}
	for _, d := range []string{"IDCard", "Passport", "DriverLicense"} {
		if !i18n.Has(DocTypeLabel(d)) {
			t.Errorf("%s: %q has no Spanish", d, DocTypeLabel(d))
		}
	}
}
