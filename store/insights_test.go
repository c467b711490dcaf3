package store_test

// The insights' figures are kept by triggers (migration 0018); these tests compare them
// with a recount after a random walk of decisions, second reviews, overturns, deliveries,
// retries, resolutions and reopenings. The recount is an independent model: before and
// after every step it reads the decisions and processes and applies what changed.

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// insightRow is what the model reads of a decision.
type insightRow struct {
	state    store.DeliveryState
	attempts int
	by       int64
	second   string
	updated  string
	verdict  store.Verdict
	reason   int64
	decided  string
	process  string
}

// procTimes is what the model reads of a process: when it entered review and its claim.
type procTimes struct {
	since     string
	claimedBy int64
	claimedAt string
}

type dayKey struct {
	day   string
	agent int64
	what  string
}

type histKey struct {
	agent  int64
	kind   string
	day    string
	bucket int
}

// insightModel is the recount.
type insightModel struct {
	decisions  map[dayKey]int // what: verdict/reason
	seconds    map[dayKey]int // what: confirmed/overturned
	deliveries map[dayKey]int // what: outcome
	hist       map[histKey]int
	waits      []waitRec // every measured wait, for the breach estimate
}

type waitRec struct {
	agent   int64
	day     string
	seconds int64
}

func readDecisions(t *testing.T, db *store.DB) map[int64]insightRow {
	t.Helper()
	rows, err := db.SQL().Query(`SELECT id, state, attempts, decided_by, coalesce(second_at, ''), updated_at, verdict,
		coalesce(reason_id, 0), decided_at, process_id FROM decisions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]insightRow{}
	for rows.Next() {
		var id int64
		var r insightRow
		if err := rows.Scan(&id, &r.state, &r.attempts, &r.by, &r.second, &r.updated, &r.verdict, &r.reason, &r.decided, &r.process); err != nil {
			t.Fatal(err)
		}
		out[id] = r
	}
	return out
}

func readProcTimes(t *testing.T, db *store.DB) map[string]procTimes {
	t.Helper()
	rows, err := db.SQL().Query("SELECT id, coalesce(review_since, ''), coalesce(claimed_by, 0), coalesce(claimed_at, '') FROM processes")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]procTimes{}
	for rows.Next() {
		var id string
		var p procTimes
		if err := rows.Scan(&id, &p.since, &p.claimedBy, &p.claimedAt); err != nil {
			t.Fatal(err)
		}
		out[id] = p
	}
	return out
}

// bucketOf is the bucket of a duration: the last whose start is at most seconds.
func bucketOf(t *testing.T, db *store.DB, seconds int64) int {
	t.Helper()
	var b int
	if err := db.SQL().QueryRow("SELECT max(bucket) FROM insight_buckets WHERE lo <= ?", seconds).Scan(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

func secondsBetween(from, to string) int64 {
	const layout = "2006-01-02T15:04:05.000000000Z"
	a, _ := time.Parse(layout, from)
	b, _ := time.Parse(layout, to)
	return max(0, int64(b.Truncate(time.Second).Sub(a.Truncate(time.Second))/time.Second))
}

// apply updates the model with what changed between two readings.
func (m *insightModel) apply(t *testing.T, db *store.DB, before, after map[int64]insightRow, procs map[string]procTimes) {
	for id, n := range after {
		o, existed := before[id]
		if !existed {
			day := n.decided[:10]
			m.decisions[dayKey{day, n.by, fmt.Sprintf("%s/%d", n.verdict, n.reason)}]++
			p := procs[n.process]
			if p.since != "" {
				s := secondsBetween(p.since, n.decided)
				for _, a := range []int64{0, n.by} {
					m.hist[histKey{a, "wait", day, bucketOf(t, db, s)}]++
				}
				m.waits = append(m.waits, waitRec{n.by, day, s})
			}
			if p.claimedBy == n.by && p.claimedAt != "" {
				for _, a := range []int64{0, n.by} {
					m.hist[histKey{a, "handle", day, bucketOf(t, db, secondsBetween(p.claimedAt, n.decided))}]++
				}
			}
			continue
		}
		if n.state == store.StateQueued && n.attempts > o.attempts {
			// An attempt made and failed within the step (sending, then queued again).
			m.deliveries[dayKey{n.updated[:10], n.by, "retry"}]++
		}
		if o.state == n.state {
			continue
		}
		if o.state == store.StateSecondReview && (n.state == store.StateQueued || n.state == store.StateOverturned) {
			outcome := "confirmed"
			if n.state == store.StateOverturned {
				outcome = "overturned"
			}
			m.seconds[dayKey{n.second[:10], n.by, outcome}]++
		}
		switch {
		case n.state == store.StateDelivered || n.state == store.StateConflict || n.state == store.StateParked || n.state == store.StateResolved:
			m.deliveries[dayKey{n.updated[:10], n.by, string(n.state)}]++
		case o.state == store.StateSending && n.state == store.StateQueued:
			m.deliveries[dayKey{n.updated[:10], n.by, "retry"}]++
		}
	}
}

// want returns the figures the model expects for a period and agent (0: everyone).
// waitsNear counts the period's waits in the histogram bucket holding limit (widened
// by a second on each side for rounding): the ones whose side of limit the histogram
// cannot tell.
func (m *insightModel) waitsNear(from, to time.Time, agent int64, limit time.Duration) int {
	lo, hi := from.Format("2006-01-02"), to.Format("2006-01-02")
	b := math.Floor(4 * math.Log2(limit.Seconds()))
	start, end := math.Pow(2, b/4)-1, math.Pow(2, (b+1)/4)+1
	n := 0
	for _, w := range m.waits {
		if w.day >= lo && w.day <= hi && (agent == 0 || w.agent == agent) && float64(w.seconds) >= start && float64(w.seconds) < end {
			n++
		}
	}
	return n
}

func (m *insightModel) want(t *testing.T, db *store.DB, from, to time.Time, agent int64, red time.Duration) *store.Insights {
	in := &store.Insights{}
	lo, hi := from.Format("2006-01-02"), to.Format("2006-01-02")
	inPeriod := func(k dayKey) bool { return k.day >= lo && k.day <= hi && (agent == 0 || k.agent == agent) }
	days := map[string]*store.InsightDay{}
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		in.Days = append(in.Days, store.InsightDay{Day: d})
	}
	for i := range in.Days {
		days[in.Days[i].Day.Format("2006-01-02")] = &in.Days[i]
	}
	agents := map[int64]*store.InsightAgent{}
	ag := func(id int64) *store.InsightAgent {
		if agents[id] == nil {
			agents[id] = &store.InsightAgent{ID: id}
		}
		return agents[id]
	}
	reasons := map[int64]int{}
	for k, n := range m.decisions {
		if !inPeriod(k) {
			continue
		}
		var v string
		var reason int64
		fmt.Sscanf(k.what, "%6s/%d", &v, &reason)
		if store.Verdict(v) == store.VerdictReject {
			days[k.day].Rejected += n
			in.Rejected += n
			ag(k.agent).Rejected += n
			reasons[reason] += n
		} else {
			days[k.day].Accepted += n
			in.Accepted += n
			ag(k.agent).Accepted += n
		}
	}
	for k, n := range m.seconds {
		if !inPeriod(k) {
			continue
		}
		if k.what == "overturned" {
			in.Overturned += n
			ag(k.agent).Overturned += n
		} else {
			in.Confirmed += n
			ag(k.agent).Confirmed += n
		}
	}
	for k, n := range m.deliveries {
		if !inPeriod(k) {
			continue
		}
		switch k.what {
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
	for _, a := range agents {
		in.Agents = append(in.Agents, *a)
	}
	for id, n := range reasons {
		in.Reasons = append(in.Reasons, store.InsightReason{ID: id, N: n})
	}
	for _, w := range m.waits {
		if w.day >= lo && w.day <= hi && (agent == 0 || w.agent == agent) {
			in.Wait.N++
			if time.Duration(w.seconds)*time.Second > red {
				in.LateDecided++
			}
		}
	}
	for k, n := range m.hist {
		if k.kind == "handle" && k.agent == agent && k.day >= lo && k.day <= hi {
			in.Handle.N += n
		}
	}
	return in
}

// wantInsightsMatch fails unless the kept figures equal the model's for a few periods
// and every agent, the histograms row for row, and the delivery states a recount.
func wantInsightsMatch(t *testing.T, db *store.DB, m *insightModel, step string, agents []int64) {
	t.Helper()
	ctx := context.Background()
	today := db.Now().UTC().Truncate(24 * time.Hour)
	const red = 24 * time.Hour
	for _, p := range [][2]time.Time{{today.AddDate(0, 0, -29), today}, {today, today}, {today.AddDate(0, 0, -3), today.AddDate(0, 0, -1)}} {
		for _, a := range agents {
			got, err := db.Insights(ctx, store.InsightsQuery{From: p[0], To: p[1], Agent: a, Amber: 4 * time.Hour, Red: red})
			if err != nil {
				t.Fatalf("%s: insights: %v", step, err)
			}
			want := m.want(t, db, p[0], p[1], a, red)
			where := fmt.Sprintf("%s: %s..%s agent %d", step, p[0].Format("01-02"), p[1].Format("01-02"), a)
			if !slices.Equal(got.Days, want.Days) {
				t.Fatalf("%s: days %+v, recount %+v", where, got.Days, want.Days)
			}
			if got.Accepted != want.Accepted || got.Rejected != want.Rejected || got.Confirmed != want.Confirmed ||
				got.Overturned != want.Overturned || got.Deliveries != want.Deliveries {
				t.Fatalf("%s: got %d/%d, seconds %d/%d, deliveries %+v; recount %d/%d, %d/%d, %+v", where, got.Accepted, got.Rejected,
					got.Confirmed, got.Overturned, got.Deliveries, want.Accepted, want.Rejected, want.Confirmed, want.Overturned, want.Deliveries)
			}
			gotAgents := map[int64]store.InsightAgent{}
			for _, x := range got.Agents {
				x.Name = ""
				gotAgents[x.ID] = x
			}
			wantAgents := map[int64]store.InsightAgent{}
			for _, x := range want.Agents {
				wantAgents[x.ID] = x
			}
			if !maps.Equal(gotAgents, wantAgents) {
				t.Fatalf("%s: agents %+v, recount %+v", where, gotAgents, wantAgents)
			}
			gotReasons := map[int64]int{}
			for _, r := range got.Reasons {
				gotReasons[r.ID] = r.N
			}
			wantReasons := map[int64]int{}
			for _, r := range want.Reasons {
				wantReasons[r.ID] = r.N
			}
			if !maps.Equal(gotReasons, wantReasons) {
				t.Fatalf("%s: reasons %v, recount %v", where, gotReasons, wantReasons)
			}
			if got.Wait.N != want.Wait.N || got.Handle.N != want.Handle.N {
				t.Fatalf("%s: measured waits %d, handling %d; recount %d, %d", where, got.Wait.N, got.Handle.N, want.Wait.N, want.Handle.N)
			}
			// Breaches are estimated from the histogram: off by at most the waits in the
			// bucket holding the target (and one for rounding).
			if d, near := got.LateDecided-want.LateDecided, m.waitsNear(p[0], p[1], a, red); d < -near-1 || d > near+1 {
				t.Fatalf("%s: late decisions %d, recount %d (%d waits in the target's bucket)", where, got.LateDecided, want.LateDecided, near)
			}
		}
	}
	// The histograms, row for row.
	rows, err := db.SQL().Query("SELECT agent, kind, day, bucket, n FROM insight_durations WHERE n > 0")
	if err != nil {
		t.Fatal(err)
	}
	gotHist := map[histKey]int{}
	for rows.Next() {
		var k histKey
		var n int
		rows.Scan(&k.agent, &k.kind, &k.day, &k.bucket, &n)
		gotHist[k] = n
	}
	rows.Close()
	if !maps.Equal(gotHist, m.hist) {
		t.Fatalf("%s: histograms %v, recount %v", step, gotHist, m.hist)
	}
	// Current delivery states against a count of the decisions.
	for _, a := range agents {
		got, err := db.Insights(ctx, store.InsightsQuery{From: today, To: today, Agent: a, Amber: time.Hour, Red: 2 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		want := map[store.DeliveryState]int{}
		for _, d := range readDecisions(t, db) {
			if a != 0 && d.by != a {
				continue
			}
			s := d.state
			if s == store.StateQueued && d.attempts > 0 {
				s = store.StateRetrying
			}
			want[s]++
		}
		for _, sc := range got.States {
			if sc.N != want[sc.State] {
				t.Fatalf("%s: agent %d: %d %s, recount %d", step, a, sc.N, sc.State, want[sc.State])
			}
			delete(want, sc.State)
		}
		if len(want) > 0 {
			t.Fatalf("%s: states not reported: %v", step, want)
		}
	}
}

// insightWorld drives random changes of decisions and processes.
type insightWorld struct {
	*counterWorld
	reasons []int64
}

func (w *insightWorld) decisionIn(states ...store.DeliveryState) *store.Decision {
	ds, _ := w.db.ListDecisions(context.Background(), store.DecisionFilter{States: states, Limit: 20})
	if len(ds) == 0 {
		return nil
	}
	return ds[w.rng.IntN(len(ds))]
}

func inState(states ...store.DeliveryState) store.Rule {
	return func(c *store.Case) error {
		if c.Decision == nil || !slices.Contains(states, c.Decision.State) {
			return store.ErrConflict
		}
		return nil
	}
}

func (w *insightWorld) step() string {
	ctx := context.Background()
	inReviewOnly := func(c *store.Case) error {
		if !c.Process.Reviewable || c.Process.Decided {
			return store.ErrNotReviewable
		}
		return nil
	}
	u := w.users[w.rng.IntN(len(w.users))]
	a := store.Actor{UserID: u.ID, Email: u.Email, Role: u.Role}
	now := w.clk.Now()
	switch op := w.rng.IntN(14); op {
	case 0, 1: // a new process in review, entered up to 40 h ago
		since := now.Add(-time.Duration(w.rng.IntN(40*3600)) * time.Second)
		w.db.UpsertProcess(ctx, store.SourceWebhook, w.snapshot(w.newID(), true, since), now)
		return "new"
	case 2, 3:
		w.db.Claim(ctx, a, w.id(), 5*time.Minute, inReviewOnly)
		return "claim"
	case 4, 5: // a decision: accept, or reject with a reason; sometimes for a second review
		nd := store.NewDecision{ProcessID: w.id(), Verdict: store.VerdictAccept, SecondReview: w.rng.IntN(3) == 0}
		if w.rng.IntN(2) == 0 {
			nd.Verdict, nd.ReasonID, nd.Comment = store.VerdictReject, w.reasons[w.rng.IntN(len(w.reasons))], "no"
		}
		w.db.Decide(ctx, a, nd, inReviewOnly)
		return "decide"
	case 6:
		if d := w.decisionIn(store.StateSecondReview); d != nil {
			w.db.ConfirmSecond(ctx, a, d.ID, inState(store.StateSecondReview))
		}
		return "confirm"
	case 7:
		if d := w.decisionIn(store.StateSecondReview); d != nil {
			w.db.Overturn(ctx, a, d.ID, "no", 5*time.Minute, inState(store.StateSecondReview))
		}
		return "overturn"
	case 8: // a delivery attempt with a random outcome
		d := w.decisionIn(store.StateQueued)
		if d == nil {
			return "deliver (none)"
		}
		if ok, _ := w.db.StartDelivery(ctx, d.ID); ok {
			o := []store.DeliveryOutcome{{State: store.StateDelivered, GatewayStatus: d.Verdict.GatewayStatus(), Audit: true},
				{State: store.StateQueued, Next: now.Add(time.Minute), Error: "503"},
				{State: store.StateConflict, Error: "409", Audit: true}}[w.rng.IntN(3)]
			w.db.FinishDelivery(ctx, d, o)
		}
		return "deliver"
	case 9:
		w.db.ParkStale(ctx, 6*time.Hour)
		return "park"
	case 10:
		if d := w.decisionIn(store.StateParked, store.StateConflict); d != nil {
			if w.rng.IntN(2) == 0 {
				w.db.RetryDelivery(ctx, a, d.ID, inState(store.StateParked, store.StateConflict))
			} else {
				w.db.ResolveDecision(ctx, a, d.ID, "settled", inState(store.StateParked, store.StateConflict))
			}
		}
		return "retry or resolve"
	case 11: // Mobbscan puts a delivered process back into review
		if d := w.decisionIn(store.StateDelivered); d != nil {
			w.clk.Add(time.Second)
			w.db.UpsertProcess(ctx, store.SourceWebhook, w.snapshot(d.ProcessID, true, w.clk.Now()), w.clk.Now())
		}
		return "reopen"
	default: // time passes, sometimes across midnight
		w.clk.Add(time.Duration(w.rng.IntN(4*3600)) * time.Second)
		return "time"
	}
}

// TestInsightsMatchARecount: after each of 600 random changes the kept figures equal
// the model's recount, for everyone and for each agent, over several periods.
func TestInsightsMatchARecount(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	w := &insightWorld{counterWorld: newCounterWorld(t, seed)}
	for _, code := range []string{"document-expired", "face-mismatch", "unreadable"} {
		w.reasons = append(w.reasons, reasonByCode(t, w.db, code).ID)
	}
	m := &insightModel{decisions: map[dayKey]int{}, seconds: map[dayKey]int{}, deliveries: map[dayKey]int{}, hist: map[histKey]int{}}
	agents := w.userIDs()
	for i := range 600 {
		before, procs := readDecisions(t, w.db), readProcTimes(t, w.db)
		op := w.step()
		m.apply(t, w.db, before, readDecisions(t, w.db), procs)
		if i%5 == 0 || i > 560 {
			wantInsightsMatch(t, w.db, m, fmt.Sprintf("step %d (%s)", i, op), agents)
		}
	}
	var total int
	for _, n := range m.decisions {
		total += n
	}
	if total < 20 || len(m.seconds) == 0 || len(m.deliveries) == 0 {
		t.Fatalf("the walk made too little: %d decisions, %d second-review days, %d delivery days", total, len(m.seconds), len(m.deliveries))
	}
}

// TestQueueBacklogMatchesARecount: the backlog by age equals a count of the processes
// in review against the same targets, on and around the minute edges.
func TestQueueBacklogMatchesARecount(t *testing.T) {
	w := newCounterWorld(t, 42)
	ctx := context.Background()
	now := w.clk.Now()
	for i := range 300 {
		since := now.Add(-time.Duration(w.rng.IntN(48*60)) * time.Minute)
		if i%3 == 0 {
			since = since.Add(time.Duration(w.rng.IntN(60)) * time.Second)
		}
		w.db.UpsertProcess(ctx, store.SourceWebhook, w.snapshot(w.newID(), i%7 != 0, since), now)
	}
	// Exactly on the targets.
	w.db.UpsertProcess(ctx, store.SourceWebhook, w.snapshot(w.newID(), true, now.Add(-4*time.Hour)), now)
	w.db.UpsertProcess(ctx, store.SourceWebhook, w.snapshot(w.newID(), true, now.Add(-24*time.Hour)), now)
	for _, shift := range []time.Duration{0, 17 * time.Second, 59 * time.Second, time.Minute, 3 * time.Hour} {
		w.clk.Set(now.Add(shift))
		const layout = "2006-01-02T15:04:05.000000000Z"
		at := w.clk.Now().UTC()
		var want store.Backlog
		err := w.db.SQL().QueryRow(`SELECT count(*), count(*) FILTER (WHERE review_since IS NULL),
			count(*) FILTER (WHERE review_since > ?1), count(*) FILTER (WHERE review_since <= ?1 AND review_since > ?2), count(*) FILTER (WHERE review_since <= ?2)
			FROM processes WHERE reviewable = 1`, at.Add(-4*time.Hour).Format(layout), at.Add(-24*time.Hour).Format(layout)).
			Scan(&want.Total, &want.Undated, &want.Fresh, &want.Amber, &want.Red)
		if err != nil {
			t.Fatal(err)
		}
		got, err := w.db.QueueBacklog(ctx, 4*time.Hour, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("at +%s: backlog %+v, recount %+v", shift, got, want)
		}
		if want.Fresh == 0 || want.Amber == 0 || want.Red == 0 {
			t.Errorf("at +%s: the fixture misses a bucket: %+v", shift, want)
		}
	}
}

// TestInsightsPercentiles: medians and 90th percentiles come within the histogram's
// resolution of the exact figures, and decisions without a known entry into review are
// not measured.
func TestInsightsPercentiles(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	ana := newUser(t, db, "ana@example.com", store.RoleAgent)
	bob := newUser(t, db, "bob@example.com", store.RoleAgent)
	// Ana decides ten processes that waited 1..10 hours, each claimed 2 minutes before.
	for i := 1; i <= 10; i++ {
		id := fmt.Sprintf("pct-%d", i)
		upsert(t, db, store.SourceWebhook, inReview(id, clk.Now().Add(-time.Duration(i)*time.Hour)))
		if _, err := db.Claim(ctx, actorOf(ana), id, 5*time.Minute, allow); err != nil {
			t.Fatal(err)
		}
		clk.Add(2 * time.Minute)
		mustDecide(t, db, ana, acceptOf(id))
		clk.Add(-2 * time.Minute)
	}
	// Bob decides one without a claim: its wait counts, its handling time cannot.
	upsert(t, db, store.SourceWebhook, inReview("pct-bob", clk.Now().Add(-30*time.Hour)))
	mustDecide(t, db, bob, store.NewDecision{ProcessID: "pct-bob", Verdict: store.VerdictAccept})
	day := clk.Now().UTC().Truncate(24 * time.Hour)
	in, err := db.Insights(ctx, store.InsightsQuery{From: day, To: day, Amber: 4 * time.Hour, Red: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	near := func(got, want time.Duration) bool {
		return float64(got) >= float64(want)/store.BucketGrowth && float64(got) <= float64(want)*store.BucketGrowth
	}
	// 11 waits (1..10 h + 2 min, 30 h): the median is the 6th (6 h 2 min), p90 the 10th.
	if in.Wait.N != 11 || !near(in.Wait.Median, 6*time.Hour+2*time.Minute) || !near(in.Wait.P90, 10*time.Hour+2*time.Minute) {
		t.Errorf("waits: got %+v, want 11 near 6h02m and 10h02m", in.Wait)
	}
	if in.Handle.N != 10 || !near(in.Handle.Median, 2*time.Minute) || !near(in.Handle.P90, 2*time.Minute) {
		t.Errorf("handling: got %+v, want 10 near 2m", in.Handle)
	}
	if in.LateDecided != 1 {
		t.Errorf("late decisions: got %d, want 1 (Bob's, after 30 h)", in.LateDecided)
	}
	own, err := db.Insights(ctx, store.InsightsQuery{From: day, To: day, Agent: bob.ID, Amber: 4 * time.Hour, Red: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if own.Decisions() != 1 || own.Wait.N != 1 || own.Handle.N != 0 || len(own.Agents) != 1 || own.Agents[0].ID != bob.ID {
		t.Errorf("Bob's own: got %d decisions, wait %+v, handle %+v, agents %+v", own.Decisions(), own.Wait, own.Handle, own.Agents)
	}
}

// TestInsightsRefusesBadPeriods: a reversed or too long period is invalid; a period with
// nothing in it (long ago, or in the future) is empty, never an error.
func TestInsightsRefusesBadPeriods(t *testing.T) {
	db, _ := openClockedDB(t)
	ctx := context.Background()
	day := procBase.Truncate(24 * time.Hour)
	for _, p := range [][2]time.Time{{day, day.AddDate(0, 0, -1)}, {day.AddDate(-2, 0, 0), day}, {day.AddDate(0, 0, -store.MaxInsightDays), day}} {
		if _, err := db.Insights(ctx, store.InsightsQuery{From: p[0], To: p[1], Amber: time.Hour, Red: 2 * time.Hour}); err == nil {
			t.Errorf("%s..%s: no error", p[0].Format("2006-01-02"), p[1].Format("2006-01-02"))
		}
	}
	for _, p := range [][2]time.Time{{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1, 1, 3, 0, 0, 0, 0, time.UTC)},
		{day.AddDate(1, 0, 0), day.AddDate(1, 0, 6)}, {day.AddDate(0, 0, 1-store.MaxInsightDays), day}} {
		in, err := db.Insights(ctx, store.InsightsQuery{From: p[0], To: p[1], Amber: time.Hour, Red: 2 * time.Hour})
		if err != nil || in.Decisions() != 0 || len(in.Days) != int(p[1].Sub(p[0]).Hours()/24)+1 {
			t.Errorf("%s..%s: got %v %v", p[0].Format("2006-01-02"), p[1].Format("2006-01-02"), in, err)
		}
	}
}
