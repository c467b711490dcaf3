package review

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/store"
)

// Form fields of the audit export (Error.Fields keys).
const (
	FieldExportFrom   = "from"
	FieldExportTo     = "to"
	FieldExportActor  = "actor"
	FieldExportAction = "action"
	FieldExportFormat = "format"
)

// LimitExportActor is the actor filter of the audit export: an account's id or email
// (254 characters is the longest email address).
var LimitExportActor = TextLimit{Field: FieldExportActor, What: i18n.M("The account"), Max: 254}

// exportDay is how periods are written as whole days (UTC).
const exportDay = "2006-01-02"

// AuditExportInput is an audit export as a person asks for it: the form's or the
// command line's text.
type AuditExportInput struct {
	From   string // a day (2026-01-31, from its start, UTC) or an RFC 3339 instant; empty: the first event
	To     string // a day (up to its end, UTC) or an RFC 3339 instant (inclusive); empty: now
	Actor  string // an account's id or email; empty: anyone
	Action string // one of store.Actions; empty: any
	Format string // csv (default) or jsonl
}

// AuditExport is a checked audit export.
//
// Any period is allowed, however long: the export is streamed in constant memory and is
// one audit row whatever its size. A period ending in the future ends now; one starting
// in the future, or ending before it starts, is refused.
type AuditExport struct {
	Filter   store.ExportFilter // From inclusive, To exclusive (just after now at the latest)
	Format   store.AuditFormat
	Actor    string // the account's email, when filtered by account
	FromName string // the period's start in file names: a day, or "start"
	ToName   string // its last day
}

// FileName is the export's download name, e.g. audit-2026-01-01-2026-01-31.csv.
func (x AuditExport) FileName() string {
	return "audit-" + x.FromName + "-" + x.ToName + "." + x.Format.Extension()
}

// detail is the export's audit detail: the filter and the format.
func (x AuditExport) detail() string {
	f := x.Filter
	parts := []string{"format=" + string(x.Format)}
	if !f.From.IsZero() {
		parts = append(parts, "from="+f.From.Format(time.RFC3339Nano))
	}
	parts = append(parts, "to="+f.To.Format(time.RFC3339Nano))
	if f.ActorID != 0 {
		parts = append(parts, "actor="+strconv.FormatInt(f.ActorID, 10)+" "+x.Actor)
	}
	if f.Action != "" {
		parts = append(parts, "action="+string(f.Action))
	}
	return strings.Join(parts, " ")
}

// CheckAuditExport validates in at now: every field is checked and each wrong one gets
// its message (Error.Fields), so a form can show them all beside their fields. An
// unknown account or action is an error, not an empty export.
func CheckAuditExport(ctx context.Context, db *store.DB, in AuditExportInput, now time.Time) (AuditExport, error) {
	now = now.UTC()
	var x AuditExport
	errs := map[string]string{}
	from, fromDay, err := parseExportTime(strings.TrimSpace(in.From), false)
	if err != nil {
		errs[FieldExportFrom] = i18n.M("Write the start as a day (2026-01-31) or a date and time (2026-01-31T08:00:00Z).")
	}
	to, toDay, err2 := parseExportTime(strings.TrimSpace(in.To), true)
	if err2 != nil {
		errs[FieldExportTo] = i18n.M("Write the end as a day (2026-01-31) or a date and time (2026-01-31T18:00:00Z).")
	}
	if err == nil && err2 == nil {
		switch {
		case from.After(now):
			errs[FieldExportFrom] = i18n.M("The period starts in the future; nothing can have been recorded yet.")
		case !to.IsZero() && !to.After(from):
			errs[FieldExportTo] = i18n.M("The period ends before it starts; check the two dates.")
		}
	}
	if to.IsZero() || to.After(now) {
		to, toDay = now.Add(time.Nanosecond), "" // up to now, included
	}
	x.Filter.From, x.Filter.To = from, to
	x.FromName, x.ToName = "start", to.Add(-time.Nanosecond).Format(exportDay)
	if !from.IsZero() {
		x.FromName = from.Format(exportDay)
	}
	if fromDay != "" {
		x.FromName = fromDay
	}
	if toDay != "" {
		x.ToName = toDay
	}

	if actor, err := LimitExportActor.Check(in.Actor); err != nil {
		errs[FieldExportActor] = ErrorOf(err).Message
	} else if actor != "" {
		u, err := exportActor(ctx, db, actor)
		switch {
		case errors.Is(err, store.ErrNotFound):
			errs[FieldExportActor] = fmt.Sprintf(i18n.M("There is no account %q; give an account's email or its number."), actor)
		case err != nil:
			return x, err
		default:
			x.Filter.ActorID, x.Actor = u.ID, u.Email
		}
	}
	if a := strings.TrimSpace(in.Action); a != "" {
		if !knownAction(a) {
			errs[FieldExportAction] = i18n.M("There is no action called that; choose one from the list.")
		}
		x.Filter.Action = store.Action(a)
	}
	switch f := store.AuditFormat(strings.ToLower(strings.TrimSpace(in.Format))); {
	case f == "":
		x.Format = store.AuditCSV
	case f.Valid():
		x.Format = f
	default:
		errs[FieldExportFormat] = i18n.M("Choose CSV or JSON Lines.")
	}
	if len(errs) > 0 {
		return x, &Error{Code: CodeInvalid, Message: i18n.M("The export was not started: check the fields marked."), Fields: errs}
	}
	return x, nil
}

