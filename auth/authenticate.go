package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// ErrBadCredentials is the one answer for an unknown account, a wrong password and a
// disabled account (A4).
var ErrBadCredentials = errors.New("wrong email or password")

// ThrottledError says sign-in is refused for a while (A3).
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many attempts; try again in %s", e.RetryAfter.Round(time.Second))
}

// Authenticator checks credentials against the accounts table.
type Authenticator struct {
	DB       *store.DB
	Hasher   *Hasher
	Throttle *Throttle
}

// Authenticate returns the account for email and password, auditing the outcome.
// a carries the client's IP and request id.
func (au *Authenticator) Authenticate(ctx context.Context, a store.Actor, email, password string) (*store.User, error) {
	email = store.NormalizeEmail(email)
	if len(email) > 254 {
		email = email[:254]
	}
	a.Email = email
	if ok, retry, reason := au.Throttle.Allow(a.IP, email); !ok {
		if _, err := au.DB.AuditRefusal(ctx, a, store.Refusal{Key: refusalKeyIP(a.IP), Action: store.ActionLogin,
			ObjectType: "user", Outcome: store.OutcomeDenied, Detail: "throttled: " + reason}); err != nil {
			return nil, err
		}
		return nil, &ThrottledError{RetryAfter: retry}
	}
	user, err := au.DB.UserByEmail(ctx, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	valid := false
	if user != nil && user.PasswordHash != "" {
		ok, rehash, verr := au.Hasher.Verify(password, user.PasswordHash)
		valid = ok && verr == nil
		if valid && rehash {
			if h, err := au.Hasher.Hash(password); err == nil {
				_ = au.DB.RehashPassword(ctx, user.ID, h) // best effort: the old hash still works
			}
		}
	} else {
		au.Hasher.VerifyDummy(password)
	}
	if !valid || !user.Active {
		objectID := ""
		if user != nil {
			objectID = fmt.Sprint(user.ID)
			a.UserID = 0
		}
		detail := "bad credentials"
		if valid && !user.Active {
			detail = "account disabled"
		}
		if _, err := au.DB.AuditRefusal(ctx, a, store.Refusal{Key: refusalKeyIP(a.IP), Action: store.ActionLogin,
			ObjectType: "user", ObjectID: objectID, Outcome: store.OutcomeFailure, Detail: detail}); err != nil {
			return nil, err
		}
		if locked, lockFor := au.Throttle.Failure(email); locked {
			if _, err := au.DB.AuditRefusal(ctx, a, store.Refusal{Key: refusalKeyIP(a.IP), Action: store.ActionLockout,
				ObjectType: "user", ObjectID: objectID, Outcome: store.OutcomeDenied, Detail: "locked for " + lockFor.String()}); err != nil {
				return nil, err
			}
		}
		return nil, ErrBadCredentials
	}
	au.Throttle.Success(email)
	return user, nil
}

// CheckPassword verifies a signed-in user's current password (before a password
// change), under the same throttle as signing in, so a stolen session cannot guess it.
func (au *Authenticator) CheckPassword(ctx context.Context, a store.Actor, user *store.User, password string) error {
	if ok, retry := au.Throttle.AllowAccount(user.Email); !ok {
		if err := au.DB.Audit(ctx, a, store.ActionPasswordCheck, "user", fmt.Sprint(user.ID), store.OutcomeDenied, "throttled: account locked"); err != nil {
			return err
		}
		return &ThrottledError{RetryAfter: retry}
	}
	if ok, _, err := au.Hasher.Verify(password, user.PasswordHash); err == nil && ok {
		au.Throttle.Success(user.Email)
		return nil
	}
	if err := au.DB.Audit(ctx, a, store.ActionPasswordCheck, "user", fmt.Sprint(user.ID), store.OutcomeFailure, "wrong current password"); err != nil {
		return err
	}
	if locked, lockFor := au.Throttle.Failure(user.Email); locked {
		if err := au.DB.Audit(ctx, a, store.ActionLockout, "user", fmt.Sprint(user.ID), store.OutcomeDenied, "locked for "+lockFor.String()); err != nil {
			return err
		}
	}
	return ErrBadCredentials
}

// Hardening (issue 9, L3): refused sign-ins are audited through store.AuditRefusal, the
// first per client IP (IPv6: per /64, as the throttle counts) and window recorded, the
// later ones counted into it; the lockouts a client causes the same. So a client adds
// at most two rows a window, however many accounts it tries.

// refusalKeyIP is the refusal key of a client IP.
func refusalKeyIP(ip string) string { return "ip:" + store.ClientKey(ip) }
