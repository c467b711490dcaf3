package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"
)

// rawDo sends a request and returns the transport error instead of failing.
func (h *harness) rawDo(method, path string, body any) (int, http.Header, []byte, error) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, h.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+h.token)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data, err
}

func TestFaults(t *testing.T) {
	h := newHarness(t, Config{})
	accept := func(id string) any { return map[string]string{"verificationId": id, "type": "MANUAL"} }
	tests := []struct {
		name        string
		fault       Fault
		wantCode    int  // 0: a transport or read error is expected
		wantApplied bool // the accept took effect
		check       func(t *testing.T, hdr http.Header, body []byte)
	}{
		{name: "latency only", fault: Fault{Latency: 5 * time.Millisecond}, wantCode: 200, wantApplied: true},
		{name: "401", fault: Fault{Kind: FaultUnauthorized}, wantCode: 401},
		{name: "429", fault: Fault{Kind: FaultRateLimited, RetryAfter: 3 * time.Second}, wantCode: 429,
			check: func(t *testing.T, hdr http.Header, _ []byte) {
				if got := hdr.Get("Retry-After"); got != "3" {
					t.Errorf("Retry-After = %q, want 3", got)
				}
			}},
		{name: "429 default retry", fault: Fault{Kind: FaultRateLimited}, wantCode: 429,
			check: func(t *testing.T, hdr http.Header, _ []byte) {
				if got := hdr.Get("Retry-After"); got != "1" {
					t.Errorf("Retry-After = %q, want 1", got)
				}
			}},
		{name: "500", fault: Fault{Kind: FaultServerError}, wantCode: 500},
		{name: "503 after latency", fault: Fault{Kind: FaultUnavailable, Latency: time.Millisecond}, wantCode: 503},
		{name: "malformed, applied", fault: Fault{Kind: FaultMalformed}, wantCode: 200, wantApplied: true,
			check: func(t *testing.T, _ http.Header, body []byte) {
				if json.Valid(body) {
					t.Errorf("body %q is valid JSON", body)
				}
			}},
		{name: "malformed, not applied", fault: Fault{Kind: FaultMalformed, NotApplied: true}, wantCode: 200},
		{name: "truncated, applied", fault: Fault{Kind: FaultTruncated}, wantApplied: true},
		{name: "truncated, not applied", fault: Fault{Kind: FaultTruncated, NotApplied: true}},
		{name: "reset, applied", fault: Fault{Kind: FaultReset}, wantApplied: true},
		{name: "reset, not applied", fault: Fault{Kind: FaultReset, NotApplied: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := h.seed(SeedSpec{Silent: true})[0]
			if err := h.sb.SetFault(RouteAccept, tt.fault); err != nil {
				t.Fatal(err)
			}
			defer h.sb.ClearFaults()
			code, hdr, body, err := h.rawDo(http.MethodPost, "/mobbscan-agent/accept", accept(id))
			if tt.wantCode == 0 {
				if err == nil {
					t.Fatalf("no error; status %d body %q", code, body)
				}
			} else {
				if err != nil || code != tt.wantCode {
					t.Fatalf("status %d, err %v; want %d", code, err, tt.wantCode)
				}
				if code >= 400 {
					var e errorBody
					if json.Unmarshal(body, &e) != nil || e.Code != code {
						t.Errorf("error body %q", body)
					}
				}
			}
			if tt.check != nil {
				tt.check(t, hdr, body)
			}
			snap, _ := h.sb.Get(id)
			if applied := snap.State == StatusVerified; applied != tt.wantApplied {
				t.Errorf("accept applied = %v, want %v", applied, tt.wantApplied)
			}
		})
	}
}

