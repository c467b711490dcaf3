package handlers_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/store"
)

// evidencePath is the portal URL of one evidence item.
func evidencePath(id, kind string) string { return "/processes/" + id + "/evidence/" + kind }

// wantEvidenceHeaders checks P1's headers on an evidence answer whose gateway sent a
// Content-Length.
func wantEvidenceHeaders(t *testing.T, r *response, contentType, what string) {
	t.Helper()
	wantEvidenceHeadersLength(t, r, contentType, strconv.Itoa(len(r.Body)), what)
}

// wantEvidenceHeadersLength checks P1's headers and the Content-Length passed through
// ("" when the gateway sent none).
func wantEvidenceHeadersLength(t *testing.T, r *response, contentType, length, what string) {
	t.Helper()
	for k, want := range map[string]string{
		"Content-Type":                 contentType,
		"Cache-Control":                "no-store",
		"X-Content-Type-Options":       "nosniff",
		"Cross-Origin-Resource-Policy": "same-origin",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("%s: %s %q, want %q", what, k, got, want)
		}
	}
	if got := r.Header.Get("Content-Length"); got != length {
		t.Errorf("%s: Content-Length %q, want %q (the gateway's)", what, got, length)
	}
}

// TestEvidenceImages: each image is streamed from the gateway byte for byte with its
// content type and length, no-store and nosniff (P1).
func TestEvidenceImages(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	id := g.seedReview(1, sandbox.SeedSpec{DocType: sandbox.DocIDCard})[0] // an ID card has a back
	g.ingest(id)
	if r := g.agentB.get("/processes/" + id); r.Code != http.StatusOK {
		t.Fatalf("open process: %s", r)
	}
	for _, kind := range []string{sandbox.EvidenceDocumentFront, sandbox.EvidenceDocumentBack, sandbox.EvidenceFaceDocument, sandbox.EvidenceFaceNow} {
		t.Run(kind, func(t *testing.T) {
			want, err := g.sb.Image(id, kind)
			if err != nil {
				t.Fatal(err)
			}
			r := g.agentB.get(evidencePath(id, kind), header{"Sec-Fetch-Site", "same-origin"}, header{"Range", "bytes=0-9"})
			if r.Code != http.StatusOK {
				t.Fatalf("got %s, want 200 (Range is for video only)", r)
			}
			wantEvidenceHeaders(t, r, sandbox.ImageContentType, kind)
			if !bytes.Equal([]byte(r.Body), want) {
				t.Errorf("body: %d bytes, want the gateway's %d bytes", len(r.Body), len(want))
			}
			if got := r.Header.Get("Content-Disposition"); got != "inline" {
				t.Errorf("Content-Disposition %q, want inline", got)
			}
		})
	}
}

