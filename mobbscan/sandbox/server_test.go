package sandbox

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestToken(t *testing.T) {
	h := newHarness(t, Config{APIKey: "k", APISecret: "s"})
	tests := []struct {
		name string
		body any
		want int
	}{
		{"right credentials", map[string]string{"api_key": "k", "api_secret": "s"}, http.StatusOK},
		{"wrong secret", map[string]string{"api_key": "k", "api_secret": "x"}, http.StatusUnauthorized},
		{"wrong key", map[string]string{"api_key": "x", "api_secret": "s"}, http.StatusUnauthorized},
		{"missing fields", map[string]string{}, http.StatusUnauthorized},
		{"malformed JSON", `{"api_key":`, http.StatusBadRequest},
		{"trailing data", `{"api_key":"k","api_secret":"s"} {}`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e errorBody
			if got := h.call(http.MethodPost, "/auth/token", tt.body, &e, ""); got != tt.want {
				t.Fatalf("status = %d, want %d", got, tt.want)
			}
			if tt.want != http.StatusOK && e.Code != tt.want {
				t.Errorf("error body code = %d, want %d", e.Code, tt.want)
			}
		})
	}
}

func TestEveryEndpointNeedsAToken(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.seed(SeedSpec{Silent: true})[0]
	routes := []struct{ method, path string }{
		{http.MethodPost, "/onboarding/token"},
		{http.MethodGet, "/mobbscan-agent/getVerificationProcessData/" + id},
		{http.MethodGet, "/mobbscan-agent/checkVerificationProcessResult/" + id},
		{http.MethodPost, "/mobbscan-agent/accept"},
		{http.MethodPost, "/mobbscan-agent/reject"},
		{http.MethodPost, "/mobbscan-agent/pending"},
		{http.MethodGet, "/mobbscan-agent/" + id + "/image/document_front"},
		{http.MethodGet, "/mobbscan-agent/" + id + "/recording/video_liveness"},
		{http.MethodGet, "/api/zip/" + id},
		{http.MethodDelete, "/mobbscan-agent/api/verification/" + id},
	}
	for _, r := range routes {
		for _, token := range []string{"", "not-a-jwt", h.token + "x", strings.Replace(h.token, ".", "x.", 1)} {
			var e errorBody
			if got := h.call(r.method, r.path, map[string]string{"verificationId": id}, &e, token); got != http.StatusUnauthorized {
				t.Errorf("%s %s with token %.12q: status %d, want 401", r.method, r.path, token, got)
			}
		}
	}
	if _, ok := h.sb.Get(id); !ok {
		t.Fatal("an unauthorised DELETE removed the process")
	}
}

func TestTokenExpiry(t *testing.T) {
	clk := newClock()
	h := newHarness(t, Config{Now: clk.Now, TokenLifetime: 2 * time.Second})
	id := h.seed(SeedSpec{Silent: true})[0]
	path := "/mobbscan-agent/checkVerificationProcessResult/" + id
	if got := h.api(http.MethodGet, path, nil, nil); got != http.StatusOK {
		t.Fatalf("fresh token: status %d", got)
	}
	clk.Add(1999 * time.Millisecond)
	if got := h.api(http.MethodGet, path, nil, nil); got != http.StatusOK {
		t.Fatalf("token before expiry: status %d", got)
	}
	clk.Add(time.Millisecond)
	if got := h.api(http.MethodGet, path, nil, nil); got != http.StatusUnauthorized {
		t.Fatalf("expired token: status %d, want 401", got)
	}
	// The lifetime can change; the new lifetime applies to new tokens.
	h.sb.SetTokenLifetime(time.Hour)
	h.token = h.newToken()
	clk.Add(59 * time.Minute)
	if got := h.api(http.MethodGet, path, nil, nil); got != http.StatusOK {
		t.Fatalf("token with the longer lifetime: status %d", got)
	}
	if got, want := h.sb.Stats().TokensIssued, 2; got != want {
		t.Errorf("TokensIssued = %d, want %d", got, want)
	}
}

func TestJWTCarriesExpiry(t *testing.T) {
	clk := newClock()
	h := newHarness(t, Config{Now: clk.Now, TokenLifetime: 90 * time.Second})
	claims := decodeClaims(t, h.token)
	if got, want := claims.Expiry, clk.Now().Add(90*time.Second).Unix(); got != want {
		t.Errorf("exp = %d, want %d", got, want)
	}
}

