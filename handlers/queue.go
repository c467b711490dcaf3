package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

// queueFilters is the queue's state as it lives in the URL.
type queueFilters struct {
	Search, Country, Doc, Failed, Claim, Older, Sort string
	View                                             string // "" (the queue) or viewEscalated
	AfterSince                                       time.Time
	AfterID                                          string
}

// viewEscalated is the queue's view of escalated cases (?view=escalated).
const viewEscalated = "escalated"

var olderChoices = []struct {
	value string
	label string
	d     time.Duration
}{{"", i18n.M("Any time"), 0}, {"1h", i18n.M("Over 1 hour"), time.Hour}, {"4h", i18n.M("Over 4 hours"), 4 * time.Hour}, {"24h", i18n.M("Over 24 hours"), 24 * time.Hour}}

// parseQueueFilters reads the filters; unknown choices fall back to the defaults, a
// malformed cursor is a 400.
func parseQueueFilters(c echo.Context) (queueFilters, error) {
	q := c.QueryParams()
	f := queueFilters{
		Search: strings.TrimSpace(q.Get("q")), Country: strings.ToUpper(strings.TrimSpace(q.Get("country"))),
		Doc: strings.TrimSpace(q.Get("doc")), Failed: strings.TrimSpace(q.Get("failed")),
		Claim: q.Get("claim"), Older: q.Get("older"), Sort: q.Get("sort"),
	}
	if q.Get("view") == viewEscalated {
		f.View = viewEscalated
	}
	if utf8.RuneCountInString(f.Search) > 200 {
		return f, echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf(i18n.M("The search is too long (%d characters at most)."), 200))
	}
	if len(f.Country) > 8 || len(f.Doc) > 64 || len(f.Failed) > 64 {
		return f, echo.NewHTTPError(http.StatusBadRequest, i18n.M("A filter value is too long."))
	}
	if f.Claim != store.ClaimMine && f.Claim != store.ClaimUnclaimed {
		f.Claim = store.ClaimAll
	}
	if f.Sort != "newest" {
		f.Sort = "oldest"
	}
	if olderDuration(f.Older) == 0 {
		f.Older = ""
	}
	if after := q.Get("after"); after != "" {
		nanos, id, ok := strings.Cut(after, ".")
		n, err := strconv.ParseInt(nanos, 10, 64)
		if !ok || err != nil || !review.ValidID(id) {
			return f, echo.NewHTTPError(http.StatusBadRequest, i18n.M("That page link is broken; start from the first page."))
		}
		f.AfterSince, f.AfterID = time.Unix(0, n).UTC(), id
	}
	return f, nil
}

func olderDuration(v string) time.Duration {
	for _, o := range olderChoices {
		if o.value == v {
			return o.d
		}
	}
	return 0
}

// values encodes the filters (without the cursor) for links; defaults are left out.
func (f queueFilters) values() url.Values {
	v := url.Values{}
	set := func(k, val, def string) {
		if val != "" && val != def {
			v.Set(k, val)
		}
	}
	set("q", f.Search, "")
	set("country", f.Country, "")
	set("doc", f.Doc, "")
	set("failed", f.Failed, "")
	set("claim", f.Claim, store.ClaimAll)
	set("older", f.Older, "")
	set("sort", f.Sort, "oldest")
	set("view", f.View, "")
	return v
}

func (f queueFilters) query(userID int64) store.QueueQuery {
	return store.QueueQuery{
		UserID: userID, Country: f.Country, DocType: f.Doc, Failed: f.Failed, Claim: f.Claim,
		OlderThan: olderDuration(f.Older), Search: f.Search, Newest: f.Sort == "newest", Escalated: f.View == viewEscalated,
		AfterSince: f.AfterSince, AfterID: f.AfterID, Limit: 50,
	}
}

func withQuery(path string, v url.Values) string {
	if e := v.Encode(); e != "" {
		return path + "?" + e
	}
	return path
}

// showQueue renders the queue, or just its list (with the counters out of band) for
// htmx swaps and background polling.
func (h *Handler) showQueue(c echo.Context) error {
	f, err := parseQueueFilters(c)
	if err != nil {
		return err
	}
	qp, err := h.queuePage(c, f)
	if err != nil {
		return err
	}
	switch c.QueryParam("empty") {
	case "1":
		qp.Notice = i18n.M("No unclaimed process matches these filters right now.")
	}
	if c.QueryParam("done") == "skipped" {
		d, err := h.Review.DeskSettings(c.Request().Context())
		if err != nil {
			return err
		}
		qp.Notice = fmt.Sprintf(i18n.M("Skipped. That case stays out of your next case for %s; others can still take it."), views.FormatDuration(d.SkipFor()))
	}
	if c.QueryParam("done") == "escalated" {
		qp.Notice = i18n.M("Escalated. The case waits in the Escalated view for an administrator.")
	}
	if listOnly(c) {
		c.Response().Header().Set("Vary", "HX-Request")
		return render(c, http.StatusOK, fragments(views.QueueList(qp), views.QueueCounts(qp.Counts, true)))
	}
	p := page(c, i18n.M("Queue"), "queue")
	p.Counts = &qp.Counts
	return render(c, http.StatusOK, views.QueueScreen(p, qp))
}

