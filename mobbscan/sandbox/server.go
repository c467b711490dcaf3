package sandbox

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// routes registers the whole URL surface.
func (s *Sandbox) routes() {
	s.mux = http.NewServeMux()
	api := func(pattern, route string, h http.HandlerFunc) {
		if route != RouteToken {
			h = s.requireToken(h)
		}
		s.mux.HandleFunc(pattern, s.withFaults(route, h))
	}
	api("POST /auth/token", RouteToken, s.issueToken)
	api("POST /onboarding/token", RouteCreate, s.createProcess)
	api("GET /mobbscan-agent/getVerificationProcessData/{id}", RouteProcess, s.showProcess)
	api("GET /mobbscan-agent/checkVerificationProcessResult/{id}", RouteStatus, s.showStatus)
	api("POST /mobbscan-agent/accept", RouteAccept, s.acceptProcess)
	api("POST /mobbscan-agent/reject", RouteReject, s.rejectProcess)
	api("POST /mobbscan-agent/pending", RoutePending, s.pendProcess)
	api("GET /mobbscan-agent/{id}/image/{imageType}", RouteImage, s.serveImage)
	api("GET /mobbscan-agent/{id}/recording/{recordingType}", RouteRecording, s.serveRecording)
	api("GET /api/zip/{id}", RouteZip, s.serveZip)
	api("DELETE /mobbscan-agent/api/verification/{id}", RouteDelete, s.deleteProcess)

	s.mux.HandleFunc("GET /onboarding/{token}", s.showOnboarding)
	s.mux.HandleFunc("POST /onboarding/{token}", s.finishOnboarding)
	if s.cfg.Control {
		s.controlRoutes()
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint")
	})
}

// apiError is the body of every error answer.
type apiError struct {
	Code        int    `json:"code"`
	Description string `json:"description"`
	Status      string `json:"status,omitempty"` // the process's status, on 409
	Stage       string `json:"stage,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"code":500,"description":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, code int, description string) {
	writeJSON(w, code, apiError{Code: code, Description: description})
}

// fail answers err with the status its kind calls for.
func (s *Sandbox) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ce *conflictError
	switch {
	case errors.As(err, &ce):
		status, stage := ce.status.Wire()
		writeJSON(w, http.StatusConflict, apiError{Code: http.StatusConflict, Description: ce.msg, Status: status, Stage: stage})
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "not found")
	case errors.Is(err, ErrInvalid):
		writeError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

const maxBody = 64 << 10

// decodeJSON decodes exactly one JSON value of at most maxBody bytes.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: malformed JSON body: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: malformed JSON body: trailing data", ErrInvalid)
	}
	return nil
}

// requireToken answers 401 unless the request carries a valid access token.
func (s *Sandbox) requireToken(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || s.verifyJWT(strings.TrimSpace(token)) != nil {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "invalid or expired access token")
			return
		}
		next(w, r)
	}
}

func (s *Sandbox) issueToken(w http.ResponseWriter, r *http.Request) {
	var body struct {
		APIKey    string `json:"api_key"`
		APISecret string `json:"api_secret"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	keyOK := subtle.ConstantTimeCompare([]byte(body.APIKey), []byte(s.cfg.APIKey)) == 1
	secretOK := subtle.ConstantTimeCompare([]byte(body.APISecret), []byte(s.cfg.APISecret)) == 1
	if !keyOK || !secretOK {
		writeError(w, http.StatusUnauthorized, "invalid credentials")
		return
	}
	token, err := s.issueJWT()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"accessToken": token})
}

