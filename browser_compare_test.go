package main

// The comparison tools (issue 12, item 2) in a real browser: the faces' linked zoom and
// pan, overlay and blink, brightness and contrast; the video's speed, frame step and loop
// of a range; their keyboard shortcuts. A small server renders the components inside the
// portal's layout, with the portal's static files and Content-Security-Policy.

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/static"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

// The portal's policy (handlers/middleware.go): a violation by compare.js or compare.css
// fails the test.
const compareCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; " +
	"connect-src 'self'; form-action 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// compareHooks runs before the page's scripts (DevTools-injected, outside the CSP).
const compareHooks = `
window.__cmp = { csp: [], looped: 0 };
document.addEventListener("securitypolicyviolation", function (e) {
	window.__cmp.csp.push(e.violatedDirective + " " + e.blockedURI);
});
document.addEventListener("compare:looped", function () { window.__cmp.looped++; });
`

type compareServer struct {
	*httptest.Server
	mu   sync.Mutex
	hits map[string]int
}

func (s *compareServer) hitsOf(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func cmpPNG(w, h int, c color.RGBA) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			// A diagonal band so a zoom or pan is visible to a person watching.
			if (x+y)/20%2 == 0 {
				img.Set(x, y, c)
			} else {
				img.Set(x, y, color.RGBA{240, 240, 240, 255})
			}
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

func startCompareServer(t *testing.T) *compareServer {
	t.Helper()
	video, err := os.ReadFile("mobbscan/sandbox/assets/liveness.webm")
	if err != nil {
		t.Fatal(err)
	}
	portrait := cmpPNG(240, 300, color.RGBA{31, 95, 191, 255})
	selfie := cmpPNG(480, 360, color.RGBA{179, 38, 30, 255})
	cv := views.CompareView{
		Portrait: views.EvidenceItem{Kind: "face_document", Label: "Document portrait", URL: "/evidence/portrait.png", Present: true},
		Selfie:   views.EvidenceItem{Kind: "face_now", Label: "Live selfie", URL: "/evidence/selfie.png", Present: true},
	}
	vid := views.EvidenceItem{Kind: "video_liveness", Label: "Liveness video", URL: "/evidence/liveness.webm", Present: true}

	s := &compareServer{hits: map[string]int{}}
	mux := http.NewServeMux()
	mux.Handle("/static/", http.StripPrefix("/static/", static.Handler()))
	evidence := func(body []byte, ctype string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			s.hits[r.URL.Path]++
			s.mu.Unlock()
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Content-Type", ctype)
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
		}
	}
	mux.Handle("/evidence/portrait.png", evidence(portrait, "image/png"))
	mux.Handle("/evidence/selfie.png", evidence(selfie, "image/png"))
	mux.Handle("/evidence/liveness.webm", evidence(video, "video/webm"))
	render := func(lang i18n.Lang, c views.CompareView, v views.EvidenceItem) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			ctx := i18n.With(r.Context(), i18n.Locale{Lang: lang})
			body := templ.Join(
				views.FaceCompare(c),
				// A text field: shortcuts never fire while typing.
				templ.ComponentFunc(func(ctx context.Context, w2 io.Writer) error {
					_, err := fmt.Fprint(w2, `<p><label for="typing">Notes</label> <input type="text" id="typing"></p>`)
					return err
				}),
				views.VideoPlayer(v),
			)
			var buf bytes.Buffer
			if err := views.Layout(views.Page{Title: "Compare", User: &views.NavUser{Name: "Ana Agent", Role: "agent"}, CaseTools: true}).Render(templ.WithChildren(ctx, body), &buf); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Security-Policy", compareCSP)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(buf.Bytes())
		}
	}
	mux.Handle("/{$}", render(i18n.EN, cv, vid))
	mux.Handle("/es", render(i18n.ES, cv, vid))
	one := cv
	one.Portrait.Present = false
	mux.Handle("/one", render(i18n.EN, one, views.EvidenceItem{Kind: "video_liveness", Label: "Liveness video"}))
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func cmpOpen(t *testing.T, browser context.Context, url string) context.Context {
	t.Helper()
	ctx := newProfile(t, browser)
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: compareHooks}); err != nil {
		t.Fatalf("install hooks: %v", err)
	}
	step(t, ctx, "open "+url, chromedp.Navigate(url), chromedp.WaitReady(`[data-testid=face-compare]`))
	return ctx
}

// js evaluates an expression in the tab.
func cmpJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	return value(t, ctx, expr, chromedp.Evaluate[T](expr))
}

