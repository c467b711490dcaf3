package review_test

import (
	"testing"
	"time"

	"github.com/mobbscan-review/portal/review"
)

func periodDay(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestParsePeriod: presets, dates, defaults, a future end brought back to today, and a
// message naming the field for a start in the future, a reversed or too long period and
// anything that is not a date.
func TestParsePeriod(t *testing.T) {
	now := time.Date(2026, 3, 14, 23, 59, 0, 0, time.UTC) // late in the day: "today" is still the 14th
	for _, c := range []struct {
		from, to, days   string
		wantFrom, wantTo string
		clipped          bool
		field            string // "" when valid
	}{
		{"", "", "", "2026-02-13", "2026-03-14", false, ""},
		{"", "", "7", "2026-03-08", "2026-03-14", false, ""},
		{"", "", " 90 ", "2025-12-15", "2026-03-14", false, ""},
		{"", "", "1", "2026-03-14", "2026-03-14", false, ""},
		{"", "", "366", "2025-03-14", "2026-03-14", false, ""},
		{"2026-03-01", "2026-03-10", "", "2026-03-01", "2026-03-10", false, ""},
		{"2026-03-01", "", "", "2026-03-01", "2026-03-14", false, ""},
		{"", "2026-01-31", "", "2026-01-02", "2026-01-31", false, ""},
		{"2026-03-14", "2026-03-14", "", "2026-03-14", "2026-03-14", false, ""},
		{"2026-03-01", "2027-01-01", "", "2026-03-01", "2026-03-14", true, ""},
		{"", "9999-12-31", "", "2026-02-13", "2026-03-14", true, ""},
		{"2025-03-14", "2026-03-14", "", "2025-03-14", "2026-03-14", false, ""}, // 366 days
		{"0001-01-01", "0001-01-05", "", "0001-01-01", "0001-01-05", false, ""}, // long ago: empty, not an error
		{"2026-03-15", "", "", "", "", false, review.FieldFrom},
		{"2026-03-15", "2026-03-20", "", "", "", false, review.FieldFrom},
		{"2026-03-10", "2026-03-01", "", "", "", false, review.FieldTo},
		{"2025-03-13", "2026-03-14", "", "", "", false, review.FieldFrom}, // 367 days
		{"2000-01-01", "9999-12-31", "", "", "", false, review.FieldFrom},
		{"14/03/2026", "", "", "", "", false, review.FieldFrom},
		{"", "2026-02-30", "", "", "", false, review.FieldTo},
		{"", "", "0", "", "", false, review.FieldDays},
		{"", "", "367", "", "", false, review.FieldDays},
		{"", "", "-7", "", "", false, review.FieldDays},
		{"", "", "week", "", "", false, review.FieldDays},
	} {
		p, err := review.ParsePeriod(c.from, c.to, c.days, now)
		name := c.from + "|" + c.to + "|" + c.days
		if c.field != "" {
			e := review.ErrorOf(err)
			if e == nil || e.Code != review.CodeInvalid || e.Field != c.field || e.Message == "" {
				t.Errorf("%s: got %+v, %v; want an invalid error on %q", name, p, err, c.field)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !p.From.Equal(periodDay(c.wantFrom)) || !p.To.Equal(periodDay(c.wantTo)) || p.Clipped != c.clipped {
			t.Errorf("%s: got %s..%s clipped %t, want %s..%s clipped %t", name, p.FromText(), p.ToText(), p.Clipped, c.wantFrom, c.wantTo, c.clipped)
		}
		if p.Days() < 1 || p.Days() > review.MaxInsightDays {
			t.Errorf("%s: %d days", name, p.Days())
		}
	}
}

// TestInsightsAgent: administrators see anyone's or everyone's figures; an agent only
// ever their own, whatever they ask for.
func TestInsightsAgent(t *testing.T) {
	for _, c := range []struct {
		who       string
		requested int64
		want      int64
	}{
		{"admin, everyone", 0, 0},
		{"admin, an agent", ruleAgent.UserID, ruleAgent.UserID},
		{"admin, nonsense", -4, 0},
	} {
		if got := review.InsightsAgent(ruleAdmin, c.requested); got != c.want {
			t.Errorf("%s: got %d, want %d", c.who, got, c.want)
		}
	}
	for _, requested := range []int64{0, ruleAgent.UserID, ruleOther.UserID, ruleAdmin.UserID, -1} {
		if got := review.InsightsAgent(ruleAgent, requested); got != ruleAgent.UserID {
			t.Errorf("agent asking for %d: got %d, want their own %d", requested, got, ruleAgent.UserID)
		}
	}
}
