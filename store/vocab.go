package store

// The workflow's vocabulary, declared once: verdicts, delivery states, audit actions,
// evidence kinds and score names are types with their labels. The store writes them,
// review judges them (review/rules.go) and handlers hand their labels to the views.

// Verdict is what an agent decided.
type Verdict string

// Verdicts.
const (
	VerdictAccept Verdict = "accept"
	VerdictReject Verdict = "reject"
)

// Valid reports whether v is a known verdict.
func (v Verdict) Valid() bool { return v == VerdictAccept || v == VerdictReject }

// Label is the verdict as a result: "Accepted" or "Rejected".
func (v Verdict) Label() string {
	if v == VerdictReject {
		return "Rejected"
	}
	return "Accepted"
}

// Verb is the verdict as an action: "accept" or "reject".
func (v Verdict) Verb() string { return string(v) }

// GatewayStatus is the process status at the gateway once the verdict is applied.
func (v Verdict) GatewayStatus() string {
	if v == VerdictReject {
		return "NOT_VERIFIED"
	}
	return "VERIFIED"
}

// Action is the audit action of a decision with this verdict.
func (v Verdict) Action() Action {
	if v == VerdictReject {
		return ActionDecisionReject
	}
	return ActionDecisionAccept
}

// DeliveryState is where a decision stands on its way to the gateway.
type DeliveryState string

// Delivery states of a decision.
const (
	StateSecondReview DeliveryState = "second_review" // waits for a second agent (four-eyes)
	StateQueued       DeliveryState = "queued"        // waits for the delivery worker
	StateSending      DeliveryState = "sending"       // a delivery attempt is under way
	StateDelivered    DeliveryState = "delivered"     // the gateway has the verdict
	StateConflict     DeliveryState = "conflict"      // the gateway holds another verdict, or refused it
	StateParked       DeliveryState = "parked"        // gave up retrying: needs a person
	StateOverturned   DeliveryState = "overturned"    // a second agent overturned it; never delivered
	StateResolved     DeliveryState = "resolved"      // an admin settled a conflict or a parked decision
)

// DeliveryStates lists every state, in the order a decision goes through them.
var DeliveryStates = []DeliveryState{StateSecondReview, StateQueued, StateSending, StateDelivered, StateConflict,
	StateParked, StateOverturned, StateResolved}

// Undelivered reports whether Mobbscan does not have the decision yet and may still get it.
func (s DeliveryState) Undelivered() bool {
	switch s {
	case StateQueued, StateSending, StateParked, StateConflict, StateSecondReview:
		return true
	}
	return false
}

// Settled reports whether the state no longer changes on its own.
func (s DeliveryState) Settled() bool {
	switch s {
	case StateQueued, StateSending, StateSecondReview:
		return false
	}
	return true
}

// Label names the state for people.
func (s DeliveryState) Label() string {
	switch s {
	case StateSecondReview:
		return "Awaiting second review"
	case StateQueued:
		return "Queued"
	case StateSending:
		return "Sending"
	case StateDelivered:
		return "Delivered"
	case StateConflict:
		return "Conflict"
	case StateParked:
		return "Parked"
	case StateOverturned:
		return "Overturned"
	case StateResolved:
		return "Resolved by hand"
	}
	return string(s)
}

// Help says in a sentence what the state means for the person looking at it.
func (s DeliveryState) Help() string {
	switch s {
	case StateSecondReview:
		return "A second agent must confirm it before it is sent to Mobbscan."
	case StateQueued:
		return "It is sent to Mobbscan in a moment."
	case StateSending:
		return "Being sent to Mobbscan now."
	case StateDelivered:
		return "Mobbscan has this verdict."
	case StateConflict:
		return "Mobbscan did not take this verdict; a person must look at it."
	case StateParked:
		return "Delivery stopped after failing for too long; a person must look at it."
	case StateOverturned:
		return "A second agent overturned it; it was never sent."
	case StateResolved:
		return "An administrator settled it."
	}
	return ""
}

