package review_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// inReviewDoc seeds one clean process in review with a document of docType and indexes it.
func (h *harness) inReviewDoc(docType string) string {
	h.t.Helper()
	ids, err := h.sb.Seed(sandbox.SeedSpec{Count: 1, States: []string{"REVIEW"}, Outcome: "clean", DocType: docType, Silent: true})
	if err != nil {
		h.t.Fatalf("seed: %v", err)
	}
	h.track(ids[0])
	return ids[0]
}

// gatewayImages lists the images the gateway lists for a process, in its order.
func (h *harness) gatewayImages(id string) []store.EvidenceKind {
	h.t.Helper()
	var out []store.EvidenceKind
	for _, e := range h.gateway(id).Evidences {
		if k, ok := store.EvidenceKindOf(e); ok && k.IsImage() {
			out = append(out, k)
		}
	}
	return out
}

// readiness is what a must still be served before accepting, on their page's claim.
func (h *harness) readiness(t *testing.T, a store.Actor, id string, seq int64) []store.EvidenceKind {
	t.Helper()
	missing, err := h.svc.Readiness(context.Background(), a, id, seq)
	if err != nil {
		t.Fatalf("readiness: %v", err)
	}
	return missing
}

// refusedDecision checks that a decision was refused with a conflict, that nothing was
// recorded and that the refusal was audited once (D6).
func (h *harness) refusedDecision(t *testing.T, id string, err error, refusalsBefore int) {
	t.Helper()
	wantCode(t, err, review.CodeConflict)
	if got := h.decisionRows(id); got != 0 {
		t.Errorf("decision rows: got %d, want 0", got)
	}
	if got := len(h.audits("decision.accept", id)) + len(h.audits("decision.reject", id)); got != 0 {
		t.Errorf("decision audit rows: got %d, want 0", got)
	}
	if got := h.refusals(id); got != refusalsBefore+1 {
		t.Errorf("refusal audit rows: got %d, want %d", got, refusalsBefore+1)
	}
	if p := h.get(id); !p.Reviewable || p.Decided {
		t.Errorf("process: got reviewable=%v decided=%v, want still in review", p.Reviewable, p.Decided)
	}
}

