package sandbox

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is a webhook endpoint that records what it gets.
type receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	events   []webhookEvent
	bodies   [][]byte
	headers  []http.Header
	failures int           // answer 503 to this many requests first
	block    chan struct{} // when set, requests wait for it to close
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		block := rc.block
		rc.mu.Unlock()
		if block != nil {
			select {
			case <-block:
			case <-r.Context().Done():
				return
			}
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if rc.failures > 0 {
			rc.failures--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var ev webhookEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("webhook body %q: %v", body, err)
		}
		rc.events = append(rc.events, ev)
		rc.bodies = append(rc.bodies, body)
		rc.headers = append(rc.headers, r.Header.Clone())
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) received() []webhookEvent {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.events)
}

func wait(t *testing.T, sb *Sandbox) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := sb.WaitWebhooks(ctx); err != nil {
		t.Fatalf("WaitWebhooks: %v", err)
	}
}

// verifySignature checks an X-Mobbscan-Signature as a receiver would.
func verifySignature(secret, header string, body []byte) bool {
	var ts, sig string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(body)))
	want := hex.EncodeToString(m.Sum(nil))
	return hmac.Equal([]byte(sig), []byte(want))
}

func sortedEvents(evs []webhookEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.VerificationID + " " + e.Status + " " + e.Stage
	}
	slices.Sort(out)
	return out
}

func TestWebhookOnEveryStatusChange(t *testing.T) {
	rc := newReceiver(t)
	clk := newClock()
	h := newHarness(t, Config{WebhookURLs: []string{rc.srv.URL}, WebhookSecret: "s3cret", WebhookBackoff: time.Millisecond, Now: clk.Now})
	out := h.create(map[string]any{"countryId": "ESP", "docType": "IDCard"})
	id := out["verificationId"]
	resp, err := http.Get(out["onboardingUrl"])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := h.sb.Complete(id, nil); err != nil {
		t.Fatal(err)
	}
	h.api(http.MethodPost, "/mobbscan-agent/accept", map[string]string{"verificationId": id}, nil)
	h.api(http.MethodPost, "/mobbscan-agent/pending", map[string]string{"verificationId": id}, nil)
	h.api(http.MethodPost, "/mobbscan-agent/reject", map[string]string{"verificationId": id, "rejectionComment": "blurred"}, nil)
	// Reads and refused changes notify nothing.
	h.api(http.MethodPost, "/mobbscan-agent/reject", map[string]string{"verificationId": id, "rejectionComment": "again"}, nil)
	h.api(http.MethodGet, "/mobbscan-agent/getVerificationProcessData/"+id, nil, nil)
	wait(t, h.sb)

	want := sortedEvents([]webhookEvent{
		{id, "PENDING", "CREATED"}, {id, "PENDING", "IN_PROGRESS"}, {id, "PENDING", "REVIEW"},
		{id, "VERIFIED", "DONE"}, {id, "PENDING", "REVIEW"}, {id, "NOT_VERIFIED", "DONE"},
	})
	if got := sortedEvents(rc.received()); !slices.Equal(got, want) {
		t.Errorf("events =\n%v\nwant\n%v", got, want)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i, hdr := range rc.headers {
		sig := hdr.Get(SignatureHeader)
		if !verifySignature("s3cret", sig, rc.bodies[i]) {
			t.Errorf("bad signature %q for %s", sig, rc.bodies[i])
		}
		if !strings.HasPrefix(sig, "t="+strconv.FormatInt(clk.Now().Unix(), 10)+",") {
			t.Errorf("signature time %q, want the sandbox clock's", sig)
		}
		if hdr.Get("Content-Type") != "application/json" {
			t.Errorf("Content-Type = %q", hdr.Get("Content-Type"))
		}
	}
	if verifySignature("other", rc.headers[0].Get(SignatureHeader), rc.bodies[0]) {
		t.Error("signature verifies with the wrong secret")
	}
}

func TestWebhookWithoutSecretIsUnsigned(t *testing.T) {
	rc := newReceiver(t)
	h := newHarness(t, Config{WebhookURLs: []string{rc.srv.URL}})
	h.seed(SeedSpec{})
	wait(t, h.sb)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.headers) != 1 || rc.headers[0].Get(SignatureHeader) != "" {
		t.Errorf("headers = %v", rc.headers)
	}
}

