package review

// The review rules, one definition each: who may claim, decide, review a decision a
// second time, retry or resolve a delivery and see an internal note; which delivery
// states can be retried or resolved; what an accept needs first; what aging and the
// score levels mean. Writes pass them to the store as store.Rule, which judges the rows
// inside the write's transaction; pages call the same functions to show what is allowed.

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// IsAdmin reports whether the actor has the admin role.
func IsAdmin(a store.Actor) bool { return a.Role == store.RoleAdmin }

// Claimable reports whether a process can be claimed: to review it while it awaits
// review, or to give its decision the second review (four-eyes).
func Claimable(p *store.Process) bool {
	return p.Reviewable && !p.Decided || p.AwaitingSecond
}

// mayClaim: a claimable process that nobody else holds, or, with takeover, that
// someone else holds (the takeover is audited).
func mayClaim(a store.Actor, takeover bool) store.Rule {
	return func(c *store.Case) error {
		p := c.Process
		if !Claimable(p) {
			return errorf(CodeConflict, "", "This process is not awaiting review any more.")
		}
		if p.ClaimActive(c.Now) && p.ClaimedBy != a.UserID && !takeover {
			return errorf(CodeConflict, "", "%s is reviewing this process. Use “Take over” to review it yourself.", p.ClaimedByName)
		}
		return nil
	}
}

// HoldsClaim (D6) reports, as an error, whether a holds the claim a page was rendered
// with (seq). A claim that lapsed with no heartbeat still counts while its number is
// unchanged: every claim, renewal and takeover changes it, so nobody took it since.
func HoldsClaim(a store.Actor, seq int64, c *store.Case) error {
	p := c.Process
	switch {
	case !Claimable(p):
		return errorf(CodeConflict, "", "This process is not awaiting review any more.")
	case seq != 0 && p.ClaimedBy == a.UserID && p.ClaimSeq == seq:
		return nil
	case p.ClaimedBy == a.UserID && p.ClaimActive(c.Now):
		return errorf(CodeConflict, "", "You opened this process again in another tab or window; continue there, or reload this page.")
	case p.ClaimActive(c.Now):
		return errorf(CodeConflict, "", "%s is reviewing this process now; only the agent holding it may decide.", p.ClaimedByName)
	}
	return errorf(CodeConflict, "", "You are no longer reviewing this process: its claim was released or expired. Reload the page to claim it again.")
}

func holdsClaim(a store.Actor, seq int64) store.Rule {
	return func(c *store.Case) error { return HoldsClaim(a, seq, c) }
}

// MissingForAccept (D7) lists what the claim holder has not been served during the
// current claim and must see before accepting: the process data (store.ProcessData) and
// every image the gateway lists for the process.
func MissingForAccept(c *store.Case) []store.EvidenceKind {
	var missing []store.EvidenceKind
	if !c.Served[store.ProcessData] {
		missing = append(missing, store.ProcessData)
	}
	for _, k := range c.Process.Images() {
		if !c.Served[k] {
			missing = append(missing, k)
		}
	}
	return missing
}

// MissingLabel names a missing item for the agent.
func MissingLabel(k store.EvidenceKind) string {
	if k == store.ProcessData {
		return "the identity data and checks"
	}
	return strings.ToLower(k.Label()[:1]) + k.Label()[1:]
}

func evidenceFirst(c *store.Case) error {
	missing := MissingForAccept(c)
	if len(missing) == 0 {
		return nil
	}
	names := make([]string, len(missing))
	for i, k := range missing {
		names[i] = MissingLabel(k)
	}
	return errorf(CodeConflict, "", "Accepting needs the evidence seen first; not loaded yet: %s. Reload it, or reject the process.", strings.Join(names, ", "))
}

// mayDecide (D1, D6, D7): only the holder of the page's claim decides a process awaiting
// review and not decided yet; an accept needs the evidence seen first.
func mayDecide(a store.Actor, seq int64, v store.Verdict) store.Rule {
	return func(c *store.Case) error {
		if err := decidable(a, seq, c); err != nil {
			return err
		}
		if v == store.VerdictAccept {
			return evidenceFirst(c)
		}
		return nil
	}
}

// decidable: the process awaits review, undecided, and a holds the page's claim.
func decidable(a store.Actor, seq int64, c *store.Case) error {
	p := c.Process
	switch {
	case c.Decision != nil || p.Decided:
		return store.ErrAlreadyDecided
	case !p.Reviewable:
		return store.ErrNotReviewable
	}
	return HoldsClaim(a, seq, c)
}

// MaySecondReview reports, as an error, whether a may give decision d its second
// review: it awaits one, and a did not make it.
func MaySecondReview(a store.Actor, d *store.Decision) error {
	switch {
	case d == nil || d.State != store.StateSecondReview:
		return errorf(CodeConflict, "", "This decision no longer awaits a second review.")
	case d.DecidedBy == a.UserID:
		return errorf(CodeForbidden, "", "You made this decision; another agent must review it.")
	}
	return nil
}

// maySecondReview (four-eyes, D6, D7): someone other than the decider, holding the
// page's claim; confirming an accept needs the evidence seen first.
func maySecondReview(a store.Actor, seq int64, confirm bool) store.Rule {
	return func(c *store.Case) error {
		if err := MaySecondReview(a, c.Decision); err != nil {
			return err
		}
		if err := HoldsClaim(a, seq, c); err != nil {
			return err
		}
		if confirm && c.Decision.Verdict == store.VerdictAccept {
			return evidenceFirst(c)
		}
		return nil
	}
}