// TestDecideNeedsThePagesClaim is D6: a decision needs the claim the page was rendered
// with, held by the agent deciding.
func TestDecideNeedsThePagesClaim(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{cfg: review.Config{ClaimTTL: 2 * time.Minute}})
	ctx := context.Background()
	agent, other := h.actor, h.newAgent("other")
	reject := func(id string, seq int64) review.DecideInput {
		in := h.rejectWith(id, "unreadable")
		in.ClaimSeq = seq
		return in
	}

	t.Run("no claim", func(t *testing.T) {
		id := h.inReviewClean(1)[0]
		_, err := h.svc.Decide(ctx, agent, reject(id, 0))
		h.refusedDecision(t, id, err, 0)
	})
	t.Run("a scripted accept that never claimed", func(t *testing.T) {
		id := h.inReviewClean(1)[0]
		// Everything fetched outside a claim, then a guessed claim number.
		h.see(agent, id)
		in := accept(id)
		in.ClaimSeq = 1
		_, err := h.svc.Decide(ctx, agent, in)
		h.refusedDecision(t, id, err, 0)
	})
	t.Run("another agent's claim", func(t *testing.T) {
		id := h.inReviewClean(1)[0]
		seq := h.claim(other, id)
		_, err := h.svc.Decide(ctx, agent, reject(id, seq))
		h.refusedDecision(t, id, err, 0)
		if e := review.ErrorOf(err); e != nil && !strings.Contains(e.Message, "Agent other") {
			t.Errorf("message %q does not name the holder", e.Message)
		}
		if d, err := h.svc.Decide(ctx, other, reject(id, seq)); err != nil || d.DecidedBy != other.UserID {
			t.Errorf("the holder: got %+v %v, want their decision", d, err)
		}
	})
	t.Run("a stale page: the agent claimed it again elsewhere", func(t *testing.T) {
		id := h.inReviewClean(1)[0]
		first := h.claim(agent, id)
		second := h.claim(agent, id)
		if first == second {
			t.Fatalf("claiming again kept the number %d", first)
		}
		_, err := h.svc.Decide(ctx, agent, reject(id, first))
		h.refusedDecision(t, id, err, 0)
		if _, err := h.svc.Decide(ctx, agent, reject(id, second)); err != nil {
			t.Errorf("the newer page: %v", err)
		}
	})
	t.Run("a released claim", func(t *testing.T) {
		id := h.inReviewClean(1)[0]
		seq := h.claim(agent, id)
		if err := h.svc.Release(ctx, agent, id, seq); err != nil {
			t.Fatal(err)
		}
		_, err := h.svc.Decide(ctx, agent, reject(id, seq))
		h.refusedDecision(t, id, err, 0)
	})
	t.Run("a lapsed claim nobody took still counts", func(t *testing.T) {
		ids := h.inReviewClean(2)
		rejectSeq := h.claim(agent, ids[0])
		acceptSeq := h.ready(agent, ids[1])
		h.clk.Add(10 * time.Minute) // five times the claim's lifetime, no heartbeat
		if p := h.get(ids[0]); p.ClaimActive(h.clk.Now()) {
			t.Fatal("the claim did not lapse")
		}
		if _, err := h.svc.Decide(ctx, agent, reject(ids[0], rejectSeq)); err != nil {
			t.Errorf("reject on a lapsed claim: %v", err)
		}
		in := accept(ids[1])
		in.ClaimSeq = acceptSeq
		if _, err := h.svc.Decide(ctx, agent, in); err != nil {
			t.Errorf("accept on a lapsed claim, everything seen: %v", err)
		}
	})
	t.Run("a lapsed claim someone else took", func(t *testing.T) {
		id := h.inReviewClean(1)[0]
		seq := h.claim(agent, id)
		h.clk.Add(10 * time.Minute)
		theirs := h.claim(other, id) // no takeover needed: the claim lapsed
		_, err := h.svc.Decide(ctx, agent, reject(id, seq))
		h.refusedDecision(t, id, err, 0)
		if _, err := h.svc.Decide(ctx, other, reject(id, theirs)); err != nil {
			t.Errorf("the new holder: %v", err)
		}
	})
	t.Run("a takeover", func(t *testing.T) {
		id := h.inReviewClean(1)[0]
		seq := h.claim(agent, id)
		took, err := h.svc.Claim(ctx, other, id, true)
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.svc.Decide(ctx, agent, reject(id, seq))
		h.refusedDecision(t, id, err, 0)
		// Even with the new number: it is not the agent's claim.
		_, err = h.svc.Decide(ctx, agent, reject(id, took.ClaimSeq))
		h.refusedDecision(t, id, err, 1)
		if _, err := h.svc.Decide(ctx, other, reject(id, took.ClaimSeq)); err != nil {
			t.Errorf("the new holder: %v", err)
		}
	})
	t.Run("a decided process", func(t *testing.T) {
		id := h.inReviewClean(1)[0]
		seq := h.claim(agent, id)
		d, err := h.svc.Decide(ctx, agent, reject(id, seq))
		if err != nil {
			t.Fatal(err)
		}
		// The same form again counts once; anything else is a conflict.
		if again, err := h.svc.Decide(ctx, agent, reject(id, seq)); err != nil || again.ID != d.ID {
			t.Errorf("submitted twice: got %+v %v, want decision %d", again, err, d.ID)
		}
		in := accept(id)
		in.ClaimSeq = seq
		_, err = h.svc.Decide(ctx, agent, in)
		wantCode(t, err, review.CodeConflict)
		_, err = h.svc.Decide(ctx, other, reject(id, seq))
		wantCode(t, err, review.CodeConflict)
		if got := h.decisionRows(id); got != 1 {
			t.Errorf("decision rows: got %d, want 1", got)
		}
		if got := h.refusals(id); got != 2 {
			t.Errorf("refusal audit rows: got %d, want 2", got)
		}
	})
	h.verifyAudit()
}

