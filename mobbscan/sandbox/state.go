package sandbox

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Status is a process's status inside the sandbox. On the wire CREATED,
// IN_PROGRESS and EXPIRED are reported as PENDING with a stage.
type Status string

// The sandbox's process statuses.
const (
	StatusCreated     Status = "CREATED"      // created, the user has not opened the onboarding page
	StatusInProgress  Status = "IN_PROGRESS"  // the user opened the onboarding page
	StatusPending     Status = "PENDING"      // the user finished; awaits an agent (stage REVIEW)
	StatusVerified    Status = "VERIFIED"     // accepted by an agent
	StatusNotVerified Status = "NOT_VERIFIED" // rejected by an agent
	StatusExpired     Status = "EXPIRED"      // the user never finished
)

// Stages reported on the wire next to the status.
const (
	StageCreated    = "CREATED"
	StageInProgress = "IN_PROGRESS"
	StageReview     = "REVIEW"
	StageExpired    = "EXPIRED"
	StageDone       = "DONE"
)

// Decision verdicts echoed in the process information.
const (
	VerdictAccepted = "ACCEPTED"
	VerdictRejected = "REJECTED"
)

// Wire returns the status and stage as the gateway reports them.
func (s Status) Wire() (status, stage string) {
	switch s {
	case StatusCreated:
		return string(StatusPending), StageCreated
	case StatusInProgress:
		return string(StatusPending), StageInProgress
	case StatusPending:
		return string(StatusPending), StageReview
	case StatusExpired:
		return string(StatusPending), StageExpired
	default:
		return string(s), StageDone
	}
}

// finished reports whether the end user completed the process (so evidence
// exists).
func (s Status) finished() bool {
	return s == StatusPending || s == StatusVerified || s == StatusNotVerified
}

func parseStatus(s string) (Status, error) {
	switch Status(s) {
	case StatusCreated, StatusInProgress, StatusPending, StatusVerified, StatusNotVerified, StatusExpired:
		return Status(s), nil
	}
	if s == StageReview {
		return StatusPending, nil
	}
	return "", fmt.Errorf("%w: unknown state %q", ErrInvalid, s)
}

// Errors returned by the Go methods; the HTTP layer maps them to 404, 400
// and 409.
var (
	ErrNotFound = errors.New("sandbox: process not found")
	ErrInvalid  = errors.New("sandbox: invalid request")
	ErrConflict = errors.New("sandbox: process is not in a state that allows this")
)

// conflictError is an ErrConflict that carries the process's current status.
type conflictError struct {
	status Status
	msg    string
}

func (e *conflictError) Error() string { return e.msg + " (status " + string(e.status) + ")" }
func (e *conflictError) Unwrap() error { return ErrConflict }

// The validation names, in Mobbeel's spelling.
const (
	ValidationDocumentNotExpired           = "validationDocumentNotExpired"
	ValidationDocumentNotSpecimen          = "validationDocumentNotSpecimen"
	ValidationFrontAppearence              = "validationFrontAppearence"
	ValidationBackAppearence               = "validationBackAppearence"
	ValidationFrontPhotocopy               = "validationFrontPhotocopy"
	ValidationBackPhotocopy                = "validationBackPhotocopy"
	ValidationLegalAge                     = "validationLegalAge"
	ValidationMRZ                          = "validationMRZ"
	ValidationPersonalNumberBothSidesMatch = "validationPersonalNumberBothSidesMatch"
	ValidationFacialMatching               = "validationFacialMatching"
	ValidationLiveness                     = "validationLiveness"
	ValidationIdentityVerification         = "validationIdentityVerification"
)

// Validations lists every validation name in a stable order.
var Validations = []string{
	ValidationDocumentNotExpired, ValidationDocumentNotSpecimen,
	ValidationFrontAppearence, ValidationBackAppearence,
	ValidationFrontPhotocopy, ValidationBackPhotocopy,
	ValidationLegalAge, ValidationMRZ, ValidationPersonalNumberBothSidesMatch,
	ValidationFacialMatching, ValidationLiveness, ValidationIdentityVerification,
}

// Document types the sandbox knows.
const (
	DocIDCard        = "IDCard"
	DocPassport      = "Passport"
	DocDriverLicense = "DriverLicense"
)

// Evidence names (imageType and recordingType path values).
const (
	EvidenceDocumentFront = "document_front"
	EvidenceDocumentBack  = "document_back"
	EvidenceFaceDocument  = "face_document"
	EvidenceFaceNow       = "face_now"
	EvidenceVideoLiveness = "video_liveness"
)

var imageTypes = []string{EvidenceDocumentFront, EvidenceDocumentBack, EvidenceFaceDocument, EvidenceFaceNow}

// validationApplies reports whether a validation is checked for a document
// type (passports have no back; driving licences no MRZ).
func validationApplies(docType, name string) bool {
	switch docType {
	case DocPassport:
		return name != ValidationBackAppearence && name != ValidationBackPhotocopy && name != ValidationPersonalNumberBothSidesMatch
	case DocDriverLicense:
		return name != ValidationMRZ && name != ValidationPersonalNumberBothSidesMatch
	}
	return true
}

func checkValidations(failed []string) error {
	for _, f := range failed {
		if !slices.Contains(Validations, f) {
			return fmt.Errorf("%w: unknown validation %q", ErrInvalid, f)
		}
	}
	return nil
}

