package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mobbscan-review/portal/store"
)

// decideForInsights indexes n processes in review and has u decide each (rejections
// with the first reason), straight in the portal's database as the decision flow would.
func decideForInsights(t *testing.T, p *reviewPortal, u string, prefix string, verdicts ...store.Verdict) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(p.DataDir, "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	user, err := db.UserByEmail(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	reasons, err := db.ListReasons(ctx, false)
	if err != nil || len(reasons) == 0 {
		t.Fatalf("reasons: %v", err)
	}
	now := time.Now()
	for i, v := range verdicts {
		id := fmt.Sprintf("%s-%d", prefix, i)
		s := store.Snapshot{ID: id, Status: "PENDING", RawStatus: "PENDING", Stage: "REVIEW", Reviewable: true,
			CreatedAt: now.Add(-3 * time.Hour), UpdatedAt: now.Add(-2 * time.Hour), Country: "ESP", DocType: "IDCard", HolderName: "Test Holder"}
		if _, err := db.UpsertProcess(ctx, store.SourceWebhook, s, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		nd := store.NewDecision{ProcessID: id, Verdict: v}
		if v == store.VerdictReject {
			nd.ReasonID, nd.Comment = reasons[0].ID, reasons[0].CustomerText
		}
		if _, err := db.Decide(ctx, store.Actor{UserID: user.ID, Email: user.Email}, nd, func(*store.Case) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBrowserInsights: an administrator opens Insights from the navigation, sees the
// decisions-per-day chart (an SVG image with its title) followed by its table, changes
// the period with a preset and with the date fields, gets a message for a reversed
// period, and narrows the figures to one agent; an agent sees only their own.
func TestBrowserInsights(t *testing.T) {
	p := startReviewPortal(t, 0)
	p.addUser(t, "ada@example.com", "Ada Admin", store.RoleAdmin, "quiet river lantern sunrise")
	p.addUser(t, "ana@example.com", "Ana Agent", store.RoleAgent, "amber forest violin morning")
	p.addUser(t, "ben@example.com", "Ben Agent", store.RoleAgent, "copper meadow piano evening")
	decideForInsights(t, p, "ana@example.com", "ins-ana", store.VerdictAccept, store.VerdictAccept)
	decideForInsights(t, p, "ben@example.com", "ins-ben", store.VerdictReject)
	today := time.Now().UTC().Format("2006-01-02")
	todayText := time.Now().UTC().Format("2 Jan 2006") // as the page's table shows it

	browser := newBrowser(t)
	ada := newProfile(t, browser)
	signIn(t, ada, p.URL, "ada@example.com", "quiet river lantern sunrise")
	step(t, ada, "insights from the navigation",
		chromedp.Navigate(p.URL+"/queue"),
		chromedp.WaitVisible(`[data-testid=nav-insights]`),
		chromedp.Click(`[data-testid=nav-insights]`),
		chromedp.WaitVisible(`[data-testid=insights-period]`),
	)
	// The chart is an accessible image, drawn on the server, followed by its table.
	chart := value(t, ada, "the chart", chromedp.Evaluate[map[string]any](`(() => {
		const svg = document.querySelector("[data-testid=insight-days] svg");
		if (!svg) return {};
		const title = document.getElementById(svg.getAttribute("aria-labelledby").split(" ")[0]);
		const rect = svg.querySelector("rect").getBoundingClientRect();
		return {role: svg.getAttribute("role"), title: title ? title.textContent : "", bars: svg.querySelectorAll("rect").length,
			width: svg.getBoundingClientRect().width, barHeight: rect.height,
			tableAfter: (n => !!n && (n.matches("table") || !!n.querySelector(":scope > table[data-testid=table-days]")))(svg.closest("figure").nextElementSibling)};
	})()`))
	if chart["role"] != "img" || chart["title"] != "Decisions per day" || chart["bars"] != float64(2) || chart["tableAfter"] != true {
		t.Errorf("decisions chart: %v; want an img titled \"Decisions per day\", two bars (accepted and rejected today), then its table", chart)
	}
	if w, _ := chart["width"].(float64); w < 300 {
		t.Errorf("the chart is %.0f px wide: not drawn", w)
	}
	if h, _ := chart["barHeight"].(float64); h < 5 {
		t.Errorf("a bar is %.1f px high: not drawn", h)
	}
	todayRow := value(t, ada, "today's row", chromedp.Evaluate[string](
		`[...document.querySelectorAll("[data-testid=table-days] tbody tr")].map(r => r.innerText).find(s => s.startsWith("`+todayText+`")) || ""`))
	if fields := strings.Fields(todayRow); len(fields) != 6 || fields[3] != "2" || fields[4] != "1" || fields[5] != "3" {
		t.Errorf("today's row %q, want 2 accepted, 1 rejected, 3 in all", todayRow)
	}
	if n := value(t, ada, "days", chromedp.Evaluate[int](`document.querySelectorAll("[data-testid=table-days] tbody tr").length`)); n != 30 {
		t.Errorf("default period: %d days, want 30", n)
	}

	// A preset.
	step(t, ada, "last 7 days", chromedp.Click(`a[data-testid=insights-preset][href*="days=7"]`))
	poll(t, ada, "7 days shown", `location.search.includes("days=7") && document.querySelectorAll("[data-testid=table-days] tbody tr").length === 7`)

	// The date fields: a reversed period gets a message beside the end, the dates kept.
	step(t, ada, "reversed dates",
		chromedp.SetValue(`#insights-from`, today),
		chromedp.SetValue(`#insights-to`, "2020-01-01"),
		chromedp.Click(`[data-testid=insights-apply]`),
		chromedp.WaitVisible(`[data-testid=err-to]`),
	)
	if msg := value(t, ada, "message", chromedp.Text(`[data-testid=err-to]`)); !strings.Contains(msg, "before the start") {
		t.Errorf("reversed period: message %q", msg)
	}
	if v := value(t, ada, "kept", chromedp.Evaluate[string](`document.querySelector("#insights-to").value`)); v != "2020-01-01" {
		t.Errorf("the end typed is not kept: %q", v)
	}
	step(t, ada, "one day",
		chromedp.SetValue(`#insights-from`, today),
		chromedp.SetValue(`#insights-to`, today),
		chromedp.Click(`[data-testid=insights-apply]`),
	)
	poll(t, ada, "one day shown", `!document.querySelector("[data-testid=err-to]") && document.querySelectorAll("[data-testid=table-days] tbody tr").length === 1`)

	// One agent's figures.
	step(t, ada, "choose Ben",
		chromedp.SetValue(`#insights-agent`, value(t, ada, "Ben's id", chromedp.Evaluate[string](
			`[...document.querySelectorAll("#insights-agent option")].find(o => o.textContent === "Ben Agent").value`))),
		chromedp.Click(`[data-testid=insights-apply]`),
	)
	poll(t, ada, "Ben's figures", `document.querySelector("[data-testid=insights-scope]").innerText.includes("Ben Agent") &&
		[...document.querySelectorAll("[data-testid=table-agents] tbody tr")].map(r => r.cells[0].innerText).join() === "Ben Agent"`)
	reasons := value(t, ada, "reasons", chromedp.Evaluate[string](`document.querySelector("[data-testid=table-reasons] tbody").innerText`))
	if !strings.Contains(reasons, "1") {
		t.Errorf("Ben's rejection reasons: %q", reasons)
	}

	// An agent sees their own figures only, whatever the URL says.
	ana := newProfile(t, browser)
	signIn(t, ana, p.URL, "ana@example.com", "amber forest violin morning")
	step(t, ana, "insights", chromedp.Navigate(p.URL+"/insights?agent=1"), chromedp.WaitVisible(`[data-testid=insights-period]`))
	agents := value(t, ana, "agents", chromedp.Evaluate[string](`[...document.querySelectorAll("[data-testid=table-agents] tbody tr")].map(r => r.innerText).join("|")`))
	if !strings.HasPrefix(agents, "Ana Agent") || strings.Contains(agents, "|") || strings.Contains(agents, "Ben") {
		t.Errorf("Ana's agents table: %q, want only her own row", agents)
	}
	if n := value(t, ana, "agent choice", chromedp.Evaluate[int](`document.querySelectorAll("#insights-agent").length`)); n != 0 {
		t.Error("an agent is offered the choice of agent")
	}
}
