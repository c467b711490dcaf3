package static

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The portal's Content-Security-Policy: a violation by app.js, htmx or the CSS breaks
// the tests below.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

const chromiumPath = "/usr/bin/chromium"

// hooks runs in every page before its own scripts (DevTools-injected, so outside the
// CSP). It records what the tests observe: policy violations, the portal's events and
// clicks on [data-probe] elements, settled htmx swaps, submit events (read
// defaultPrevented once dispatched) and each text the idle prompt showed.
const hooks = `
window.__test = { csp: [], events: [], clicks: [], settled: 0 };
document.addEventListener("securitypolicyviolation", function (e) {
	window.__test.csp.push(e.violatedDirective + " " + e.blockedURI);
});
document.addEventListener("portal:claim-lost", function (e) {
	window.__test.events.push("claim-lost:" + e.detail.status);
});
document.addEventListener("click", function (e) {
	var el = e.target.closest && e.target.closest("[data-probe]");
	if (el) window.__test.clicks.push(el.id);
}, true);
document.addEventListener("htmx:afterSettle", function () { window.__test.settled++; });
window.__test.submits = [];
window.addEventListener("submit", function (e) { window.__test.submits.push(e); }, true);
window.__test.idle = [];
new MutationObserver(function () {
	var p = document.getElementById("idle-prompt-text"), t = p ? p.textContent : "";
	var seen = window.__test.idle;
	if (t && seen[seen.length - 1] !== t) seen.push(t);
}).observe(document, { childList: true, subtree: true, characterData: true });
`

// fixtures is the test server: static.Handler under /static/, the HTML pages of
// testdata under /fixture/, generated evidence, and endpoints that count calls.
type fixtures struct {
	*httptest.Server
	mu         sync.Mutex
	beats      []http.Header // headers of the heartbeat POSTs to /hb/ok
	beatMethod string
	releases   []string // methods of the calls to /release
	lostCalls  atomic.Int32
	lost       atomic.Bool // /hb/lost answers 409 once set

	claims        []string     // query strings of the POSTs to /claim/record
	decisions     []url.Values // forms POSTed to /decide/record
	keepalives    []keepalive  // calls to /keepalive/...
	releasedAt    map[string]int
	polls, acts   atomic.Int32 // background polls (/poll) and other htmx requests (/act)
	conflictCalls atomic.Int32 // calls to /hb/conflict
}

type keepalive struct {
	path, query, method string
	header              http.Header
}

// keepaliveCalls counts the calls to one keepalive path.
func (f *fixtures) keepaliveCalls(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, k := range f.keepalives {
		if k.path == path {
			n++
		}
	}
	return n
}

func (f *fixtures) counts() (claims, decisions int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.claims), len(f.decisions)
}

func (f *fixtures) released(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.releasedAt[path]
}

func newFixtures(t *testing.T) *fixtures {
	t.Helper()
	f := &fixtures{releasedAt: map[string]int{}}
	front, back, selfie := pngImage(t, 800, 500, 40), jpegImage(t, 800, 500), pngImage(t, 400, 500, 160)
	wav := wavClip(10)
	blob := func(typ string, b []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", typ)
			w.Header().Set("Cache-Control", "no-store")
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/static/", http.StripPrefix("/static/", Handler()))
	mux.Handle("/fixture/", http.StripPrefix("/fixture/", http.FileServer(http.Dir("testdata"))))
	mux.Handle("GET /img/front.png", blob("image/png", front))
	mux.Handle("GET /img/back.jpg", blob("image/jpeg", back))
	mux.Handle("GET /img/selfie.png", blob("image/png", selfie))
	mux.Handle("GET /media/clip.wav", blob("audio/wav", wav))
	mux.HandleFunc("GET /rows", func(w http.ResponseWriter, r *http.Request) {
		sets := map[string][]string{
			"b": {"p0", "p1", "p2", "p3", "p4", "p5"}, // a new row before the selected one
			"c": {"p0", "p1", "p2", "p4", "p5"},       // the selected row is gone
			"d": {"p1"},                               // fewer rows than the selected index
		}
		ids, ok := sets[r.URL.Query().Get("set")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<tbody id="rows">`)
		for _, id := range ids {
			fmt.Fprintf(w, `<tr data-row data-id="%[1]s" id="row-%[1]s"><td><a data-open href="/fixture/opened.html?id=%[1]s">%[1]s</a></td><td>Pending review</td></tr>`, id)
		}
		fmt.Fprint(w, `</tbody>`)
	})
	mux.HandleFunc("/hb/ok", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.beats = append(f.beats, r.Header.Clone())
		f.beatMethod = r.Method
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/hb/lost", func(w http.ResponseWriter, r *http.Request) {
		if !f.lost.Load() {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		f.lostCalls.Add(1)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusConflict)
		fmt.Fprint(w, `<div class="alert" role="alert" data-testid="error-fragment"><strong>Claim taken.</strong> Another reviewer has this process.</div>`)
	})
	// Claiming, deciding and the session (auto-submit, submit guard, idle prompt).
	mux.HandleFunc("POST /claim/record", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.claims = append(f.claims, r.URL.RawQuery)
		f.mu.Unlock()
		if r.URL.Query().Get("stay") != "" {
			w.WriteHeader(http.StatusNoContent) // the page stays
			return
		}
		http.Redirect(w, r, "/fixture/opened.html?claimed=1&answer=claim", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /decide/record", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.decisions = append(f.decisions, r.PostForm)
		f.mu.Unlock()
		http.Redirect(w, r, "/fixture/opened.html?decided=1", http.StatusSeeOther)
	})
	mux.HandleFunc("/keepalive/", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.keepalives = append(f.keepalives, keepalive{r.URL.Path, r.URL.RawQuery, r.Method, r.Header.Clone()})
		f.mu.Unlock()
		switch r.URL.Path {
		case "/keepalive/ok", "/keepalive/short":
			if r.URL.Query().Get("slow") != "" {
				time.Sleep(300 * time.Millisecond) // a second click arrives while the check runs
			}
			w.WriteHeader(http.StatusNoContent)
		case "/keepalive/gone": // as auth.RequireUser answers htmx requests
			w.Header().Set("HX-Redirect", "/login")
			w.WriteHeader(http.StatusUnauthorized)
		case "/keepalive/drop": // the network fails
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		default:
			http.NotFound(w, r)
		}
	})
	mux.HandleFunc("/hb/steady", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/hb/conflict", func(w http.ResponseWriter, r *http.Request) {
		f.conflictCalls.Add(1)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusConflict)
		fmt.Fprint(w, `<div class="alert" role="alert" data-testid="error-fragment"><strong>Conflict.</strong>
	<span data-testid="error-message">Ana Example is reviewing
	this process now.</span></div>`)
	})
	mux.HandleFunc("/hb/gone", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("HX-Redirect", "/login")
		w.WriteHeader(http.StatusUnauthorized)
	})
	mux.HandleFunc("/poll", func(w http.ResponseWriter, r *http.Request) {
		f.polls.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/act", func(w http.ResponseWriter, r *http.Request) {
		f.acts.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/release/", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.releasedAt[r.URL.Path]++
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/release", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.releases = append(f.releases, r.Method)
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func pngImage(t *testing.T, w, h int, hue uint8) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), hue, uint8(y * 255 / h), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegImage(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetGray(x, y, color.Gray{uint8((x/40+y/40)%2*120 + 60)})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// wavClip is a quiet mono 8 kHz 8-bit PCM clip: a media file a <video> can load and seek.
func wavClip(seconds int) []byte {
	const rate = 8000
	n := rate * seconds
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + n))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1))    // PCM
	le(uint16(1))    // mono
	le(uint32(rate)) // sample rate
	le(uint32(rate)) // byte rate
	le(uint16(1))    // block align
	le(uint16(8))    // bits per sample
	b.WriteString("data")
	le(uint32(n))
	for i := 0; i < n; i++ {
		b.WriteByte(uint8(128 + 20*math.Sin(float64(i)*2*math.Pi*440/rate)))
	}
	return b.Bytes()
}

// newBrowser starts Debian's chromium headless with a fresh profile. It skips only where
// chromium is missing and CI is not set.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium is required in CI: %v", err)
		}
		t.Skipf("no chromium at %s", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

// tab is one browser tab with the hooks installed and its console recorded.
type tab struct {
	ctx     context.Context
	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// newTab opens a tab. When the test ends it fails on any policy violation, uncaught
// exception or console error the tab saw, unless allowViolations is set (the canary).
func newTab(t *testing.T, browser context.Context, allowViolations bool) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	tb := &tab{ctx: ctx}
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		cancel()
		t.Fatalf("new tab: %v", err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: hooks}); err != nil {
		cancel()
		t.Fatalf("install hooks: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.console = append(tb.console, m)
			tb.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		defer cancel()
		if allowViolations {
			return
		}
		// The page's own record first (reliable), then the console (as the browser logged it).
		if v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__test ? window.__test.csp : []`)); err == nil && len(v) > 0 {
			t.Errorf("CSP violations: %q", v)
		}
		for _, m := range tb.problems() {
			t.Errorf("console: %s", m)
		}
	})
	return tb
}

