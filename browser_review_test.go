package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/store"
)

// freePort returns a loopback address nobody listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// reviewPortal runs the portal with its embedded sandbox on a known address.
type reviewPortal struct {
	*portal
	sandbox string
}

func startReviewPortal(t *testing.T, initial int, env ...string) *reviewPortal {
	t.Helper()
	sb := freePort(t)
	vars := map[string]string{
		"PORTAL_SANDBOX_ADDR": sb, "PORTAL_SANDBOX_INITIAL": fmt.Sprint(initial), "PORTAL_SANDBOX_TRICKLE": "0",
	}
	for i := 0; i+1 < len(env); i += 2 {
		vars[env[i]] = env[i+1]
	}
	p := startPortal(t, vars)
	return &reviewPortal{portal: p, sandbox: "http://" + sb}
}

// addUser creates an account with a password straight in the portal's database.
func (p *portal) addUser(t *testing.T, email, name, role, password string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(p.DataDir, "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hash, err := auth.NewHasher(auth.TestParams).Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(ctx, store.System, &store.User{Email: email, DisplayName: name, Role: role, PasswordHash: hash, Active: true}); err != nil {
		t.Fatal(err)
	}
}

// control calls the sandbox's control API.
func (p *reviewPortal) control(t *testing.T, method, path string, body any, out any) {
	t.Helper()
	var b bytes.Buffer
	if body != nil {
		json.NewEncoder(&b).Encode(body)
	}
	req, _ := http.NewRequest(method, p.sandbox+path, &b)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("sandbox %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("sandbox %s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

func (p *reviewPortal) seed(t *testing.T, spec map[string]any) []string {
	t.Helper()
	var res struct{ IDs []string }
	p.control(t, http.MethodPost, "/_sandbox/seed", spec, &res)
	return res.IDs
}

type sandboxProcess struct {
	Status           string `json:"status"`
	Verdict          string `json:"verdict"`
	RejectionComment string `json:"rejectionComment"`
	Accepts          int    `json:"acceptsApplied"`
	Rejects          int    `json:"rejectsApplied"`
}

// waitSandbox polls the sandbox until the process has status want.
func (p *reviewPortal) waitSandbox(t *testing.T, id, want string) sandboxProcess {
	t.Helper()
	var sp sandboxProcess
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		p.control(t, http.MethodGet, "/_sandbox/processes/"+id, nil, &sp)
		if sp.Status == want {
			return sp
		}
	}
	t.Fatalf("sandbox process %s: status %q, want %q", id, sp.Status, want)
	return sp
}

// poll waits until the JavaScript expression is truthy in the tab, across page
// navigations (which interrupt a single evaluation).
func poll(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](`!!(`+expr+`)`))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
	}
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	page, _ := chromedp.Run(c, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText.slice(0, 1500)`))
	t.Fatalf("%s: never true (last error %v): %s\npage: %s", what, last, expr, page)
}

// clickSubmit presses a submit button by its data-testid without depending on where it
// is on the screen (images loading above can move it under a coordinate click).
func clickSubmit(t *testing.T, ctx context.Context, testid string) {
	t.Helper()
	value(t, ctx, "press "+testid, chromedp.Evaluate[bool](fmt.Sprintf(`(document.querySelector("[data-testid=%s]").click(), true)`, testid)))
}

func firstRowID(t *testing.T, ctx context.Context, what string) string {
	t.Helper()
	return value(t, ctx, what, chromedp.Evaluate[string](`(document.querySelector("tr[data-row]") || {dataset: {}}).dataset.id || ""`))
}

func count(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	return value(t, ctx, "count "+sel, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
}

// waitRows waits until the queue shows at least n rows (it refreshes itself).
func waitRows(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	if _, err := chromedp.Run(c, chromedp.Poll[bool](fmt.Sprintf(`document.querySelectorAll("tr[data-row]").length >= %d`, n))); err != nil {
		t.Fatalf("queue never showed %d rows (has %d): %v", n, count(t, ctx, "tr[data-row]"), err)
	}
}

func TestBrowserQueueAndProcessPage(t *testing.T) {
	p := startReviewPortal(t, 3)
	p.addUser(t, "ana@example.com", "Ana Agent", store.RoleAgent, "quiet river lantern sunrise")
	p.addUser(t, "bo@example.com", "Bo Agent", store.RoleAgent, "amber forest violin thunder")
	browser := newBrowser(t)
	ana, bo := newProfile(t, browser), newProfile(t, browser)
	signIn(t, ana, p.URL, "ana@example.com", "quiet river lantern sunrise")
	signIn(t, bo, p.URL, "bo@example.com", "amber forest violin thunder")

	// The sandbox's first processes arrive through the webhook; a new one appears
	// without a reload.
	step(t, ana, "queue", chromedp.Navigate(p.URL+"/queue"), chromedp.WaitVisible(`[data-testid=queue-list]`))
	waitRows(t, ana, 3)
	p.seed(t, map[string]any{"count": 1, "states": []string{"REVIEW"}})
	waitRows(t, ana, 4)

	// Ana opens the first process: every image decodes, the video plays and seeks.
	step(t, ana, "open process", chromedp.Click(`tr[data-row] a[data-open]`), chromedp.WaitVisible(`[data-testid=process-head]`))
	processURL := value(t, ana, "location", chromedp.Location())
	step(t, ana, "claimed", chromedp.WaitVisible(`[data-testid=claim-mine]`))
	poll(t, ana, "images decode", `(() => { const imgs = [...document.querySelectorAll("img[data-testid^=evidence-]")];
		return imgs.length >= 3 && imgs.every(i => i.complete && i.naturalWidth > 0); })()`)
	value(t, ana, "load video", chromedp.Evaluate[bool](`(() => { const v = document.querySelector("video"); v.preload = "auto"; v.muted = true; v.load(); return true; })()`))
	poll(t, ana, "video plays", `document.querySelector("video").readyState === 4`)
	value(t, ana, "seek", chromedp.Evaluate[bool](`(() => { document.querySelector("video").currentTime = 2; return true; })()`))
	poll(t, ana, "video seeks", `(() => { const v = document.querySelector("video"); return !v.seeking && Math.abs(v.currentTime - 2) < 0.25 && v.readyState >= 2; })()`)

	// Bo sees Ana's claim in the queue and on the page.
	step(t, bo, "bo queue", chromedp.Navigate(p.URL+"/queue"), chromedp.WaitVisible(`[data-testid=claimed-by]`))
	if txt := value(t, bo, "claimed by", chromedp.Text(`[data-testid=claimed-by]`)); txt != "Ana Agent" {
		t.Fatalf("claimed by: got %q, want Ana Agent", txt)
	}
	step(t, bo, "bo opens", chromedp.Navigate(processURL), chromedp.WaitVisible(`[data-testid=claim-other]`))
	if txt := value(t, bo, "claim banner", chromedp.Text(`[data-testid=claim-other]`)); !strings.Contains(txt, "Ana Agent") {
		t.Fatalf("claim banner: got %q", txt)
	}

	// "Next case" pressed by both at once gives two different processes.
	for _, ctx := range []context.Context{ana, bo} {
		step(t, ctx, "queue for next case", chromedp.Navigate(p.URL+"/queue"), chromedp.WaitVisible(`[data-testid=next-case]`))
	}
	var wg sync.WaitGroup
	locs := make([]string, 2)
	for i, ctx := range []context.Context{ana, bo} {
		wg.Add(1)
		go func(i int, ctx context.Context) {
			defer wg.Done()
			c, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if err := chromedp.Do(c, chromedp.Click(`[data-testid=next-case]`), chromedp.WaitVisible(`[data-testid=claim-mine]`)); err != nil {
				t.Errorf("next case %d: %v", i, err)
				return
			}
			locs[i], _ = chromedp.Run(c, chromedp.Location())
		}(i, ctx)
	}
	wg.Wait()
	if locs[0] == "" || locs[0] == locs[1] {
		t.Fatalf("next case: got %q and %q, want two different processes", locs[0], locs[1])
	}

	// Filters and pagination live in the URL: they survive a reload and the back button.
	p.seed(t, map[string]any{"count": 60, "states": []string{"REVIEW"}})
	step(t, ana, "queue again", chromedp.Navigate(p.URL+"/queue"))
	waitRows(t, ana, 50)
	step(t, ana, "newest first", chromedp.SetValue(`#f-sort`, "newest"))
	value(t, ana, "change", chromedp.Evaluate[bool](`document.querySelector("#f-sort").dispatchEvent(new Event("change", {bubbles: true}))`))
	poll(t, ana, "url has sort", `location.search.indexOf("sort=newest") >= 0`)
	step(t, ana, "reload", chromedp.Reload(), chromedp.WaitVisible(`[data-testid=queue-list]`))
	if v := value(t, ana, "sort after reload", chromedp.Value(`#f-sort`)); v != "newest" {
		t.Fatalf("sort after reload: got %q", v)
	}
	step(t, ana, "wait next page link", chromedp.WaitVisible(`[data-testid=next-page]`))
	first := firstRowID(t, ana, "first row")
	step(t, ana, "page 2", chromedp.Click(`[data-testid=next-page]`), chromedp.WaitVisible(`[data-testid=first-page]`))
	poll(t, ana, "url has cursor", `location.search.indexOf("after=") >= 0 && location.search.indexOf("sort=newest") >= 0`)
	page2 := firstRowID(t, ana, "page 2 first row")
	if page2 == first {
		t.Fatal("page 2 shows the same first row as page 1")
	}
	step(t, ana, "reload page 2", chromedp.Reload(), chromedp.WaitVisible(`[data-testid=first-page]`))
	if again := firstRowID(t, ana, "page 2 after reload"); again != page2 {
		t.Fatalf("page 2 after reload starts with %q, want %q", again, page2)
	}
	value(t, ana, "back", chromedp.Evaluate[bool](`(setTimeout(() => history.back(), 0), true)`)) // after answering: see TestBrowserHistory
	poll(t, ana, "back on page 1", `location.search.indexOf("after=") < 0 && document.querySelector("tr[data-row]") && !document.querySelector("[data-testid=first-page]")`)
	if back := firstRowID(t, ana, "page 1 after back"); back != first {
		t.Fatalf("back: first row %q, want %q", back, first)
	}
}

