package sandbox

import (
	"context"
	"html/template"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// newBrowser starts Debian's Chromium headless with a fresh profile. It skips
// the test when Chromium is missing, except in CI, where that is a failure.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("no browser at %s: %v", chromiumPath, err)
		}
		t.Fatalf("CI is set but there is no browser at %s: %v", chromiumPath, err)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first action starts the browser; it must not run under a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	return ctx
}

var evidencePage = template.Must(template.New("page").Parse(`<!doctype html>
<html><body>
<video id="video" src="/mobbscan-agent/{{.ID}}/recording/video_liveness" preload="auto" muted playsinline></video>
{{range .Images}}<img id="{{.}}" src="/mobbscan-agent/{{$.ID}}/image/{{.}}" alt="{{.}}">
{{end}}</body></html>`))

// TestBrowserShowsEvidence loads the evidence in Chromium the way the portal
// shows it (through a same-origin proxy that adds the bearer token): the
// video plays and seeks, every image decodes.
func TestBrowserShowsEvidence(t *testing.T) {
	ctx := newBrowser(t)
	h := newHarness(t, Config{})
	id := h.seed(SeedSpec{DocType: DocIDCard, Silent: true})[0]

	target, err := url.Parse(h.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var rangeRequests atomic.Int32
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Header.Set("Authorization", "Bearer "+h.token)
		if r.In.Header.Get("Range") != "" {
			rangeRequests.Add(1)
		}
	}}
	mux := http.NewServeMux()
	mux.Handle("/mobbscan-agent/", proxy)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := evidencePage.Execute(w, struct {
			ID     string
			Images []string
		}{id, imageTypes}); err != nil {
			t.Error(err)
		}
	})
	page := httptest.NewServer(mux)
	defer page.Close()

	tctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, chromedp.Navigate(page.URL)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	if _, err := chromedp.Run(tctx, chromedp.Poll[bool](`document.getElementById("video").readyState === 4`,
		chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		state, _ := chromedp.Run(tctx, chromedp.Evaluate[string](`(() => { const v = document.getElementById("video");
			return "readyState " + v.readyState + ", error " + (v.error ? v.error.code + " " + v.error.message : "none") })()`))
		t.Fatalf("video never reached HAVE_ENOUGH_DATA (%s): %v", state, err)
	}
	seeked, err := chromedp.Run(tctx, chromedp.Evaluate[float64](`new Promise((resolve, reject) => {
		const v = document.getElementById("video");
		v.addEventListener("seeked", () => resolve(v.currentTime), {once: true});
		v.addEventListener("error", () => reject(new Error("video error " + (v.error && v.error.code))), {once: true});
		v.currentTime = 2;
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("seeking: %v", err)
	}
	if math.Abs(seeked-2) > 0.1 {
		t.Errorf("currentTime after seeking = %v, want 2", seeked)
	}
	duration, err := chromedp.Run(tctx, chromedp.Evaluate[float64](`document.getElementById("video").duration`))
	if err != nil || duration < 3 || duration > 5 {
		t.Errorf("duration = %v (%v), want about 4 s", duration, err)
	}
	if rangeRequests.Load() == 0 {
		t.Error("the browser made no Range request for the video")
	}

	if _, err := chromedp.Run(tctx, chromedp.Poll[bool](`Array.from(document.images).every(i => i.complete)`,
		chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		t.Fatalf("images never finished loading: %v", err)
	}
	widths, err := chromedp.Run(tctx, chromedp.Evaluate[map[string]int](
		`Object.fromEntries(Array.from(document.images).map(i => [i.id, i.naturalWidth]))`))
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range imageTypes {
		if widths[kind] <= 0 {
			t.Errorf("%s: naturalWidth %d, the browser could not decode it", kind, widths[kind])
		}
	}
	t.Logf("video seeked to %.2f s of %.2f s; image widths %v", seeked, duration, widths)
}
