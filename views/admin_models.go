package views

import "time"

// Element ids of the admin pages, shared by the first render and htmx fragments.
const (
	IDAdminReasonList   = "admin-reason-list"
	IDAdminReasonEdit   = "reason-edit"
	IDAdminDeliveryList = "admin-delivery-list"
	IDAdminAuditVerify  = "admin-audit-verify"
	// IDAdminDeliveryStatus is the deliveries page's status line (role=status), on the
	// page from the start so that what an htmx answer puts in it is announced.
	IDAdminDeliveryStatus = "admin-delivery-status"
)

// AdminReasonRow is one reason of the catalogue as the admin list shows it.
type AdminReasonRow struct {
	ID           int64
	Code         string
	Label        string
	CustomerText string
	Position     int    // 1-based among the active reasons; 0 when retired
	Key          string // "1".."9" for the first nine active reasons, else ""
	Active       bool
	InUse        bool // decisions refer to it
	First, Last  bool // among the active ones: cannot move further up / down
}

// AdminReasonForm is the "add a reason" form, or the edit form of one reason (ID set).
type AdminReasonForm struct {
	ID           int64
	Code         string
	Label        string
	CustomerText string
	Errors       FormErrors
	Limits       ReasonLimits
}

// ReasonLimits are the lengths a reason's fields may have (the server's rules).
type ReasonLimits struct{ Code, Label, Text int }

// AdminReasonsPage is the reason catalogue with its forms.
type AdminReasonsPage struct {
	Reasons []AdminReasonRow
	Form    AdminReasonForm  // add a reason
	Edit    *AdminReasonForm // the reason being edited, if any
}

// AdminDeliveryRow is one decision on its way to the gateway (or just delivered).
type AdminDeliveryRow struct {
	ID          int64
	ProcessID   string
	ProcessURL  string
	Holder      string
	Verdict     string // the verdict's label, English ("Accepted", "Rejected"); the view translates it
	VerdictCode string // "accept" or "reject"
	Reason      string
	DecidedBy   string
	DecidedAt   time.Time
	State       string // store state
	StateLabel  string // English; the view translates it
	StateClass  string // "ok", "off" or ""
	Attempts    int
	NextAttempt time.Time // zero unless queued
	LastError   string    // the gateway's words, shown as they are
	DeliveredAt time.Time
	RetryURL    string // set when "Retry now" applies
	MaxNote     int    // the resolve note's length limit
	ResolveURL  string // set when "Mark resolved" applies
	Note        string // the resolve note typed, after a refused submit
	NoteError   string // English; the view translates it
}

// AdminDeliveriesPage lists the decisions not yet delivered and the recent deliveries.
type AdminDeliveriesPage struct {
	Pending   []AdminDeliveryRow
	More      bool   // more undelivered decisions than shown
	Notice    string // what the last action did (English; the view translates it)
	Problem   string // why the last action was refused (English; the view translates it)
	Delivered []AdminDeliveryRow
}

// AdminSetting is one on/off setting.
type AdminSetting struct {
	Key   string
	Label string // English; the view translates it
	Help  string // English; the view translates it
	On    bool
}

// AdminSettingsPage is the settings form.
type AdminSettingsPage struct {
	FourEyes  []AdminSetting
	Retention RetentionForm
	Erasures  AdminErasures
	Desk      DeskSettingsForm
	SSO       SSOSettingsForm // single sign-on (issue 9, item 2; views/oidc.templ)

	SecondFactor SecondFactorPolicyForm // second factor (issue 9, item 1; views/totp.templ)
}

// Element ids of the retention part of the settings page.
const (
	IDRetention = "retention"
	IDErasures  = "erasures"
)

// RetentionForm is the retention settings form: the periods as typed (or stored), the
// configured defaults, the limits of the server's check, and the messages per field.
type RetentionForm struct {
	KeepDays     string
	EraseDays    string
	DefaultKeep  int
	DefaultErase int // 0: never
	MinDays      int
	MaxDays      int
	Errors       FormErrors // by field: "retention_days", "erase_after_days"
}

// AdminErasureRow is one erasure at Mobbscan not done yet.
type AdminErasureRow struct {
	ID          int64
	ProcessID   string
	ProcessURL  string
	State       string // store state
	StateLabel  string
	StateHelp   string
	StateClass  string // "ok", "off" or ""
	RequestedBy string // "" for the retention worker
	RequestedAt time.Time
	Attempts    int
	NextAttempt time.Time // zero unless queued
	LastError   string
	RetryURL    string // set when "Retry now" applies
}

// AdminErasures lists the erasures at Mobbscan that are not done, those needing a person
// first.
type AdminErasures struct {
	Rows   []AdminErasureRow
	More   bool   // more than shown
	Notice string // what the last action did (English; the view translates it)
}

// EraseControl is the "Erase now" control of the process page, for administrators.
type EraseControl struct {
	URL         string    // the confirmation page; "" when erasing is not possible now
	Blocked     string    // why it is not possible now ("" when it is, or when it is done)
	PurgedAt    time.Time // when the identity data was cleared here; zero if not
	State       string    // erasure state at Mobbscan; "" when none was queued
	StateLabel  string
	StateHelp   string
	StateClass  string
	ErasuresURL string // the settings page's list of erasures
}

// AdminEraseProcessPage is the confirmation page of "Erase now", and after the request
// what became of it.
type AdminEraseProcessPage struct {
	ID          string
	ProcessURL  string
	ActionURL   string // the POST; "" when erasing is not possible (Blocked says why)
	Holder      string
	CustomerRef string
	Status      string
	Blocked     string
	Notice      string // why the last request was refused
	Erase       EraseControl
}

// AdminAuditRow is one audit event on the audit page.
type AdminAuditRow struct {
	ID          int64
	At          time.Time
	Actor       string
	IP          string
	RequestID   string
	Action      string // the action's code, "auth.login"
	ActionLabel string // store.Action.Label(), English; the view translates it
	ObjectKind  string // the object's kind for people, English ("Process"); "" when none
	ObjectID    string
	ObjectURL   string // the audit log filtered on this object
	Outcome     string
	Detail      string
}

// AdminAuditVerify is the result of checking the hash chain.
type AdminAuditVerify struct {
	Intact   bool
	Events   int    // events checked (all of them when intact)
	BrokenID int64  // the first broken event
	Problem  string // what is wrong with it (the store's words, English)
}

// AdminAuditPage is the audit log with filters and keyset pagination.
type AdminAuditPage struct {
	Rows        []AdminAuditRow
	Actions     []Option
	ObjectTypes []Option
	ObjectID    string
	Filtered    bool
	NextURL     string // older events; "" on the last page
	FirstURL    string // the newest events; "" on the first page
	Verify      *AdminAuditVerify
}