func TestWebhookRetries(t *testing.T) {
	tests := []struct {
		name                                 string
		retries, failures                    int
		wantEvents, wantAttempts, wantFailed int
	}{
		{"succeeds after two failures", 3, 2, 1, 3, 0},
		{"gives up", 2, 10, 0, 3, 1},
		{"no retries", -1, 1, 0, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t)
			rc.failures = tt.failures
			h := newHarness(t, Config{WebhookURLs: []string{rc.srv.URL}, WebhookRetries: tt.retries, WebhookBackoff: time.Millisecond})
			h.seed(SeedSpec{})
			wait(t, h.sb)
			st := h.sb.Stats()
			if got := len(rc.received()); got != tt.wantEvents {
				t.Errorf("received %d, want %d", got, tt.wantEvents)
			}
			if st.WebhookAttempts != tt.wantAttempts || st.WebhooksFailed != tt.wantFailed || st.WebhooksDelivered != tt.wantEvents || st.WebhooksQueued != 1 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

func TestWebhookNetworkErrorsAreRetried(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	h := newHarness(t, Config{WebhookURLs: []string{url}, WebhookRetries: 2, WebhookBackoff: time.Millisecond})
	h.seed(SeedSpec{})
	wait(t, h.sb)
	if st := h.sb.Stats(); st.WebhookAttempts != 3 || st.WebhooksFailed != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestWebhookDuplicatesDelayAndLateURL(t *testing.T) {
	rc1, rc2 := newReceiver(t), newReceiver(t)
	h := newHarness(t, Config{WebhookURLs: []string{rc1.srv.URL}, WebhookDuplicates: true, WebhookDelay: time.Millisecond})
	first := h.seed(SeedSpec{})[0]
	h.sb.AddWebhookURL(rc2.srv.URL)
	h.sb.AddWebhookURL(rc2.srv.URL) // twice: still one URL
	second := h.seed(SeedSpec{})[0]
	wait(t, h.sb)
	if got, want := sortedEvents(rc1.received()), sortedEvents([]webhookEvent{
		{first, "PENDING", "REVIEW"}, {first, "PENDING", "REVIEW"}, {second, "PENDING", "REVIEW"}, {second, "PENDING", "REVIEW"},
	}); !slices.Equal(got, want) {
		t.Errorf("first receiver got %v, want %v", got, want)
	}
	if got, want := sortedEvents(rc2.received()), sortedEvents([]webhookEvent{
		{second, "PENDING", "REVIEW"}, {second, "PENDING", "REVIEW"},
	}); !slices.Equal(got, want) {
		t.Errorf("late receiver got %v, want %v", got, want)
	}
}

func TestReplay(t *testing.T) {
	rc := newReceiver(t)
	h := newHarness(t, Config{WebhookURLs: []string{rc.srv.URL}})
	id := h.seed(SeedSpec{States: []string{"NOT_VERIFIED"}, Silent: true})[0]
	n, err := h.sb.Replay(id)
	if err != nil || n != 4 {
		t.Fatalf("Replay = %d, %v; want 4 (CREATED, IN_PROGRESS, REVIEW, NOT_VERIFIED)", n, err)
	}
	wait(t, h.sb)
	want := sortedEvents([]webhookEvent{{id, "PENDING", "CREATED"}, {id, "PENDING", "IN_PROGRESS"}, {id, "PENDING", "REVIEW"}, {id, "NOT_VERIFIED", "DONE"}})
	if got := sortedEvents(rc.received()); !slices.Equal(got, want) {
		t.Errorf("replayed %v, want %v", got, want)
	}
	if _, err := h.sb.Replay("nope"); err == nil {
		t.Error("replay of an unknown id succeeded")
	}
}

func TestWebhookNeverBlocksTheAPI(t *testing.T) {
	rc := newReceiver(t)
	rc.block = make(chan struct{})
	h := newHarness(t, Config{WebhookURLs: []string{rc.srv.URL}})
	// With the receiver stuck, API calls that notify still answer.
	for range 3 {
		h.create(map[string]any{"countryId": "FRA", "docType": "Passport"})
	}
	id := h.seed(SeedSpec{})[0]
	if code := h.api(http.MethodPost, "/mobbscan-agent/accept", map[string]string{"verificationId": id}, nil); code != http.StatusOK {
		t.Fatalf("accept: %d", code)
	}
	close(rc.block)
	wait(t, h.sb)
	if got := len(rc.received()); got != 5 {
		t.Errorf("received %d notifications, want 5", got)
	}
}

func TestCloseAbandonsStuckDeliveries(t *testing.T) {
	rc := newReceiver(t)
	rc.block = make(chan struct{})
	defer close(rc.block)
	sb, err := New(Config{WebhookURLs: []string{rc.srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Seed(SeedSpec{Count: 20}); err != nil {
		t.Fatal(err)
	}
	if err := sb.Close(); err != nil { // returns although every delivery is stuck
		t.Fatal(err)
	}
	if err := sb.WaitWebhooks(context.Background()); err == nil {
		t.Error("WaitWebhooks after Close reported success with deliveries pending")
	}
}

func TestSign(t *testing.T) {
	body := []byte(`{"verificationId":"x","status":"PENDING","stage":"REVIEW"}`)
	sig := Sign("k", time.Unix(1700000000, 0), body)
	if !strings.HasPrefix(sig, "t=1700000000,v1=") || !verifySignature("k", sig, body) {
		t.Errorf("Sign = %q", sig)
	}
	if verifySignature("k", sig, append(body, ' ')) {
		t.Error("signature verifies a different body")
	}
}

func TestWebhookErrorsHideTheURL(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	secretURL := dead.URL + "/webhooks/mobbscan/very-secret-token"
	dead.Close()
	var logs strings.Builder
	var mu sync.Mutex
	h := newHarness(t, Config{WebhookURLs: []string{secretURL}, WebhookRetries: 1, WebhookBackoff: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	h.seed(SeedSpec{})
	wait(t, h.sb)
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "webhook abandoned") {
		t.Fatalf("no failure logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "very-secret-token") {
		t.Errorf("the log shows the webhook URL:\n%s", logs.String())
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
