package main

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/mobbscan-review/portal/store"
)

// TestBrowserSkipAndEscalate: an agent skips a case with "s" and "Next case" then hands
// them the other one; they escalate it with "e" and a note (a blank note is refused
// beside the field); the case shows in the Escalated view with the note, and an
// administrator opens it from there, sees the escalation and returns it to the queue.
func TestBrowserSkipAndEscalate(t *testing.T) {
	p := startReviewPortal(t, 0)
	p.addUser(t, "ana@example.com", "Ana Agent", store.RoleAgent, "quiet river lantern sunrise")
	p.addUser(t, "ada@example.com", "Ada Admin", store.RoleAdmin, "amber forest violin thunder")
	p.seed(t, map[string]any{"count": 2, "states": []string{"REVIEW"}, "outcome": "clean"})
	browser := newBrowser(t)
	ana, ada := newProfile(t, browser), newProfile(t, browser)
	signIn(t, ana, p.URL, "ana@example.com", "quiet river lantern sunrise")
	signIn(t, ada, p.URL, "ada@example.com", "amber forest violin thunder")

	step(t, ana, "queue", chromedp.Navigate(p.URL+"/queue"))
	waitRows(t, ana, 2)
	poll(t, ana, "queue ready", `document.readyState === "complete"`)
	step(t, ana, "next case", chromedp.KeyEvent("n"), chromedp.WaitVisible(`[data-testid=decision-panel]`))
	poll(t, ana, "page ready", `document.readyState === "complete" && document.querySelector("[data-testid=skip]")`)
	skipped := value(t, ana, "location", chromedp.Evaluate[string](`location.pathname.split("/").pop()`))

	// s: skip. Back on the queue with the notice; n then opens the other case.
	step(t, ana, "s", chromedp.KeyEvent("s"))
	poll(t, ana, "skipped", `location.search.indexOf("done=skipped") >= 0 && document.querySelector("[data-testid=queue-notice]")`)
	poll(t, ana, "queue ready again", `document.readyState === "complete"`)
	step(t, ana, "next case after skipping", chromedp.KeyEvent("n"), chromedp.WaitVisible(`[data-testid=decision-panel]`))
	other := value(t, ana, "location", chromedp.Evaluate[string](`location.pathname.split("/").pop()`))
	if other == skipped {
		t.Fatalf("next case after skipping %s gave it back", skipped)
	}

	// e: escalate. A blank note is refused beside the field; a note escalates.
	poll(t, ana, "page ready", `document.readyState === "complete" && document.querySelector("[data-testid=escalate-open]")`)
	step(t, ana, "e", chromedp.KeyEvent("e"))
	poll(t, ana, "escalation form open", `document.querySelector("[data-testid=escalate]").open`)
	value(t, ana, "submit blank", chromedp.Evaluate[bool](`(document.querySelector("[data-testid=escalation-note]").required = false,
		document.querySelector("[data-testid=escalation-note]").value = "  ",
		document.querySelector("[data-testid=escalate-submit]").click(), true)`))
	poll(t, ana, "blank note refused", `document.readyState === "complete" && document.querySelector("[data-testid=err-escalation-note]")`)
	step(t, ana, "type the note", chromedp.SendKeys(`[data-testid=escalation-note]`, "Portrait and selfie disagree; need a second look."))
	clickSubmit(t, ana, "escalate-submit")
	poll(t, ana, "escalated", `location.search.indexOf("done=escalated") >= 0`)
	step(t, ana, "escalated view", chromedp.Navigate(p.URL+"/queue?view=escalated"))
	poll(t, ana, "listed with the note", fmt.Sprintf(`document.querySelector('tr[data-id=%q] [data-testid=escalation]') &&
		document.querySelector('tr[data-id=%q] [data-testid=escalation]').textContent.indexOf("need a second look") >= 0`, other, other))

	// The administrator opens it from the Escalated view, and returns it to the queue.
	step(t, ada, "escalated view", chromedp.Navigate(p.URL+"/queue?view=escalated"))
	waitRows(t, ada, 1)
	step(t, ada, "open", chromedp.Click(fmt.Sprintf(`tr[data-id=%q] a[data-open]`, other)))
	poll(t, ada, "escalation shown and claimed", `document.querySelector("[data-testid=escalated]") && document.querySelector("[data-testid=decision-panel]")`)
	clickSubmit(t, ada, "deescalate")
	poll(t, ada, "returned", `document.readyState === "complete" && !document.querySelector("[data-testid=escalated]")`)
}