// faceTransforms returns the computed transform of the portrait and the selfie.
func cmpTransforms(t *testing.T, ctx context.Context) (string, string) {
	t.Helper()
	tr := cmpJS[[]string](t, ctx, `["face_document", "face_now"].map(function (k) {
		return getComputedStyle(document.querySelector("[data-testid=evidence-" + k + "]")).transform; })`)
	return tr[0], tr[1]
}

func cmpPressed(t *testing.T, ctx context.Context, testid string) string {
	t.Helper()
	return cmpJS[string](t, ctx, fmt.Sprintf(`document.querySelector("[data-testid='%s']").getAttribute("aria-pressed")`, testid))
}

func TestBrowserCompareFaces(t *testing.T) {
	srv := startCompareServer(t)
	browser := newBrowser(t)
	ctx := cmpOpen(t, browser, srv.URL+"/")
	poll(t, ctx, "both faces loaded", `Array.from(document.querySelectorAll("[data-testid=faces] img")).every(function (i) { return i.complete && i.naturalWidth > 0; })`)

	p, s := cmpTransforms(t, ctx)
	if p != "none" && p != "matrix(1, 0, 0, 1, 0, 0)" || p != s {
		t.Fatalf("at rest: transforms %q and %q, want none", p, s)
	}

	// "+" zooms both faces by the same step.
	step(t, ctx, "+", chromedp.KeyEvent("+"))
	p, s = cmpTransforms(t, ctx)
	if p != "matrix(1.25, 0, 0, 1.25, 0, 0)" || s != p {
		t.Errorf("after +: transforms %q and %q, want both scaled 1.25", p, s)
	}
	if z := cmpJS[string](t, ctx, `document.querySelector("[data-testid=cmp-zoom-level]").textContent`); z != "125 %" {
		t.Errorf("zoom level %q, want 125 %%", z)
	}

	// Dragging the portrait pans both.
	type box struct{ X, Y float64 }
	c := cmpJS[box](t, ctx, `(function () { var r = document.querySelector("[data-cmp-pane=portrait] .cmp-frame").getBoundingClientRect();
		return {X: r.left + r.width / 2, Y: r.top + r.height / 2}; })()`)
	left := func(p *input.DispatchMouseEventParams) {
		p.Button = input.MouseButtonLeft
		p.Buttons = 1
		p.ClickCount = 1
	}
	held := func(p *input.DispatchMouseEventParams) { p.Buttons = 1 }
	step(t, ctx, "drag",
		chromedp.MouseEvent(chromedp.MouseMoved, c.X, c.Y),
		chromedp.MouseEvent(chromedp.MousePressed, c.X, c.Y, left),
		chromedp.MouseEvent(chromedp.MouseMoved, c.X+10, c.Y+5, held),
		chromedp.MouseEvent(chromedp.MouseMoved, c.X+20, c.Y+10, held),
		chromedp.MouseEvent(chromedp.MouseReleased, c.X+20, c.Y+10, left),
	)
	p, s = cmpTransforms(t, ctx)
	if p != "matrix(1.25, 0, 0, 1.25, 20, 10)" || s != p {
		t.Errorf("after dragging by 20,10: transforms %q and %q, want both translated 20,10", p, s)
	}

	// The wheel zooms both, keeping the point under the pointer.
	step(t, ctx, "wheel", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseWheel, c.X, c.Y, func(p *input.DispatchMouseEventParams) {
		p.DeltaY = -100
		p.DeltaX = 1e-9 // the protocol wants both deltas; a zero would be left out of the JSON
	}))
	p, s = cmpTransforms(t, ctx)
	if p == "matrix(1.25, 0, 0, 1.25, 20, 10)" || s != p {
		t.Errorf("after the wheel: transforms %q and %q, want both zoomed further", p, s)
	}
	// Arrow keys pan when the faces have focus.
	step(t, ctx, "focus the faces", chromedp.Focus(`[data-testid=faces]`), chromedp.KeyEvent(kb.ArrowRight))
	p2, s2 := cmpTransforms(t, ctx)
	if p2 == p || s2 != p2 {
		t.Errorf("after ArrowRight: transforms %q and %q (were %q), want both moved", p2, s2, p)
	}

	// "0" resets the view.
	step(t, ctx, "0", chromedp.KeyEvent("0"))
	if p, s = cmpTransforms(t, ctx); p != "matrix(1, 0, 0, 1, 0, 0)" || s != p {
		t.Errorf("after 0: transforms %q and %q, want identity", p, s)
	}

	// Shortcuts never fire in a text field nor with Alt.
	step(t, ctx, "type + in a field", chromedp.Focus(`#typing`), chromedp.KeyEvent("+"), chromedp.KeyEvent("o"))
	if v := cmpJS[string](t, ctx, `document.getElementById("typing").value`); v != "+o" {
		t.Errorf("field holds %q, want +o", v)
	}
	step(t, ctx, "leave the field", chromedp.Blur(`#typing`), chromedp.KeyEvent("o", chromedp.KeyModifiers(chromedp.ModifierAlt)))
	if p, _ = cmpTransforms(t, ctx); p != "matrix(1, 0, 0, 1, 0, 0)" || cmpPressed(t, ctx, "cmp-mode-overlay") != "false" {
		t.Errorf("typing or Alt+o changed the faces: transform %q, overlay %s", p, cmpPressed(t, ctx, "cmp-mode-overlay"))
	}

	// "o": the portrait over the selfie, with its opacity slider.
	step(t, ctx, "o", chromedp.KeyEvent("o"))
	if cmpPressed(t, ctx, "cmp-mode-overlay") != "true" || cmpPressed(t, ctx, "cmp-mode-side") != "false" ||
		!cmpJS[bool](t, ctx, `document.querySelector("[data-testid=faces]").classList.contains("cmp-overlay")`) {
		t.Fatalf("o did not switch to the overlay")
	}
	if !cmpJS[bool](t, ctx, `!document.querySelector("[data-testid=cmp-opacity]").closest("label").hidden`) {
		t.Errorf("overlay: opacity slider hidden")
	}
	step(t, ctx, "opacity up", chromedp.Focus(`[data-testid=cmp-opacity]`), chromedp.KeyEvent(kb.ArrowRight))
	if o := cmpJS[string](t, ctx, `getComputedStyle(document.querySelector("[data-testid=evidence-face_document]")).opacity`); o != "0.55" {
		t.Errorf("portrait opacity %s after one step up, want 0.55", o)
	}
	// Both images share one place: the frames overlap exactly.
	if !cmpJS[bool](t, ctx, `(function () { var a = document.querySelector("[data-cmp-pane=portrait] .cmp-frame").getBoundingClientRect(),
		b = document.querySelector("[data-cmp-pane=selfie] .cmp-frame").getBoundingClientRect();
		return a.left === b.left && a.top === b.top && a.width === b.width && a.height === b.height; })()`) {
		t.Errorf("overlay: the two frames do not coincide")
	}

	// "b": blink, alternating the two faces; a pause button; "b" again: side by side.
	step(t, ctx, "b", chromedp.KeyEvent("b"))
	if cmpPressed(t, ctx, "cmp-mode-blink") != "true" || cmpPressed(t, ctx, "cmp-mode-overlay") != "false" ||
		!cmpJS[bool](t, ctx, `document.querySelector("[data-testid=faces]").classList.contains("cmp-blink")`) {
		t.Fatalf("b did not switch to blink")
	}
	shown := `(document.querySelector("[data-cmp-pane]:not(.is-off)") || {}).getAttribute && document.querySelector("[data-cmp-pane]:not(.is-off)").getAttribute("data-cmp-pane")`
	poll(t, ctx, "blink shows the selfie", shown+` === "selfie" && document.querySelectorAll("[data-cmp-pane].is-off").length === 1`)
	poll(t, ctx, "blink shows the portrait again", shown+` === "portrait"`)
	step(t, ctx, "pause", chromedp.Click(`[data-testid=cmp-blink-pause]`))
	if cmpPressed(t, ctx, "cmp-blink-pause") != "true" {
		t.Errorf("pause button not pressed")
	}
	step(t, ctx, "b again", chromedp.KeyEvent("b"))
	if cmpPressed(t, ctx, "cmp-mode-side") != "true" || cmpJS[int](t, ctx, `document.querySelectorAll("[data-cmp-pane].is-off").length`) != 0 ||
		!cmpJS[bool](t, ctx, `document.querySelector("[data-testid=cmp-blink-pause]").hidden`) {
		t.Errorf("b again: not back to side by side")
	}

	// Brightness and contrast filter both faces.
	step(t, ctx, "brightness up", chromedp.Focus(`[data-testid=cmp-brightness]`), chromedp.KeyEvent(kb.ArrowRight), chromedp.KeyEvent(kb.ArrowRight))
	step(t, ctx, "contrast down", chromedp.Focus(`[data-testid=cmp-contrast]`), chromedp.KeyEvent(kb.ArrowLeft))
	filters := cmpJS[[]string](t, ctx, `Array.from(document.querySelectorAll("[data-testid=faces] img")).map(function (i) { return getComputedStyle(i).filter; })`)
	for _, f := range filters {
		if f != "brightness(1.1) contrast(0.95)" {
			t.Errorf("filter %q, want brightness(1.1) contrast(0.95)", f)
		}
	}

	// Reset: everything back.
	step(t, ctx, "+ then reset", chromedp.KeyEvent("+"), chromedp.KeyEvent("o"), chromedp.Click(`[data-testid=cmp-reset]`))
	if p, _ = cmpTransforms(t, ctx); p != "matrix(1, 0, 0, 1, 0, 0)" || cmpPressed(t, ctx, "cmp-mode-side") != "true" ||
		cmpJS[string](t, ctx, `getComputedStyle(document.querySelector("[data-testid=evidence-face_now]")).filter`) != "brightness(1) contrast(1)" ||
		cmpJS[string](t, ctx, `document.querySelector("[data-testid=cmp-brightness]").value`) != "100" {
		t.Errorf("reset: transform %q, mode not side or filters kept", p)
	}

	// Every mode moved the same two images: each was fetched once.
	for _, path := range []string{"/evidence/portrait.png", "/evidence/selfie.png"} {
		if n := srv.hitsOf(path); n != 1 {
			t.Errorf("%s fetched %d times, want once", path, n)
		}
	}
	// "?" lists the keys; while the help is open they do nothing.
	step(t, ctx, "?", chromedp.KeyEvent("?"), chromedp.WaitVisible(`#shortcuts`))
	if txt := cmpJS[string](t, ctx, `document.getElementById("shortcuts").innerText`); !strings.Contains(txt, "Zoom the faces in / out") ||
		!strings.Contains(txt, "Set the loop start / end at the video's current time") {
		t.Errorf("help lists no comparison keys:\n%s", txt)
	}
	step(t, ctx, "+ with the help open", chromedp.KeyEvent("+"), chromedp.KeyEvent("o"))
	if p, _ = cmpTransforms(t, ctx); p != "matrix(1, 0, 0, 1, 0, 0)" || cmpPressed(t, ctx, "cmp-mode-side") != "true" {
		t.Errorf("keys acted behind the help dialog: transform %q", p)
	}
	step(t, ctx, "close the help", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(`#shortcuts`))

	if v := cmpJS[[]string](t, ctx, `window.__cmp.csp`); len(v) > 0 {
		t.Errorf("CSP violations: %v", v)
	}
}

