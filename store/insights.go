package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// Insights are read from the figures the triggers of migration 0018 keep (decisions per
// day, agent, verdict and reason; duration histograms; second reviews; delivery outcomes
// and states) and from the queue's counters of migration 0011: a request sums at most a
// row per day of the period and agent, verdict, reason or bucket, never the decisions or
// the processes themselves, so its cost does not grow with the history.

// InsightsQuery selects the figures of a period.
type InsightsQuery struct {
	From, To time.Time     // first and last day of the period (UTC calendar days, inclusive)
	Agent    int64         // 0: everyone; else only the figures of this agent's decisions
	Amber    time.Duration // the queue's aging targets, for the backlog and breaches
	Red      time.Duration
}

// Insights are the figures of a period.
type Insights struct {
	Days        []InsightDay   // every day of the period, oldest first, zeros included
	Agents      []InsightAgent // agents who decided in the period, most decisions first
	Accepted    int
	Rejected    int
	Reasons     []InsightReason // rejection reasons, most used first
	Wait        DurationStats   // from entering review to the decision
	Handle      DurationStats   // from the decider's claim to the decision
	LateDecided int             // decisions made after waiting longer than the red target (estimated from the histogram)
	Confirmed   int             // second reviews that confirmed the decision
	Overturned  int             // ... and that overturned it
	Deliveries  DeliveryCounts  // delivery outcomes in the period
	States      []StateCount    // decisions in each delivery state now (not bound to the period)
	Backlog     Backlog         // the queue now (not bound to the period nor to an agent)
}

// Decisions is the number of decisions made in the period.
func (in *Insights) Decisions() int { return in.Accepted + in.Rejected }

// SecondReviews is the number of second reviews completed in the period.
func (in *Insights) SecondReviews() int { return in.Confirmed + in.Overturned }

// InsightDay is one day's decisions.
type InsightDay struct {
	Day      time.Time
	Accepted int
	Rejected int
}

// InsightAgent is one agent's figures in the period.
type InsightAgent struct {
	ID         int64
	Name       string
	Accepted   int
	Rejected   int
	Confirmed  int // of their decisions, confirmed by a second agent
	Overturned int // ... overturned by a second agent
}

// Decisions is the agent's number of decisions.
func (a InsightAgent) Decisions() int { return a.Accepted + a.Rejected }

// InsightReason is a rejection reason and how often it was used.
type InsightReason struct {
	ID    int64
	Label string
	N     int
}

// DurationStats summarise a duration histogram.
type DurationStats struct {
	N      int           // decisions measured
	Median time.Duration // to the histogram's resolution
	P90    time.Duration
}

// DeliveryCounts are delivery outcomes.
type DeliveryCounts struct {
	Delivered int
	Retries   int // failed attempts put back for a retry
	Conflicts int
	Parked    int
	Resolved  int
}

// StateCount is how many decisions are in a delivery state; State "retrying" is a
// queued decision that failed before (Decision.Retrying).
type StateCount struct {
	State DeliveryState
	N     int
}

// StateRetrying is the key of retrying decisions in StateCount.
const StateRetrying DeliveryState = "retrying"

// Backlog is the queue by how long each process has waited.
type Backlog struct {
	Total   int
	Fresh   int // waiting less than the amber target
	Amber   int // from the amber target to the red one
	Red     int // longer than the red target: SLA breaches
	Undated int // entered review at an unknown time
}

// BucketGrowth is the ratio between the bounds of a duration bucket (2^(1/4)): a
// duration is known to within this factor, its median shown at the bucket's geometric
// middle (±9 %).
var BucketGrowth = math.Pow(2, 0.25)

const dayLayout = "2006-01-02"

// MaxInsightDays bounds a period, in days: a leap year. review (ParsePeriod) refuses
// longer periods with a message; the store refuses them too.
const MaxInsightDays = 366

