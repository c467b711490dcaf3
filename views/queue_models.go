package views

import "time"

// Element ids of the queue and process page.
const (
	IDQueueList    = "queue-list"
	IDQueueCounts  = "queue-counts"
	IDClaimBanner  = "claim-banner"
	IDGatewayAlert = "gateway-alert"
)

// PollHeaders marks htmx polling as background traffic (S4); the value is JSON for
// hx-headers and must match auth.PollHeader.
const PollHeaders = `{"X-Portal-Poll": "1"}`

// Counts are the queue counters the navigation shows.
type Counts struct {
	InReview   int
	Unclaimed  int
	Mine       int
	OverTarget int
}

// Option is one choice of a select.
type Option struct {
	Value    string
	Label    string
	Selected bool
}

// Badge is a compact label, e.g. a failed validation.
type Badge struct {
	Code  string
	Label string
}

// Score is one automatic score with its meaning.
type Score struct {
	Name    string
	Label   string
	Value   float64 // 0..1
	Percent int
	Level   string // "good", "doubtful" or "bad" against the thresholds; "invalid" outside [0, 1]
	Known   bool
}

// Invalid reports a score the gateway sent outside [0, 1]: shown as bad data, never as
// a percentage.
func (s Score) Invalid() bool { return s.Level == "invalid" }

// QueueRow is one process in the queue.
type QueueRow struct {
	ID          string
	URL         string
	Holder      string
	Country     string
	DocType     string
	CustomerRef string
	Waiting     string // "3 h 12 min"
	Since       time.Time
	Aging       string // "", "amber" or "red"
	Failed      []Badge
	Scores      []Score
	ClaimedBy   string
	ClaimedMine bool
	QASampled   bool // sent back for a human check by QA sampling
	// EscalatedBy and EscalationNote say who escalated the case and why (the Escalated view).
	EscalatedBy    string
	EscalationNote string
}

// QueuePage is the review queue.
type QueuePage struct {
	Search      string
	Countries   []Option
	DocTypes    []Option
	Validations []Option
	Claims      []Option
	Ages        []Option
	Sorts       []Option
	Rows        []QueueRow
	Query       string // the current filters as a query string (no cursor)
	SelfURL     string // this page with its cursor, for polling
	NextPageURL string // "" on the last page
	FirstURL    string // "" on the first page
	NextCaseURL string // POST: claims the next case matching the filters
	Filtered    bool
	Counts      Counts
	Notice      string
	TrackError  string
	TrackID     string
	Recent      []DeliveryView // the agent's recent decisions and their delivery
	AwaitSecond []DeliveryView // decisions waiting for a second agent
	// Escalated is the Escalated view (cases only administrators decide) instead of the
	// queue; EscalatedCount is how many wait there.
	Escalated      bool
	EscalatedCount int
	// AgingAmber and AgingRed name the aging targets ("4 h"), for the words beside a
	// row's coloured edge.
	AgingAmber string
	AgingRed   string
}

// Fact is a label and a value in a table of facts.
type Fact struct {
	Label string
	Value string
	Mono  bool
}

// Validation is one automatic check in plain words.
type Validation struct {
	Code   string
	Label  string
	Result string // "failed", "passed" or "not checked"
}

// EvidenceItem is one piece of evidence on the process page.
type EvidenceItem struct {
	Kind    string
	Label   string
	URL     string
	Present bool
}

// ProcessPage is one process.
type ProcessPage struct {
	ID            string
	URL           string
	Holder        string
	Status        string // plain words
	StatusClass   string // "review", "accepted", "rejected", "waiting", "unknown"
	StatusNote    string // where the portal's decision stands, beside Status (one coherent status)
	Created       time.Time
	Finished      time.Time
	Waiting       string
	Aging         string
	CustomerRef   string
	Country       string
	DocType       string
	OnboardingURL string
	Reviewable    bool

	ClaimMine      bool
	ClaimedBy      string
	ClaimedSince   time.Time
	ClaimExpires   time.Time
	HeartbeatURL   string
	ReleaseURL     string
	HeartbeatSecs  int
	ClaimURL       string
	ClaimSeq       int64 // the claim this page holds (D6): sent with every decision
	CanTakeOver    bool
	GatewayProblem string // non-empty: the page shows what the index knows and a banner
	// Opening: the process awaits this agent's claim. The page shows no evidence until a
	// same-origin POST claims it (D6); AutoClaim when the agent came from the portal
	// itself, so app.js sends that POST at once.
	Opening      bool
	AutoClaim    bool
	Notice       string // why the claim was not taken, after a refused claim
	IdleSeconds  int    // the session's idle timeout, for "Stay signed in"
	KeepaliveURL string
	ScoreHint    string

	Identity    []Fact
	MRZ         string
	Data        []DataGroup // the identity data grouped by the image it was read from
	DocHasBack  bool        // the document type has a back side (a passport has none)
	Validations []Validation
	Scores      []Score
	Documents   []EvidenceItem // front, back
	Faces       []EvidenceItem // document portrait, live selfie (side by side)
	Video       EvidenceItem
	ZipURL      string
	Decision    []Fact // a decision already recorded at the gateway

	// The score thresholds in percent, for "why it is in review".
	ScoreDoubtfulFrom, ScoreGoodFrom int

	Decide       *DecisionForm     // set when this agent may decide now
	Delivery     *DeliveryView     // the portal's decision on this process, if any
	SecondReview *SecondReviewView // a decision waiting for a second agent
	Erase        *EraseControl     // administrators: "Erase now" and what retention did; nil for agents
	Purged       bool              // retention or an erasure cleared its identity data
	Timeline     *TimelineView     // the case timeline and note form (issue 11); nil hides it
	Desk         DeskControl       // skip, escalate, send back, QA mark
}

// OnboardingPage is the "new onboarding" form and its result.
type OnboardingPage struct {
	Countries   []Option
	DocTypes    []Option
	CustomerRef string
	MaxRef      int
	Errors      FormErrors
	Created     *CreatedOnboarding
}

// CreatedOnboarding is a process just created, with the link for the customer.
type CreatedOnboarding struct {
	ID   string
	URL  string
	Link string
}