func TestBrowserCompareVideo(t *testing.T) {
	srv := startCompareServer(t)
	browser := newBrowser(t)
	ctx := cmpOpen(t, browser, srv.URL+"/")
	poll(t, ctx, "video metadata", `document.getElementById("liveness-video").readyState >= 1`)
	rate := func() float64 {
		return cmpJS[float64](t, ctx, `document.getElementById("liveness-video").playbackRate`)
	}

	if cmpPressed(t, ctx, "cmp-rate-1") != "true" {
		t.Errorf("1× not pressed at start")
	}
	step(t, ctx, ">", chromedp.KeyEvent(">"))
	if r := rate(); r != 1.5 || cmpPressed(t, ctx, "cmp-rate-1.5") != "true" || cmpPressed(t, ctx, "cmp-rate-1") != "false" {
		t.Errorf("after >: rate %v", r)
	}
	step(t, ctx, "> > >", chromedp.KeyEvent(">"), chromedp.KeyEvent(">"), chromedp.KeyEvent(">"))
	if r := rate(); r != 2 {
		t.Errorf("fastest: rate %v, want 2", r)
	}
	step(t, ctx, "< x5", chromedp.KeyEvent("<"), chromedp.KeyEvent("<"), chromedp.KeyEvent("<"), chromedp.KeyEvent("<"), chromedp.KeyEvent("<"))
	if r := rate(); r != 0.25 || cmpPressed(t, ctx, "cmp-rate-0.25") != "true" {
		t.Errorf("slowest: rate %v, want 0.25", r)
	}
	step(t, ctx, "1× button", chromedp.Click(`[data-testid='cmp-rate-1']`))
	if r := rate(); r != 1 {
		t.Errorf("1× button: rate %v", r)
	}

	// Frame step: paused, 1/30 s each.
	now := func() float64 { return cmpJS[float64](t, ctx, `document.getElementById("liveness-video").currentTime`) }
	step(t, ctx, ". . .", chromedp.KeyEvent("."), chromedp.KeyEvent("."), chromedp.KeyEvent("."))
	if n := now(); !cmpNear(n, 0.1, 0.001) || !cmpJS[bool](t, ctx, `document.getElementById("liveness-video").paused`) {
		t.Errorf("three frames forward: at %v, want 0.1 s, paused", n)
	}
	step(t, ctx, ",", chromedp.KeyEvent(","))
	if n := now(); !cmpNear(n, 2.0/30, 0.001) {
		t.Errorf("a frame back: at %v, want %v", n, 2.0/30)
	}
	step(t, ctx, "frame forward button", chromedp.Click(`[data-testid=cmp-frame-forward]`))
	if n := now(); !cmpNear(n, 0.1, 0.001) {
		t.Errorf("frame forward button: at %v, want 0.1", n)
	}

	// Loop range: [ at 1 s, ] at 1.5 s, l, play: it comes back to 1 s.
	seek := func(at float64) {
		cmpJS[bool](t, ctx, fmt.Sprintf(`(document.getElementById("liveness-video").currentTime = %v, true)`, at))
		poll(t, ctx, "seeked", `!document.getElementById("liveness-video").seeking`)
	}
	if !cmpJS[bool](t, ctx, `!document.querySelector("[data-cmp-range=none]").hidden && document.querySelector("[data-cmp-range=set]").hidden`) {
		t.Errorf("no range yet: the 'no range' text should show")
	}
	seek(1)
	step(t, ctx, "[", chromedp.KeyEvent("["))
	seek(1.5)
	step(t, ctx, "]", chromedp.KeyEvent("]"))
	rangeText := cmpJS[string](t, ctx, `document.querySelector("[data-testid=loop-range]").innerText.replace(/\s+/g, " ").trim()`)
	if !strings.HasSuffix(rangeText, "1.00 s – 1.50 s") {
		t.Errorf("range text %q, want … 1.00 s – 1.50 s", rangeText)
	}
	step(t, ctx, "l", chromedp.KeyEvent("l"))
	if cmpPressed(t, ctx, "cmp-loop") != "true" {
		t.Errorf("loop not pressed after l")
	}
	if n := now(); !cmpNear(n, 1, 0.001) {
		t.Errorf("turning the loop on at the range's end: at %v, want its start 1 s", n)
	}
	step(t, ctx, "p plays", chromedp.KeyEvent("p"))
	poll(t, ctx, "looped twice", `window.__cmp.looped >= 2`)
	step(t, ctx, "p pauses", chromedp.KeyEvent("p"))
	if n := now(); n < 0.99 || n > 2 {
		t.Errorf("looping 1–1.5 s: at %v", n)
	}
	step(t, ctx, "l off, clear", chromedp.KeyEvent("l"), chromedp.Click(`[data-testid=cmp-loop-clear]`))
	if cmpPressed(t, ctx, "cmp-loop") != "false" || !cmpJS[bool](t, ctx, `document.querySelector("[data-cmp-range=set]").hidden`) {
		t.Errorf("loop off and range cleared: not shown")
	}
	if v := cmpJS[[]string](t, ctx, `window.__cmp.csp`); len(v) > 0 {
		t.Errorf("CSP violations: %v", v)
	}
}

