package review

import (
	"errors"
	"fmt"
	"time"

	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/mobbscan"
	"github.com/mobbscan-review/portal/store"
)

// Code classifies a workflow error. handlers/errors.go maps each code to an HTTP
// status in one table; nothing branches on an error's text.
type Code string

// The workflow's error codes.
const (
	CodeInvalid     Code = "invalid"     // the input breaks a rule; the form comes back with the message
	CodeNotFound    Code = "not_found"   // no such thing, or not for this user to see
	CodeConflict    Code = "conflict"    // the state does not allow it now (claim, decision, delivery)
	CodeForbidden   Code = "forbidden"   // this user may not do it, whatever the state
	CodeUnavailable Code = "unavailable" // Mobbscan did not answer usefully; try again later
	CodeConfirm     Code = "confirm"     // the input is fine but the person must confirm it first
	CodeBadGateway  Code = "bad_gateway" // Mobbscan answered with something the portal will not pass on
)

// CodeRateLimited: too many in too short a time; Error.RetryAfter says when to try
// again (issue 9).
const CodeRateLimited Code = "rate_limited"

// Error is the workflow's one error type (the WTF Dial pattern): a code, the form field
// it is about (empty for the whole form) and a message fit for the person who asked.
type Error struct {
	Code    Code
	Field   string
	Message string
	// Fields holds a message per form field when several fields are wrong at once
	// (corrections); Message then sums them up.
	Fields map[string]string
	Err    error // the cause, for logs; never shown
	// RetryAfter is how long to wait before trying again (CodeRateLimited), or 0.
	RetryAfter time.Duration
}

// fieldsOrNil finishes a form's CodeInvalid error from its messages per field: nil when
// there are none; one message is the error's own; several are summed up by many,
// placed on the field first.
func (e *Error) fieldsOrNil(first, many string) error {
	switch len(e.Fields) {
	case 0:
		return nil
	case 1:
		for f, msg := range e.Fields {
			e.Field, e.Message = f, msg
		}
	default:
		e.Field, e.Message = first, many
	}
	return e
}

func (e *Error) Error() string {
	if e.Err != nil {
		return string(e.Code) + ": " + e.Message + ": " + e.Err.Error()
	}
	return string(e.Code) + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// errorf returns an *Error with a formatted message.
func errorf(code Code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorOf returns the *Error in err's chain, or nil for an unexpected error (a 500).
func ErrorOf(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// ErrorCode returns the code of err, or "" for nil and unexpected errors.
func ErrorCode(err error) Code {
	if e := ErrorOf(err); e != nil {
		return e.Code
	}
	return ""
}

// Translate turns the store's sentinel errors into workflow errors, once, with the
// message people see; other errors pass unchanged (they are 500s). Handlers reading the
// store for display pass its errors through here too.
func Translate(err error) error { return translate(err) }

func translate(err error) error {
	if err == nil || ErrorOf(err) != nil {
		return err
	}
	switch {
	case errors.Is(err, store.ErrAlreadyDecided):
		return &Error{Code: CodeConflict, Message: i18n.M("This process was already decided. Nothing was changed."), Err: err}
	case errors.Is(err, store.ErrNotReviewable):
		return &Error{Code: CodeConflict, Message: i18n.M("This process is not awaiting review (it is decided, not finished or deleted). Nothing was changed."), Err: err}
	case errors.Is(err, store.ErrReasonInactive):
		return &Error{Code: CodeInvalid, Field: FieldReason, Message: i18n.M("That reason is unknown or retired; choose another."), Err: err}
	case errors.Is(err, store.ErrNotFound):
		return &Error{Code: CodeNotFound, Message: i18n.M("There is no such item."), Err: err}
	case errors.Is(err, store.ErrConflict):
		return &Error{Code: CodeConflict, Message: i18n.M("Someone else changed this in the meantime. Reload and try again."), Err: err}
	case errors.Is(err, store.ErrInvalid):
		return &Error{Code: CodeInvalid, Message: i18n.M("What was sent is not valid."), Err: err}
	}
	return err
}

// gatewayError turns a client error into a workflow error. notFound is the code for a
// process the gateway does not know, which depends on what was being done.
func gatewayError(err error, notFound Code) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mobbscan.ErrNotFound):
		return &Error{Code: notFound, Message: i18n.M("Mobbscan does not know this process (it may have been deleted)."), Err: err}
	case errors.Is(err, mobbscan.ErrBadRequest):
		return &Error{Code: CodeInvalid, Message: i18n.M("Mobbscan refused the request as invalid."), Err: err}
	}
	return &Error{Code: CodeUnavailable, Message: i18n.M("Mobbscan is not answering; try again in a moment."), Err: err}
}
