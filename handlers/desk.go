package handlers

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

// registerDesk adds skip, escalate, the escalation's withdrawal, sending back to review
// and the desk settings; a is the admin group.
func (h *Handler) registerDesk(u, a *echo.Group) {
	u.POST("/processes/:id/skip", h.skipProcess)
	u.POST("/processes/:id/escalate", h.escalateProcess)
	a.POST("/processes/:id/deescalate", h.deescalateProcess)
	a.POST("/processes/:id/send-back", h.sendBackProcess)
	a.POST("/send-backs/:sid/retry", h.retrySendBack)
	a.POST("/settings/desk", h.saveDeskSettings)
}

// deskControl builds the process page's desk controls for the viewer.
func (h *Handler) deskControl(c echo.Context, p *store.Process, claimMine bool) views.DeskControl {
	a := auth.ActorFrom(c)
	base := processURL(p.ID)
	d := views.DeskControl{
		Escalated: p.Escalated(), EscalatedBy: p.EscalatedByName, EscalatedAt: p.EscalatedAt, EscalationNote: p.EscalationNote,
		QASampled: p.QASampled, EscalateMax: review.LimitEscalationNote.Max,
	}
	claim := "?claim=" + strconv.FormatInt(p.ClaimSeq, 10)
	if claimMine {
		d.SkipURL = base + "/skip" + claim
		if review.MayEscalate(a, p) {
			d.EscalateURL = base + "/escalate" + claim
		}
	}
	if review.IsAdmin(a) {
		if d.Escalated && p.Reviewable {
			d.DeescalateURL = "/admin" + base + "/deescalate"
		}
		d.SendBack = h.sendBackControl(c, p)
	}
	return d
}

// sendBackControl is "Send back to review" for an administrator: offered when the rule
// allows it now, else why not, and what became of the latest request.
func (h *Handler) sendBackControl(c echo.Context, p *store.Process) *views.SendBackControl {
	sc, err := h.DB.LoadSendBackCase(c.Request().Context(), p.ID)
	if err != nil {
		h.log.Warn("send-back control", "process_id", p.ID, "error", err)
		return nil
	}
	s := &views.SendBackControl{ReasonMax: review.LimitSendBackReason.Max}
	if sb := sc.Latest; sb != nil {
		s.State, s.StateLabel, s.StateTone = string(sb.State), sb.StateLabel(), sb.State.Tone()
		s.RequestedBy, s.RequestedAt, s.Reason, s.LastError = sb.RequestedByName, sb.RequestedAt, sb.Reason, sb.LastError
		if s.RequestedBy == "" {
			s.RequestedBy = i18n.M("QA sampling")
		}
		if review.SendBackRetryable(sb) {
			s.RetryURL = "/admin/send-backs/" + strconv.FormatInt(sb.ID, 10) + "/retry"
		}
	}
	if err := review.SendBackable(sc); err != nil {
		if p.Reviewable || !p.Final {
			return nil // in the workflow: nothing to send back, nothing to say
		}
		s.Blocked = review.ErrorOf(err).Message
	} else {
		s.URL = "/admin" + processURL(p.ID) + "/send-back"
	}
	return s
}

// deskRefusal shows the process page again after a refused desk action: with the
// message beside the field and the text kept (invalid input), or as the page's notice.
func (h *Handler) deskRefusal(c echo.Context, p *store.Process, err error, keep func(*views.ProcessPage, string)) error {
	e := review.ErrorOf(err)
	if e == nil || wantsFragment(c) {
		return err
	}
	ctx := c.Request().Context()
	p, gerr := h.DB.GetProcess(ctx, p.ID)
	if gerr != nil {
		return gerr
	}
	v, berr := h.buildProcessPage(c, p, false, true)
	if berr != nil {
		return berr
	}
	if e.Code == review.CodeInvalid && keep != nil {
		keep(&v, e.Message)
	} else {
		v.Notice = e.Message
	}
	return render(c, codeStatus[e.Code], views.ProcessScreen(h.processPageAt(c, p), v))
}

