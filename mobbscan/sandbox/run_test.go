package sandbox

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// eventually polls cond until it holds; the deadline only bounds a broken
// test, nothing is timed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunInitialReviewAndTrickle(t *testing.T) {
	rc := newReceiver(t)
	sb, err := New(Config{InitialReview: 4, Trickle: 5 * time.Millisecond, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	sb.AddWebhookURL(rc.srv.URL) // known only once the portal listens
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sb.Run(ctx) }()

	eventually(t, "trickled processes", func() bool { return len(sb.List()) >= 7 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, p := range sb.List() {
		if p.State != StatusPending || p.Stage != StageReview {
			t.Errorf("%s is %s/%s, want review", p.ID, p.Status, p.Stage)
		}
	}
	// The initial processes notified once each; trickled ones three times
	// (created, in progress, review). Run closed the sandbox, so delivery
	// may have stopped early: at least the first ones arrived.
	if got := len(rc.received()); got == 0 {
		t.Error("no webhook arrived")
	}
}

func TestRunSeedsOnlyAnEmptyStore(t *testing.T) {
	dir := t.TempDir()
	for range 2 {
		sb, err := New(Config{DataDir: dir, InitialReview: 3})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- sb.Run(ctx) }()
		eventually(t, "initial processes", func() bool { return len(sb.List()) >= 3 })
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := len(sb.List()); n != 3 {
			t.Fatalf("%d processes, want 3", n)
		}
	}
}

func TestRunStopsOnClose(t *testing.T) {
	sb, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sb.Run(context.Background()) }()
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	rc := newReceiver(t)
	before := runtime.NumGoroutine()
	sb, err := New(Config{WebhookURLs: []string{rc.srv.URL}, Trickle: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sb.Run(ctx) }()
	eventually(t, "a few processes", func() bool { return len(sb.List()) >= 3 })
	cancel()
	<-done
	eventually(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}
