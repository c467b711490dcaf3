package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/mobbscan-review/portal/store"
)

// caseLayout is what the layout tests read from the process page.
type caseLayout struct {
	ScrollY     float64 `json:"scrollY"`
	Image       bool    `json:"image"`
	Field       bool    `json:"field"`
	Accept      bool    `json:"accept"`
	Why         string  `json:"why"`
	ScrollWidth float64 `json:"scrollWidth"`
	InnerWidth  float64 `json:"innerWidth"`
	Stacked     bool    `json:"stacked"`
	Rects       string  `json:"rects"`
}

// caseLayoutJS reports whether the document's front image, the first extracted field
// and the accept button are wholly inside the viewport, and how the columns lie.
const caseLayoutJS = `JSON.stringify((() => {
	const r = el => el ? el.getBoundingClientRect() : null;
	const inView = el => { const b = r(el); return !!b && b.width > 0 && b.height > 0 && b.top >= 0 && b.left >= 0 && b.bottom <= innerHeight && b.right <= innerWidth; };
	const img = document.querySelector("img[data-testid=evidence-document_front]");
	const field = document.querySelector("[data-testid=extracted-data] dd");
	const accept = document.querySelector("[data-testid=go-accept]");
	const ev = r(document.querySelector(".case-evidence")), data = r(document.querySelector(".case-data"));
	const show = (n, el) => { const b = r(el); return b ? n + ":" + [b.left, b.top, b.right, b.bottom].map(Math.round).join(",") : n + ":none"; };
	return {
		scrollY: window.scrollY, image: inView(img), field: inView(field), accept: inView(accept),
		why: (document.querySelector("#why-title") || {}).textContent || "",
		scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
		stacked: !!ev && !!data && ev.bottom <= data.top + 1,
		rects: [show("img", img), show("field", field), show("accept", accept), "viewport:" + innerWidth + "x" + innerHeight].join(" "),
	};
})())`

// caseTestSetup starts a portal with one process in review (a failed face match) and
// Ana, an agent, signed in in a browser.
func caseTestSetup(t *testing.T) (*reviewPortal, string, context.Context) {
	p := startReviewPortal(t, 0)
	p.addUser(t, "ana@example.com", "Ana Agent", store.RoleAgent, "quiet river lantern sunrise")
	id := p.seed(t, map[string]any{"count": 1, "states": []string{"REVIEW"}, "failed": []string{"validationFacialMatching"}})[0]
	browser := newBrowser(t)
	ana := newProfile(t, browser)
	signIn(t, ana, p.URL, "ana@example.com", "quiet river lantern sunrise")
	return p, id, ana
}

func readCaseLayout(t *testing.T, ctx context.Context, what string) caseLayout {
	t.Helper()
	var l caseLayout
	if err := json.Unmarshal([]byte(value(t, ctx, what, chromedp.Evaluate[string](caseLayoutJS))), &l); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return l
}

// TestBrowserCaseOnOneScreen (issue 12, item 1): at 1366×768 and 1920×1080, in light and
// dark mode and in English and Spanish, the document's front image, the extracted data and
// the accept button are all on screen without scrolling.
func TestBrowserCaseOnOneScreen(t *testing.T) {
	p, id, ana := caseTestSetup(t)

	why := map[string]string{"en": "Why it is in review", "es": "Por qué está en revisión"}
	for _, lang := range []string{"en", "es"} {
		if _, err := chromedp.Call(ana, network.SetCookie, network.SetCookieParams{Name: "portal_lang", Value: lang, URL: p.URL + "/", Path: "/"}); err != nil {
			t.Fatalf("language cookie: %v", err)
		}
		for _, scheme := range []string{"light", "dark"} {
			if _, err := chromedp.Call(ana, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
				t.Fatalf("colour scheme: %v", err)
			}
			for _, vp := range [][2]int64{{1366, 768}, {1920, 1080}} {
				name := fmt.Sprintf("%s %s %dx%d", lang, scheme, vp[0], vp[1])
				step(t, ana, name+": viewport", chromedp.EmulateViewport(vp[0], vp[1]))
				openForReview(t, ana, p, id)
				poll(t, ana, name+": images decode", `(() => { const i = document.querySelector("img[data-testid=evidence-document_front]");
					return document.readyState === "complete" && i && i.complete && i.naturalWidth > 0; })()`)
				l := readCaseLayout(t, ana, name)
				if l.Why != why[lang] {
					t.Errorf("%s: why-in-review title %q, want %q", name, l.Why, why[lang])
				}
				if l.ScrollY != 0 || !l.Image || !l.Field || !l.Accept {
					t.Errorf("%s: scrollY %v, document front in view %t, first field %t, accept %t (%s)", name, l.ScrollY, l.Image, l.Field, l.Accept, l.Rects)
				}
				if l.ScrollWidth > l.InnerWidth {
					t.Errorf("%s: the page scrolls sideways: %v > %v", name, l.ScrollWidth, l.InnerWidth)
				}
			}
		}
	}
}

