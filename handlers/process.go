package handlers

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

// keepaliveURL is where a page says "stay signed in" (and checks the session).
const keepaliveURL = "/session/keepalive"

// indexedProcess returns the process named by :id if the portal knows it; unknown or
// malformed ids are 404 and the denial is audited (Z2).
func (h *Handler) indexedProcess(c echo.Context) (*store.Process, error) {
	id := c.Param("id")
	if review.ValidID(id) {
		p, err := h.DB.GetProcess(c.Request().Context(), id)
		if review.ErrorCode(review.Translate(err)) != review.CodeNotFound {
			return p, err
		}
	}
	h.deny(c, "process", id, "unknown process")
	return nil, echo.ErrNotFound
}

// deny audits a refused request on an object (Z2).
func (h *Handler) deny(c echo.Context, objectType, objectID, why string) {
	if len(objectID) > 128 {
		objectID = objectID[:128]
	}
	_ = h.Review.Deny(c.Request().Context(), auth.ActorFrom(c), objectType, objectID, why+": "+c.Request().Method+" "+c.Path())
}

func processURL(id string) string { return "/processes/" + url.PathEscape(id) }

// claimedURL is where a claim made by a POST leads: the process page marked with the
// claim's number, so that the page it renders holds that claim. Any other visit to the
// page of a process one already holds claims it again (a renewal with a new number)
// through the page's automatic POST: a reload or a second tab then never shares a claim
// number with the page it replaces, whose release on leaving would end the new page's
// claim (D6). app.js takes the mark off the address bar, so a reload claims again.
func claimedURL(p *store.Process, retry bool) string {
	u := processURL(p.ID) + "?claimed=" + strconv.FormatInt(p.ClaimSeq, 10)
	if retry {
		u += "&retry=1"
	}
	return u
}

