package mobbscan

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestDecodeProcessSample(t *testing.T) {
	p, err := decodeProcess([]byte(sampleProcess))
	if err != nil {
		t.Fatal(err)
	}
	want := &Process{
		VerificationID: "v-1",
		ScanID:         "s-1",
		State:          State{Status: StatusPending, RawStatus: "PENDING", Stage: "REVIEW"},
		CreationDate:   time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC),
		LastUpdateDate: time.Date(2026, 11, 20, 10, 7, 12, 0, time.UTC),
		CountryID:      "ESP",
		DocType:        "IDCard",
		ExtraData:      map[string]string{"customerRef": "C-1042"},
		ValidationResult: ValidationSummary{Enabled: true, Failed: []string{"validationFacialMatching"},
			Result: ValidationNotValid},
		Validations: map[string]string{"validationFacialMatching": "NOT_VALID", "validationDocumentNotExpired": "VALID",
			"validationX": "NOT_CHECKED"},
		Scores:    map[string]float64{"facialMatching": 0.41, "liveness": 0.93, "documentAuthenticity": 0.88},
		Evidences: EvidenceKinds(),
	}
	pd := p.PersonalData
	p.PersonalData, p.Raw = PersonalData{}, nil
	if !reflect.DeepEqual(p, want) {
		t.Errorf("process =\n%+v\nwant\n%+v", p, want)
	}
	if pd.Name != "Ana" || pd.Surname != "García" || pd.DocumentNumber != "12345678Z" || pd.PersonalNumber != "P1" ||
		pd.DateOfBirth != "1990-04-12" || pd.DateOfExpiry != "2031-01-01" || pd.Gender != "F" || pd.Nationality != "ESP" ||
		pd.Address != "Calle 1" || pd.City != "Madrid" || pd.PostCode != "28001" || pd.MRZ != "IDESP<<" || len(pd.All) != 13 {
		t.Errorf("personal data = %+v", pd)
	}
	var keys []string
	for _, f := range pd.Fields() {
		keys = append(keys, f.Key)
	}
	wantKeys := append(slices.Clone(personalDataKeys), "placeOfBirth")
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("field order = %v, want %v", keys, wantKeys)
	}
	p.Validations = want.Validations
	var names []string
	for _, f := range p.OrderedValidations() {
		names = append(names, f.Key)
	}
	if want := []string{"validationDocumentNotExpired", "validationFacialMatching", "validationX"}; !slices.Equal(names, want) {
		t.Errorf("validation order = %v, want %v", names, want)
	}
}

