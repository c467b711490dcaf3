package sandbox

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strings"
)

// The end-user side: the page behind onboardingUrl, where a person plays the
// customer and finishes the capture with a chosen outcome, and a read-only
// console listing the processes (control API only).

var pages = template.Must(template.New("layout").Parse(`
{{define "top"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Mobbscan sandbox</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#1b1d24;background:#f6f7f9}
header{border-bottom:3px solid #2a6fb0;margin-bottom:1.5rem}
h1{font-size:1.4rem;margin:.2rem 0}
.note{color:#5a5f6e;font-size:.9rem}
fieldset{border:1px solid #c9ced8;border-radius:.4rem;margin:1rem 0;background:#fff}
label{display:block;padding:.15rem 0}
button{font:inherit;padding:.5rem 1.2rem;border:0;border-radius:.3rem;background:#2a6fb0;color:#fff;cursor:pointer}
table{border-collapse:collapse;width:100%;font-size:.85rem;background:#fff}
td,th{border-bottom:1px solid #e1e4ea;padding:.3rem .4rem;text-align:left}
code{font-size:.85rem}
</style></head><body>
<header><p class="note">Mobbscan sandbox · simulated gateway, synthetic data only</p><h1>{{.Title}}</h1></header>
{{end}}
{{define "bottom"}}</body></html>{{end}}

{{define "onboarding"}}{{template "top" .}}
<p>Process <code>{{.ID}}</code> · {{.CountryID}} · {{.DocType}}</p>
{{if .Open}}
<p>Play the customer: pretend to capture the document and the video selfie, then choose how the
automatic checks should turn out.</p>
<form method="post">
<fieldset><legend>Outcome</legend>
<label><input type="radio" name="outcome" value="clean" checked> Clean: every validation passes</label>
<label><input type="radio" name="outcome" value="failed"> With the failed validations ticked below</label>
</fieldset>
<fieldset><legend>Failed validations</legend>
{{range .Validations}}<label><input type="checkbox" name="failed" value="{{.}}"> {{.}}</label>
{{end}}</fieldset>
<button type="submit">Finish onboarding</button>
</form>
{{else}}
<p>{{.Message}}</p>
{{end}}
{{template "bottom" .}}{{end}}

{{define "console"}}{{template "top" .}}
<p class="note">{{len .Processes}} processes. The control API is documented in the package; this page is read-only.</p>
<table><thead><tr><th>Created</th><th>Id</th><th>Doc</th><th>Status</th><th>Stage</th><th>Verdict</th></tr></thead><tbody>
{{range .Processes}}<tr><td>{{.Created.Format "2006-01-02 15:04"}}</td>
<td>{{if or (eq .Stage "CREATED") (eq .Stage "IN_PROGRESS")}}<a href="/onboarding/{{.OnboardingToken}}"><code>{{.ID}}</code></a>{{else}}<code>{{.ID}}</code>{{end}}</td>
<td>{{.CountryID}} {{.DocType}}</td><td>{{.Status}}</td><td>{{.Stage}}</td><td>{{.Verdict}}</td></tr>
{{end}}</tbody></table>
{{template "bottom" .}}{{end}}
`))

type onboardingPage struct {
	Title, ID, CountryID, DocType, Message string
	Open                                   bool
	Validations                            []string
}

// render executes a template into a buffer first so that a failure is a
// clean 500.
func (s *Sandbox) render(w http.ResponseWriter, r *http.Request, code int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors *")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = buf.WriteTo(w)
}

func pageFor(p *process) onboardingPage {
	pg := onboardingPage{Title: "Identity verification", ID: p.ID, CountryID: p.CountryID, DocType: p.DocType}
	switch p.Status {
	case StatusCreated, StatusInProgress:
		pg.Open = true
		for _, v := range Validations {
			if validationApplies(p.DocType, v) {
				pg.Validations = append(pg.Validations, v)
			}
		}
	case StatusExpired:
		pg.Message = "This onboarding link has expired."
	default:
		pg.Message = "This onboarding is finished; the process is now " + strings.ToLower(string(p.Status)) + "."
	}
	return pg
}

// showOnboarding serves the onboarding page; opening it moves a CREATED
// process to IN_PROGRESS.
func (s *Sandbox) showOnboarding(w http.ResponseWriter, r *http.Request) {
	p, err := s.byOnboardingToken(r.PathValue("token"))
	if err != nil {
		s.render(w, r, http.StatusNotFound, "onboarding", onboardingPage{Title: "Unknown onboarding link", Message: "No onboarding process has this link."})
		return
	}
	if p, err = s.open(r.Context(), p.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	code := http.StatusOK
	if p.Status == StatusExpired {
		code = http.StatusGone
	}
	s.render(w, r, code, "onboarding", pageFor(p))
}

// finishOnboarding completes the process with the outcome chosen on the
// page, then sends the browser to redirectUrl when there is one.
func (s *Sandbox) finishOnboarding(w http.ResponseWriter, r *http.Request) {
	p, err := s.byOnboardingToken(r.PathValue("token"))
	if err != nil {
		s.render(w, r, http.StatusNotFound, "onboarding", onboardingPage{Title: "Unknown onboarding link", Message: "No onboarding process has this link."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "malformed form")
		return
	}
	var failed []string
	switch r.PostForm.Get("outcome") {
	case "clean", "":
	case "failed":
		failed = slices.Compact(slices.Sorted(slices.Values(r.PostForm["failed"])))
	default:
		writeError(w, http.StatusBadRequest, "outcome must be clean or failed")
		return
	}
	p, err = s.complete(r.Context(), p.ID, failed)
	var ce *conflictError
	switch {
	case errors.As(err, &ce):
		cur, gerr := s.byOnboardingToken(r.PathValue("token"))
		if gerr != nil {
			s.fail(w, r, gerr)
			return
		}
		s.render(w, r, http.StatusConflict, "onboarding", pageFor(cur))
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	s.log.Info("onboarding finished by its user", "verificationId", p.ID, "failedValidations", len(failed))
	if p.RedirectURL != "" {
		http.Redirect(w, r, p.RedirectURL, http.StatusSeeOther)
		return
	}
	pg := pageFor(p)
	pg.Title = "Thank you"
	pg.Message = "Your onboarding is complete. An agent will review it."
	s.render(w, r, http.StatusOK, "onboarding", pg)
}

func (s *Sandbox) showConsole(w http.ResponseWriter, r *http.Request) {
	procs := s.List()
	slices.Reverse(procs)
	s.render(w, r, http.StatusOK, "console", struct {
		Title     string
		Processes []ProcessSnapshot
	}{"Processes", procs})
}