// Insights returns the figures of q's period.
func (db *DB) Insights(ctx context.Context, q InsightsQuery) (*Insights, error) {
	from, to := q.From.UTC().Truncate(24*time.Hour), q.To.UTC().Truncate(24*time.Hour)
	if to.Before(from) || to.Sub(from) >= MaxInsightDays*24*time.Hour {
		return nil, fmt.Errorf("insights: period %s..%s: %w", from.Format(dayLayout), to.Format(dayLayout), ErrInvalid)
	}
	in := &Insights{}
	lo, hi := from.Format(dayLayout), to.Format(dayLayout)
	steps := []func() error{
		func() error { return db.insightDecisions(ctx, in, from, to, lo, hi, q.Agent) },
		func() error { return db.insightDurations(ctx, in, lo, hi, q.Agent, q.Red) },
		func() error { return db.insightDeliveries(ctx, in, lo, hi, q.Agent) },
		func() error { return db.insightStates(ctx, in, q.Agent) },
		func() error {
			var err error
			in.Backlog, err = db.QueueBacklog(ctx, q.Amber, q.Red)
			return err
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, fmt.Errorf("insights: %w", err)
		}
	}
	return in, nil
}

// agentFilter is the condition on the agent column: everyone (?1 = 0) or one agent.
const agentFilter = "(?1 = 0 OR agent = ?1)"

