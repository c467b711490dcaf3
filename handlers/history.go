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

	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

// registerHistory adds the history of every process ("Processes") for signed-in users.
func (h *Handler) registerHistory(u *echo.Group) {
	u.GET("/processes", h.showHistory)
}

// historyFilters is the history's state as it lives in the URL.
type historyFilters struct {
	Search    string
	State     store.HistoryState
	Verdict   store.Verdict
	DecidedBy int64
	From, To  string // YYYY-MM-DD
	After     int64  // keyset cursor: the key of the previous page's last row
}

const dateLayout = "2006-01-02"

// parseHistoryFilters reads the filters: unknown choices fall back to "any"; a search
// longer than the box allows, a malformed date or a malformed cursor is a 400.
func parseHistoryFilters(c echo.Context) (historyFilters, error) {
	q := c.QueryParams()
	f := historyFilters{
		Search: strings.TrimSpace(strings.ToValidUTF8(q.Get("q"), " ")),
		State:  store.HistoryState(q.Get("state")), Verdict: store.Verdict(q.Get("verdict")),
		From: strings.TrimSpace(q.Get("from")), To: strings.TrimSpace(q.Get("to")),
	}
	if utf8.RuneCountInString(f.Search) > store.SearchMaxRunes {
		return f, echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf(i18n.M("The search is too long (%d characters at most)."), store.SearchMaxRunes))
	}
	if !f.State.Valid() {
		f.State = ""
	}
	if !f.Verdict.Valid() {
		f.Verdict = ""
	}
	if by, err := strconv.ParseInt(q.Get("by"), 10, 64); err == nil && by > 0 {
		f.DecidedBy = by
	}
	for _, d := range []struct{ msg, value string }{
		{i18n.M("The start date is not a date: use the date picker or YYYY-MM-DD."), f.From},
		{i18n.M("The end date is not a date: use the date picker or YYYY-MM-DD."), f.To},
	} {
		if _, err := time.Parse(dateLayout, d.value); d.value != "" && err != nil {
			return f, echo.NewHTTPError(http.StatusBadRequest, d.msg)
		}
	}
	if after := q.Get("after"); after != "" {
		n, err := strconv.ParseInt(after, 10, 64)
		if err != nil || n <= 0 {
			return f, echo.NewHTTPError(http.StatusBadRequest, i18n.M("That page link is broken; start from the first page."))
		}
		f.After = n
	}
	return f, nil
}

// values encodes the filters (without the cursor) for links; defaults are left out.
func (f historyFilters) values() url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("q", f.Search)
	set("state", string(f.State))
	set("verdict", string(f.Verdict))
	if f.DecidedBy != 0 {
		v.Set("by", strconv.FormatInt(f.DecidedBy, 10))
	}
	set("from", f.From)
	set("to", f.To)
	return v
}

// query is the store's query: the end date is inclusive, so activity before the next day.
func (f historyFilters) query() store.HistoryQuery {
	q := store.HistoryQuery{State: f.State, Verdict: f.Verdict, DecidedBy: f.DecidedBy, Search: f.Search, After: f.After, Limit: 50}
	if t, err := time.Parse(dateLayout, f.From); err == nil {
		q.Since = t
	}
	if t, err := time.Parse(dateLayout, f.To); err == nil {
		q.Until = t.AddDate(0, 0, 1)
	}
	return q
}

// showHistory renders the history of every process, or just its list for htmx swaps
// (filters and pages).
func (h *Handler) showHistory(c echo.Context) error {
	f, err := parseHistoryFilters(c)
	if err != nil {
		return err
	}
	hp, err := h.historyPage(c, f)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Vary", "HX-Request")
	if listOnlyHistory(c) {
		return render(c, http.StatusOK, views.HistoryList(hp))
	}
	return render(c, http.StatusOK, views.HistoryScreen(h.page(c, i18n.M("Processes"), "processes"), hp))
}

func (h *Handler) historyPage(c echo.Context, f historyFilters) (views.HistoryPage, error) {
	ctx := c.Request().Context()
	rows, more, err := h.DB.History(ctx, f.query())
	if err != nil {
		return views.HistoryPage{}, err
	}
	base := f.values()
	hp := views.HistoryPage{
		Search: f.Search, MaxSearch: store.SearchMaxRunes, From: f.From, To: f.To, Filtered: len(base) > 0,
	}
	for _, s := range store.HistoryStates {
		hp.States = append(hp.States, views.Option{Value: string(s), Label: s.Label(), Selected: s == f.State})
	}
	for _, v := range []store.Verdict{store.VerdictAccept, store.VerdictReject} {
		hp.Verdicts = append(hp.Verdicts, views.Option{Value: string(v), Label: v.Label(), Selected: v == f.Verdict})
	}
	if !listOnlyHistory(c) {
		users, err := h.DB.ListUsers(ctx, "")
		if err != nil {
			return views.HistoryPage{}, err
		}
		for _, u := range users {
			hp.Deciders = append(hp.Deciders, views.Option{Value: strconv.FormatInt(u.ID, 10), Label: u.DisplayName, Selected: u.ID == f.DecidedBy})
		}
		if f.DecidedBy != 0 {
			hp.Deciders = ensureOption(hp.Deciders, strconv.FormatInt(f.DecidedBy, 10), func(string) string { return i18n.Tf(ctx, "User %d", f.DecidedBy) })
		}
	}
	if f.After != 0 {
		hp.FirstURL = withQuery("/processes", base)
	}
	if more && len(rows) > 0 {
		next := url.Values{}
		for k, v := range base {
			next[k] = v
		}
		next.Set("after", strconv.FormatInt(rows[len(rows)-1].Key, 10))
		hp.NextPageURL = withQuery("/processes", next)
	}
	for _, r := range rows {
		hp.Rows = append(hp.Rows, historyRow(r))
	}
	return hp, nil
}

// listOnlyHistory reports an htmx request for just the history's list.
func listOnlyHistory(c echo.Context) bool {
	return wantsFragment(c) && hxTarget(c) == views.IDHistoryList
}

// historyStatusClass is the style of each state.
var historyStatusClass = map[store.HistoryState]string{
	store.HistoryReview: "review", store.HistoryAccepted: "accepted", store.HistoryRejected: "rejected",
	store.HistoryDecided: "waiting", store.HistoryOpen: "waiting", store.HistoryGone: "unknown", store.HistoryPurged: "unknown",
}

func historyRow(r *store.HistoryRow) views.HistoryRow {
	v := views.HistoryRow{
		ID: r.ID, URL: processURL(r.ID), Holder: r.HolderName, CustomerRef: r.CustomerRef, State: string(r.State), Status: r.State.Label(),
		StatusClass: historyStatusClass[r.State], Purged: !r.PurgedAt.IsZero(), Activity: r.ActivityAt, Created: r.CreatedAt,
	}
	if r.State == store.HistoryOpen {
		// "With the customer" says little: the stage says what the customer is at.
		v.Status, _ = views.StatusLabel(r.Status, r.Stage, r.Gone)
	}
	if d := r.Decision; d != nil {
		v.Verdict, v.DecidedBy, v.DecidedAt = d.Verdict.Label(), d.DecidedByName, d.DecidedAt
		v.Delivery, v.DeliveryTag = d.StateLabel(), d.State.Tone()
	}
	return v
}