// Tone is how the state is shown: "ok", "off" (needs a person) or "" (neutral).
func (s DeliveryState) Tone() string {
	switch s {
	case StateDelivered, StateResolved:
		return "ok"
	case StateConflict, StateParked:
		return "off"
	}
	return ""
}

// Retrying reports a queued decision that failed at least once.
func (d *Decision) Retrying() bool { return d.State == StateQueued && d.Attempts > 0 }

// StateLabel is the decision's state for people ("Retrying" for a queued decision that
// failed before).
func (d *Decision) StateLabel() string {
	if d.Retrying() {
		return "Retrying"
	}
	return d.State.Label()
}

// Action is what an audit row records.
type Action string

// Audit actions.
const (
	ActionLogin           Action = "auth.login"
	ActionLogout          Action = "auth.logout"
	ActionLockout         Action = "auth.lockout"
	ActionPasswordCheck   Action = "auth.password_check"
	ActionAccessDenied    Action = "access.denied"
	ActionAuditVerify     Action = "audit.verify"
	ActionProcessView     Action = "process.view"
	ActionProcessTrack    Action = "process.track"
	ActionProcessCreate   Action = "process.create"
	ActionProcessClaim    Action = "process.claim"
	ActionProcessTakeover Action = "process.takeover"
	ActionProcessRelease  Action = "process.release"
	ActionProcessReopen   Action = "process.reopen"
	ActionEvidenceView    Action = "evidence.view"
	ActionDecisionAccept  Action = "decision.accept"
	ActionDecisionReject  Action = "decision.reject"
	ActionDecisionRefuse  Action = "decision.refused"
	ActionConfirm         Action = "decision.confirm"
	ActionOverturn        Action = "decision.overturn"
	ActionDelivery        Action = "decision.delivery"
	ActionRetry           Action = "decision.retry"
	ActionResolve         Action = "decision.resolve"
	ActionUserCreate      Action = "user.create"
	ActionUserProfile     Action = "user.profile"
	ActionUserRole        Action = "user.role"
	ActionUserDisable     Action = "user.disable"
	ActionUserEnable      Action = "user.enable"
	ActionUserPassword    Action = "user.password"
	ActionPasswordLink    Action = "user.password_link"
	ActionUserSetting     Action = "user.setting"
	ActionSessionEnd      Action = "session.end"
	ActionSessionEndAll   Action = "session.end_all"
	ActionReasonCreate    Action = "reason.create"
	ActionReasonUpdate    Action = "reason.update"
	ActionReasonRetire    Action = "reason.retire"
	ActionReasonRestore   Action = "reason.restore"
	ActionReasonMove      Action = "reason.move"
	ActionSettingChange   Action = "setting.change"
)

// Actions lists the audit actions, in the order the audit log's filter offers them.
var Actions = []Action{
	ActionLogin, ActionLockout, ActionLogout, ActionPasswordCheck, ActionAccessDenied, ActionProcessView, ActionProcessTrack, ActionProcessCreate,
	ActionProcessClaim, ActionProcessTakeover, ActionProcessRelease, ActionProcessReopen, ActionProcessPurge,
	ActionProcessErase, ActionEvidenceView,
	ActionDecisionAccept, ActionDecisionReject, ActionDecisionRefuse, ActionConfirm, ActionOverturn, ActionDelivery,
	ActionRetry, ActionResolve, ActionUserCreate, ActionUserProfile, ActionUserRole, ActionUserDisable, ActionUserEnable,
	ActionUserPassword, ActionPasswordLink, ActionUserSetting, ActionSessionEnd, ActionSessionEndAll, ActionReasonCreate,
	ActionReasonUpdate, ActionReasonRetire, ActionReasonRestore, ActionReasonMove, ActionSettingChange, ActionAuditVerify,
	ActionNoteAdd, ActionProcessSkip, ActionProcessEscalate, ActionProcessSendBack, ActionProcessSample, ActionAuditExport,
	ActionSecondFactor, ActionSecondFactorEnrol, ActionRecoveryCodes, ActionSecondFactorReset, // second factor (issue 9)
}

// SignInMethod is how a session was signed in.
type SignInMethod string

