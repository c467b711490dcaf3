package review_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// The rules of review/rules.go on rows built by hand: no database, no gateway.

var (
	ruleNow   = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	ruleAgent = store.Actor{UserID: 7, Role: store.RoleAgent, Email: "a@example.com"}
	ruleOther = store.Actor{UserID: 8, Role: store.RoleAgent, Email: "b@example.com"}
	ruleAdmin = store.Actor{UserID: 9, Role: store.RoleAdmin, Email: "admin@example.com"}
)

// inReview is a process awaiting review as the index holds it.
func inReview() *store.Process {
	return &store.Process{ID: "p-1", Status: "PENDING", Reviewable: true,
		Evidence: []store.EvidenceKind{store.EvidenceDocumentFront, store.EvidenceDocumentBack, store.EvidenceFaceDocument,
			store.EvidenceFaceNow, store.EvidenceVideo}}
}

// claimedBy returns p claimed by a under number seq, expiring at exp.
func claimedBy(p *store.Process, a store.Actor, seq int64, exp time.Time) *store.Process {
	p.ClaimedBy, p.ClaimedByName, p.ClaimSeq = a.UserID, fmt.Sprintf("Agent %d", a.UserID), seq
	p.ClaimedAt, p.ClaimExpiresAt = exp.Add(-5*time.Minute), exp
	return p
}

// codeOf is the code of err, "ok" for nil, and the error itself for anything that is
// not a *review.Error.
func codeOf(err error) string {
	switch e := review.ErrorOf(err); {
	case err == nil:
		return "ok"
	case e == nil:
		return fmt.Sprintf("unexpected %T %v", err, err)
	default:
		return string(e.Code)
	}
}

