package mobbscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ParseStatus maps a wire status to a Status, ignoring case and surrounding
// space. It never fails: unknown values give StatusUnknown.
func ParseStatus(s string) Status {
	switch st := Status(strings.ToUpper(strings.TrimSpace(s))); st {
	case StatusPending, StatusVerified, StatusNotVerified:
		return st
	}
	return StatusUnknown
}

// Final reports whether the status is a verdict (VERIFIED or NOT_VERIFIED).
func (s Status) Final() bool { return s == StatusVerified || s == StatusNotVerified }

// State is the status part shared by process information, status and
// decision results.
type State struct {
	Status    Status // mapped status
	RawStatus string // the status as received, "" when absent
	Stage     string // optional stage (e.g. REVIEW), upper-cased; "" when absent
}

// Reviewable reports whether an agent may decide: the status is PENDING and
// the stage, when present, is REVIEW.
func (s State) Reviewable() bool {
	return s.Status == StatusPending && (s.Stage == "" || s.Stage == StageReview)
}

// StatusResult is the answer of the status endpoint.
type StatusResult struct {
	VerificationID string
	State
	Raw json.RawMessage // the response body as received
}

// DecisionResult is the answer to accept and reject. Its State is zero when
// the gateway's answer does not carry a status.
type DecisionResult struct {
	VerificationID string
	State
	Raw json.RawMessage
}

// Onboarding is a created onboarding process.
type Onboarding struct {
	VerificationID  string
	ScanID          string
	OnboardingToken string
	// OnboardingURL is where the end user goes; it is empty unless the
	// gateway returned an absolute http or https URL.
	OnboardingURL string
	Raw           json.RawMessage
}

// Process is the full information of a process. Every field but
// VerificationID is optional: absent or malformed values are left zero.
type Process struct {
	VerificationID string
	ScanID         string
	State
	CreationDate   time.Time // zero when absent or unreadable
	LastUpdateDate time.Time
	CountryID      string
	DocType        string
	// ExtraData is the integrator's own references (verificationExtraData).
	ExtraData    map[string]string
	PersonalData PersonalData
	// ValidationResult is the automatic validation summary
	// (scanProcessValidationResult).
	ValidationResult ValidationSummary
	// Validations maps a validation name to VALID, NOT_VALID or NOT_CHECKED.
	Validations map[string]string
	Scores      map[string]float64 // finite values only
	Evidences   []string           // evidence kinds the process has
	Decision    *Decision          // nil until decided
	Raw         json.RawMessage
}

// ValidationSummary is the overall result of the automatic validations.
type ValidationSummary struct {
	Enabled bool     // enabledProcess
	Failed  []string // names of the failed validations
	Result  string   // e.g. VALID or NOT_VALID
}

// Decision is the verdict recorded on a process.
type Decision struct {
	Verdict          string // ACCEPTED or REJECTED (VerdictAccepted, VerdictRejected)
	Type             string
	RejectionComment string
	DecidedAt        time.Time
}

// PersonalData is the identity data extracted from the document. The known
// fields have their own struct fields; All holds every field received.
type PersonalData struct {
	Name, Surname                  string
	DocumentNumber, PersonalNumber string
	DateOfBirth, DateOfExpiry      string // as sent, usually YYYY-MM-DD
	Gender, Nationality            string
	Address, City, PostCode        string
	MRZ                            string
	All                            map[string]string
}

// Field is one key and value of personal data or of a validation list.
type Field struct {
	Key, Value string
}

// Fields returns the non-empty personal data: the known fields in reading
// order, then the others sorted by key.
func (d PersonalData) Fields() []Field {
	return orderedFields(d.All, personalDataKeys)
}

// OrderedValidations returns the validations: Mobbeel's known names in
// reading order, then the others sorted by name.
func (p *Process) OrderedValidations() []Field {
	return orderedFields(p.Validations, validationNames)
}