// Sign-in methods.
const (
	SignInPassword SignInMethod = "password"          // a password alone
	SignInTOTP     SignInMethod = "password+totp"     // a password and a one-time code
	SignInRecovery SignInMethod = "password+recovery" // a password and a recovery code
	SignInOIDC     SignInMethod = "oidc"              // the organisation's identity provider
)

// Label names the method for people.
func (m SignInMethod) Label() string {
	switch m {
	case SignInPassword:
		return "Password"
	case SignInTOTP:
		return "Password and authenticator code"
	case SignInRecovery:
		return "Password and recovery code"
	case SignInOIDC:
		return "Single sign-on"
	}
	return string(m)
}

// Audit actions of running the desk.
const (
	// ActionNoteAdd: an internal note was added to a case (never sent to the gateway).
	ActionNoteAdd Action = "process.note"
	// ActionProcessSkip: an agent released a case and keeps it out of their "Next case"
	// for a while.
	ActionProcessSkip Action = "process.skip"
	// ActionProcessEscalate: a case was escalated (with a note) to those who may decide
	// escalated cases, or its escalation was withdrawn.
	ActionProcessEscalate Action = "process.escalate"
	// ActionProcessSendBack: a finished process was sent back to manual review at the
	// gateway: requested, retried, refused, or reached an outcome.
	ActionProcessSendBack Action = "process.send_back"
	// ActionProcessSample: a process the gateway verified automatically was picked by QA
	// sampling for a human check.
	ActionProcessSample Action = "process.sample"
	// ActionAuditExport: the audit log was exported (web or command line).
	ActionAuditExport Action = "audit.export"
)

// Label names an audit action for people, as a short past-tense phrase (the case
// timeline's "what"). Unknown actions show as they are stored. (Issue 11.)
func (a Action) Label() string {
	if l, ok := actionLabels[a]; ok {
		return l
	}
	return string(a)
}

var actionLabels = map[Action]string{
	ActionLogin: "Signed in", ActionLogout: "Signed out", ActionLockout: "Account locked",
	ActionPasswordCheck: "Password checked", ActionAccessDenied: "Refused access", ActionAuditVerify: "Verified the audit chain",
	ActionProcessView: "Opened the process", ActionProcessTrack: "Tracked the process by its id",
	ActionProcessCreate: "Created the onboarding", ActionProcessClaim: "Claimed the process",
	ActionProcessTakeover: "Took the process over", ActionProcessRelease: "Released the process",
	ActionProcessReopen: "Reopened: Mobbscan put it back into review", ActionEvidenceView: "Viewed evidence",
	ActionDecisionAccept: "Accepted", ActionDecisionReject: "Rejected", ActionDecisionRefuse: "Decision refused",
	ActionConfirm: "Confirmed the decision (second review)", ActionOverturn: "Overturned the decision (second review)",
	ActionDelivery: "Delivery to Mobbscan", ActionRetry: "Retried the delivery", ActionResolve: "Marked the delivery resolved",
	ActionUserCreate: "Created an account", ActionUserProfile: "Changed a profile", ActionUserRole: "Changed a role",
	ActionUserDisable: "Disabled an account", ActionUserEnable: "Enabled an account", ActionUserPassword: "Changed a password",
	ActionPasswordLink: "Issued a set-password link", ActionUserSetting: "Changed a setting", ActionSessionEnd: "Ended a session",
	ActionSessionEndAll: "Ended all sessions", ActionReasonCreate: "Added a reason", ActionReasonUpdate: "Changed a reason",
	ActionReasonRetire: "Retired a reason", ActionReasonRestore: "Restored a reason", ActionReasonMove: "Moved a reason",
	ActionSettingChange: "Changed a setting", ActionProcessPurge: "Cleared the identity data",
	ActionProcessErase: "Erasure at Mobbscan", ActionNoteAdd: "Added a note", ActionProcessSkip: "Skipped the case",
	ActionProcessEscalate: "Escalation", ActionProcessSendBack: "Sent back to review at Mobbscan",
	ActionProcessSample: "Picked for a QA check", ActionAuditExport: "Exported the audit log",
	// second factor (issue 9)
	ActionSecondFactor: "Second-factor code", ActionSecondFactorEnrol: "Set up an authenticator app",
	ActionRecoveryCodes: "Made new recovery codes", ActionSecondFactorReset: "Reset a second factor",
}

