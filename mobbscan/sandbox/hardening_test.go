package sandbox

import (
	"net/http"
	"strings"
	"testing"
)

// TestControlAPIRefusesCrossOriginPosts: a page on another origin can make a browser post
// text/plain or a form without a preflight, so the control API takes only posts declared
// application/json (issue 9), and nothing happens on a refused one.
func TestControlAPIRefusesCrossOriginPosts(t *testing.T) {
	h := newHarness(t, Config{Control: true})
	for _, p := range []struct{ path, contentType, body string }{
		{"/_sandbox/seed", "text/plain", `{"count": 3}`},
		{"/_sandbox/seed", "application/x-www-form-urlencoded", "count=3"},
		{"/_sandbox/seed", "multipart/form-data; boundary=x", "--x--"},
		{"/_sandbox/seed", "", `{"count": 3}`},
		{"/_sandbox/reset", "text/plain", ""},
		{"/_sandbox/video", "text/plain;charset=UTF-8", `{"bytes": 1000}`},
	} {
		req, err := http.NewRequest(http.MethodPost, h.srv.URL+p.path, strings.NewReader(p.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", "https://evil.example")
		if p.contentType != "" {
			req.Header.Set("Content-Type", p.contentType)
		}
		resp, err := h.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("POST %s as %q: %d, want 415", p.path, p.contentType, resp.StatusCode)
		}
	}
	if n := len(h.sb.List()); n != 0 {
		t.Errorf("refused posts seeded %d processes", n)
	}
	// The same seed as JSON works (charset parameters allowed).
	var seeded struct{ IDs []string }
	if code := h.call(http.MethodPost, "/_sandbox/seed", map[string]int{"count": 2}, &seeded, ""); code != http.StatusOK || len(seeded.IDs) != 2 {
		t.Errorf("JSON seed: %d %v, want 200 with 2 ids", code, seeded.IDs)
	}
}
