// Package auth holds password hashing, the password policy, sign-in throttling, the
// server-side session store and the middleware that puts the signed-in user on a request.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/sessions"

	"github.com/mobbscan-review/portal/store"
)

// Keys of the values a loaded session carries. They live only in memory: the cookie
// holds the opaque token and the row in SQLite is the truth (S1, S2).
const (
	valUser    = "user"    // *store.User
	valSession = "session" // *store.Session
	valActor   = "actor"   // store.Actor, set before Save to open a session
	valEnded   = "ended"   // string: why a presented session was ended (idle, expired, ...)
	valMethod  = "method"  // store.SignInMethod, set before Save to open a session
)

// SessionConfig configures the session cookie and timeouts.
type SessionConfig struct {
	// Secure selects the production cookie: "__Host-" name and the Secure flag. Off only
	// for plain-HTTP development on loopback.
	Secure bool
	Idle   time.Duration // idle timeout (S4), default 15 min
	Max    time.Duration // absolute lifetime (S4), default 8 h
}

// CookieName returns the session cookie's name.
func (c SessionConfig) CookieName() string {
	if c.Secure {
		return "__Host-portal_session"
	}
	return "portal_session"
}

// SessionStore is a gorilla/sessions Store backed by the sessions table.
type SessionStore struct {
	db  *store.DB
	cfg SessionConfig
}

var _ sessions.Store = (*SessionStore)(nil)

// NewSessionStore returns a store with defaults filled in.
func NewSessionStore(db *store.DB, cfg SessionConfig) *SessionStore {
	if cfg.Idle <= 0 {
		cfg.Idle = 15 * time.Minute
	}
	if cfg.Max <= 0 {
		cfg.Max = 8 * time.Hour
	}
	return &SessionStore{db: db, cfg: cfg}
}

// Config returns the store's configuration.
func (s *SessionStore) Config() SessionConfig { return s.cfg }

func (s *SessionStore) options() *sessions.Options {
	return &sessions.Options{Path: "/", HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteLaxMode}
}

// Get returns the request's session, cached per request.
func (s *SessionStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New loads the session named by the request's cookie. A missing, unknown, expired or
// idle session, or one whose account is disabled, yields a new empty session; an
// expired one is deleted and the reason kept under valEnded.
func (s *SessionStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	sess.Options = s.options()
	sess.IsNew = true
	c, err := r.Cookie(name)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return sess, nil
	}
	ctx := r.Context()
	row, user, err := s.db.SessionByTokenHash(ctx, store.HashToken(c.Value))
	if errors.Is(err, store.ErrNotFound) {
		sess.Values[valEnded] = "ended"
		return sess, nil
	}
	if err != nil {
		return sess, fmt.Errorf("load session: %w", err)
	}
	now := s.db.Now()
	reason := ""
	switch {
	case !user.Active:
		reason = "account disabled"
	case !now.Before(row.ExpiresAt):
		reason = "absolute timeout"
	case now.Sub(row.LastSeenAt) >= s.cfg.Idle:
		reason = "idle timeout"
	}
	if reason != "" {
		a := store.Actor{UserID: user.ID, Email: user.Email}
		if err := s.db.EndSession(ctx, a, user.ID, row.ID, reason); err != nil && !errors.Is(err, store.ErrNotFound) {
			return sess, err
		}
		sess.Values[valEnded] = reason
		return sess, nil
	}
	sess.ID = c.Value
	sess.IsNew = false
	sess.Values[valUser] = user
	sess.Values[valSession] = row
	return sess, nil
}

// Save persists the session. MaxAge < 0 ends it (logout). A session with a user and no
// ID is a new sign-in: it gets a fresh random token (S3) and a row.
func (s *SessionStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	ctx := r.Context()
	if sess.Options != nil && sess.Options.MaxAge < 0 {
		if row, ok := sess.Values[valSession].(*store.Session); ok {
			a, _ := sess.Values[valActor].(store.Actor)
			if err := s.db.EndSession(ctx, a, row.UserID, row.ID, "logout"); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", sess.Options))
		return nil
	}
	user, ok := sess.Values[valUser].(*store.User)
	if !ok || sess.ID != "" {
		return nil
	}
	token, err := randomToken()
	if err != nil {
		return err
	}
	now := s.db.Now()
	row := &store.Session{
		TokenHash: store.HashToken(token), UserID: user.ID, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(s.cfg.Max), IP: clientIP(sess), UserAgent: r.UserAgent(),
	}
	row.Method, _ = sess.Values[valMethod].(store.SignInMethod)
	a, _ := sess.Values[valActor].(store.Actor)
	if err := s.db.CreateSession(ctx, a, row); err != nil {
		return err
	}
	sess.ID = token
	sess.Values[valSession] = row
	http.SetCookie(w, sessions.NewCookie(sess.Name(), token, sess.Options))
	return nil
}

func clientIP(sess *sessions.Session) string {
	a, _ := sess.Values[valActor].(store.Actor)
	return a.IP
}

// StartSession opens a new session for user, signed in by method, replacing whatever
// session the request carried (session fixation, S3).
func (s *SessionStore) StartSession(w http.ResponseWriter, r *http.Request, a store.Actor, user *store.User, method store.SignInMethod) error {
	name := s.cfg.CookieName()
	old, err := s.Get(r, name)
	if err == nil && !old.IsNew {
		if row, ok := old.Values[valSession].(*store.Session); ok {
			if err := s.db.EndSession(r.Context(), a, row.UserID, row.ID, "replaced by new sign-in"); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
	}
	sess := sessions.NewSession(s, name)
	sess.Options = s.options()
	sess.IsNew = true
	sess.Values[valUser] = user
	sess.Values[valActor] = a
	sess.Values[valMethod] = method
	return s.Save(r, w, sess)
}

// EndSession ends the request's session (logout) and clears the cookie.
func (s *SessionStore) EndSession(w http.ResponseWriter, r *http.Request, a store.Actor) error {
	sess, err := s.Get(r, s.cfg.CookieName())
	if err != nil {
		return err
	}
	sess.Options.MaxAge = -1
	sess.Values[valActor] = a
	return s.Save(r, w, sess)
}

// touchEvery bounds how often activity is written: idle expiry is measured in minutes,
// so a write per request would be waste.
const touchEvery = 20 * time.Second

// Touch records activity on the session unless it was recorded very recently.
func (s *SessionStore) Touch(ctx context.Context, row *store.Session) error {
	now := s.db.Now()
	if now.Sub(row.LastSeenAt) < touchEvery {
		return nil
	}
	return s.db.TouchSession(ctx, row.ID, now)
}

// randomToken returns 256 random bits, base64url.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// NewToken returns a new 256-bit random token for one-time links.
func NewToken() (string, error) { return randomToken() }
