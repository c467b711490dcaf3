// Package metrics is the portal's Prometheus instrumentation: counters and histograms
// fed by hooks that main wires (HTTP requests, gateway calls, committed audit rows,
// webhook intake) and gauges read from the store at scrape time, all in a registry of
// its own (never the global default), served by Handler on the metrics address only.
//
// Nothing of the portal imports this package but main: handlers, review, mobbscan and
// store expose small hooks and know nothing of Prometheus.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mobbscan-review/portal/mobbscan"
	"github.com/mobbscan-review/portal/store"
)

// Options configure New.
type Options struct {
	// DB is read at scrape time for the gauges (queue, deliveries, sessions).
	DB *store.DB
	// SessionIdle is the idle timeout: a session unseen for longer is not live.
	SessionIdle time.Duration
	// WebhookResults are the results webhook intake reports, so that each series
	// exists from the start (at zero).
	WebhookResults []string
	// Logger receives scrape errors (default slog.Default()).
	Logger *slog.Logger
}

// scrapeTimeout bounds the reading of the gauges during one scrape.
const scrapeTimeout = 2 * time.Second

// Metrics holds the portal's metrics and their registry.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger

	httpDuration    *prometheus.HistogramVec
	gatewayDuration *prometheus.HistogramVec
	gatewayErrors   *prometheus.CounterVec
	webhooks        *prometheus.CounterVec
	auditEvents     *prometheus.CounterVec
	claims          *prometheus.CounterVec
	decisions       *prometheus.CounterVec
	refusals        prometheus.Counter
	secondReviews   *prometheus.CounterVec
	deliveries      *prometheus.CounterVec
	logins          *prometheus.CounterVec
	lockouts        prometheus.Counter
}

// Labels of the counters fed from the audit trail.
const (
	claimNew      = "claim"
	claimTakeover = "takeover"

	secondConfirmed  = "confirmed"
	secondOverturned = "overturned"

	deliveryDelivered = "delivered" // the gateway has the verdict
	deliveryFailed    = "failed"    // conflict, or parked for a person
)

// New builds the metrics in a registry of their own, with the Go and process
// collectors and the gauges read from opts.DB.
func New(opts Options) *Metrics {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m := &Metrics{reg: prometheus.NewRegistry(), log: opts.Logger}
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "portal_http_request_duration_seconds",
		Help: "Time to answer HTTP requests on the public address, by route pattern, method and status class.",
	}, []string{"route", "method", "status_class"})
	m.gatewayDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "portal_gateway_request_duration_seconds",
		Help: "Time from sending a request to the Mobbscan gateway to its response headers, per attempt, by endpoint.",
	}, []string{"endpoint"})
	m.gatewayErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portal_gateway_errors_total",
		Help: "Gateway request attempts that failed, by endpoint and kind (unavailable, timeout, canceled, rate_limited, not_found, conflict, unauthorized, bad_request, bad_response).",
	}, []string{"endpoint", "kind"})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portal_webhook_notifications_total",
		Help: "Gateway notifications received on the webhook, by result.",
	}, []string{"result"})
	m.auditEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portal_audit_events_total",
		Help: "Committed audit events, by action and outcome.",
	}, []string{"action", "outcome"})
	m.claims = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portal_claims_total",
		Help: "Processes claimed for review, by kind (claim, or takeover of a colleague's claim).",
	}, []string{"kind"})
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portal_decisions_total",
		Help: "Decisions recorded, by verdict.",
	}, []string{"verdict"})
	m.refusals = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "portal_decisions_refused_total",
		Help: "Decisions refused (claim lost, stale page, missing evidence).",
	})
	m.secondReviews = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portal_second_reviews_total",
		Help: "Four-eyes second reviews, by result (confirmed, overturned).",
	}, []string{"result"})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portal_delivery_attempts_total",
		Help: "Decision delivery attempts that settled, by outcome (delivered; failed: conflict or parked). Attempts that will be retried show as portal_gateway_errors_total{endpoint=\"accept\"|\"reject\"}.",
	}, []string{"outcome"})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portal_logins_total",
		Help: "Sign-in attempts, by outcome (success, failure, denied while throttled).",
	}, []string{"outcome"})
	m.lockouts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "portal_lockouts_total",
		Help: "Accounts locked after repeated wrong passwords.",
	})

	// Known label values start at zero, so that rates and alerts see them from the start.
	for _, k := range []string{claimNew, claimTakeover} {
		m.claims.WithLabelValues(k)
	}
	for _, v := range []store.Verdict{store.VerdictAccept, store.VerdictReject} {
		m.decisions.WithLabelValues(string(v))
	}
	for _, r := range []string{secondConfirmed, secondOverturned} {
		m.secondReviews.WithLabelValues(r)
	}
	for _, o := range []string{deliveryDelivered, deliveryFailed} {
		m.deliveries.WithLabelValues(o)
	}
	for _, o := range []string{store.OutcomeSuccess, store.OutcomeFailure, store.OutcomeDenied} {
		m.logins.WithLabelValues(o)
	}
	for _, r := range opts.WebhookResults {
		m.webhooks.WithLabelValues(r)
	}

	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpDuration, m.gatewayDuration, m.gatewayErrors, m.webhooks, m.auditEvents, m.claims, m.decisions,
		m.refusals, m.secondReviews, m.deliveries, m.logins, m.lockouts,
	)
	if opts.DB != nil {
		m.reg.MustRegister(&gauges{db: opts.DB, idle: opts.SessionIdle})
	}
	return m
}

