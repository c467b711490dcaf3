package metrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mobbscan-review/portal/metrics"
	"github.com/mobbscan-review/portal/mobbscan"
	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/store"
)

var base = time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC)

func allow(*store.Case) error { return nil }

// scrape serves one scrape of h and parses it with the Prometheus text parser.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: got %d\n%s", rec.Code, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("scrape content type %q, want the text format", ct)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return fams
}

// sample finds the sample of family name whose labels include want; ok is false when
// there is none.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) (*dto.Metric, bool) {
	f := fams[name]
	if f == nil {
		return nil, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m, true
	}
	return nil, false
}

// value is the value of a counter or gauge sample, or the count of a histogram's.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	m, ok := sample(fams, name, labels)
	if !ok {
		t.Errorf("%s%v: no such sample", name, labels)
		return -1
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	t.Errorf("%s%v: neither counter, gauge nor histogram", name, labels)
	return -1
}

func wantType(t *testing.T, fams map[string]*dto.MetricFamily, name string, want dto.MetricType) {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Errorf("%s: missing from the scrape", name)
		return
	}
	if f.GetType() != want {
		t.Errorf("%s: type %s, want %s", name, f.GetType(), want)
	}
}

type check struct {
	name   string
	labels map[string]string
	want   float64
}

func wantValues(t *testing.T, fams map[string]*dto.MetricFamily, step string, checks []check) {
	t.Helper()
	for _, c := range checks {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s: %s%v = %v, want %v", step, c.name, c.labels, got, c.want)
		}
	}
}