// TestEvidenceVideoAndZIP: the video supports Range (206 with Content-Range), the ZIP
// is an attachment named after the process.
func TestEvidenceVideoAndZIP(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	id := g.reviewable(1)[0]
	g.agentB.get("/processes/" + id)

	direct, err := g.client.Evidence(context.Background(), id, sandbox.EvidenceVideoLiveness, "")
	if err != nil {
		t.Fatal(err)
	}
	video, err := io.ReadAll(direct.Body)
	direct.Body.Close()
	if err != nil {
		t.Fatal(err)
	}

	r := g.agentB.get(evidencePath(id, sandbox.EvidenceVideoLiveness))
	if r.Code != http.StatusOK || !bytes.Equal([]byte(r.Body), video) {
		t.Fatalf("whole video: status %d, %d bytes; want 200 with the gateway's %d bytes", r.Code, len(r.Body), len(video))
	}
	wantEvidenceHeaders(t, r, sandbox.VideoContentType, "whole video")
	if got := r.Header.Get("Accept-Ranges"); got != "bytes" {
		t.Errorf("Accept-Ranges %q, want bytes", got)
	}

	tests := []struct {
		rng        string
		from, to   int
		wantStatus int
	}{
		{"bytes=0-99", 0, 99, http.StatusPartialContent},
		{"bytes=100-199", 100, 199, http.StatusPartialContent},
		{"bytes=-50", len(video) - 50, len(video) - 1, http.StatusPartialContent},
	}
	for _, tt := range tests {
		t.Run(tt.rng, func(t *testing.T) {
			r := g.agentB.get(evidencePath(id, sandbox.EvidenceVideoLiveness), header{"Range", tt.rng})
			if r.Code != tt.wantStatus {
				t.Fatalf("got %s, want %d", r, tt.wantStatus)
			}
			wantEvidenceHeaders(t, r, sandbox.VideoContentType, tt.rng)
			wantRange := "bytes " + strconv.Itoa(tt.from) + "-" + strconv.Itoa(tt.to) + "/" + strconv.Itoa(len(video))
			if got := r.Header.Get("Content-Range"); got != wantRange {
				t.Errorf("Content-Range %q, want %q", got, wantRange)
			}
			if !bytes.Equal([]byte(r.Body), video[tt.from:tt.to+1]) {
				t.Errorf("body: %d bytes, want bytes %d-%d of the video", len(r.Body), tt.from, tt.to)
			}
		})
	}

	directZIP, err := g.client.ZIP(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	directZIP.Body.Close()
	zipLength := ""
	if directZIP.ContentLength >= 0 {
		zipLength = strconv.FormatInt(directZIP.ContentLength, 10)
	}
	r = g.agentB.get("/processes/" + id + "/evidence.zip")
	if r.Code != http.StatusOK {
		t.Fatalf("zip: got %s, want 200", r)
	}
	wantEvidenceHeadersLength(t, r, "application/zip", zipLength, "zip")
	if got, want := r.Header.Get("Content-Disposition"), `attachment; filename=`+id+`.zip`; got != want && got != `attachment; filename="`+id+`.zip"` {
		t.Errorf("Content-Disposition %q, want %q", got, want)
	}
	if !strings.HasPrefix(r.Body, "PK") {
		t.Errorf("zip body does not start with PK: %.10q", r.Body)
	}
}

// TestEvidenceRefusals: unknown kinds and processes are 404, requests from other sites
// 403, anonymous ones go to sign in; none reaches the gateway or the audit trail as a
// view.
func TestEvidenceRefusals(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	id := g.reviewable(1)[0]
	g.agentB.get("/processes/" + id)
	front := evidencePath(id, sandbox.EvidenceDocumentFront)
	tests := []struct {
		name   string
		b      *browser
		path   string
		hs     []header
		want   int
		denied bool // an access.denied row is written
	}{
		{"unknown kind", g.agentB, evidencePath(id, "passport_scan"), nil, http.StatusNotFound, false},
		{"kind in other case", g.agentB, evidencePath(id, "DOCUMENT_FRONT"), nil, http.StatusNotFound, false},
		{"unknown process", g.agentB, evidencePath("no-such-process", sandbox.EvidenceDocumentFront), nil, http.StatusNotFound, true},
		{"unknown process zip", g.agentB, "/processes/no-such-process/evidence.zip", nil, http.StatusNotFound, true},
		{"cross-site", g.agentB, front, []header{{"Sec-Fetch-Site", "cross-site"}}, http.StatusForbidden, false},
		{"same-site (another origin)", g.agentB, front, []header{{"Sec-Fetch-Site", "same-site"}}, http.StatusForbidden, false},
		{"cross-site zip", g.agentB, "/processes/" + id + "/evidence.zip", []header{{"Sec-Fetch-Site", "cross-site"}}, http.StatusForbidden, false},
		{"cross-site unknown process", g.agentB, evidencePath("no-such-process", sandbox.EvidenceDocumentFront), []header{{"Sec-Fetch-Site", "cross-site"}}, http.StatusForbidden, false},
		{"anonymous", g.browser(), front, nil, http.StatusSeeOther, false},
		{"anonymous zip", g.browser(), "/processes/" + id + "/evidence.zip", nil, http.StatusSeeOther, false},
	}
	imgs := g.sb.Stats().Requests[sandbox.RouteImage] + g.sb.Stats().Requests[sandbox.RouteZip]
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			denied := g.countAudit("access.denied", "")
			r := tt.b.get(tt.path, tt.hs...)
			if r.Code != tt.want {
				t.Fatalf("got %s, want %d", r, tt.want)
			}
			if tt.want == http.StatusSeeOther && !strings.HasPrefix(r.location(), "/login") {
				t.Errorf("anonymous: Location %q, want the sign-in page", r.location())
			}
			if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "image/") || strings.HasPrefix(ct, "application/zip") {
				t.Errorf("refusal served evidence (%s)", ct)
			}
			if got := g.countAudit("access.denied", "") - denied; got != map[bool]int{true: 1}[tt.denied] {
				t.Errorf("access.denied rows written: %d, want %d", got, map[bool]int{true: 1}[tt.denied])
			}
		})
	}
	if got := g.sb.Stats().Requests[sandbox.RouteImage] + g.sb.Stats().Requests[sandbox.RouteZip]; got != imgs {
		t.Errorf("gateway evidence requests during refusals: %d, want 0", got-imgs)
	}
	if got := g.countAudit("evidence.view", ""); got != 0 {
		t.Errorf("evidence.view rows after refusals: %d, want 0", got)
	}
}