// TestAcceptNeedsTheEvidenceSeen is D7: accepting needs the process data and every
// image the gateway lists served to the agent within their current claim; rejecting
// needs none of it.
func TestAcceptNeedsTheEvidenceSeen(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	ctx := context.Background()
	agent, other := h.actor, h.newAgent("other")
	acceptOn := func(id string, seq int64) review.DecideInput {
		in := accept(id)
		in.ClaimSeq = seq
		return in
	}

	t.Run("an identity card: the data and four images", func(t *testing.T) {
		id := h.inReviewDoc(sandbox.DocIDCard)
		images := h.gatewayImages(id)
		if want := []store.EvidenceKind{store.EvidenceDocumentFront, store.EvidenceDocumentBack, store.EvidenceFaceDocument, store.EvidenceFaceNow}; !slices.Equal(images, want) {
			t.Fatalf("gateway images: got %v, want %v", images, want)
		}
		if got := h.get(id).Images(); !slices.Equal(got, images) {
			t.Fatalf("indexed images: got %v, want the gateway's %v", got, images)
		}
		// Seen before claiming: it does not count.
		h.see(agent, id)
		seq := h.claim(agent, id)
		want := append([]store.EvidenceKind{store.ProcessData}, images...)
		if got := h.readiness(t, agent, id, seq); !slices.Equal(got, want) {
			t.Errorf("readiness after claiming: got %v, want %v", got, want)
		}
		refusals := 0
		refuse := func(step string) {
			t.Helper()
			_, err := h.svc.Decide(ctx, agent, acceptOn(id, seq))
			if e := wantCode(t, err, review.CodeConflict); e != nil && !strings.Contains(e.Message, "not loaded") {
				t.Errorf("%s: message %q does not say what is missing", step, e.Message)
			}
			refusals++
			if got := h.refusals(id); got != refusals {
				t.Errorf("%s: refusal audit rows: got %d, want %d", step, got, refusals)
			}
			if got := h.decisionRows(id); got != 0 {
				t.Fatalf("%s: decision rows: got %d, want 0", step, got)
			}
		}
		refuse("nothing seen")
		// The page's view reads the data.
		if _, err := h.svc.View(ctx, agent, id, false); err != nil {
			t.Fatal(err)
		}
		if got := h.readiness(t, agent, id, seq); !slices.Equal(got, images) {
			t.Errorf("readiness after the view: got %v, want %v", got, images)
		}
		// The video is not required, and does not stand in for an image.
		if err := h.serve(agent, id, store.EvidenceVideo); err != nil {
			t.Fatal(err)
		}
		if got := h.readiness(t, agent, id, seq); !slices.Equal(got, images) {
			t.Errorf("readiness after the video: got %v, want %v", got, images)
		}
		for i, k := range images {
			refuse("before " + string(k))
			if err := h.serve(agent, id, k); err != nil {
				t.Fatal(err)
			}
			if got := h.readiness(t, agent, id, seq); !slices.Equal(got, images[i+1:]) {
				t.Errorf("readiness after %s: got %v, want %v", k, got, images[i+1:])
			}
		}
		d, err := h.svc.Decide(ctx, agent, acceptOn(id, seq))
		if err != nil {
			t.Fatal(err)
		}
		h.deliverAll()
		h.checkDeliveredOnce(d)
	})
	t.Run("a passport has no back to see", func(t *testing.T) {
		id := h.inReviewDoc(sandbox.DocPassport)
		seq := h.claim(agent, id)
		want := []store.EvidenceKind{store.ProcessData, store.EvidenceDocumentFront, store.EvidenceFaceDocument, store.EvidenceFaceNow}
		if got := h.readiness(t, agent, id, seq); !slices.Equal(got, want) {
			t.Errorf("readiness: got %v, want %v", got, want)
		}
		h.see(agent, id)
		if _, err := h.svc.Decide(ctx, agent, acceptOn(id, seq)); err != nil {
			t.Errorf("accept: %v", err)
		}
	})
	t.Run("a reject needs nothing seen", func(t *testing.T) {
		id := h.inReviewClean(1)[0]
		in := h.rejectWith(id, "unreadable")
		in.ClaimSeq = h.claim(agent, id)
		if _, err := h.svc.Decide(ctx, agent, in); err != nil {
			t.Errorf("reject: %v", err)
		}
	})
	t.Run("claiming again in another tab keeps what was seen", func(t *testing.T) {
		id := h.inReviewClean(1)[0]
		h.ready(agent, id)
		seq := h.claim(agent, id)
		if got := h.readiness(t, agent, id, seq); len(got) != 0 {
			t.Errorf("readiness in the new tab: got %v, want nothing (the same claim)", got)
		}
		if _, err := h.svc.Decide(ctx, agent, acceptOn(id, seq)); err != nil {
			t.Errorf("accept: %v", err)
		}
	})
	t.Run("a new claim starts afresh", func(t *testing.T) {
		id := h.inReviewClean(1)[0]
		old := h.ready(agent, id)
		if err := h.svc.Release(ctx, agent, id, old); err != nil {
			t.Fatal(err)
		}
		h.clk.Add(time.Second)
		seq := h.claim(agent, id)
		if got := h.readiness(t, agent, id, seq); len(got) != 1+len(h.get(id).Images()) {
			t.Errorf("readiness of the new claim: got %v, want the data and every image", got)
		}
		_, err := h.svc.Decide(ctx, agent, acceptOn(id, seq))
		wantCode(t, err, review.CodeConflict)
	})
	t.Run("after a takeover the served set starts empty", func(t *testing.T) {
		id := h.inReviewClean(1)[0]
		seq := h.ready(agent, id)
		h.clk.Add(time.Second)
		took, err := h.svc.Claim(ctx, other, id, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.readiness(t, other, id, took.ClaimSeq); len(got) != 1+len(h.get(id).Images()) {
			t.Errorf("readiness of the new holder: got %v, want the data and every image", got)
		}
		_, err = h.svc.Readiness(ctx, agent, id, seq)
		wantCode(t, err, review.CodeConflict)
		_, err = h.svc.Decide(ctx, other, acceptOn(id, took.ClaimSeq))
		wantCode(t, err, review.CodeConflict)
		h.see(other, id)
		if _, err := h.svc.Decide(ctx, other, acceptOn(id, took.ClaimSeq)); err != nil {
			t.Errorf("accept by the new holder after seeing everything: %v", err)
		}
	})
	_, err := h.svc.Readiness(ctx, agent, "not-indexed", 1)
	wantCode(t, err, review.CodeNotFound)
	h.verifyAudit()
}

// TestEvidenceAccessIsAudited is L4 and P1: outside the viewer's own live claim every
// access is one audit row; inside it, one per kind; evidence of a type that is not
// allowed is never served nor recorded.
func TestEvidenceAccessIsAudited(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{cfg: review.Config{ClaimTTL: 2 * time.Minute}})
	ctx := context.Background()
	agent, other := h.actor, h.newAgent("other")
	id := h.inReviewDoc(sandbox.DocIDCard)
	views := func() []store.AuditEvent { return h.audits("evidence.view", id) }
	serve := func(a store.Actor, k store.EvidenceKind, times int) {
		t.Helper()
		for range times {
			if err := h.serve(a, id, k); err != nil {
				t.Fatalf("%s: %v", k, err)
			}
		}
	}
	check := func(step string, want int, outside bool) {
		t.Helper()
		rows := views()
		if len(rows) != want {
			t.Fatalf("%s: got %d evidence.view rows, want %d", step, len(rows), want)
		}
		if newest := rows[0]; strings.Contains(newest.Detail, "outside") != outside {
			t.Errorf("%s: newest row %q, want outside the claim %v", step, newest.Detail, outside)
		}
	}

	serve(agent, store.EvidenceDocumentFront, 2)
	check("twice without a claim", 2, true)
	seq := h.claim(agent, id)
	serve(agent, store.EvidenceDocumentFront, 3)
	check("three times inside the claim", 3, false)
	serve(agent, store.EvidenceDocumentBack, 2)
	serve(agent, store.EvidenceVideo, 2)
	check("two more kinds, twice each, inside the claim", 5, false)
	if _, err := h.svc.Info(ctx, agent, id, false); err != nil {
		t.Fatal(err)
	}
	check("the process data is no evidence view", 5, false)
	serve(agent, store.EvidenceZIP, 2)
	check("the ZIP twice inside the claim", 6, false)
	if rows := views(); !strings.Contains(rows[0].Detail, "zip") || rows[0].ActorID != agent.UserID {
		t.Errorf("ZIP row: got %+v, want the agent's, naming the ZIP", rows[0])
	}
	serve(other, store.EvidenceDocumentFront, 2)
	check("another agent while the claim is held", 8, true)
	if rows := views(); rows[0].ActorID != other.UserID {
		t.Errorf("newest row by %d, want the other agent %d", rows[0].ActorID, other.UserID)
	}
	h.clk.Add(3 * time.Minute)
	serve(agent, store.EvidenceDocumentBack, 2)
	check("the agent after the claim lapsed", 10, true)
	if _, err := h.svc.Heartbeat(ctx, agent, id, seq); err != nil {
		t.Fatal(err)
	}
	serve(agent, store.EvidenceDocumentBack, 1)
	check("the same claim renewed: seen already", 10, true)

	t.Run("content types are passed on", func(t *testing.T) {
		for _, tc := range []struct {
			kind store.EvidenceKind
			want string
		}{
			{store.EvidenceFaceNow, sandbox.ImageContentType},
			{store.EvidenceVideo, sandbox.VideoContentType},
		} {
			ev, mediaType, err := h.svc.Evidence(ctx, agent, id, tc.kind, "")
			if err != nil {
				t.Fatal(err)
			}
			ev.Body.Close()
			if mediaType != tc.want {
				t.Errorf("%s: media type %q, want %q", tc.kind, mediaType, tc.want)
			}
		}
	})
	t.Run("a type that is not allowed is neither served nor recorded", func(t *testing.T) {
		before := len(views())
		h.fault(sandbox.RouteImage, sandbox.Fault{Kind: sandbox.FaultMalformed, Count: 1}) // 200, application/json
		ev, _, err := h.svc.Evidence(ctx, agent, id, store.EvidenceFaceDocument, "")
		if ev != nil {
			ev.Body.Close()
			t.Error("served")
		}
		wantCode(t, err, review.CodeBadGateway)
		if got := len(views()); got != before {
			t.Errorf("evidence.view rows: got %d, want %d", got, before)
		}
		if got := h.readiness(t, agent, id, seq); !slices.Contains(got, store.EvidenceFaceDocument) {
			t.Errorf("readiness: got %v, want the portrait still missing", got)
		}
	})
	t.Run("evidence the process does not have", func(t *testing.T) {
		passport := h.inReviewDoc(sandbox.DocPassport)
		_, _, err := h.svc.Evidence(ctx, agent, passport, store.EvidenceDocumentBack, "")
		wantCode(t, err, review.CodeNotFound)
		if rows := h.audits("evidence.view", passport); len(rows) != 0 {
			t.Errorf("evidence.view rows: got %d, want 0", len(rows))
		}
	})
	h.verifyAudit()
}
