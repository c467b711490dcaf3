package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetricsAddrConfig: PORTAL_METRICS_ADDR (or -metrics-addr) is off when empty,
// takes a host:port, and refuses anything else, and the public address, at start.
func TestMetricsAddrConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    string
		wantErr string
	}{
		{"off by default", nil, nil, "", ""},
		{"loopback port", map[string]string{"PORTAL_METRICS_ADDR": "127.0.0.1:9100"}, nil, "127.0.0.1:9100", ""},
		{"every interface", map[string]string{"PORTAL_METRICS_ADDR": ":9100"}, nil, ":9100", ""},
		{"any free port", map[string]string{"PORTAL_METRICS_ADDR": "127.0.0.1:0", "PORTAL_ADDR": "127.0.0.1:0"}, nil, "127.0.0.1:0", ""},
		{"flag over env", map[string]string{"PORTAL_METRICS_ADDR": "127.0.0.1:9100"}, []string{"-metrics-addr", "10.0.0.5:9200"}, "10.0.0.5:9200", ""},
		{"no port", map[string]string{"PORTAL_METRICS_ADDR": "localhost"}, nil, "", "want host:port"},
		{"port out of range", map[string]string{"PORTAL_METRICS_ADDR": "127.0.0.1:99999"}, nil, "", "port number"},
		{"port not a number", map[string]string{"PORTAL_METRICS_ADDR": "127.0.0.1:http"}, nil, "", "port number"},
		{"a URL", map[string]string{"PORTAL_METRICS_ADDR": "http://127.0.0.1:9100/metrics"}, nil, "", "want host:port"},
		{"the public address", map[string]string{"PORTAL_ADDR": "127.0.0.1:8080", "PORTAL_METRICS_ADDR": "127.0.0.1:8080"}, nil, "", "must not be the public listen address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := parseConfig("serve", tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "PORTAL_METRICS_ADDR") {
					t.Fatalf("got %v, want an error naming PORTAL_METRICS_ADDR with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MetricsAddr != tt.want {
				t.Errorf("MetricsAddr: got %q, want %q", cfg.MetricsAddr, tt.want)
			}
		})
	}
	// A bad address stops the start with the message, before anything listens.
	env := map[string]string{"PORTAL_DATA_DIR": t.TempDir(), "PORTAL_METRICS_ADDR": "nonsense"}
	err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "PORTAL_METRICS_ADDR") {
		t.Fatalf("start with a bad metrics address: got %v, want a refusal naming PORTAL_METRICS_ADDR", err)
	}
}

var metricsURL = regexp.MustCompile(`msg="metrics listening" url=(\S+)`)

// TestMetricsServedOnItsOwnAddress runs the real program with a metrics address:
// /metrics answers there in the Prometheus text format, with the request just made to
// the public address counted by its route, and is not served on the public address.
func TestMetricsServedOnItsOwnAddress(t *testing.T) {
	p := startPortal(t, map[string]string{"PORTAL_METRICS_ADDR": "127.0.0.1:0", "PORTAL_LOG_LEVEL": "info"})
	m := metricsURL.FindStringSubmatch(p.Out.String())
	if m == nil {
		t.Fatalf("no metrics address logged:\n%s", p.Out.String())
	}
	if strings.HasPrefix(m[1], p.URL+"/") {
		t.Fatalf("metrics on the public address %s", m[1])
	}
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	if code, _ := get(p.URL + "/login"); code != http.StatusOK {
		t.Fatalf("GET /login: got %d", code)
	}
	if code, body := get(p.URL + "/metrics"); code != http.StatusNotFound || strings.Contains(body, "portal_") {
		t.Errorf("public /metrics: got %d, want 404 without metrics", code)
	}

	code, body := get(m[1])
	if code != http.StatusOK {
		t.Fatalf("GET %s: got %d\n%s", m[1], code, body)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	for _, name := range []string{"portal_queue_processes", "portal_sessions", "portal_decisions_total", "portal_http_request_duration_seconds", "go_goroutines", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("%s: missing from the scrape", name)
		}
	}
	found := false
	for _, s := range fams["portal_http_request_duration_seconds"].GetMetric() {
		labels := map[string]string{}
		for _, l := range s.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["route"] == "/login" && labels["method"] == "GET" && labels["status_class"] == "2xx" && s.GetHistogram().GetSampleCount() >= 1 {
			found = true
		}
	}
	if !found {
		t.Errorf("GET /login on the public address is not in portal_http_request_duration_seconds")
	}
	// Only /metrics is served there.
	if code, _ := get(strings.TrimSuffix(m[1], "/metrics") + "/"); code != http.StatusNotFound {
		t.Errorf("metrics address /: got %d, want 404", code)
	}
}
