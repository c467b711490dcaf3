package mobbscan_test

// Contract tests: the client against the sandbox gateway, over HTTP.

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/mobbscan"
	"github.com/mobbscan-review/portal/mobbscan/sandbox"
)

type gateway struct {
	sb  *sandbox.Sandbox
	url string
}

func newGateway(t *testing.T) *gateway {
	t.Helper()
	sb, err := sandbox.New(sandbox.Config{Seed: 42})
	if err != nil {
		t.Fatalf("sandbox.New: %v", err)
	}
	srv := httptest.NewServer(sb)
	t.Cleanup(func() {
		srv.Close()
		sb.Close()
	})
	return &gateway{sb: sb, url: srv.URL}
}

func (g *gateway) client(t *testing.T, mods ...func(*mobbscan.Config)) *mobbscan.Client {
	t.Helper()
	cfg := mobbscan.Config{BaseURL: g.url, APIKey: sandbox.DefaultAPIKey, APISecret: sandbox.DefaultAPISecret}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := mobbscan.New(cfg)
	if err != nil {
		t.Fatalf("mobbscan.New: %v", err)
	}
	return c
}

// seed creates one process in state and returns its id.
func (g *gateway) seed(t *testing.T, state string) string {
	t.Helper()
	ids, err := g.sb.Seed(sandbox.SeedSpec{Count: 1, States: []string{state}, Silent: true})
	if err != nil || len(ids) != 1 {
		t.Fatalf("Seed(%s) = %v, %v", state, ids, err)
	}
	return ids[0]
}

func (g *gateway) tokens() int { return g.sb.Stats().TokensIssued }

func (g *gateway) requests(route string) int { return g.sb.Stats().Requests[route] }

func asError(t *testing.T, err error) *mobbscan.Error {
	t.Helper()
	var e *mobbscan.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *mobbscan.Error", err, err)
	}
	return e
}

