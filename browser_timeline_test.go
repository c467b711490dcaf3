package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/mobbscan-review/portal/store"
)

// TestBrowserTimelineAndNotes (issue 11): an agent opens a process; its timeline shows
// the notification, her claim and which evidence she viewed ("who saw this face"). She
// posts a note with the keyboard only and sees it in the timeline without a reload; a
// refused note comes back beside the field with her text kept, and no error banner.
func TestBrowserTimelineAndNotes(t *testing.T) {
	p := startReviewPortal(t, 0)
	p.addUser(t, "ana@example.com", "Ana Agent", store.RoleAgent, "quiet river lantern sunrise")
	id := p.seed(t, map[string]any{"count": 1, "states": []string{"REVIEW"}, "outcome": "clean"})[0]
	browser := newBrowser(t)
	ana := newProfile(t, browser)
	signIn(t, ana, p.URL, "ana@example.com", "quiet river lantern sunrise")

	openForReview(t, ana, p, id)
	poll(t, ana, "images decode", `(() => { const imgs = [...document.querySelectorAll("img[data-testid^=evidence-]")];
		return imgs.length >= 3 && imgs.every(i => i.complete && i.naturalWidth > 0); })()`)
	// The page was drawn before the images were fetched: the timeline shows them once reloaded.
	step(t, ana, "reload", chromedp.Reload(), chromedp.WaitVisible(`[data-testid=timeline]`))
	poll(t, ana, "the selfie view is in the timeline", `[...document.querySelectorAll("[data-testid=timeline-event][data-kind='evidence.view']")]
		.some(r => r.textContent.includes("Viewed the live selfie") && r.textContent.includes("Ana Agent"))`)
	for _, kind := range []string{"notified", "indexed", "process.claim"} {
		if n := count(t, ana, "[data-testid=timeline-event][data-kind='"+kind+"']"); n < 1 {
			t.Errorf("no %s event in the timeline", kind)
		}
	}
	claim := value(t, ana, "claim row", chromedp.Text(`[data-testid=timeline-event][data-kind='process.claim']`))
	if !strings.Contains(claim, "Claimed the process") || !strings.Contains(claim, "Ana Agent") {
		t.Errorf("claim row: got %q, want Ana's claim", claim)
	}

	// Keyboard only: focus the field, type, Tab to the button, Enter.
	const text = "Selfie taken in poor light; looks genuine."
	step(t, ana, "type a note", chromedp.Focus(`#note-body`), chromedp.SendKeys(`#note-body`, text))
	step(t, ana, "tab to the button", chromedp.KeyEvent(kb.Tab))
	poll(t, ana, "button focused", `document.activeElement && document.activeElement.dataset.testid === "note-submit"`)
	before := value(t, ana, "location", chromedp.Location())
	step(t, ana, "enter", chromedp.KeyEvent(kb.Enter))
	poll(t, ana, "the note is in the timeline", `[...document.querySelectorAll("[data-testid=note-body]")].some(n => n.textContent.includes("`+text+`"))`)
	poll(t, ana, "the field is empty and focused again", `document.activeElement && document.activeElement.id === "note-body" && document.activeElement.value === ""`)
	if after := value(t, ana, "location", chromedp.Location()); after != before {
		t.Errorf("posting a note left the page: %s, want %s", after, before)
	}
	row := value(t, ana, "note row", chromedp.Text(`[data-testid=timeline-event][data-kind='process.note']`))
	if !strings.Contains(row, "Ana Agent") || !strings.Contains(row, "Added a note") {
		t.Errorf("note row: got %q", row)
	}

	// A direction-control character is refused beside the field; the text stays.
	value(t, ana, "type a bad note", chromedp.Evaluate[bool](`(document.querySelector("#note-body").value = "swap \u202Eeno", true)`))
	step(t, ana, "tab to the button again", chromedp.Focus(`#note-body`), chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Enter))
	poll(t, ana, "refused beside the field", `document.querySelector("[data-testid=note-error]") &&
		document.querySelector("[data-testid=note-error]").textContent.includes("direction-control") &&
		document.querySelector("#note-body").value === "swap \u202Eeno"`)
	if n := count(t, ana, "#htmx-error"); n != 0 {
		t.Errorf("a refused note showed the error banner as well")
	}
	if n := count(t, ana, "[data-testid=note-body]"); n != 1 {
		t.Errorf("notes in the timeline: %d, want 1", n)
	}
}
