package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mobbscan-review/portal/store"
)

// TestBrowserDeliveryRetryFeedback (issue 12, defect): "Retry now" on Admin → Deliveries
// says what it did, in the page's status line (role=status) that was there before the
// click, so screen readers announce it; the decision then reaches Mobbscan.
func TestBrowserDeliveryRetryFeedback(t *testing.T) {
	// Mobbscan refuses accepts, and a decision not delivered at once is parked.
	p := startReviewPortal(t, 0, "PORTAL_DELIVERY_PARK_AFTER", "1ms")
	p.addUser(t, "ana@example.com", "Ana Agent", store.RoleAgent, "quiet river lantern sunrise")
	p.addUser(t, "root@example.com", "Rhea Root", store.RoleAdmin, "amber harbour violin thunder")
	p.control(t, http.MethodPost, "/_sandbox/faults", map[string]any{"route": "accept", "kind": "503"}, nil)
	id := p.seed(t, map[string]any{"count": 1, "states": []string{"REVIEW"}, "outcome": "clean"})[0]

	browser := newBrowser(t)
	ana := newProfile(t, browser)
	signIn(t, ana, p.URL, "ana@example.com", "quiet river lantern sunrise")
	openForReview(t, ana, p, id)
	poll(t, ana, "accept enabled once the evidence is seen", `!document.querySelector("[data-testid=accept-submit]").disabled`)
	clickSubmit(t, ana, "accept-submit")
	poll(t, ana, "decided", `location.search.indexOf("done=decided") >= 0`)

	root := newProfile(t, browser)
	signIn(t, root, p.URL, "root@example.com", "amber harbour violin thunder")
	row := `document.querySelector("tr[data-testid=pending-row][data-state=parked] [data-testid=retry-now]")`
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		step(t, root, "deliveries", chromedp.Navigate(p.URL+"/admin/deliveries"), chromedp.WaitVisible(`h1`))
		if count(t, root, "tr[data-testid=pending-row][data-state=parked]") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the decision on %s was never parked", id)
		}
	}
	// Mobbscan is back; mark the status line to tell whether the answer replaced it.
	p.control(t, http.MethodDelete, "/_sandbox/faults", nil, nil)
	poll(t, root, "status line empty before", `(function(){ const s = document.querySelector("[data-testid=deliveries-status]");
		if (!s || s.getAttribute("role") !== "status" || s.textContent.trim() !== "") return false; s.dataset.before = "1"; return true })()`)
	poll(t, root, "retry button", row)
	clickSubmit(t, root, "retry-now")
	poll(t, root, "feedback in the same status line", `(function(){ const s = document.querySelector("[data-testid=deliveries-status]");
		return s && s.dataset.before === "1" && s.getAttribute("role") === "status" &&
			s.textContent.indexOf("Delivery of `+id+` retried: queued for sending to Mobbscan now.") >= 0 })()`)
	if n := count(t, root, "#htmx-error"); n != 0 {
		t.Errorf("error banner shown after the retry")
	}
	p.waitSandbox(t, id, "VERIFIED")
}