// EvidenceKind is one kind of evidence a process may have.
type EvidenceKind string

// Evidence kinds (the gateway's names).
const (
	EvidenceDocumentFront EvidenceKind = "document_front"
	EvidenceDocumentBack  EvidenceKind = "document_back"
	EvidenceFaceDocument  EvidenceKind = "face_document"
	EvidenceFaceNow       EvidenceKind = "face_now"
	EvidenceVideo         EvidenceKind = "video_liveness"
	EvidenceZIP           EvidenceKind = "zip" // every item in one archive
)

// EvidenceKinds lists the kinds a process may have, in display order (not the ZIP).
var EvidenceKinds = []EvidenceKind{EvidenceDocumentFront, EvidenceDocumentBack, EvidenceFaceDocument, EvidenceFaceNow, EvidenceVideo}

// EvidenceKindOf returns the kind named s, or false.
func EvidenceKindOf(s string) (EvidenceKind, bool) {
	for _, k := range EvidenceKinds {
		if string(k) == s {
			return k, true
		}
	}
	return "", false
}

// IsImage reports whether the kind is a picture (the video and the ZIP are not).
func (k EvidenceKind) IsImage() bool {
	switch k {
	case EvidenceDocumentFront, EvidenceDocumentBack, EvidenceFaceDocument, EvidenceFaceNow:
		return true
	}
	return false
}

// Label names the kind for people.
func (k EvidenceKind) Label() string {
	switch k {
	case EvidenceDocumentFront:
		return "Document front"
	case EvidenceDocumentBack:
		return "Document back"
	case EvidenceFaceDocument:
		return "Portrait on the document"
	case EvidenceFaceNow:
		return "Live selfie"
	case EvidenceVideo:
		return "Liveness video"
	case EvidenceZIP:
		return "All evidence (ZIP)"
	}
	return string(k)
}

// ScoreName names one of the scores the index keeps.
type ScoreName string

// Scores the index keeps, in Snapshot.Scores order.
const (
	ScoreFacialMatching       ScoreName = "facialMatching"
	ScoreLiveness             ScoreName = "liveness"
	ScoreDocumentAuthenticity ScoreName = "documentAuthenticity"
)

// ScoreNames are the kept scores in Snapshot.Scores order.
var ScoreNames = [3]ScoreName{ScoreFacialMatching, ScoreLiveness, ScoreDocumentAuthenticity}

// Short is the score's name in a table cell.
func (n ScoreName) Short() string {
	switch n {
	case ScoreFacialMatching:
		return "Face"
	case ScoreLiveness:
		return "Live"
	case ScoreDocumentAuthenticity:
		return "Doc"
	}
	return string(n)
}

// Label is the score's name with what it measures.
func (n ScoreName) Label() string {
	switch n {
	case ScoreFacialMatching:
		return "Face match with the document photo"
	case ScoreLiveness:
		return "Liveness (a real person, not a spoof)"
	case ScoreDocumentAuthenticity:
		return "Document authenticity"
	}
	return string(n)
}

// Audit actions of retention and erasure.
const (
	// ActionProcessPurge: the identity data of a process was cleared from the index, by
	// retention (actor: the system) or an administrator's "Erase now".
	ActionProcessPurge Action = "process.purge"
	// ActionProcessErase: the erasure of a process at the gateway was requested, retried,
	// refused, or reached an outcome (done, failed, parked).
	ActionProcessErase Action = "process.erase"
)

// ErasureState is where the erasure of a process at the gateway stands.
type ErasureState string

// Erasure states.
const (
	ErasureQueued  ErasureState = "queued"  // waits for the erasure worker
	ErasureSending ErasureState = "sending" // a DELETE is under way
	ErasureDone    ErasureState = "done"    // the gateway deleted it, or no longer knew it
	ErasureFailed  ErasureState = "failed"  // refused (by the gateway, or the process is back in the workflow): needs a person
	ErasureParked  ErasureState = "parked"  // gave up retrying: needs a person
)

