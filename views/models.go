// Package views holds the portal's templ components and the screen-shaped structs they
// take. It imports templ and the standard library only.
package views

import "time"

// Element ids shared by the first render and htmx fragment responses.
const (
	IDUserList     = "user-list"
	IDSessionList  = "session-list"
	IDMain         = "main"
	IDFlash        = "flash"
	HTMXVersion    = "2.0.11"
	htmxConfigJSON = `{"selfRequestsOnly":true,"allowEval":false,"allowScriptTags":false,"historyCacheSize":0,"includeIndicatorStyles":false,"refreshOnHistoryMiss":true}`
)

// NavUser is the signed-in user as the navigation shows them.
type NavUser struct {
	ID      int64
	Name    string
	Email   string
	Role    string
	IsAdmin bool
}

// Page is what every full page needs.
type Page struct {
	Title   string
	User    *NavUser // nil when signed out
	Section string   // highlights the navigation entry: "queue", "account", "users"
	Flash   string   // a one-line confirmation
	Counts  *Counts  // queue counters for the navigation; nil hides them
}

// FormErrors maps a field name ("" for the whole form) to its message.
type FormErrors map[string]string

// Has reports whether the form has any error.
func (e FormErrors) Has() bool { return len(e) > 0 }

// LoginForm is the sign-in page.
type LoginForm struct {
	Email   string
	Next    string
	Error   string
	Notice  string // e.g. "Your session has ended."
	Retry   time.Duration
	Disable bool
}

// PasswordForm is the page that sets a password: forced change, voluntary change or a
// one-time link.
type PasswordForm struct {
	Action        string // the POST target
	Heading       string
	Intro         string
	NeedCurrent   bool
	Email         string // for password managers
	Errors        FormErrors
	SubmitLabel   string
	LinkExpired   bool
	CancelURL     string
	HiddenToken   string
	MinLength     int
	MaxLength     int
	ForcedChange  bool
	PasswordRules string
}

// SessionRow is one session in a list.
type SessionRow struct {
	ID         int64
	Current    bool
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	IP         string
	UserAgent  string
	EndURL     string
}

// AccountPage is "my account".
type AccountPage struct {
	NextAfterDecision bool
	Name              string
	Email             string
	Role              string
	Since             time.Time
	Sessions          []SessionRow
}

// UserRow is one account in the admin list.
type UserRow struct {
	ID       int64
	Email    string
	Name     string
	Role     string
	Active   bool
	Sessions int
}

// UsersPage is the admin's reviewer list with the create form.
type UsersPage struct {
	Query  string
	Users  []UserRow
	Form   NewUserForm
	Notice string
}

// NewUserForm is the admin's "add a reviewer" form.
type NewUserForm struct {
	Email  string
	Name   string
	Role   string
	Errors FormErrors
}

// UserPage is one account for an admin.
type UserPage struct {
	User     UserRow
	Self     bool
	Created  time.Time
	Updated  time.Time
	Link     string // a freshly issued set-password link, shown once
	LinkTTL  time.Duration
	Sessions []SessionRow
	Errors   FormErrors
	Audit    []AuditRow
}

// AuditRow is one audit event as a table shows it.
type AuditRow struct {
	At      time.Time
	Actor   string
	IP      string
	Action  string
	Object  string
	Outcome string
	Detail  string
}

// ErrorPage is shown for any error status.
type ErrorPage struct {
	Status  int
	Title   string
	Message string
}