// Registry returns the registry, for tests and for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition formats. A gauge that
// cannot be read is left out of that scrape (and logged); the rest is served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:      m.reg, // promhttp_metric_handler_errors_total
		ErrorLog:      slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// ObserveRequest records an HTTP request on the public address (handlers.Deps).
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	m.httpDuration.WithLabelValues(route, method, statusClass(status)).Observe(d.Seconds())
}

// statusClass is "2xx" for 200 to 299, and so on; "other" for nonsense.
func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status/100) + "xx"
}

// ObserveWebhook counts one webhook intake by result (handlers.Deps).
func (m *Metrics) ObserveWebhook(result string) {
	m.webhooks.WithLabelValues(result).Inc()
}

// ObserveGateway records one request attempt to the gateway (mobbscan.Client.SetObserver).
func (m *Metrics) ObserveGateway(endpoint string, d time.Duration, err error) {
	m.gatewayDuration.WithLabelValues(endpoint).Observe(d.Seconds())
	if err != nil {
		m.gatewayErrors.WithLabelValues(endpoint, gatewayErrorKind(err)).Inc()
	}
}

// gatewayErrorKind names what went wrong with a gateway attempt, by the client's
// sentinel errors; a time limit reached is "timeout", and "canceled" is the caller
// giving up (a browser leaving an evidence stream), not the gateway's doing.
func gatewayErrorKind(err error) string {
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	var e *mobbscan.Error
	if errors.As(err, &e) && e.Timeout() {
		return "timeout"
	}
	for _, k := range []struct {
		sentinel error
		kind     string
	}{
		{mobbscan.ErrUnavailable, "unavailable"}, {mobbscan.ErrRateLimited, "rate_limited"},
		{mobbscan.ErrNotFound, "not_found"}, {mobbscan.ErrConflict, "conflict"},
		{mobbscan.ErrUnauthorized, "unauthorized"}, {mobbscan.ErrBadRequest, "bad_request"},
		{mobbscan.ErrBadResponse, "bad_response"},
	} {
		if errors.Is(err, k.sentinel) {
			return k.kind
		}
	}
	return "other"
}

// ObserveAudit counts a committed audit row (store.DB.SetAuditObserver): every row by
// action and outcome, and the workflow's events in their own counters.
func (m *Metrics) ObserveAudit(e store.AuditEvent) {
	m.auditEvents.WithLabelValues(e.Action, e.Outcome).Inc()
	success := e.Outcome == store.OutcomeSuccess
	switch store.Action(e.Action) {
	case store.ActionProcessClaim:
		m.claims.WithLabelValues(claimNew).Inc()
	case store.ActionProcessTakeover:
		m.claims.WithLabelValues(claimTakeover).Inc()
	case store.ActionDecisionAccept:
		if success {
			m.decisions.WithLabelValues(string(store.VerdictAccept)).Inc()
		}
	case store.ActionDecisionReject:
		if success {
			m.decisions.WithLabelValues(string(store.VerdictReject)).Inc()
		}
	case store.ActionDecisionRefuse:
		m.refusals.Inc()
	case store.ActionConfirm:
		m.secondReviews.WithLabelValues(secondConfirmed).Inc()
	case store.ActionOverturn:
		m.secondReviews.WithLabelValues(secondOverturned).Inc()
	case store.ActionDelivery:
		if success {
			m.deliveries.WithLabelValues(deliveryDelivered).Inc()
		} else {
			m.deliveries.WithLabelValues(deliveryFailed).Inc()
		}
	case store.ActionLogin:
		m.logins.WithLabelValues(e.Outcome).Inc()
	case store.ActionLockout:
		m.lockouts.Inc()
	}
}

// gauges is the collector of the levels read from the store at scrape time, at a cost
// that does not grow with the data (store.DB.ReadGauges).
type gauges struct {
	db   *store.DB
	idle time.Duration
}

var (
	descInReview = prometheus.NewDesc("portal_queue_processes",
		"Processes awaiting review.", nil, nil)
	descClaimed = prometheus.NewDesc("portal_queue_claimed_processes",
		"Processes awaiting review with a live claim.", nil, nil)
	descOldest = prometheus.NewDesc("portal_queue_oldest_waiting_seconds",
		"How long the longest-waiting process has been awaiting review (0 when none).", nil, nil)
	descDeliveries = prometheus.NewDesc("portal_deliveries",
		"Decisions not yet delivered to the gateway, by state (second_review, queued, sending, conflict, parked).", []string{"state"}, nil)
	descSessions = prometheus.NewDesc("portal_sessions",
		"Signed-in sessions neither expired nor idle.", nil, nil)
)

func (g *gauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInReview, descClaimed, descOldest, descDeliveries, descSessions} {
		ch <- d
	}
}

func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	v, err := g.db.ReadGauges(ctx, g.idle)
	if err != nil {
		for _, d := range []*prometheus.Desc{descInReview, descClaimed, descOldest, descDeliveries, descSessions} {
			ch <- prometheus.NewInvalidMetric(d, err)
		}
		return
	}
	oldest := 0.0
	if !v.OldestWaiting.IsZero() {
		oldest = max(v.At.Sub(v.OldestWaiting).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(descInReview, prometheus.GaugeValue, float64(v.InReview))
	ch <- prometheus.MustNewConstMetric(descClaimed, prometheus.GaugeValue, float64(v.Claimed))
	ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, oldest)
	for _, s := range store.DeliveryStates {
		if n, ok := v.Deliveries[s]; ok {
			ch <- prometheus.MustNewConstMetric(descDeliveries, prometheus.GaugeValue, float64(n), string(s))
		}
	}
	ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(v.Sessions))
}
