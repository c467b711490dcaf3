package handlers_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/handlers"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// observed is what the metrics hooks were told.
type observed struct {
	mu       sync.Mutex
	requests []string // "METHOD route status"
	webhooks []string
}

func (o *observed) request(route, method string, status int, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d < 0 {
		status = -1 // a negative duration is a bug the test must see
	}
	o.requests = append(o.requests, method+" "+route+" "+http.StatusText(status))
}

func (o *observed) webhook(result string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.webhooks = append(o.webhooks, result)
}

func (o *observed) take() (requests, webhooks []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	requests, webhooks = o.requests, o.webhooks
	o.requests, o.webhooks = nil, nil
	return requests, webhooks
}

// newObservedApp builds the real application, as main.go does, with the metrics hooks
// recording into the returned observed (webhook intake running).
func newObservedApp(t *testing.T) (*echo.Echo, *observed) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "portal.db"))
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	log := slog.New(slog.NewTextHandler(&syncBuffer{}, nil))
	inbox := review.NewInbox(db)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); inbox.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	hasher := auth.NewHasher(auth.TestParams)
	o := &observed{}
	e := handlers.New(handlers.Config{Logger: log}, handlers.Deps{
		DB: db, Sessions: auth.NewSessionStore(db, auth.SessionConfig{}), Hasher: hasher, Inbox: inbox,
		Review:         review.New(db, nil, log, review.Config{WebhookToken: testWebhookToken}),
		Authenticator:  &auth.Authenticator{DB: db, Hasher: hasher, Throttle: auth.NewThrottle(auth.ThrottleConfig{})},
		ObserveRequest: o.request, ObserveWebhook: o.webhook,
	})
	return e, o
}

func serveOnce(e *echo.Echo, method, path, contentType, body string) int {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec.Code
}

// TestRequestMetricsByRoute: every request is reported once with its route pattern
// (never the raw URL: the ids in paths stay out of the labels), its method and the
// status actually sent, errors and unmatched paths included.
func TestRequestMetricsByRoute(t *testing.T) {
	e, o := newObservedApp(t)
	tests := []struct {
		method, path string
		wantStatus   int
		want         string
	}{
		{http.MethodGet, "/login", http.StatusOK, "GET /login OK"},
		{http.MethodGet, "/login?next=%2Fqueue", http.StatusOK, "GET /login OK"},
		{http.MethodGet, "/processes/proc-42", http.StatusSeeOther, "GET /processes/:id See Other"},
		{http.MethodGet, "/processes/proc-43/evidence/face_now", http.StatusSeeOther, "GET /processes/:id/evidence/:kind See Other"},
		{http.MethodGet, "/no/such/page-7", http.StatusNotFound, "GET unmatched Not Found"},
		{http.MethodGet, "/admin/no-such-page", http.StatusSeeOther, "GET unmatched See Other"},
		{http.MethodDelete, "/login", http.StatusMethodNotAllowed, "DELETE unmatched Method Not Allowed"},
		{http.MethodGet, "/static/no-such-file.js", http.StatusNotFound, "GET /static/* Not Found"},
	}
	for _, tt := range tests {
		if got := serveOnce(e, tt.method, tt.path, "", ""); got != tt.wantStatus {
			t.Errorf("%s %s: got %d, want %d", tt.method, tt.path, got, tt.wantStatus)
		}
		requests, webhooks := o.take()
		if !slices.Equal(requests, []string{tt.want}) {
			t.Errorf("%s %s: reported %q, want [%q]", tt.method, tt.path, requests, tt.want)
		}
		if len(webhooks) != 0 {
			t.Errorf("%s %s: webhook results %q for a request that is not a notification", tt.method, tt.path, webhooks)
		}
	}
}

// TestWebhookMetricsByResult: each notification is counted by the result of its intake,
// and its route label never carries the secret path token.
func TestWebhookMetricsByResult(t *testing.T) {
	e, o := newObservedApp(t)
	path := webhookPath(testWebhookToken)
	body := string(notification("proc-1"))
	tests := []struct {
		name, path, contentType, body string
		want                          string
	}{
		{"accepted", path, "application/json", body, handlers.WebhookAccepted},
		{"wrong token", webhookPath("not-the-token"), "application/json", body, handlers.WebhookBadToken},
		{"not JSON", path, "text/plain", body, handlers.WebhookBadContentType},
		{"not a notification", path, "application/json", `["proc-1"]`, handlers.WebhookBadBody},
		{"too large", path, "application/json", `{"pad":"` + strings.Repeat("x", 17<<10) + `"}`, handlers.WebhookTooLarge},
	}
	for _, tt := range tests {
		serveOnce(e, http.MethodPost, tt.path, tt.contentType, tt.body)
		requests, webhooks := o.take()
		if !slices.Equal(webhooks, []string{tt.want}) {
			t.Errorf("%s: webhook results %q, want [%q]", tt.name, webhooks, tt.want)
		}
		if len(requests) != 1 || !strings.HasPrefix(requests[0], "POST /webhooks/mobbscan/:token ") {
			t.Errorf("%s: requests %q, want one on the webhook route pattern", tt.name, requests)
		}
		for _, r := range requests {
			if strings.Contains(r, testWebhookToken) {
				t.Errorf("%s: the webhook token is in a label: %q", tt.name, r)
			}
		}
	}
	// WebhookResults (each series starts at zero) names every result once.
	for _, r := range []string{handlers.WebhookAccepted, handlers.WebhookBadToken, handlers.WebhookBadSignature,
		handlers.WebhookBadContentType, handlers.WebhookTooLarge, handlers.WebhookBadBody, handlers.WebhookError,
		handlers.WebhookOtherStatus} {
		if n := strings.Count(","+strings.Join(handlers.WebhookResults, ",")+",", ","+r+","); n != 1 {
			t.Errorf("WebhookResults has %q %d times, want once", r, n)
		}
	}
}

// TestPublicRouterDoesNotServeMetrics: /metrics lives on its own address only; on the
// public router it is an unknown page, with or without the metrics hooks.
func TestPublicRouterDoesNotServeMetrics(t *testing.T) {
	e, _ := newObservedApp(t)
	for _, route := range e.Routes() {
		if strings.Contains(route.Path, "metrics") {
			t.Errorf("public route %s %s", route.Method, route.Path)
		}
	}
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		req := httptest.NewRequest(method, "/metrics", nil)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s /metrics: got %d, want 404", method, rec.Code)
		}
		if strings.Contains(rec.Body.String(), "portal_") || strings.Contains(rec.Body.String(), "# TYPE") {
			t.Errorf("%s /metrics: the body looks like metrics:\n%s", method, rec.Body.String())
		}
	}
}