func TestClaimable(t *testing.T) {
	tests := []struct {
		name string
		p    store.Process
		want bool
	}{
		{"awaiting review", store.Process{Reviewable: true}, true},
		{"decided here, not delivered yet", store.Process{Reviewable: true, Decided: true}, false},
		{"decided, awaiting a second review", store.Process{Decided: true, AwaitingSecond: true}, true},
		{"not in review", store.Process{}, false},
		{"final", store.Process{Final: true, Status: "VERIFIED"}, false},
	}
	for _, tc := range tests {
		if got := review.Claimable(&tc.p); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestHoldsClaim(t *testing.T) {
	live, lapsed := ruleNow.Add(time.Minute), ruleNow.Add(-time.Minute)
	tests := []struct {
		name    string
		p       *store.Process
		seq     int64
		want    string
		message string // a part of the message, when it matters
	}{
		{"the page's claim", claimedBy(inReview(), ruleAgent, 3, live), 3, "ok", ""},
		{"the page's claim lapsed, nobody took it", claimedBy(inReview(), ruleAgent, 3, lapsed), 3, "ok", ""},
		{"the page's claim on a decision awaiting a second review",
			claimedBy(&store.Process{Decided: true, AwaitingSecond: true}, ruleAgent, 3, live), 3, "ok", ""},
		{"no claim", inReview(), 0, "conflict", "no longer reviewing"},
		{"no claim, a guessed number", inReview(), 1, "conflict", "no longer reviewing"},
		{"the agent's claim, a page without one", claimedBy(inReview(), ruleAgent, 3, live), 0, "conflict", "another tab"},
		{"the agent claimed again elsewhere", claimedBy(inReview(), ruleAgent, 4, live), 3, "conflict", "another tab"},
		{"the agent claimed again elsewhere, lapsed since", claimedBy(inReview(), ruleAgent, 4, lapsed), 3, "conflict", "released or expired"},
		{"another agent's claim", claimedBy(inReview(), ruleOther, 3, live), 3, "conflict", "Agent 8"},
		{"another agent's lapsed claim", claimedBy(inReview(), ruleOther, 3, lapsed), 3, "conflict", "released or expired"},
		{"decided", claimedBy(&store.Process{Reviewable: true, Decided: true}, ruleAgent, 3, live), 3, "conflict", "not awaiting review"},
		{"out of review", claimedBy(&store.Process{}, ruleAgent, 3, live), 3, "conflict", "not awaiting review"},
	}
	for _, tc := range tests {
		err := review.HoldsClaim(ruleAgent, tc.seq, &store.Case{Process: tc.p, Now: ruleNow})
		if got := codeOf(err); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
			continue
		}
		if err != nil && !strings.Contains(review.ErrorOf(err).Message, tc.message) {
			t.Errorf("%s: message %q does not say %q", tc.name, review.ErrorOf(err).Message, tc.message)
		}
	}
}

func TestMissingForAccept(t *testing.T) {
	all := []store.EvidenceKind{store.ProcessData, store.EvidenceDocumentFront, store.EvidenceDocumentBack,
		store.EvidenceFaceDocument, store.EvidenceFaceNow}
	passport := inReview()
	passport.Evidence = []store.EvidenceKind{store.EvidenceDocumentFront, store.EvidenceFaceDocument, store.EvidenceFaceNow, store.EvidenceVideo}
	served := func(kinds ...store.EvidenceKind) map[store.EvidenceKind]bool {
		m := map[store.EvidenceKind]bool{}
		for _, k := range kinds {
			m[k] = true
		}
		return m
	}
	tests := []struct {
		name   string
		p      *store.Process
		served map[store.EvidenceKind]bool
		want   []store.EvidenceKind
	}{
		{"nothing served", inReview(), served(), all},
		{"the data only", inReview(), served(store.ProcessData), all[1:]},
		{"the images only", inReview(), served(all[1:]...), all[:1]},
		{"the video and the ZIP do not count", inReview(), served(store.EvidenceVideo, store.EvidenceZIP), all},
		{"everything but the selfie", inReview(), served(all[:4]...), []store.EvidenceKind{store.EvidenceFaceNow}},
		{"everything", inReview(), served(append(slices.Clone(all), store.EvidenceVideo, store.EvidenceZIP)...), nil},
		{"everything but the video, which is not needed", inReview(), served(all...), nil},
		{"a passport has no back", passport, served(store.ProcessData), []store.EvidenceKind{store.EvidenceDocumentFront,
			store.EvidenceFaceDocument, store.EvidenceFaceNow}},
		{"no evidence listed: the data", &store.Process{Reviewable: true}, served(), []store.EvidenceKind{store.ProcessData}},
	}
	for _, tc := range tests {
		got := review.MissingForAccept(&store.Case{Process: tc.p, Served: tc.served, Now: ruleNow})
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestMissingLabel(t *testing.T) {
	tests := []struct {
		kind store.EvidenceKind
		want string
	}{
		{store.ProcessData, "the identity data and checks"},
		{store.EvidenceDocumentFront, "document front"},
		{store.EvidenceFaceNow, "live selfie"},
	}
	for _, tc := range tests {
		if got := review.MissingLabel(tc.kind); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.kind, got, tc.want)
		}
	}
}

func TestMaySecondReview(t *testing.T) {
	awaiting := func(by int64) *store.Decision {
		return &store.Decision{ID: 1, DecidedBy: by, Verdict: store.VerdictAccept, State: store.StateSecondReview}
	}
	tests := []struct {
		name string
		a    store.Actor
		d    *store.Decision
		want string
	}{
		{"another agent", ruleOther, awaiting(ruleAgent.UserID), "ok"},
		{"an admin", ruleAdmin, awaiting(ruleAgent.UserID), "ok"},
		{"the decider", ruleAgent, awaiting(ruleAgent.UserID), "forbidden"},
		{"the decider, an admin", ruleAdmin, awaiting(ruleAdmin.UserID), "forbidden"},
		{"no decision", ruleOther, nil, "conflict"},
	}
	for _, s := range store.DeliveryStates {
		if s != store.StateSecondReview {
			tests = append(tests, struct {
				name string
				a    store.Actor
				d    *store.Decision
				want string
			}{"a decision " + string(s), ruleOther, &store.Decision{ID: 1, DecidedBy: ruleAgent.UserID, State: s}, "conflict"})
		}
	}
	for _, tc := range tests {
		if got := codeOf(review.MaySecondReview(tc.a, tc.d)); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestNeedsSecondReview(t *testing.T) {
	tests := []struct {
		settings  review.FourEyes
		verdict   store.Verdict
		hasFailed bool
		want      bool
	}{
		{review.FourEyes{}, store.VerdictAccept, false, false},
		{review.FourEyes{}, store.VerdictAccept, true, false},
		{review.FourEyes{}, store.VerdictReject, true, false},
		{review.FourEyes{Accept: true}, store.VerdictAccept, false, true},
		{review.FourEyes{Accept: true}, store.VerdictReject, false, false},
		{review.FourEyes{AcceptFailed: true}, store.VerdictAccept, true, true},
		{review.FourEyes{AcceptFailed: true}, store.VerdictAccept, false, false},
		{review.FourEyes{AcceptFailed: true}, store.VerdictReject, true, false},
		{review.FourEyes{Reject: true}, store.VerdictReject, false, true},
		{review.FourEyes{Reject: true}, store.VerdictAccept, true, false},
		{review.FourEyes{Accept: true, AcceptFailed: true, Reject: true}, store.VerdictReject, true, true},
	}
	for _, tc := range tests {
		if got := review.NeedsSecondReview(tc.settings, tc.verdict, tc.hasFailed); got != tc.want {
			t.Errorf("%+v %s failed=%v: got %v, want %v", tc.settings, tc.verdict, tc.hasFailed, got, tc.want)
		}
	}
}

func TestDeliveryRetryableAndResolvable(t *testing.T) {
	tests := []struct {
		state      store.DeliveryState
		attempts   int
		retryable  bool
		resolvable bool
	}{
		{store.StateSecondReview, 0, false, false},
		{store.StateQueued, 0, false, false},
		{store.StateQueued, 1, true, false}, // waiting to retry after a failed attempt
		{store.StateQueued, 5, true, false},
		{store.StateSending, 1, false, false},
		{store.StateDelivered, 1, false, false},
		{store.StateConflict, 1, true, true},
		{store.StateParked, 0, true, true},
		{store.StateParked, 9, true, true},
		{store.StateOverturned, 0, false, false},
		{store.StateResolved, 1, false, false},
	}
	covered := map[store.DeliveryState]bool{}
	for _, tc := range tests {
		covered[tc.state] = true
		d := &store.Decision{ID: 1, DecidedBy: ruleAgent.UserID, State: tc.state, Attempts: tc.attempts}
		if got := review.DeliveryRetryable(d); got != tc.retryable {
			t.Errorf("retryable %s after %d attempts: got %v, want %v", tc.state, tc.attempts, got, tc.retryable)
		}
		if got := review.DeliveryResolvable(d); got != tc.resolvable {
			t.Errorf("resolvable %s after %d attempts: got %v, want %v", tc.state, tc.attempts, got, tc.resolvable)
		}
	}
	for _, s := range store.DeliveryStates {
		if !covered[s] {
			t.Errorf("state %s is not covered", s)
		}
	}
}

func TestMayManageDelivery(t *testing.T) {
	d := &store.Decision{ID: 1, DecidedBy: ruleAgent.UserID, State: store.StateParked}
	tests := []struct {
		name string
		a    store.Actor
		want bool
	}{
		{"the author", ruleAgent, true},
		{"another agent", ruleOther, false},
		{"an admin", ruleAdmin, true},
		{"the system", store.System, false},
		{"an unknown role", store.Actor{UserID: 10, Role: "superuser"}, false},
	}
	for _, tc := range tests {
		if got := review.MayManageDelivery(tc.a, d); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
		if got := review.MaySeeNote(tc.a, d); got != tc.want {
			t.Errorf("%s may see the note: got %v, want %v", tc.name, got, tc.want)
		}
		if got, want := review.IsAdmin(tc.a), tc.a.Role == store.RoleAdmin; got != want {
			t.Errorf("%s is admin: got %v, want %v", tc.name, got, want)
		}
	}
}

func TestConfigAging(t *testing.T) {
	c := review.Config{AgingAmber: 4 * time.Hour, AgingRed: 24 * time.Hour}
	tests := []struct {
		waited time.Duration
		want   string
	}{
		{-time.Minute, review.AgingNone}, // the gateway's clock ahead of ours
		{0, review.AgingNone},
		{4*time.Hour - time.Nanosecond, review.AgingNone},
		{4 * time.Hour, review.AgingAmber},
		{24*time.Hour - time.Nanosecond, review.AgingAmber},
		{24 * time.Hour, review.AgingRed},
		{90 * 24 * time.Hour, review.AgingRed},
	}
	for _, tc := range tests {
		if got := c.Aging(tc.waited); got != tc.want {
			t.Errorf("waited %v: got %q, want %q", tc.waited, got, tc.want)
		}
	}
}

func TestScoreLevel(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{math.NaN(), review.ScoreInvalid},
		{math.Inf(1), review.ScoreInvalid},
		{math.Inf(-1), review.ScoreInvalid},
		{-0.1, review.ScoreInvalid},
		{1.5, review.ScoreInvalid},
		{1.0000001, review.ScoreInvalid},
		{50, review.ScoreInvalid}, // a percentage is not a score
		{math.Copysign(0, -1), review.ScoreBad},
		{0, review.ScoreBad},
		{0.49, review.ScoreBad},
		{review.ScoreDoubtfulFrom, review.ScoreDoubtful},
		{0.79, review.ScoreDoubtful},
		{review.ScoreGoodFrom, review.ScoreGood},
		{1, review.ScoreGood},
	}
	for _, tc := range tests {
		if got := review.ScoreLevel(tc.v); got != tc.want {
			t.Errorf("%v: got %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestEvidenceTypeAllowed(t *testing.T) {
	images := []store.EvidenceKind{store.EvidenceDocumentFront, store.EvidenceDocumentBack, store.EvidenceFaceDocument, store.EvidenceFaceNow}
	tests := []struct {
		kinds []store.EvidenceKind
		types []string
		want  bool
	}{
		{images, []string{"image/jpeg", "image/png", "image/webp"}, true},
		{images, []string{"image/svg+xml", "text/html", "application/json", "video/webm", "application/zip", "", "image/*"}, false},
		{[]store.EvidenceKind{store.EvidenceVideo}, []string{"video/webm", "video/mp4"}, true},
		{[]store.EvidenceKind{store.EvidenceVideo}, []string{"image/jpeg", "text/html", "application/zip", "video/x-flv", ""}, false},
		{[]store.EvidenceKind{store.EvidenceZIP}, []string{"application/zip", "application/x-zip-compressed"}, true},
		{[]store.EvidenceKind{store.EvidenceZIP}, []string{"image/jpeg", "video/webm", "text/html", "application/octet-stream", ""}, false},
	}
	for _, tc := range tests {
		for _, k := range tc.kinds {
			for _, mt := range tc.types {
				if got := review.EvidenceTypeAllowed(k, mt); got != tc.want {
					t.Errorf("%s as %q: got %v, want %v", k, mt, got, tc.want)
				}
			}
		}
	}
}

func TestConfigHeartbeatEvery(t *testing.T) {
	tests := []struct {
		ttl, want time.Duration
	}{
		{5 * time.Minute, time.Minute}, // the default: five beats per claim
		{2 * time.Minute, 24 * time.Second},
		{time.Hour, time.Minute}, // never less often than a minute
		{3 * time.Second, time.Second},
		{0, time.Second}, // never more often than a second
	}
	for _, tc := range tests {
		if got := (review.Config{ClaimTTL: tc.ttl}).HeartbeatEvery(); got != tc.want {
			t.Errorf("claim TTL %v: got %v, want %v", tc.ttl, got, tc.want)
		}
	}
}
