package handlers

import (
	"encoding/csv"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

// registerInsights adds the insights page and its tables as CSV, for signed-in users
// (review decides whose figures each may see).
func (h *Handler) registerInsights(u *echo.Group) {
	u.GET("/insights", h.showInsights)
	u.GET("/insights/:table", h.downloadInsightsCSV)
}

// insightsRequest is the insights' state as it lives in the URL.
type insightsRequest struct {
	From, To, Days string // as typed
	Agent          int64  // asked for; review.InsightsAgent decides
}

func parseInsightsRequest(c echo.Context) insightsRequest {
	q := c.QueryParams()
	r := insightsRequest{From: strings.TrimSpace(q.Get("from")), To: strings.TrimSpace(q.Get("to")), Days: strings.TrimSpace(q.Get("days"))}
	if id, err := strconv.ParseInt(q.Get("agent"), 10, 64); err == nil && id > 0 {
		r.Agent = id
	}
	// What was typed goes back into the form: never more than a date's worth.
	for _, s := range []*string{&r.From, &r.To, &r.Days} {
		if len(*s) > 32 {
			*s = (*s)[:32]
		}
		*s = strings.ToValidUTF8(*s, "")
	}
	return r
}

// values encodes a resolved period (and the agent) for links.
func insightsValues(p review.Period, agent int64) url.Values {
	v := url.Values{}
	v.Set("from", p.FromText())
	v.Set("to", p.ToText())
	if agent != 0 {
		v.Set("agent", strconv.FormatInt(agent, 10))
	}
	return v
}

// showInsights renders the insights of the period asked for; a bad period comes back
// with its message beside the field, the text kept, and no figures (422).
func (h *Handler) showInsights(c echo.Context) error {
	ctx := c.Request().Context()
	a := auth.ActorFrom(c)
	r := parseInsightsRequest(c)
	ip := views.InsightsPage{From: r.From, To: r.To, MaxDays: review.MaxInsightDays, Errors: views.FormErrors{}}
	agent := review.InsightsAgent(a, r.Agent)
	if review.IsAdmin(a) {
		users, err := h.DB.ListUsers(ctx, "")
		if err != nil {
			return err
		}
		ip.Agents = []views.Option{}
		for _, u := range users {
			ip.Agents = append(ip.Agents, views.Option{Value: strconv.FormatInt(u.ID, 10), Label: u.DisplayName, Selected: u.ID == agent})
		}
	}
	period, perr := review.ParsePeriod(r.From, r.To, r.Days, h.DB.Now())
	ip.Presets = insightPresets(period, perr == nil, agent, h.DB.Now())
	if perr != nil {
		e := review.ErrorOf(perr)
		if e == nil {
			return perr
		}
		ip.Errors[e.Field] = e.Message
		ip.Scope = insightsScope(a, agent, ip.Agents)
		return render(c, http.StatusUnprocessableEntity, views.InsightsScreen(h.page(c, "Insights", "insights"), ip))
	}
	in, agent, err := h.Review.Insights(ctx, a, period, agent)
	if err != nil {
		return err
	}
	ip.From, ip.To = period.FromText(), period.ToText()
	ip.Scope = insightsScope(a, agent, ip.Agents)
	if period.Clipped {
		ip.Notice = "The end of the period was in the future: it ends today."
	}
	cfg := h.Review.Config()
	ip.Summary = insightSummary(in, cfg)
	ip.Tables = insightTables(in, cfg, agent != 0)
	base := insightsValues(period, agent).Encode()
	for i := range ip.Tables {
		ip.Tables[i].CSVURL = "/insights/" + ip.Tables[i].ID + ".csv?" + base
	}
	ip.Charts = insightCharts(in, period, cfg)
	return render(c, http.StatusOK, views.InsightsScreen(h.page(c, "Insights", "insights"), ip))
}

// downloadInsightsCSV streams one of the page's tables as CSV, for the same period and
// with the same permission as the page.
func (h *Handler) downloadInsightsCSV(c echo.Context) error {
	name, ok := strings.CutSuffix(c.Param("table"), ".csv")
	if !ok || !insightTableIDs[name] {
		return echo.ErrNotFound
	}
	a := auth.ActorFrom(c)
	r := parseInsightsRequest(c)
	period, err := review.ParsePeriod(r.From, r.To, r.Days, h.DB.Now())
	if err != nil {
		return err
	}
	in, agent, err := h.Review.Insights(c.Request().Context(), a, period, r.Agent)
	if err != nil {
		return err
	}
	var table views.InsightTable
	for _, t := range insightTables(in, h.Review.Config(), agent != 0) {
		if t.ID == name {
			table = t
		}
	}
	filename := fmt.Sprintf("insights-%s-%s-to-%s.csv", name, period.FromText(), period.ToText())
	hd := c.Response().Header()
	hd.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	if err := w.Write(table.Head); err != nil {
		return err
	}
	for _, row := range table.Rows {
		safe := make([]string, len(row))
		for i, cell := range row {
			safe[i] = csvSafe(cell)
		}
		if err := w.Write(safe); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}

// csvSafe keeps a spreadsheet from reading a cell as a formula (names and reason labels
// are typed by people): such a cell starts with an apostrophe.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// insightPresets are the one-click periods; the one shown is marked.
func insightPresets(p review.Period, ok bool, agent int64, now time.Time) []views.InsightPreset {
	today := now.UTC().Format("2006-01-02")
	var out []views.InsightPreset
	for _, d := range review.InsightPresets {
		v := url.Values{}
		v.Set("days", strconv.Itoa(d))
		if agent != 0 {
			v.Set("agent", strconv.FormatInt(agent, 10))
		}
		out = append(out, views.InsightPreset{Label: fmt.Sprintf("Last %d days", d), URL: withQuery("/insights", v),
			Current: ok && p.Days() == d && p.ToText() == today})
	}
	return out
}

func insightsScope(a store.Actor, agent int64, agents []views.Option) string {
	switch {
	case !review.IsAdmin(a):
		return "Your own figures."
	case agent == 0:
		return "Everyone's figures."
	}
	for _, o := range agents {
		if o.Value == strconv.FormatInt(agent, 10) {
			return "Figures of " + o.Label + "."
		}
	}
	return fmt.Sprintf("Figures of user %d.", agent)
}

// The insights' tables, by id: the page shows them in this order and /insights/<id>.csv
// downloads each.
var insightTableIDs = map[string]bool{"days": true, "agents": true, "timing": true, "backlog": true, "sla": true,
	"verdicts": true, "reasons": true, "second": true, "deliveries": true, "states": true}

// targetText names an aging target: "4 h", "90 min".
func targetText(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return views.FormatDuration(d)
}

func percent(n, of int) string {
	if of == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f %%", float64(n)*100/float64(of))
}

func durationText(s store.DurationStats, d time.Duration) string {
	if s.N == 0 {
		return "—"
	}
	return views.FormatDuration(d)
}

func insightSummary(in *store.Insights, cfg review.Config) []views.InsightFigure {
	tone := func(n int) string {
		if n > 0 {
			return "off"
		}
		return "ok"
	}
	attention := 0
	for _, s := range in.States {
		if s.State == store.StateConflict || s.State == store.StateParked {
			attention += s.N
		}
	}
	return []views.InsightFigure{
		{Label: "decisions", Value: strconv.Itoa(in.Decisions())},
		{Label: "accepted", Value: percent(in.Accepted, in.Decisions())},
		{Label: "median time to decision", Value: durationText(in.Wait, in.Wait.Median)},
		{Label: "median handling time", Value: durationText(in.Handle, in.Handle.Median)},
		{Label: "waiting longer than " + targetText(cfg.AgingRed) + " now", Value: strconv.Itoa(in.Backlog.Red), Tone: tone(in.Backlog.Red)},
		{Label: "overturned at second review", Value: percent(in.Overturned, in.SecondReviews())},
		{Label: "deliveries needing a person now", Value: strconv.Itoa(attention), Tone: tone(attention)},
	}
}

// insightTables builds every table of the page (and of the CSV downloads) from the
// figures; own is true when they are one agent's.
func insightTables(in *store.Insights, cfg review.Config, own bool) []views.InsightTable {
	itoa := strconv.Itoa
	amber, red := targetText(cfg.AgingAmber), targetText(cfg.AgingRed)
	var ts []views.InsightTable

	days := views.InsightTable{ID: "days", Caption: "Decisions per day", Wide: true, Head: []string{"Day", "Accepted", "Rejected", "Total"}}
	for _, d := range in.Days {
		days.Rows = append(days.Rows, []string{d.Day.Format("2006-01-02"), itoa(d.Accepted), itoa(d.Rejected), itoa(d.Accepted + d.Rejected)})
	}
	ts = append(ts, days)

	agents := views.InsightTable{ID: "agents", Caption: "Decisions per agent",
		Head: []string{"Agent", "Decisions", "Accepted", "Rejected", "Second reviews", "Overturned", "Overturn rate"},
		Note: "Second reviews and overturns count the agent's decisions that another agent reviewed in the period."}
	if own {
		agents.Caption = "Your decisions"
	}
	for _, a := range in.Agents {
		agents.Rows = append(agents.Rows, []string{a.Name, itoa(a.Decisions()), itoa(a.Accepted), itoa(a.Rejected),
			itoa(a.Confirmed + a.Overturned), itoa(a.Overturned), percent(a.Overturned, a.Confirmed+a.Overturned)})
	}
	ts = append(ts, agents)

	timing := views.InsightTable{ID: "timing", Caption: "Time to decision", Head: []string{"Measure", "Decisions measured", "Median", "90th percentile"},
		Note: "From histograms with buckets 19 % wide: each figure is within 10 % of the exact one. Handling time counts from the deciding agent's claim."}
	timing.Rows = [][]string{
		{"From entering review to the decision", itoa(in.Wait.N), durationText(in.Wait, in.Wait.Median), durationText(in.Wait, in.Wait.P90)},
		{"Handling time, from the claim to the decision", itoa(in.Handle.N), durationText(in.Handle, in.Handle.Median), durationText(in.Handle, in.Handle.P90)},
	}
	ts = append(ts, timing)

	backlog := views.InsightTable{ID: "backlog", Caption: "Backlog by age now", Head: []string{"Waiting", "Processes in review", "Share"},
		Note: "The whole queue as it is now, whatever the period: targets are " + amber + " (amber) and " + red + " (red)."}
	backlog.Rows = [][]string{
		{"Less than " + amber, itoa(in.Backlog.Fresh), percent(in.Backlog.Fresh, in.Backlog.Total)},
		{amber + " to " + red, itoa(in.Backlog.Amber), percent(in.Backlog.Amber, in.Backlog.Total)},
		{"More than " + red + " (SLA breach)", itoa(in.Backlog.Red), percent(in.Backlog.Red, in.Backlog.Total)},
	}
	if in.Backlog.Undated > 0 {
		backlog.Rows = append(backlog.Rows, []string{"Entry time unknown", itoa(in.Backlog.Undated), percent(in.Backlog.Undated, in.Backlog.Total)})
	}
	ts = append(ts, backlog)

	ts = append(ts, views.InsightTable{ID: "sla", Caption: "SLA breaches", Head: []string{"Breach", "Count"},
		Note: "Decisions after the red target are estimated from the time-to-decision histogram.",
		Rows: [][]string{
			{"Waiting now for longer than " + red, itoa(in.Backlog.Red)},
			{"Decided in the period after waiting longer than " + red, itoa(in.LateDecided)},
		}})

	ts = append(ts, views.InsightTable{ID: "verdicts", Caption: "Accepted and rejected", Head: []string{"Decision", "Count", "Share"},
		Rows: [][]string{
			{store.VerdictAccept.Label(), itoa(in.Accepted), percent(in.Accepted, in.Decisions())},
			{store.VerdictReject.Label(), itoa(in.Rejected), percent(in.Rejected, in.Decisions())},
		}})

	reasons := views.InsightTable{ID: "reasons", Caption: "Rejection reasons", Head: []string{"Reason", "Rejections", "Share of rejections"}}
	for _, r := range in.Reasons {
		reasons.Rows = append(reasons.Rows, []string{r.Label, itoa(r.N), percent(r.N, in.Rejected)})
	}
	ts = append(ts, reasons)

	ts = append(ts, views.InsightTable{ID: "second", Caption: "Second reviews", Head: []string{"Outcome", "Second reviews", "Share"},
		Note: "Four-eyes decisions reviewed by a second agent in the period; the overturn rate is the overturned share.",
		Rows: [][]string{
			{"Confirmed", itoa(in.Confirmed), percent(in.Confirmed, in.SecondReviews())},
			{"Overturned", itoa(in.Overturned), percent(in.Overturned, in.SecondReviews())},
		}})

	ts = append(ts, views.InsightTable{ID: "deliveries", Caption: "Delivery to Mobbscan in the period", Head: []string{"Outcome", "Count"},
		Rows: [][]string{
			{"Delivered", itoa(in.Deliveries.Delivered)},
			{"Failed attempts, retried", itoa(in.Deliveries.Retries)},
			{"Conflicts", itoa(in.Deliveries.Conflicts)},
			{"Parked", itoa(in.Deliveries.Parked)},
			{"Resolved by hand", itoa(in.Deliveries.Resolved)},
		}})

	states := views.InsightTable{ID: "states", Caption: "Delivery states now", Head: []string{"State", "Decisions"},
		Note: "Every decision as it stands now, whatever the period."}
	for _, s := range in.States {
		label := s.State.Label()
		if s.State == store.StateRetrying {
			label = "Retrying"
		}
		states.Rows = append(states.Rows, []string{label, itoa(s.N)})
	}
	ts = append(ts, states)
	return ts
}

// insightCharts draws the charts that go with the tables.
func insightCharts(in *store.Insights, p review.Period, cfg review.Config) map[string]views.Chart {
	cats := make([]string, len(in.Days))
	acc, rej := make([]int, len(in.Days)), make([]int, len(in.Days))
	for i, d := range in.Days {
		cats[i], acc[i], rej[i] = d.Day.Format("Jan 2"), d.Accepted, d.Rejected
	}
	charts := map[string]views.Chart{
		"days": views.StackedBars("chart-days", "Decisions per day",
			fmt.Sprintf("Stacked bars of accepted and rejected decisions for each day from %s to %s; the table below lists them.", p.FromText(), p.ToText()),
			cats, []views.ChartSeries{{Label: "accepted", Class: "bar-accept", Values: acc}, {Label: "rejected", Class: "bar-reject", Values: rej}}),
	}
	var agents []views.ChartRow
	for _, a := range in.Agents {
		agents = append(agents, views.ChartRow{Label: a.Name, Value: a.Decisions()})
	}
	charts["agents"] = views.HorizontalBars("chart-agents", "Decisions per agent", "One bar per agent, the number of decisions in the period.", agents)
	amber, red := targetText(cfg.AgingAmber), targetText(cfg.AgingRed)
	charts["backlog"] = views.HorizontalBars("chart-backlog", "Backlog by age now", "Processes in review now by how long they have waited.", []views.ChartRow{
		{Label: "Less than " + amber, Value: in.Backlog.Fresh, Class: "bar-accept"},
		{Label: amber + " to " + red, Value: in.Backlog.Amber, Class: "bar-amber"},
		{Label: "More than " + red, Value: in.Backlog.Red, Class: "bar-reject"},
	})
	charts["verdicts"] = views.HorizontalBars("chart-verdicts", "Accepted and rejected", "Decisions in the period by verdict.", []views.ChartRow{
		{Label: store.VerdictAccept.Label(), Value: in.Accepted, Class: "bar-accept"},
		{Label: store.VerdictReject.Label(), Value: in.Rejected, Class: "bar-reject"},
	})
	var reasons []views.ChartRow
	for _, r := range in.Reasons {
		reasons = append(reasons, views.ChartRow{Label: r.Label, Value: r.N})
	}
	charts["reasons"] = views.HorizontalBars("chart-reasons", "Rejection reasons", "Rejections in the period by reason, most used first.", reasons)
	charts["deliveries"] = views.HorizontalBars("chart-deliveries", "Delivery to Mobbscan", "Delivery outcomes in the period.", []views.ChartRow{
		{Label: "Delivered", Value: in.Deliveries.Delivered, Class: "bar-accept"},
		{Label: "Failed attempts, retried", Value: in.Deliveries.Retries, Class: "bar-amber"},
		{Label: "Conflicts", Value: in.Deliveries.Conflicts, Class: "bar-reject"},
		{Label: "Parked", Value: in.Deliveries.Parked, Class: "bar-reject"},
		{Label: "Resolved by hand", Value: in.Deliveries.Resolved},
	})
	return charts
}