// skipProcess releases the case the page holds and keeps it out of the agent's "Next
// case" for a while, then goes back to the queue.
func (h *Handler) skipProcess(c echo.Context) error {
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	if err := h.Review.Skip(c.Request().Context(), auth.ActorFrom(c), p.ID, claimSeq(c.QueryParam("claim"))); err != nil {
		return h.deskRefusal(c, p, err, nil)
	}
	return hxRedirect(c, "/queue?done=skipped")
}

// escalateProcess passes the case to the administrators with the agent's note.
func (h *Handler) escalateProcess(c echo.Context) error {
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	note := c.FormValue("escalation_note")
	err = h.Review.Escalate(c.Request().Context(), auth.ActorFrom(c), p.ID, claimSeq(c.QueryParam("claim")), note)
	if err != nil {
		return h.deskRefusal(c, p, err, func(v *views.ProcessPage, msg string) {
			v.Desk.EscalateText, v.Desk.EscalateError = note, msg
		})
	}
	return hxRedirect(c, "/queue?done=escalated")
}

// deescalateProcess returns an escalated case to the queue (administrators).
func (h *Handler) deescalateProcess(c echo.Context) error {
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	if err := h.Review.Deescalate(c.Request().Context(), auth.ActorFrom(c), p.ID); err != nil {
		return h.deskRefusal(c, p, err, nil)
	}
	return hxRedirect(c, processURL(p.ID))
}

// sendBackProcess asks Mobbscan to put a finished process back into manual review
// (administrators); the request goes through the outbox.
func (h *Handler) sendBackProcess(c echo.Context) error {
	p, err := h.indexedProcess(c)
	if err != nil {
		return err
	}
	reason := c.FormValue("send_back_reason")
	if _, err := h.Review.SendBack(c.Request().Context(), auth.ActorFrom(c), p.ID, reason); err != nil {
		return h.deskRefusal(c, p, err, func(v *views.ProcessPage, msg string) {
			if v.Desk.SendBack != nil {
				v.Desk.SendBack.Text, v.Desk.SendBack.Error = reason, msg
			}
		})
	}
	return hxRedirect(c, processURL(p.ID)+"#"+views.IDSendBack)
}

// retrySendBack queues a failed or parked send-back again (administrators).
func (h *Handler) retrySendBack(c echo.Context) error {
	id, err := paramID(c, "sid")
	if err != nil {
		return err
	}
	sb, err := h.DB.GetSendBack(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if err := h.Review.RetrySendBack(c.Request().Context(), auth.ActorFrom(c), id); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/processes/"+url.PathEscape(sb.ProcessID)+"#"+views.IDSendBack)
}

// deskForm is the settings page's desk form showing d.
func deskForm(d review.DeskSettings) views.DeskSettingsForm {
	return views.DeskSettingsForm{SkipMinutes: strconv.Itoa(d.SkipMinutes), SamplePercent: strconv.Itoa(d.SamplePercent),
		MaxSkip: review.MaxSkipMinutes, Errors: views.FormErrors{}}
}

// saveDeskSettings stores the skip time and the QA sample; a refused value shows the
// settings page again with what was typed and a message beside the field (422).
func (h *Handler) saveDeskSettings(c echo.Context) error {
	skip, sample := c.FormValue(review.FieldSkipMinutes), c.FormValue(review.FieldSamplePercent)
	_, err := h.Review.SetDeskSettings(c.Request().Context(), auth.ActorFrom(c), skip, sample)
	if e := review.ErrorOf(err); e != nil && e.Code == review.CodeInvalid {
		p, perr := h.settingsPage(c)
		if perr != nil {
			return perr
		}
		p.Desk.SkipMinutes, p.Desk.SamplePercent = skip, sample
		for f, msg := range e.Fields {
			p.Desk.Errors[f] = msg
		}
		return render(c, http.StatusUnprocessableEntity, views.AdminSettingsScreen(h.page(c, "Settings", "settings"), p))
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/settings?done=settings-saved#"+views.IDDeskSettings)
}
