package review

import (
	"strings"
	"testing"
)

// invalidError returns err as an *Error with CodeInvalid, or fails the test.
func invalidError(t *testing.T, err error) *Error {
	t.Helper()
	e := ErrorOf(err)
	if e == nil {
		t.Fatalf("got error %v (%T), want an *Error", err, err)
	}
	if e.Code != CodeInvalid {
		t.Errorf("code: got %q, want %q", e.Code, CodeInvalid)
	}
	if !strings.HasSuffix(e.Message, ".") {
		t.Errorf("message %q does not end with a period", e.Message)
	}
	return e
}

func TestTextLimitCheck(t *testing.T) {
	tests := []struct {
		name  string
		limit TextLimit
		in    string
		want  string // the accepted text, when msg is ""
		msg   string // the whole message of the error
	}{
		{"plain", LimitAddition, "Please send a sharper photo.", "Please send a sharper photo.", ""},
		{"trimmed", LimitAddition, " \t Thanks \n ", "Thanks", ""},
		{"other scripts", LimitAddition, "Привет, مرحبا, 你好, O’Brien, 👩‍👩‍👧", "Привет, مرحبا, 你好, O’Brien, 👩‍👩‍👧", ""},
		{"empty, optional", LimitAddition, "", "", ""},
		{"blank, optional", LimitAddition, " \r\n\t ", "", ""},
		{"exactly the max", LimitAddition, strings.Repeat("é", 500), strings.Repeat("é", 500), ""},
		{"exactly the max with spaces around", LimitAddition, "  " + strings.Repeat("é", 500) + "\n", strings.Repeat("é", 500), ""},
		{"too long by one", LimitAddition, strings.Repeat("é", 501), "",
			"The addition to the customer is too long: 500 characters at most (you wrote 501)."},
		{"too long", LimitAddition, strings.Repeat("a", 512), "",
			"The addition to the customer is too long: 500 characters at most (you wrote 512)."},
		{"NUL", LimitAddition, "abc\x00def", "",
			"The addition to the customer contains an invisible control character at character 4; control characters are not allowed."},
		{"DEL", LimitAddition, "a\x7f", "",
			"The addition to the customer contains an invisible control character at character 2; control characters are not allowed."},
		{"C1 control", LimitAddition, "a\u009bb", "",
			"The addition to the customer contains an invisible control character at character 2; control characters are not allowed."},
		{"next line inside", LimitAddition, "a\u0085b", "",
			"The addition to the customer contains an invisible control character at character 2; control characters are not allowed."},
		{"tab inside", LimitAddition, "a\tb", "",
			"The addition to the customer contains a tab at character 2; tabs are not allowed."},
		{"CR LF in a single line", LimitAddition, "line one\r\nline two", "",
			"The addition to the customer contains a line break at character 9; it must be on one line."},
		{"lone CR in a single line", LimitAddition, "line one\rline two", "",
			"The addition to the customer contains a line break at character 9; it must be on one line."},
		{"LF in a single line", LimitAddition, "a\nb", "",
			"The addition to the customer contains a line break at character 2; it must be on one line."},
		{"right-to-left override", LimitAddition, "Your document\u202Egpj.exe", "",
			"The addition to the customer contains an invisible direction-control character at character 14; direction-control characters are not allowed."},
		{"left-to-right isolate", LimitAddition, "\u2066abc", "",
			"The addition to the customer contains an invisible direction-control character at character 1; direction-control characters are not allowed."},
		{"position counted after trimming", LimitAddition, "   ab\u2069", "",
			"The addition to the customer contains an invisible direction-control character at character 3; direction-control characters are not allowed."},
		{"line separator", LimitAddition, "a\u2028b", "",
			"The addition to the customer contains an invisible line separator at character 2; line separators are not allowed."},
		{"paragraph separator", LimitAddition, "a\u2029b", "",
			"The addition to the customer contains an invisible paragraph separator at character 2; paragraph separators are not allowed."},
		{"byte order mark", LimitAddition, "\uFEFFabc", "",
			"The addition to the customer contains an invisible formatting character at character 1; invisible formatting characters are not allowed."},
		{"invalid UTF-8", LimitAddition, "caf\xe9", "",
			"The addition to the customer contains characters that could not be read; type it again instead of pasting it."},

		{"multi-line note, CR LF and CR normalised", LimitNote, "first\r\nsecond\rthird\n\nfourth\r\n", "first\nsecond\nthird\n\nfourth", ""},
		{"multi-line note at the max, a line break counts once", LimitNote, strings.Repeat("ab\r\n", 666) + "xy", strings.Repeat("ab\n", 666) + "xy", ""},
		{"multi-line note too long", LimitNote, strings.Repeat("x", 2001), "",
			"The internal note is too long: 2000 characters at most (you wrote 2001)."},
		{"multi-line note with a tab", LimitNote, "a\n\tb", "",
			"The internal note contains a tab at character 3; tabs are not allowed."},
		{"multi-line note with NUL", LimitNote, "a\n\x00", "",
			"The internal note contains an invisible control character at character 3; control characters are not allowed."},
		{"multi-line note with a line separator", LimitNote, "a\u2028b", "",
			"The internal note contains an invisible line separator at character 2; line separators are not allowed."},
		{"multi-line note with an override", LimitNote, "a\n\u202Db", "",
			"The internal note contains an invisible direction-control character at character 3; direction-control characters are not allowed."},

		{"required, empty", LimitOverturnNote, "", "", "Enter the reason for overturning."},
		{"required, blank", LimitResolveNote, " \r\n ", "", "Enter the note."},
		{"required label", LimitReasonLabel, "", "", "Enter the label."},
		{"required wording", LimitReasonText, "\t", "", "Enter the wording for the customer."},
		{"required, given", LimitReasonText, " Your document has expired. ", "Your document has expired.", ""},
		{"zero limit refuses any text", TextLimit{Field: "x", What: "The text"}, "a", "",
			"The text is too long: 0 characters at most (you wrote 1)."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.limit.Check(tt.in)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("Check(%q): got error %v, want %q", tt.in, err, tt.want)
				}
				if got != tt.want {
					t.Errorf("Check(%q): got %q, want %q", tt.in, got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check(%q): got %q and no error, want %q", tt.in, got, tt.msg)
			}
			e := invalidError(t, err)
			if e.Message != tt.msg {
				t.Errorf("Check(%q): got message %q, want %q", tt.in, e.Message, tt.msg)
			}
			if e.Field != tt.limit.Field {
				t.Errorf("Check(%q): got field %q, want %q", tt.in, e.Field, tt.limit.Field)
			}
			if got != "" {
				t.Errorf("Check(%q): got %q with the error, want \"\"", tt.in, got)
			}
		})
	}
}

