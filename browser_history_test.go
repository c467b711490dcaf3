package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/mobbscan-review/portal/store"
)

// indexedNunez seeds Spanish processes at the sandbox until the portal has indexed one
// whose holder is a Núñez (a surname the sandbox draws for about one in five), and
// returns its id and name.
func indexedNunez(t *testing.T, p *reviewPortal) (string, string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(p.DataDir, "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for round := 0; round < 5; round++ {
		p.seed(t, map[string]any{"count": 20, "countryId": "ESP", "states": []string{"REVIEW"}})
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			var id, name string
			err := db.SQL().QueryRowContext(ctx, "SELECT id, holder_name FROM processes WHERE holder_name LIKE '%Núñez%' LIMIT 1").Scan(&id, &name)
			if err == nil {
				return id, name
			}
			var n int
			if db.SQL().QueryRowContext(ctx, "SELECT count(*) FROM processes").Scan(&n); n >= 20*(round+1) {
				break // all of this round indexed, no Núñez among them
			}
		}
	}
	t.Fatal("the sandbox drew no Núñez in 100 Spanish processes")
	return "", ""
}

// TestBrowserHistory: an agent opens "Processes" from the navigation, searches "nunez"
// without the accents and finds the Núñez, follows the link to the process, and comes
// back to the same search with the back button.
func TestBrowserHistory(t *testing.T) {
	p := startReviewPortal(t, 0)
	p.addUser(t, "ana@example.com", "Ana Agent", store.RoleAgent, "quiet river lantern sunrise")
	id, name := indexedNunez(t, p)
	browser := newBrowser(t)
	ana := newProfile(t, browser)
	signIn(t, ana, p.URL, "ana@example.com", "quiet river lantern sunrise")

	step(t, ana, "processes from the navigation",
		chromedp.Navigate(p.URL+"/queue"),
		chromedp.WaitVisible(`[data-testid=nav-processes]`),
		chromedp.Click(`[data-testid=nav-processes]`),
		chromedp.WaitVisible(`[data-testid=history-filters]`),
	)
	poll(t, ana, "every process listed", `document.querySelectorAll("tr[data-row]").length >= 20`)

	// The search swaps the list in place and keeps the search in the URL.
	step(t, ana, "search nunez", chromedp.SendKeys(`#history-search`, "nunez"+kb.Enter))
	poll(t, ana, "search in the URL", `location.pathname === "/processes" && new URLSearchParams(location.search).get("q") === "nunez"`)
	row := fmt.Sprintf(`tr[data-row][data-id=%q]`, id)
	poll(t, ana, "the Núñez found", fmt.Sprintf(`document.querySelector(%q)`, row))
	holders := value(t, ana, "holders", chromedp.Evaluate[[]string](`[...document.querySelectorAll("tr[data-row] a[data-open]")].map(a => a.innerText)`))
	for _, h := range holders {
		if !strings.Contains(h, "Núñez") {
			t.Errorf("search nunez lists %q", h)
		}
	}
	if got := value(t, ana, "shown name", chromedp.Text(row+` a[data-open] bdi`)); got != name {
		t.Errorf("row shows %q, want %q", got, name)
	}

	// The link opens the process (once the search's swap has settled, so the link clicked
	// is the one on the page; opening a process in review from the portal claims it, which
	// adds ?claimed=<n> to its address).
	poll(t, ana, "the search settled", `!document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling")`)
	value(t, ana, "open the process", chromedp.Evaluate[bool](fmt.Sprintf(`(document.querySelector(%q).click(), true)`, row+` a[data-open]`)))
	// Polled, not WaitVisible: the page opened from the portal claims the process with a
	// POST and is loaded again, and a wait begun on the first document never sees the second.
	poll(t, ana, "the process page", `location.pathname.startsWith("/processes/") && !!document.querySelector("[data-testid=process-head]") && !document.querySelector("[data-testid=opening]")`)
	if path := value(t, ana, "path", chromedp.Evaluate[string](`location.pathname`)); path != "/processes/"+id {
		t.Fatalf("after the link: at %s, want /processes/%s", path, id)
	}

	// Back to the same search.
	// Later, not inside the evaluation: a navigation that starts while the evaluation
	// answers fails it ("Inspected target navigated or closed").
	value(t, ana, "back", chromedp.Evaluate[bool](`(setTimeout(() => history.back(), 0), true)`))
	poll(t, ana, "back on the search", fmt.Sprintf(`location.pathname === "/processes" && document.querySelector("#history-search") &&
		document.querySelector("#history-search").value === "nunez" && document.querySelector(%q)`, row))
}