func TestBrowserCompareMissingAndSpanish(t *testing.T) {
	srv := startCompareServer(t)
	browser := newBrowser(t)

	// Only the selfie, no video: the selfie shows, a note says what is missing, overlay
	// and blink are off.
	ctx := cmpOpen(t, browser, srv.URL+"/one")
	if n := cmpJS[int](t, ctx, `document.querySelectorAll("[data-testid=faces] img").length`); n != 1 {
		t.Errorf("%d images, want the selfie alone", n)
	}
	if note := cmpJS[string](t, ctx, `document.querySelector("[data-testid=missing-face_document]").textContent`); note != "Not available for this process: Document portrait." {
		t.Errorf("missing note %q", note)
	}
	if !cmpJS[bool](t, ctx, `document.querySelector("[data-testid=cmp-mode-overlay]").disabled && document.querySelector("[data-testid=cmp-mode-blink]").disabled`) {
		t.Errorf("overlay and blink enabled with one face")
	}
	step(t, ctx, "o and b", chromedp.KeyEvent("o"), chromedp.KeyEvent("b"), chromedp.KeyEvent("+"))
	if cmpPressed(t, ctx, "cmp-mode-side") != "true" {
		t.Errorf("o/b changed the mode with one face")
	}
	if tr := cmpJS[string](t, ctx, `getComputedStyle(document.querySelector("[data-testid=evidence-face_now]")).transform`); tr != "matrix(1.25, 0, 0, 1.25, 0, 0)" {
		t.Errorf("zoom with one face: %q", tr)
	}
	if txt := cmpJS[string](t, ctx, `document.querySelector("[data-testid=no-video]").textContent`); txt != "No video for this process." {
		t.Errorf("no video: %q", txt)
	}
	step(t, ctx, "video keys without a video", chromedp.KeyEvent("p"), chromedp.KeyEvent("["), chromedp.KeyEvent("l"))

	// Spanish: the words and the decimal comma.
	es := cmpOpen(t, browser, srv.URL+"/es")
	if txt := cmpJS[string](t, es, `document.querySelector("[data-testid=cmp-mode-blink]").textContent + "|" + document.querySelector("[data-testid='cmp-rate-0.25']").textContent`); txt != "Parpadeo|0,25×" {
		t.Errorf("Spanish toolbar: %q", txt)
	}
	poll(t, es, "video metadata", `document.getElementById("liveness-video").readyState >= 1`)
	step(t, es, "frame forward, [", chromedp.KeyEvent("."), chromedp.KeyEvent("["))
	if from := cmpJS[string](t, es, `document.querySelector("[data-testid=loop-from]").textContent`); from != "0,03\u00a0s" {
		t.Errorf("Spanish range start %q, want 0,03 s", from)
	}
	for _, c := range []context.Context{ctx, es} {
		if v := cmpJS[[]string](t, c, `window.__cmp.csp`); len(v) > 0 {
			t.Errorf("CSP violations: %v", v)
		}
	}
}