func TestCreate(t *testing.T) {
	h := newHarness(t, Config{})
	tests := []struct {
		name string
		body any
		want int
	}{
		{"minimal", map[string]any{"countryId": "ESP", "docType": "IDCard"}, http.StatusOK},
		{"full", map[string]any{"countryId": "GRC", "docType": "Passport", "redirectUrl": "https://bank.example/done",
			"scanId": "0b6a5f0e-8a35-4b8e-9d3c-2f5b0b0b7c11", "verificationExtraData": map[string]string{"customerRef": "C-1042"}}, http.StatusOK},
		{"driving licence", map[string]any{"countryId": "ZZZ", "docType": "DriverLicense"}, http.StatusOK},
		{"missing countryId", map[string]any{"docType": "IDCard"}, http.StatusBadRequest},
		{"missing docType", map[string]any{"countryId": "ESP"}, http.StatusBadRequest},
		{"bad country", map[string]any{"countryId": "es", "docType": "IDCard"}, http.StatusBadRequest},
		{"unknown docType", map[string]any{"countryId": "ESP", "docType": "Library card"}, http.StatusBadRequest},
		{"bad scanId", map[string]any{"countryId": "ESP", "docType": "IDCard", "scanId": "nope"}, http.StatusBadRequest},
		{"javascript redirect", map[string]any{"countryId": "ESP", "docType": "IDCard", "redirectUrl": "javascript:alert(1)"}, http.StatusBadRequest},
		{"relative redirect", map[string]any{"countryId": "ESP", "docType": "IDCard", "redirectUrl": "/done"}, http.StatusBadRequest},
		{"extra data not strings", map[string]any{"countryId": "ESP", "docType": "IDCard", "verificationExtraData": map[string]int{"a": 1}}, http.StatusBadRequest},
		{"malformed", `{"countryId":"ESP",`, http.StatusBadRequest},
		{"not an object", `[]`, http.StatusBadRequest},
		{"too large", `{"countryId":"ESP","docType":"IDCard","redirectUrl":"https://x.example/` + strings.Repeat("a", maxBody) + `"}`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out map[string]any
			got := h.api(http.MethodPost, "/onboarding/token", tt.body, &out)
			if got != tt.want {
				t.Fatalf("status = %d, want %d (%v)", got, tt.want, out)
			}
			if got != http.StatusOK {
				if out["code"] != float64(tt.want) || out["description"] == "" {
					t.Errorf("error body = %v", out)
				}
				return
			}
			for _, k := range []string{"verificationId", "scanId", "onboardingToken", "onboardingUrl"} {
				if s, _ := out[k].(string); s == "" {
					t.Errorf("%s missing in %v", k, out)
				}
			}
			if url := out["onboardingUrl"].(string); url != h.srv.URL+"/onboarding/"+out["onboardingToken"].(string) {
				t.Errorf("onboardingUrl = %q", url)
			}
			snap, ok := h.sb.Get(out["verificationId"].(string))
			if !ok || snap.State != StatusCreated || snap.Status != "PENDING" || snap.Stage != StageCreated {
				t.Errorf("new process = %+v, want CREATED (PENDING/CREATED)", snap)
			}
		})
	}
}

func TestCreateKeepsScanIDAndExtraData(t *testing.T) {
	h := newHarness(t, Config{PublicURL: "https://sandbox.example/base/"})
	out := h.create(map[string]any{"countryId": "ESP", "docType": "IDCard",
		"scanId": "0B6A5F0E-8A35-4B8E-9D3C-2F5B0B0B7C11", "verificationExtraData": map[string]string{"customerRef": "C-1042"}})
	if got, want := out["scanId"], "0b6a5f0e-8a35-4b8e-9d3c-2f5b0b0b7c11"; got != want {
		t.Errorf("scanId = %q, want %q", got, want)
	}
	if got, want := out["onboardingUrl"], "https://sandbox.example/base/onboarding/"+out["onboardingToken"]; got != want {
		t.Errorf("onboardingUrl = %q, want %q", got, want)
	}
	var info processInfo
	if code := h.api(http.MethodGet, "/mobbscan-agent/getVerificationProcessData/"+out["verificationId"], nil, &info); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if info.VerificationExtraData["customerRef"] != "C-1042" || info.ScanID != out["scanId"] {
		t.Errorf("info = %+v", info)
	}
}