// scores are the automatic checks' confidence values.
type scores struct {
	FacialMatching       float64 `json:"facialMatching"`
	Liveness             float64 `json:"liveness"`
	DocumentAuthenticity float64 `json:"documentAuthenticity"`
}

// decision is an agent's verdict.
type decision struct {
	Verdict          string    `json:"verdict"`
	Type             string    `json:"type"`
	RejectionComment string    `json:"rejectionComment,omitempty"`
	DecidedAt        time.Time `json:"decidedAt"`
}

// process is one onboarding process. It is persisted as a JSON blob.
type process struct {
	ID          string            `json:"id"`
	ScanID      string            `json:"scanId"`
	Token       string            `json:"token"`
	Seq         uint64            `json:"seq"`
	Status      Status            `json:"status"`
	Created     time.Time         `json:"created"`
	Updated     time.Time         `json:"updated"`
	CountryID   string            `json:"countryId"`
	DocType     string            `json:"docType"`
	RedirectURL string            `json:"redirectUrl,omitempty"`
	ExtraData   map[string]string `json:"extraData,omitempty"`
	Identity    identity          `json:"identity"`
	Failed      []string          `json:"failed,omitempty"`
	Scores      *scores           `json:"scores,omitempty"`
	Decision    *decision         `json:"decision,omitempty"`
	Corrections map[string]string `json:"corrections,omitempty"`
	Accepts     int               `json:"accepts"`
	Rejects     int               `json:"rejects"`
	Pendings    int               `json:"pendings"`
	History     []Status          `json:"history"` // every status it went through, for replays
}

func (p *process) clone() *process {
	c := *p
	c.ExtraData = maps.Clone(p.ExtraData)
	c.Failed = slices.Clone(p.Failed)
	c.Corrections = maps.Clone(p.Corrections)
	c.History = slices.Clone(p.History)
	if p.Scores != nil {
		sc := *p.Scores
		c.Scores = &sc
	}
	if p.Decision != nil {
		d := *p.Decision
		c.Decision = &d
	}
	return &c
}

func (p *process) failed(name string) bool { return slices.Contains(p.Failed, name) }

// evidences lists the evidence the process has.
func (p *process) evidences() []string {
	if !p.Status.finished() {
		return []string{}
	}
	ev := []string{EvidenceDocumentFront}
	if p.DocType != DocPassport {
		ev = append(ev, EvidenceDocumentBack)
	}
	return append(ev, EvidenceFaceDocument, EvidenceFaceNow, EvidenceVideoLiveness)
}

func (p *process) hasEvidence(name string) bool { return slices.Contains(p.evidences(), name) }

// validations reports each validation's result once the process is finished.
func (p *process) validations() map[string]string {
	if !p.Status.finished() {
		return nil
	}
	m := make(map[string]string, len(Validations))
	for _, v := range Validations {
		switch {
		case p.failed(v):
			m[v] = "NOT_VALID"
		case !validationApplies(p.DocType, v):
			m[v] = "NOT_CHECKED"
		default:
			m[v] = "VALID"
		}
	}
	return m
}

// ProcessSnapshot is a copy of a process's state for tests and the control
// API. It carries no personal data.
type ProcessSnapshot struct {
	ID               string            `json:"verificationId"`
	ScanID           string            `json:"scanId"`
	OnboardingToken  string            `json:"onboardingToken"`
	State            Status            `json:"state"`
	Status           string            `json:"status"`
	Stage            string            `json:"stage"`
	CountryID        string            `json:"countryId"`
	DocType          string            `json:"docType"`
	Created          time.Time         `json:"creationDate"`
	Updated          time.Time         `json:"lastUpdateDate"`
	ExtraData        map[string]string `json:"verificationExtraData,omitempty"`
	Failed           []string          `json:"failedValidations"`
	Evidences        []string          `json:"evidences"`
	Verdict          string            `json:"verdict,omitempty"`
	DecisionType     string            `json:"decisionType,omitempty"`
	RejectionComment string            `json:"rejectionComment,omitempty"`
	DecidedAt        time.Time         `json:"decidedAt,omitzero"`
	Corrections      map[string]string `json:"corrections,omitempty"`
	Accepts          int               `json:"acceptsApplied"` // accept calls that changed the process
	Rejects          int               `json:"rejectsApplied"` // reject calls that changed the process
	Pendings         int               `json:"pendingsApplied"`
}

func (p *process) snapshot() ProcessSnapshot {
	status, stage := p.Status.Wire()
	s := ProcessSnapshot{
		ID: p.ID, ScanID: p.ScanID, OnboardingToken: p.Token,
		State: p.Status, Status: status, Stage: stage,
		CountryID: p.CountryID, DocType: p.DocType,
		Created: p.Created, Updated: p.Updated,
		ExtraData: maps.Clone(p.ExtraData),
		Failed:    append([]string{}, p.Failed...),
		Evidences: p.evidences(),
		Accepts:   p.Accepts, Rejects: p.Rejects, Pendings: p.Pendings,
		Corrections: maps.Clone(p.Corrections),
	}
	if d := p.Decision; d != nil {
		s.Verdict, s.DecisionType, s.RejectionComment, s.DecidedAt = d.Verdict, d.Type, d.RejectionComment, d.DecidedAt
	}
	return s
}
