package handlers

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

// The case timeline and internal notes (issue 11).

// timelinePageSize is how many of the newest events the timeline shows; earlier ones are
// a link away.
const timelinePageSize = 200

func timelineURL(id string) string { return processURL(id) + "/timeline" }

// showTimeline answers the timeline fragment for htmx (earlier events, the newest again,
// the form turned into a correction of a note), or the timeline on a page of its own.
func (h *Handler) showTimeline(c echo.Context) error {
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	var form views.NoteForm
	if id, err := strconv.ParseInt(c.QueryParam("correct"), 10, 64); err == nil && id > 0 {
		if n, err := h.DB.GetNote(c.Request().Context(), id); err == nil && n.ProcessID == p.ID {
			form.Corrects = id // only a note of this process can be corrected here
		}
	}
	v, err := h.timelineView(c, p, store.ParseTimelineCursor(c.QueryParam("before")), form)
	if err != nil {
		return err
	}
	if wantsFragment(c) {
		return render(c, http.StatusOK, views.Timeline(v))
	}
	return render(c, http.StatusOK, views.TimelineScreen(h.page(c, "Timeline", "queue"), v))
}

// addNote posts an internal note, or the correction of one, on a process. htmx gets the
// timeline back with the note in it; a refusal comes back beside the field with the text
// kept (4xx, which app.js swaps for this form). Without JavaScript: 303 to the process
// page's timeline, or the timeline page with the refusal.
func (h *Handler) addNote(c echo.Context) error {
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	body := c.FormValue("note")
	var corrects int64
	if s := c.FormValue("corrects"); s != "" {
		if corrects, err = strconv.ParseInt(s, 10, 64); err != nil || corrects <= 0 {
			corrects = -1 // refused by review as a note of another process
		}
	}
	n, err := h.Review.AddNote(c.Request().Context(), auth.ActorFrom(c), p.ID, body, corrects)
	if e := review.ErrorOf(err); e != nil {
		v, verr := h.timelineView(c, p, store.TimelineCursor{}, views.NoteForm{Body: body, Corrects: max(corrects, 0), Error: e.Message})
		if verr != nil {
			return verr
		}
		if wantsFragment(c) {
			return render(c, codeStatus[e.Code], views.Timeline(v))
		}
		return render(c, codeStatus[e.Code], views.TimelineScreen(h.page(c, "Timeline", "queue"), v))
	}
	if err != nil {
		return err
	}
	h.log.Info("note added", "note_id", n.ID, "process_id", p.ID)
	if wantsFragment(c) {
		v, err := h.timelineView(c, p, store.TimelineCursor{}, views.NoteForm{})
		if err != nil {
			return err
		}
		return render(c, http.StatusOK, views.Timeline(v))
	}
	return c.Redirect(http.StatusSeeOther, processURL(p.ID)+"#"+views.IDTimeline)
}

// timelineView builds the page of p's timeline that ends before the cursor (the newest
// for a zero cursor) and the note form: closed, with why, when the agent may not add one.
func (h *Handler) timelineView(c echo.Context, p *store.Process, before store.TimelineCursor, form views.NoteForm) (views.TimelineView, error) {
	t, err := h.DB.Timeline(c.Request().Context(), p.ID, before, timelinePageSize)
	if err != nil {
		return views.TimelineView{}, err
	}
	v := views.TimelineView{ProcessURL: processURL(p.ID), LatestURL: timelineURL(p.ID), Older: before != store.TimelineCursor{}}
	if t.Older != nil {
		v.OlderURL = timelineURL(p.ID) + "?before=" + t.Older.String()
	}
	correct := ""
	if e := review.ErrorOf(review.MayAddNote(auth.ActorFrom(c), p)); e != nil {
		form = views.NoteForm{Closed: e.Message}
	} else {
		correct = timelineURL(p.ID) + "?correct="
	}
	for _, e := range t.Events {
		v.Entries = append(v.Entries, timelineEntry(e, correct))
	}
	form.Action, form.MaxLength = processURL(p.ID)+"/notes", review.LimitCaseNote.Max
	if form.Corrects != 0 {
		form.CancelURL = timelineURL(p.ID)
	}
	v.Form = form
	return v, nil
}