// listOnly reports an htmx request for just the queue's list (filtering, polling).
func listOnly(c echo.Context) bool { return wantsFragment(c) && hxTarget(c) == views.IDQueueList }

func (h *Handler) queuePage(c echo.Context, f queueFilters) (views.QueuePage, error) {
	ctx := c.Request().Context()
	u := auth.UserFrom(c)
	rows, more, err := h.DB.Queue(ctx, f.query(u.ID))
	if err != nil {
		return views.QueuePage{}, err
	}
	opts, err := h.Review.QueueOptions(ctx)
	if err != nil {
		return views.QueuePage{}, err
	}
	counts, err := h.Review.Counts(ctx, u.ID)
	if err != nil {
		return views.QueuePage{}, err
	}
	escalated, err := h.Review.CountEscalated(ctx)
	if err != nil {
		return views.QueuePage{}, err
	}
	base := f.values()
	qp := views.QueuePage{
		Search: f.Search, Query: base.Encode(), Counts: viewCounts(counts),
		Filtered:  len(base) > 0 && !(len(base) == 1 && f.View != ""),
		Escalated: f.View == viewEscalated, EscalatedCount: escalated,
		AgingAmber: targetText(h.Review.Config().AgingAmber), AgingRed: targetText(h.Review.Config().AgingRed),
		NextCaseURL: withQuery("/queue/next", base),
		Countries:   options(opts.Countries, f.Country, views.CountryName),
		DocTypes:    options(opts.DocTypes, f.Doc, views.DocTypeLabel),
		Validations: options(views.ValidationOrder, f.Failed, views.ShortValidation),
		Claims: options([]string{store.ClaimAll, store.ClaimUnclaimed, store.ClaimMine}, f.Claim, func(v string) string {
			return map[string]string{store.ClaimAll: i18n.M("Everyone's"), store.ClaimUnclaimed: i18n.M("Unclaimed"), store.ClaimMine: i18n.M("Mine")}[v]
		}),
		Sorts: options([]string{"oldest", "newest"}, f.Sort, func(v string) string {
			return map[string]string{"oldest": i18n.M("Oldest first"), "newest": i18n.M("Newest first")}[v]
		}),
	}
	for _, o := range olderChoices {
		qp.Ages = append(qp.Ages, views.Option{Value: o.value, Label: o.label, Selected: o.value == f.Older})
	}
	self := url.Values{}
	for k, v := range base {
		self[k] = v
	}
	if f.AfterID != "" {
		self.Set("after", strconv.FormatInt(f.AfterSince.UnixNano(), 10)+"."+f.AfterID)
		qp.FirstURL = withQuery("/queue", base)
	}
	qp.SelfURL = withQuery("/queue", self)
	if more && len(rows) > 0 {
		last := rows[len(rows)-1]
		next := url.Values{}
		for k, v := range base {
			next[k] = v
		}
		next.Set("after", strconv.FormatInt(last.ReviewSince.UnixNano(), 10)+"."+last.ID)
		qp.NextPageURL = withQuery("/queue", next)
	}
	if !listOnly(c) {
		// The decision lists are part of the full page only, not of the list the queue
		// refreshes every few seconds.
		recent, err := h.DB.ListDecisions(ctx, store.DecisionFilter{DecidedBy: u.ID, Limit: 8})
		if err != nil {
			return views.QueuePage{}, err
		}
		for _, d := range recent {
			qp.Recent = append(qp.Recent, h.deliveryView(c, d))
		}
		second, err := h.DB.ListDecisions(ctx, store.DecisionFilter{States: []store.DeliveryState{store.StateSecondReview}, Limit: 20})
		if err != nil {
			return views.QueuePage{}, err
		}
		for _, d := range second {
			qp.AwaitSecond = append(qp.AwaitSecond, h.deliveryView(c, d))
		}
	}
	now := h.DB.Now()
	for _, p := range rows {
		qp.Rows = append(qp.Rows, h.queueRow(p, u.ID, now))
	}
	// Keep the filter's current value listed even when no process has it now.
	qp.Countries = ensureOption(qp.Countries, f.Country, views.CountryName)
	qp.DocTypes = ensureOption(qp.DocTypes, f.Doc, views.DocTypeLabel)
	return qp, nil
}