func TestContractLifecycle(t *testing.T) {
	g := newGateway(t)
	c := g.client(t)
	ctx := context.Background()

	ob, err := c.CreateOnboarding(ctx, mobbscan.CreateRequest{CountryID: "ESP", DocType: sandbox.DocIDCard,
		RedirectURL: "https://portal.example/done", ScanID: "4f1c7e1a-0d53-4a8e-9d6e-2b7c1f0a9e11",
		ExtraData: map[string]string{"customerRef": "C-1042"}})
	if err != nil {
		t.Fatalf("CreateOnboarding: %v", err)
	}
	if ob.VerificationID == "" || ob.OnboardingURL == "" || ob.ScanID != "4f1c7e1a-0d53-4a8e-9d6e-2b7c1f0a9e11" {
		t.Errorf("onboarding = %+v", ob)
	}
	id := ob.VerificationID

	s, err := c.Status(ctx, id)
	if err != nil || s.Status != mobbscan.StatusPending || s.Stage != sandbox.StageCreated || s.Reviewable() {
		t.Fatalf("new process status = %+v, %v", s, err)
	}
	if _, err := c.Evidence(ctx, id, mobbscan.KindFaceNow, ""); !errors.Is(err, mobbscan.ErrNotFound) {
		t.Errorf("evidence of an unfinished process: %v, want ErrNotFound", err)
	}
	if _, err := c.Accept(ctx, id, nil); !errors.Is(err, mobbscan.ErrConflict) {
		t.Errorf("accept of an unfinished process: %v, want ErrConflict", err)
	}

	if err := g.sb.Complete(id, []string{sandbox.ValidationFacialMatching}); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	p, err := c.Process(ctx, id)
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	if !p.Reviewable() || p.CountryID != "ESP" || p.DocType != sandbox.DocIDCard || p.ExtraData["customerRef"] != "C-1042" ||
		p.CreationDate.IsZero() || p.PersonalData.Surname == "" || p.PersonalData.DocumentNumber == "" || p.Decision != nil {
		t.Errorf("process = %+v", p)
	}
	if p.Validations[sandbox.ValidationFacialMatching] != mobbscan.ValidationNotValid ||
		!slices.Contains(p.ValidationResult.Failed, sandbox.ValidationFacialMatching) {
		t.Errorf("validations = %v, summary %+v", p.Validations, p.ValidationResult)
	}
	if len(p.Scores) == 0 {
		t.Errorf("no scores")
	}
	if len(p.OrderedValidations()) != len(sandbox.Validations) {
		t.Errorf("validations %v, want all of %v", p.OrderedValidations(), sandbox.Validations)
	}
	if want := mobbscan.EvidenceKinds(); !slices.Equal(p.Evidences, want) {
		t.Errorf("evidences = %v, want %v", p.Evidences, want)
	}

	for _, kind := range p.Evidences {
		ev, err := c.Evidence(ctx, id, kind, "")
		if err != nil {
			t.Fatalf("Evidence(%s): %v", kind, err)
		}
		n, err := io.Copy(io.Discard, ev.Body)
		ev.Body.Close()
		want := sandbox.ImageContentType
		if kind == mobbscan.KindVideoLiveness {
			want = sandbox.VideoContentType
		}
		if err != nil || n == 0 || ev.StatusCode != 200 || ev.ContentType != want || (ev.ContentLength >= 0 && ev.ContentLength != n) {
			t.Errorf("Evidence(%s) = %+v, read %d, %v", kind, ev, n, err)
		}
	}
	ev, err := c.Evidence(ctx, id, mobbscan.KindVideoLiveness, "bytes=10-19")
	if err != nil {
		t.Fatalf("video range: %v", err)
	}
	b, err := io.ReadAll(ev.Body)
	ev.Body.Close()
	if err != nil || len(b) != 10 || ev.StatusCode != 206 || !strings.HasPrefix(ev.ContentRange, "bytes 10-19/") || ev.ContentLength != 10 {
		t.Errorf("video range = %+v, %d bytes, %v", ev, len(b), err)
	}
	zip, err := c.ZIP(ctx, id)
	if err != nil {
		t.Fatalf("ZIP: %v", err)
	}
	zb, err := io.ReadAll(zip.Body)
	zip.Body.Close()
	if err != nil || !strings.HasPrefix(string(zb), "PK") || zip.ContentType != "application/zip" || zip.Filename != id+".zip" {
		t.Errorf("zip = %+v, %d bytes, %v", zip, len(zb), err)
	}

	corrections := map[string]string{"surname": "Corrected"}
	r, err := c.Accept(ctx, id, corrections)
	if err != nil || r.Status != mobbscan.StatusVerified || r.VerificationID != id {
		t.Fatalf("Accept = %+v, %v", r, err)
	}
	snap, _ := g.sb.Get(id)
	if snap.DecisionType != mobbscan.DefaultDecisionType || !maps.Equal(snap.Corrections, corrections) || snap.Accepts != 1 {
		t.Errorf("sandbox after accept = %+v", snap)
	}
	p, err = c.Process(ctx, id)
	if err != nil || p.Status != mobbscan.StatusVerified || p.Reviewable() || p.Decision == nil ||
		p.Decision.Verdict != mobbscan.VerdictAccepted || p.Decision.Type != mobbscan.DefaultDecisionType || p.Decision.DecidedAt.IsZero() {
		t.Errorf("decided process = %+v, %v", p, err)
	}

	// Repeating the decision: 409 with our verdict, i.e. already delivered.
	_, err = c.Accept(ctx, id, nil)
	if e := asError(t, err); !errors.Is(err, mobbscan.ErrConflict) || e.CurrentStatus != mobbscan.StatusVerified {
		t.Errorf("repeated accept: %v, want 409 with VERIFIED", err)
	}
	// The opposite decision: 409 with another verdict, a conflict.
	_, err = c.Reject(ctx, id, "changed my mind")
	if e := asError(t, err); !errors.Is(err, mobbscan.ErrConflict) || e.CurrentStatus != mobbscan.StatusVerified {
		t.Errorf("reject after accept: %v, want 409 with VERIFIED", err)
	}

	if err := c.Delete(ctx, id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	for name, call := range map[string]func() error{
		"process":  func() error { _, err := c.Process(ctx, id); return err },
		"status":   func() error { _, err := c.Status(ctx, id); return err },
		"accept":   func() error { _, err := c.Accept(ctx, id, nil); return err },
		"reject":   func() error { _, err := c.Reject(ctx, id, "x"); return err },
		"pending":  func() error { return c.Pending(ctx, id) },
		"evidence": func() error { _, err := c.Evidence(ctx, id, mobbscan.KindDocumentFront, ""); return err },
		"zip":      func() error { _, err := c.ZIP(ctx, id); return err },
		"delete":   func() error { return c.Delete(ctx, id) },
	} {
		err := call()
		if e := asError(t, err); !errors.Is(err, mobbscan.ErrNotFound) || e.Endpoint != name || e.StatusCode != 404 {
			t.Errorf("%s after delete: %v, want 404 ErrNotFound", name, err)
		}
	}
	if got := g.tokens(); got != 1 {
		t.Errorf("tokens issued = %d, want 1", got)
	}
}

func TestContractRejectAndPending(t *testing.T) {
	g := newGateway(t)
	c := g.client(t, func(cfg *mobbscan.Config) { cfg.DecisionType = "AGENT" })
	ctx := context.Background()
	id := g.seed(t, "REVIEW")

	r, err := c.Reject(ctx, id, "The photo does not match the document.")
	if err != nil || r.Status != mobbscan.StatusNotVerified {
		t.Fatalf("Reject = %+v, %v", r, err)
	}
	p, err := c.Process(ctx, id)
	if err != nil || p.Decision == nil || p.Decision.Verdict != mobbscan.VerdictRejected ||
		p.Decision.RejectionComment != "The photo does not match the document." || p.Decision.Type != "AGENT" {
		t.Errorf("rejected process = %+v, %v", p.Decision, err)
	}
	_, err = c.Reject(ctx, id, "again")
	if e := asError(t, err); !errors.Is(err, mobbscan.ErrConflict) || e.CurrentStatus != mobbscan.StatusNotVerified {
		t.Errorf("repeated reject: %v, want 409 with NOT_VERIFIED", err)
	}

	if err := c.Pending(ctx, id); err != nil {
		t.Fatalf("Pending: %v", err)
	}
	s, err := c.Status(ctx, id)
	if err != nil || !s.Reviewable() {
		t.Errorf("after pending: %+v, %v", s, err)
	}
	if _, err := c.Accept(ctx, id, nil); err != nil {
		t.Errorf("accept after pending: %v", err)
	}

	// Pending on an unfinished process is a conflict.
	created := g.seed(t, "CREATED")
	err = c.Pending(ctx, created)
	if e := asError(t, err); !errors.Is(err, mobbscan.ErrConflict) || e.CurrentStatus != mobbscan.StatusPending || e.CurrentStage != sandbox.StageCreated {
		t.Errorf("pending of a created process: %v", err)
	}
}

func TestContractStates(t *testing.T) {
	g := newGateway(t)
	c := g.client(t)
	ctx := context.Background()
	tests := []struct {
		state      string
		status     mobbscan.Status
		stage      string
		reviewable bool
	}{
		{"CREATED", mobbscan.StatusPending, sandbox.StageCreated, false},
		{"IN_PROGRESS", mobbscan.StatusPending, sandbox.StageInProgress, false},
		{"REVIEW", mobbscan.StatusPending, sandbox.StageReview, true},
		{"VERIFIED", mobbscan.StatusVerified, sandbox.StageDone, false},
		{"NOT_VERIFIED", mobbscan.StatusNotVerified, sandbox.StageDone, false},
		{"EXPIRED", mobbscan.StatusPending, sandbox.StageExpired, false},
	}
	for _, tt := range tests {
		t.Run(tt.state, func(t *testing.T) {
			id := g.seed(t, tt.state)
			s, err := c.Status(ctx, id)
			if err != nil || s.Status != tt.status || s.Stage != tt.stage || s.Reviewable() != tt.reviewable {
				t.Errorf("status = %+v, %v", s, err)
			}
			_, err = c.Accept(ctx, id, nil)
			if tt.reviewable {
				if err != nil {
					t.Errorf("accept: %v", err)
				}
				return
			}
			if e := asError(t, err); !errors.Is(err, mobbscan.ErrConflict) || e.CurrentStatus != tt.status || e.CurrentStage != tt.stage {
				t.Errorf("accept: %v, want 409 with %s/%s", err, tt.status, tt.stage)
			}
		})
	}
}

func TestContractUnknownAndInvalid(t *testing.T) {
	g := newGateway(t)
	c := g.client(t)
	ctx := context.Background()
	const unknown = "00000000-0000-4000-8000-000000000000"
	if _, err := c.Process(ctx, unknown); !errors.Is(err, mobbscan.ErrNotFound) {
		t.Errorf("unknown process: %v", err)
	}
	if _, err := c.Accept(ctx, unknown, nil); !errors.Is(err, mobbscan.ErrNotFound) {
		t.Errorf("accept unknown: %v", err)
	}
	before := g.sb.Stats().Requests
	for _, err := range []error{
		func() error { _, err := c.Reject(ctx, unknown, "  "); return err }(),
		func() error { _, err := c.Evidence(ctx, unknown, "selfie", ""); return err }(),
		func() error { _, err := c.CreateOnboarding(ctx, mobbscan.CreateRequest{CountryID: "ESP"}); return err }(),
		func() error { _, err := c.Status(ctx, "../../auth/token"); return err }(),
	} {
		if !errors.Is(err, mobbscan.ErrBadRequest) {
			t.Errorf("invalid request: %v, want ErrBadRequest", err)
		}
	}
	if after := g.sb.Stats().Requests; !maps.Equal(before, after) {
		t.Errorf("invalid requests reached the gateway: %v -> %v", before, after)
	}

	bad := g.client(t, func(cfg *mobbscan.Config) { cfg.APISecret = "wrong-secret-value" })
	_, err := bad.Status(ctx, unknown)
	if e := asError(t, err); !errors.Is(err, mobbscan.ErrUnauthorized) || e.Endpoint != "token" || strings.Contains(err.Error(), "wrong-secret-value") {
		t.Errorf("wrong credentials: %v", err)
	}
}

// TestContractFaults injects every fault kind into every route and checks
// the typed error the client returns.
func TestContractFaults(t *testing.T) {
	type outcome struct {
		want      error // nil: the call succeeds
		ambiguous bool
		timeout   bool
	}
	routes := []struct {
		route string
		// call runs the client method of the route on a process in review.
		// For evidence it also reads the body, whose error counts.
		call func(ctx context.Context, c *mobbscan.Client, id string) error
		// ignoresBody: the client does not read the answer (pending, delete,
		// and evidence whose bytes are opaque), so a malformed 200 succeeds.
		ignoresBody bool
		// emptyBody: the answer is empty, so there is nothing to truncate.
		emptyBody bool
	}{
		{sandbox.RouteProcess, func(ctx context.Context, c *mobbscan.Client, id string) error {
			_, err := c.Process(ctx, id)
			return err
		}, false, false},
		{sandbox.RouteStatus, func(ctx context.Context, c *mobbscan.Client, id string) error {
			_, err := c.Status(ctx, id)
			return err
		}, false, false},
		{sandbox.RouteCreate, func(ctx context.Context, c *mobbscan.Client, id string) error {
			_, err := c.CreateOnboarding(ctx, mobbscan.CreateRequest{CountryID: "ESP", DocType: sandbox.DocPassport})
			return err
		}, false, false},
		{sandbox.RouteAccept, func(ctx context.Context, c *mobbscan.Client, id string) error {
			_, err := c.Accept(ctx, id, nil)
			return err
		}, false, false},
		{sandbox.RouteReject, func(ctx context.Context, c *mobbscan.Client, id string) error {
			_, err := c.Reject(ctx, id, "blurry")
			return err
		}, false, false},
		{sandbox.RoutePending, func(ctx context.Context, c *mobbscan.Client, id string) error {
			return c.Pending(ctx, id)
		}, true, false},
		{sandbox.RouteDelete, func(ctx context.Context, c *mobbscan.Client, id string) error {
			return c.Delete(ctx, id)
		}, true, true /* 200 with an empty body */},
		{sandbox.RouteImage, func(ctx context.Context, c *mobbscan.Client, id string) error {
			return readEvidence(c.Evidence(ctx, id, mobbscan.KindDocumentFront, ""))
		}, true, false},
		{sandbox.RouteRecording, func(ctx context.Context, c *mobbscan.Client, id string) error {
			return readEvidence(c.Evidence(ctx, id, mobbscan.KindVideoLiveness, "bytes=0-"))
		}, true, false},
		{sandbox.RouteZip, func(ctx context.Context, c *mobbscan.Client, id string) error {
			return readEvidence(c.ZIP(ctx, id))
		}, true, false},
	}
	faults := []struct {
		name  string
		fault sandbox.Fault
		// short: use the client with a short header timeout (the sandbox
		// may take a while to generate evidence, so the others do not).
		short  bool
		expect func(ignoresBody, emptyBody bool) outcome
	}{
		{"401 once", sandbox.Fault{Kind: sandbox.FaultUnauthorized, Count: 1}, false,
			func(bool, bool) outcome { return outcome{} }},
		{"401 always", sandbox.Fault{Kind: sandbox.FaultUnauthorized}, false,
			func(bool, bool) outcome { return outcome{want: mobbscan.ErrUnauthorized} }},
		{"429", sandbox.Fault{Kind: sandbox.FaultRateLimited, RetryAfter: 3 * time.Second}, false,
			func(bool, bool) outcome { return outcome{want: mobbscan.ErrRateLimited} }},
		{"500", sandbox.Fault{Kind: sandbox.FaultServerError}, false,
			func(bool, bool) outcome { return outcome{want: mobbscan.ErrUnavailable, ambiguous: true} }},
		{"503", sandbox.Fault{Kind: sandbox.FaultUnavailable}, false,
			func(bool, bool) outcome { return outcome{want: mobbscan.ErrUnavailable, ambiguous: true} }},
		{"malformed", sandbox.Fault{Kind: sandbox.FaultMalformed}, false, func(ignores, _ bool) outcome {
			if ignores {
				return outcome{}
			}
			return outcome{want: mobbscan.ErrBadResponse, ambiguous: true}
		}},
		{"truncated", sandbox.Fault{Kind: sandbox.FaultTruncated}, false, func(_, empty bool) outcome {
			if empty {
				return outcome{}
			}
			return outcome{want: mobbscan.ErrBadResponse}
		}},
		{"reset", sandbox.Fault{Kind: sandbox.FaultReset}, false,
			func(bool, bool) outcome { return outcome{want: mobbscan.ErrUnavailable, ambiguous: true} }},
		{"latency beyond the header timeout", sandbox.Fault{Kind: sandbox.FaultLatency, Latency: time.Second}, true,
			func(bool, bool) outcome {
				return outcome{want: mobbscan.ErrUnavailable, ambiguous: true, timeout: true}
			}},
		{"latency within the header timeout", sandbox.Fault{Kind: sandbox.FaultLatency, Latency: 10 * time.Millisecond}, false,
			func(bool, bool) outcome { return outcome{} }},
	}
	// Short pauses between read attempts: retries are counted, not timed.
	g := newGateway(t)
	c := g.client(t, fastRetries)
	impatient := g.client(t, fastRetries, func(cfg *mobbscan.Config) { cfg.HeaderTimeout = 150 * time.Millisecond })
	ctx := context.Background()
	for _, rt := range routes {
		for _, ft := range faults {
			t.Run(rt.route+"/"+ft.name, func(t *testing.T) {
				id := g.seed(t, "REVIEW")
				if err := g.sb.SetFault(rt.route, ft.fault); err != nil {
					t.Fatalf("SetFault: %v", err)
				}
				defer g.sb.ClearFault(rt.route)
				want := ft.expect(rt.ignoresBody, rt.emptyBody)
				client := c
				if ft.short {
					client = impatient
				}
				before := g.requests(rt.route)
				err := rt.call(ctx, client, id)
				// O4: a read is tried three times when the failure may pass
				// (no answer, a timeout, a 5xx; for JSON also a body cut short);
				// a write once; a 401 once more after renewing the token.
				read := slices.Contains([]string{sandbox.RouteProcess, sandbox.RouteStatus, sandbox.RouteImage,
					sandbox.RouteRecording, sandbox.RouteZip}, rt.route)
				wantRequests := 1
				switch ft.fault.Kind {
				case sandbox.FaultUnauthorized:
					wantRequests = 2
				case sandbox.FaultServerError, sandbox.FaultUnavailable, sandbox.FaultReset:
					if read {
						wantRequests = 3
					}
				case sandbox.FaultTruncated:
					if read && !rt.ignoresBody {
						wantRequests = 3
					}
				case sandbox.FaultLatency:
					if read && ft.short {
						wantRequests = 3
					}
				}
				got := g.requests(rt.route) - before
				if ft.fault.Kind == sandbox.FaultReset {
					// The transport itself may replay a GET, or fail a request on a
					// pooled connection that an earlier fault closed before it
					// reaches the gateway: only bounds hold.
					if read && (got < 2 || got > 2*wantRequests) || !read && got > 1 {
						t.Errorf("requests = %d, want about %d", got, wantRequests)
					}
				} else if got != wantRequests {
					t.Errorf("requests = %d, want %d", got, wantRequests)
				}
				if want.want == nil {
					if err != nil {
						t.Fatalf("err = %v, want success", err)
					}
					return
				}
				e := asError(t, err)
				if !errors.Is(err, want.want) {
					t.Fatalf("err = %v, want %v", err, want.want)
				}
				if e.Ambiguous() != want.ambiguous && (want.want != mobbscan.ErrBadResponse) {
					t.Errorf("Ambiguous = %v, want %v", e.Ambiguous(), want.ambiguous)
				}
				if want.timeout && !e.Timeout() {
					t.Errorf("Timeout = false, want true")
				}
				if ft.fault.Kind == sandbox.FaultRateLimited && e.RetryAfter != 3*time.Second {
					t.Errorf("RetryAfter = %v, want 3s", e.RetryAfter)
				}
				if e.Endpoint == "" || strings.Contains(err.Error(), "Bearer") {
					t.Errorf("message %q", err)
				}
			})
		}
	}
}

// readEvidence reads an evidence stream to the end and returns the first
// error of the call or of the stream.
func readEvidence(ev *mobbscan.Evidence, err error) error {
	if err != nil {
		return err
	}
	defer ev.Body.Close()
	_, err = io.Copy(io.Discard, ev.Body)
	return err
}

func TestContractTokenFaults(t *testing.T) {
	tests := []struct {
		fault sandbox.Fault
		want  error
	}{
		{sandbox.Fault{Kind: sandbox.FaultUnauthorized}, mobbscan.ErrUnauthorized},
		{sandbox.Fault{Kind: sandbox.FaultRateLimited}, mobbscan.ErrRateLimited},
		{sandbox.Fault{Kind: sandbox.FaultServerError}, mobbscan.ErrUnavailable},
		{sandbox.Fault{Kind: sandbox.FaultUnavailable}, mobbscan.ErrUnavailable},
		{sandbox.Fault{Kind: sandbox.FaultMalformed}, mobbscan.ErrBadResponse},
		{sandbox.Fault{Kind: sandbox.FaultTruncated}, mobbscan.ErrBadResponse},
		{sandbox.Fault{Kind: sandbox.FaultReset}, mobbscan.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault.Kind), func(t *testing.T) {
			g := newGateway(t)
			id := g.seed(t, "REVIEW")
			g.sb.SetFault(sandbox.RouteToken, tt.fault)
			c := g.client(t, fastRetries)
			_, err := c.Status(context.Background(), id)
			if e := asError(t, err); !errors.Is(err, tt.want) || e.Endpoint != "token" {
				t.Fatalf("err = %v, want %v from the token endpoint", err, tt.want)
			}
			if strings.Contains(err.Error(), sandbox.DefaultAPISecret) {
				t.Errorf("message %q leaks the secret", err)
			}
			g.sb.ClearFaults()
			if _, err := c.Status(context.Background(), id); err != nil {
				t.Errorf("after the fault: %v", err)
			}
		})
	}
}

