package review

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mobbscan-review/portal/i18n"
)

// Form field names the workflow's errors refer to (Error.Field).
const (
	FieldReason   = "reason"
	FieldAddition = "addition"
	FieldNote     = "note"
	FieldConfirm  = "confirm"
	FieldFields   = "fields" // the correction block as a whole
	FieldPrefix   = "field." // a corrected field: FieldPrefix + key, e.g. "field.dateOfBirth"
)

// TextLimit is the rule for one text a person types: its length and character set.
type TextLimit struct {
	Field     string // form field (Error.Field)
	What      string // how messages name it: "The addition to the customer"
	Max       int    // runes, after trimming
	Required  bool
	MultiLine bool // line breaks allowed (an internal note); never other control characters
}

// The limits of everything a person types, declared once: the forms (maxlength), the
// workflow and the messages all read them from here.
var (
	LimitAddition     = TextLimit{Field: FieldAddition, What: i18n.M("The addition to the customer"), Max: 500}
	LimitNote         = TextLimit{Field: FieldNote, What: i18n.M("The internal note"), Max: 2000, MultiLine: true}
	LimitOverturnNote = TextLimit{Field: FieldNote, What: i18n.M("The reason for overturning"), Max: 500, Required: true}
	LimitResolveNote  = TextLimit{Field: FieldNote, What: i18n.M("The note"), Max: 500, Required: true}
	LimitReasonLabel  = TextLimit{Field: "label", What: i18n.M("The label"), Max: 100, Required: true}
	LimitCustomerRef  = TextLimit{Field: "ref", What: i18n.M("The customer reference"), Max: 100}
	LimitReasonText   = TextLimit{Field: FieldReasonText, What: i18n.M("The wording for the customer"), Max: 500, Required: true}
	LimitCorrection   = 200 // runes of a corrected value (the generic rule; some fields are stricter)
)

// Check trims s (line breaks \r\n and \r become \n first) and returns it, or an
// *Error{Code: CodeInvalid, Field: l.Field, Message: ...} with a clear sentence, e.g.
// "The addition to the customer is too long: 500 characters at most (you wrote 512)."
//
// The text must be valid UTF-8 and pass the character rule (quality bar C5): no
// control characters (but '\n' when l.MultiLine), no bidirectional formatting
// characters, no U+2028, U+2029 or U+FEFF. Positions in messages count characters
// (runes) from 1 in the trimmed text. An empty text is an error only when l.Required;
// a zero Max refuses any non-empty text.
func (l TextLimit) Check(s string) (string, error) {
	s = strings.TrimSpace(normaliseLineBreaks(s))
	if s == "" {
		if l.Required {
			return "", &Error{Code: CodeInvalid, Field: l.Field, Message: fmt.Sprintf(i18n.M("Enter %s."), lowerWhat(l.What))}
		}
		return "", nil
	}
	if err := refuseCharacters(l.Field, l.What, s, l.MultiLine); err != nil {
		return "", err
	}
	if err := refuseLength(l.Field, l.What, s, l.Max); err != nil {
		return "", err
	}
	return s, nil
}

// normaliseLineBreaks turns \r\n and lone \r into \n (browsers send \r\n from a textarea).
func normaliseLineBreaks(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// whatInSentence names each limit, and each corrected date, in the middle of a
// sentence ("Enter the note."), marked for the catalogue: a message's arguments are
// translated on their own, so the lower-case forms need their own entries.
var whatInSentence = map[string]string{
	"The addition to the customer":   i18n.M("the addition to the customer"),
	"The internal note":              i18n.M("the internal note"),
	"The reason for overturning":     i18n.M("the reason for overturning"),
	"The note":                       i18n.M("the note"),
	"The label":                      i18n.M("the label"),
	"The customer reference":         i18n.M("the customer reference"),
	"The wording for the customer":   i18n.M("the wording for the customer"),
	"The reason for escalating":      i18n.M("the reason for escalating"),
	"The reason for sending it back": i18n.M("the reason for sending it back"),
	"The display name":               i18n.M("the display name"),
	"The email address":              i18n.M("the email address"),
	"The account":                    i18n.M("the account"),
	"The date of birth":              i18n.M("the date of birth"),
	"The expiry date":                i18n.M("the expiry date"),
}

// lowerWhat turns "The note" into "the note" for the middle of a sentence.
func lowerWhat(what string) string {
	if s, ok := whatInSentence[what]; ok {
		return s
	}
	if rest, ok := strings.CutPrefix(what, "The "); ok {
		return "the " + rest
	}
	return what
}

// refuseLength refuses s when it has more than max runes.
func refuseLength(field, what, s string, max int) *Error {
	if n := utf8.RuneCountInString(s); n > max {
		return errorf(CodeInvalid, field, "%s is too long: %d characters at most (you wrote %d).", what, max, n)
	}
	return nil
}

// refuseCharacters is the character rule of quality bar C5, the one place it is
// written: it refuses invalid UTF-8, every Unicode control character (Cc) except '\n'
// when multiLine, the bidirectional formatting characters (U+061C, U+200E, U+200F,
// U+202A–U+202E, U+2066–U+2069), the line and paragraph separators U+2028 and U+2029
// and U+FEFF. The message names the first offending character and its position
// (characters counted from 1). It returns nil when s is acceptable.
func refuseCharacters(field, what, s string, multiLine bool) *Error {
	if !utf8.ValidString(s) {
		return errorf(CodeInvalid, field, "%s contains characters that could not be read; type it again instead of pasting it.", what)
	}
	pos := 0
	for _, r := range s {
		pos++
		if r == '\n' && multiLine {
			continue
		}
		one, many := forbiddenCharacter(r)
		switch {
		case one == "":
			continue
		case r == '\n':
			return errorf(CodeInvalid, field, "%s contains a line break at character %d; it must be on one line.", what, pos)
		default:
			return errorf(CodeInvalid, field, "%s contains %s at character %d; %s are not allowed.", what, one, pos, many)
		}
	}
	return nil
}

// forbiddenCharacter names r, once and in the plural, when the character rule refuses
// it; it returns "" for an allowed character ('\n' included: the caller decides).
func forbiddenCharacter(r rune) (one, many string) {
	switch {
	case r == '\n':
		return i18n.M("a line break"), i18n.M("line breaks")
	case r == '\t':
		return i18n.M("a tab"), i18n.M("tabs")
	case unicode.Is(unicode.Cc, r):
		return i18n.M("an invisible control character"), i18n.M("control characters")
	case r == '\u061C', r == '\u200E', r == '\u200F',
		r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069':
		return i18n.M("an invisible direction-control character"), i18n.M("direction-control characters")
	case r == '\u2028':
		return i18n.M("an invisible line separator"), i18n.M("line separators")
	case r == '\u2029':
		return i18n.M("an invisible paragraph separator"), i18n.M("paragraph separators")
	case r == '\uFEFF':
		return i18n.M("an invisible formatting character"), i18n.M("invisible formatting characters")
	}
	return "", ""
}

// Limits of running the desk (escalation, send-back).
var (
	LimitEscalationNote = TextLimit{Field: "escalation_note", What: i18n.M("The reason for escalating"), Max: 1000, Required: true, MultiLine: true}
	LimitSendBackReason = TextLimit{Field: "send_back_reason", What: i18n.M("The reason for sending it back"), Max: 500, Required: true}
)

// Limits of case notes (issue 11): the internal notes of a case's timeline. Line breaks
// are allowed, every other control character refused (the C5 rule of Check).
var LimitCaseNote = TextLimit{Field: FieldNote, What: i18n.M("The note"), Max: 2000, Required: true, MultiLine: true}
