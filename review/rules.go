package review

// The review rules, one definition each: who may claim, decide, review a decision a
// second time, retry or resolve a delivery and see an internal note; which delivery
// states can be retried or resolved; what an accept needs first; what aging and the
// score levels mean. Writes pass them to the store as store.Rule, which judges the rows
// inside the write's transaction; pages call the same functions to show what is allowed.

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/mobbscan-review/portal/i18n"
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
		if err := MayDecideEscalated(a, p); err != nil {
			return err
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

// MissingLabel names a missing item for the agent, in the middle of a sentence.
func MissingLabel(k store.EvidenceKind) string {
	switch k {
	case store.ProcessData:
		return i18n.M("the identity data and checks")
	case store.EvidenceDocumentFront:
		return i18n.M("document front")
	case store.EvidenceDocumentBack:
		return i18n.M("document back")
	case store.EvidenceFaceDocument:
		return i18n.M("portrait on the document")
	case store.EvidenceFaceNow:
		return i18n.M("live selfie")
	case store.EvidenceVideo:
		return i18n.M("liveness video")
	}
	return strings.ToLower(k.Label()[:1]) + k.Label()[1:]
}

func evidenceFirst(c *store.Case) error {
	missing := MissingForAccept(c)
	if len(missing) == 0 {
		return nil
	}
	// The list is built with a marked format, not strings.Join, so that the catalogue
	// can take it apart and translate each item.
	list := MissingLabel(missing[0])
	for _, k := range missing[1:] {
		list = fmt.Sprintf(i18n.M("%s, %s"), list, MissingLabel(k))
	}
	return errorf(CodeConflict, "", "Accepting needs the evidence seen first; not loaded yet: %s. Reload it, or reject the process.", list)
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
	if err := MayDecideEscalated(a, p); err != nil {
		return err
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
var ScoreThresholdsText = fmt.Sprintf(i18n.M("Below %d %% is doubtful; %d %% and above is a strong result."),
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

// Audit export (issue 11, item 6).

// MayExportAudit: only an administrator may export the audit log (the command line runs
// as an administrator: whoever runs it holds the database file).
func MayExportAudit(a store.Actor) error {
	if !IsAdmin(a) {
		return errorf(CodeForbidden, "", "Only an administrator may export the audit log.")
	}
	return nil
}

// Insights (issue 11, item 1).

// InsightsAgent is whose figures a may see when asking for requested's (0: everyone):
// an administrator sees anyone's or everyone's; an agent only ever their own, whatever
// the URL asks for.
func InsightsAgent(a store.Actor, requested int64) int64 {
	if IsAdmin(a) {
		return max(requested, 0)
	}
	return a.UserID
}

// Running the desk: skip, escalate, send back, QA sampling.
//
// Escalated cases are decided by administrators: the portal's two roles already split
// the staff into those who work the queue and those who oversee it, and a third
// "senior" role would touch every permission and account screen for one rule.

// MayDecideEscalated: an escalated case is claimed and decided by an administrator only.
func MayDecideEscalated(a store.Actor, p *store.Process) error {
	if p.Escalated() && !IsAdmin(a) {
		return errorf(CodeForbidden, "", "This case was escalated by %s; only an administrator may decide it.", orSomeone(p.EscalatedByName))
	}
	return nil
}

func orSomeone(name string) string {
	if name == "" {
		return i18n.M("an agent")
	}
	return name
}

// mayEscalate: the holder of the page's claim on a case awaiting its first review, not
// escalated yet; administrators decide escalated cases themselves.
func mayEscalate(a store.Actor, seq int64) store.Rule {
	return func(c *store.Case) error {
		p := c.Process
		switch {
		case IsAdmin(a):
			return errorf(CodeForbidden, "", "Administrators decide escalated cases themselves; there is nobody to escalate to.")
		case p.Escalated():
			return errorf(CodeConflict, "", "This case is already escalated.")
		case p.Decided || p.AwaitingSecond:
			return errorf(CodeConflict, "", "Only a case awaiting its first review can be escalated.")
		}
		return HoldsClaim(a, seq, c)
	}
}

// MayEscalate reports whether the page offers "Escalate" to a (it holds the claim).
func MayEscalate(a store.Actor, p *store.Process) bool {
	return !IsAdmin(a) && !p.Escalated() && !p.Decided && !p.AwaitingSecond && p.Reviewable
}

// mayDeescalate: an administrator returns an escalated case in review to the queue.
func mayDeescalate(a store.Actor) store.Rule {
	return func(c *store.Case) error {
		switch {
		case !IsAdmin(a):
			return errorf(CodeForbidden, "", "Only an administrator may return an escalated case to the queue.")
		case !c.Process.Escalated() || !c.Process.Reviewable:
			return errorf(CodeConflict, "", "This case is not escalated any more.")
		}
		return nil
	}
}

// SendBackable (the gateway's "pending"): a finished process the gateway still knows,
// whose decision, if the portal made one, the gateway has, and with no request to send
// it back under way.
func SendBackable(sc *store.SendBackCase) error {
	p, d := sc.Process, sc.Decision
	switch {
	case p.Gone:
		return errorf(CodeConflict, "", "Mobbscan no longer knows this process.")
	case !p.Final:
		return errorf(CodeConflict, "", "Only a finished process can be sent back to review; this one is not finished.")
	case d != nil && !d.State.Settled():
		return errorf(CodeConflict, "", "The decision on this process has not reached Mobbscan yet; it cannot be sent back until it has.")
	case sc.Latest != nil && sc.Latest.Open():
		return errorf(CodeConflict, "", "This process is already being sent back to review.")
	}
	return nil
}

func maySendBack(a store.Actor) store.SendBackRule {
	return func(sc *store.SendBackCase) error {
		if !IsAdmin(a) {
			return errorf(CodeForbidden, "", "Only an administrator may send a process back to review.")
		}
		return SendBackable(sc)
	}
}

// SendBackRetryable: a send-back that needs a person (failed or parked) may be queued again.
func SendBackRetryable(sb *store.SendBack) bool { return sb != nil && sb.State.NeedsPerson() }

func mayRetrySendBack(a store.Actor) store.SendBackRule {
	return func(sc *store.SendBackCase) error {
		switch {
		case !IsAdmin(a):
			return errorf(CodeForbidden, "", "Only an administrator may retry sending a process back.")
		case !SendBackRetryable(sc.Latest):
			return errorf(CodeConflict, "", "Only a failed or parked request can be retried.")
		}
		return nil
	}
}

// InSample reports whether a process falls in a QA sample of percent %: a hash of its
// id, so the draw is the same every time the portal looks (a process is never drawn
// twice, nor missed by a restart) and cannot be steered by the agents.
func InSample(id string, percent int) bool {
	sum := sha256.Sum256([]byte("qa-sample:" + id))
	return int(binary.BigEndian.Uint64(sum[:8])%100) < percent
}

// qaSample: the gateway verified the process automatically (final, verified, never
// decided in the portal), it was never sampled, and it falls in the sample.
func qaSample(percent int) store.SendBackRule {
	return func(sc *store.SendBackCase) error {
		p := sc.Process
		if p.Final && !p.Gone && p.Status == store.VerdictAccept.GatewayStatus() && !p.Decided && sc.Decision == nil &&
			!p.QASampled && sc.Latest == nil && InSample(p.ID, percent) {
			return nil
		}
		return errorf(CodeConflict, "", "not sampled")
	}
}

// Case notes (issue 11): who may add an internal note to a case's timeline.

// MayAddNote: any signed-in reviewer (agent or administrator) who may open the process:
// every signed-in account opens every indexed process, so every one adds notes and reads
// them in the timeline, including on decided and deleted processes. A process whose
// identity data retention cleared takes no more notes (they could bring personal data
// back) until the gateway puts it back into review.
func MayAddNote(a store.Actor, p *store.Process) error {
	switch {
	case a.UserID == 0 || !store.ValidRole(a.Role):
		return errorf(CodeForbidden, FieldNote, "Only a signed-in reviewer may add a note.")
	case !p.PurgedAt.IsZero():
		return errorf(CodeConflict, FieldNote, "Retention cleared this process's identity data, so notes can no longer be added to it.")
	}
	return nil
}

func mayAddNote(a store.Actor) store.Rule {
	return func(c *store.Case) error { return MayAddNote(a, c.Process) }
}

// Single sign-on (issue 9, item 2): who may still sign in with a password.

// MaySignInWithPassword: with "single sign-on is the only way in" on (and single sign-on
// configured: ssoOnly is false otherwise), only administrators keep their password, as
// the way back in when the identity provider is down or misconfigured; `portal user
// reset` gives an administrator a new password. Everyone else signs in through the
// identity provider.
func MaySignInWithPassword(ssoOnly bool, u *store.User) error {
	if !ssoOnly || u.IsAdmin() {
		return nil
	}
	return errorf(CodeForbidden, "", "Single sign-on is the only way to sign in here: use the single sign-on button.")
}

// Hardening (issue 9): refusal keys, the onboarding rate limit.

// DeniedRecorded is how many refused requests (access.denied) of one user or IP are
// audited one by one in a store.RefusalWindow; the rest are counted into one summary
// row (L3). Enough to see what someone tried, not enough to fill the audit.
const DeniedRecorded = 20

// RefusalKey is whom a refused request is counted against under the L3 bound: the
// signed-in user, else the client's IP.
func RefusalKey(a store.Actor) string {
	if a.UserID != 0 {
		return fmt.Sprintf("user:%d", a.UserID)
	}
	return "ip:" + a.IP
}

// Second factor (issue 9, item 1): who may change the policy and reset another
// account's second factor (quality bar A6, A8).

// MaySetSecondFactorPolicy: only an administrator changes who must use a second factor.
func MaySetSecondFactorPolicy(a store.Actor) error {
	if !IsAdmin(a) {
		return errorf(CodeForbidden, "", "Only an administrator may change the settings.")
	}
	return nil
}

// MayResetSecondFactor: an administrator resets another account's second factor, never
// their own (another administrator does that, or the operator's `portal user reset`):
// otherwise whoever holds an admin's session could drop the admin's second factor.
func MayResetSecondFactor(a store.Actor, target *store.User) error {
	switch {
	case !IsAdmin(a):
		return errorf(CodeForbidden, "", "Only an administrator may reset a second factor.")
	case a.UserID == target.ID:
		return errorf(CodeForbidden, "", "You cannot reset your own second factor; ask another administrator.")
	}
	return nil
}

// OnboardingsPerHour is how many onboardings one user may create in an hour: enough for
// a busy desk, not for a script filling the gateway (issue 9).
const OnboardingsPerHour = 30

// MayCreateOnboarding says whether a user who created created onboardings in the hour
// before now, the oldest of them at oldest, may create another; when not, the error
// says when they may (CodeRateLimited with RetryAfter).
func MayCreateOnboarding(created int, oldest, now time.Time) error {
	if created < OnboardingsPerHour {
		return nil
	}
	wait := max(oldest.Add(time.Hour).Sub(now), time.Second).Round(time.Second)
	e := errorf(CodeRateLimited, "", "You have created %d onboardings in the last hour, the most allowed; you can create another in %s.",
		created, wait)
	e.RetryAfter = wait
	return e
}