// TestContractAmbiguousDecision is D3: the gateway applies a decision but the
// answer is lost; the client says so, and reading the status resolves it.
func TestContractAmbiguousDecision(t *testing.T) {
	for _, kind := range []sandbox.FaultKind{sandbox.FaultReset, sandbox.FaultTruncated, sandbox.FaultMalformed} {
		for _, applied := range []bool{true, false} {
			name := string(kind) + "/applied"
			if !applied {
				name = string(kind) + "/not applied"
			}
			t.Run(name, func(t *testing.T) {
				g := newGateway(t)
				c := g.client(t)
				ctx := context.Background()
				id := g.seed(t, "REVIEW")
				g.sb.SetFault(sandbox.RouteAccept, sandbox.Fault{Kind: kind, Count: 1, NotApplied: !applied})
				_, err := c.Accept(ctx, id, nil)
				if e := asError(t, err); !e.Ambiguous() {
					t.Fatalf("err = %v, want an ambiguous error", err)
				}
				s, err := c.Status(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if applied && s.Status != mobbscan.StatusVerified {
					t.Errorf("status after an applied accept = %+v", s.State)
				}
				if !applied && !s.Reviewable() {
					t.Errorf("status after a lost accept = %+v", s.State)
				}
				_, err = c.Accept(ctx, id, nil) // re-sending is safe
				if applied {
					if e := asError(t, err); !errors.Is(err, mobbscan.ErrConflict) || e.CurrentStatus != mobbscan.StatusVerified {
						t.Errorf("re-sent accept: %v, want 409 with our verdict", err)
					}
				} else if err != nil {
					t.Errorf("re-sent accept: %v", err)
				}
				if snap, _ := g.sb.Get(id); snap.Accepts != 1 {
					t.Errorf("accepts applied = %d, want 1", snap.Accepts)
				}
			})
		}
	}
}

func TestContractTokenExpiry(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits for a token to expire")
	}
	g := newGateway(t)
	g.sb.SetTokenLifetime(time.Second)
	c := g.client(t)
	ctx := context.Background()
	id := g.seed(t, "REVIEW")
	if _, err := c.Status(ctx, id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond) // let the token expire
	if _, err := c.Status(ctx, id); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if got := g.tokens(); got != 2 {
		t.Errorf("tokens issued = %d, want 2", got)
	}
	if got := g.requests(sandbox.RouteStatus); got != 2 {
		t.Errorf("status requests = %d, want 2 (renewed before expiry, no 401)", got)
	}
}