func cmpNear(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// TestBrowserCompareOnCasePage: the tools on a real process page, evidence from the
// sandbox through the portal.
func TestBrowserCompareOnCasePage(t *testing.T) {
	p := startReviewPortal(t, 1)
	p.addUser(t, "ana@example.com", "Ana Agent", store.RoleAgent, "quiet river lantern sunrise")
	browser := newBrowser(t)
	ana := newProfile(t, browser)
	signIn(t, ana, p.URL, "ana@example.com", "quiet river lantern sunrise")
	step(t, ana, "queue", chromedp.Navigate(p.URL+"/queue"), chromedp.WaitVisible(`[data-testid=queue-list]`))
	waitRows(t, ana, 1)
	step(t, ana, "open process", chromedp.Click(`tr[data-row] a[data-open]`), chromedp.WaitVisible(`[data-testid=process-head]`))
	if count(t, ana, "[data-compare]") == 0 {
		t.Fatal("the process page does not place the comparison tools (views.FaceCompare)")
	}
	poll(t, ana, "faces decode", `(() => { const imgs = [...document.querySelectorAll("[data-testid=faces] img")];
		return imgs.length === 2 && imgs.every(i => i.complete && i.naturalWidth > 0); })()`)
	cmpJS[bool](t, ana, `(document.activeElement && document.activeElement.blur && document.activeElement.blur(), true)`)
	step(t, ana, "+", chromedp.KeyEvent("+"))
	if a, b := cmpTransforms(t, ana); a != "matrix(1.25, 0, 0, 1.25, 0, 0)" || b != a {
		t.Errorf("after +: transforms %q and %q, want both scaled 1.25", a, b)
	}
	step(t, ana, "o", chromedp.KeyEvent("o"))
	if cmpPressed(t, ana, "cmp-mode-overlay") != "true" {
		t.Errorf("o: overlay not pressed")
	}
	poll(t, ana, "video metadata", `document.getElementById("liveness-video").readyState >= 1`)
	step(t, ana, "> and .", chromedp.KeyEvent(">"), chromedp.KeyEvent("."))
	if r := cmpJS[float64](t, ana, `document.getElementById("liveness-video").playbackRate`); r != 1.5 {
		t.Errorf("after >: rate %v, want 1.5", r)
	}
	if n := cmpJS[float64](t, ana, `document.getElementById("liveness-video").currentTime`); !cmpNear(n, 1.0/30, 0.001) {
		t.Errorf("after .: at %v, want one frame", n)
	}
}