func TestBrowserDecideWithKeyboard(t *testing.T) {
	p := startReviewPortal(t, 0)
	p.addUser(t, "ana@example.com", "Ana Agent", store.RoleAgent, "quiet river lantern sunrise")
	clean := p.seed(t, map[string]any{"count": 1, "states": []string{"REVIEW"}, "outcome": "clean"})
	failed := p.seed(t, map[string]any{"count": 1, "states": []string{"REVIEW"}, "failed": []string{"validationFacialMatching"}})
	browser := newBrowser(t)
	ana := newProfile(t, browser)
	signIn(t, ana, p.URL, "ana@example.com", "quiet river lantern sunrise")
	step(t, ana, "queue", chromedp.Navigate(p.URL+"/queue"))
	waitRows(t, ana, 2)

	// n: next case; r: reject; 1: the first reason; Enter: send. Only the keyboard.
	poll(t, ana, "queue ready", `document.readyState === "complete"`)
	step(t, ana, "next case", chromedp.KeyEvent("n"), chromedp.WaitVisible(`[data-testid=decision-panel]`))
	poll(t, ana, "page ready", `document.readyState === "complete"`)
	loc := value(t, ana, "location", chromedp.Location())
	rejected := loc[strings.LastIndex(loc, "/")+1:]
	reason := value(t, ana, "first reason", chromedp.TextContent(`#reject-reasons .reason-text`))
	step(t, ana, "r", chromedp.KeyEvent("r"))
	poll(t, ana, "reason focused", `document.activeElement && document.activeElement.name === "reason"`)
	step(t, ana, "1", chromedp.KeyEvent("1"))
	poll(t, ana, "reason 1 picked", `document.querySelector("#reject-reasons input[data-shortcut='1']").checked`)
	step(t, ana, "enter", chromedp.KeyEvent(kb.Enter))
	// The agent lands on the next case, and Mobbscan gets the rejection with the reason.
	poll(t, ana, "next case after deciding", fmt.Sprintf(`location.search.indexOf("done=decided") >= 0 && location.pathname.indexOf(%q) < 0`, rejected))
	sp := p.waitSandbox(t, rejected, "NOT_VERIFIED")
	if sp.RejectionComment != reason || sp.Rejects != 1 {
		t.Fatalf("sandbox: comment %q (%d rejects), want %q once", sp.RejectionComment, sp.Rejects, reason)
	}

	// Accepting with a failed check demands the confirmation.
	target := failed[0]
	if rejected == target {
		target = p.seed(t, map[string]any{"count": 1, "states": []string{"REVIEW"}, "failed": []string{"validationFacialMatching"}})[0]
	}
	_ = clean
	// The portal learns of the process through the webhook: open it once it is indexed.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		step(t, ana, "open failed", chromedp.Navigate(p.URL+"/processes/"+target))
		if count(t, ana, "[data-testid=decision-panel]") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %s never became decidable", target)
		}
	}
	poll(t, ana, "accept enabled once the evidence is seen", `!document.querySelector("[data-testid=accept-submit]").disabled`)
	clickSubmit(t, ana, "accept-submit")
	poll(t, ana, "confirmation demanded", `document.readyState === "complete" && document.querySelector("[data-testid=err-confirm]")`)
	step(t, ana, "a", chromedp.KeyEvent("a"))
	poll(t, ana, "confirmation focused", `document.activeElement && document.activeElement.name === "confirm"`)
	step(t, ana, "tick", chromedp.KeyEvent(" "))
	poll(t, ana, "ticked", `document.activeElement && document.activeElement.checked`)
	clickSubmit(t, ana, "accept-submit")
	poll(t, ana, "left the page", `location.search.indexOf("done=decided") >= 0`)
	if sp := p.waitSandbox(t, target, "VERIFIED"); sp.Accepts != 1 {
		t.Fatalf("accepts applied: %d, want 1", sp.Accepts)
	}
}