func (h *Handler) queueRow(p *store.Process, userID int64, now time.Time) views.QueueRow {
	r := views.QueueRow{
		ID: p.ID, URL: "/processes/" + url.PathEscape(p.ID), Holder: p.HolderName, Country: p.Country,
		DocType: views.DocTypeLabel(p.DocType), CustomerRef: p.CustomerRef, Since: p.ReviewSince,
		QASampled: p.QASampled, EscalatedBy: p.EscalatedByName, EscalationNote: p.EscalationNote,
	}
	r.Waiting, r.Aging = h.aging(p.ReviewSince, now)
	for _, f := range p.Failed {
		r.Failed = append(r.Failed, views.Badge{Code: f, Label: views.ShortValidation(f)})
	}
	r.Scores = scoreViews(store.ScoreNames[:], []*float64{p.ScoreFacial, p.ScoreLiveness, p.ScoreDocument})
	if p.ClaimActive(now) {
		r.ClaimedMine = p.ClaimedBy == userID
		r.ClaimedBy = p.ClaimedByName
	}
	return r
}

// aging returns the waiting time in words and its marker against the targets.
func (h *Handler) aging(since, now time.Time) (string, string) {
	if since.IsZero() {
		return "", ""
	}
	d := now.Sub(since)
	if d < 0 {
		d = 0
	}
	return views.FormatDuration(d), h.Review.Config().Aging(d)
}

func scoreViews(names []store.ScoreName, values []*float64) []views.Score {
	var out []views.Score
	for i, n := range names {
		s := views.Score{Name: n.Short(), Label: n.Label()}
		if values[i] != nil {
			v := *values[i]
			s.Known, s.Value, s.Level = true, v, review.ScoreLevel(v)
			if s.Level != review.ScoreInvalid {
				s.Percent = int(v*100 + 0.5)
			}
		}
		out = append(out, s)
	}
	return out
}

func options(values []string, selected string, label func(string) string) []views.Option {
	out := make([]views.Option, 0, len(values))
	for _, v := range values {
		out = append(out, views.Option{Value: v, Label: label(v), Selected: v == selected})
	}
	return out
}

func ensureOption(opts []views.Option, v string, label func(string) string) []views.Option {
	if v == "" {
		return opts
	}
	for _, o := range opts {
		if o.Value == v {
			return opts
		}
	}
	return append(opts, views.Option{Value: v, Label: label(v), Selected: true})
}

func viewCounts(c store.QueueCounts) views.Counts {
	return views.Counts{InReview: c.InReview, Unclaimed: c.Unclaimed, Mine: c.Mine, OverTarget: c.OverTarget}
}

// nextCase claims the oldest unclaimed process matching the filters and opens it.
func (h *Handler) nextCase(c echo.Context) error {
	f, err := parseQueueFilters(c)
	if err != nil {
		return err
	}
	done := ""
	if d := c.QueryParam("done"); d == "decided" || d == "decided-second" {
		done = d // the decision's confirmation, carried to the next case or the empty queue
	}
	return h.claimNextCase(c, f, done)
}

// claimNextCase claims the next case matching f and goes to it, or back to the queue
// saying it is empty; done is carried to the page's confirmation.
func (h *Handler) claimNextCase(c echo.Context, f queueFilters, done string) error {
	f.AfterID = ""
	u := auth.UserFrom(c)
	p, err := h.Review.NextCase(c.Request().Context(), auth.ActorFrom(c), f.query(u.ID))
	if review.ErrorCode(err) == review.CodeNotFound {
		v := f.values()
		v.Set("empty", "1")
		if done != "" {
			v.Set("done", done)
		}
		return c.Redirect(http.StatusSeeOther, withQuery("/queue", v))
	}
	if err != nil {
		return err
	}
	target := claimedURL(p, false)
	if done != "" {
		target += "&done=" + done
	}
	return c.Redirect(http.StatusSeeOther, target)
}

// trackProcess adds a process to the index by its verification id.
func (h *Handler) trackProcess(c echo.Context) error {
	id := strings.TrimSpace(c.FormValue("id"))
	p, err := h.Review.Track(c.Request().Context(), auth.ActorFrom(c), id)
	if err == nil {
		return c.Redirect(http.StatusSeeOther, processURL(p.ID))
	}
	e := review.ErrorOf(err)
	if e == nil {
		return err
	}
	qp, err := h.queuePage(c, queueFilters{Claim: store.ClaimAll, Sort: "oldest"})
	if err != nil {
		return err
	}
	if utf8.RuneCountInString(id) <= 128 {
		qp.TrackID = id
	}
	qp.TrackError = e.Message
	return render(c, codeStatus[e.Code], views.QueueScreen(h.page(c, i18n.M("Queue"), "queue"), qp))
}
