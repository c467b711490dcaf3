package views

import "time"

// Swappable regions of the decision panel and delivery state.
const (
	IDDelivery        = "delivery-state"
	IDAcceptReadiness = "accept-readiness"
)

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
	Error     string // why the corrected value was refused
}

// CorrectionLine is one correction in the summary shown before it is sent (old → new).
type CorrectionLine struct {
	Label string
	Old   string
	New   string
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
	ClaimSeq  int64  // the claim of the page (D6)
	// Locked: the claim is gone; the panel is read-only with this message and what was
	// typed stays in it.
	Locked string
	// Missing names what must be seen before accepting (D7); Accept is disabled while it
	// is not empty, and ReadinessURL is polled.
	Missing         []string
	ReadinessURL    string
	ReloadURL       string
	Corrections     []CorrectionLine // the corrections the agent is about to send
	CorrectionsSeen string           // their summary as the server encodes it
	MaxAddition     int
	MaxNote         int
	MaxCorrection   int
}

// AcceptReady reports whether Accept may be pressed.
func (f DecisionForm) AcceptReady() bool { return len(f.Missing) == 0 && f.Locked == "" }

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
	State       string // the delivery state's code, for styling
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
	Allowed     bool   // the agent holds the claim and did not make the decision
	Reason      string // why not, when not Allowed
	ClaimSeq    int64
	Missing     []string // what to see before confirming an accept (D7)
	MaxNote     int
}

// DataGroup is identity data read from one image (the document's front or back, or its
// machine-readable zone), shown beside that image on the process page.
type DataGroup struct {
	Title  string // "From the document front"
	Source string // the evidence kind it was read from ("document_front"); "" when unknown
	Fields []DataField
	MRZ    string // the machine-readable zone's lines, for the MRZ group
}

// DataField is one extracted field; Key names it for a correction (field.<Key>).
type DataField struct {
	Key   string
	Label string
	Value string
	Mono  bool
}

// correctionFor returns the correction input of the accept form for key, if the agent may
// correct it now.
func correctionFor(f *DecisionForm, key string) (CorrectionField, bool) {
	if f == nil {
		return CorrectionField{}, false
	}
	for _, fl := range f.Fields {
		if fl.Key == key {
			return fl, true
		}
	}
	return CorrectionField{}, false
}