// problems are the console messages that fail a test: CSP violations, exceptions and
// errors other than network answers (a 409 on purpose is logged by the browser).
func (tb *tab) problems() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var out []string
	for _, m := range tb.console {
		if strings.Contains(m.Text, "Content Security Policy") || m.IsException() ||
			(m.Type == "error" && m.Source != "network") {
			out = append(out, string(m.Type)+" "+m.Source+": "+m.Text)
		}
	}
	return out
}

func (tb *tab) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, tb *tab, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor waits (generously) until the expression is truthy.
func (tb *tab) waitFor(t *testing.T, what, expr string) {
	t.Helper()
	tb.do(t, what, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(15*time.Second)))
}

// keys presses each key as a keyboard does: a keyDown carrying the text (so that a
// handler's preventDefault keeps the character out, as in a real browser) and a keyUp.
// With Ctrl, Alt or Meta held there is no text, as with a real shortcut.
func (tb *tab) keys(t *testing.T, keys string, mods ...chromedp.Modifier) {
	t.Helper()
	c, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	var held int64
	for _, m := range mods {
		held |= int64(m)
	}
	for _, r := range keys {
		k, ok := kb.Keys[r]
		if !ok {
			t.Fatalf("keys %q: no key for %q", keys, r)
		}
		down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeRawKeyDown, Key: k.Key, Code: k.Code,
			WindowsVirtualKeyCode: k.Windows, NativeVirtualKeyCode: k.Native, Modifiers: held}
		if k.Shift {
			down.Modifiers |= int64(chromedp.ModifierShift)
		}
		if k.Print && held&^int64(chromedp.ModifierShift) == 0 {
			down.Type, down.Text, down.UnmodifiedText = input.DispatchKeyEventTypeKeyDown, k.Text, k.Unmodified
		}
		up := down
		up.Type, up.Text, up.UnmodifiedText = input.DispatchKeyEventTypeKeyUp, "", ""
		for _, ev := range []input.DispatchKeyEventParams{down, up} {
			if _, err := chromedp.Call(c, input.DispatchKeyEvent, ev); err != nil {
				t.Fatalf("keys %q: %v", keys, err)
			}
		}
	}
}

func (tb *tab) open(t *testing.T, url string) {
	t.Helper()
	tb.do(t, "open "+url, chromedp.Navigate(url), chromedp.WaitReady(`main`))
}