var (
	countryPattern = regexp.MustCompile(`^[A-Z]{3}$`)
	uuidPattern    = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

func validCountry(c string) bool { return countryPattern.MatchString(c) }

// createBody is the wire shape of POST /onboarding/token.
type createBody struct {
	CountryID             string            `json:"countryId"`
	DocType               string            `json:"docType"`
	RedirectURL           string            `json:"redirectUrl"`
	ScanID                string            `json:"scanId"`
	VerificationExtraData map[string]string `json:"verificationExtraData"`
}

// parseCreate validates a create body.
func parseCreate(b createBody) (createRequest, error) {
	switch {
	case b.CountryID == "" || b.DocType == "":
		return createRequest{}, fmt.Errorf("%w: countryId and docType are required", ErrInvalid)
	case !validCountry(b.CountryID):
		return createRequest{}, fmt.Errorf("%w: countryId must be an ISO 3166 alpha-3 code", ErrInvalid)
	case b.DocType != DocIDCard && b.DocType != DocPassport && b.DocType != DocDriverLicense:
		return createRequest{}, fmt.Errorf("%w: unsupported docType", ErrInvalid)
	case b.ScanID != "" && !uuidPattern.MatchString(b.ScanID):
		return createRequest{}, fmt.Errorf("%w: scanId must be a UUID", ErrInvalid)
	case len(b.VerificationExtraData) > 32:
		return createRequest{}, fmt.Errorf("%w: too many verificationExtraData entries", ErrInvalid)
	}
	if b.RedirectURL != "" {
		u, err := url.Parse(b.RedirectURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(b.RedirectURL) > 2048 {
			return createRequest{}, fmt.Errorf("%w: redirectUrl must be an absolute http(s) URL", ErrInvalid)
		}
	}
	for k, v := range b.VerificationExtraData {
		if k == "" || len(k) > 128 || len(v) > 1024 || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return createRequest{}, fmt.Errorf("%w: verificationExtraData keys must be 1-128 and values at most 1024 bytes", ErrInvalid)
		}
	}
	return createRequest{
		CountryID: b.CountryID, DocType: b.DocType, RedirectURL: b.RedirectURL,
		ScanID: strings.ToLower(b.ScanID), ExtraData: b.VerificationExtraData,
	}, nil
}

// baseURL is where the sandbox's own pages are reachable.
func (s *Sandbox) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Sandbox) createProcess(w http.ResponseWriter, r *http.Request) {
	var body createBody
	if err := decodeJSON(w, r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	req, err := parseCreate(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.create(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("process created", "verificationId", p.ID)
	writeJSON(w, http.StatusOK, map[string]string{
		"verificationId":  p.ID,
		"scanId":          p.ScanID,
		"onboardingToken": p.Token,
		"onboardingUrl":   s.baseURL(r) + "/onboarding/" + p.Token,
	})
}

// processInfo is the answer of getVerificationProcessData.
type processInfo struct {
	VerificationID        string            `json:"verificationId"`
	ScanID                string            `json:"scanId"`
	Status                string            `json:"status"`
	Stage                 string            `json:"stage"`
	CreationDate          string            `json:"creationDate"`
	LastUpdateDate        string            `json:"lastUpdateDate"`
	CountryID             string            `json:"countryId"`
	DocType               string            `json:"docType"`
	VerificationExtraData map[string]string `json:"verificationExtraData"`
	PersonalData          map[string]string `json:"personalData"`
	ScanResult            *scanResult       `json:"scanProcessValidationResult"`
	Validations           map[string]string `json:"validations"`
	Scores                *scores           `json:"scores"`
	Evidences             []string          `json:"evidences"`
	Decision              *decisionInfo     `json:"decision"`
}

type scanResult struct {
	EnabledProcess bool     `json:"enabledProcess"`
	Failed         []string `json:"scanProcessFailedValidations"`
	Result         string   `json:"scanProcessValidationResult"`
}

type decisionInfo struct {
	Verdict          string `json:"verdict"`
	Type             string `json:"type"`
	RejectionComment string `json:"rejectionComment"`
	DecidedAt        string `json:"decidedAt"`
}

func wireTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (p *process) info() processInfo {
	status, stage := p.Status.Wire()
	in := processInfo{
		VerificationID: p.ID, ScanID: p.ScanID, Status: status, Stage: stage,
		CreationDate: wireTime(p.Created), LastUpdateDate: wireTime(p.Updated),
		CountryID: p.CountryID, DocType: p.DocType,
		VerificationExtraData: p.ExtraData,
		Evidences:             p.evidences(),
	}
	if in.VerificationExtraData == nil {
		in.VerificationExtraData = map[string]string{}
	}
	if p.Status.finished() {
		in.PersonalData = p.personalData()
		result := "VALID"
		if len(p.Failed) > 0 {
			result = "NOT_VALID"
		}
		in.ScanResult = &scanResult{EnabledProcess: true, Failed: append([]string{}, p.Failed...), Result: result}
		in.Validations = p.validations()
		in.Scores = p.Scores
	}
	if d := p.Decision; d != nil {
		in.Decision = &decisionInfo{Verdict: d.Verdict, Type: d.Type, RejectionComment: d.RejectionComment, DecidedAt: wireTime(d.DecidedAt)}
	}
	return in
}

// personalData is the data extracted from the document, with the agent's
// corrections applied.
func (p *process) personalData() map[string]string {
	id := p.Identity
	m := map[string]string{
		"name":           id.Given,
		"surname":        id.Surname,
		"documentNumber": id.Number,
		"dateOfBirth":    id.Birth.Format(time.DateOnly),
		"dateOfExpiry":   id.Expiry.Format(time.DateOnly),
		"gender":         id.Gender,
		"nationality":    id.Nationality,
		"address":        id.Address,
		"city":           id.City,
		"postCode":       id.PostCode,
	}
	if id.Personal != "" {
		m["personalNumber"] = id.Personal
	}
	if lines := p.mrz(); len(lines) > 0 {
		m["mrz"] = strings.Join(lines, "\n")
	}
	for k, v := range p.Corrections {
		m[k] = v
	}
	return m
}

// mrz returns the lines of the process's MRZ (none for driving licences).
func (p *process) mrz() []string {
	id := p.Identity
	f := mrzFields{
		Issuer: p.CountryID, Number: id.Number, Personal: id.Personal, Nationality: id.Nationality,
		Birth: id.Birth, Expiry: id.Expiry, Sex: id.Gender, Surname: id.SurnameLatin, Given: id.GivenLatin,
	}
	var lines []string
	switch p.DocType {
	case DocPassport:
		f.DocCode = "P<"
		l := td3(f)
		lines = l[:]
	case DocIDCard:
		f.DocCode = "ID"
		if id.BackPersonal != "" {
			f.Personal = id.BackPersonal
		}
		l := td1(f)
		lines = l[:]
	default:
		return nil
	}
	if id.BadMRZ {
		lines = corruptMRZ(lines)
	}
	return lines
}

func (s *Sandbox) showProcess(w http.ResponseWriter, r *http.Request) {
	p, err := s.get(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p.info())
}

// statusInfo is the answer of checkVerificationProcessResult and of the
// decision endpoints.
type statusInfo struct {
	VerificationID string `json:"verificationId"`
	Status         string `json:"status"`
	Stage          string `json:"stage"`
}

func statusOf(p *process) statusInfo {
	status, stage := p.Status.Wire()
	return statusInfo{VerificationID: p.ID, Status: status, Stage: stage}
}

func (s *Sandbox) showStatus(w http.ResponseWriter, r *http.Request) {
	p, err := s.get(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, statusOf(p))
}

// decisionBody is the wire shape of accept, reject and pending.
type decisionBody struct {
	VerificationID   string          `json:"verificationId"`
	Type             string          `json:"type"`
	RejectionComment string          `json:"rejectionComment"`
	PersonalData     json.RawMessage `json:"personalData"`
}

const (
	maxComment     = 4000
	maxType        = 64
	maxCorrections = 64
)

// parseDecision validates a decision body for verdict ("" for pending).
func parseDecision(b decisionBody, verdict string) (string, decisionInput, error) {
	id := strings.TrimSpace(b.VerificationID)
	if id == "" {
		return "", decisionInput{}, fmt.Errorf("%w: verificationId is required", ErrInvalid)
	}
	in := decisionInput{Verdict: verdict, Type: b.Type}
	if len(b.Type) > maxType || !utf8.ValidString(b.Type) {
		return "", in, fmt.Errorf("%w: type is too long", ErrInvalid)
	}
	switch verdict {
	case VerdictRejected:
		if strings.TrimSpace(b.RejectionComment) == "" {
			return "", in, fmt.Errorf("%w: rejectionComment is required", ErrInvalid)
		}
		if len(b.RejectionComment) > maxComment || !utf8.ValidString(b.RejectionComment) {
			return "", in, fmt.Errorf("%w: rejectionComment is too long", ErrInvalid)
		}
		in.Comment = b.RejectionComment
	case VerdictAccepted:
		c, err := parseCorrections(b.PersonalData)
		if err != nil {
			return "", in, err
		}
		in.Corrections = c
	}
	return id, in, nil
}

// parseCorrections reads the agent's personalData corrections: an object
// whose values are kept as text (strings as is, other values as JSON).
func parseCorrections(raw json.RawMessage) (map[string]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: personalData must be an object", ErrInvalid)
	}
	if len(m) > maxCorrections {
		return nil, fmt.Errorf("%w: too many personalData fields", ErrInvalid)
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if k == "" || len(k) > 64 || len(v) > 1024 {
			return nil, fmt.Errorf("%w: personalData field too long", ErrInvalid)
		}
		var str string
		if err := json.Unmarshal(v, &str); err == nil {
			out[k] = str
		} else if string(v) != "null" {
			out[k] = string(v)
		}
	}
	return out, nil
}

func (s *Sandbox) decisionHandler(verdict string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body decisionBody
		if err := decodeJSON(w, r, &body); err != nil {
			s.fail(w, r, err)
			return
		}
		id, in, err := parseDecision(body, verdict)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		var p *process
		if verdict == "" {
			p, err = s.backToReview(r.Context(), id)
		} else {
			p, err = s.decide(r.Context(), id, in)
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.log.Info("decision applied", "verificationId", p.ID, "status", p.Status)
		writeJSON(w, http.StatusOK, statusOf(p))
	}
}

func (s *Sandbox) acceptProcess(w http.ResponseWriter, r *http.Request) {
	s.decisionHandler(VerdictAccepted)(w, r)
}

func (s *Sandbox) rejectProcess(w http.ResponseWriter, r *http.Request) {
	s.decisionHandler(VerdictRejected)(w, r)
}

func (s *Sandbox) pendProcess(w http.ResponseWriter, r *http.Request) {
	s.decisionHandler("")(w, r)
}

func (s *Sandbox) deleteProcess(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.remove(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("process deleted", "verificationId", id)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// evidenceProcess finds the process of an evidence request and checks that
// it has the evidence.
func (s *Sandbox) evidenceProcess(id, evidence string) (*process, error) {
	p, err := s.get(id)
	if err != nil {
		return nil, err
	}
	if !p.hasEvidence(evidence) {
		return nil, fmt.Errorf("%w: %s has no %s", ErrNotFound, id, evidence)
	}
	return p, nil
}
