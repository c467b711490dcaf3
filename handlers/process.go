package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

// heartbeatSeconds is how often an open process page renews its claim.
const heartbeatSeconds = 60

// indexedProcess returns the process named by :id if the portal knows it; unknown or
// malformed ids are 404 and the denial is audited (Z2).
func (h *Handler) indexedProcess(c echo.Context) (*store.Process, error) {
	id := c.Param("id")
	if review.ValidID(id) {
		p, err := h.DB.GetProcess(c.Request().Context(), id)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	objectID := id
	if len(objectID) > 128 {
		objectID = objectID[:128]
	}
	_ = h.DB.Audit(c.Request().Context(), auth.ActorFrom(c), "access.denied", "process", objectID, store.OutcomeDenied, "unknown process: "+c.Request().Method+" "+c.Path())
	return nil, echo.ErrNotFound
}

func processURL(id string) string { return "/processes/" + url.PathEscape(id) }

// showProcess opens a process: it claims it for the agent when it awaits review,
// fetches its information from the gateway and records the view.
func (h *Handler) showProcess(c echo.Context) error {
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	a := auth.ActorFrom(c)
	if p.Reviewable {
		claimed, err := h.Review.Claim(ctx, a, p.ID, false)
		var ce *store.ClaimError
		switch {
		case err == nil:
			p = claimed
		case errors.As(err, &ce), errors.Is(err, store.ErrNotReviewable):
			// Shown on the page: someone else is on it, or it just left review.
		default:
			return err
		}
	}
	v, err := h.buildProcessPage(c, p, c.QueryParam("retry") != "")
	if err != nil {
		return err
	}
	if err := h.DB.Audit(ctx, a, "process.view", "process", p.ID, store.OutcomeSuccess, ""); err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ProcessScreen(h.page(c, "Process", "queue"), v))
}

// buildProcessPage assembles the process page: what the index knows, the gateway's
// information (or a banner when it does not answer), the decision and its delivery,
// and the decision forms when the agent holds the claim.
func (h *Handler) buildProcessPage(c echo.Context, p *store.Process, fresh bool) (views.ProcessPage, error) {
	ctx := c.Request().Context()
	v := h.processView(c, p)
	info, err := h.Review.Info(ctx, p.ID, fresh)
	switch {
	case err == nil:
		fillFromGateway(&v, info, h.DB.Now())
		if updated, gerr := h.DB.GetProcess(ctx, p.ID); gerr == nil {
			p = updated
			h.fillFromIndex(c, &v, p)
		}
	case errors.Is(err, review.ErrUnknownProcess):
		v.GatewayProblem = "Mobbscan no longer knows this process (it may have been deleted)."
		v.Status, v.StatusClass = views.StatusLabel("", "", true)
	case errors.Is(err, review.ErrGatewayDown):
		v.GatewayProblem = "Mobbscan is not answering; retrying."
		h.log.Warn("process info unavailable", "process_id", p.ID, "error", err)
	default:
		return v, err
	}
	d, err := h.DB.LiveDecision(ctx, p.ID)
	switch {
	case err == nil:
		dv := h.deliveryView(c, d)
		v.Delivery = &dv
		if d.State == store.StateSecondReview {
			v.SecondReview = &views.SecondReviewView{
				ConfirmURL: "/decisions/" + strconv.FormatInt(d.ID, 10) + "/confirm", OverturnURL: "/decisions/" + strconv.FormatInt(d.ID, 10) + "/overturn",
				Decision: dv, Allowed: d.DecidedBy != auth.UserFrom(c).ID,
			}
		}
	case !errors.Is(err, store.ErrNotFound):
		return v, err
	}
	if p.Reviewable && v.ClaimMine && !p.Decided {
		if v.Decide, err = h.decisionForm(c, p, info); err != nil {
			return v, err
		}
	}
	return v, nil
}

// processView builds the page from what the index knows; the gateway's data fills the rest.
func (h *Handler) processView(c echo.Context, p *store.Process) views.ProcessPage {
	base := processURL(p.ID)
	v := views.ProcessPage{
		ID: p.ID, URL: base + "?retry=1", HeartbeatURL: base + "/heartbeat", ReleaseURL: base + "/release",
		ClaimURL: base + "/claim", HeartbeatSecs: heartbeatSeconds, ZipURL: base + "/evidence.zip",
	}
	h.fillFromIndex(c, &v, p)
	for _, e := range []struct{ kind, label string }{{"document_front", "Document front"}, {"document_back", "Document back"}} {
		v.Documents = append(v.Documents, views.EvidenceItem{Kind: e.kind, Label: e.label, URL: base + "/evidence/" + e.kind})
	}
	for _, e := range []struct{ kind, label string }{{"face_document", "Portrait on the document"}, {"face_now", "Live selfie"}} {
		v.Faces = append(v.Faces, views.EvidenceItem{Kind: e.kind, Label: e.label, URL: base + "/evidence/" + e.kind})
	}
	v.Video = views.EvidenceItem{Kind: "video_liveness", Label: "Liveness video", URL: base + "/evidence/video_liveness"}
	return v
}

