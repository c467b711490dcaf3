package sandbox

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// serve runs one request through the sandbox in process.
func serve(sb *Sandbox, method, path, body, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	sb.ServeHTTP(rec, req)
	return rec
}

func fuzzSandbox(f *testing.F, cfg Config) (*Sandbox, string) {
	sb, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { sb.Close() })
	token, err := sb.issueJWT()
	if err != nil {
		f.Fatal(err)
	}
	return sb, token
}

// checkAnswer fails unless the answer is one of the allowed statuses with a
// JSON body, and an error body names its status.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, allowed ...int) {
	t.Helper()
	if !slices.Contains(allowed, rec.Code) {
		t.Fatalf("status %d, want one of %v; body %q", rec.Code, allowed, rec.Body.String())
	}
	if rec.Code == http.StatusNoContent {
		return
	}
	if !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("answer is not JSON: %q", rec.Body.String())
	}
	if rec.Code >= 400 {
		var e errorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code != rec.Code || e.Description == "" {
			t.Fatalf("error body %q", rec.Body.String())
		}
	}
}

func FuzzCreateBody(f *testing.F) {
	for _, s := range []string{
		`{"countryId":"ESP","docType":"IDCard"}`,
		`{"countryId":"GRC","docType":"Passport","redirectUrl":"https://x.example/a?b=c","scanId":"0b6a5f0e-8a35-4b8e-9d3c-2f5b0b0b7c11","verificationExtraData":{"customerRef":"C-1042"}}`,
		`{"countryId":"ESP"}`,
		`{"countryId":"ESP","docType":"IDCard","verificationExtraData":{"":"x"}}`,
		`{"countryId":"ESP","docType":"IDCard","redirectUrl":"javascript:alert(1)"}`,
		`{"countryId":"\u0000SP","docType":"IDCard"}`,
		`[]`, `null`, ``, `{"countryId":1}`,
	} {
		f.Add(s)
	}
	sb, token := fuzzSandbox(f, Config{})
	f.Fuzz(func(t *testing.T, body string) {
		rec := serve(sb, http.MethodPost, "/onboarding/token", body, token)
		checkAnswer(t, rec, http.StatusOK, http.StatusBadRequest)
		if rec.Code != http.StatusOK {
			return
		}
		var out map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		snap, ok := sb.Get(out["verificationId"])
		if !ok || snap.State != StatusCreated || !validCountry(snap.CountryID) || !slices.Contains(docTypes, snap.DocType) {
			t.Fatalf("created %+v", snap)
		}
		if err := sb.remove(t.Context(), snap.ID); err != nil { // keep memory flat while fuzzing
			t.Fatal(err)
		}
	})
}

func FuzzDecisionBody(f *testing.F) {
	for _, s := range []struct {
		route uint8
		body  string
	}{
		{0, `{"verificationId":"$ID","type":"MANUAL"}`},
		{0, `{"verificationId":"$ID","personalData":{"surname":"Núñez","postCode":28013,"x":null}}`},
		{0, `{"verificationId":"$ID","personalData":"oops"}`},
		{1, `{"verificationId":"$ID","type":"MANUAL","rejectionComment":"Selfie does not match"}`},
		{1, `{"verificationId":"$ID","rejectionComment":"   "}`},
		{1, `{"verificationId":"nope","rejectionComment":"x"}`},
		{2, `{"verificationId":"$ID"}`},
		{2, `{}`},
		{1, `{"verificationId":"$ID","rejectionComment":"\ud800"}`},
	} {
		f.Add(s.route, s.body)
	}
	sb, token := fuzzSandbox(f, Config{})
	routes := []string{"accept", "reject", "pending"}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		ids, err := sb.Seed(SeedSpec{Silent: true, States: []string{[]string{"REVIEW", "VERIFIED", "CREATED"}[route/3%3]}})
		if err != nil {
			t.Fatal(err)
		}
		id := ids[0]
		defer sb.remove(t.Context(), id)
		before, _ := sb.Get(id)
		r := routes[int(route)%len(routes)]
		rec := serve(sb, http.MethodPost, "/mobbscan-agent/"+r, strings.ReplaceAll(body, "$ID", id), token)
		checkAnswer(t, rec, http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusConflict)
		after, _ := sb.Get(id)
		if rec.Code != http.StatusOK && (after.State != before.State || after.Verdict != before.Verdict) {
			t.Fatalf("a refused %s changed the process: %s → %s", r, before.State, after.State)
		}
		if after.State == StatusNotVerified && strings.TrimSpace(after.RejectionComment) == "" && before.State != StatusNotVerified {
			t.Fatal("rejected without a comment")
		}
		if rec.Code == http.StatusConflict {
			var e errorBody
			json.Unmarshal(rec.Body.Bytes(), &e)
			if status, _ := before.State.Wire(); e.Status != status {
				t.Fatalf("409 status %q, want %q", e.Status, status)
			}
		}
	})
}

func FuzzControlBody(f *testing.F) {
	paths := []string{"/_sandbox/seed", "/_sandbox/faults", "/_sandbox/token-lifetime", "/_sandbox/video", "/_sandbox/processes/$ID/complete"}
	for _, s := range []struct {
		path uint8
		body string
	}{
		{0, `{"count":3,"states":["CREATED","review","VERIFIED"],"countryId":"UKR","docType":"Passport"}`},
		{0, `{"count":2,"failed":["validationMRZ"],"silent":true}`},
		{0, `{"count":1,"outcome":"clean"}`},
		{0, `{"count":-4}`},
		{1, `{"route":"accept","kind":"429","retryAfterSeconds":5,"count":2}`},
		{1, `{"route":"zip","kind":"reset","notApplied":true}`},
		{1, `{"route":"token","kind":"latency","latency":"-1s"}`},
		{2, `{"lifetime":"2s"}`},
		{2, `{"lifetime":"99999h"}`},
		{3, `{"bytes":209715200}`},
		{4, `{"outcome":"random"}`},
		{4, `{"failed":["validationLiveness","validationFacialMatching"]}`},
		{4, `{"outcome":"clean","failed":["validationMRZ"]}`},
	} {
		f.Add(s.path, s.body)
	}
	sb, _ := fuzzSandbox(f, Config{Control: true})
	f.Fuzz(func(t *testing.T, path uint8, body string) {
		defer sb.Reset()
		id := must(sb.Seed(SeedSpec{States: []string{"IN_PROGRESS"}, Silent: true}))[0]
		p := strings.ReplaceAll(paths[int(path)%len(paths)], "$ID", id)
		rec := serve(sb, http.MethodPost, p, body, "")
		checkAnswer(t, rec, http.StatusOK, http.StatusBadRequest, http.StatusConflict)
		if p == "/_sandbox/seed" && rec.Code == http.StatusOK {
			var out struct{ IDs []string }
			json.Unmarshal(rec.Body.Bytes(), &out)
			if len(out.IDs) == 0 || len(out.IDs) > maxSeed || len(sb.List()) != len(out.IDs)+1 {
				t.Fatalf("seeded %d, listed %d", len(out.IDs), len(sb.List()))
			}
		}
	})
}
