package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/review"
)

// TestWebhookRefusals: the webhook is authenticated by its path token, takes JSON
// only, caps its body and refuses what is not a notification (W1); nothing refused is
// recorded and the gateway is never called.
func TestWebhookRefusals(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	big := []byte(`{"verificationId":"big-1","pad":"` + strings.Repeat("x", 16<<10) + `"}`)
	tests := []struct {
		name  string
		token string
		body  []byte
		hs    []header
		want  int
	}{
		{"wrong token", "not-the-token", notification("p-1"), nil, http.StatusNotFound},
		{"token prefix", testWebhookToken[:10], notification("p-1"), nil, http.StatusNotFound},
		{"token other case", strings.ToUpper(testWebhookToken), notification("p-1"), nil, http.StatusNotFound},
		{"token with suffix", testWebhookToken + "x", notification("p-1"), nil, http.StatusNotFound},
		{"empty token", "", notification("p-1"), nil, http.StatusNotFound},
		{"wrong token and wrong type", "nope", notification("p-1"), []header{{"Content-Type", "text/plain"}}, http.StatusNotFound},
		{"form content type", testWebhookToken, notification("p-1"), []header{{"Content-Type", "application/x-www-form-urlencoded"}}, http.StatusUnsupportedMediaType},
		{"text content type", testWebhookToken, notification("p-1"), []header{{"Content-Type", "text/plain"}}, http.StatusUnsupportedMediaType},
		{"no content type", testWebhookToken, notification("p-1"), []header{{"Content-Type", ""}}, http.StatusUnsupportedMediaType},
		{"json look-alike type", testWebhookToken, notification("p-1"), []header{{"Content-Type", "application/jsonp"}}, http.StatusUnsupportedMediaType},
		{"body over 16 KiB", testWebhookToken, big, nil, http.StatusRequestEntityTooLarge},
		{"malformed JSON", testWebhookToken, []byte(`{"verificationId":`), nil, http.StatusBadRequest},
		{"not an object", testWebhookToken, []byte(`["p-1"]`), nil, http.StatusBadRequest},
		{"null", testWebhookToken, []byte(`null`), nil, http.StatusBadRequest},
		{"empty body", testWebhookToken, nil, nil, http.StatusBadRequest},
		{"missing id", testWebhookToken, []byte(`{"status":"PENDING"}`), nil, http.StatusBadRequest},
		{"empty id", testWebhookToken, []byte(`{"verificationId":""}`), nil, http.StatusBadRequest},
		{"id with a slash", testWebhookToken, []byte(`{"verificationId":"../admin"}`), nil, http.StatusBadRequest},
		{"id with markup", testWebhookToken, []byte(`{"verificationId":"<script>"}`), nil, http.StatusBadRequest},
		{"id too long", testWebhookToken, []byte(`{"verificationId":"` + strings.Repeat("a", 129) + `"}`), nil, http.StatusBadRequest},
	}
	before := g.gatewayRequests()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := g.postWebhook(tt.token, tt.body, tt.hs...)
			if r.Code != tt.want {
				t.Errorf("got %s, want %d", r, tt.want)
			}
			if got := g.inboxIDs(); len(got) != 0 {
				t.Errorf("inbox after a refused notification: %v, want empty", got)
			}
			wantNoLeak(t, r, tt.name)
		})
	}
	if got := g.gatewayRequests(); got != before {
		t.Errorf("gateway requests during refused webhooks: %d, want %d (intake never calls the gateway)", got, before)
	}
	if strings.Contains(g.logs.String(), testWebhookToken) {
		t.Errorf("the webhook token appears in the logs")
	}
	// GET on the webhook path is not a route (405), and records nothing.
	if r := g.browser().get(webhookPath(testWebhookToken)); r.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET webhook: got %s, want 405", r)
	}
}

