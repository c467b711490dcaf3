package review

import (
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/store"
)

// Hardening (issue 9, C5): the rules of an account's email and display name, one place
// for the admin's form and the `portal user add` command. Both refuse control and
// direction-control characters (the character rule of TextLimit.Check), so no name or
// email can reorder the audit log or a page.

// Form fields of an account.
const (
	FieldEmail = "email"
	FieldName  = "name"
	FieldRole  = "role"
)

// The limits of an account's email and display name (the users table checks the same).
var (
	LimitUserName  = TextLimit{Field: FieldName, What: i18n.M("The display name"), Max: 100, Required: true}
	LimitUserEmail = TextLimit{Field: FieldEmail, What: i18n.M("The email address"), Max: 254, Required: true}
)

// msgEmailShape is the message of an email that is not a plain address.
var msgEmailShape = i18n.M("Enter an email address like name@example.com.")

// CheckNewUser checks an account's email, display name and role, returning the trimmed
// email and name, and a message per wrong field (nil when all are right).
func CheckNewUser(email, name, role string) (string, string, map[string]string) {
	errs := map[string]string{}
	email, err := CheckEmail(email)
	email = strings.TrimSpace(email)
	if err != nil {
		errs[FieldEmail] = ErrorOf(err).Message
	}
	name = strings.TrimSpace(name)
	if cerr := refuseCharacters(FieldName, LimitUserName.What, name, false); cerr != nil {
		errs[FieldName] = cerr.Message
	} else if n := utf8.RuneCountInString(name); n == 0 || n > LimitUserName.Max {
		errs[FieldName] = i18n.M("Enter a display name of 1 to 100 characters.")
	}
	if !store.ValidRole(role) {
		errs[FieldRole] = i18n.M("Choose agent or admin.")
	}
	if len(errs) == 0 {
		return email, name, nil
	}
	return email, name, errs
}

// CheckEmail trims an email address and checks it: a plain address (no display name),
// at most 254 characters, a dot in it, and no control or direction-control character.
func CheckEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", &Error{Code: CodeInvalid, Field: FieldEmail, Message: msgEmailShape}
	}
	if err := refuseCharacters(FieldEmail, LimitUserEmail.What, s, false); err != nil {
		return s, err
	}
	if err := refuseLength(FieldEmail, LimitUserEmail.What, s, LimitUserEmail.Max); err != nil {
		return s, err
	}
	if addr, err := mail.ParseAddress(s); err != nil || addr.Address != s || len(s) > LimitUserEmail.Max || !strings.Contains(s, ".") {
		return s, &Error{Code: CodeInvalid, Field: FieldEmail, Message: msgEmailShape}
	}
	return s, nil
}
