package views

import (
	"fmt"
	"net/http"
	"time"
)

func statusText(code int) string { return fmt.Sprintf("%d · %s", code, http.StatusText(code)) }

// FormatTime shows a time in UTC to the minute.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// FormatDuration shows a duration the way people say it: "3 h 12 min", "45 s".
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	}
}

func itoa(i int) string { return fmt.Sprint(i) }