// insightDecisions reads the period's rows of insight_decisions once and sums them by
// day, by agent and by reason; the second reviews per agent come from insight_seconds.
func (db *DB) insightDecisions(ctx context.Context, in *Insights, from, to time.Time, lo, hi string, agent int64) error {
	var keys []string
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		in.Days = append(in.Days, InsightDay{Day: d})
		keys = append(keys, d.Format(dayLayout))
	}
	agents := map[int64]*InsightAgent{}
	agentOf := func(id int64) *InsightAgent {
		if a := agents[id]; a != nil {
			return a
		}
		a := &InsightAgent{ID: id}
		agents[id] = a
		return a
	}
	reasons := map[int64]int{}
	rows, err := db.query(ctx, `SELECT day, agent, verdict, reason_id, n FROM insight_decisions
		WHERE day BETWEEN ?2 AND ?3 AND `+agentFilter+` ORDER BY day`, agent, lo, hi)
	if err != nil {
		return err
	}
	i, last := -1, ""
	for rows.Next() {
		var day string
		var id, reason int64
		var v Verdict
		var n int
		if err := rows.Scan(&day, &id, &v, &reason, &n); err != nil {
			rows.Close()
			return err
		}
		if day != last {
			// Rows come in day order: move to their day (days without rows stay zero).
			for last = day; i+1 < len(keys) && keys[i+1] <= day; i++ {
			}
		}
		if i < 0 || keys[i] != day {
			continue
		}
		d, a := &in.Days[i], agentOf(id)
		if v == VerdictReject {
			d.Rejected += n
			a.Rejected += n
			in.Rejected += n
			reasons[reason] += n
		} else {
			d.Accepted += n
			a.Accepted += n
			in.Accepted += n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = db.query(ctx, `SELECT agent, outcome, sum(n) FROM insight_seconds
		WHERE day BETWEEN ?2 AND ?3 AND `+agentFilter+` GROUP BY agent, outcome`, agent, lo, hi)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id int64
		var outcome string
		var n int
		if err := rows.Scan(&id, &outcome, &n); err != nil {
			rows.Close()
			return err
		}
		if outcome == "overturned" {
			agentOf(id).Overturned += n
			in.Overturned += n
		} else {
			agentOf(id).Confirmed += n
			in.Confirmed += n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for id, a := range agents {
		// One lookup per agent who decided in the period: a few dozen at most.
		if err := db.queryRow(ctx, "SELECT display_name FROM users WHERE id = ?", id).Scan(&a.Name); err != nil {
			a.Name = fmt.Sprintf("User %d", id)
		}
		in.Agents = append(in.Agents, *a)
	}
	sort.Slice(in.Agents, func(i, j int) bool {
		a, b := in.Agents[i], in.Agents[j]
		if a.Decisions() != b.Decisions() {
			return a.Decisions() > b.Decisions()
		}
		return a.Name < b.Name
	})
	return db.insightReasons(ctx, in, reasons)
}

// insightReasons names the reasons used and ranks them, most used first, then in the
// catalogue's order.
func (db *DB) insightReasons(ctx context.Context, in *Insights, used map[int64]int) error {
	position := map[int64]int{}
	for id, n := range used {
		r := InsightReason{ID: id, N: n, Label: "(no reason)"}
		var pos int
		if err := db.queryRow(ctx, "SELECT label, position FROM reasons WHERE id = ?", id).Scan(&r.Label, &pos); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		position[id] = pos
		in.Reasons = append(in.Reasons, r)
	}
	sort.Slice(in.Reasons, func(i, j int) bool {
		a, b := in.Reasons[i], in.Reasons[j]
		if a.N != b.N {
			return a.N > b.N
		}
		if position[a.ID] != position[b.ID] {
			return position[a.ID] < position[b.ID]
		}
		return a.ID < b.ID
	})
	return nil
}

// histBucket is one bucket of a duration histogram summed over a period.
type histBucket struct {
	lo float64 // seconds
	n  int
}

func (db *DB) insightDurations(ctx context.Context, in *Insights, lo, hi string, agent int64, red time.Duration) error {
	// Rows come in key order (kind, day, bucket) and are summed here by bucket: no sort.
	rows, err := db.query(ctx, `SELECT kind, bucket, n FROM insight_durations
		WHERE agent = ?1 AND kind IN ('handle', 'wait') AND day BETWEEN ?2 AND ?3`, agent, lo, hi)
	if err != nil {
		return err
	}
	defer rows.Close()
	var sums [2][insightBuckets]int
	for rows.Next() {
		var kind string
		var bucket, n int
		if err := rows.Scan(&kind, &bucket, &n); err != nil {
			return err
		}
		k := 0
		if kind == "handle" {
			k = 1
		}
		sums[k][min(max(bucket, 0), insightBuckets-1)] += n
	}
	if err := rows.Err(); err != nil {
		return err
	}
	wait, handle := histOf(sums[0][:]), histOf(sums[1][:])
	in.Wait, in.Handle = histStats(wait), histStats(handle)
	in.LateDecided = histAbove(wait, red.Seconds())
	return nil
}

// insightBuckets is the number of duration buckets of migration 0018: bucket 0 holds
// [0, 1 s), bucket b >= 1 starts at 2^((b-1)/4) seconds.
const insightBuckets = 102

// bucketStart is where bucket b starts, in seconds (as insight_buckets.lo).
func bucketStart(b int) float64 {
	if b <= 0 {
		return 0
	}
	return math.Pow(2, float64(b-1)/4)
}

// histOf turns counts per bucket into the non-empty buckets in order.
func histOf(counts []int) []histBucket {
	var h []histBucket
	for b, n := range counts {
		if n > 0 {
			h = append(h, histBucket{lo: bucketStart(b), n: n})
		}
	}
	return h
}

// histStats returns the count, median and 90th percentile of a histogram, each at the
// geometric middle of its bucket (bucket 0, under a second, counts as zero).
func histStats(h []histBucket) DurationStats {
	s := DurationStats{}
	for _, b := range h {
		s.N += b.n
	}
	if s.N == 0 {
		return s
	}
	s.Median, s.P90 = histQuantile(h, s.N, 0.5), histQuantile(h, s.N, 0.9)
	return s
}

func histQuantile(h []histBucket, total int, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(total)))
	if rank < 1 {
		rank = 1
	}
	cum := 0
	for _, b := range h {
		cum += b.n
		if cum >= rank {
			return bucketMiddle(b.lo)
		}
	}
	return bucketMiddle(h[len(h)-1].lo)
}

// bucketMiddle is the geometric middle of the bucket starting at lo seconds.
func bucketMiddle(lo float64) time.Duration {
	if lo <= 0 {
		return 0
	}
	return time.Duration(lo * math.Sqrt(BucketGrowth) * float64(time.Second)).Round(time.Second)
}