// TestEvidenceAudit: inside the viewer's own live claim a view is audited once per
// kind; every access outside it is audited, each time (L1, L4).
func TestEvidenceAudit(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	id := g.seedReview(1, sandbox.SeedSpec{DocType: sandbox.DocIDCard})[0]
	g.ingest(id)
	g.agentB.post("/processes/"+id+"/claim", nil)
	steps := []struct {
		name string
		b    *browser
		kind string
		want int // evidence.view rows after the step
	}{
		{"front", g.agentB, sandbox.EvidenceDocumentFront, 1},
		{"front again", g.agentB, sandbox.EvidenceDocumentFront, 1},
		{"back", g.agentB, sandbox.EvidenceDocumentBack, 2},
		{"video", g.agentB, sandbox.EvidenceVideoLiveness, 3},
		{"video again (seek)", g.agentB, sandbox.EvidenceVideoLiveness, 3},
		{"another agent, front", g.agent2B, sandbox.EvidenceDocumentFront, 4},
		{"another agent, front again", g.agent2B, sandbox.EvidenceDocumentFront, 5},
	}
	for _, s := range steps {
		if r := s.b.get(evidencePath(id, s.kind)); r.Code != http.StatusOK {
			t.Fatalf("%s: got %s, want 200", s.name, r)
		}
		if got := g.countAudit("evidence.view", store.OutcomeSuccess); got != s.want {
			t.Errorf("%s: evidence.view rows %d, want %d", s.name, got, s.want)
		}
	}
	ev := g.audit("evidence.view")
	if last := ev[len(ev)-1]; last.ObjectID != id || last.Detail != sandbox.EvidenceDocumentFront+"; outside the viewer's own claim" || last.ActorID != g.agent2.ID {
		t.Errorf("last evidence.view: object %q, detail %q, actor %d; want %q, %q outside the claim, %d", last.ObjectID, last.Detail, last.ActorID, id, sandbox.EvidenceDocumentFront, g.agent2.ID)
	}
	// A new claim is a new review: viewing again is audited again.
	g.agentB.post("/processes/"+id+"/release", nil)
	g.clock.Advance(time.Second)
	g.agentB.post("/processes/"+id+"/claim", nil)
	g.agentB.get(evidencePath(id, sandbox.EvidenceDocumentFront))
	if got := g.countAudit("evidence.view", store.OutcomeSuccess); got != 6 {
		t.Errorf("evidence.view rows after a new claim: %d, want 6", got)
	}
	if r := g.agentB.get("/processes/" + id + "/evidence.zip"); r.Code != http.StatusOK {
		t.Fatalf("zip: %s", r)
	}
	if got := g.countAudit("evidence.view", store.OutcomeSuccess); got != 7 {
		t.Errorf("evidence.view rows after the zip: %d, want 7", got)
	}
	// Downloads of a decided process's ZIP are audited every time (L4).
	g.agentB.post("/processes/"+id+"/release", nil)
	for i := range 3 {
		if r := g.agent2B.get("/processes/" + id + "/evidence.zip"); r.Code != http.StatusOK {
			t.Fatalf("zip outside a claim: %s", r)
		}
		if got := g.countAudit("evidence.view", store.OutcomeSuccess); got != 8+i {
			t.Errorf("evidence.view rows after zip download %d outside a claim: %d, want %d", i+1, got, 8+i)
		}
	}
}