// waitServer waits until cond holds on the server side.
func waitServer(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAppBrowser(t *testing.T) {
	f := newFixtures(t)
	browser := newBrowser(t)
	t.Run("CSPViolationsAreSeen", func(t *testing.T) { testCSPCanary(t, f, browser) })
	t.Run("Viewer", func(t *testing.T) { testViewer(t, f, browser) })
	t.Run("Shortcuts", func(t *testing.T) { testShortcuts(t, f, browser) })
	t.Run("Queue", func(t *testing.T) { testQueue(t, f, browser) })
	t.Run("HeartbeatReleaseSeek", func(t *testing.T) { testHeartbeat(t, f, browser) })
	t.Run("ClaimLost", func(t *testing.T) { testClaimLost(t, f, browser) })
	t.Run("AutoClaim", func(t *testing.T) { testAutoClaim(t, f, browser) })
	t.Run("ClaimLostLocksPanel", func(t *testing.T) { testClaimLostLocks(t, f, browser) })
	t.Run("ClaimLostSessionEnded", func(t *testing.T) { testClaimLostSession(t, f, browser) })
	t.Run("PollAfterSessionEnded", func(t *testing.T) { testPollAfterSession(t, f, browser) })
	t.Run("IdlePrompt", func(t *testing.T) { testIdlePrompt(t, f, browser) })
	t.Run("IdleTimeout", func(t *testing.T) { testIdleTimeout(t, f, browser) })
	t.Run("SubmitGuard", func(t *testing.T) { testSubmitGuard(t, f, browser) })
	t.Run("Corrections", func(t *testing.T) { testCorrections(t, f, browser) })
}

// The harness itself: a page breaking the policy is noticed, so a clean run means
// something.
func testCSPCanary(t *testing.T, f *fixtures, browser context.Context) {
	tb := newTab(t, browser, true)
	tb.open(t, f.URL+"/fixture/canary.html")
	tb.waitFor(t, "violations recorded", `window.__test.csp.length >= 2`)
	if eval[bool](t, tb, `window.inlineRan === true`) {
		t.Fatal("an inline script ran despite the policy")
	}
	waitServer(t, "the console to report the violation", func() bool {
		for _, p := range tb.problems() {
			if strings.Contains(p, "Content Security Policy") {
				return true
			}
		}
		return false
	})
}

var transformRe = regexp.MustCompile(`^translate\((-?[\d.]+)px(?:, (-?[\d.]+)px)?\) rotate\((-?[\d.]+)deg\) scale\(([\d.]+)\)$`)

type transform struct{ x, y, rot, scale float64 }

func viewerTransform(t *testing.T, tb *tab) transform {
	t.Helper()
	s := eval[string](t, tb, `document.querySelector("#evidence-viewer .viewer-img").style.transform`)
	m := transformRe.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("image transform %q: unexpected form", s)
	}
	num := func(v string) float64 {
		if v == "" {
			return 0
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("transform %q: %v", s, err)
		}
		return f
	}
	return transform{num(m[1]), num(m[2]), num(m[3]), num(m[4])}
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func testViewer(t *testing.T, f *fixtures, browser context.Context) {
	tb := newTab(t, browser, false)
	tb.open(t, f.URL+"/fixture/viewer.html")
	const viewer = `#evidence-viewer`
	const isOpen = `(function(){ var v = document.getElementById("evidence-viewer"); return !!v && !v.hidden; })()`

	// Opens on click, as a labelled modal dialog, with the image loaded (img-src 'self').
	tb.do(t, "open by click", chromedp.Click(`#ev1`), chromedp.WaitVisible(viewer))
	attrs := eval[map[string]string](t, tb, `(function(){ var v = document.getElementById("evidence-viewer");
		return {role: v.getAttribute("role"), modal: v.getAttribute("aria-modal"), label: v.getAttribute("aria-label"),
			src: v.querySelector(".viewer-img").getAttribute("src"), inside: String(v.contains(document.activeElement)),
			inert: String(document.getElementById("main").inert), zoom: v.querySelector(".viewer-zoom").textContent,
			count: v.querySelector(".viewer-count").textContent}; })()`)
	want := map[string]string{"role": "dialog", "modal": "true", "label": "Document front", "src": "/img/front.png",
		"inside": "true", "inert": "true", "zoom": "100%", "count": "1 / 4"}
	for k, w := range want {
		if attrs[k] != w {
			t.Errorf("open viewer: %s = %q, want %q", k, attrs[k], w)
		}
	}
	tb.waitFor(t, "image loaded", `(function(){ var i = document.querySelector("#evidence-viewer .viewer-img");
		return i.complete && i.naturalWidth === 800; })()`)
	labels := eval[[]string](t, tb, `Array.from(document.querySelectorAll("#evidence-viewer .viewer-toolbar button"))
		.filter(function(b){ return !b.hidden; }).map(function(b){ return b.getAttribute("aria-label") + "|" + (b.title ? "t" : ""); })`)
	for _, l := range []string{"Zoom in|t", "Zoom out|t", "Rotate left|t", "Rotate right|t", "Reset|t", "Close|t", "Previous|t", "Next|t"} {
		if !strings.Contains(strings.Join(labels, ","), l) {
			t.Errorf("toolbar %q: missing %q", labels, l)
		}
	}

	// Zoom and rotation keys change the CSSOM transform.
	steps := []struct {
		key   string
		scale float64
		rot   float64
		zoom  string
	}{
		{"+", 1.25, 0, "125%"}, {"=", 1.5625, 0, "156%"}, {"-", 1.25, 0, "125%"},
		{"r", 1.25, 90, "125%"}, {"l", 1.25, 0, "125%"}, {"l", 1.25, -90, "125%"},
		{"0", 1, 0, "100%"},
	}
	for _, s := range steps {
		tb.keys(t, s.key)
		got := viewerTransform(t, tb)
		if !near(got.scale, s.scale, 1e-3) || got.rot != s.rot {
			t.Errorf("after %q: scale %v rotate %v, want %v %v", s.key, got.scale, got.rot, s.scale, s.rot)
		}
		if z := eval[string](t, tb, `document.querySelector("#evidence-viewer .viewer-zoom").textContent`); z != s.zoom {
			t.Errorf("after %q: zoom label %q, want %q", s.key, z, s.zoom)
		}
	}
	// Button and key zooms animate, unless the user prefers reduced motion. The rest of
	// the test measures positions, so it runs without animation.
	const duration = `getComputedStyle(document.querySelector("#evidence-viewer .viewer-img")).transitionDuration`
	tb.keys(t, "+")
	if d := eval[string](t, tb, duration); d == "0s" {
		t.Errorf("zoom by key: transition %q, want an animation", d)
	}
	if _, err := chromedp.Call(tb.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}},
	}); err != nil {
		t.Fatalf("emulate reduced motion: %v", err)
	}
	tb.keys(t, "+")
	if d := eval[string](t, tb, duration); d != "0s" {
		t.Errorf("zoom by key with reduced motion: transition %q, want 0s", d)
	}
	tb.keys(t, "0")

	// Zoom stops at 8x and 0.25x.
	tb.keys(t, strings.Repeat("+", 14))
	if got := viewerTransform(t, tb); got.scale != 8 {
		t.Errorf("zoomed in 14 times: scale %v, want 8", got.scale)
	}
	tb.keys(t, strings.Repeat("-", 20))
	if got := viewerTransform(t, tb); got.scale != 0.25 {
		t.Errorf("zoomed out 20 times: scale %v, want 0.25", got.scale)
	}
	tb.keys(t, "0")

	// Arrow keys pan.
	tb.keys(t, kb.ArrowRight+kb.ArrowDown)
	if got := viewerTransform(t, tb); got.x >= 0 || got.y >= 0 {
		t.Errorf("after ArrowRight ArrowDown: translate %v %v, want both negative (view moves right and down)", got.x, got.y)
	}
	tb.keys(t, "0")

	// The wheel zooms around the pointer: the image point under it stays under it.
	type rect struct{ Left, Top, Width, Height float64 }
	imgRect := func() rect {
		return eval[rect](t, tb, `(function(){ var r = document.querySelector("#evidence-viewer .viewer-img").getBoundingClientRect();
			return {Left: r.left, Top: r.top, Width: r.width, Height: r.height}; })()`)
	}
	r0 := imgRect()
	px, py := r0.Left+r0.Width*0.25, r0.Top+r0.Height*0.3
	tb.do(t, "wheel", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseWheel, px, py, func(p *input.DispatchMouseEventParams) {
		p.DeltaY = -300
		p.DeltaX = 1e-9 // the protocol wants both deltas; a zero would be left out of the JSON
	}))
	tb.waitFor(t, "wheel zoom", `document.querySelector("#evidence-viewer .viewer-zoom").textContent !== "100%"`)
	if got := viewerTransform(t, tb); got.scale <= 1 {
		t.Errorf("wheel up: scale %v, want > 1", got.scale)
	}
	r1 := imgRect()
	if fx, fy := (px-r1.Left)/r1.Width, (py-r1.Top)/r1.Height; !near(fx, 0.25, 0.02) || !near(fy, 0.3, 0.02) {
		t.Errorf("wheel zoom moved the point under the pointer: at %.3f,%.3f of the image, want 0.25,0.3", fx, fy)
	}
	tb.keys(t, "0")

	// Double-click toggles 2x and 1x.
	tb.do(t, "double-click", chromedp.DoubleClick(`#evidence-viewer .viewer-img`))
	if got := viewerTransform(t, tb); got.scale != 2 {
		t.Errorf("double-click: scale %v, want 2", got.scale)
	}
	tb.do(t, "double-click again", chromedp.DoubleClick(`#evidence-viewer .viewer-img`))
	if got := viewerTransform(t, tb); got.scale != 1 || got.x != 0 || got.y != 0 {
		t.Errorf("second double-click: %+v, want scale 1 at the centre", got)
	}

	// Dragging pans.
	r := imgRect()
	cx, cy := r.Left+r.Width/2, r.Top+r.Height/2
	left := func(p *input.DispatchMouseEventParams) {
		p.Button = input.MouseButtonLeft
		p.Buttons = 1
		p.ClickCount = 1
	}
	tb.do(t, "drag",
		chromedp.MouseEvent(chromedp.MouseMoved, cx, cy),
		chromedp.MouseEvent(chromedp.MousePressed, cx, cy, left),
		chromedp.MouseEvent(chromedp.MouseMoved, cx+30, cy+15, func(p *input.DispatchMouseEventParams) { p.Buttons = 1 }),
		chromedp.MouseEvent(chromedp.MouseMoved, cx+60, cy+30, func(p *input.DispatchMouseEventParams) { p.Buttons = 1 }),
		chromedp.MouseEvent(chromedp.MouseReleased, cx+60, cy+30, left),
	)
	if got := viewerTransform(t, tb); !near(got.x, 60, 0.5) || !near(got.y, 30, 0.5) {
		t.Errorf("drag by 60,30: translate %v,%v", got.x, got.y)
	}
	tb.keys(t, "0")

	// Tab never leaves the viewer.
	for i := 0; i < 14; i++ {
		key := kb.Tab
		var mods []chromedp.Modifier
		if i >= 10 {
			mods = append(mods, chromedp.ModifierShift)
		}
		tb.keys(t, key, mods...)
		if !eval[bool](t, tb, `document.getElementById("evidence-viewer").contains(document.activeElement)`) {
			t.Fatalf("Tab %d: focus left the viewer for %s", i+1, eval[string](t, tb, `document.activeElement.outerHTML.slice(0, 80)`))
		}
	}
	tb.do(t, "focus the dialog", chromedp.Focus(viewer))

	// Previous and next cycle through the sources in document order.
	cycle := []struct{ key, src, label, count string }{
		{"]", "/img/back.jpg", "Document back", "2 / 4"},
		{kb.PageDown, "/img/selfie.png", "Live selfie", "3 / 4"},
		{"]", "/img/front.png", "Document portrait", "4 / 4"}, // no title: the image's alt
		{"]", "/img/front.png", "Document front", "1 / 4"},
		{"[", "/img/front.png", "Document portrait", "4 / 4"},
		{kb.PageUp, "/img/selfie.png", "Live selfie", "3 / 4"},
		{"[", "/img/back.jpg", "Document back", "2 / 4"},
	}
	for _, c := range cycle {
		tb.keys(t, c.key)
		got := eval[[]string](t, tb, `(function(){ var v = document.getElementById("evidence-viewer");
			return [v.querySelector(".viewer-img").getAttribute("src"), v.getAttribute("aria-label"), v.querySelector(".viewer-count").textContent]; })()`)
		if got[0] != c.src || got[1] != c.label || got[2] != c.count {
			t.Errorf("after %q: %q, want [%s %s %s]", c.key, got, c.src, c.label, c.count)
		}
	}

	// "r" in the viewer rotated, it did not press the page's Reject (data-shortcut="r").
	if clicks := eval[[]string](t, tb, `window.__test.clicks`); len(clicks) != 0 {
		t.Errorf("page shortcuts fired inside the viewer: %q", clicks)
	}

	// Esc closes; focus goes back to the source of the image shown (here the second).
	tb.keys(t, kb.Escape)
	tb.waitFor(t, "closed", `!`+isOpen)
	if id := eval[string](t, tb, `document.activeElement.id`); id != "ev2" {
		t.Errorf("after Esc: focus on %q, want ev2", id)
	}
	if eval[bool](t, tb, `document.getElementById("main").inert || document.querySelector("#evidence-viewer .viewer-img").hasAttribute("src")`) {
		t.Error("after close: the page is still inert or the image is still loaded")
	}

	// Enter on a focused source opens; the close button closes and focus returns.
	tb.do(t, "focus ev1", chromedp.Focus(`#ev1`))
	tb.keys(t, kb.Enter)
	tb.waitFor(t, "open by Enter", isOpen)
	if l := eval[string](t, tb, `document.getElementById("evidence-viewer").getAttribute("aria-label")`); l != "Document front" {
		t.Errorf("opened by Enter: label %q", l)
	}
	tb.do(t, "close button", chromedp.Click(`#evidence-viewer .viewer-close`))
	tb.waitFor(t, "closed by button", `!`+isOpen)
	if id := eval[string](t, tb, `document.activeElement.id`); id != "ev1" {
		t.Errorf("after the close button: focus on %q, want ev1", id)
	}

	// A link source opens the viewer instead of navigating.
	tb.do(t, "open link", chromedp.Click(`#ev3`))
	tb.waitFor(t, "open from link", isOpen)
	if loc := eval[string](t, tb, `location.pathname`); loc != "/fixture/viewer.html" {
		t.Errorf("link source navigated to %s", loc)
	}
	tb.keys(t, kb.Escape)
	tb.waitFor(t, "closed", `!`+isOpen)

	// A non-control source is made focusable and opens with Space.
	if got := eval[[]string](t, tb, `[document.getElementById("ev4").getAttribute("tabindex"), document.getElementById("ev4").getAttribute("role")]`); got[0] != "0" || got[1] != "button" {
		t.Errorf("div source: tabindex, role = %q, want 0, button", got)
	}
	tb.do(t, "focus ev4", chromedp.Focus(`#ev4`))
	tb.keys(t, " ")
	tb.waitFor(t, "open by Space", isOpen)
	tb.keys(t, kb.Escape)
	tb.waitFor(t, "closed", `!`+isOpen)
	if id := eval[string](t, tb, `document.activeElement.id`); id != "ev4" {
		t.Errorf("after Esc: focus on %q, want ev4", id)
	}

	// Outside the viewer, "r" is the page's shortcut again.
	tb.keys(t, "r")
	if clicks := eval[[]string](t, tb, `window.__test.clicks`); strings.Join(clicks, ",") != "reject" {
		t.Errorf("r outside the viewer: clicks %q, want [reject]", clicks)
	}
}

