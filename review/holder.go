package review

import (
	"strings"
	"unicode"
)

// HolderName composes the holder's display name from the document's given names and
// surname, in the order of the name's own convention:
//
//   - written in Chinese, Japanese or Korean script (Han, Hiragana, Katakana, Hangul):
//     family name first and, when both parts are in those scripts, no space between
//     them ("刘" + "磊" → "刘磊", "김" + "민준" → "김민준", "山田" + "太郎" → "山田太郎");
//   - Vietnamese (nationality, else the document's country, VNM): family name first
//     with a space ("Nguyễn Văn An"), as Vietnamese is written in Latin script and its
//     names are family-first in their own language;
//   - anything else, including a Chinese, Japanese or Korean name romanised in Latin
//     script ("Lei Liu"): given names first, the order such a name is written in
//     abroad and the one the document's Latin fields are read in.
//
// The script, not the nationality, decides for CJK names: a CHN document may carry a
// romanised name, and a name in Han script is family-first whoever holds it.
// nationality is an ISO 3166 alpha-3 code (case-insensitive); "" when unknown.
func HolderName(given, surname, nationality string) string {
	given, surname = strings.TrimSpace(given), strings.TrimSpace(surname)
	switch {
	case given == "":
		return surname
	case surname == "":
		return given
	}
	gCJK, sCJK := cjk(given), cjk(surname)
	switch {
	case gCJK && sCJK && !latin(given) && !latin(surname):
		return surname + given
	case gCJK || sCJK, strings.EqualFold(strings.TrimSpace(nationality), "VNM"):
		return surname + " " + given
	}
	return given + " " + surname
}

// cjk reports whether s has a letter of the Han, Hiragana, Katakana or Hangul scripts.
func cjk(s string) bool {
	for _, r := range s {
		if unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) {
			return true
		}
	}
	return false
}

// latin reports whether s has a Latin letter.
func latin(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Latin, r) {
			return true
		}
	}
	return false
}