// TestBrowserCaseStacksWhenNarrow: below 1024 px the page stacks (evidence, then data)
// without scrolling sideways, and the decision bar opens a form in place.
func TestBrowserCaseStacksWhenNarrow(t *testing.T) {
	p, id, ana := caseTestSetup(t)
	for _, w := range []int64{1000, 768, 390} {
		name := fmt.Sprintf("%d px", w)
		step(t, ana, name+": viewport", chromedp.EmulateViewport(w, 800))
		openForReview(t, ana, p, id)
		poll(t, ana, name+": ready", `document.readyState === "complete"`)
		l := readCaseLayout(t, ana, name)
		if l.ScrollWidth > l.InnerWidth || !l.Stacked {
			t.Errorf("%s: scrollWidth %v (inner %v), evidence above the data %t (%s)", name, l.ScrollWidth, l.InnerWidth, l.Stacked, l.Rects)
		}
	}
	// One form at a time: Reject opens in place, Accept then replaces it.
	step(t, ana, "reject", chromedp.Click(`[data-testid=go-reject]`))
	poll(t, ana, "reject open", `document.querySelector("#reject-panel").classList.contains("open") && !document.querySelector("#accept-panel").classList.contains("open")`)
	step(t, ana, "accept", chromedp.Click(`[data-testid=go-accept]`))
	poll(t, ana, "accept open instead", `document.querySelector("#accept-panel").classList.contains("open") && !document.querySelector("#reject-panel").classList.contains("open")`)
}

// TestBrowserCaseFocusNotUnderBar (WCAG 2.4.11): with the page at its top and the
// decision bar stuck to the bottom of the window, moving focus to any control of the work
// area brings it wholly into view above the bar, never left partly under it. The heights
// put the face comparison's toolbar at the fold, where it was seen under the bar.
func TestBrowserCaseFocusNotUnderBar(t *testing.T) {
	p, id, ana := caseTestSetup(t)
	for _, h := range []int64{700, 760, 800, 840, 900} {
		name := fmt.Sprintf("1280x%d", h)
		step(t, ana, name+": viewport", chromedp.EmulateViewport(1280, h))
		openForReview(t, ana, p, id)
		poll(t, ana, name+": images decode", `document.readyState === "complete" &&
			[...document.querySelectorAll("img[data-testid^=evidence-]")].every(i => i.complete && i.naturalWidth > 0)`)
		// For each control: back to the top, focus it as Tab would, then compare its
		// box with the bar's. A control that is wholly under the bar counts as well.
		got := value(t, ana, name+": focus each control", chromedp.Evaluate[string](`(() => {
			const bar = document.querySelector(".decision-bar");
			const controls = [...document.querySelectorAll(".case-work :is(a[href], button, input, select, textarea, video, [tabindex]):not([tabindex='-1']):not(:disabled)")]
				.filter(el => el.offsetParent !== null && !bar.contains(el));
			const bad = [];
			for (const el of controls) {
				window.scrollTo(0, 0);
				el.focus();
				const b = el.getBoundingClientRect(), top = bar.getBoundingClientRect().top;
				if (b.bottom > top + 0.5 || b.top < 0) bad.push((el.dataset.testid || el.outerHTML.slice(0, 60)) + " bottom " + Math.round(b.bottom) + " bar " + Math.round(top));
			}
			return controls.length + " controls" + (bad.length ? ": " + bad.join("; ") : "");
		})()`))
		if strings.Contains(got, ":") || strings.HasPrefix(got, "0 ") {
			t.Errorf("%s: %s", name, got)
		}
	}
}