func testShortcuts(t *testing.T, f *fixtures, browser context.Context) {
	tb := newTab(t, browser, false)
	tb.open(t, f.URL+"/fixture/shortcuts.html")
	const helpOpen = `document.getElementById("shortcuts").open`
	clicks := func() string { return strings.Join(eval[[]string](t, tb, `window.__test.clicks`), ",") }

	// "?" toggles the help dialog; Esc closes it too; keys inside it do nothing else.
	tb.keys(t, "?")
	tb.waitFor(t, "help open", helpOpen)
	if !eval[bool](t, tb, `document.getElementById("shortcuts").matches(":modal")`) {
		t.Error("help: not shown as a modal dialog")
	}
	tb.keys(t, "na")
	if c := clicks(); c != "" {
		t.Errorf("keys inside the help dialog clicked %q", c)
	}
	tb.keys(t, "?")
	tb.waitFor(t, "help closed by ?", `!`+helpOpen)
	tb.keys(t, "?")
	tb.waitFor(t, "help open again", helpOpen)
	tb.keys(t, kb.Escape)
	tb.waitFor(t, "help closed by Esc", `!`+helpOpen)

	// data-shortcut: the first visible, enabled match is clicked.
	tb.keys(t, "n")
	tb.keys(t, "a")
	if c := clicks(); c != "next,accept" {
		t.Errorf("n then a clicked %q, want next,accept", c)
	}
	if k := eval[string](t, tb, `document.getElementById("next").getAttribute("aria-keyshortcuts")`); k != "n" {
		t.Errorf("aria-keyshortcuts = %q, want n", k)
	}

	// Radios and checkboxes are checked and focused; digits keep working from a radio.
	tb.keys(t, "1")
	if got := eval[[]any](t, tb, `[document.getElementById("reason-1").checked, document.activeElement.id]`); got[0] != true || got[1] != "reason-1" {
		t.Errorf("after 1: checked, focus = %v", got)
	}
	tb.keys(t, "2")
	if got := eval[[]any](t, tb, `[document.getElementById("reason-2").checked, document.activeElement.id]`); got[0] != true || got[1] != "reason-2" {
		t.Errorf("after 2: checked, focus = %v", got)
	}
	tb.keys(t, "c")
	if !eval[bool](t, tb, `document.getElementById("confirm").checked`) {
		t.Error("after c: the checkbox is not checked")
	}

	// data-focus: after the in-page link is followed, the checked radio of the target gets the focus.
	tb.keys(t, "g")
	tb.waitFor(t, "focus moved by data-focus", `document.activeElement.id === "pick-y"`)
	if h := eval[string](t, tb, `location.hash`); h != "#panel" {
		t.Errorf("g: location hash %q, want #panel", h)
	}

	// "/" focuses the search field; typing there triggers nothing.
	tb.keys(t, "/")
	if id := eval[string](t, tb, `document.activeElement.id`); id != "search" {
		t.Fatalf("after /: focus on %q, want search", id)
	}
	tb.keys(t, "na1?j")
	if v := eval[string](t, tb, `document.getElementById("search").value`); v != "na1?j" {
		t.Errorf("typed into the search field: %q", v)
	}
	tb.do(t, "focus the note", chromedp.Focus(`#note`))
	tb.keys(t, "a2c?")
	if got := eval[[]any](t, tb, `[document.getElementById("note").value, document.getElementById("reason-2").checked,
		document.getElementById("confirm").checked, document.getElementById("shortcuts").open]`); got[0] != "a2c?" || got[1] != true || got[2] != true || got[3] != false {
		t.Errorf("typing in the textarea: value, reason-2, confirm, help = %v", got)
	}
	if c := clicks(); c != "next,accept,go-panel" {
		t.Errorf("typing clicked %q", c)
	}

	// Ctrl, Alt and Meta combinations are the browser's.
	tb.do(t, "blur", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	for _, m := range []chromedp.Modifier{chromedp.ModifierCtrl, chromedp.ModifierAlt, chromedp.ModifierMeta} {
		tb.keys(t, "n", m)
	}
	if c := clicks(); c != "next,accept,go-panel" {
		t.Errorf("modified keys clicked %q", c)
	}
}

func testQueue(t *testing.T, f *fixtures, browser context.Context) {
	tb := newTab(t, browser, false)
	tb.open(t, f.URL+"/fixture/queue.html")
	type state struct {
		Selected []string // ids of rows with class selected
		Aria     []string // ids of rows with aria-selected=true
		Focus    string   // data-id of the row of the focused a[data-open], or the focused id
	}
	read := func() state {
		return eval[state](t, tb, `(function(){
			var ids = function(sel){ return Array.from(document.querySelectorAll(sel)).map(function(r){ return r.dataset.id; }); };
			var a = document.activeElement, row = a && a.closest("[data-row]");
			return {Selected: ids("[data-row].selected"), Aria: ids('[data-row][aria-selected="true"]'),
				Focus: a && a.matches("a[data-open]") && row ? row.dataset.id : (a && a.id) || (a && a.tagName) };
		})()`)
	}
	expect := func(what, sel, focus string) {
		t.Helper()
		s := read()
		if strings.Join(s.Selected, ",") != sel || strings.Join(s.Aria, ",") != sel || s.Focus != focus {
			t.Errorf("%s: selected %q aria %q focus %q, want %s and focus %s", what, s.Selected, s.Aria, s.Focus, sel, focus)
		}
	}

	// j/k typed in the filter field do nothing.
	tb.do(t, "focus the filter", chromedp.Focus(`#filter`))
	tb.keys(t, "jk")
	expect("typing jk", "", "filter")
	tb.do(t, "blur", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))

	tb.keys(t, "j")
	expect("j", "p1", "p1")
	tb.keys(t, "jj")
	expect("jjj", "p3", "p3")
	tb.keys(t, "k")
	expect("k", "p2", "p2")
	tb.keys(t, "kkk")
	expect("k at the top", "p1", "p1")
	tb.keys(t, "jjjjjjj")
	expect("j at the bottom", "p5", "p5")
	tb.keys(t, "kk")
	expect("back to p3", "p3", "p3")

	swap := func(set string) {
		t.Helper()
		n := eval[int](t, tb, `window.__test.settled`)
		tb.do(t, "swap "+set, chromedp.Evaluate[chromedp.Void](`htmx.ajax("GET", "/rows?set=`+set+`", {target: "#rows", swap: "outerHTML"}); 0`))
		tb.waitFor(t, "swap "+set+" settled", fmt.Sprintf(`window.__test.settled > %d`, n))
	}

	// The focus was on the selected row's link, inside the swapped region: the same id is
	// selected at its new place and the focus goes back to its link.
	swap("b")
	if n := eval[int](t, tb, `document.querySelectorAll("[data-row]").length`); n != 6 {
		t.Fatalf("after swap b: %d rows, want 6", n)
	}
	expect("swap b (focus inside)", "p3", "p3")

	// Focus elsewhere (the filter): the row at the same index is selected, focus stays put.
	tb.do(t, "focus the filter", chromedp.Focus(`#filter`))
	swap("c")
	expect("swap c (p3 gone)", "p4", "filter")

	// Fewer rows: the index is clamped; the focus on <body> is not taken.
	tb.do(t, "blur", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	swap("d")
	expect("swap d (one row)", "p1", "BODY")

	// Enter with the focus on no control follows the selected row's link.
	tb.keys(t, kb.Enter)
	tb.do(t, "opened", chromedp.WaitVisible(`#opened`))
	if q := eval[string](t, tb, `location.search`); q != "?id=p1" {
		t.Errorf("Enter opened %q, want ?id=p1", q)
	}
}

func testHeartbeat(t *testing.T, f *fixtures, browser context.Context) {
	tb := newTab(t, browser, false)
	tb.open(t, f.URL+"/fixture/claim.html")

	// Heartbeat: POSTs with the poll headers arrive.
	waitServer(t, "a heartbeat", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.beats) >= 1
	})
	f.mu.Lock()
	h, method := f.beats[0], f.beatMethod
	f.mu.Unlock()
	if method != http.MethodPost || h.Get("X-Portal-Poll") != "1" || h.Get("HX-Request") != "true" {
		t.Errorf("heartbeat: %s with X-Portal-Poll %q HX-Request %q, want POST, 1, true", method, h.Get("X-Portal-Poll"), h.Get("HX-Request"))
	}
	if s := h.Get("Sec-Fetch-Site"); s != "same-origin" {
		t.Errorf("heartbeat: Sec-Fetch-Site %q, want same-origin (CrossOriginProtection accepts it)", s)
	}

	// Seek buttons set the video's time (seconds and m:ss).
	tb.waitFor(t, "media metadata", `document.getElementById("liveness").readyState >= 1`)
	tb.do(t, "seek 4.5", chromedp.Click(`#seek-45`))
	tb.waitFor(t, "at 4.5 s", `Math.abs(document.getElementById("liveness").currentTime - 4.5) < 0.01`)
	tb.do(t, "seek 0:07", chromedp.Click(`#seek-7`))
	tb.waitFor(t, "at 7 s", `Math.abs(document.getElementById("liveness").currentTime - 7) < 0.01`)

	// Leaving the page sends the release beacon.
	tb.open(t, f.URL+"/fixture/opened.html")
	waitServer(t, "the release beacon", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.releases) >= 1
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.releases[0] != http.MethodPost {
		t.Errorf("release: %s, want POST", f.releases[0])
	}
}

