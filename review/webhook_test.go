package review_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

const (
	testWebhookToken  = "wh-0123456789abcdef0123456789abcdef0123456789abcdef"
	testWebhookSecret = "whsec-test-secret"
)

func TestCheckWebhookToken(t *testing.T) {
	svc := review.New(nil, nil, nil, review.Config{WebhookToken: testWebhookToken})
	cases := []struct {
		name, token string
		want        error
	}{
		{"right", testWebhookToken, nil},
		{"wrong", strings.Repeat("x", len(testWebhookToken)), review.ErrWebhookToken},
		{"empty", "", review.ErrWebhookToken},
		{"prefix", testWebhookToken[:len(testWebhookToken)-1], review.ErrWebhookToken},
		{"longer", testWebhookToken + "0", review.ErrWebhookToken},
		{"other case", strings.ToUpper(testWebhookToken), review.ErrWebhookToken},
	}
	for _, tc := range cases {
		if err := svc.CheckWebhookToken(tc.token); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	// Without a configured token nothing passes, not even an empty one.
	unset := review.New(nil, nil, nil, review.Config{})
	for _, tok := range []string{"", "anything"} {
		if err := unset.CheckWebhookToken(tok); !errors.Is(err, review.ErrWebhookToken) {
			t.Errorf("unconfigured, %q: got %v, want ErrWebhookToken", tok, err)
		}
	}
}

func TestVerifySignature(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"verificationId":"3f1c2a9e-0000-4000-8000-000000000001","status":"PENDING"}`)
	sign := func(secret string, b []byte, at time.Time) string { return review.Sign(secret, b, at) }
	valid := sign(testWebhookSecret, body, now)
	sigOf := func(h string) string { _, v, _ := strings.Cut(h, ",v1="); return v }
	ts := fmt.Sprint(now.Unix())
	cases := []struct {
		name   string
		header string
		body   []byte
		want   error
	}{
		{"valid", valid, body, nil},
		{"valid, spaces after commas", "t=" + ts + ", v1=" + sigOf(valid), body, nil},
		{"valid, signed 4m59s ago", sign(testWebhookSecret, body, now.Add(-4*time.Minute-59*time.Second)), body, nil},
		{"valid, 4m59s ahead", sign(testWebhookSecret, body, now.Add(4*time.Minute+59*time.Second)), body, nil},
		{"multiple v1, one valid", "t=" + ts + ",v1=" + strings.Repeat("ab", 32) + ",v1=" + sigOf(valid), body, nil},
		{"unknown scheme beside v1", "t=" + ts + ",v0=abc,v1=" + sigOf(valid), body, nil},
		{"wrong secret", sign("another-secret", body, now), body, review.ErrWebhookSignature},
		{"tampered body", valid, []byte(strings.Replace(string(body), "PENDING", "VERIFIED", 1)), review.ErrWebhookSignature},
		{"body with a trailing space", valid, append(append([]byte(nil), body...), ' '), review.ErrWebhookSignature},
		{"timestamp changed", "t=" + fmt.Sprint(now.Unix()-1) + ",v1=" + sigOf(valid), body, review.ErrWebhookSignature},
		{"stale beyond 5 min", sign(testWebhookSecret, body, now.Add(-5*time.Minute-time.Second)), body, review.ErrWebhookStale},
		{"future beyond 5 min", sign(testWebhookSecret, body, now.Add(5*time.Minute+time.Second)), body, review.ErrWebhookStale},
		{"multiple v1, none valid", "t=" + ts + ",v1=" + strings.Repeat("ab", 32) + ",v1=" + strings.Repeat("cd", 32), body, review.ErrWebhookSignature},
		{"empty", "", body, review.ErrWebhookSignature},
		{"garbage", "garbage", body, review.ErrWebhookSignature},
		{"no timestamp", "v1=" + sigOf(valid), body, review.ErrWebhookSignature},
		{"no signature", "t=" + ts, body, review.ErrWebhookSignature},
		{"empty signature", "t=" + ts + ",v1=", body, review.ErrWebhookSignature},
		{"non-numeric timestamp", "t=soon,v1=" + sigOf(valid), body, review.ErrWebhookSignature},
		{"non-hex signature", "t=" + ts + ",v1=zz" + sigOf(valid)[2:], body, review.ErrWebhookSignature},
		{"truncated signature", "t=" + ts + ",v1=" + sigOf(valid)[:32], body, review.ErrWebhookSignature},
		{"huge timestamp", "t=99999999999999999999,v1=" + sigOf(valid), body, review.ErrWebhookSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := review.VerifySignature(testWebhookSecret, tc.header, tc.body, now, 5*time.Minute)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSandboxSignatureVerifies(t *testing.T) {
	now := time.Now()
	body := []byte(`{"verificationId":"abc","status":"PENDING","stage":"REVIEW"}`)
	header := sandbox.Sign(testWebhookSecret, now, body)
	if err := review.VerifySignature(testWebhookSecret, header, body, now, 5*time.Minute); err != nil {
		t.Errorf("sandbox signature: got %v, want nil", err)
	}
	if got, want := header, review.Sign(testWebhookSecret, body, now); got != want {
		t.Errorf("headers differ:\nsandbox %s\nreview  %s", got, want)
	}
	if err := review.VerifySignature("other", header, body, now, 5*time.Minute); !errors.Is(err, review.ErrWebhookSignature) {
		t.Errorf("other secret: got %v, want ErrWebhookSignature", err)
	}
}

func TestCheckWebhookSignatureUsesTheDatabaseClock(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Unix(1_700_000_000, 0)
	db.Now = func() time.Time { return at }
	body := []byte(`{"verificationId":"abc"}`)
	header := review.Sign(testWebhookSecret, body, at)

	if err := review.New(db, nil, nil, review.Config{}).CheckWebhookSignature("", body); err != nil {
		t.Errorf("no HMAC configured: got %v, want nil", err)
	}
	svc := review.New(db, nil, nil, review.Config{WebhookHMAC: testWebhookSecret})
	if err := svc.CheckWebhookSignature(header, body); err != nil {
		t.Errorf("configured, valid: got %v, want nil", err)
	}
	if err := svc.CheckWebhookSignature("", body); !errors.Is(err, review.ErrWebhookSignature) {
		t.Errorf("configured, missing header: got %v, want ErrWebhookSignature", err)
	}
	db.Now = func() time.Time { return at.Add(6 * time.Minute) }
	if err := svc.CheckWebhookSignature(header, body); !errors.Is(err, review.ErrWebhookStale) {
		t.Errorf("configured, 6 min later: got %v, want ErrWebhookStale", err)
	}
	tight := review.New(db, nil, nil, review.Config{WebhookHMAC: testWebhookSecret, WebhookMaxSkew: time.Minute})
	db.Now = func() time.Time { return at.Add(2 * time.Minute) }
	if err := tight.CheckWebhookSignature(header, body); !errors.Is(err, review.ErrWebhookStale) {
		t.Errorf("1 min tolerance, 2 min later: got %v, want ErrWebhookStale", err)
	}
}

// TestSandboxWebhooksReachTheInbox lets the sandbox deliver real, signed webhooks to a
// receiver that does what the portal's webhook route does with the review package:
// path token, signature, Receive.
func TestSandboxWebhooksReachTheInbox(t *testing.T) {
	h := newHarness(t, options{
		sandbox: sandbox.Config{WebhookSecret: testWebhookSecret, WebhookDuplicates: true, WebhookRetries: -1},
		cfg:     review.Config{WebhookToken: testWebhookToken, WebhookHMAC: testWebhookSecret},
	})
	ctx := context.Background()
	var accepted, refused atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, _ := strings.CutPrefix(r.URL.Path, "/webhooks/mobbscan/")
		if r.Method != http.MethodPost || h.svc.CheckWebhookToken(token) != nil {
			refused.Add(1)
			http.NotFound(w, r)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err != nil {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := h.svc.CheckWebhookSignature(r.Header.Get(sandbox.SignatureHeader), body); err != nil {
			refused.Add(1)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if err := h.inbox.Receive(r.Context(), body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		accepted.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	h.sb.AddWebhookURL(recv.URL + "/webhooks/mobbscan/" + testWebhookToken)
	h.sb.AddWebhookURL(recv.URL + "/webhooks/mobbscan/not-the-token")

	ids, err := h.sb.Seed(sandbox.SeedSpec{Count: 3, States: []string{"REVIEW"}})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := h.sb.WaitWebhooks(wctx); err != nil {
		t.Fatal(err)
	}
	// Three processes, each sent twice to two URLs.
	if got, want := accepted.Load(), int32(6); got != want {
		t.Errorf("accepted: got %d, want %d", got, want)
	}
	if got, want := refused.Load(), int32(6); got != want {
		t.Errorf("refused (wrong path token): got %d, want %d", got, want)
	}
	if n := h.waiting(); n != 3 {
		t.Errorf("inbox: got %d, want 3 (duplicates folded)", n)
	}
	if n := h.ingest(); n != 3 {
		t.Fatalf("ingested %d, want 3", n)
	}
	for _, id := range ids {
		if p := h.checkIndexed(id, store.SourceWebhook); !p.Reviewable {
			t.Errorf("%s: not reviewable", id)
		}
	}
}

func FuzzVerifySignature(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"verificationId":"abc","status":"PENDING"}`)
	f.Add(testWebhookSecret, review.Sign(testWebhookSecret, body, now), body, int64(0))
	f.Add("", "t=,v1=", []byte{}, int64(-1))
	f.Add("s", "t=99999999999999999999,v1=zz", body, int64(1<<62))
	f.Add("s", ",,,=,t=1,v1=00,v1=,t=-5", body, int64(-1<<62))
	f.Add("s", "t=1800000000,v1="+strings.Repeat("0", 64), []byte("x"), int64(time.Minute))
	f.Fuzz(func(t *testing.T, secret, header string, body []byte, offset int64) {
		at := now.Add(time.Duration(offset))
		err := review.VerifySignature(secret, header, body, at, 5*time.Minute)
		if err != nil && !errors.Is(err, review.ErrWebhookSignature) && !errors.Is(err, review.ErrWebhookStale) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		if err == nil {
			// What verifies for body does not verify for another body.
			if review.VerifySignature(secret, header, append(body[:len(body):len(body)], 'x'), at, 5*time.Minute) == nil {
				t.Fatalf("header %q verifies two bodies", header)
			}
		}
		// A header we sign always verifies.
		if err := review.VerifySignature(secret, review.Sign(secret, body, at), body, at, 5*time.Minute); err != nil {
			t.Fatalf("own signature: %v", err)
		}
	})
}