// ErasureStates lists every state, in the order an erasure goes through them.
var ErasureStates = []ErasureState{ErasureQueued, ErasureSending, ErasureDone, ErasureFailed, ErasureParked}

// NeedsPerson reports whether the erasure stopped and waits for an administrator.
func (s ErasureState) NeedsPerson() bool { return s == ErasureFailed || s == ErasureParked }

// Label names the state for people.
func (s ErasureState) Label() string {
	switch s {
	case ErasureQueued:
		return "Queued"
	case ErasureSending:
		return "Sending"
	case ErasureDone:
		return "Erased"
	case ErasureFailed:
		return "Failed"
	case ErasureParked:
		return "Parked"
	}
	return string(s)
}

// Help says in a sentence what the state means.
func (s ErasureState) Help() string {
	switch s {
	case ErasureQueued:
		return "The portal asks Mobbscan to delete the process in a moment."
	case ErasureSending:
		return "The portal is asking Mobbscan to delete the process now."
	case ErasureDone:
		return "Mobbscan no longer holds the process."
	case ErasureFailed:
		return "The erasure was refused, by Mobbscan or because the process is back in the workflow; an administrator must look at it."
	case ErasureParked:
		return "The erasure stopped after failing for too long; an administrator must look at it."
	}
	return ""
}

// Tone is how the state is shown: "ok", "off" (needs a person) or "" (neutral).
func (s ErasureState) Tone() string {
	switch {
	case s == ErasureDone:
		return "ok"
	case s.NeedsPerson():
		return "off"
	}
	return ""
}

// Audit actions of the second factor (issue 9, item 1). A sign-in that passes it is the
// usual ActionLogin, with the method in its detail.
const (
	// ActionSecondFactor: a second-factor code (authenticator or recovery) was refused,
	// or a recovery code was spent.
	ActionSecondFactor Action = "auth.second_factor"
	// ActionSecondFactorEnrol: a user set up (or replaced) their authenticator app.
	ActionSecondFactorEnrol Action = "auth.totp_enrol"
	// ActionRecoveryCodes: a user replaced their recovery codes with new ones.
	ActionRecoveryCodes Action = "auth.recovery_codes"
	// ActionSecondFactorReset: an administrator (or the operator's command) removed
	// another account's second factor.
	ActionSecondFactorReset Action = "user.second_factor_reset"
)

// SecondFactorPolicy says who must sign in with a second factor (the admin setting
// SettingSecondFactorRequired).
type SecondFactorPolicy string

// Second-factor policies.
const (
	SecondFactorNobody   SecondFactorPolicy = "nobody"   // optional for everyone
	SecondFactorAdmins   SecondFactorPolicy = "admins"   // required for administrators
	SecondFactorEveryone SecondFactorPolicy = "everyone" // required for every account
)

// SecondFactorPolicies lists the policies in the order the settings page offers them.
var SecondFactorPolicies = []SecondFactorPolicy{SecondFactorNobody, SecondFactorAdmins, SecondFactorEveryone}

// Valid reports whether p is a known policy.
func (p SecondFactorPolicy) Valid() bool {
	return p == SecondFactorNobody || p == SecondFactorAdmins || p == SecondFactorEveryone
}

// Requires reports whether an account with role must sign in with a second factor.
func (p SecondFactorPolicy) Requires(role string) bool {
	switch p {
	case SecondFactorEveryone:
		return true
	case SecondFactorAdmins:
		return role == RoleAdmin
	}
	return false
}

// Label names the policy for people.
func (p SecondFactorPolicy) Label() string {
	switch p {
	case SecondFactorNobody:
		return "Nobody (optional)"
	case SecondFactorAdmins:
		return "Administrators"
	case SecondFactorEveryone:
		return "Everyone"
	}
	return string(p)
}

// ProcessEventKinds lists the process events (store/timeline.go), for whatever names
// them all (the message catalogue's test).
var ProcessEventKinds = []ProcessEventKind{EventNotified, EventIndexed, EventStatus, EventGone}