func testClaimLost(t *testing.T, f *fixtures, browser context.Context) {
	tb := newTab(t, browser, false)
	tb.open(t, f.URL+"/fixture/lost.html")
	tb.do(t, "open the viewer", chromedp.Click(`#ev1`), chromedp.WaitVisible(`#evidence-viewer`))

	// The gateway gives the process to someone else: the next heartbeat gets 409.
	f.lost.Store(true)
	tb.waitFor(t, "claim lost", `window.__test.events.indexOf("claim-lost:409") >= 0`)
	tb.waitFor(t, "banner", `!!document.querySelector('#htmx-error [data-testid="error-fragment"]')`)
	if txt := eval[string](t, tb, `document.getElementById("htmx-error").textContent`); !strings.Contains(txt, "Another reviewer has this process") {
		t.Errorf("banner: %q", txt)
	}
	if eval[bool](t, tb, `!document.getElementById("evidence-viewer").hidden`) {
		t.Error("the viewer stayed open over the claim-lost banner")
	}
	// Here the heartbeat element held the image: its content is now the server's message
	// (the whole fragment's text, having no error-message), so the focus goes to #main.
	// decide.html (ClaimLostLocksPanel) has the real layout, where it goes back to the image.
	notice := eval[[]string](t, tb, `(function(){ var n = document.querySelector("[data-heartbeat-url]");
		return [n.textContent, n.getAttribute("data-testid"), n.className]; })()`)
	if notice[0] != "Claim taken. Another reviewer has this process." || notice[1] != "claim-lost" || !strings.Contains(notice[2], "claim-lost") {
		t.Errorf("heartbeat element after 409: text, testid, class = %q", notice)
	}
	if id := eval[string](t, tb, `document.activeElement.id`); id != "main" {
		t.Errorf("after the viewer closed (its source gone): focus on %q, want main", id)
	}

	// The banner stays when a later htmx request succeeds (ordinary error banners go).
	n0 := eval[int](t, tb, `window.__test.settled`)
	tb.do(t, "another htmx request", chromedp.Evaluate[chromedp.Void](`htmx.ajax("GET", "/rows?set=d", {target: "#scratch"}); 0`))
	tb.waitFor(t, "request settled", fmt.Sprintf(`window.__test.settled > %d`, n0))
	if !eval[bool](t, tb, `!!document.querySelector('#htmx-error [data-testid="error-fragment"]')`) {
		t.Error("the claim-lost banner went away after a successful request")
	}

	// The heartbeat stopped: no call follows the 409 (two more periods pass).
	n := f.lostCalls.Load()
	time.Sleep(2500 * time.Millisecond)
	if m := f.lostCalls.Load(); m != n || n != 1 {
		t.Errorf("heartbeat calls after 409: %d then %d, want 1 and no more", n, m)
	}
}

// jsString is v as a JavaScript string literal.
func jsString(v string) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// goTo starts a navigation from the page itself, without waiting for a load (the page
// opened may navigate again at once: use waitPage).
func (tb *tab) goTo(t *testing.T, url string) {
	t.Helper()
	tb.do(t, "go to "+url, chromedp.Evaluate[chromedp.Void](`location.href = `+jsString(url)+`; 0`))
}

// waitPage waits (generously) until the expression is true, across navigations.
func (tb *tab) waitPage(t *testing.T, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](`!!(`+expr+`)`))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s (last error: %v)", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// js runs a statement in the page.
func (tb *tab) js(t *testing.T, what, stmt string) {
	t.Helper()
	tb.do(t, what, chromedp.Evaluate[chromedp.Void](stmt+`; 0`))
}

// setValue sets a field's value as typing or pasting does (an input event follows).
func (tb *tab) setValue(t *testing.T, sel, v string) {
	t.Helper()
	tb.js(t, "set "+sel, `(function(){ var el = document.querySelector(`+jsString(sel)+`); el.value = `+jsString(v)+`;
		el.dispatchEvent(new Event("input", {bubbles: true})); })()`)
}

// submits lists the submit events the page saw: "<form id>:sent" or ":prevented".
func submits(t *testing.T, tb *tab) string {
	t.Helper()
	return strings.Join(eval[[]string](t, tb, `window.__test.submits.map(function (e) {
		return e.target.id + ":" + (e.defaultPrevented ? "prevented" : "sent"); })`), ",")
}

// settle gives a request that must not happen the time to arrive: it only delays a
// negative check (a wrong pass at worst, never a wrong failure).
func settle() { time.Sleep(600 * time.Millisecond) }

func (f *fixtures) lastDecision(t *testing.T) url.Values {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.decisions) == 0 {
		t.Fatal("no decision was posted")
	}
	return f.decisions[len(f.decisions)-1]
}

// form[data-auto-submit] claims once, as a form submission (no release beacon); the
// claim's mark (?claimed=N) comes off the address bar, so a reload claims again.
func testAutoClaim(t *testing.T, f *fixtures, browser context.Context) {
	tb := newTab(t, browser, false)
	c0, _ := f.counts()
	tb.open(t, f.URL+"/fixture/opened.html")
	tb.goTo(t, f.URL+"/fixture/autosubmit.html")
	tb.waitPage(t, "claimed, shown the answer, mark taken off", `location.search === "?answer=claim" && document.getElementById("opened")`)
	settle()
	if c, _ := f.counts(); c != c0+1 {
		t.Errorf("claim POSTs: %d, want 1", c-c0)
	}
	if n := f.released("/release/auto"); n != 0 {
		t.Errorf("the automatic claim sent %d release beacons: it is a submission, not leaving", n)
	}

	// Answered 204 the page stays: more content and a page shown again from the
	// back-forward cache submit nothing more.
	tb.open(t, f.URL+"/fixture/autosubmit-stay.html")
	waitServer(t, "the claim POST", func() bool { c, _ := f.counts(); return c >= c0+2 })
	tb.js(t, "more content, pageshow", `document.getElementById("main").dispatchEvent(new CustomEvent("htmx:load", {bubbles: true}));
		window.dispatchEvent(new PageTransitionEvent("pageshow", {persisted: true}))`)
	settle()
	if c, _ := f.counts(); c != c0+2 {
		t.Errorf("claim POSTs after re-enhancing: %d, want 2 (one per page)", c-c0)
	}
	f.mu.Lock()
	last := f.claims[len(f.claims)-1]
	f.mu.Unlock()
	if last != "stay=1" {
		t.Errorf("last claim: query %q", last)
	}
	if s := submits(t, tb); s != "auto:sent" {
		t.Errorf("submit events: %s, want auto:sent (one, through requestSubmit)", s)
	}
}

