package mobbscan

// This file is the only place that spells the gateway's paths and JSON field
// names (see /work/shared/mobbscan-contract.md). A correction to the real
// gateway is a one-line change here; nothing else in the package hard-codes a
// path or a key.

import "net/url"

// Paths of the gateway's endpoints. Path segments built from caller data are
// escaped with url.PathEscape after the id or kind has been validated.
const (
	pathToken  = "/auth/token"
	pathCreate = "/onboarding/token"
	pathAccept = "/mobbscan-agent/accept"
	pathReject = "/mobbscan-agent/reject"
	// pathPending sends a finished process back to manual review.
	pathPending = "/mobbscan-agent/pending"
)

func pathProcess(id string) string {
	return "/mobbscan-agent/getVerificationProcessData/" + url.PathEscape(id)
}

func pathStatus(id string) string {
	return "/mobbscan-agent/checkVerificationProcessResult/" + url.PathEscape(id)
}

func pathImage(id, kind string) string {
	return "/mobbscan-agent/" + url.PathEscape(id) + "/image/" + url.PathEscape(kind)
}

func pathRecording(id, kind string) string {
	return "/mobbscan-agent/" + url.PathEscape(id) + "/recording/" + url.PathEscape(kind)
}

func pathZIP(id string) string {
	return "/api/zip/" + url.PathEscape(id)
}

func pathDelete(id string) string {
	return "/mobbscan-agent/api/verification/" + url.PathEscape(id)
}

// Evidence kinds: the image types and the recording type of the contract.
const (
	KindDocumentFront = "document_front" // front of the ID document
	KindDocumentBack  = "document_back"  // back of the ID document
	KindFaceDocument  = "face_document"  // portrait cropped from the document
	KindFaceNow       = "face_now"       // the live selfie
	KindVideoLiveness = "video_liveness" // the video selfie (a recording)
)

// evidenceKinds lists the kinds in display order; recording reports whether a
// kind is served by the recording path rather than the image path.
var evidenceKinds = []struct {
	kind      string
	recording bool
}{
	{KindDocumentFront, false},
	{KindDocumentBack, false},
	{KindFaceDocument, false},
	{KindFaceNow, false},
	{KindVideoLiveness, true},
}

// Status is a process status as the client understands it.
type Status string

// Status values: the three wire values, and StatusUnknown for any other wire
// value or none (the wire value is kept beside it, see State.RawStatus).
const (
	StatusPending     Status = "PENDING"      // not finished, or waiting for an agent
	StatusVerified    Status = "VERIFIED"     // accepted
	StatusNotVerified Status = "NOT_VERIFIED" // rejected
	StatusUnknown     Status = "UNKNOWN"      // anything else, including absent
)

// StageReview is the stage of a PENDING process that awaits an agent. Other
// stages the sandbox reports: CREATED, IN_PROGRESS, EXPIRED, DONE.
const StageReview = "REVIEW"

// Validation results as sent in the validations map.
const (
	ValidationValid      = "VALID"
	ValidationNotValid   = "NOT_VALID"
	ValidationNotChecked = "NOT_CHECKED"
)

// validationNames are Mobbeel's validation names (their spelling) in the order
// a reviewer reads them.
var validationNames = []string{
	"validationDocumentNotExpired",
	"validationDocumentNotSpecimen",
	"validationFrontAppearence",
	"validationBackAppearence",
	"validationFrontPhotocopy",
	"validationBackPhotocopy",
	"validationLegalAge",
	"validationMRZ",
	"validationPersonalNumberBothSidesMatch",
	"validationFacialMatching",
	"validationLiveness",
	"validationIdentityVerification",
}

// JSON field names.
const (
	// Token request and response.
	fieldAPIKey      = "api_key"
	fieldAPISecret   = "api_secret"
	fieldAccessToken = "accessToken"
	claimExp         = "exp" // JWT expiry, read without verifying the token
	claimIat         = "iat" // JWT issue time

	// Create request and response.
	fieldCountryID       = "countryId"
	fieldDocType         = "docType"
	fieldRedirectURL     = "redirectUrl"
	fieldScanID          = "scanId"
	fieldExtraData       = "verificationExtraData"
	fieldOnboardingToken = "onboardingToken"
	fieldOnboardingURL   = "onboardingUrl"

	// Process information, status and decision responses.
	fieldVerificationID   = "verificationId"
	fieldStatus           = "status"
	fieldStage            = "stage"
	fieldCreationDate     = "creationDate"
	fieldLastUpdateDate   = "lastUpdateDate"
	fieldPersonalData     = "personalData"
	fieldValidationResult = "scanProcessValidationResult"
	fieldEnabledProcess   = "enabledProcess"
	fieldFailedValidation = "scanProcessFailedValidations"
	fieldValidationValue  = "scanProcessValidationResult" // inside the object of the same name
	fieldValidations      = "validations"
	fieldScores           = "scores"
	fieldEvidences        = "evidences"
	fieldDecision         = "decision"
	fieldVerdict          = "verdict"
	fieldDecisionType     = "type"
	fieldRejectComment    = "rejectionComment"
	fieldDecidedAt        = "decidedAt"

	// Error bodies: {"code": <status>, "description": "..."}; a 409 may add
	// the current status and stage.
	fieldErrorDescription = "description"
)

// Personal data keys in the order a reviewer reads them.
const (
	keyName           = "name"
	keySurname        = "surname"
	keyDocumentNumber = "documentNumber"
	keyPersonalNumber = "personalNumber"
	keyDateOfBirth    = "dateOfBirth"
	keyDateOfExpiry   = "dateOfExpiry"
	keyGender         = "gender"
	keyNationality    = "nationality"
	keyAddress        = "address"
	keyCity           = "city"
	keyPostCode       = "postCode"
	keyMRZ            = "mrz"
)

var personalDataKeys = []string{
	keyName, keySurname, keyDocumentNumber, keyPersonalNumber, keyDateOfBirth,
	keyDateOfExpiry, keyGender, keyNationality, keyAddress, keyCity, keyPostCode, keyMRZ,
}

// Verdicts in decision.verdict.
const (
	VerdictAccepted = "ACCEPTED"
	VerdictRejected = "REJECTED"
)

// Request bodies.

type tokenRequest struct {
	APIKey    string `json:"api_key"`
	APISecret string `json:"api_secret"`
}

type createRequest struct {
	CountryID   string            `json:"countryId"`
	DocType     string            `json:"docType"`
	RedirectURL string            `json:"redirectUrl,omitempty"`
	ScanID      string            `json:"scanId,omitempty"`
	ExtraData   map[string]string `json:"verificationExtraData,omitempty"`
}

type acceptRequest struct {
	VerificationID string            `json:"verificationId"`
	Type           string            `json:"type"`
	PersonalData   map[string]string `json:"personalData,omitempty"`
}

type rejectRequest struct {
	VerificationID   string `json:"verificationId"`
	Type             string `json:"type"`
	RejectionComment string `json:"rejectionComment"`
}

type pendingRequest struct {
	VerificationID string `json:"verificationId"`
}