// TestWebhookAccepted: a valid notification is recorded durably before the 202 (W2);
// JSON with parameters is accepted; duplicates fold into one inbox row.
func TestWebhookAccepted(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	r := g.postWebhook(testWebhookToken, notification("proc-1"), header{"Content-Type", "application/json; charset=utf-8"})
	if r.Code != http.StatusAccepted {
		t.Fatalf("valid notification: got %s, want 202", r)
	}
	// Receive returns only after the commit: the row is there as soon as the 202 is.
	due, err := g.db.DueNotifications(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 1 || due[0].ProcessID != "proc-1" || due[0].Status != "PENDING" {
		t.Fatalf("DueNotifications after the 202: %+v, want one row for proc-1 with status PENDING", due)
	}

	for i := 0; i < 4; i++ {
		if r := g.postWebhook(testWebhookToken, notification("proc-1")); r.Code != http.StatusAccepted {
			t.Fatalf("duplicate %d: got %s, want 202", i+1, r)
		}
	}
	if got, want := g.inboxIDs(), []string{"proc-1"}; !slices.Equal(got, want) {
		t.Errorf("inbox after 5 copies: %v, want %v", got, want)
	}
	if got := g.countRows("SELECT notifications FROM webhook_inbox WHERE process_id = 'proc-1'"); got != 5 {
		t.Errorf("notifications folded into the row: %d, want 5", got)
	}
	if r := g.postWebhook(testWebhookToken, notification("proc-2")); r.Code != http.StatusAccepted {
		t.Fatalf("second process: got %s, want 202", r)
	}
	if got, want := g.inboxIDs(), []string{"proc-1", "proc-2"}; !slices.Equal(got, want) {
		t.Errorf("inbox: %v, want %v", got, want)
	}
	// Nothing reached the gateway; the worker does that later.
	if n := g.gatewayRequests(); n != 0 {
		t.Errorf("gateway requests during intake: %d, want 0", n)
	}
}

// TestWebhookConcurrentDuplicates: many copies of the same notification at once end
// in one row, and every one of them is acknowledged (W2).
func TestWebhookConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	const n = 40
	codes := make(chan int, n)
	for i := 0; i < n; i++ {
		go func() {
			req := httptest.NewRequest(http.MethodPost, webhookPath(testWebhookToken), strings.NewReader(string(notification("dup-1"))))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			g.e.ServeHTTP(rec, req)
			codes <- rec.Code
		}()
	}
	for i := 0; i < n; i++ {
		if c := <-codes; c != http.StatusAccepted {
			t.Errorf("copy answered %d, want 202", c)
		}
	}
	if got, want := g.inboxIDs(), []string{"dup-1"}; !slices.Equal(got, want) {
		t.Errorf("inbox: %v, want %v", got, want)
	}
	if got := g.countRows("SELECT notifications FROM webhook_inbox"); got != n {
		t.Errorf("notifications counted: %d, want %d", got, n)
	}
}

// TestWebhookSignature: with an HMAC secret configured, the signature header is
// required, checked against the body, and its timestamp must be within 5 minutes (W1).
func TestWebhookSignature(t *testing.T) {
	t.Parallel()
	g := newGateway(t, withHMAC(testWebhookSecret))
	body := notification("sig-1")
	now := g.clock.Now()
	tests := []struct {
		name string
		sig  string
		body []byte
		want int
	}{
		{"missing", "", body, http.StatusUnauthorized},
		{"garbage", "hello", body, http.StatusUnauthorized},
		{"no timestamp", strings.SplitN(review.Sign(testWebhookSecret, body, now), ",", 2)[1], body, http.StatusUnauthorized},
		{"wrong secret", review.Sign("another-secret", body, now), body, http.StatusUnauthorized},
		{"other body", review.Sign(testWebhookSecret, notification("sig-2"), now), body, http.StatusUnauthorized},
		{"body changed after signing", review.Sign(testWebhookSecret, body, now), []byte(strings.Replace(string(body), "sig-1", "sig-9", 1)), http.StatusUnauthorized},
		{"stale (6 min old)", review.Sign(testWebhookSecret, body, now.Add(-6*time.Minute)), body, http.StatusUnauthorized},
		{"from the future (6 min)", review.Sign(testWebhookSecret, body, now.Add(6*time.Minute)), body, http.StatusUnauthorized},
		{"non-hex signature", "t=" + strconv.FormatInt(now.Unix(), 10) + ",v1=zz", body, http.StatusUnauthorized},
		{"valid (review.Sign)", review.Sign(testWebhookSecret, body, now), body, http.StatusAccepted},
		{"valid, 4 min old", review.Sign(testWebhookSecret, notification("sig-3"), now.Add(-4*time.Minute)), notification("sig-3"), http.StatusAccepted},
		{"valid (sandbox.Sign)", sandbox.Sign(testWebhookSecret, now, notification("sig-4")), notification("sig-4"), http.StatusAccepted},
		{"one of two v1 values valid", review.Sign(testWebhookSecret, notification("sig-5"), now) + ",v1=00ff", notification("sig-5"), http.StatusAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := g.inboxIDs()
			r := g.postWebhook(testWebhookToken, tt.body, header{sandbox.SignatureHeader, tt.sig})
			if r.Code != tt.want {
				t.Fatalf("got %s, want %d", r, tt.want)
			}
			after := g.inboxIDs()
			if tt.want != http.StatusAccepted && !slices.Equal(after, before) {
				t.Errorf("inbox changed by a refused notification: %v → %v", before, after)
			}
			if tt.want == http.StatusAccepted && len(after) != len(before)+1 {
				t.Errorf("inbox after an accepted notification: %v → %v, want one more row", before, after)
			}
		})
	}
	if strings.Contains(g.logs.String(), testWebhookSecret) {
		t.Errorf("the HMAC secret appears in the logs")
	}
}