func openBenchDB(b *testing.B) *store.DB {
	b.Helper()
	db, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "portal.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkInboxReceive measures webhook intake through Inbox.Receive (parse, group
// commit with synchronous=FULL) with many concurrent senders. Compare with
// BenchmarkEnqueueOneByOne: the ratio is what group commit buys.
func BenchmarkInboxReceive(b *testing.B) {
	db := openBenchDB(b)
	in := review.NewInbox(db)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	var seq atomic.Int64
	var failed atomic.Int64
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := fmt.Appendf(nil, `{"verificationId":"bench-%d","status":"PENDING"}`, seq.Add(1))
			if err := in.Receive(ctx, body); err != nil {
				failed.Add(1)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "notifications/s")
	if n := failed.Load(); n != 0 {
		b.Fatalf("%d notifications failed", n)
	}
	if n, err := db.CountNotifications(context.Background()); err != nil || int64(n) != seq.Load() {
		b.Fatalf("recorded %d %v, want %d (nothing lost)", n, err, seq.Load())
	}
}

// BenchmarkEnqueueOneByOne is the baseline: one transaction per notification, serially.
func BenchmarkEnqueueOneByOne(b *testing.B) {
	db := openBenchDB(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := db.EnqueueNotifications(ctx, []store.Notification{{ProcessID: fmt.Sprintf("bench-%d", i), Status: "PENDING"}}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "notifications/s")
}