// Every direction-control character is refused, in single- and multi-line texts alike.
func TestLimitRefusesEveryDirectionControl(t *testing.T) {
	bidi := []rune{0x061C, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069}
	for _, limit := range []TextLimit{LimitAddition, LimitNote} {
		for _, r := range bidi {
			_, err := limit.Check("ab" + string(r) + "c")
			if err == nil {
				t.Errorf("%s: U+%04X accepted, want refused", limit.What, r)
				continue
			}
			e := invalidError(t, err)
			if !strings.Contains(e.Message, "direction-control characters are not allowed") || !strings.Contains(e.Message, "character 3") {
				t.Errorf("%s, U+%04X: got message %q, want it to say direction-control characters are not allowed at character 3", limit.What, r, e.Message)
			}
		}
	}
	// Their neighbours are accepted, among them the joiners some scripts need.
	for _, s := range []string{"\u061B", "\u061D", "\u200C", "\u200D", "\u2010", "\u202F", "\u2065", "\u2070"} {
		if _, err := LimitAddition.Check("a" + s + "b"); err != nil {
			t.Errorf("%q: got error %v, want accepted", s, err)
		}
	}
}

// Every C0 and C1 control character is refused; '\n' only in a single-line text.
func TestLimitRefusesEveryControlCharacter(t *testing.T) {
	for r := rune(0); r <= 0x9F; r++ {
		if r >= 0x20 && r < 0x7F || r == '\r' {
			continue // printable; '\r' becomes '\n'
		}
		in := "a" + string(r) + "b"
		_, errSingle := LimitAddition.Check(in)
		if errSingle == nil {
			t.Errorf("single line: U+%04X accepted, want refused", r)
		}
		_, errMulti := LimitNote.Check(in)
		if r == '\n' {
			if errMulti != nil {
				t.Errorf("multi-line: line break refused: %v", errMulti)
			}
		} else if errMulti == nil {
			t.Errorf("multi-line: U+%04X accepted, want refused", r)
		}
	}
}

// Each declared limit names its field, so errors land next to it.
func TestLimitFields(t *testing.T) {
	tests := []struct {
		limit     TextLimit
		field     string
		max       int
		required  bool
		multiLine bool
	}{
		{LimitAddition, FieldAddition, 500, false, false},
		{LimitNote, FieldNote, 2000, false, true},
		{LimitOverturnNote, FieldNote, 500, true, false},
		{LimitResolveNote, FieldNote, 500, true, false},
		{LimitReasonLabel, "label", 100, true, false},
		{LimitReasonText, "customer_text", 500, true, false},
	}
	for _, tt := range tests {
		l := tt.limit
		if l.Field != tt.field || l.Max != tt.max || l.Required != tt.required || l.MultiLine != tt.multiLine {
			t.Errorf("%s: got field %q max %d required %v multi-line %v, want %q %d %v %v",
				l.What, l.Field, l.Max, l.Required, l.MultiLine, tt.field, tt.max, tt.required, tt.multiLine)
		}
		if !strings.HasPrefix(l.What, "The ") {
			t.Errorf("%q: want a name starting with \"The \" for messages", l.What)
		}
		_, err := l.Check(strings.Repeat("x", l.Max+1))
		if e := invalidError(t, err); e.Field != tt.field {
			t.Errorf("%s too long: got field %q, want %q", l.What, e.Field, tt.field)
		}
		_, err = l.Check("x\x00")
		if e := invalidError(t, err); e.Field != tt.field {
			t.Errorf("%s with NUL: got field %q, want %q", l.What, e.Field, tt.field)
		}
	}
	if LimitCorrection != 200 {
		t.Errorf("LimitCorrection: got %d, want 200", LimitCorrection)
	}
}