func orderedFields(m map[string]string, known []string) []Field {
	out := make([]Field, 0, len(m))
	for _, k := range known {
		if v := m[k]; v != "" {
			out = append(out, Field{k, v})
		}
	}
	rest := make([]string, 0, len(m))
	for k, v := range m {
		if v != "" && !slices.Contains(known, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for _, k := range rest {
		out = append(out, Field{k, m[k]})
	}
	return out
}

// EvidenceKinds returns the evidence kinds in display order.
func EvidenceKinds() []string {
	out := make([]string, len(evidenceKinds))
	for i, k := range evidenceKinds {
		out[i] = k.kind
	}
	return out
}

// IsEvidenceKind reports whether kind is one of the Kind* constants.
func IsEvidenceKind(kind string) bool {
	_, ok := evidenceKind(kind)
	return ok
}

func evidenceKind(kind string) (recording, ok bool) {
	for _, k := range evidenceKinds {
		if k.kind == kind {
			return k.recording, true
		}
	}
	return false, false
}

// Notification is a webhook notification from the gateway: a hint that a
// process changed. Fields other than the id are optional.
type Notification struct {
	VerificationID string
	State
	Raw json.RawMessage
}

// ParseNotification decodes a webhook body tolerantly. It fails only when the
// body is not a JSON object or carries no usable verification id.
func ParseNotification(body []byte) (*Notification, error) {
	o, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	n := &Notification{VerificationID: o.str(fieldVerificationID), State: o.state(), Raw: raw(body)}
	if err := validateID(n.VerificationID); err != nil {
		return nil, errors.New("notification has no usable verification id")
	}
	return n, nil
}

// Decoding. The gateway's answers are decoded field by field: a value of the
// wrong type for an optional field leaves that field zero instead of failing
// the whole answer.

type object map[string]json.RawMessage

var errNotObject = errors.New("response is not a JSON object")

func parseObject(data []byte) (object, error) {
	var o object
	if err := json.Unmarshal(data, &o); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, errors.New("malformed JSON")
		}
		return nil, errNotObject
	}
	if o == nil { // literal null
		return nil, errNotObject
	}
	return o, nil
}

func raw(data []byte) json.RawMessage {
	return json.RawMessage(bytes.Clone(bytes.TrimSpace(data)))
}

// scalar returns the text of a JSON string, number or boolean; ok is false
// for null, objects, arrays and absent values.
func scalar(r json.RawMessage) (string, bool) {
	r = bytes.TrimSpace(r)
	if len(r) == 0 {
		return "", false
	}
	switch r[0] {
	case '"':
		var s string
		if json.Unmarshal(r, &s) != nil {
			return "", false
		}
		return s, true
	case 't', 'f':
		return string(r), string(r) == "true" || string(r) == "false"
	case 'n', '{', '[':
		return "", false
	}
	if json.Valid(r) { // a number
		return string(r), true
	}
	return "", false
}

func (o object) str(key string) string {
	s, _ := scalar(o[key])
	return strings.TrimSpace(s)
}

func (o object) obj(key string) object {
	r := bytes.TrimSpace(o[key])
	if len(r) == 0 || r[0] != '{' {
		return nil
	}
	var m object
	if json.Unmarshal(r, &m) != nil {
		return nil
	}
	return m
}

func (o object) boolean(key string) bool {
	s, _ := scalar(o[key])
	b, _ := strconv.ParseBool(strings.TrimSpace(s))
	return b
}

// strMap decodes an object whose values should be strings; numbers and
// booleans are kept as their text, nested values as compact JSON, nulls
// dropped.
func (o object) strMap(key string) map[string]string {
	m := o.obj(key)
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if s, ok := scalar(v); ok {
			out[k] = s
			continue
		}
		v = bytes.TrimSpace(v)
		if len(v) > 0 && (v[0] == '{' || v[0] == '[') {
			var b bytes.Buffer
			if json.Compact(&b, v) == nil {
				out[k] = b.String()
			}
		}
	}
	return out
}

// floatMap decodes an object of numbers; numeric strings are accepted, other
// values and non-finite numbers are dropped.
func (o object) floatMap(key string) map[string]float64 {
	m := o.obj(key)
	if m == nil {
		return nil
	}
	out := make(map[string]float64, len(m))
	for k, v := range m {
		s, ok := scalar(v)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		out[k] = f
	}
	return out
}

// list decodes an array of strings, skipping elements that are not
// scalars; a single string is read as a one-element list.
func (o object) list(key string) []string {
	r := bytes.TrimSpace(o[key])
	if len(r) == 0 {
		return nil
	}
	if s, ok := scalar(r); ok && r[0] == '"' {
		if s = strings.TrimSpace(s); s != "" {
			return []string{s}
		}
		return nil
	}
	var items []json.RawMessage
	if r[0] != '[' || json.Unmarshal(r, &items) != nil {
		return nil
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		if s, ok := scalar(it); ok && strings.TrimSpace(s) != "" {
			out = append(out, strings.TrimSpace(s))
		}
	}
	return out
}

func (o object) date(key string) time.Time {
	s, ok := scalar(o[key])
	if !ok {
		return time.Time{}
	}
	return parseTime(s)
}

func (o object) state() State {
	raw := o.str(fieldStatus)
	st := State{RawStatus: raw, Stage: strings.ToUpper(o.str(fieldStage))}
	if raw != "" {
		st.Status = ParseStatus(raw)
	} else {
		st.Status = StatusUnknown
	}
	return st
}

// timeLayouts are tried in order; layouts without a zone are read as UTC.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04",
	"2006-01-02",
}