func TestProcessInfoThroughTheLifecycle(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.create(map[string]any{"countryId": "PRT", "docType": "IDCard"})["verificationId"]
	info := func() processInfo {
		t.Helper()
		var in processInfo
		if code := h.api(http.MethodGet, "/mobbscan-agent/getVerificationProcessData/"+id, nil, &in); code != http.StatusOK {
			t.Fatalf("process info: status %d", code)
		}
		return in
	}
	in := info()
	if in.Status != "PENDING" || in.Stage != StageCreated || in.PersonalData != nil || len(in.Evidences) != 0 || in.Decision != nil {
		t.Fatalf("created: %+v", in)
	}
	if err := h.sb.Complete(id, []string{ValidationFacialMatching}); err != nil {
		t.Fatal(err)
	}
	in = info()
	if in.Status != "PENDING" || in.Stage != StageReview {
		t.Fatalf("completed: status %s stage %s", in.Status, in.Stage)
	}
	if in.PersonalData["name"] == "" || in.PersonalData["documentNumber"] == "" || !strings.Contains(in.PersonalData["mrz"], "\n") {
		t.Errorf("personalData = %v", in.PersonalData)
	}
	if in.ScanResult == nil || in.ScanResult.Result != "NOT_VALID" || !slices.Equal(in.ScanResult.Failed, []string{ValidationFacialMatching}) {
		t.Errorf("scan result = %+v", in.ScanResult)
	}
	if in.Validations[ValidationFacialMatching] != "NOT_VALID" || in.Validations[ValidationMRZ] != "VALID" || len(in.Validations) != len(Validations) {
		t.Errorf("validations = %v", in.Validations)
	}
	if in.Scores == nil || in.Scores.FacialMatching > 0.55 {
		t.Errorf("scores = %+v", in.Scores)
	}
	want := []string{EvidenceDocumentFront, EvidenceDocumentBack, EvidenceFaceDocument, EvidenceFaceNow, EvidenceVideoLiveness}
	if !slices.Equal(in.Evidences, want) {
		t.Errorf("evidences = %v, want %v", in.Evidences, want)
	}
	var st statusInfo
	if code := h.api(http.MethodGet, "/mobbscan-agent/checkVerificationProcessResult/"+id, nil, &st); code != http.StatusOK ||
		st != (statusInfo{VerificationID: id, Status: "PENDING", Stage: StageReview}) {
		t.Errorf("status: %d %+v", code, st)
	}
	// Accept with corrections.
	body := map[string]any{"verificationId": id, "type": "MANUAL", "personalData": map[string]any{"surname": "Correia", "postCode": 4000, "city": nil}}
	if code := h.api(http.MethodPost, "/mobbscan-agent/accept", body, &st); code != http.StatusOK || st.Status != "VERIFIED" || st.Stage != StageDone {
		t.Fatalf("accept: %d %+v", code, st)
	}
	in = info()
	if in.Decision == nil || in.Decision.Verdict != VerdictAccepted || in.Decision.Type != "MANUAL" || in.Decision.DecidedAt == "" {
		t.Errorf("decision = %+v", in.Decision)
	}
	if in.PersonalData["surname"] != "Correia" || in.PersonalData["postCode"] != "4000" {
		t.Errorf("corrections not applied: %v", in.PersonalData)
	}
	snap, _ := h.sb.Get(id)
	if snap.Accepts != 1 || snap.Corrections["surname"] != "Correia" {
		t.Errorf("snapshot = %+v", snap)
	}
}