func (h *Handler) fillFromIndex(c echo.Context, v *views.ProcessPage, p *store.Process) {
	now := h.DB.Now()
	u := auth.UserFrom(c)
	v.Holder, v.CustomerRef, v.Country, v.DocType = p.HolderName, p.CustomerRef, views.CountryName(p.Country), views.DocTypeLabel(p.DocType)
	v.Created, v.Finished, v.Reviewable, v.OnboardingURL = p.CreatedAt, p.UpdatedAt, p.Reviewable, p.OnboardingURL
	v.Status, v.StatusClass = views.StatusLabel(p.Status, p.Stage, p.Gone)
	v.Waiting, v.Aging = h.aging(p.ReviewSince, now)
	v.ClaimMine, v.ClaimedBy, v.ClaimedSince, v.ClaimExpires = false, "", p.ClaimedAt, p.ClaimExpiresAt
	v.ReleaseURL = processURL(p.ID) + "/release?seq=" + strconv.FormatInt(p.ClaimSeq, 10)
	if p.ClaimActive(now) {
		v.ClaimMine = p.ClaimedBy == u.ID
		if !v.ClaimMine {
			v.ClaimedBy = p.ClaimedByName
		}
	}
	if len(v.Scores) == 0 {
		for _, s := range scoreViews(review.ScoreNames[:], []*float64{p.ScoreFacial, p.ScoreLiveness, p.ScoreDocument}) {
			if s.Known {
				v.Scores = append(v.Scores, s)
			}
		}
	}
}

// fillFromGateway adds the gateway's identity data, checks, scores and evidence list.
func fillFromGateway(v *views.ProcessPage, info *review.Details, now time.Time) {
	for _, f := range info.Personal {
		if f[0] == "mrz" {
			v.MRZ = f[1]
			continue
		}
		v.Identity = append(v.Identity, views.Fact{Label: views.PersonalLabel(f[0]), Value: views.PersonalValue(f[0], f[1], now),
			Mono: f[0] == "documentNumber" || f[0] == "personalNumber"})
	}
	var failed, passed, unchecked []views.Validation
	for _, r := range info.Validations {
		switch r[1] {
		case "NOT_VALID":
			failed = append(failed, views.Validation{Code: r[0], Label: views.ValidationLabel(r[0], true), Result: "failed"})
		case "VALID":
			passed = append(passed, views.Validation{Code: r[0], Label: views.ValidationLabel(r[0], false), Result: "passed"})
		default:
			unchecked = append(unchecked, views.Validation{Code: r[0], Label: views.ValidationLabel(r[0], false) + " (not checked)", Result: "not checked"})
		}
	}
	v.Validations = append(append(failed, passed...), unchecked...)
	scores := info.Scores
	names := make([]string, 0, len(scores))
	for n := range scores {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		return scoreRank(names[i]) < scoreRank(names[j]) || scoreRank(names[i]) == scoreRank(names[j]) && names[i] < names[j]
	})
	v.Scores = nil
	for _, n := range names {
		val := scores[n]
		s := scoreViews([]string{n}, []*float64{&val})
		v.Scores = append(v.Scores, s[0])
	}
	present := map[string]bool{}
	for _, k := range info.Evidence {
		present[k] = true
	}
	for i := range v.Documents {
		v.Documents[i].Present = present[v.Documents[i].Kind]
	}
	for i := range v.Faces {
		v.Faces[i].Present = present[v.Faces[i].Kind]
	}
	v.Video.Present = present[v.Video.Kind]
	if len(present) == 0 {
		v.ZipURL = ""
	}
	for _, f := range info.Decision {
		v.Decision = append(v.Decision, views.Fact{Label: f[0], Value: f[1]})
	}
}

func scoreRank(name string) int {
	for i, n := range review.ScoreNames {
		if n == name {
			return i
		}
	}
	return len(review.ScoreNames)
}

// claimProcess claims (or, with takeover=1, takes over) a process.
func (h *Handler) claimProcess(c echo.Context) error {
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	_, err = h.Review.Claim(c.Request().Context(), auth.ActorFrom(c), p.ID, c.FormValue("takeover") == "1")
	var ce *store.ClaimError
	switch {
	case errors.As(err, &ce):
		return echo.NewHTTPError(http.StatusConflict, "This process is being reviewed by "+ce.HolderName+". Use “Take over” to review it yourself.")
	case errors.Is(err, store.ErrNotReviewable):
		return echo.NewHTTPError(http.StatusConflict, "This process is not awaiting review any more.")
	case err != nil:
		return err
	}
	return hxRedirect(c, processURL(p.ID))
}

// heartbeatProcess renews the agent's claim while the page is open: 204, or 409 with
// the reason when the claim was lost.
func (h *Handler) heartbeatProcess(c echo.Context) error {
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	_, err = h.Review.Heartbeat(c.Request().Context(), auth.ActorFrom(c), p.ID)
	var ce *store.ClaimError
	switch {
	case errors.As(err, &ce):
		return echo.NewHTTPError(http.StatusConflict, ce.HolderName+" took over this process. Your review of it has ended.")
	case errors.Is(err, store.ErrNotReviewable):
		return echo.NewHTTPError(http.StatusConflict, "This process is not awaiting review any more.")
	case err != nil:
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// releaseProcess gives up the agent's claim (the page's "release" button, or the
// browser leaving the page).
func (h *Handler) releaseProcess(c echo.Context) error {
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	seq, _ := strconv.ParseInt(c.QueryParam("seq"), 10, 64)
	if err := h.Review.Release(c.Request().Context(), auth.ActorFrom(c), p.ID, seq); err != nil {
		return err
	}
	if isHTMX(c) || strings.Contains(c.Request().Header.Get("Content-Type"), "text/plain") || c.Request().Header.Get("Sec-Fetch-Mode") == "no-cors" {
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, "/queue")
}