// timelineEntry puts an event in words: who, what, and the details that matter (which
// evidence was seen, a rejection's reason, a delivery's outcome, a note's text).
// correct, when not empty, is the URL that turns the form into a correction, without
// the note id.
func timelineEntry(e store.TimelineEvent, correct string) views.TimelineEntry {
	v := views.TimelineEntry{At: e.At, Kind: string(e.Action), What: e.Action.Label(), Detail: e.Detail, Actor: e.ActorName}
	if v.Actor == "" {
		v.Actor = e.ActorEmail
	}
	if e.ActorID == 0 {
		v.Actor = i18n.M("System")
	} else if e.ActorName != "" {
		v.ActorEmail = e.ActorEmail
	}
	switch e.Outcome {
	case store.OutcomeFailure:
		v.Outcome = i18n.M("failed")
	case store.OutcomeDenied:
		v.Outcome = i18n.M("refused")
	}
	switch {
	case e.Source == store.FromProcessEvents:
		v.Kind, v.What, v.Actor, v.Detail = string(e.Event), e.Event.Label(), i18n.M("Mobbscan"), ""
		status, _ := views.StatusLabel(e.Status, e.Stage, false)
		switch e.Event {
		case store.EventNotified:
			if e.Status != "" {
				v.Detail = fmt.Sprintf(i18n.M("Reported status %s"), e.Status)
			}
		case store.EventIndexed:
			v.Actor, v.Detail = i18n.M("System"), fmt.Sprintf(i18n.M("%s · %s"), sourceLabel(e.Detail), status)
		case store.EventStatus:
			v.Detail = status
		}
	case e.Source == store.FromNotes:
		n := e.Note
		v.NoteID, v.Corrects, v.NotePurged, v.Detail = n.ID, n.Corrects, n.Purged(), ""
		if !n.Purged() {
			v.NoteLines = strings.Split(n.Body, "\n")
		}
		if n.Corrects != 0 {
			v.What = fmt.Sprintf(i18n.M("Corrected note %d"), n.Corrects)
		}
		if correct != "" {
			v.CorrectURL = correct + strconv.FormatInt(n.ID, 10)
		}
	case e.Action == store.ActionEvidenceView:
		// Who saw this face: the evidence kind in the sentence.
		v.What, v.Detail = viewedLabel(e.Evidence), ""
		if e.OutsideClaim {
			v.Detail = i18n.M("Outside their own claim")
		}
	case e.Action == store.ActionDecisionAccept || e.Action == store.ActionDecisionReject:
		var parts []string
		if e.ReasonLabel != "" {
			parts = append(parts, fmt.Sprintf(i18n.M("Reason: %s"), e.ReasonLabel))
		}
		if strings.Contains(e.Detail, "awaits second review") {
			parts = append(parts, i18n.M("awaits a second review"))
		}
		v.Detail = strings.Join(parts, " · ")
	case e.Action == store.ActionDelivery:
		v.What, v.Outcome = i18n.M("Delivered to Mobbscan"), ""
		if e.Outcome != store.OutcomeSuccess {
			v.What = i18n.M("Delivery to Mobbscan did not succeed")
		}
	case e.Action == store.ActionProcessView:
		v.Detail = ""
	}
	return v
}

// sourceLabel says how a process entered the index.
func sourceLabel(source string) string {
	switch source {
	case store.SourceWebhook:
		return i18n.M("From a Mobbscan notification")
	case store.SourceCreated:
		return i18n.M("Created in the portal")
	case store.SourceTracked:
		return i18n.M("Tracked by its id")
	}
	return source
}

// viewedLabel says which evidence someone viewed, as a whole sentence the catalogue
// translates.
func viewedLabel(k store.EvidenceKind) string {
	switch k {
	case store.EvidenceDocumentFront:
		return i18n.M("Viewed the document front")
	case store.EvidenceDocumentBack:
		return i18n.M("Viewed the document back")
	case store.EvidenceFaceDocument:
		return i18n.M("Viewed the portrait on the document")
	case store.EvidenceFaceNow:
		return i18n.M("Viewed the live selfie")
	case store.EvidenceVideo:
		return i18n.M("Viewed the liveness video")
	case store.EvidenceZIP:
		return i18n.M("Downloaded all the evidence (ZIP)")
	}
	return "Viewed the " + lowerFirst(k.Label())
}

// lowerFirst lowers the first letter: "Live selfie" → "live selfie".
func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