type lockState struct {
	Notice, NoticeTestID, NoticeClass string
	Locked                            bool
	PanelClass                        string
	Note, NoteRole, NoteClass         string
	Values                            map[string]string
	Checked                           []string
	ReadOnly, Disabled, AriaDisabled  []string
	Focus                             string
	ViewerOpen                        bool
}

const readLock = `(function(){
	var n = document.getElementById("claim-notice"), p = document.getElementById("decide"), note = p.firstElementChild;
	var ids = function (sel, pred) { return Array.from(p.querySelectorAll(sel)).filter(pred).map(function (e) { return e.id || e.name; }); };
	var values = {};
	p.querySelectorAll("input[type=text], textarea").forEach(function (e) { values[e.id] = e.value; });
	var v = document.getElementById("evidence-viewer");
	return {Notice: n.textContent, NoticeTestID: n.getAttribute("data-testid"), NoticeClass: n.className,
		Locked: p.hasAttribute("data-locked"), PanelClass: p.className,
		Note: note.textContent, NoteRole: note.getAttribute("role") || "", NoteClass: note.className,
		Values: values, Checked: ids("input", function (e) { return e.checked; }),
		ReadOnly: ids("input, textarea", function (e) { return e.readOnly; }),
		Disabled: ids("button, select, input, textarea", function (e) { return e.disabled; }),
		AriaDisabled: ids("a", function (e) { return e.getAttribute("aria-disabled") === "true"; }),
		Focus: document.activeElement.id, ViewerOpen: !!v && !v.hidden};
})()`

const lockedNote = "This case is no longer yours to decide. What you typed is kept below so you can copy it."

// checkLocked checks the decision panel of decide.html once the claim is lost.
func checkLocked(t *testing.T, st lockState, values map[string]string) {
	t.Helper()
	if !st.Locked || !strings.Contains(" "+st.PanelClass+" ", " locked ") {
		t.Errorf("panel: data-locked %v, class %q", st.Locked, st.PanelClass)
	}
	if st.Note != lockedNote || st.NoteRole != "status" || st.NoteClass != "locked-note" {
		t.Errorf("panel's first child: %q role %q class %q", st.Note, st.NoteRole, st.NoteClass)
	}
	for id, want := range values {
		if st.Values[id] != want {
			t.Errorf("%s: value %q, want %q (the text stays)", id, st.Values[id], want)
		}
	}
	if got, want := strings.Join(st.ReadOnly, ","), "field-birth_date,field-surname,field-document_number,accept-note,reject-addition"; got != want {
		t.Errorf("read-only fields: %s, want %s", got, want)
	}
	if got, want := strings.Join(st.Disabled, ","), "confirm-face,accept-channel,accept-submit,reason-1,reason-2,reject-submit"; got != want {
		t.Errorf("disabled controls: %s, want %s (hidden inputs and text fields stay enabled)", got, want)
	}
	if got := strings.Join(st.AriaDisabled, ","); got != "go-accept,go-reject" {
		t.Errorf("aria-disabled links: %s, want go-accept,go-reject", got)
	}
	if strings.Contains(st.Notice, "You are reviewing") || st.NoticeTestID != "claim-lost" ||
		!strings.Contains(" "+st.NoticeClass+" ", " claim-lost ") || strings.Contains(st.NoticeClass, "claim-mine") {
		t.Errorf("claim notice: %q testid %q class %q", st.Notice, st.NoticeTestID, st.NoticeClass)
	}
}

// A heartbeat answered 409: the decision panel locks at once, what was typed stays.
func testClaimLostLocks(t *testing.T, f *fixtures, browser context.Context) {
	tb := newTab(t, browser, false)
	tb.open(t, f.URL+"/fixture/decide.html")
	_, d0 := f.counts()
	tb.do(t, "focus the addition", chromedp.Focus(`#reject-addition`))
	tb.keys(t, "Photo is blurry")
	tb.do(t, "focus the note", chromedp.Focus(`#accept-note`))
	tb.keys(t, "checked twice")
	tb.setValue(t, "#field-birth_date", "1991-01-02")
	tb.do(t, "choose a reason", chromedp.Click(`#reason-1`))
	tb.do(t, "open the viewer", chromedp.Click(`#ev1`), chromedp.WaitVisible(`#evidence-viewer`))

	// Another reviewer takes the process: the heartbeat gets 409 with an error fragment.
	tb.js(t, "lose the claim", `document.getElementById("claim-notice").setAttribute("data-heartbeat-url", "/hb/conflict")`)
	tb.waitFor(t, "claim lost", `window.__test.events.indexOf("claim-lost:409") >= 0`)
	st := eval[lockState](t, tb, readLock)
	checkLocked(t, st, map[string]string{"reject-addition": "Photo is blurry", "accept-note": "checked twice",
		"field-birth_date": "1991-01-02", "field-surname": "García"})
	if st.Notice != "Ana Example is reviewing this process now." {
		t.Errorf("claim notice: %q, want the fragment's error-message", st.Notice)
	}
	if strings.Join(st.Checked, ",") != "reason-1" {
		t.Errorf("checked: %q, want reason-1 kept", st.Checked)
	}
	if st.ViewerOpen || st.Focus != "ev1" {
		t.Errorf("viewer open %v, focus %q: want closed, focus back on ev1", st.ViewerOpen, st.Focus)
	}
	if !eval[bool](t, tb, `!!document.querySelector('#htmx-error[data-sticky] [data-testid="error-fragment"]')`) {
		t.Error("no sticky claim-lost banner")
	}

	// The text can still be selected (and copied); typing changes nothing.
	tb.do(t, "focus the addition", chromedp.Focus(`#reject-addition`))
	tb.keys(t, "xy")
	if got := eval[[]any](t, tb, `(function(){ var a = document.getElementById("reject-addition"); a.select();
		return [a.value, document.activeElement === a, a.selectionEnd - a.selectionStart]; })()`); got[0] != "Photo is blurry" || got[1] != true || got[2] != float64(len("Photo is blurry")) {
		t.Errorf("read-only addition: value, focused, selected length = %v", got)
	}

	// Shortcuts no longer act on the panel.
	tb.js(t, "blur", `document.activeElement.blur()`)
	tb.keys(t, "ar2")
	if c := eval[[]string](t, tb, `window.__test.clicks`); len(c) != 0 {
		t.Errorf("shortcuts clicked %q in the locked panel", c)
	}
	if eval[bool](t, tb, `document.getElementById("reason-2").checked`) {
		t.Error("shortcut 2 checked a reason in the locked panel")
	}
	tb.do(t, "click the locked link", chromedp.Click(`#go-reject`))
	if h := eval[string](t, tb, `location.hash`); h != "" {
		t.Errorf("the locked Reject link was followed: hash %q", h)
	}

	// No submission gets through: requestSubmit, Enter in a field, the disabled buttons.
	tb.js(t, "requestSubmit", `document.getElementById("reject-panel").requestSubmit(); document.getElementById("accept-panel").requestSubmit()`)
	if s := submits(t, tb); s != "reject-panel:prevented,accept-panel:prevented" {
		t.Errorf("submit events: %s, want both prevented", s)
	}
	tb.do(t, "focus a field", chromedp.Focus(`#field-surname`))
	tb.keys(t, kb.Enter)
	tb.do(t, "click the disabled submit", chromedp.Click(`#accept-submit`))
	if s := submits(t, tb); strings.Contains(s, ":sent") {
		t.Errorf("submit events: %s, none may be sent", s)
	}
	settle()
	if _, d := f.counts(); d != d0 {
		t.Errorf("%d decisions posted from a locked panel", d-d0)
	}
	if p := eval[string](t, tb, `location.pathname`); p != "/fixture/decide.html" {
		t.Errorf("the page went to %s", p)
	}
	if n := f.conflictCalls.Load(); n != 1 {
		t.Errorf("heartbeat calls after 409: %d, want 1", n)
	}

	// The lost claim is not released on leaving: there is nothing of ours to release.
	tb.open(t, f.URL+"/fixture/opened.html")
	settle()
	if n := f.released("/release/decide"); n != 0 {
		t.Errorf("%d release beacons after the claim was lost", n)
	}
}

// A heartbeat answered 401: locked the same way, the notice tells how to go on.
func testClaimLostSession(t *testing.T, f *fixtures, browser context.Context) {
	tb := newTab(t, browser, false)
	tb.open(t, f.URL+"/fixture/decide.html")
	tb.setValue(t, "#reject-addition", "Second page missing")
	tb.js(t, "end the session", `document.getElementById("claim-notice").setAttribute("data-heartbeat-url", "/hb/gone")`)
	tb.waitFor(t, "claim lost", `window.__test.events.indexOf("claim-lost:401") >= 0`)
	st := eval[lockState](t, tb, readLock)
	checkLocked(t, st, map[string]string{"reject-addition": "Second page missing"})
	if want := "Your session has ended. Sign in again in a new tab; what you typed stays here."; st.Notice != want {
		t.Errorf("claim notice: %q, want %q", st.Notice, want)
	}
}

