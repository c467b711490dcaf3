package main

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/mobbscan-review/portal/store"
)

// TestBrowserQueueAfterLeaving: an agent who leaves a case for the queue by the
// navigation finds it no longer "mine" at once. The page's pagehide release is sent only
// once the queue's answer has arrived, so the queue link carries the page's claim and
// the queue releases it first (issue 12 defect: "a just-left case shows as 'mine' for up
// to 10 s").
func TestBrowserQueueAfterLeaving(t *testing.T) {
	p := startReviewPortal(t, 0)
	p.addUser(t, "ana@example.com", "Ana Agent", store.RoleAgent, "quiet river lantern sunrise")
	p.seed(t, map[string]any{"count": 2, "states": []string{"REVIEW"}, "outcome": "clean"})
	browser := newBrowser(t)
	ana := newProfile(t, browser)
	signIn(t, ana, p.URL, "ana@example.com", "quiet river lantern sunrise")

	step(t, ana, "queue", chromedp.Navigate(p.URL+"/queue"))
	waitRows(t, ana, 2)
	poll(t, ana, "queue ready", `document.readyState === "complete"`)
	step(t, ana, "next case", chromedp.KeyEvent("n"), chromedp.WaitVisible(`[data-testid=decision-panel]`))
	poll(t, ana, "case page ready", `document.readyState === "complete" && document.querySelector("[data-release-url]")`)
	id := value(t, ana, "case", chromedp.Evaluate[string](`decodeURIComponent(location.pathname.split("/").pop())`))

	// Back by the navigation's Queue link: the list as it is first served, not after a
	// refresh, has the case unclaimed.
	step(t, ana, "back to the queue", chromedp.Click(`[data-testid=nav-queue]`, chromedp.NodeReady))
	poll(t, ana, "queue shown", `location.pathname === "/queue" && document.querySelector("[data-testid=queue-list]")`)
	if q := value(t, ana, "address", chromedp.Evaluate[string](`location.search`)); q != "" {
		t.Errorf("queue address %q: want the plain queue, without the claim it released", q)
	}
	mine := value(t, ana, "mine", chromedp.Evaluate[bool](`!!document.querySelector('tr[data-id="`+id+`"] [data-testid=claimed-mine]')`))
	if mine {
		t.Errorf("the case just left (%s) is still shown as the agent's", id)
	}
}
