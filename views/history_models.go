package views

import "time"

// IDHistoryList is the history's swappable list: the filters and the pager swap it.
const IDHistoryList = "history-list"

// HistoryPage is the history of every process the portal knows ("Processes").
type HistoryPage struct {
	Search      string
	MaxSearch   int // the search box's maxlength: the server's limit
	States      []Option
	Verdicts    []Option
	Deciders    []Option // agents who decided, by id; names isolated with dir="auto"
	From        string   // last activity from this day (YYYY-MM-DD), inclusive
	To          string   // last activity up to this day, inclusive
	Filtered    bool
	Rows        []HistoryRow
	NextPageURL string // "" on the last page
	FirstURL    string // "" on the first page
}

// HistoryRow is one process in the history, with its live decision if any.
type HistoryRow struct {
	ID          string
	URL         string
	Holder      string // "" when never read or purged
	CustomerRef string
	State       string // the store's state code, for tests and styles
	Status      string // where it stands, in plain words
	StatusClass string // "review", "accepted", "rejected", "waiting" or "unknown"
	Purged      bool
	Activity    time.Time // last activity: Mobbscan's last update or the decision, the later
	Created     time.Time
	Verdict     string // "" without a live decision
	DecidedBy   string
	DecidedAt   time.Time
	Delivery    string // the decision's delivery state in words
	DeliveryTag string // "ok", "off" or ""
}