// claimSeq reads the claim a page was rendered with (0 when absent or malformed).
func claimSeq(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// sameOriginNavigation reports a request the agent made from the portal itself or by
// typing the address; a navigation from another site (Sec-Fetch-Site cross-site or
// same-site) must not claim anything in the agent's name (D6).
func sameOriginNavigation(c echo.Context) bool {
	switch c.Request().Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

// showProcess shows a process. One the agent can claim but does not hold yet shows no
// evidence: the page claims it with a same-origin POST first (D6), which app.js sends
// at once unless the agent came from another site. Otherwise the page fetches the
// gateway's information and records the view.
func (h *Handler) showProcess(c echo.Context) error {
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	if h.awaitsClaim(c, p) {
		v := h.processView(c, p)
		v.Opening, v.AutoClaim = true, sameOriginNavigation(c)
		if c.QueryParam("retry") != "" {
			v.ClaimURL += "?retry=1"
		}
		return render(c, http.StatusOK, views.ProcessScreen(h.page(c, "Process", "queue"), v))
	}
	v, err := h.buildProcessPage(c, p, c.QueryParam("retry") != "", true)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ProcessScreen(h.page(c, "Process", "queue"), v))
}

// awaitsClaim: the agent could claim the process, nobody else holds it, and this visit
// is not the one the agent's claim led to (see claimedURL).
func (h *Handler) awaitsClaim(c echo.Context, p *store.Process) bool {
	now, me := h.DB.Now(), auth.UserFrom(c).ID
	if !review.Claimable(p) || p.ClaimActive(now) && p.ClaimedBy != me {
		return false
	}
	if p.AwaitingSecond && review.MaySecondReview(auth.ActorFrom(c), h.liveDecision(c, p)) != nil {
		return false // the decider looks at their own decision: nothing to claim
	}
	if p.ClaimedBy == me && p.ClaimActive(now) {
		return c.QueryParam("claimed") != strconv.FormatInt(p.ClaimSeq, 10)
	}
	return true
}

// liveDecision returns the process's live decision, or nil.
func (h *Handler) liveDecision(c echo.Context, p *store.Process) *store.Decision {
	d, err := h.DB.LiveDecision(c.Request().Context(), p.ID)
	if err != nil {
		return nil
	}
	return d
}

// buildProcessPage assembles the process page: what the index knows, the gateway's
// information (or a banner when it does not answer), the decision and its delivery,
// and the decision forms when the agent holds the claim. view audits it as a view.
func (h *Handler) buildProcessPage(c echo.Context, p *store.Process, fresh, view bool) (views.ProcessPage, error) {
	ctx, a := c.Request().Context(), auth.ActorFrom(c)
	v := h.processView(c, p)
	var info *review.Details
	var err error
	if view {
		info, err = h.Review.View(ctx, a, p.ID, fresh)
	} else {
		info, err = h.Review.Info(ctx, a, p.ID, fresh)
	}
	switch review.ErrorCode(err) {
	case "":
		if err != nil {
			return v, err
		}
		fillFromGateway(ctx, &v, info, h.DB.Now())
		if updated, gerr := h.DB.GetProcess(ctx, p.ID); gerr == nil {
			p = updated
			h.fillFromIndex(c, &v, p)
		}
	case review.CodeNotFound:
		v.GatewayProblem = i18n.M("Mobbscan no longer knows this process (it may have been deleted).")
		v.Status, v.StatusClass = views.StatusLabel("", "", true)
	default:
		v.GatewayProblem = i18n.M("Mobbscan is not answering; retrying.")
		h.log.Warn("process info unavailable", "process_id", p.ID, "error", err)
	}
	d := h.liveDecision(c, p)
	if d != nil {
		dv := h.deliveryView(c, d)
		v.Delivery = &dv
		if d.State == store.StateSecondReview {
			v.SecondReview = h.secondReviewView(c, p, d, dv)
		}
		decidedStatus(&v, d)
	}
	if p.Reviewable && !p.Decided && v.ClaimMine {
		if v.Decide, err = h.decisionForm(c, p, info); err != nil {
			return v, err
		}
	}
	// Case timeline and notes (issue 11).
	tv, err := h.timelineView(c, p, store.TimelineCursor{}, views.NoteForm{})
	if err != nil {
		return v, err
	}
	v.Timeline = &tv
	return v, nil
}

// processView builds the page from what the index knows; the gateway's data fills the rest.
func (h *Handler) processView(c echo.Context, p *store.Process) views.ProcessPage {
	base := processURL(p.ID)
	v := views.ProcessPage{
		ID: p.ID, URL: base + "?retry=1", ClaimURL: base + "/claim", HeartbeatSecs: int(h.Review.Config().HeartbeatEvery() / time.Second), ZipURL: base + "/evidence.zip",
		IdleSeconds: int(h.Sessions.Config().Idle / time.Second), KeepaliveURL: keepaliveURL, ScoreHint: review.ScoreThresholdsText,
		ScoreDoubtfulFrom: int(math.Round(review.ScoreDoubtfulFrom * 100)), ScoreGoodFrom: int(math.Round(review.ScoreGoodFrom * 100)),
	}
	h.fillFromIndex(c, &v, p)
	item := func(k store.EvidenceKind) views.EvidenceItem {
		return views.EvidenceItem{Kind: string(k), Label: k.Label(), URL: base + "/evidence/" + string(k)}
	}
	v.Documents = []views.EvidenceItem{item(store.EvidenceDocumentFront), item(store.EvidenceDocumentBack)}
	v.Faces = []views.EvidenceItem{item(store.EvidenceFaceDocument), item(store.EvidenceFaceNow)}
	v.Video = item(store.EvidenceVideo)
	v.Erase = h.eraseControl(c, p)
	v.Desk = h.deskControl(c, p, v.ClaimMine)
	return v
}

func (h *Handler) fillFromIndex(c echo.Context, v *views.ProcessPage, p *store.Process) {
	now := h.DB.Now()
	u := auth.UserFrom(c)
	v.Holder, v.CustomerRef, v.Country, v.DocType = p.HolderName, p.CustomerRef, views.CountryName(p.Country), views.DocTypeLabel(p.DocType)
	v.Created, v.Finished, v.Reviewable, v.OnboardingURL = p.CreatedAt, p.UpdatedAt, p.Reviewable, p.OnboardingURL
	v.Purged = !p.PurgedAt.IsZero()
	v.DocHasBack = p.DocType != "" && p.DocType != "Passport"
	v.Status, v.StatusClass = views.StatusLabel(p.Status, p.Stage, p.Gone)
	v.Waiting, v.Aging = h.aging(p.ReviewSince, now)
	v.ClaimMine, v.ClaimedBy, v.ClaimedSince, v.ClaimExpires, v.ClaimSeq = false, "", p.ClaimedAt, p.ClaimExpiresAt, p.ClaimSeq
	seq := "?seq=" + strconv.FormatInt(p.ClaimSeq, 10)
	v.HeartbeatURL, v.ReleaseURL = processURL(p.ID)+"/heartbeat"+seq, processURL(p.ID)+"/release"+seq
	if p.ClaimActive(now) {
		v.ClaimMine = p.ClaimedBy == u.ID
		if !v.ClaimMine {
			v.ClaimedBy = p.ClaimedByName
		}
	}
	if len(v.Scores) == 0 {
		for _, s := range scoreViews(store.ScoreNames[:], []*float64{p.ScoreFacial, p.ScoreLiveness, p.ScoreDocument}) {
			if s.Known {
				v.Scores = append(v.Scores, s)
			}
		}
	}
}

// backFields are the identity fields a two-sided document prints on its back.
var backFields = map[string]bool{"address": true, "city": true, "postCode": true}

// fillFromGateway adds the gateway's identity data, checks, scores and evidence list.
// The identity data is grouped by the image it was read from, shown beside it.
func fillFromGateway(ctx context.Context, v *views.ProcessPage, info *review.Details, now time.Time) {
	front := views.DataGroup{Title: i18n.M("From the document front"), Source: string(store.EvidenceDocumentFront)}
	back := views.DataGroup{Title: i18n.M("From the document back"), Source: string(store.EvidenceDocumentBack)}
	for _, f := range info.Personal {
		if f[0] == "mrz" {
			v.MRZ = f[1]
			continue
		}
		mono := f[0] == "documentNumber" || f[0] == "personalNumber"
		value := views.PersonalValue(ctx, f[0], f[1], now)
		v.Identity = append(v.Identity, views.Fact{Label: views.PersonalLabel(f[0]), Value: value, Mono: mono})
		field := views.DataField{Key: f[0], Label: views.PersonalLabel(f[0]), Value: value, Mono: mono}
		if v.DocHasBack && backFields[f[0]] {
			back.Fields = append(back.Fields, field)
		} else {
			front.Fields = append(front.Fields, field)
		}
	}
	v.Data = nil
	for _, g := range []views.DataGroup{front, back} {
		if len(g.Fields) > 0 {
			v.Data = append(v.Data, g)
		}
	}
	if v.MRZ != "" {
		// A passport's machine-readable zone is on its data page; a card's on its back.
		g := views.DataGroup{Title: i18n.M("From the MRZ (document back)"), Source: string(store.EvidenceDocumentBack), MRZ: v.MRZ}
		if !v.DocHasBack {
			g.Title, g.Source = i18n.M("From the MRZ (document front)"), string(store.EvidenceDocumentFront)
		}
		v.Data = append(v.Data, g)
	}
	var failed, passed, unchecked []views.Validation
	for _, r := range info.Validations {
		switch r[1] {
		case "NOT_VALID":
			failed = append(failed, views.Validation{Code: r[0], Label: views.ValidationLabel(r[0], true), Result: i18n.M("failed")})
		case "VALID":
			passed = append(passed, views.Validation{Code: r[0], Label: views.ValidationLabel(r[0], false), Result: i18n.M("passed")})
		default:
			unchecked = append(unchecked, views.Validation{Code: r[0], Label: fmt.Sprintf(i18n.M("%s (not checked)"), views.ValidationLabel(r[0], false)),
				Result: i18n.M("not checked")})
		}
	}
	v.Validations = append(append(failed, passed...), unchecked...)
	names := make([]store.ScoreName, 0, len(info.Scores))
	for n := range info.Scores {
		names = append(names, store.ScoreName(n))
	}
	sort.Slice(names, func(i, j int) bool {
		return scoreRank(names[i]) < scoreRank(names[j]) || scoreRank(names[i]) == scoreRank(names[j]) && names[i] < names[j]
	})
	v.Scores = nil
	for _, n := range names {
		val := info.Scores[string(n)]
		v.Scores = append(v.Scores, scoreViews([]store.ScoreName{n}, []*float64{&val})[0])
	}
	present := map[string]bool{}
	for _, k := range info.Evidence {
		present[string(k)] = true
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

// decidedStatus makes the header's status agree with the portal's decision while
// Mobbscan does not have it yet: "Decided: Rejected", and where its delivery stands,
// instead of "Awaiting review" beside a recorded decision.
func decidedStatus(v *views.ProcessPage, d *store.Decision) {
	if v.StatusClass != "review" || d.State == store.StateDelivered {
		return
	}
	v.Status = fmt.Sprintf(i18n.M("Decided: %s"), d.Verdict.Label())
	v.StatusClass = "decided-" + string(d.Verdict)
	v.StatusNote = d.StateLabel()
	if d.State == store.StateSecondReview {
		v.StatusNote = i18n.M("waiting for a second review; nothing is sent to Mobbscan yet")
	}
}

func scoreRank(name store.ScoreName) int {
	for i, n := range store.ScoreNames {
		if n == name {
			return i
		}
	}
	return len(store.ScoreNames)
}

// claimProcess claims (or, with takeover=1, takes over) a process, then shows it. A
// refused claim shows the page as it is, with why (409).
func (h *Handler) claimProcess(c echo.Context) error {
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	claimed, err := h.Review.Claim(c.Request().Context(), auth.ActorFrom(c), p.ID, c.FormValue("takeover") == "1")
	if e := review.ErrorOf(err); e != nil && (e.Code == review.CodeConflict || e.Code == review.CodeForbidden) && !isHTMX(c) {
		if p, err = h.DB.GetProcess(c.Request().Context(), p.ID); err != nil {
			return err
		}
		v := h.processView(c, p)
		if h.awaitsClaim(c, p) {
			v.Opening = true
		} else if v, err = h.buildProcessPage(c, p, false, true); err != nil {
			return err
		}
		v.Notice = e.Message
		return render(c, codeStatus[e.Code], views.ProcessScreen(h.processPageAt(c, p), v))
	}
	if err != nil {
		return err
	}
	return hxRedirect(c, claimedURL(claimed, c.QueryParam("retry") != ""))
}

// heartbeatProcess renews the claim the page holds: 204, or 409 with the reason when
// the claim was lost (the page then locks its decision panel).
func (h *Handler) heartbeatProcess(c echo.Context) error {
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	if _, err := h.Review.Heartbeat(c.Request().Context(), auth.ActorFrom(c), p.ID, claimSeq(c.QueryParam("seq"))); err != nil {
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
	if err := h.Review.Release(c.Request().Context(), auth.ActorFrom(c), p.ID, claimSeq(c.QueryParam("seq"))); err != nil {
		return err
	}
	if isHTMX(c) || strings.HasPrefix(c.Request().Header.Get("Content-Type"), "text/plain") || c.Request().Header.Get("Sec-Fetch-Mode") == "no-cors" {
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, "/queue")
}

// keepSessionAlive answers 204 to a signed-in page ("Stay signed in", and the check
// before a decision is sent); being a request that is not a poll, it counts as activity.
func (h *Handler) keepSessionAlive(c echo.Context) error {
	return c.NoContent(http.StatusNoContent)
}
