package mobbscan

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func knownStatus(s Status) bool {
	switch s {
	case StatusPending, StatusVerified, StatusNotVerified, StatusUnknown:
		return true
	}
	return false
}

func checkState(t *testing.T, st State) {
	t.Helper()
	if !knownStatus(st.Status) {
		t.Errorf("status %q is not a Status constant", st.Status)
	}
	if st.RawStatus != "" && ParseStatus(st.RawStatus) != st.Status {
		t.Errorf("status %q does not match raw %q", st.Status, st.RawStatus)
	}
	if st.Reviewable() && st.Status != StatusPending {
		t.Errorf("reviewable with status %q", st.Status)
	}
}

func FuzzDecodeProcess(f *testing.F) {
	f.Add([]byte(sampleProcess))
	f.Add([]byte(`{"verificationId":"v","status":"PENDING","stage":"REVIEW"}`))
	f.Add([]byte(`{"scores":{"a":"0.5","b":null,"c":[1]},"validations":null,"evidences":"x"}`))
	f.Add([]byte(`{"personalData":{"name":1,"x":{"y":[true]}},"decision":{"verdict":null,"decidedAt":17}}`))
	f.Add([]byte(`{"creationDate":"2026-02-30T25:61:00","lastUpdateDate":99999999999999}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := decodeProcess(data)
		if err != nil {
			if p != nil {
				t.Fatalf("process and error both returned")
			}
			return
		}
		if !json.Valid(p.Raw) {
			t.Errorf("Raw is not valid JSON")
		}
		checkState(t, p.State)
		for k, v := range p.Scores {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("score %q is %v", k, v)
			}
		}
		for _, e := range p.Evidences {
			if e == "" || strings.TrimSpace(e) != e {
				t.Errorf("evidence kind %q not trimmed", e)
			}
		}
		for _, d := range []time.Time{p.CreationDate, p.LastUpdateDate} {
			if !d.IsZero() && (d.Year() < 1 || d.Year() > 9999) {
				t.Errorf("date %v out of range", d)
			}
		}
		fields := p.PersonalData.Fields()
		if len(fields) > len(p.PersonalData.All) {
			t.Errorf("%d fields from %d values", len(fields), len(p.PersonalData.All))
		}
		for _, fl := range p.OrderedValidations() {
			if p.Validations[fl.Key] != fl.Value || fl.Value == "" {
				t.Errorf("validation %q = %q", fl.Key, fl.Value)
			}
		}
	})
}

func FuzzDecodeStatus(f *testing.F) {
	f.Add([]byte(`{"verificationId":"v","status":"PENDING","stage":"REVIEW"}`))
	f.Add([]byte(`{"status":"verified"}`))
	f.Add([]byte(`{"status":17,"stage":null}`))
	f.Add([]byte(`{"status":"\u0000"}`))
	f.Add([]byte(`"PENDING"`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := decodeStatus(data)
		if err != nil {
			return
		}
		checkState(t, s.State)
		if !json.Valid(s.Raw) {
			t.Errorf("Raw is not valid JSON")
		}
		if d, err := decodeDecision(data); err == nil && d.State != (State{}) {
			checkState(t, d.State) // zero when the answer has no status
		}
		st, _ := decodeConflict(data)
		if st != "" && !knownStatus(st) {
			t.Errorf("conflict status %q", st)
		}
		if desc := sanitize(errorDescription(data), []string{testSecret}); !utf8.ValidString(desc) || len(desc) > maxDescription+len("…") {
			t.Errorf("description %q", desc)
		}
	})
}

func FuzzParseJWTExp(f *testing.F) {
	f.Add(jwtWith(`{"exp":1795000000,"iat":1794999100}`))
	f.Add(jwtWith(`{"exp":1.5e9}`))
	f.Add(jwtWith(`{"exp":"soon"}`))
	f.Add(jwtWith(`{"exp":-1e308}`))
	f.Add("a.b.c")
	f.Add("..")
	f.Add("opaque")
	now := time.Unix(1795000000, 0)
	f.Fuzz(func(t *testing.T, tok string) {
		exp, iat, ok := parseJWTExp(tok)
		if !ok {
			if !exp.IsZero() || !iat.IsZero() {
				t.Errorf("times returned without ok")
			}
		} else if exp.Year() < 1970 || exp.Year() > 9999 {
			t.Errorf("exp %v out of range", exp)
		}
		r := renewTime(tok, now)
		if r.Before(now) || r.After(now.Add(defaultTokenLifetime)) && !ok {
			t.Errorf("renewTime = now%+v", r.Sub(now))
		}
		if ok && exp.After(now) && r.After(exp) {
			t.Errorf("renews at %v, after exp %v", r, exp)
		}
	})
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", " 7 ", "-1", "1e3", "99999999999999999999999",
		"Fri, 20 Nov 2026 10:01:00 GMT", "Friday, 20-Nov-26 10:00:30 GMT", "Fri Nov 20 10:00:30 2026", "garbage"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, now)
		if d < 0 || d > maxRetryAfter {
			t.Errorf("parseRetryAfter(%q) = %v, out of [0, %v]", v, d, maxRetryAfter)
		}
		if !ok && d != 0 {
			t.Errorf("parseRetryAfter(%q) = %v without ok", v, d)
		}
	})
}