// An htmx poll answered 401 with HX-Redirect (the session ended) on a page with a
// decision panel: the page stays, the panel locks, and the typed text is kept.
func testPollAfterSession(t *testing.T, f *fixtures, browser context.Context) {
	tb := newTab(t, browser, false)
	tb.open(t, f.URL+"/fixture/decide.html")
	url := eval[string](t, tb, `location.href`)
	tb.setValue(t, "#reject-addition", "Typed before the session ended")
	tb.js(t, "a poll that meets the ended session", `(function(){ var d = document.createElement("div");
		d.setAttribute("hx-get", "/hb/gone"); d.setAttribute("hx-trigger", "load"); d.setAttribute("hx-headers", '{"X-Portal-Poll": "1"}');
		document.getElementById("main").appendChild(d); htmx.process(d); return true; })()`)
	tb.waitFor(t, "claim lost", `window.__test.events.indexOf("claim-lost:401") >= 0`)
	st := eval[lockState](t, tb, readLock)
	checkLocked(t, st, map[string]string{"reject-addition": "Typed before the session ended"})
	time.Sleep(600 * time.Millisecond) // a redirect, if any, would have happened by now
	if got := eval[string](t, tb, `location.href`); got != url {
		t.Errorf("the page navigated to %s; the typed text is gone", got)
	}
}

const (
	idleWarning = "You will be signed out in 2 minutes because of inactivity."
	idleEnded   = "Your session has ended. Sign in again in a new tab, then send your decision; what you typed stays here."
	promptShown = `!!document.getElementById("idle-prompt")`
	promptText  = `(document.getElementById("idle-prompt-text") || {}).textContent`
)

func checkEnded(t *testing.T, tb *tab) {
	t.Helper()
	got := eval[[]any](t, tb, `(function(){ var p = document.getElementById("idle-prompt"), a = p.querySelector("a");
		return [a.getAttribute("href"), a.target, a.rel, a.getAttribute("data-testid"),
			p.querySelector('[data-testid="stay-signed-in"]').hidden]; })()`)
	if got[0] != "/login" || got[1] != "_blank" || got[2] != "noopener" || got[3] != "idle-sign-in" || got[4] != true {
		t.Errorf("ended prompt: link href, target, rel, testid, stay hidden = %v", got)
	}
}

// data-idle-seconds: the prompt, Stay signed in (204 and 401), what counts as activity.
func testIdlePrompt(t *testing.T, f *fixtures, browser context.Context) {
	tb := newTab(t, browser, false)
	tb.open(t, f.URL+"/fixture/idle.html") // 121 s: the prompt after 1 s; the note has autofocus
	tb.setValue(t, "#note", "my reasons")
	tb.waitFor(t, "the prompt", promptShown)

	// Polls go on (every 300 ms) and do not count: the prompt stays.
	p0 := f.polls.Load()
	waitServer(t, "two more polls", func() bool { return f.polls.Load() >= p0+2 })
	got := eval[[]string](t, tb, `(function(){ var p = document.getElementById("idle-prompt");
		var label = document.getElementById(p.getAttribute("aria-labelledby"));
		return [String(!!p), p.getAttribute("role"), p.getAttribute("data-testid"), label ? label.textContent : "",
			String(document.getElementById("main").firstElementChild === p),
			document.activeElement.getAttribute("data-testid") || document.activeElement.id,
			document.activeElement.textContent]; })()`)
	want := []string{"true", "alertdialog", "idle-prompt", idleWarning, "true", "stay-signed-in", "Stay signed in"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("prompt: %q\nwant %q", got, want)
	}

	// Enter on the focused button: the keepalive, the prompt goes, focus back to the note.
	k0 := f.keepaliveCalls("/keepalive/ok")
	tb.keys(t, kb.Enter)
	tb.waitFor(t, "the prompt gone", `!`+promptShown)
	if n := f.keepaliveCalls("/keepalive/ok"); n != k0+1 {
		t.Errorf("keepalive calls: %d, want 1", n-k0)
	}
	f.mu.Lock()
	k := f.keepalives[len(f.keepalives)-1]
	f.mu.Unlock()
	if k.method != http.MethodPost || k.header.Get("HX-Request") != "true" || k.header.Get("X-Portal-Poll") != "" ||
		k.header.Get("Sec-Fetch-Site") != "same-origin" {
		t.Errorf("keepalive: %s HX-Request %q X-Portal-Poll %q Sec-Fetch-Site %q", k.method, k.header.Get("HX-Request"),
			k.header.Get("X-Portal-Poll"), k.header.Get("Sec-Fetch-Site"))
	}
	if id := eval[string](t, tb, `document.activeElement.id`); id != "note" {
		t.Errorf("after the prompt: focus on %q, want note", id)
	}

	// The clock started again: the prompt comes back; a request that is not a poll is
	// activity and sends it away.
	tb.waitFor(t, "the prompt again", promptShown)
	a0 := f.acts.Load()
	tb.js(t, "an htmx request", `htmx.ajax("POST", "/act", {target: "#scratch", swap: "none"})`)
	tb.waitFor(t, "the prompt gone after a request", `!`+promptShown) // at the send
	waitServer(t, "the htmx request", func() bool { return f.acts.Load() >= a0+1 })

	// The session ended meanwhile: 401 says so, and the text stays.
	tb.js(t, "session gone", `document.getElementById("main").setAttribute("data-keepalive-url", "/keepalive/gone")`)
	tb.waitFor(t, "the prompt once more", promptShown)
	tb.do(t, "stay signed in", chromedp.Click(`[data-testid="stay-signed-in"]`))
	tb.waitFor(t, "the ended message", promptText+` === `+jsString(idleEnded))
	checkEnded(t, tb)
	if got := eval[[]string](t, tb, `[document.getElementById("note").value, location.pathname, document.activeElement.getAttribute("data-testid") || ""]`); got[0] != "my reasons" || got[1] != "/fixture/idle.html" || got[2] != "idle-sign-in" {
		t.Errorf("after 401: note, page, focus = %q", got)
	}
	if n := f.keepaliveCalls("/keepalive/gone"); n != 1 {
		t.Errorf("keepalive calls answered 401: %d, want 1", n)
	}
	// Ended is final: later requests do not bring back the warning.
	tb.js(t, "an htmx request", `htmx.ajax("POST", "/act", {target: "#scratch", swap: "none"})`)
	waitServer(t, "the request", func() bool { return f.acts.Load() >= a0+2 })
	if txt := eval[string](t, tb, promptText); txt != idleEnded {
		t.Errorf("after a later request the prompt says %q", txt)
	}
}

// The idle time passes without an answer: the prompt says the session ended; nothing
// is reloaded, the text stays.
func testIdleTimeout(t *testing.T, f *fixtures, browser context.Context) {
	tb := newTab(t, browser, false)
	tb.open(t, f.URL+"/fixture/idle-short.html") // 4 s: the prompt at half time, the end at 4 s
	tb.setValue(t, "#note", "kept text")
	tb.waitFor(t, "the ended message", promptText+` === `+jsString(idleEnded))
	seen := eval[[]string](t, tb, `window.__test.idle`)
	if len(seen) != 2 || !strings.HasPrefix(seen[0], "You will be signed out in ") || !strings.HasSuffix(seen[0], " because of inactivity.") {
		t.Errorf("prompt texts: %q, want the warning then the end", seen)
	}
	checkEnded(t, tb)
	if got := eval[[]string](t, tb, `[document.getElementById("note").value, location.pathname]`); got[0] != "kept text" || got[1] != "/fixture/idle-short.html" {
		t.Errorf("after the end: note, page = %q", got)
	}
	if n := f.keepaliveCalls("/keepalive/short"); n != 0 {
		t.Errorf("%d keepalive calls without a click", n)
	}
}

