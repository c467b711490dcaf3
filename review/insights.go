package review

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// Form fields of the insights' period (Error.Field).
const (
	FieldFrom = "from"
	FieldTo   = "to"
	FieldDays = "days"
)

// The insights' periods: the default, the presets the page offers, and the longest.
const (
	DefaultInsightDays = 30
	MaxInsightDays     = store.MaxInsightDays
)

// InsightPresets are the periods offered as one-click choices, in days up to today.
var InsightPresets = []int{7, 30, 90}

// Period is a span of whole UTC calendar days, both ends included.
type Period struct {
	From, To time.Time
	// Clipped: the end asked for was in the future and the period ends today instead.
	Clipped bool
}

// Days is the number of days in the period.
func (p Period) Days() int { return int(p.To.Sub(p.From)/(24*time.Hour)) + 1 }

const dayLayout = "2006-01-02"

// FromText and ToText are the period's ends as the date inputs take them.
func (p Period) FromText() string { return p.From.Format(dayLayout) }

// ToText: see FromText.
func (p Period) ToText() string { return p.To.Format(dayLayout) }

// ParsePeriod reads a period from the insights form: days (a preset: that many days up
// to today), else from and to (YYYY-MM-DD; a missing start is 30 days before the end, a
// missing end is today); nothing at all is the last 30 days. An end in the future is
// brought back to today (Clipped); a start in the future, a start after the end, a
// period longer than MaxInsightDays or text that is not a date is an invalid error
// naming the field.
func ParsePeriod(from, to, days string, now time.Time) (Period, error) {
	today := now.UTC().Truncate(24 * time.Hour)
	from, to, days = strings.TrimSpace(from), strings.TrimSpace(to), strings.TrimSpace(days)
	if days != "" {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > MaxInsightDays {
			return Period{}, errorf(CodeInvalid, FieldDays, "Choose a period of 1 to %d days.", MaxInsightDays)
		}
		return Period{From: today.AddDate(0, 0, -(n - 1)), To: today}, nil
	}
	p := Period{To: today}
	if to != "" {
		t, err := time.Parse(dayLayout, to)
		if err != nil {
			return Period{}, errorf(CodeInvalid, FieldTo, "The end is not a date: use the date picker or YYYY-MM-DD.")
		}
		p.To = t
	}
	if from != "" {
		t, err := time.Parse(dayLayout, from)
		if err != nil {
			return Period{}, errorf(CodeInvalid, FieldFrom, "The start is not a date: use the date picker or YYYY-MM-DD.")
		}
		p.From = t
	}
	switch {
	case from != "" && p.From.After(today):
		return Period{}, errorf(CodeInvalid, FieldFrom, "The period starts in the future: there are no figures for it yet.")
	case p.To.After(today):
		p.To, p.Clipped = today, true
	}
	if from == "" {
		p.From = p.To.AddDate(0, 0, -(DefaultInsightDays - 1))
	}
	if p.From.After(p.To) {
		return Period{}, errorf(CodeInvalid, FieldTo, "The end is before the start: swap the dates.")
	}
	if p.Days() > MaxInsightDays {
		return Period{}, errorf(CodeInvalid, FieldFrom, "The period is longer than %d days: choose a shorter one.", MaxInsightDays)
	}
	return p, nil
}

// Insights returns the figures of period p that a may see (InsightsAgent): everyone's
// or one agent's for an administrator, always their own for an agent. It returns whose
// figures they are (0: everyone). The figures come from counters the store keeps as
// decisions change, so asking costs the same whatever the size of the history.
func (s *Service) Insights(ctx context.Context, a store.Actor, p Period, agent int64) (*store.Insights, int64, error) {
	agent = InsightsAgent(a, agent)
	in, err := s.DB.Insights(ctx, store.InsightsQuery{From: p.From, To: p.To, Agent: agent, Amber: s.cfg.AgingAmber, Red: s.cfg.AgingRed})
	return in, agent, translate(err)
}