// TestContractRenewOn401 makes the client's clock lag so that it keeps an
// expired token: the gateway answers 401, the client renews once and retries.
func TestContractRenewOn401(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits for a token to expire")
	}
	const callers = 20
	g := newGateway(t)
	g.sb.SetTokenLifetime(time.Second)
	frozen := time.Now()
	c := g.client(t, func(cfg *mobbscan.Config) { cfg.Now = func() time.Time { return frozen } })
	ctx := context.Background()
	id := g.seed(t, "REVIEW")
	if _, err := c.Status(ctx, id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond) // the token expires on the gateway
	g.sb.SetTokenLifetime(sandbox.DefaultTokenLifetime)
	// A slow renewal lets more callers meet the 401 while it is in flight.
	g.sb.SetFault(sandbox.RouteToken, sandbox.Fault{Kind: sandbox.FaultLatency, Latency: 100 * time.Millisecond, Count: 1})

	var wg sync.WaitGroup
	var failed atomic.Int32
	for range callers {
		wg.Go(func() {
			if _, err := c.Status(ctx, id); err != nil {
				failed.Add(1)
				t.Errorf("caller: %v", err)
			}
		})
	}
	wg.Wait()
	if got := g.tokens(); got != 2 {
		t.Errorf("tokens issued = %d, want 2 (one shared renewal)", got)
	}
	// The first call, one request per caller, and a retry for each caller
	// that met the 401 (at least one did: the first sent the old token).
	got := g.requests(sandbox.RouteStatus)
	if got < 1+callers+1 || got > 1+2*callers {
		t.Errorf("status requests = %d, want %d to %d", got, 1+callers+1, 1+2*callers)
	}
	t.Logf("%d of %d callers met the 401 and retried", got-1-callers, callers)
}