// form[data-check-session]: the keepalive first; sent once.
func testSubmitGuard(t *testing.T, f *fixtures, browser context.Context) {
	tb := newTab(t, browser, false)
	setKeepalive := func(u string) {
		t.Helper()
		tb.js(t, "keepalive "+u, `document.getElementById("main").setAttribute("data-keepalive-url", `+jsString(u)+`)`)
	}
	decided := `location.search === "?decided=1" && document.getElementById("opened")`

	// 204, double click: one keepalive, one POST with the clicked button's name and value.
	tb.open(t, f.URL+"/fixture/decide.html")
	setKeepalive("/keepalive/ok?slow=1")
	tb.setValue(t, "#accept-note", "Looks fine")
	tb.setValue(t, "#field-birth_date", "1991-01-02")
	k0 := f.keepaliveCalls("/keepalive/ok")
	_, d0 := f.counts()
	tb.js(t, "double click", `var b = document.getElementById("accept-submit"); b.click(); b.click()`)
	tb.waitPage(t, "decided", decided)
	settle()
	if _, d := f.counts(); d != d0+1 {
		t.Fatalf("decisions posted: %d, want 1", d-d0)
	}
	if n := f.keepaliveCalls("/keepalive/ok"); n != k0+1 {
		t.Errorf("keepalive calls: %d, want 1", n-k0)
	}
	got := f.lastDecision(t)
	wantForm := map[string]string{"verdict": "accept", "action": "accept-now", "note": "Looks fine",
		"field.birth_date": "1991-01-02", "corrections_seen": `[["birth_date","1991-01-02"]]`}
	for k, v := range wantForm {
		if got.Get(k) != v {
			t.Errorf("posted %s = %q, want %q", k, got.Get(k), v)
		}
	}
	if n := f.released("/release/decide"); n != 0 {
		t.Errorf("deciding sent %d release beacons", n)
	}

	// 401: not sent, the page and the text stay, a sticky banner says what to do.
	tb.open(t, f.URL+"/fixture/decide.html")
	setKeepalive("/keepalive/gone")
	tb.setValue(t, "#reject-addition", "Please send a new photo")
	tb.do(t, "choose a reason", chromedp.Click(`#reason-2`))
	_, d0 = f.counts()
	tb.do(t, "reject", chromedp.Click(`#reject-submit`))
	tb.waitFor(t, "the banner", `(function(){ var b = document.getElementById("htmx-error"); return !!b && b.hasAttribute("data-sticky"); })()`)
	banner := eval[[]string](t, tb, `(function(){ var b = document.getElementById("htmx-error"), a = b.querySelector("a");
		return [b.textContent, a.getAttribute("href"), a.target, a.rel]; })()`)
	wantBanner := []string{"Your session has ended. Sign in again in a new tab, then send again; what you typed is kept.", "/login", "_blank", "noopener"}
	if strings.Join(banner, "|") != strings.Join(wantBanner, "|") {
		t.Errorf("banner: %q\nwant %q", banner, wantBanner)
	}
	settle()
	if _, d := f.counts(); d != d0 {
		t.Errorf("%d decisions posted after 401", d-d0)
	}
	if got := eval[[]any](t, tb, `[location.pathname, document.getElementById("reject-addition").value, document.getElementById("reason-2").checked]`); got[0] != "/fixture/decide.html" || got[1] != "Please send a new photo" || got[2] != true {
		t.Errorf("after 401: page, addition, reason = %v", got)
	}
	// Signed in again (in another tab): the next click sends it.
	setKeepalive("/keepalive/ok")
	tb.do(t, "reject again", chromedp.Click(`#reject-submit`))
	tb.waitPage(t, "decided", decided)
	got = f.lastDecision(t)
	if got.Get("verdict") != "reject" || got.Get("reason") != "2" || got.Get("addition") != "Please send a new photo" || got.Has("action") {
		t.Errorf("posted after signing in again: %v", got)
	}

	// The network fails: sent anyway (the server decides).
	tb.open(t, f.URL+"/fixture/decide.html")
	setKeepalive("/keepalive/drop")
	_, d0 = f.counts()
	tb.do(t, "accept", chromedp.Click(`#accept-submit`))
	tb.waitPage(t, "decided", decided)
	// (Chromium retries a request whose connection closed unanswered: one or more calls.)
	if _, d := f.counts(); d != d0+1 || f.keepaliveCalls("/keepalive/drop") < 1 {
		t.Errorf("network error: %d decisions, %d keepalive calls; want 1 and at least 1", d-d0, f.keepaliveCalls("/keepalive/drop"))
	}

	// No keepalive on the page: sent as it is, once.
	tb.open(t, f.URL+"/fixture/decide.html")
	tb.js(t, "no keepalive", `document.getElementById("main").removeAttribute("data-keepalive-url")`)
	_, d0 = f.counts()
	tb.js(t, "double click", `var b = document.getElementById("accept-submit"); b.click(); b.click()`)
	tb.waitPage(t, "decided", decided)
	settle()
	if _, d := f.counts(); d != d0+1 {
		t.Errorf("without keepalive: %d decisions, want 1", d-d0)
	}
}

// The corrections summary (old → new) and corrections_seen.
func testCorrections(t *testing.T, f *fixtures, browser context.Context) {
	tb := newTab(t, browser, false)
	tb.open(t, f.URL+"/fixture/decide.html")
	type summary struct {
		Items, Fields []string
		Text, Seen    string
		Markup        int // elements other than ul, li and span in the summary
		Corrected     []string
	}
	read := func() summary {
		return eval[summary](t, tb, `(function(){ var s = document.getElementById("corrections-summary");
			var li = Array.from(s.querySelectorAll("li"));
			return {Items: li.map(function (e) { return e.textContent; }), Fields: li.map(function (e) { return e.getAttribute("data-field"); }),
				Text: s.textContent, Seen: document.getElementById("corrections-seen").value,
				Markup: s.querySelectorAll(":not(ul):not(li):not(span)").length,
				Corrected: Array.from(document.querySelectorAll("input.corrected")).map(function (e) { return e.id; })}; })()`)
	}
	const empty = "No corrections: the data is sent as read."
	if s := read(); len(s.Items) != 0 || s.Text != empty || s.Seen != "" {
		t.Errorf("at first: %+v, want the empty text and no corrections_seen", s)
	}

	// Typed: one correction.
	tb.do(t, "focus the date", chromedp.Focus(`#field-birth_date`))
	tb.js(t, "select it", `document.getElementById("field-birth_date").select()`)
	tb.keys(t, "1991-01-02")
	s := read()
	if strings.Join(s.Items, "|") != "Date of birth: 1990-01-02 \u2192 1991-01-02" || s.Seen != `[["birth_date","1991-01-02"]]` ||
		strings.Join(s.Corrected, ",") != "field-birth_date" {
		t.Errorf("after typing the date: %+v", s)
	}

	// Three corrections: listed in the form's order, sent sorted by key, trimmed, as text.
	tb.setValue(t, "#field-surname", "  Garcia <b>Lopez</b> ")
	tb.setValue(t, "#field-document_number", "Y7654321")
	s = read()
	wantItems := []string{"Date of birth: 1990-01-02 \u2192 1991-01-02", "Surname: García \u2192 Garcia <b>Lopez</b>",
		"Document number: X1234567 \u2192 Y7654321"} // no data-label: the <label>'s text
	wantSeen := `[["birth_date","1991-01-02"],["document_number","Y7654321"],["surname","Garcia <b>Lopez</b>"]]`
	if strings.Join(s.Items, "|") != strings.Join(wantItems, "|") || s.Seen != wantSeen || s.Markup != 0 ||
		strings.Join(s.Fields, ",") != "birth_date,surname,document_number" {
		t.Errorf("three corrections: %+v\nwant items %q seen %s", s, wantItems, wantSeen)
	}
	var pairs [][2]string // what the server decodes
	if err := json.Unmarshal([]byte(s.Seen), &pairs); err != nil || len(pairs) != 3 || pairs[2] != [2]string{"surname", "Garcia <b>Lopez</b>"} {
		t.Errorf("corrections_seen decodes to %q (%v)", pairs, err)
	}

	// Only spaces around the read value: not a correction. All back: the empty text.
	tb.setValue(t, "#field-birth_date", " 1990-01-02 ")
	if s := read(); s.Seen != `[["document_number","Y7654321"],["surname","Garcia <b>Lopez</b>"]]` || len(s.Items) != 2 {
		t.Errorf("date back (with spaces): %+v", s)
	}
	tb.setValue(t, "#field-surname", "García")
	tb.setValue(t, "#field-document_number", "X1234567")
	if s := read(); len(s.Items) != 0 || s.Text != empty || s.Seen != "" || len(s.Corrected) != 0 {
		t.Errorf("all back: %+v", s)
	}

	// Computed again before submit, even for a change no input event reported.
	tb.js(t, "a silent change", `document.getElementById("field-document_number").value = "Z1";
		document.getElementById("corrections-seen").value = "stale"`)
	tb.do(t, "accept", chromedp.Click(`#accept-submit`))
	tb.waitPage(t, "decided", `location.search === "?decided=1" && document.getElementById("opened")`)
	if got := f.lastDecision(t).Get("corrections_seen"); got != `[["document_number","Z1"]]` {
		t.Errorf("posted corrections_seen = %q", got)
	}
}
