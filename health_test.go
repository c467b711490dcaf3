package main

// The background workers' states behind /healthz (O3): a worker that returns or panics
// while the portal runs is reported stopped (and logged by name) without taking the
// portal down; at shutdown, returning is expected.

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/handlers"
)

// waitStates waits until the set reports want (the states change on the workers'
// goroutines) and fails after a generous deadline.
func waitStates(t *testing.T, w *workerSet, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !maps.Equal(w.states(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("worker states: got %v, want %v", w.states(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHealthWorkerStoppedOrPanicked(t *testing.T) {
	logs := &syncBuffer{}
	w := &workerSet{log: newLogger(logs, "info")}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.spawn(ctx, "steady", func(ctx context.Context) { <-ctx.Done() })
	w.spawn(ctx, "quitter", func(context.Context) {})
	w.spawn(ctx, "crasher", func(context.Context) { panic("worker bug 42") })
	unwatchedDone := make(chan struct{})
	w.spawnUnwatched(ctx, "sandbox", func(context.Context) { defer close(unwatchedDone); panic("sandbox bug") })

	waitStates(t, w, map[string]string{"steady": handlers.WorkerRunning, "quitter": handlers.WorkerStopped, "crasher": handlers.WorkerStopped})
	<-unwatchedDone
	out := logs.String()
	for _, want := range []string{`worker=crasher panic="worker bug 42"`, "worker=quitter", `worker=sandbox panic="sandbox bug"`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}

	// Shutting down: a worker that returns then is not "stopped".
	cancel()
	w.wait()
	if got := w.states()["steady"]; got != handlers.WorkerRunning {
		t.Errorf("steady after shutdown: got %q, want %q", got, handlers.WorkerRunning)
	}
	if strings.Contains(logs.String(), "worker=steady") {
		t.Errorf("a worker ending at shutdown was logged as stopped:\n%s", logs.String())
	}
}

// TestHealthOfTheRunningPortal: the real program reports its six workers (the instance's
// heartbeat among them), not the embedded sandbox, and writes its probe.
func TestHealthOfTheRunningPortal(t *testing.T) {
	p := startPortal(t, nil)
	resp, err := http.Get(p.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Status, Database string
		Workers          map[string]string
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"sessions": "running", "inbox": "running", "reconciliation": "running", "delivery": "running", "retention": "running", "instance": "running"}
	if resp.StatusCode != http.StatusOK || got.Status != "ok" || got.Database != "ok" || !maps.Equal(got.Workers, want) {
		t.Errorf("GET /healthz: got %d %+v, want 200 ok with workers %v", resp.StatusCode, got, want)
	}
}