// TestContractConcurrentRenewal: 20 callers needing a token at once share
// one issuance, first at start and then at renewal time.
func TestContractConcurrentRenewal(t *testing.T) {
	const callers = 20
	g := newGateway(t)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	c := g.client(t, func(cfg *mobbscan.Config) { cfg.Now = clock })
	ctx := context.Background()
	id := g.seed(t, "REVIEW")
	burst := func() {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range callers {
			wg.Go(func() {
				<-start
				if _, err := c.Status(ctx, id); err != nil {
					t.Errorf("caller: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
	}
	burst()
	if got := g.tokens(); got != 1 {
		t.Errorf("tokens issued = %d, want 1", got)
	}
	mu.Lock()
	now = now.Add(sandbox.DefaultTokenLifetime - 30*time.Second) // inside the renewal window
	mu.Unlock()
	burst()
	if got := g.tokens(); got != 2 {
		t.Errorf("tokens issued = %d, want 2", got)
	}
}

// TestContractLargeVideo streams a 200 MiB video from the sandbox and checks
// that the heap stays flat while it flows (memory, not time).
func TestContractLargeVideo(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 200 MiB")
	}
	const size = 200 << 20
	const budget = 16 << 20
	g := newGateway(t)
	g.sb.SetLargeVideo(size)
	c := g.client(t)
	ctx := context.Background()
	id := g.seed(t, "REVIEW")
	if _, err := c.Status(ctx, id); err != nil { // token and connection
		t.Fatal(err)
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	ev, err := c.Evidence(ctx, id, mobbscan.KindVideoLiveness, "")
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Body.Close()
	// Copy in slices, sampling the heap between them.
	var n int64
	var peak uint64
	var ms runtime.MemStats
	for {
		k, err := io.CopyN(io.Discard, ev.Body, 16<<20)
		n += k
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", n, err)
		}
	}
	if n != size || (ev.ContentLength >= 0 && ev.ContentLength != size) || ev.ContentType != sandbox.VideoContentType {
		t.Fatalf("streamed %d bytes, evidence %+v", n, ev)
	}
	if grown := int64(peak) - int64(before.HeapAlloc); grown > budget {
		t.Errorf("heap grew by %d MiB while streaming 200 MiB, want < %d MiB", grown>>20, budget>>20)
	}
	t.Logf("streamed %d MiB; peak heap growth %d KiB; allocated %d KiB (client and sandbox)",
		n>>20, (int64(peak)-int64(before.HeapAlloc))>>10, (ms.TotalAlloc-before.TotalAlloc)>>10)

	// A range deep inside the large video.
	ev2, err := c.Evidence(ctx, id, mobbscan.KindVideoLiveness, "bytes=150000000-150000999")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(ev2.Body)
	ev2.Body.Close()
	if err != nil || len(b) != 1000 || ev2.StatusCode != 206 {
		t.Errorf("deep range: %d bytes, status %d, %v", len(b), ev2.StatusCode, err)
	}
}
