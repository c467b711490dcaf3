package views

import "time"

// Element ids of the desk's controls on the process page and the settings page.
const (
	IDDeskSettings = "desk-settings"
	IDSendBack     = "send-back"
	IDEscalate     = "escalate"
)

// DeskControl is what the process page offers for running the desk: skip and escalate
// (the claim holder), the escalation and its withdrawal (administrators), the QA mark
// and sending a finished process back to review (administrators).
type DeskControl struct {
	SkipURL        string // "" unless the viewer holds the claim
	EscalateURL    string // "" unless escalating is offered
	EscalateMax    int
	EscalateText   string // as typed, after a refusal
	EscalateError  string
	Escalated      bool
	EscalatedBy    string
	EscalatedAt    time.Time
	EscalationNote string
	DeescalateURL  string // administrators, on an escalated case
	QASampled      bool
	SendBack       *SendBackControl // administrators only
}

// SendBackControl is "Send back to review" and what became of the latest request.
type SendBackControl struct {
	URL         string // "" when not offered now
	Blocked     string // why not, when not offered
	ReasonMax   int
	Text, Error string // as typed and the refusal
	// The latest request, if any.
	State       string
	StateLabel  string
	StateTone   string
	RequestedBy string
	RequestedAt time.Time
	Reason      string
	LastError   string
	RetryURL    string // failed or parked: queue it again
}

// DeskSettingsForm is the skip time and QA sampling form of the settings page.
type DeskSettingsForm struct {
	SkipMinutes   string
	SamplePercent string
	MaxSkip       int
	Errors        FormErrors // by field: "skip_minutes", "qa_sample_percent"
}