type world struct {
	t      *testing.T
	db     *store.DB
	now    time.Time
	m      *metrics.Metrics
	agent  store.Actor
	agent2 store.Actor
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w := &world{t: t, db: db, now: base}
	db.Now = func() time.Time { return w.now }
	w.m = metrics.New(metrics.Options{DB: db, SessionIdle: 15 * time.Minute, WebhookResults: []string{"accepted", "bad_token"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	db.SetAuditObserver(w.m.ObserveAudit)
	for i, email := range []string{"a@example.com", "b@example.com"} {
		u := &store.User{Email: email, DisplayName: email, Role: store.RoleAgent, Active: true, PasswordHash: "x"}
		if err := db.CreateUser(ctx, store.System, u); err != nil {
			t.Fatal(err)
		}
		a := store.Actor{UserID: u.ID, Email: u.Email}
		if i == 0 {
			w.agent = a
		} else {
			w.agent2 = a
		}
	}
	return w
}

func (w *world) inReview(id string, waiting time.Duration) {
	w.t.Helper()
	since := w.now.Add(-waiting)
	s := store.Snapshot{ID: id, Status: "PENDING", RawStatus: "PENDING", Stage: "REVIEW", Reviewable: true,
		CreatedAt: since.Add(-time.Minute), UpdatedAt: since, Country: "ESP", DocType: "IDCard"}
	if _, err := w.db.UpsertProcess(context.Background(), store.SourceWebhook, s, w.now.Add(time.Hour)); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) deliver(id int64, o store.DeliveryOutcome) {
	w.t.Helper()
	ctx := context.Background()
	d, err := w.db.GetDecision(ctx, id)
	if err != nil {
		w.t.Fatal(err)
	}
	if ok, err := w.db.StartDelivery(ctx, id); !ok || err != nil {
		w.t.Fatalf("start delivery %d: %v %v", id, ok, err)
	}
	if err := w.db.FinishDelivery(ctx, d, o); err != nil {
		w.t.Fatal(err)
	}
}

// TestScrapeAfterRealEvents drives claims, decisions, deliveries, sign-ins, requests and
// gateway calls through the real store and client, then scrapes /metrics and checks the
// names, types and values with the Prometheus text parser.
func TestScrapeAfterRealEvents(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	h := w.m.Handler()

	fams := scrape(t, h)
	for name, typ := range map[string]dto.MetricType{
		"portal_queue_processes":              dto.MetricType_GAUGE,
		"portal_queue_claimed_processes":      dto.MetricType_GAUGE,
		"portal_queue_oldest_waiting_seconds": dto.MetricType_GAUGE,
		"portal_deliveries":                   dto.MetricType_GAUGE,
		"portal_sessions":                     dto.MetricType_GAUGE,
		"portal_claims_total":                 dto.MetricType_COUNTER,
		"portal_decisions_total":              dto.MetricType_COUNTER,
		"portal_delivery_attempts_total":      dto.MetricType_COUNTER,
		"portal_webhook_notifications_total":  dto.MetricType_COUNTER,
		"portal_logins_total":                 dto.MetricType_COUNTER,
		"portal_audit_events_total":           dto.MetricType_COUNTER, // two user.create rows already
		"go_goroutines":                       dto.MetricType_GAUGE,
		"process_cpu_seconds_total":           dto.MetricType_COUNTER,
	} {
		wantType(t, fams, name, typ)
	}
	wantValues(t, fams, "empty", []check{
		{"portal_queue_processes", nil, 0},
		{"portal_queue_oldest_waiting_seconds", nil, 0},
		{"portal_claims_total", map[string]string{"kind": "claim"}, 0},
		{"portal_decisions_total", map[string]string{"verdict": "accept"}, 0},
		{"portal_decisions_total", map[string]string{"verdict": "reject"}, 0},
		{"portal_deliveries", map[string]string{"state": "queued"}, 0},
		{"portal_webhook_notifications_total", map[string]string{"result": "accepted"}, 0},
		{"portal_audit_events_total", map[string]string{"action": "user.create", "outcome": "success"}, 2},
	})
	for _, final := range []store.DeliveryState{store.StateDelivered, store.StateOverturned, store.StateResolved} {
		if _, ok := sample(fams, "portal_deliveries", map[string]string{"state": string(final)}); ok {
			t.Errorf("portal_deliveries has final state %s: it would count a table that grows without end", final)
		}
	}

	// Three processes wait 3 h, 2 h and 1 h.
	w.inReview("p-3h", 3*time.Hour)
	w.inReview("p-2h", 2*time.Hour)
	w.inReview("p-1h", time.Hour)
	// Claims: one, then a colleague takes it over, then another.
	for _, c := range []struct {
		who store.Actor
		id  string
	}{{w.agent, "p-3h"}, {w.agent2, "p-3h"}, {w.agent, "p-2h"}} {
		if _, err := w.db.Claim(ctx, c.who, c.id, 5*time.Minute, allow); err != nil {
			t.Fatal(err)
		}
	}
	fams = scrape(t, h)
	wantValues(t, fams, "claimed", []check{
		{"portal_queue_processes", nil, 3},
		{"portal_queue_claimed_processes", nil, 2},
		{"portal_queue_oldest_waiting_seconds", nil, 3 * 3600},
		{"portal_claims_total", map[string]string{"kind": "claim"}, 2},
		{"portal_claims_total", map[string]string{"kind": "takeover"}, 1},
	})

	// Decisions: an accept and a reject; one delivered, one retried then parked.
	accept, err := w.db.Decide(ctx, w.agent2, store.NewDecision{ProcessID: "p-3h", Verdict: store.VerdictAccept}, allow)
	if err != nil {
		t.Fatal(err)
	}
	reasons, err := w.db.ListReasons(ctx, true)
	if err != nil || len(reasons) == 0 {
		t.Fatalf("reasons: %v", err)
	}
	reject, err := w.db.Decide(ctx, w.agent, store.NewDecision{ProcessID: "p-2h", Verdict: store.VerdictReject,
		ReasonID: reasons[0].ID, Comment: reasons[0].CustomerText}, allow)
	if err != nil {
		t.Fatal(err)
	}
	fams = scrape(t, h)
	wantValues(t, fams, "decided", []check{
		{"portal_decisions_total", map[string]string{"verdict": "accept"}, 1},
		{"portal_decisions_total", map[string]string{"verdict": "reject"}, 1},
		{"portal_deliveries", map[string]string{"state": "queued"}, 2},
		{"portal_queue_processes", nil, 1},
		{"portal_queue_oldest_waiting_seconds", nil, 3600},
	})
	w.deliver(accept.ID, store.DeliveryOutcome{State: store.StateDelivered, Audit: true})
	w.deliver(reject.ID, store.DeliveryOutcome{State: store.StateQueued, Next: w.now, Error: "gateway down"})
	w.deliver(reject.ID, store.DeliveryOutcome{State: store.StateParked, Audit: true, Error: "gateway down for too long"})

	// Sign-ins: one session, one wrong password.
	s := &store.Session{TokenHash: store.HashToken("tok"), UserID: w.agent.UserID, CreatedAt: w.now, LastSeenAt: w.now, ExpiresAt: w.now.Add(time.Hour)}
	if err := w.db.CreateSession(ctx, w.agent, s); err != nil {
		t.Fatal(err)
	}
	if err := w.db.Audit(ctx, store.Actor{}, store.ActionLogin, "user", "", store.OutcomeFailure, "wrong password"); err != nil {
		t.Fatal(err)
	}

	// Requests on the public address and webhook intake, as the handlers report them.
	w.m.ObserveRequest("/processes/:id", http.MethodGet, http.StatusOK, 30*time.Millisecond)
	w.m.ObserveRequest("/processes/:id", http.MethodGet, http.StatusOK, 2*time.Second)
	w.m.ObserveRequest("unmatched", http.MethodGet, http.StatusNotFound, time.Millisecond)
	w.m.ObserveWebhook("accepted")
	w.m.ObserveWebhook("bad_token")
	w.m.ObserveWebhook("bad_token")

	// Gateway calls through the real client: a token request and a status read that
	// succeed, a status read of an unknown process, and one the gateway fails.
	sb, err := sandbox.New(sandbox.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/down-1") {
			http.Error(rw, "down", http.StatusServiceUnavailable)
			return
		}
		sb.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	client, err := mobbscan.New(mobbscan.Config{BaseURL: srv.URL, APIKey: sandbox.DefaultAPIKey, APISecret: sandbox.DefaultAPISecret, ReadRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	client.SetObserver(w.m.ObserveGateway)
	ob, err := client.CreateOnboarding(ctx, mobbscan.CreateRequest{CountryID: "ESP", DocType: "IDCard"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Status(ctx, ob.VerificationID); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Status(ctx, "no-such-process"); !errors.Is(err, mobbscan.ErrNotFound) {
		t.Fatalf("unknown process: got %v, want not found", err)
	}
	if _, err := client.Status(ctx, "down-1"); !errors.Is(err, mobbscan.ErrUnavailable) {
		t.Fatalf("failing gateway: got %v, want unavailable", err)
	}

	fams = scrape(t, h)
	wantType(t, fams, "portal_http_request_duration_seconds", dto.MetricType_HISTOGRAM)
	wantType(t, fams, "portal_gateway_request_duration_seconds", dto.MetricType_HISTOGRAM)
	wantType(t, fams, "portal_gateway_errors_total", dto.MetricType_COUNTER)
	wantValues(t, fams, "after", []check{
		{"portal_delivery_attempts_total", map[string]string{"outcome": "delivered"}, 1},
		{"portal_delivery_attempts_total", map[string]string{"outcome": "failed"}, 1},
		{"portal_deliveries", map[string]string{"state": "queued"}, 0},
		{"portal_deliveries", map[string]string{"state": "parked"}, 1},
		{"portal_deliveries", map[string]string{"state": "second_review"}, 0},
		{"portal_sessions", nil, 1},
		{"portal_logins_total", map[string]string{"outcome": "success"}, 1},
		{"portal_logins_total", map[string]string{"outcome": "failure"}, 1},
		{"portal_audit_events_total", map[string]string{"action": "decision.delivery", "outcome": "failure"}, 1},
		{"portal_http_request_duration_seconds", map[string]string{"route": "/processes/:id", "method": "GET", "status_class": "2xx"}, 2},
		{"portal_http_request_duration_seconds", map[string]string{"route": "unmatched", "method": "GET", "status_class": "4xx"}, 1},
		{"portal_webhook_notifications_total", map[string]string{"result": "accepted"}, 1},
		{"portal_webhook_notifications_total", map[string]string{"result": "bad_token"}, 2},
		{"portal_gateway_request_duration_seconds", map[string]string{"endpoint": "token"}, 1},
		{"portal_gateway_request_duration_seconds", map[string]string{"endpoint": "create"}, 1},
		{"portal_gateway_request_duration_seconds", map[string]string{"endpoint": "status"}, 3},
		{"portal_gateway_errors_total", map[string]string{"endpoint": "status", "kind": "not_found"}, 1},
		{"portal_gateway_errors_total", map[string]string{"endpoint": "status", "kind": "unavailable"}, 1},
	})
	// The slow request landed in the histogram's upper buckets, the fast one below.
	m, _ := sample(fams, "portal_http_request_duration_seconds", map[string]string{"route": "/processes/:id"})
	if sum := m.GetHistogram().GetSampleSum(); sum < 2.03 || sum > 2.031 {
		t.Errorf("request duration sum: got %v, want 2.03", sum)
	}
	if _, ok := sample(fams, "portal_gateway_errors_total", map[string]string{"endpoint": "token"}); ok {
		t.Errorf("the token request succeeded but counts as an error")
	}
	// No label carries an id, a URL or a token.
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v := l.GetValue(); strings.Contains(v, "p-3h") || strings.Contains(v, "down-1") || strings.Contains(v, "http") {
					t.Errorf("%s: label %s=%q carries request data", name, l.GetName(), v)
				}
			}
		}
	}
}

// TestScrapeWhenTheDatabaseFails: a gauge that cannot be read is left out and the
// rest of the scrape is still served.
func TestScrapeWhenTheDatabaseFails(t *testing.T) {
	w := newWorld(t)
	w.m.ObserveWebhook("accepted")
	w.db.Close()
	h := w.m.Handler()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/metrics", nil))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if rec.Code != http.StatusOK {
		t.Errorf("scrape with the database closed: got %d, want 200 with what could be read", rec.Code)
	}
	if _, ok := fams["portal_queue_processes"]; ok {
		t.Errorf("portal_queue_processes served although the database is closed")
	}
	if got := value(t, fams, "portal_webhook_notifications_total", map[string]string{"result": "accepted"}); got != 1 {
		t.Errorf("counters after a failed gauge read: got %v, want 1", got)
	}
	if got := value(t, fams, "promhttp_metric_handler_errors_total", map[string]string{"cause": "gathering"}); got < 1 {
		t.Errorf("gathering errors counted: got %v, want at least 1 (the first scrape's)", got)
	}
}

// TestGatewayErrorKinds: each failed attempt is counted under the kind of its failure,
// by endpoint, whatever the call was; the caller giving up is not the gateway's fault.
func TestGatewayErrorKinds(t *testing.T) {
	w := newWorld(t)
	sb, err := sandbox.New(sandbox.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	answers := map[string]int{"limited": http.StatusTooManyRequests, "busy": http.StatusConflict, "gone": http.StatusNotFound,
		"forbidden": http.StatusForbidden, "refused": http.StatusBadRequest, "moved": http.StatusFound, "broken": http.StatusBadGateway}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		id := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		if id == "hang" {
			<-r.Context().Done() // never answers: the client's header timeout ends it
			return
		}
		if code, ok := answers[id]; ok {
			if code == http.StatusFound {
				rw.Header().Set("Location", "/elsewhere")
			}
			rw.WriteHeader(code)
			return
		}
		sb.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	client, err := mobbscan.New(mobbscan.Config{BaseURL: srv.URL, APIKey: sandbox.DefaultAPIKey, APISecret: sandbox.DefaultAPISecret,
		ReadRetries: -1, HeaderTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	client.SetObserver(w.m.ObserveGateway)
	ctx := context.Background()
	for id := range answers {
		if _, err := client.Status(ctx, id); err == nil {
			t.Fatalf("status %s: no error", id)
		}
	}
	if _, err := client.Status(ctx, "hang"); err == nil {
		t.Fatal("status hang: no error")
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := client.Status(gone, "anything"); err == nil {
		t.Fatal("status with the caller gone: no error")
	}
	if err := client.Delete(ctx, "gone"); err == nil {
		t.Fatal("delete gone: no error")
	}

	fams := scrape(t, w.m.Handler())
	want := []check{
		{"portal_gateway_errors_total", map[string]string{"endpoint": "status", "kind": "rate_limited"}, 1},
		{"portal_gateway_errors_total", map[string]string{"endpoint": "status", "kind": "conflict"}, 1},
		{"portal_gateway_errors_total", map[string]string{"endpoint": "status", "kind": "not_found"}, 1},
		{"portal_gateway_errors_total", map[string]string{"endpoint": "status", "kind": "unauthorized"}, 1},
		{"portal_gateway_errors_total", map[string]string{"endpoint": "status", "kind": "bad_request"}, 1},
		{"portal_gateway_errors_total", map[string]string{"endpoint": "status", "kind": "bad_response"}, 1},
		{"portal_gateway_errors_total", map[string]string{"endpoint": "status", "kind": "unavailable"}, 1},
		{"portal_gateway_errors_total", map[string]string{"endpoint": "status", "kind": "timeout"}, 1},
		{"portal_gateway_errors_total", map[string]string{"endpoint": "status", "kind": "canceled"}, 1},
		{"portal_gateway_errors_total", map[string]string{"endpoint": "delete", "kind": "not_found"}, 1},
		{"portal_gateway_request_duration_seconds", map[string]string{"endpoint": "status"}, float64(len(answers) + 2)},
	}
	wantValues(t, fams, "gateway errors", want)
	if got := len(fams["portal_gateway_errors_total"].GetMetric()); got != len(want)-1 {
		t.Errorf("error series: got %d, want %d (no other kind, no error for the token)", got, len(want)-1)
	}
}