// TestWebhookFastWhileGatewayHangs: intake answers 202 and records the notification
// while the gateway hangs and the ingestion worker is stuck waiting for it (W2).
func TestWebhookFastWhileGatewayHangs(t *testing.T) {
	t.Parallel()
	// Long client timeouts: the worker stays stuck for the whole test.
	g := newGateway(t, withClientTimeouts(time.Minute, time.Minute))
	for _, route := range sandbox.Routes {
		g.fault(route, sandbox.Fault{Kind: sandbox.FaultLatency, Latency: 5 * time.Minute})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); g.rv.RunWorkers(ctx, g.inbox, time.Hour) }()
	t.Cleanup(func() { cancel(); <-done })

	if r := g.postWebhook(testWebhookToken, notification("hang-1")); r.Code != http.StatusAccepted {
		t.Fatalf("first notification: got %s, want 202", r)
	}
	// Wait until the worker has woken and is stuck on the gateway (synchronisation,
	// not a timing assertion).
	deadline := time.Now().Add(20 * time.Second)
	for g.gatewayRequests() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the ingestion worker never called the gateway")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stuck := g.gatewayRequests()
	for _, id := range []string{"hang-2", "hang-3", "hang-1"} {
		if r := g.postWebhook(testWebhookToken, notification(id)); r.Code != http.StatusAccepted {
			t.Fatalf("notification %s while the gateway hangs: got %s, want 202", id, r)
		}
	}
	if got, want := g.inboxIDs(), []string{"hang-1", "hang-2", "hang-3"}; !slices.Equal(got, want) {
		t.Errorf("inbox while the gateway hangs: %v, want %v", got, want)
	}
	if got := g.gatewayRequests(); got != stuck {
		t.Errorf("gateway requests grew from %d to %d during intake, want none from intake", stuck, got)
	}
}

// TestWebhookFromSandbox: the sandbox notifies the portal over real HTTP with a signed
// body and no browser headers; the cross-origin protection lets these server-to-server
// posts through, the notifications are ingested and the processes reach the queue.
func TestWebhookFromSandbox(t *testing.T) {
	t.Parallel()
	g := newGateway(t, withHMAC(testWebhookSecret))
	portal := httptest.NewServer(g.e)
	t.Cleanup(portal.Close)
	g.sb.AddWebhookURL(portal.URL + webhookPath(testWebhookToken))

	ids, err := g.sb.Seed(sandbox.SeedSpec{Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := g.sb.WaitWebhooks(ctx); err != nil {
		t.Fatalf("WaitWebhooks: %v", err)
	}
	st := g.sb.Stats()
	if st.WebhooksDelivered != 3 || st.WebhooksFailed != 0 {
		t.Fatalf("webhooks delivered %d, failed %d; want 3 and 0", st.WebhooksDelivered, st.WebhooksFailed)
	}
	want := slices.Clone(ids)
	slices.Sort(want)
	if got := g.inboxIDs(); !slices.Equal(got, want) {
		t.Fatalf("inbox: %v, want %v", got, want)
	}
	if _, err := g.rv.IngestOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := g.inboxIDs(); len(got) != 0 {
		t.Errorf("inbox after ingestion: %v, want empty", got)
	}
	r := g.agentB.get("/queue")
	got := queueIDs(r.Body)
	slices.Sort(got)
	if r.Code != http.StatusOK || !slices.Equal(got, want) {
		t.Errorf("queue after ingestion: status %d, rows %v, want 200 with %v", r.Code, got, want)
	}
}

// TestWebhookCrossOriginHeaders: the C1 cross-origin check leaves requests without
// browser headers alone (the gateway sends none), while a browser page on another site
// still cannot post a notification.
func TestWebhookCrossOriginHeaders(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	tests := []struct {
		name string
		hs   []header
		want int
	}{
		{"server to server, no browser headers", nil, http.StatusAccepted},
		{"same-origin browser", []header{{"Sec-Fetch-Site", "same-origin"}}, http.StatusAccepted},
		{"cross-site browser", []header{{"Sec-Fetch-Site", "cross-site"}}, http.StatusForbidden},
		{"foreign Origin", []header{{"Origin", "https://evil.example"}}, http.StatusForbidden},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "xo-" + idStr(int64(i))
			r := g.postWebhook(testWebhookToken, notification(id), tt.hs...)
			if r.Code != tt.want {
				t.Errorf("got %s, want %d", r, tt.want)
			}
			recorded := slices.Contains(g.inboxIDs(), id)
			if recorded != (tt.want == http.StatusAccepted) {
				t.Errorf("recorded = %v, want %v", recorded, tt.want == http.StatusAccepted)
			}
		})
	}
}