// TestEvidenceContentTypeAllowList: a gateway answering a type outside the allow-list
// for the kind is refused with 502 and nothing is shown or audited as viewed (P1).
func TestEvidenceContentTypeAllowList(t *testing.T) {
	t.Parallel()
	var imageType, zipType atomic.Pointer[string]
	g := newGateway(t, withGatewayWrapper(func(next http.Handler) http.Handler {
		return contentTypeRewriter("/image/", &imageType)(contentTypeRewriter("/api/zip/", &zipType)(next))
	}))
	id := g.reviewable(1)[0]
	g.agentB.get("/processes/" + id)
	tests := []struct {
		name string
		ct   *atomic.Pointer[string]
		path string
		typ  string
		want int
	}{
		{"html as an image", &imageType, evidencePath(id, sandbox.EvidenceFaceNow), "text/html; charset=utf-8", http.StatusBadGateway},
		{"svg as an image", &imageType, evidencePath(id, sandbox.EvidenceFaceNow), "image/svg+xml", http.StatusBadGateway},
		{"octet-stream", &imageType, evidencePath(id, sandbox.EvidenceFaceNow), "application/octet-stream", http.StatusBadGateway},
		{"no content type", &imageType, evidencePath(id, sandbox.EvidenceFaceNow), "", http.StatusBadGateway},
		{"garbage content type", &imageType, evidencePath(id, sandbox.EvidenceFaceNow), "image/", http.StatusBadGateway},
		{"video type on an image", &imageType, evidencePath(id, sandbox.EvidenceFaceNow), "video/webm", http.StatusBadGateway},
		{"html as the zip", &zipType, "/processes/" + id + "/evidence.zip", "text/html", http.StatusBadGateway},
		{"png is allowed", &imageType, evidencePath(id, sandbox.EvidenceFaceNow), "image/png", http.StatusOK},
		{"jpeg with a parameter", &imageType, evidencePath(id, sandbox.EvidenceFaceNow), "IMAGE/JPEG; q=1", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ := tt.typ
			tt.ct.Store(&typ)
			defer tt.ct.Store(nil)
			views := g.countAudit("evidence.view", "")
			r := g.agentB.get(tt.path)
			if r.Code != tt.want {
				t.Fatalf("got %s, want %d", r, tt.want)
			}
			if tt.want != http.StatusOK {
				if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
					t.Errorf("refusal Content-Type %q, want the HTML error page", ct)
				}
				if strings.Contains(r.Body, "\xff\xd8") || strings.HasPrefix(r.Body, "PK") {
					t.Errorf("refusal carries the evidence bytes")
				}
				if got := g.countAudit("evidence.view", ""); got != views {
					t.Errorf("evidence.view rows: %d, want %d (nothing was shown)", got, views)
				}
			}
		})
	}
}

// TestEvidenceGatewayProblems: a gateway that is down is a 503 with Retry-After; a
// process without evidence at the gateway is a 404.
func TestEvidenceGatewayProblems(t *testing.T) {
	t.Parallel()
	g := newGateway(t, withClientTimeouts(300*time.Millisecond, time.Second))
	id := g.reviewable(1)[0]
	g.agentB.get("/processes/" + id)
	for _, kind := range []sandbox.FaultKind{sandbox.FaultUnavailable, sandbox.FaultServerError, sandbox.FaultReset, sandbox.FaultLatency} {
		t.Run(string(kind), func(t *testing.T) {
			g.fault(sandbox.RouteImage, sandbox.Fault{Kind: kind, Latency: map[bool]time.Duration{true: time.Minute}[kind == sandbox.FaultLatency]})
			defer g.sb.ClearFault(sandbox.RouteImage)
			r := g.agentB.get(evidencePath(id, sandbox.EvidenceFaceNow))
			wantPage(t, r, http.StatusServiceUnavailable, "evidence with the gateway down")
			if got := r.Header.Get("Retry-After"); got == "" {
				t.Errorf("no Retry-After")
			}
		})
	}
	if got := g.countAudit("evidence.view", ""); got != 0 {
		t.Errorf("evidence.view rows: %d, want 0", got)
	}

	// A process whose customer has not finished has no evidence yet.
	ids, err := g.sb.Seed(sandbox.SeedSpec{Count: 1, States: []string{"CREATED"}, Silent: true})
	if err != nil {
		t.Fatal(err)
	}
	if r := g.agentB.post("/processes/track", formOf("id", ids[0])); r.Code != http.StatusSeeOther {
		t.Fatalf("track: %s", r)
	}
	if r := g.agentB.get(evidencePath(ids[0], sandbox.EvidenceFaceNow)); r.Code != http.StatusNotFound {
		t.Errorf("evidence of an unfinished process: got %s, want 404", r)
	}
}
