package handlers

import (
	"context"
	"encoding/csv"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/text/message"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/i18n"
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
	ip.Presets = insightPresets(ctx, period, perr == nil, agent, h.DB.Now())
	if perr != nil {
		e := review.ErrorOf(perr)
		if e == nil {
			return perr
		}
		ip.Errors[e.Field] = e.Message
		ip.Scope = insightsScope(ctx, a, agent, ip.Agents)
		return render(c, http.StatusUnprocessableEntity, views.InsightsScreen(h.page(c, i18n.M("Insights"), "insights"), ip))
	}
	in, agent, err := h.Review.Insights(ctx, a, period, agent)
	if err != nil {
		return err
	}
	ip.From, ip.To = period.FromText(), period.ToText()
	ip.Scope = insightsScope(ctx, a, agent, ip.Agents)
	if period.Clipped {
		ip.Notice = i18n.M("The end of the period was in the future: it ends today.")
	}
	cfg := h.Review.Config()
	page := cells{ctx: ctx}
	ip.Summary = insightSummary(page, in, cfg)
	ip.Tables = insightTables(page, in, cfg, agent != 0)
	base := insightsValues(period, agent).Encode()
	for i := range ip.Tables {
		ip.Tables[i].CSVURL = "/insights/" + ip.Tables[i].ID + ".csv?" + base
	}
	ip.Charts = insightCharts(page, in, period, cfg)
	return render(c, http.StatusOK, views.InsightsScreen(h.page(c, i18n.M("Insights"), "insights"), ip))
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
	// The file is for programs and spreadsheets: its column headers and labels stay in
	// English and its numbers plain, whatever the language of who downloads it.
	for _, t := range insightTables(cells{ctx: c.Request().Context(), csv: true}, in, h.Review.Config(), agent != 0) {
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
func insightPresets(ctx context.Context, p review.Period, ok bool, agent int64, now time.Time) []views.InsightPreset {
	today := now.UTC().Format("2006-01-02")
	var out []views.InsightPreset
	for _, d := range review.InsightPresets {
		v := url.Values{}
		v.Set("days", strconv.Itoa(d))
		if agent != 0 {
			v.Set("agent", strconv.FormatInt(agent, 10))
		}
		out = append(out, views.InsightPreset{Label: i18n.Tf(ctx, "Last %d days", d), URL: withQuery("/insights", v),
			Current: ok && p.Days() == d && p.ToText() == today})
	}
	return out
}

func insightsScope(ctx context.Context, a store.Actor, agent int64, agents []views.Option) string {
	switch {
	case !review.IsAdmin(a):
		return i18n.T(ctx, "Your own figures.")
	case agent == 0:
		return i18n.T(ctx, "Everyone's figures.")
	}
	for _, o := range agents {
		if o.Value == strconv.FormatInt(agent, 10) {
			return fmt.Sprintf(i18n.T(ctx, "Figures of %s."), o.Label) // a name: not translated
		}
	}
	return i18n.Tf(ctx, "Figures of user %d.", agent)
}

// cells writes the insights' texts and figures: for the page in the request's language
// (labels translated, numbers grouped, days in words); for a CSV download (csv) in
// English with plain numbers and ISO days, so that programs and spreadsheets read the
// file the same whoever downloads it.
type cells struct {
	ctx context.Context
	csv bool
}

// t translates a marked label.
func (w cells) t(s string) string {
	if w.csv {
		return s
	}
	return i18n.T(w.ctx, s)
}

// f formats a marked format (its string arguments translated on the page).
func (w cells) f(format string, args ...any) string {
	if w.csv {
		return fmt.Sprintf(format, args...)
	}
	return i18n.Tf(w.ctx, format, args...)
}

// n writes a count.
func (w cells) n(n int) string {
	if w.csv {
		return strconv.Itoa(n)
	}
	return i18n.Number(w.ctx, n)
}

// pct writes n as a share of of: "12.5 %" ("12,5 %" in Spanish); "—" when of is 0.
func (w cells) pct(n, of int) string {
	if of == 0 {
		return "—"
	}
	v := float64(n) * 100 / float64(of)
	if w.csv {
		return fmt.Sprintf("%.1f %%", v)
	}
	return message.NewPrinter(i18n.From(w.ctx).Lang.Tag()).Sprintf("%.1f %%", v)
}

// dur writes a duration measured from s; "—" when nothing was measured.
func (w cells) dur(s store.DurationStats, d time.Duration) string {
	if s.N == 0 {
		return "—"
	}
	return w.t(views.FormatDuration(d))
}

// day writes a UTC calendar day: ISO in a CSV, "6 Dec 2026" / "6 dic 2026" on the page
// (the day as it is in UTC, the zone the periods are counted in).
func (w cells) day(t time.Time) string {
	if w.csv {
		return t.Format("2006-01-02")
	}
	return i18n.Date(w.utc(), t)
}

// shortDay writes a day for a chart's axis: "6 Dec" / "6 dic".
func (w cells) shortDay(t time.Time) string {
	return strings.TrimSuffix(i18n.Date(w.utc(), t), " "+strconv.Itoa(t.UTC().Year()))
}

// utc is the request's language with UTC as its zone: the insights' days are UTC days.
func (w cells) utc() context.Context {
	loc := i18n.From(w.ctx)
	loc.Zone = time.UTC
	return i18n.With(w.ctx, loc)
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

func insightSummary(w cells, in *store.Insights, cfg review.Config) []views.InsightFigure {
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
		{Label: w.t(i18n.M("decisions")), Value: w.n(in.Decisions())},
		{Label: w.t(i18n.M("accepted")), Value: w.pct(in.Accepted, in.Decisions())},
		{Label: w.t(i18n.M("median time to decision")), Value: w.dur(in.Wait, in.Wait.Median)},
		{Label: w.t(i18n.M("median handling time")), Value: w.dur(in.Handle, in.Handle.Median)},
		{Label: w.f(i18n.M("waiting longer than %s now"), targetText(cfg.AgingRed)), Value: w.n(in.Backlog.Red), Tone: tone(in.Backlog.Red)},
		{Label: w.t(i18n.M("overturned at second review")), Value: w.pct(in.Overturned, in.SecondReviews())},
		{Label: w.t(i18n.M("deliveries needing a person now")), Value: w.n(attention), Tone: tone(attention)},
	}
}

// insightTables builds every table of the page (and of the CSV downloads) from the
// figures, written by w; own is true when they are one agent's.
func insightTables(w cells, in *store.Insights, cfg review.Config, own bool) []views.InsightTable {
	n, pct, t := w.n, w.pct, w.t
	amber, red := targetText(cfg.AgingAmber), targetText(cfg.AgingRed)
	head := func(hs ...string) []string {
		for i := range hs {
			hs[i] = t(hs[i])
		}
		return hs
	}
	var ts []views.InsightTable

	days := views.InsightTable{ID: "days", Caption: t(i18n.M("Decisions per day")), Wide: true, Head: head(i18n.M("Day"), i18n.M("Accepted"), i18n.M("Rejected"), i18n.M("Total"))}
	for _, d := range in.Days {
		days.Rows = append(days.Rows, []string{w.day(d.Day), n(d.Accepted), n(d.Rejected), n(d.Accepted + d.Rejected)})
	}
	ts = append(ts, days)

	agents := views.InsightTable{ID: "agents", Caption: t(i18n.M("Decisions per agent")),
		Head: head(i18n.M("Agent"), i18n.M("Decisions"), i18n.M("Accepted"), i18n.M("Rejected"), i18n.M("Second reviews"), i18n.M("Overturned"), i18n.M("Overturn rate")),
		Note: t(i18n.M("Second reviews and overturns count the agent's decisions that another agent reviewed in the period."))}
	if own {
		agents.Caption = t(i18n.M("Your decisions"))
	}
	for _, a := range in.Agents {
		agents.Rows = append(agents.Rows, []string{a.Name, n(a.Decisions()), n(a.Accepted), n(a.Rejected),
			n(a.Confirmed + a.Overturned), n(a.Overturned), pct(a.Overturned, a.Confirmed+a.Overturned)})
	}
	ts = append(ts, agents)

	timing := views.InsightTable{ID: "timing", Caption: t(i18n.M("Time to decision")), Head: head(i18n.M("Measure"), i18n.M("Decisions measured"), i18n.M("Median"), i18n.M("90th percentile")),
		Note: t(i18n.M("From histograms with buckets 19 % wide: each figure is within 10 % of the exact one. Handling time counts from the deciding agent's claim."))}
	timing.Rows = [][]string{
		{t(i18n.M("From entering review to the decision")), n(in.Wait.N), w.dur(in.Wait, in.Wait.Median), w.dur(in.Wait, in.Wait.P90)},
		{t(i18n.M("Handling time, from the claim to the decision")), n(in.Handle.N), w.dur(in.Handle, in.Handle.Median), w.dur(in.Handle, in.Handle.P90)},
	}
	ts = append(ts, timing)

	backlog := views.InsightTable{ID: "backlog", Caption: t(i18n.M("Backlog by age now")), Head: head(i18n.M("Waiting"), i18n.M("Processes in review"), i18n.M("Share")),
		Note: w.f(i18n.M("The whole queue as it is now, whatever the period: targets are %s (amber) and %s (red)."), amber, red)}
	backlog.Rows = [][]string{
		{w.f(i18n.M("Less than %s"), amber), n(in.Backlog.Fresh), pct(in.Backlog.Fresh, in.Backlog.Total)},
		{w.f(i18n.M("Between %s and %s"), amber, red), n(in.Backlog.Amber), pct(in.Backlog.Amber, in.Backlog.Total)},
		{w.f(i18n.M("More than %s (SLA breach)"), red), n(in.Backlog.Red), pct(in.Backlog.Red, in.Backlog.Total)},
	}
	if in.Backlog.Undated > 0 {
		backlog.Rows = append(backlog.Rows, []string{t(i18n.M("Entry time unknown")), n(in.Backlog.Undated), pct(in.Backlog.Undated, in.Backlog.Total)})
	}
	ts = append(ts, backlog)

	ts = append(ts, views.InsightTable{ID: "sla", Caption: t(i18n.M("SLA breaches")), Head: head(i18n.M("Breach"), i18n.M("Count")),
		Note: t(i18n.M("Decisions after the red target are estimated from the time-to-decision histogram.")),
		Rows: [][]string{
			{w.f(i18n.M("Waiting now for longer than %s"), red), n(in.Backlog.Red)},
			{w.f(i18n.M("Decided in the period after waiting longer than %s"), red), n(in.LateDecided)},
		}})

	ts = append(ts, views.InsightTable{ID: "verdicts", Caption: t(i18n.M("Accepted and rejected")), Head: head(i18n.M("Decision"), i18n.M("Count"), i18n.M("Share")),
		Rows: [][]string{
			{t(store.VerdictAccept.Label()), n(in.Accepted), pct(in.Accepted, in.Decisions())},
			{t(store.VerdictReject.Label()), n(in.Rejected), pct(in.Rejected, in.Decisions())},
		}})

	reasons := views.InsightTable{ID: "reasons", Caption: t(i18n.M("Rejection reasons")), Head: head(i18n.M("Reason"), i18n.M("Rejections"), i18n.M("Share of rejections"))}
	for _, r := range in.Reasons {
		reasons.Rows = append(reasons.Rows, []string{t(r.Label), n(r.N), pct(r.N, in.Rejected)})
	}
	ts = append(ts, reasons)

	ts = append(ts, views.InsightTable{ID: "second", Caption: t(i18n.M("Second reviews")), Head: head(i18n.M("Outcome"), i18n.M("Second reviews"), i18n.M("Share")),
		Note: t(i18n.M("Four-eyes decisions reviewed by a second agent in the period; the overturn rate is the overturned share.")),
		Rows: [][]string{
			{t(i18n.M("Confirmed")), n(in.Confirmed), pct(in.Confirmed, in.SecondReviews())},
			{t(i18n.M("Overturned")), n(in.Overturned), pct(in.Overturned, in.SecondReviews())},
		}})

	ts = append(ts, views.InsightTable{ID: "deliveries", Caption: t(i18n.M("Delivery to Mobbscan in the period")), Head: head(i18n.M("Outcome"), i18n.M("Count")),
		Rows: [][]string{
			{t(i18n.M("Delivered")), n(in.Deliveries.Delivered)},
			{t(i18n.M("Failed attempts, retried")), n(in.Deliveries.Retries)},
			{t(i18n.M("Conflicts")), n(in.Deliveries.Conflicts)},
			{t(i18n.M("Parked")), n(in.Deliveries.Parked)},
			{t(i18n.M("Resolved by hand")), n(in.Deliveries.Resolved)},
		}})

	states := views.InsightTable{ID: "states", Caption: t(i18n.M("Delivery states now")), Head: head(i18n.M("State"), i18n.M("Decisions")),
		Note: t(i18n.M("Every decision as it stands now, whatever the period."))}
	for _, s := range in.States {
		label := s.State.Label()
		if s.State == store.StateRetrying {
			label = i18n.M("Retrying")
		}
		states.Rows = append(states.Rows, []string{t(label), n(s.N)})
	}
	ts = append(ts, states)
	return ts
}

// insightCharts draws the charts that go with the tables, in the language of w.
func insightCharts(w cells, in *store.Insights, p review.Period, cfg review.Config) map[string]views.Chart {
	ctx, t := w.ctx, w.t
	cats := make([]string, len(in.Days))
	acc, rej := make([]int, len(in.Days)), make([]int, len(in.Days))
	for i, d := range in.Days {
		cats[i], acc[i], rej[i] = w.shortDay(d.Day), d.Accepted, d.Rejected
	}
	from, _ := time.Parse("2006-01-02", p.FromText())
	to, _ := time.Parse("2006-01-02", p.ToText())
	charts := map[string]views.Chart{
		"days": views.StackedBars(ctx, "chart-days", t(i18n.M("Decisions per day")),
			w.f(i18n.M("Stacked bars of accepted and rejected decisions for each day from %s to %s; the table below lists them."), w.day(from), w.day(to)),
			cats, []views.ChartSeries{{Label: t(i18n.M("accepted")), Class: "bar-accept", Values: acc}, {Label: t(i18n.M("rejected")), Class: "bar-reject", Values: rej}}),
	}
	var agents []views.ChartRow
	for _, a := range in.Agents {
		agents = append(agents, views.ChartRow{Label: a.Name, Value: a.Decisions()})
	}
	charts["agents"] = views.HorizontalBars(ctx, "chart-agents", t(i18n.M("Decisions per agent")), t(i18n.M("One bar per agent, the number of decisions in the period.")), agents)
	amber, red := targetText(cfg.AgingAmber), targetText(cfg.AgingRed)
	charts["backlog"] = views.HorizontalBars(ctx, "chart-backlog", t(i18n.M("Backlog by age now")), t(i18n.M("Processes in review now by how long they have waited.")), []views.ChartRow{
		{Label: w.f(i18n.M("Less than %s"), amber), Value: in.Backlog.Fresh, Class: "bar-accept"},
		{Label: w.f(i18n.M("Between %s and %s"), amber, red), Value: in.Backlog.Amber, Class: "bar-amber"},
		{Label: w.f(i18n.M("More than %s"), red), Value: in.Backlog.Red, Class: "bar-reject"},
	})
	charts["verdicts"] = views.HorizontalBars(ctx, "chart-verdicts", t(i18n.M("Accepted and rejected")), t(i18n.M("Decisions in the period by verdict.")), []views.ChartRow{
		{Label: t(store.VerdictAccept.Label()), Value: in.Accepted, Class: "bar-accept"},
		{Label: t(store.VerdictReject.Label()), Value: in.Rejected, Class: "bar-reject"},
	})
	var reasons []views.ChartRow
	for _, r := range in.Reasons {
		reasons = append(reasons, views.ChartRow{Label: t(r.Label), Value: r.N})
	}
	charts["reasons"] = views.HorizontalBars(ctx, "chart-reasons", t(i18n.M("Rejection reasons")), t(i18n.M("Rejections in the period by reason, most used first.")), reasons)
	charts["deliveries"] = views.HorizontalBars(ctx, "chart-deliveries", t(i18n.M("Delivery to Mobbscan")), t(i18n.M("Delivery outcomes in the period.")), []views.ChartRow{
		{Label: t(i18n.M("Delivered")), Value: in.Deliveries.Delivered, Class: "bar-accept"},
		{Label: t(i18n.M("Failed attempts, retried")), Value: in.Deliveries.Retries, Class: "bar-amber"},
		{Label: t(i18n.M("Conflicts")), Value: in.Deliveries.Conflicts, Class: "bar-reject"},
		{Label: t(i18n.M("Parked")), Value: in.Deliveries.Parked, Class: "bar-reject"},
		{Label: t(i18n.M("Resolved by hand")), Value: in.Deliveries.Resolved},
	})
	return charts
}
