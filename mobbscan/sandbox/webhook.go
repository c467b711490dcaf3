package sandbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// SignatureHeader carries the HMAC signature of a notification:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>".
const SignatureHeader = "X-Mobbscan-Signature"

// webhookEvent is the body of a notification.
type webhookEvent struct {
	VerificationID string `json:"verificationId"`
	Status         string `json:"status"`
	Stage          string `json:"stage"`
}

type delivery struct {
	id   string
	url  string
	body []byte
}

// webhooks delivers notifications asynchronously: enqueue never blocks; a
// dispatcher goroutine hands each delivery to a bounded pool of senders that
// retry with exponential backoff.
type webhooks struct {
	s      *Sandbox
	client *http.Client

	mu      sync.Mutex
	urls    []string
	queue   []delivery
	pending int           // queued or being delivered
	idle    chan struct{} // closed while pending == 0
	wake    chan struct{}
	// counters, reported by Sandbox.Stats
	queued, attempts, delivered, failed int
}

const webhookSenders = 8

func newWebhooks(s *Sandbox) *webhooks {
	idle := make(chan struct{})
	close(idle)
	return &webhooks{
		s:    s,
		urls: slices.Clone(s.cfg.WebhookURLs),
		idle: idle,
		wake: make(chan struct{}, 1),
		client: &http.Client{
			Timeout: s.cfg.WebhookTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

func (h *webhooks) addURL(u string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !slices.Contains(h.urls, u) {
		h.urls = append(h.urls, u)
	}
}

// enqueue queues ev for every webhook URL (twice each when duplicates are
// on) and returns how many deliveries were queued.
func (h *webhooks) enqueue(ev webhookEvent) int {
	body, err := json.Marshal(ev)
	if err != nil { // cannot happen with string fields
		h.s.log.Error("encoding webhook", "err", err)
		return 0
	}
	copies := 1
	if h.s.cfg.WebhookDuplicates {
		copies = 2
	}
	h.mu.Lock()
	n := 0
	for _, u := range h.urls {
		for range copies {
			h.queue = append(h.queue, delivery{id: ev.VerificationID, url: u, body: body})
			n++
		}
	}
	if n > 0 {
		if h.pending == 0 {
			h.idle = make(chan struct{})
		}
		h.pending += n
		h.queued += n
	}
	h.mu.Unlock()
	if n > 0 {
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
	return n
}

// counts adds the delivery counters to st.
func (h *webhooks) counts(st *Stats) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st.WebhooksQueued, st.WebhookAttempts, st.WebhooksDelivered, st.WebhooksFailed = h.queued, h.attempts, h.delivered, h.failed
}

func (h *webhooks) resetCounts() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.queued, h.attempts, h.delivered, h.failed = 0, 0, 0, 0
}

func (h *webhooks) pop() (delivery, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.queue) == 0 {
		return delivery{}, false
	}
	d := h.queue[0]
	h.queue[0] = delivery{}
	h.queue = h.queue[1:]
	return d, true
}

func (h *webhooks) done() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pending--
	if h.pending == 0 {
		close(h.idle)
	}
}

// wait blocks until no delivery is queued or in flight.
func (h *webhooks) wait(ctx context.Context) error {
	h.mu.Lock()
	idle := h.idle
	h.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-h.s.ctx.Done():
		return fmt.Errorf("sandbox closed: %w", h.s.ctx.Err())
	}
}

func (h *webhooks) start() {
	h.s.wg.Add(1)
	go h.dispatch(h.s.ctx)
}

func (h *webhooks) dispatch(ctx context.Context) {
	defer h.s.wg.Done()
	var senders sync.WaitGroup
	defer senders.Wait()
	sem := make(chan struct{}, webhookSenders)
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
		}
		for {
			d, ok := h.pop()
			if !ok {
				break
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			senders.Add(1)
			go func() {
				defer senders.Done()
				defer func() { <-sem }()
				h.deliver(ctx, d)
				h.done()
			}()
		}
	}
}

// deliver posts d, retrying network errors and non-2xx answers with
// exponential backoff.
func (h *webhooks) deliver(ctx context.Context, d delivery) {
	cfg := h.s.cfg
	if cfg.WebhookDelay > 0 && !sleep(ctx, cfg.WebhookDelay) {
		return
	}
	backoff := cfg.WebhookBackoff
	for attempt := 0; ; attempt++ {
		err := h.post(ctx, d)
		h.mu.Lock()
		h.attempts++
		if err == nil {
			h.delivered++
		} else if attempt >= cfg.WebhookRetries || ctx.Err() != nil {
			h.failed++
		}
		h.mu.Unlock()
		if err == nil {
			h.s.log.Debug("webhook delivered", "verificationId", d.id, "attempt", attempt+1)
			return
		}
		if attempt >= cfg.WebhookRetries || ctx.Err() != nil {
			h.s.log.Warn("webhook abandoned", "verificationId", d.id, "attempts", attempt+1, "err", err)
			return
		}
		h.s.log.Debug("webhook failed, retrying", "verificationId", d.id, "attempt", attempt+1, "err", err)
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, time.Minute)
	}
}

func (h *webhooks) post(ctx context.Context, d delivery) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(d.body))
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mobbscan-sandbox")
	if secret := h.s.cfg.WebhookSecret; secret != "" {
		req.Header.Set(SignatureHeader, Sign(secret, h.s.now(), d.body))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		// A *url.Error repeats the URL, whose path may hold the receiver's
		// secret token: keep only the cause, so logs never show it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("posting: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

// Sign returns the X-Mobbscan-Signature value for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// sleep waits d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