func TestDecodeProcessTolerant(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, p *Process)
	}{
		{"scores as strings", `{"verificationId":"v","scores":{"a":"0.5","b":"high","c":null,"d":1}}`, func(t *testing.T, p *Process) {
			if want := map[string]float64{"a": 0.5, "d": 1}; !reflect.DeepEqual(p.Scores, want) {
				t.Errorf("scores = %v, want %v", p.Scores, want)
			}
		}},
		{"scores NaN strings", `{"scores":{"a":"NaN","b":"Inf","c":"1e999"}}`, func(t *testing.T, p *Process) {
			if len(p.Scores) != 0 {
				t.Errorf("scores = %v, want none", p.Scores)
			}
		}},
		{"scores as a list", `{"scores":[0.1,0.2]}`, func(t *testing.T, p *Process) {
			if p.Scores != nil {
				t.Errorf("scores = %v", p.Scores)
			}
		}},
		{"validations null", `{"validations":null,"status":"PENDING"}`, func(t *testing.T, p *Process) {
			if p.Validations != nil || p.Status != StatusPending {
				t.Errorf("process = %+v", p)
			}
		}},
		{"validations mixed", `{"validations":{"a":"VALID","b":true,"c":{"x":1}}}`, func(t *testing.T, p *Process) {
			if want := map[string]string{"a": "VALID", "b": "true", "c": `{"x":1}`}; !reflect.DeepEqual(p.Validations, want) {
				t.Errorf("validations = %v", p.Validations)
			}
		}},
		{"personal data numbers", `{"personalData":{"name":"X","postCode":28001,"dateOfBirth":null}}`, func(t *testing.T, p *Process) {
			if p.PersonalData.PostCode != "28001" || p.PersonalData.DateOfBirth != "" || p.PersonalData.Name != "X" {
				t.Errorf("personal data = %+v", p.PersonalData)
			}
		}},
		{"personal data a string", `{"personalData":"secret"}`, func(t *testing.T, p *Process) {
			if p.PersonalData.All != nil {
				t.Errorf("personal data = %+v", p.PersonalData)
			}
		}},
		{"evidences mixed", `{"evidences":["face_now",3,null,{"k":1},""," document_front "]}`, func(t *testing.T, p *Process) {
			if want := []string{"face_now", "3", "document_front"}; !slices.Equal(p.Evidences, want) {
				t.Errorf("evidences = %v", p.Evidences)
			}
		}},
		{"evidences a string", `{"evidences":"face_now"}`, func(t *testing.T, p *Process) {
			if !slices.Equal(p.Evidences, []string{"face_now"}) {
				t.Errorf("evidences = %v", p.Evidences)
			}
		}},
		{"numeric id", `{"verificationId":12345,"status":"verified"}`, func(t *testing.T, p *Process) {
			if p.VerificationID != "12345" || p.Status != StatusVerified || p.RawStatus != "verified" {
				t.Errorf("process = %+v", p)
			}
		}},
		{"unknown status", `{"status":"ON_HOLD","stage":"review"}`, func(t *testing.T, p *Process) {
			if p.Status != StatusUnknown || p.RawStatus != "ON_HOLD" || p.Reviewable() {
				t.Errorf("state = %+v", p.State)
			}
		}},
		{"absent status", `{}`, func(t *testing.T, p *Process) {
			if p.Status != StatusUnknown || p.RawStatus != "" {
				t.Errorf("state = %+v", p.State)
			}
		}},
		{"status wrong type", `{"status":{"v":1},"stage":7}`, func(t *testing.T, p *Process) {
			if p.Status != StatusUnknown || p.Stage != "7" {
				t.Errorf("state = %+v", p.State)
			}
		}},
		{"expired stage not reviewable", `{"status":"PENDING","stage":"EXPIRED"}`, func(t *testing.T, p *Process) {
			if p.Reviewable() {
				t.Errorf("reviewable: %+v", p.State)
			}
		}},
		{"pending without stage reviewable", `{"status":"PENDING"}`, func(t *testing.T, p *Process) {
			if !p.Reviewable() {
				t.Errorf("not reviewable: %+v", p.State)
			}
		}},
		{"decision", `{"decision":{"verdict":"rejected","type":"MANUAL","rejectionComment":"blurry","decidedAt":"2026-11-20T10:09:00+01:00"}}`,
			func(t *testing.T, p *Process) {
				d := p.Decision
				if d == nil || d.Verdict != VerdictRejected || d.Type != "MANUAL" || d.RejectionComment != "blurry" ||
					!d.DecidedAt.Equal(time.Date(2026, 11, 20, 9, 9, 0, 0, time.UTC)) {
					t.Errorf("decision = %+v", d)
				}
			}},
		{"decision wrong type", `{"decision":"ACCEPTED"}`, func(t *testing.T, p *Process) {
			if p.Decision != nil {
				t.Errorf("decision = %+v", p.Decision)
			}
		}},
		{"validation result wrong types", `{"scanProcessValidationResult":{"enabledProcess":"true","scanProcessFailedValidations":null,"scanProcessValidationResult":1}}`,
			func(t *testing.T, p *Process) {
				if want := (ValidationSummary{Enabled: true, Result: "1"}); !reflect.DeepEqual(p.ValidationResult, want) {
					t.Errorf("summary = %+v", p.ValidationResult)
				}
			}},
		{"dates", `{"creationDate":"2026-11-20T10:00:00","lastUpdateDate":"garbage"}`, func(t *testing.T, p *Process) {
			if !p.CreationDate.Equal(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)) || !p.LastUpdateDate.IsZero() {
				t.Errorf("dates = %v, %v", p.CreationDate, p.LastUpdateDate)
			}
		}},
		{"duplicate keys", `{"status":"VERIFIED","status":"PENDING"}`, func(t *testing.T, p *Process) {
			if p.Status != StatusPending {
				t.Errorf("status = %v", p.Status)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decodeProcess([]byte(tt.body))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !json.Valid(p.Raw) {
				t.Errorf("Raw is not JSON: %s", p.Raw)
			}
			tt.check(t, p)
		})
	}
}

