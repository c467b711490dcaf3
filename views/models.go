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
	Flash   string   // a one-line confirmation, English (the layout translates it)
	Counts  *Counts  // queue counters for the navigation; nil hides them
	// Theme is the user's colour theme override, "light" or "dark"; "" follows the
	// system's (prefers-color-scheme). Set by handlers' page() from the preferences.
	Theme string
	// URL is the address this page lives at, set when a POST re-renders a form (a failed
	// validation): static/shell.js puts it in the address bar, so reloading or sharing it
	// opens the page, not the POST's URL (405/404). "" leaves the address alone.
	URL string
	// CaseTools: the page has the face and video comparison tools, so the keyboard help
	// lists their keys too (other pages stay within the quality bar's page weight).
	CaseTools bool
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
	SSO     SSOLogin // single sign-on (issue 9, item 2; views/oidc.templ)
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
	Method     string // how it was signed in, for people (second factor, issue 9)
}

// AccountPage is "my account".
type AccountPage struct {
	NextAfterDecision bool
	Name              string
	Email             string
	Role              string
	Since             time.Time
	Sessions          []SessionRow
	SecondFactor      SecondFactorCard // second factor (issue 9)
	Prefs             PrefsForm        // language, theme and time zone (issue 12)
}

// PrefsForm is the language, theme and time zone form of "my account" (issue 12).
type PrefsForm struct {
	Language    string   // "" (the browser's), "en" or "es"
	Theme       string   // "auto", "light" or "dark"
	TimeZone    string   // "" (the browser's) or an IANA name; kept as typed after an error
	BrowserZone string   // the zone the browser reports, "" when unknown
	BrowserLang string   // the language the browser asks for (cookie or Accept-Language)
	Zones       []string // the common IANA zones the select offers
	Errors      FormErrors
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
	// The maxlength of the email and name fields: review.LimitUserEmail and
	// review.LimitUserName (issue 9).
	MaxEmail, MaxName int
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

	SecondFactor UserSecondFactor // second factor (issue 9)
}

// AuditRow is one audit event as a table shows it.
type AuditRow struct {
	At          time.Time
	Actor       string
	IP          string
	Action      string // the action's code, "auth.login"
	ActionLabel string // store.Action.Label(), English; the view translates it
	Object      string
	Outcome     string
	Detail      string // the log's own words, shown as they are
}

// ErrorPage is shown for any error status.
type ErrorPage struct {
	Status  int
	Title   string
	Message string
}

// Case timeline and notes (issue 11).

// IDTimeline is the root id of the process's timeline (first render and htmx swaps).
const IDTimeline = "timeline"

// TimelineView is a process's timeline: its events, oldest first, and the note form.
type TimelineView struct {
	ProcessURL string
	LatestURL  string // the newest events (the fragment's URL)
	OlderURL   string // the page of earlier events; "" when these start at the first one
	Older      bool   // this page shows earlier events, not the newest
	Entries    []TimelineEntry
	Form       NoteForm
}

// TimelineEntry is one event of a timeline, in words.
type TimelineEntry struct {
	At         time.Time
	Actor      string // who: a person's name, "System" or "Mobbscan"
	ActorEmail string // shown as a hint beside a person's name
	Kind       string // the stored action or event name (data-kind), for tests and styles
	What       string // "Viewed the live selfie", "Claimed the process"
	Detail     string
	Outcome    string // "failed" or "refused" when the audited attempt did not succeed; "" otherwise
	// A note: its id, text lines, the note it corrects and where to correct it.
	NoteID     int64
	NoteLines  []string
	NotePurged bool
	Corrects   int64
	CorrectURL string
}

// NoteForm is the "add an internal note" form under the timeline.
type NoteForm struct {
	Action    string // POST URL
	Body      string // what was typed, kept when refused
	MaxLength int
	Corrects  int64  // the note being corrected; 0 for a new note
	CancelURL string // leaves the correction
	Error     string // the refusal, shown beside the field
	Closed    string // why no note can be added now; the form is not shown
}