// NeedsSecondReview applies the four-eyes settings to a decision.
func NeedsSecondReview(s FourEyes, v store.Verdict, hasFailed bool) bool {
	if v == store.VerdictReject {
		return s.Reject
	}
	return s.Accept || hasFailed && s.AcceptFailed
}

// FourEyes is which decisions wait for a second agent (admin settings).
type FourEyes struct{ Accept, AcceptFailed, Reject bool }

// DeliveryRetryable: a person may send the worker after the decision now: parked, in
// conflict, or waiting to retry after a failed attempt.
func DeliveryRetryable(d *store.Decision) bool {
	return d.State == store.StateParked || d.State == store.StateConflict || d.Retrying()
}

// DeliveryResolvable: a person may mark the decision settled by hand.
func DeliveryResolvable(d *store.Decision) bool {
	return d.State == store.StateParked || d.State == store.StateConflict
}

// MayManageDelivery: the decision's author or an admin may retry its delivery.
func MayManageDelivery(a store.Actor, d *store.Decision) bool {
	return d.DecidedBy == a.UserID || IsAdmin(a)
}

// MaySeeNote: the decision's internal note is for its author and admins.
func MaySeeNote(a store.Actor, d *store.Decision) bool { return MayManageDelivery(a, d) }

func mayRetry(a store.Actor) store.Rule {
	return func(c *store.Case) error {
		d := c.Decision
		switch {
		case !MayManageDelivery(a, d):
			return errorf(CodeForbidden, "", "Only the agent who decided or an administrator may retry the delivery.")
		case !DeliveryRetryable(d):
			return deliveryStateError(d)
		}
		return nil
	}
}

func mayResolve(a store.Actor) store.Rule {
	return func(c *store.Case) error {
		d := c.Decision
		switch {
		case !IsAdmin(a):
			return errorf(CodeForbidden, "", "Only an administrator may mark a decision resolved.")
		case !DeliveryResolvable(d) && d.State.Settled():
			return deliveryStateError(d)
		case !DeliveryResolvable(d):
			return errorf(CodeConflict, "", "Only a parked or conflicting decision can be marked resolved; this one is %s.", strings.ToLower(d.StateLabel()))
		}
		return nil
	}
}

// deliveryStateError says why a retry or resolve does not fit the decision's state.
func deliveryStateError(d *store.Decision) *Error {
	switch d.State {
	case store.StateSending:
		return errorf(CodeConflict, "", "This decision is being sent to Mobbscan right now. Wait for the outcome.")
	case store.StateSecondReview:
		return errorf(CodeConflict, "", "This decision waits for a second agent; it is sent once they confirm it.")
	case store.StateDelivered:
		return errorf(CodeConflict, "", "Mobbscan already has this decision.")
	case store.StateOverturned:
		return errorf(CodeConflict, "", "A second agent overturned this decision; it is never sent.")
	case store.StateResolved:
		return errorf(CodeConflict, "", "This decision was already marked resolved.")
	case store.StateQueued:
		return errorf(CodeConflict, "", "This decision is about to be sent; there is nothing to retry or resolve.")
	}
	return errorf(CodeConflict, "", "This decision cannot be changed in its current state.")
}

// HeartbeatEvery is how often an open page renews its claim: five beats per claim
// lifetime (a minute for the default five), so a lost claim shows within one beat.
func (c Config) HeartbeatEvery() time.Duration {
	return min(max(c.ClaimTTL/5, time.Second), time.Minute)
}

// Aging levels of a process waiting for review.
const (
	AgingNone  = ""
	AgingAmber = "amber"
	AgingRed   = "red"
)

// Aging grades how long a process has waited against the targets.
func (c Config) Aging(waited time.Duration) string {
	switch {
	case waited >= c.AgingRed:
		return AgingRed
	case waited >= c.AgingAmber:
		return AgingAmber
	}
	return AgingNone
}

// Score levels.
const (
	ScoreGood     = "good"
	ScoreDoubtful = "doubtful"
	ScoreBad      = "bad"
	ScoreInvalid  = "invalid" // outside [0, 1]: bad data from the gateway, never a percentage
)

// Score thresholds: below ScoreDoubtfulFrom is bad, from ScoreGoodFrom on is good.
const (
	ScoreDoubtfulFrom = 0.5
	ScoreGoodFrom     = 0.8
)

// ScoreLevel grades a score; scores are fractions in [0, 1].
func ScoreLevel(v float64) string {
	switch {
	case math.IsNaN(v) || v < 0 || v > 1:
		return ScoreInvalid
	case v >= ScoreGoodFrom:
		return ScoreGood
	case v >= ScoreDoubtfulFrom:
		return ScoreDoubtful
	}
	return ScoreBad
}

// ScoreThresholdsText explains the levels to people.
var ScoreThresholdsText = fmt.Sprintf("Below %d %% is doubtful; %d %% and above is a strong result.",
	int(ScoreDoubtfulFrom*100), int(ScoreGoodFrom*100))

// evidenceTypes allow-lists the content types each kind of evidence may have (P1).
var evidenceTypes = map[bool]map[string]bool{
	true:  {"image/jpeg": true, "image/png": true, "image/webp": true},
	false: {"video/webm": true, "video/mp4": true},
}

var zipTypes = map[string]bool{"application/zip": true, "application/x-zip-compressed": true}

// EvidenceTypeAllowed reports whether evidence of kind may be served as mediaType (P1).
func EvidenceTypeAllowed(k store.EvidenceKind, mediaType string) bool {
	switch {
	case k == store.EvidenceZIP:
		return zipTypes[mediaType]
	case k == store.EvidenceVideo, k.IsImage():
		return evidenceTypes[k.IsImage()][mediaType]
	}
	return false
}