func TestParseTime(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2026-11-20T10:07:12Z", utc(2026, 11, 20, 10, 7, 12, 0)},
		{"2026-11-20T10:07:12.123Z", utc(2026, 11, 20, 10, 7, 12, 123e6)},
		{"2026-11-20T11:07:12+01:00", utc(2026, 11, 20, 10, 7, 12, 0)},
		{"2026-11-20T11:07:12+0100", utc(2026, 11, 20, 10, 7, 12, 0)},
		{"2026-11-20T10:07:12", utc(2026, 11, 20, 10, 7, 12, 0)},
		{"2026-11-20T10:07:12.5", utc(2026, 11, 20, 10, 7, 12, 5e8)},
		{"2026-11-20 10:07:12", utc(2026, 11, 20, 10, 7, 12, 0)},
		{"2026-11-20T10:07", utc(2026, 11, 20, 10, 7, 0, 0)},
		{"2026-11-20", utc(2026, 11, 20, 0, 0, 0, 0)},
		{"1795000000", time.Unix(1795000000, 0)},
		{"1795000000123", time.UnixMilli(1795000000123)},
		{"", time.Time{}},
		{"0", time.Time{}},
		{"yesterday", time.Time{}},
		{"99999999999999999999", time.Time{}},
	}
	for _, tt := range tests {
		if got := parseTime(tt.in); !got.Equal(tt.want) {
			t.Errorf("parseTime(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestDecodeStatusAndDecision(t *testing.T) {
	s, err := decodeStatus([]byte(`{"verificationId":"v","status":"NOT_VERIFIED","stage":"DONE","x":1}`))
	if err != nil || s.Status != StatusNotVerified || s.Stage != "DONE" || s.VerificationID != "v" {
		t.Errorf("status = %+v, %v", s, err)
	}
	for _, bad := range []string{``, `null`, `[]`, `"PENDING"`, `{"status":`} {
		if _, err := decodeStatus([]byte(bad)); err == nil {
			t.Errorf("decodeStatus(%q) succeeded", bad)
		}
	}
	d, err := decodeDecision([]byte(" \n"))
	if err != nil || d.Status != "" {
		t.Errorf("empty decision = %+v, %v", d, err)
	}
	if _, err := decodeDecision([]byte(`{"status":`)); err == nil {
		t.Errorf("malformed decision accepted")
	}
}

func TestParseStatus(t *testing.T) {
	tests := map[string]Status{
		"PENDING": StatusPending, " verified ": StatusVerified, "Not_Verified": StatusNotVerified,
		"": StatusUnknown, "EXPIRED": StatusUnknown, "IN_PROGRESS": StatusUnknown,
	}
	for in, want := range tests {
		if got := ParseStatus(in); got != want {
			t.Errorf("ParseStatus(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseNotification(t *testing.T) {
	n, err := ParseNotification([]byte(`{"verificationId":"v-1","status":"PENDING","stage":"REVIEW","extra":[1]}`))
	if err != nil || n.VerificationID != "v-1" || !n.Reviewable() {
		t.Errorf("notification = %+v, %v", n, err)
	}
	for _, bad := range []string{`{}`, `{"verificationId":"a/b"}`, `[]`, `x`} {
		if _, err := ParseNotification([]byte(bad)); err == nil {
			t.Errorf("ParseNotification(%q) succeeded", bad)
		}
	}
}

func TestEvidenceKinds(t *testing.T) {
	for _, k := range EvidenceKinds() {
		if !IsEvidenceKind(k) {
			t.Errorf("IsEvidenceKind(%q) = false", k)
		}
	}
	for _, k := range []string{"", "video", "DOCUMENT_FRONT", "zip"} {
		if IsEvidenceKind(k) {
			t.Errorf("IsEvidenceKind(%q) = true", k)
		}
	}
	if len(EvidenceKinds()) != 5 {
		t.Errorf("kinds = %v", EvidenceKinds())
	}
}

// TestRequestTags checks that the struct tags of the request bodies spell the
// same names as the field constants.
func TestRequestTags(t *testing.T) {
	tests := []struct {
		v    any
		want []string
	}{
		{tokenRequest{"k", "s"}, []string{fieldAPIKey, fieldAPISecret}},
		{createRequest{"c", "d", "r", "s", map[string]string{"a": "b"}},
			[]string{fieldCountryID, fieldDocType, fieldRedirectURL, fieldScanID, fieldExtraData}},
		{acceptRequest{"v", "t", map[string]string{"a": "b"}}, []string{fieldVerificationID, fieldDecisionType, fieldPersonalData}},
		{rejectRequest{"v", "t", "c"}, []string{fieldVerificationID, fieldDecisionType, fieldRejectComment}},
		{pendingRequest{"v"}, []string{fieldVerificationID}},
	}
	for _, tt := range tests {
		b, _ := json.Marshal(tt.v)
		var m map[string]any
		json.Unmarshal(b, &m)
		var got []string
		for k := range m {
			got = append(got, k)
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(tt.want))
		if !slices.Equal(got, want) {
			t.Errorf("%T keys = %v, want %v", tt.v, got, want)
		}
	}
}