// parseExportTime reads a period bound: a day (its start, or with end its following
// midnight, so the day is included) or an RFC 3339 instant (with end, one nanosecond
// later, so the instant is included). day is the day as written, for file names.
func parseExportTime(s string, end bool) (t time.Time, day string, err error) {
	if s == "" {
		return time.Time{}, "", nil
	}
	if d, err := time.Parse(exportDay, s); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d.UTC(), s, nil
	}
	t, err = time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, "", err
	}
	if end {
		t = t.Add(time.Nanosecond)
	}
	return t.UTC(), "", nil
}

// exportActor finds the account an actor filter names: digits are an id, anything else
// an email.
func exportActor(ctx context.Context, db *store.DB, s string) (*store.User, error) {
	if id, err := strconv.ParseInt(s, 10, 64); err == nil {
		if id <= 0 {
			return nil, store.ErrNotFound
		}
		return db.UserByID(ctx, id)
	}
	return db.UserByEmail(ctx, s)
}

func knownAction(s string) bool {
	for _, a := range store.Actions {
		if string(a) == s {
			return true
		}
	}
	return false
}

// ExportAudit checks an audit export, records it in the audit log (who, the filter and
// the format) and then streams it: open is called once the export is recorded, and
// returns where to write (a handler sets its headers there); nothing is written before.
// It returns the number of rows exported. Only an administrator may export
// (MayExportAudit); a refusal is recorded too.
func ExportAudit(ctx context.Context, db *store.DB, a store.Actor, in AuditExportInput, open func(AuditExport) (io.Writer, error)) (int64, error) {
	if err := MayExportAudit(a); err != nil {
		if aerr := db.Audit(ctx, a, store.ActionAuditExport, "audit", "", store.OutcomeDenied, "not an administrator"); aerr != nil {
			return 0, aerr
		}
		return 0, err
	}
	x, err := CheckAuditExport(ctx, db, in, db.Now())
	if err != nil {
		return 0, err
	}
	// The export is the log as it stood when asked for: its own row, written next, and
	// anything later are not in it.
	if x.Filter.UpToID, err = db.AuditHead(ctx); err != nil {
		return 0, err
	}
	if err := db.Audit(ctx, a, store.ActionAuditExport, "audit", "", store.OutcomeSuccess, x.detail()); err != nil {
		return 0, err
	}
	w, err := open(x)
	if err != nil {
		return 0, err
	}
	aw, err := store.NewAuditWriter(w, x.Format)
	if err != nil {
		return 0, err
	}
	n, err := db.ExportAudit(ctx, x.Filter, aw.Write)
	if err != nil {
		return n, err
	}
	return n, aw.Flush()
}

// ExportAudit is the package's ExportAudit on the service's database.
func (s *Service) ExportAudit(ctx context.Context, a store.Actor, in AuditExportInput, open func(AuditExport) (io.Writer, error)) (int64, error) {
	return ExportAudit(ctx, s.DB, a, in, open)
}
