package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

// auditObjectTypes are the kinds of object audit events name, with their names for
// people (English; the view translates them).
var auditObjectTypes = [][2]string{
	{"process", i18n.M("Process")}, {"user", i18n.M("Account")}, {"reason", i18n.M("Reason")},
	{"setting", i18n.M("Setting")}, {"audit", i18n.M("Audit log")},
}

// auditObjectKind names an object type for people; a type not in the list shows as it is.
func auditObjectKind(objectType string) string {
	for _, t := range auditObjectTypes {
		if t[0] == objectType {
			return t[1]
		}
	}
	return objectType
}

// auditActions are the audit actions a filter offers: code and label (store.Action.Label,
// English; the view translates it).
func auditActions() [][2]string {
	actions := make([][2]string, 0, len(store.Actions))
	for _, a := range store.Actions {
		actions = append(actions, [2]string{string(a), a.Label()})
	}
	return actions
}

var (
	auditActionRE = regexp.MustCompile(`^[a-z_]+(\.[a-z_]+)*$`)
	auditTypeRE   = regexp.MustCompile(`^[a-z_]{1,32}$`)
)

const auditPageSize = 100

// auditQuery is the audit page's state as it lives in the URL.
type auditQuery struct {
	Action, Type, ObjectID string
	Before                 int64
}

// parseAuditQuery reads the filters; a malformed one is a 400.
func parseAuditQuery(c echo.Context) (auditQuery, error) {
	v := c.QueryParams()
	q := auditQuery{Action: strings.TrimSpace(v.Get("action")), Type: strings.TrimSpace(v.Get("type")), ObjectID: strings.TrimSpace(v.Get("id"))}
	if q.Action != "" && (len(q.Action) > 64 || !auditActionRE.MatchString(q.Action)) {
		return q, echo.NewHTTPError(http.StatusBadRequest, i18n.M("Choose an action from the list."))
	}
	if q.Type != "" && !auditTypeRE.MatchString(q.Type) {
		return q, echo.NewHTTPError(http.StatusBadRequest, i18n.M("Choose a kind of object from the list."))
	}
	if utf8.RuneCountInString(q.ObjectID) > 128 || !utf8.ValidString(q.ObjectID) {
		return q, echo.NewHTTPError(http.StatusBadRequest, i18n.M("The object id is too long (128 characters at most)."))
	}
	if b := v.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return q, echo.NewHTTPError(http.StatusBadRequest, i18n.M("That page link is broken; start from the newest events."))
		}
		q.Before = n
	}
	return q, nil
}

// url is the audit page with these filters, before the event id given (0: the newest).
func (q auditQuery) url(before int64) string {
	v := url.Values{}
	if q.Action != "" {
		v.Set("action", q.Action)
	}
	if q.Type != "" {
		v.Set("type", q.Type)
	}
	if q.ObjectID != "" {
		v.Set("id", q.ObjectID)
	}
	if before > 0 {
		v.Set("before", strconv.FormatInt(before, 10))
	}
	if len(v) == 0 {
		return "/admin/audit"
	}
	return "/admin/audit?" + v.Encode()
}

func (q auditQuery) filtered() bool { return q.Action != "" || q.Type != "" || q.ObjectID != "" }

// auditOptions lists the choices of a filter, with the current value selected; a
// value not in the list (a link from elsewhere) is offered too, so the page says what
// it shows.
func auditOptions(values [][2]string, current string) []views.Option {
	out := make([]views.Option, 0, len(values)+1)
	found := false
	for _, v := range values {
		sel := v[0] == current
		found = found || sel
		out = append(out, views.Option{Value: v[0], Label: v[1], Selected: sel})
	}
	if current != "" && !found {
		out = append(out, views.Option{Value: current, Label: current, Selected: true})
	}
	return out
}

func adminAuditRow(e store.AuditEvent) views.AdminAuditRow {
	r := views.AdminAuditRow{ID: e.ID, At: e.At, Actor: e.Actor, IP: e.IP, RequestID: e.RequestID, Action: e.Action,
		ActionLabel: store.Action(e.Action).Label(), Outcome: e.Outcome, Detail: e.Detail,
		ObjectKind: auditObjectKind(e.ObjectType), ObjectID: e.ObjectID}
	if e.ObjectType != "" && e.ObjectID != "" {
		r.ObjectURL = auditQuery{Type: e.ObjectType, ObjectID: e.ObjectID}.url(0)
	}
	return r
}

// auditPage reads one page of events for q.
func (h *Handler) auditPage(c echo.Context, q auditQuery) (views.AdminAuditPage, error) {
	events, err := h.DB.ListAudit(c.Request().Context(), store.AuditFilter{
		Action: q.Action, ObjectType: q.Type, ObjectID: q.ObjectID, BeforeID: q.Before, Limit: auditPageSize + 1,
	})
	if err != nil {
		return views.AdminAuditPage{}, err
	}
	p := views.AdminAuditPage{
		Actions: auditOptions(auditActions(), q.Action), ObjectTypes: auditOptions(auditObjectTypes, q.Type),
		ObjectID: q.ObjectID, Filtered: q.filtered(),
	}
	if len(events) > auditPageSize {
		events = events[:auditPageSize]
		p.NextURL = q.url(events[len(events)-1].ID)
	}
	if q.Before > 0 {
		p.FirstURL = q.url(0)
	}
	p.Rows = make([]views.AdminAuditRow, 0, len(events))
	for _, e := range events {
		p.Rows = append(p.Rows, adminAuditRow(e))
	}
	return p, nil
}

// showAudit is the audit log, newest first, 100 events a page (keyset: before=<id>).
func (h *Handler) showAudit(c echo.Context) error {
	q, err := parseAuditQuery(c)
	if err != nil {
		return err
	}
	p, err := h.auditPage(c, q)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.AdminAuditScreen(h.page(c, i18n.M("Audit log"), "audit"), p))
}

// verifyAuditChain recomputes the hash chain (L2) and shows whether it is intact or
// where it first breaks; the check itself is recorded.
func (h *Handler) verifyAuditChain(c echo.Context) error {
	ctx := c.Request().Context()
	n, err := h.DB.VerifyAudit(ctx)
	v := &views.AdminAuditVerify{Events: n}
	outcome, detail := store.OutcomeSuccess, fmt.Sprintf("intact: %d events", n)
	var ce *store.ChainError
	switch {
	case errors.As(err, &ce):
		v.BrokenID, v.Problem = ce.ID, ce.Reason
		outcome, detail = store.OutcomeFailure, ce.Error()
	case err != nil:
		return err
	default:
		v.Intact = true
	}
	if err := h.DB.Audit(ctx, auth.ActorFrom(c), store.ActionAuditVerify, "audit", "", outcome, detail); err != nil {
		return err
	}
	if wantsFragment(c) {
		return render(c, http.StatusOK, views.AdminAuditVerifyResult(v))
	}
	p, err := h.auditPage(c, auditQuery{})
	if err != nil {
		return err
	}
	p.Verify = v
	return render(c, http.StatusOK, views.AdminAuditScreen(h.page(c, i18n.M("Audit log"), "audit"), p))
}
