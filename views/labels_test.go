package views

import (
	"testing"
	"time"
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
		if got := PersonalValue(tt.key, tt.value, now); got != tt.want {
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