func TestTruncatedAndResetReads(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.seed(SeedSpec{Silent: true})[0]
	for _, tt := range []struct {
		route, path string
		kind        FaultKind
	}{
		{RouteProcess, "/mobbscan-agent/getVerificationProcessData/" + id, FaultTruncated},
		{RouteRecording, "/mobbscan-agent/" + id + "/recording/video_liveness", FaultTruncated},
		{RouteZip, "/api/zip/" + id, FaultTruncated},
		{RouteStatus, "/mobbscan-agent/checkVerificationProcessResult/" + id, FaultReset},
	} {
		if err := h.sb.SetFault(tt.route, Fault{Kind: tt.kind, Count: 1}); err != nil {
			t.Fatal(err)
		}
		code, _, body, err := h.rawDo(http.MethodGet, tt.path, nil)
		if err == nil {
			t.Errorf("%s %s: no error (status %d, %d bytes)", tt.route, tt.kind, code, len(body))
		}
		if tt.kind == FaultTruncated && (code != http.StatusOK || !errors.Is(err, io.ErrUnexpectedEOF)) {
			t.Errorf("%s: status %d err %v, want 200 and unexpected EOF", tt.route, code, err)
		}
		// The fault was counted: the next request is fine.
		if code, _, _, err := h.rawDo(http.MethodGet, tt.path, nil); err != nil || code != http.StatusOK {
			t.Errorf("%s after the fault: %d %v", tt.route, code, err)
		}
	}
}

func TestCountedAndPersistentFaults(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.seed(SeedSpec{Silent: true})[0]
	path := "/mobbscan-agent/checkVerificationProcessResult/" + id
	if err := h.sb.SetFault(RouteStatus, Fault{Kind: FaultUnavailable, Count: 2}); err != nil {
		t.Fatal(err)
	}
	var codes []int
	for range 3 {
		codes = append(codes, h.api(http.MethodGet, path, nil, nil))
	}
	if codes[0] != 503 || codes[1] != 503 || codes[2] != 200 {
		t.Errorf("codes = %v, want [503 503 200]", codes)
	}
	if len(h.sb.Faults()) != 0 {
		t.Errorf("a used-up fault remains: %v", h.sb.Faults())
	}
	// Persistent until cleared, and only on its route.
	if err := h.sb.SetFault(RouteStatus, Fault{Kind: FaultServerError}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if got := h.api(http.MethodGet, path, nil, nil); got != 500 {
			t.Fatalf("persistent fault: %d", got)
		}
	}
	if got := h.api(http.MethodGet, "/mobbscan-agent/getVerificationProcessData/"+id, nil, nil); got != 200 {
		t.Errorf("another route: %d", got)
	}
	h.sb.ClearFault(RouteStatus)
	if got := h.api(http.MethodGet, path, nil, nil); got != 200 {
		t.Errorf("after ClearFault: %d", got)
	}
	// Faults apply before authentication, on the token route too.
	h.sb.SetFault(RouteToken, Fault{Kind: FaultUnavailable, Count: 1})
	if got := h.call(http.MethodPost, "/auth/token", map[string]string{"api_key": h.key(), "api_secret": h.secret()}, nil, ""); got != 503 {
		t.Errorf("token fault: %d", got)
	}
	st := h.sb.Stats()
	if st.Requests[RouteStatus] != 7 || st.Requests[RouteToken] != 2 || st.FaultsInjected != 6 {
		t.Errorf("stats = %+v", st)
	}
}

func TestSetFaultValidates(t *testing.T) {
	sb, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	for _, tt := range []struct {
		route string
		f     Fault
	}{
		{"nope", Fault{Kind: FaultServerError}},
		{RouteAccept, Fault{Kind: "418"}},
		{RouteAccept, Fault{}},
		{RouteAccept, Fault{Kind: FaultLatency, Latency: -time.Second}},
		{RouteAccept, Fault{Kind: FaultServerError, Count: -1}},
	} {
		if err := sb.SetFault(tt.route, tt.f); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetFault(%q, %+v) = %v, want ErrInvalid", tt.route, tt.f, err)
		}
	}
	if err := sb.SetFault(RouteAccept, Fault{Latency: time.Second}); err != nil || sb.Faults()[RouteAccept].Kind != FaultLatency {
		t.Errorf("latency-only fault: %v %+v", err, sb.Faults())
	}
}
