package views

import "time"

// IDDelivery is the swappable delivery state on the process page.
const IDDelivery = "delivery-state"

// ReasonOption is one reason an agent can pick when rejecting.
type ReasonOption struct {
	ID           int64
	Label        string
	CustomerText string
	Key          string // "1".."9" for the first nine, else ""
	Selected     bool
}

// CorrectionField is one identity data field an agent may correct before accepting.
type CorrectionField struct {
	Key       string
	Label     string
	Value     string
	Original  string
	Corrected bool
}

// DecisionForm is the accept and reject panel of a process the agent holds.
type DecisionForm struct {
	AcceptURL string
	RejectURL string
	Failed    []Validation // checks to confirm before accepting
	Confirmed map[string]bool
	Reasons   []ReasonOption
	Addition  string
	Note      string
	Fields    []CorrectionField
	Errors    FormErrors
	Open      string // "accept" or "reject": the panel the agent was using
}

// DeliveryView is a decision and where its delivery stands.
type DeliveryView struct {
	ID          int64
	ProcessURL  string
	Holder      string
	Verdict     string // "Accepted" or "Rejected"
	VerdictCode string // "accept" or "reject"
	Reason      string
	Comment     string
	Note        string
	DecidedBy   string
	DecidedAt   time.Time
	SecondBy    string
	State       string // store state
	StateLabel  string
	StateHelp   string
	Attempts    int
	LastError   string
	PollURL     string // set while the state can still change
	RetryURL    string // set when a person may retry now
	Confirmed   []string
	Corrected   []string
}

// SecondReviewView offers a second agent to confirm or overturn a decision.
type SecondReviewView struct {
	ConfirmURL  string
	OverturnURL string
	Decision    DeliveryView
	Allowed     bool // false for the agent who decided
}
