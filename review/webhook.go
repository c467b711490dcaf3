package review

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mobbscan-review/portal/mobbscan"
	"github.com/mobbscan-review/portal/store"
)

// Webhook errors.
var (
	ErrWebhookToken     = errors.New("webhook: wrong path token")
	ErrWebhookSignature = errors.New("webhook: missing or wrong signature")
	ErrWebhookStale     = errors.New("webhook: signature timestamp outside the tolerance")
	ErrWebhookBody      = errors.New("webhook: body is not a notification")
)

// CheckWebhookToken compares the URL's token with the configured one in constant time.
func (s *Service) CheckWebhookToken(token string) error {
	want := s.cfg.WebhookToken
	if want == "" || subtle.ConstantTimeCompare([]byte(token), []byte(want)) != 1 {
		return ErrWebhookToken
	}
	return nil
}

// CheckWebhookTokenFrom is CheckWebhookToken for a request from the client ip, under the
// wrong-token limit (issue 9): an IP that presented WebhookWrongBurst wrong tokens is
// refused without a check (a *Error with CodeRateLimited and RetryAfter) until its
// bucket refills; wrong tokens are logged sampled, the first per IP and window at WARN
// with the count of refusals since the previous line.
func (s *Service) CheckWebhookTokenFrom(ip, token string) error {
	if ok, wait := s.webhookGuard.allow(ip); !ok {
		if logNow, n := s.webhookGuard.refuse(ip, false); logNow {
			s.Log.Warn("webhook refused: too many wrong tokens", "ip", ip, "refused_since_last_line", n)
		}
		e := errorf(CodeRateLimited, "", "Too many wrong webhook tokens from this address; try again in %s.", wait.Round(time.Second))
		e.RetryAfter, e.Err = wait, ErrWebhookToken
		return e
	}
	if err := s.CheckWebhookToken(token); err != nil {
		if logNow, n := s.webhookGuard.refuse(ip, true); logNow {
			s.Log.Warn("webhook refused: wrong token", "ip", ip, "refused_since_last_line", n)
		}
		return err
	}
	return nil
}

// CheckWebhookSignature verifies X-Mobbscan-Signature (t=<unix>,v1=<hex HMAC-SHA256 of
// t + "." + body>) when an HMAC secret is configured (W1).
func (s *Service) CheckWebhookSignature(header string, body []byte) error {
	if s.cfg.WebhookHMAC == "" {
		return nil
	}
	return VerifySignature(s.cfg.WebhookHMAC, header, body, s.DB.Now(), s.cfg.WebhookMaxSkew)
}

// VerifySignature checks a webhook signature header against secret at now.
func VerifySignature(secret, header string, body []byte, now time.Time, skew time.Duration) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrWebhookSignature
	}
	if d := now.Sub(time.Unix(unix, 0)); d > skew || d < -skew {
		return ErrWebhookStale
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range sigs {
		got, err := hex.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrWebhookSignature
}

// Sign returns a signature header for body at t (used by tests and the sandbox's peers).
func Sign(secret string, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Inbox records webhook notifications durably, committing concurrent ones together
// (group commit), so that intake stays fast with synchronous=FULL (W2).
type Inbox struct {
	db   *store.DB
	reqs chan inboxReq
	wake chan struct{} // nudges the ingest worker
}

type inboxReq struct {
	n    store.Notification
	done chan error
}

// NewInbox returns an inbox; Run must be running for Receive to return.
func NewInbox(db *store.DB) *Inbox {
	return &Inbox{db: db, reqs: make(chan inboxReq, 1024), wake: make(chan struct{}, 1)}
}

// Receive parses a notification body and records it durably before returning.
func (in *Inbox) Receive(ctx context.Context, body []byte) error {
	n, err := mobbscan.ParseNotification(body)
	if err != nil || !ValidID(n.VerificationID) {
		return ErrWebhookBody
	}
	req := inboxReq{n: store.Notification{ProcessID: n.VerificationID, Status: clip(n.RawStatus, 64)}, done: make(chan error, 1)}
	select {
	case in.reqs <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run commits queued notifications in batches until ctx ends.
func (in *Inbox) Run(ctx context.Context) {
	for {
		var batch []inboxReq
		select {
		case <-ctx.Done():
			return
		case r := <-in.reqs:
			batch = append(batch, r)
		}
	fill:
		for len(batch) < 512 {
			select {
			case r := <-in.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		ns := make([]store.Notification, len(batch))
		for i, r := range batch {
			ns[i] = r.n
		}
		err := in.db.EnqueueNotifications(context.WithoutCancel(ctx), ns)
		if err != nil {
			err = fmt.Errorf("record notifications: %w", err)
		}
		for _, r := range batch {
			r.done <- err
		}
		if err == nil {
			select {
			case in.wake <- struct{}{}:
			default:
			}
		}
	}
}

// Wake returns the channel that signals new notifications.
func (in *Inbox) Wake() <-chan struct{} { return in.wake }