// parseTime reads RFC 3339 with or without a zone, a few near variants, or
// Unix time in seconds or milliseconds. Unreadable values give the zero time.
func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	if isDigits(s) {
		if len(s) > 16 {
			return time.Time{}
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n == 0 {
			return time.Time{}
		}
		if n >= 1e11 { // milliseconds
			return inRange(time.UnixMilli(n).UTC())
		}
		return inRange(time.Unix(n, 0).UTC())
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return inRange(t)
		}
	}
	return time.Time{}
}

// inRange keeps dates whose year is 1–9999 both as written and in UTC (the index
// stores UTC text); anything else is unreadable.
func inRange(t time.Time) time.Time {
	for _, y := range []int{t.Year(), t.UTC().Year()} {
		if y < 1 || y > 9999 {
			return time.Time{}
		}
	}
	return t
}

func decodeProcess(data []byte) (*Process, error) {
	o, err := parseObject(data)
	if err != nil {
		return nil, err
	}
	p := &Process{
		VerificationID: o.str(fieldVerificationID),
		ScanID:         o.str(fieldScanID),
		State:          o.state(),
		CreationDate:   o.date(fieldCreationDate),
		LastUpdateDate: o.date(fieldLastUpdateDate),
		CountryID:      o.str(fieldCountryID),
		DocType:        o.str(fieldDocType),
		ExtraData:      o.strMap(fieldExtraData),
		Validations:    o.strMap(fieldValidations),
		Scores:         o.floatMap(fieldScores),
		Evidences:      o.list(fieldEvidences),
		Raw:            raw(data),
	}
	if pd := o.strMap(fieldPersonalData); pd != nil {
		p.PersonalData = personalData(pd)
	}
	if v := o.obj(fieldValidationResult); v != nil {
		p.ValidationResult = ValidationSummary{
			Enabled: v.boolean(fieldEnabledProcess),
			Failed:  v.list(fieldFailedValidation),
			Result:  v.str(fieldValidationValue),
		}
	}
	if d := o.obj(fieldDecision); d != nil {
		p.Decision = &Decision{
			Verdict:          strings.ToUpper(d.str(fieldVerdict)),
			Type:             d.str(fieldDecisionType),
			RejectionComment: d.str(fieldRejectComment),
			DecidedAt:        d.date(fieldDecidedAt),
		}
	}
	return p, nil
}

func personalData(all map[string]string) PersonalData {
	d := PersonalData{All: all}
	for k, v := range all {
		switch k {
		case keyName:
			d.Name = v
		case keySurname:
			d.Surname = v
		case keyDocumentNumber:
			d.DocumentNumber = v
		case keyPersonalNumber:
			d.PersonalNumber = v
		case keyDateOfBirth:
			d.DateOfBirth = v
		case keyDateOfExpiry:
			d.DateOfExpiry = v
		case keyGender:
			d.Gender = v
		case keyNationality:
			d.Nationality = v
		case keyAddress:
			d.Address = v
		case keyCity:
			d.City = v
		case keyPostCode:
			d.PostCode = v
		case keyMRZ:
			d.MRZ = v
		}
	}
	return d
}

func decodeStatus(data []byte) (*StatusResult, error) {
	o, err := parseObject(data)
	if err != nil {
		return nil, err
	}
	return &StatusResult{VerificationID: o.str(fieldVerificationID), State: o.state(), Raw: raw(data)}, nil
}

// decodeDecision accepts an empty body (the status is then left zero).
func decodeDecision(data []byte) (*DecisionResult, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return &DecisionResult{}, nil
	}
	o, err := parseObject(data)
	if err != nil {
		return nil, err
	}
	r := &DecisionResult{VerificationID: o.str(fieldVerificationID), Raw: raw(data)}
	if o.str(fieldStatus) != "" {
		r.State = o.state()
	}
	return r, nil
}

func decodeOnboarding(data []byte) (*Onboarding, error) {
	o, err := parseObject(data)
	if err != nil {
		return nil, err
	}
	ob := &Onboarding{
		VerificationID:  o.str(fieldVerificationID),
		ScanID:          o.str(fieldScanID),
		OnboardingToken: o.str(fieldOnboardingToken),
		OnboardingURL:   o.str(fieldOnboardingURL),
		Raw:             raw(data),
	}
	if !isWebURL(ob.OnboardingURL) {
		ob.OnboardingURL = ""
	}
	return ob, nil
}

// decodeConflict reads the current status and stage from an error body.
func decodeConflict(data []byte) (Status, string) {
	o, err := parseObject(data)
	if err != nil {
		return "", ""
	}
	st := o.state()
	if st.RawStatus == "" {
		return "", st.Stage
	}
	return st.Status, st.Stage
}

// errorDescription extracts the description of an error body, or its text.
func errorDescription(data []byte) string {
	if o, err := parseObject(data); err == nil {
		if d := o.str(fieldErrorDescription); d != "" {
			return d
		}
	}
	return string(data)
}

// isWebURL reports whether s is an absolute http or https URL with a host,
// the only kind a portal may show as a link.
func isWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}
