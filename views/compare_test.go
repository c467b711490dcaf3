package views

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/a-h/templ"

	"github.com/mobbscan-review/portal/i18n"
)

func renderCompare(t *testing.T, lang i18n.Lang, c templ.Component) string {
	t.Helper()
	var b bytes.Buffer
	ctx := i18n.With(context.Background(), i18n.Locale{Lang: lang})
	if err := c.Render(ctx, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var compareFaces = CompareView{
	Portrait: EvidenceItem{Kind: "face_document", Label: "Document portrait", URL: "/processes/p1/evidence/face_document", Present: true},
	Selfie:   EvidenceItem{Kind: "face_now", Label: "Live selfie", URL: "/processes/p1/evidence/face_now", Present: true},
}

func TestFaceCompare(t *testing.T) {
	html := renderCompare(t, i18n.EN, FaceCompare(compareFaces))
	for _, want := range []string{
		`data-testid="faces"`,
		`<img class="cmp-img" src="/processes/p1/evidence/face_document" alt="Document portrait" data-testid="evidence-face_document"`,
		`<img class="cmp-img" src="/processes/p1/evidence/face_now" alt="Live selfie" data-testid="evidence-face_now"`,
		`data-cmp-mode="overlay" data-testid="cmp-mode-overlay" aria-pressed="false" aria-keyshortcuts="o">`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("missing %s in\n%s", want, html)
		}
	}
	// Each image once: the modes move the same two images.
	if n := strings.Count(html, "<img"); n != 2 {
		t.Errorf("%d images, want 2", n)
	}
	if strings.Contains(html, "style=") || strings.Contains(html, "<script") {
		t.Errorf("inline style or script (CSP)")
	}
	// Every control has a name: a text or an aria-label.
	for _, b := range regexp.MustCompile(`<button[^>]*>([^<]*)</button>`).FindAllStringSubmatch(html, -1) {
		if !strings.Contains(b[0], "aria-label=") && strings.TrimSpace(b[1]) == "" {
			t.Errorf("button without a name: %s", b[0])
		}
	}

	one := compareFaces
	one.Selfie.Present = false
	html = renderCompare(t, i18n.EN, FaceCompare(one))
	if strings.Count(html, "<img") != 1 || !strings.Contains(html, "Not available for this process: Live selfie.") {
		t.Errorf("one face: want the portrait and a note, got\n%s", html)
	}
	if !regexp.MustCompile(`data-cmp-mode="blink"[^>]*disabled`).MatchString(html) {
		t.Errorf("one face: blink not disabled")
	}
	none := CompareView{Portrait: EvidenceItem{Label: "Document portrait", Kind: "face_document"}, Selfie: EvidenceItem{Label: "Live selfie", Kind: "face_now"}}
	html = renderCompare(t, i18n.EN, FaceCompare(none))
	if strings.Contains(html, "<img") || strings.Contains(html, "cmp-toolbar") || strings.Count(html, "Not available") != 2 {
		t.Errorf("no face: want two notes and no tools, got\n%s", html)
	}
}

func TestVideoPlayer(t *testing.T) {
	v := EvidenceItem{Kind: "video_liveness", Label: "Liveness video", URL: "/processes/p1/evidence/video_liveness", Present: true}
	html := renderCompare(t, i18n.EN, VideoPlayer(v))
	for _, want := range []string{
		`<video id="liveness-video" controls preload="metadata" src="/processes/p1/evidence/video_liveness" data-testid="evidence-video_liveness"`,
		`data-cmp-rate="0.25"`, `data-cmp-rate="2"`, `>1.5×</button>`,
		`aria-keyshortcuts="["`, `aria-keyshortcuts="l"`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("missing %s in\n%s", want, html)
		}
	}
	if n := strings.Count(html, `aria-pressed="true"`); n != 1 || !strings.Contains(html, `data-cmp-rate="1" data-testid="cmp-rate-1" aria-pressed="true"`) {
		t.Errorf("want 1× alone pressed at start")
	}
	es := renderCompare(t, i18n.ES, VideoPlayer(v))
	if !strings.Contains(es, ">0,25×</button>") || !strings.Contains(es, "Inicio del bucle") || !strings.Contains(es, `data-lang="es"`) {
		t.Errorf("Spanish player:\n%s", es)
	}
	v.Present = false
	if html := renderCompare(t, i18n.ES, VideoPlayer(v)); !strings.Contains(html, "No hay vídeo en este proceso.") || strings.Contains(html, "<video") {
		t.Errorf("no video, Spanish:\n%s", html)
	}
}

func TestCompareShortcuts(t *testing.T) {
	html := renderCompare(t, i18n.EN, CompareShortcuts())
	// The keys compare.js acts on, each listed.
	for _, k := range []string{"+", "-", "0", "o", "b", "p", "&lt;", "&gt;", ",", ".", "[", "]", "l"} {
		if !strings.Contains(html, "<kbd>"+k+"</kbd>") {
			t.Errorf("key %s not listed", k)
		}
	}
	// None of the keys app.js already uses.
	for _, k := range []string{"j", "k", "n", "a", "r", "s", "e", "?"} {
		if strings.Contains(html, "<kbd>"+k+"</kbd>") {
			t.Errorf("key %s is app.js's", k)
		}
	}
	if strings.Count(html, "<tr>") != 10 {
		t.Errorf("want 10 rows:\n%s", html)
	}
	es := renderCompare(t, i18n.ES, CompareShortcuts())
	if !strings.Contains(es, "Acercar / alejar las caras") {
		t.Errorf("Spanish rows:\n%s", es)
	}
}