// histAbove estimates how many durations exceed limit seconds: whole buckets above it,
// and of the bucket holding it the share above it on the log scale.
func histAbove(h []histBucket, limit float64) int {
	above := 0.0
	for _, b := range h {
		hi := b.lo * BucketGrowth
		switch {
		case b.lo >= limit:
			above += float64(b.n)
		case b.lo > 0 && hi > limit:
			above += float64(b.n) * math.Log(hi/limit) / math.Log(BucketGrowth)
		case b.lo == 0 && limit < 1:
			above += float64(b.n) * (1 - limit)
		}
	}
	return int(math.Round(above))
}

func (db *DB) insightDeliveries(ctx context.Context, in *Insights, lo, hi string, agent int64) error {
	rows, err := db.query(ctx, `SELECT outcome, sum(n) FROM insight_deliveries
		WHERE day BETWEEN ?2 AND ?3 AND `+agentFilter+` GROUP BY outcome`, agent, lo, hi)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var outcome string
		var n int
		if err := rows.Scan(&outcome, &n); err != nil {
			return err
		}
		switch outcome {
		case "delivered":
			in.Deliveries.Delivered += n
		case "retry":
			in.Deliveries.Retries += n
		case "conflict":
			in.Deliveries.Conflicts += n
		case "parked":
			in.Deliveries.Parked += n
		case "resolved":
			in.Deliveries.Resolved += n
		}
	}
	return rows.Err()
}

// insightStateOrder is the order of StateCount: the delivery states with "retrying"
// after "queued".
var insightStateOrder = []DeliveryState{StateSecondReview, StateQueued, StateRetrying, StateSending, StateDelivered,
	StateConflict, StateParked, StateOverturned, StateResolved}

func (db *DB) insightStates(ctx context.Context, in *Insights, agent int64) error {
	rows, err := db.query(ctx, "SELECT state, sum(n) FROM insight_states WHERE "+agentFilter+" GROUP BY state", agent)
	if err != nil {
		return err
	}
	defer rows.Close()
	counts := map[DeliveryState]int{}
	for rows.Next() {
		var s DeliveryState
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return err
		}
		counts[s] = n
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, s := range insightStateOrder {
		in.States = append(in.States, StateCount{State: s, N: counts[s]})
	}
	return nil
}

// QueueBacklog returns the processes in review by how long they have waited against the
// amber and red targets ("waited at least the target", as the queue's aging markers).
// It reads the counters of migration 0011 and at most a minute of processes per minute
// of the red target, never the whole queue.
func (db *DB) QueueBacklog(ctx context.Context, amber, red time.Duration) (Backlog, error) {
	now := db.now()
	var b Backlog
	var undated int
	if err := db.queryRow(ctx, `SELECT (SELECT n FROM queue_total WHERE id = 1),
		coalesce((SELECT n FROM queue_minutes WHERE minute = -1), 0)`).Scan(&b.Total, &undated); err != nil {
		return b, fmt.Errorf("backlog: %w", err)
	}
	// newer counts the processes in review that have waited less than target, exactly:
	// whole minutes after the cutoff's minute from queue_minutes, the cutoff's own minute
	// from the queue's index.
	newer := func(target time.Duration) (int, error) {
		cutoff := now.Add(-target)
		cutoffMinute := cutoff.Unix() / 60
		boundaryEnd := time.Unix((cutoffMinute+1)*60, 0)
		var recent, boundary int
		err := db.queryRow(ctx, `SELECT coalesce((SELECT sum(n) FROM queue_minutes WHERE minute > ?1), 0),
			(SELECT count(*) FROM processes INDEXED BY processes_queue WHERE reviewable = 1 AND review_since > ?2 AND review_since < ?3)`,
			cutoffMinute, formatTime(cutoff), formatTime(boundaryEnd)).Scan(&recent, &boundary)
		return recent + boundary, err
	}
	underAmber, err := newer(amber)
	if err != nil {
		return b, fmt.Errorf("backlog: %w", err)
	}
	underRed, err := newer(red)
	if err != nil {
		return b, fmt.Errorf("backlog: %w", err)
	}
	b.Undated, b.Fresh, b.Amber = undated, underAmber, max(0, underRed-underAmber)
	b.Red = b.Total - undated - underRed
	return b, nil
}