// openForReview navigates to a process page until the portal has indexed the process
// and the page, after claiming it with its POST, shows the decision panel.
func openForReview(t *testing.T, ctx context.Context, p *reviewPortal, id string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		step(t, ctx, "open "+id, chromedp.Navigate(p.URL+"/processes/"+id))
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := chromedp.Run(c, chromedp.WaitVisible(`[data-testid=decision-panel]`))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %s never became decidable", id)
		}
	}
}

// TestBrowserTakeoverLocksThePanel (D6): when a colleague takes the process over, the
// first agent's page locks its decision panel within one heartbeat, says who took it
// and keeps what was typed; a link from another site shows a process without claiming.
func TestBrowserTakeoverLocksThePanel(t *testing.T) {
	p := startReviewPortal(t, 0, "PORTAL_CLAIM_TTL", "5s") // a heartbeat every second
	p.addUser(t, "ana@example.com", "Ana Agent", store.RoleAgent, "quiet river lantern sunrise")
	p.addUser(t, "bo@example.com", "Bo Agent", store.RoleAgent, "amber forest violin thunder")
	ids := p.seed(t, map[string]any{"count": 2, "states": []string{"REVIEW"}, "outcome": "clean"})
	browser := newBrowser(t)
	ana, bo := newProfile(t, browser), newProfile(t, browser)
	signIn(t, ana, p.URL, "ana@example.com", "quiet river lantern sunrise")
	signIn(t, bo, p.URL, "bo@example.com", "amber forest violin thunder")

	openForReview(t, ana, p, ids[0])
	step(t, ana, "reject panel", chromedp.Click(`[data-testid=go-reject]`), chromedp.WaitVisible(`#reject-addition`))
	// The panel moves the focus to its reasons once open: type after that, not into it.
	poll(t, ana, "focus on the reasons", `document.activeElement && document.activeElement.matches("#reject-reasons input[type=radio]")`)
	step(t, ana, "type", chromedp.SendKeys(`#reject-addition`, "Typed by Ana before the takeover"))

	step(t, bo, "bo opens", chromedp.Navigate(p.URL+"/processes/"+ids[0]), chromedp.WaitVisible(`[data-testid=take-over]`))
	step(t, bo, "take over", chromedp.Click(`[data-testid=take-over]`), chromedp.WaitVisible(`[data-testid=claim-mine]`))

	poll(t, ana, "panel locked", `document.querySelector("[data-testid=decision-panel][data-locked]") !== null`)
	if txt := value(t, ana, "lost notice", chromedp.Text(`[data-testid=claim-lost]`)); !strings.Contains(txt, "Bo Agent") || strings.Contains(txt, "You are reviewing") {
		t.Errorf("claim notice after the takeover: %q, want Bo named and no 'You are reviewing'", txt)
	}
	if got := value(t, ana, "text kept", chromedp.Value(`#reject-addition`)); got != "Typed by Ana before the takeover" {
		t.Errorf("typed text after the lock: %q", got)
	}
	if !value(t, ana, "locked controls", chromedp.Evaluate[bool](`document.querySelector("#reject-addition").readOnly &&
		document.querySelector("[data-testid=reject-submit]").disabled`)) {
		t.Errorf("the panel's controls are still live after the takeover")
	}

	// A link on another site (another port: a different origin) opens the second
	// process without claiming it.
	link := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><a id="go" href="%s/processes/%s">open</a>`, p.URL, ids[1])
	}))
	defer link.Close()
	openForReview(t, ana, p, ids[1]) // wait until indexed; then release it again
	step(t, ana, "release", chromedp.Click(`[data-testid=claim-mine] button[type=submit]`), chromedp.WaitVisible(`[data-testid=queue-list]`))
	step(t, ana, "other site", chromedp.Navigate(link.URL), chromedp.Click(`#go`), chromedp.WaitVisible(`[data-testid=not-claimed]`))
	time.Sleep(time.Second) // nothing may claim it behind the agent's back
	if n := count(t, ana, "[data-testid=claim-mine]"); n != 0 {
		t.Errorf("a link from another site claimed the process")
	}
	step(t, ana, "claim on purpose", chromedp.Click(`[data-testid=claim]`), chromedp.WaitVisible(`[data-testid=claim-mine]`))
}