func TestDecisions(t *testing.T) {
	h := newHarness(t, Config{})
	tests := []struct {
		name       string
		state      string
		path       string
		body       func(id string) any
		want       int
		wantStatus string // status in the answer (200) or in the 409 body
	}{
		{"accept in review", "REVIEW", "accept", func(id string) any { return map[string]string{"verificationId": id, "type": "MANUAL"} }, 200, "VERIFIED"},
		{"reject in review", "REVIEW", "reject", func(id string) any {
			return map[string]string{"verificationId": id, "type": "MANUAL", "rejectionComment": "Selfie does not match"}
		}, 200, "NOT_VERIFIED"},
		{"reject without comment", "REVIEW", "reject", func(id string) any { return map[string]string{"verificationId": id, "type": "MANUAL"} }, 400, ""},
		{"reject with blank comment", "REVIEW", "reject", func(id string) any {
			return map[string]string{"verificationId": id, "rejectionComment": " \t\n"}
		}, 400, ""},
		{"accept without id", "REVIEW", "accept", func(string) any { return map[string]string{"type": "MANUAL"} }, 400, ""},
		{"accept unknown id", "REVIEW", "accept", func(string) any { return map[string]string{"verificationId": "nope"} }, 404, ""},
		{"accept malformed", "REVIEW", "accept", func(string) any { return `{"verificationId":` }, 400, ""},
		{"accept bad corrections", "REVIEW", "accept", func(id string) any { return map[string]any{"verificationId": id, "personalData": []int{1}} }, 400, ""},
		{"accept twice", "VERIFIED", "accept", func(id string) any { return map[string]string{"verificationId": id} }, 409, "VERIFIED"},
		{"reject accepted", "VERIFIED", "reject", func(id string) any { return map[string]string{"verificationId": id, "rejectionComment": "no"} }, 409, "VERIFIED"},
		{"accept rejected", "NOT_VERIFIED", "accept", func(id string) any { return map[string]string{"verificationId": id} }, 409, "NOT_VERIFIED"},
		{"accept unfinished", "IN_PROGRESS", "accept", func(id string) any { return map[string]string{"verificationId": id} }, 409, "PENDING"},
		{"accept created", "CREATED", "accept", func(id string) any { return map[string]string{"verificationId": id} }, 409, "PENDING"},
		{"reject expired", "EXPIRED", "reject", func(id string) any { return map[string]string{"verificationId": id, "rejectionComment": "x"} }, 409, "PENDING"},
		{"pending in review", "REVIEW", "pending", func(id string) any { return map[string]string{"verificationId": id} }, 200, "PENDING"},
		{"pending accepted", "VERIFIED", "pending", func(id string) any { return map[string]string{"verificationId": id} }, 200, "PENDING"},
		{"pending rejected", "NOT_VERIFIED", "pending", func(id string) any { return map[string]string{"verificationId": id} }, 200, "PENDING"},
		{"pending unfinished", "IN_PROGRESS", "pending", func(id string) any { return map[string]string{"verificationId": id} }, 409, "PENDING"},
		{"pending unknown", "REVIEW", "pending", func(string) any { return map[string]string{"verificationId": "nope"} }, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := h.seed(SeedSpec{States: []string{tt.state}, Silent: true})[0]
			before, _ := h.sb.Get(id)
			var out errorBody
			got := h.api(http.MethodPost, "/mobbscan-agent/"+tt.path, tt.body(id), &out)
			if got != tt.want {
				t.Fatalf("status = %d, want %d (%+v)", got, tt.want, out)
			}
			if tt.wantStatus != "" && out.Status != tt.wantStatus {
				t.Errorf("answer status = %q, want %q", out.Status, tt.wantStatus)
			}
			if got >= 400 && out.Code != got {
				t.Errorf("error body code = %d, want %d", out.Code, got)
			}
			after, _ := h.sb.Get(id)
			if got == http.StatusConflict {
				if after.State != before.State || after.Verdict != before.Verdict {
					t.Errorf("a conflict changed the process: %+v → %+v", before, after)
				}
				if _, stage := before.State.Wire(); out.Stage != stage {
					t.Errorf("409 stage = %q, want %q", out.Stage, stage)
				}
			}
		})
	}
}

