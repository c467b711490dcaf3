package views

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/mobbscan-review/portal/i18n"
)

func statusText(code int) string { return fmt.Sprintf("%d · %s", code, http.StatusText(code)) }

// FormatTime shows a time to the minute in the request's time zone and language (issue
// 12): "6 Dec 2026, 14:05 CET". The zero time is "—". Templates prefer @Time, which adds
// the UTC time on hover.
func FormatTime(ctx context.Context, t time.Time) string {
	return i18n.DateTime(ctx, t)
}

// utcTime is a time in UTC to the minute, the same in every language: Time's hover text.
func utcTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// FormatDuration shows a duration the way people say it: "3 h 12 min", "45 s". It is
// English; the formats are in the catalogue, so i18n.T (or Tf, on an argument)
// translates the result, alone or inside a message formatted around it.
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf(i18n.M("%d s"), int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf(i18n.M("%d min"), int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf(i18n.M("%d h %d min"), int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf(i18n.M("%d days"), int(d.Hours()/24))
	}
}

func itoa(i int) string { return fmt.Sprint(i) }

// fieldInvalid reports whether field has an error (for aria-invalid).
func fieldInvalid(errs FormErrors, field string) bool {
	_, ok := errs[field]
	return ok
}

// zoneCache keeps the zones zoneLabel loaded (a zone is read from the zone database).
var zoneCache sync.Map

// zoneLabel names an IANA zone with its current offset from UTC: "Europe/Madrid (UTC+01:00)".
func zoneLabel(name string) string {
	z, ok := zoneCache.Load(name)
	if !ok {
		loc, err := time.LoadLocation(name)
		if err != nil {
			return name
		}
		z, _ = zoneCache.LoadOrStore(name, loc)
	}
	_, off := time.Now().In(z.(*time.Location)).Zone()
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	return fmt.Sprintf("%s (UTC%c%02d:%02d)", name, sign, off/3600, off%3600/60)
}