func TestDecisionIsEchoed(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.seed(SeedSpec{Silent: true})[0]
	body := map[string]string{"verificationId": id, "type": "AGENT_REVIEW", "rejectionComment": "Documento caducado — «expired»"}
	if code := h.api(http.MethodPost, "/mobbscan-agent/reject", body, nil); code != http.StatusOK {
		t.Fatalf("reject: %d", code)
	}
	var in processInfo
	h.api(http.MethodGet, "/mobbscan-agent/getVerificationProcessData/"+id, nil, &in)
	if in.Status != "NOT_VERIFIED" || in.Decision == nil || in.Decision.Verdict != VerdictRejected ||
		in.Decision.Type != "AGENT_REVIEW" || in.Decision.RejectionComment != body["rejectionComment"] {
		t.Errorf("info = %s/%s %+v", in.Status, in.Stage, in.Decision)
	}
	// Back to review clears the decision; a second rejection is applied.
	h.api(http.MethodPost, "/mobbscan-agent/pending", map[string]string{"verificationId": id}, nil)
	in = processInfo{}
	h.api(http.MethodGet, "/mobbscan-agent/getVerificationProcessData/"+id, nil, &in)
	if in.Stage != StageReview || in.Decision != nil {
		t.Errorf("after pending: %s %+v", in.Stage, in.Decision)
	}
	h.api(http.MethodPost, "/mobbscan-agent/reject", body, nil)
	snap, _ := h.sb.Get(id)
	if snap.Rejects != 2 || snap.Pendings != 1 || snap.Accepts != 0 {
		t.Errorf("counters = accepts %d rejects %d pendings %d", snap.Accepts, snap.Rejects, snap.Pendings)
	}
}

func TestUnknownIDs(t *testing.T) {
	h := newHarness(t, Config{})
	for _, path := range []string{
		"/mobbscan-agent/getVerificationProcessData/nope",
		"/mobbscan-agent/checkVerificationProcessResult/nope",
		"/mobbscan-agent/nope/image/face_now",
		"/mobbscan-agent/nope/recording/video_liveness",
		"/api/zip/nope",
	} {
		var e errorBody
		if got := h.api(http.MethodGet, path, nil, &e); got != http.StatusNotFound || e.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d %+v, want 404", path, got, e)
		}
	}
	if got := h.api(http.MethodDelete, "/mobbscan-agent/api/verification/nope", nil, nil); got != http.StatusNotFound {
		t.Errorf("DELETE unknown: %d", got)
	}
	if got := h.api(http.MethodGet, "/no/such/endpoint", nil, nil); got != http.StatusNotFound {
		t.Errorf("unknown endpoint: %d", got)
	}
}

func TestDelete(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.seed(SeedSpec{Silent: true})[0]
	resp := h.request(http.MethodDelete, "/mobbscan-agent/api/verification/"+id, nil, h.token)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength != 0 {
		t.Fatalf("delete: %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	for _, path := range []string{
		"/mobbscan-agent/getVerificationProcessData/" + id,
		"/mobbscan-agent/checkVerificationProcessResult/" + id,
		"/mobbscan-agent/" + id + "/image/document_front",
		"/mobbscan-agent/" + id + "/recording/video_liveness",
		"/api/zip/" + id,
	} {
		if got := h.api(http.MethodGet, path, nil, nil); got != http.StatusNotFound {
			t.Errorf("GET %s after delete: %d, want 404", path, got)
		}
	}
	if got := h.api(http.MethodPost, "/mobbscan-agent/accept", map[string]string{"verificationId": id}, nil); got != http.StatusNotFound {
		t.Errorf("accept after delete: %d", got)
	}
	if got := h.api(http.MethodDelete, "/mobbscan-agent/api/verification/"+id, nil, nil); got != http.StatusNotFound {
		t.Errorf("second delete: %d", got)
	}
	if _, ok := h.sb.Get(id); ok {
		t.Error("Get finds a deleted process")
	}
}

func TestWireStatus(t *testing.T) {
	tests := []struct {
		in                Status
		status, stage     string
		finished, reviews bool
	}{
		{StatusCreated, "PENDING", "CREATED", false, false},
		{StatusInProgress, "PENDING", "IN_PROGRESS", false, false},
		{StatusPending, "PENDING", "REVIEW", true, true},
		{StatusExpired, "PENDING", "EXPIRED", false, false},
		{StatusVerified, "VERIFIED", "DONE", true, false},
		{StatusNotVerified, "NOT_VERIFIED", "DONE", true, false},
	}
	for _, tt := range tests {
		status, stage := tt.in.Wire()
		if status != tt.status || stage != tt.stage || tt.in.finished() != tt.finished {
			t.Errorf("%s: got %s/%s finished=%v, want %s/%s finished=%v", tt.in, status, stage, tt.in.finished(), tt.status, tt.stage, tt.finished)
		}
	}
}
