package sandbox

import (
	"strings"
	"testing"
	"time"
)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestMRZCheckDigit(t *testing.T) {
	// Values from the ICAO Doc 9303 specimens.
	tests := []struct {
		in   string
		want byte
	}{
		{"740812", '2'},
		{"120415", '9'},
		{"L898902C3", '6'},
		{"D23145890", '7'},
		{"ZE184226B<<<<<", '1'},
		{"<<<<<<<<<", '0'},
		{"520727", '3'},
	}
	for _, tt := range tests {
		if got := mrzCheckDigit(tt.in); got != tt.want {
			t.Errorf("mrzCheckDigit(%q) = %c, want %c", tt.in, got, tt.want)
		}
	}
}

func TestTD1MatchesICAOSpecimen(t *testing.T) {
	got := td1(mrzFields{
		DocCode: "I<", Issuer: "UTO", Number: "D23145890", Nationality: "UTO",
		Birth: date(1974, 8, 12), Expiry: date(2012, 4, 15), Sex: "F",
		Surname: "Eriksson", Given: "Anna María",
	})
	want := [3]string{
		"I<UTOD231458907<<<<<<<<<<<<<<<",
		"7408122F1204159UTO<<<<<<<<<<<6",
		"ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
	}
	if got != want {
		t.Errorf("td1 =\n%s\nwant\n%s", strings.Join(got[:], "\n"), strings.Join(want[:], "\n"))
	}
}

func TestTD3MatchesICAOSpecimen(t *testing.T) {
	got := td3(mrzFields{
		DocCode: "P<", Issuer: "UTO", Number: "L898902C3", Nationality: "UTO", Personal: "ZE184226B",
		Birth: date(1974, 8, 12), Expiry: date(2012, 4, 15), Sex: "F",
		Surname: "Eriksson", Given: "Anna Maria",
	})
	want := [2]string{
		"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
		"L898902C36UTO7408122F1204159ZE184226B<<<<<10",
	}
	if got != want {
		t.Errorf("td3 =\n%s\nwant\n%s", strings.Join(got[:], "\n"), strings.Join(want[:], "\n"))
	}
}

// validTD1 recomputes every check digit of a TD1 MRZ.
func validTD1(l [3]string) bool {
	if len(l[0]) != 30 || len(l[1]) != 30 || len(l[2]) != 30 {
		return false
	}
	composite := l[0][5:30] + l[1][0:7] + l[1][8:15] + l[1][18:29]
	return mrzCheckDigit(l[0][5:14]) == l[0][14] &&
		mrzCheckDigit(l[1][0:6]) == l[1][6] &&
		mrzCheckDigit(l[1][8:14]) == l[1][14] &&
		mrzCheckDigit(composite) == l[1][29]
}

func validTD3(l [2]string) bool {
	if len(l[0]) != 44 || len(l[1]) != 44 {
		return false
	}
	composite := l[1][0:10] + l[1][13:20] + l[1][21:43]
	personalOK := mrzCheckDigit(l[1][28:42]) == l[1][42] || (l[1][42] == '<' && strings.Trim(l[1][28:42], "<") == "")
	return mrzCheckDigit(l[1][0:9]) == l[1][9] &&
		mrzCheckDigit(l[1][13:19]) == l[1][19] &&
		mrzCheckDigit(l[1][21:27]) == l[1][27] &&
		personalOK &&
		mrzCheckDigit(composite) == l[1][43]
}

func TestMRZOfSeededProcesses(t *testing.T) {
	sb, err := New(Config{Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	ids, err := sb.Seed(SeedSpec{Count: 60, Silent: true})
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]int{}
	for _, id := range ids {
		p, _ := sb.get(id)
		lines := p.mrz()
		for _, l := range lines {
			if strings.Trim(l, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<") != "" {
				t.Errorf("%s: MRZ line %q has characters outside the MRZ alphabet", id, l)
			}
		}
		var valid bool
		switch p.DocType {
		case DocIDCard:
			valid = len(lines) == 3 && validTD1([3]string(lines))
			if valid && !strings.HasPrefix(lines[2], mrzText(strings.Fields(p.Identity.SurnameLatin)[0])) {
				t.Errorf("%s: MRZ name line %q does not start with the surname %q", id, lines[2], p.Identity.SurnameLatin)
			}
			if valid && lines[1][0:6] != p.Identity.Birth.Format("060102") {
				t.Errorf("%s: MRZ birth date %q, personal data %s", id, lines[1][0:6], p.Identity.Birth)
			}
		case DocPassport:
			valid = len(lines) == 2 && validTD3([2]string(lines))
		case DocDriverLicense:
			if len(lines) != 0 {
				t.Errorf("%s: driving licence with an MRZ", id)
			}
			continue
		}
		checked[p.DocType]++
		if wantValid := !p.failed(ValidationMRZ); valid != wantValid {
			t.Errorf("%s (%s, failed %v): MRZ valid = %v, want %v:\n%s", id, p.DocType, p.Failed, valid, wantValid, strings.Join(lines, "\n"))
		}
	}
	if checked[DocIDCard] == 0 || checked[DocPassport] == 0 {
		t.Errorf("seeding checked too few documents: %v", checked)
	}
}

func TestTransliteration(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Núñez Ibáñez", "NUNEZ<IBANEZ"},
		{"Müller-Schröder", "MUELLER<SCHROEDER"},
		{"Weiß", "WEISS"},
		{"D'Angelo", "DANGELO"},
		{"Γιώργος", "GIORGOS"},
		{"Παπαδοπούλου", "PAPADOPOULOU"},
		{"Олександр", "OLEKSANDR"},
		{"Шевченко", "SHEVCHENKO"},
		{"Юлія", "IULIIA"},
		{"王伟", ""},
		{"Conceição", "CONCEICAO"},
	}
	for _, tt := range tests {
		if got := mrzText(tt.in); got != tt.want {
			t.Errorf("mrzText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMRZCountryAndNameTruncation(t *testing.T) {
	if got := mrzCountry("DEU"); got != "D<<" {
		t.Errorf("Germany = %q, want D<<", got)
	}
	got := mrzName("Fernández de Castro y Villanueva", "María de los Ángeles Guadalupe", 30)
	if len(got) != 30 || !strings.HasPrefix(got, "FERNANDEZ<DE<CASTRO<Y<VILLANUEVA"[:27]) {
		t.Errorf("mrzName = %q", got)
	}
}

func TestCorruptMRZBreaksTheCheck(t *testing.T) {
	l := td1(mrzFields{DocCode: "ID", Issuer: "ESP", Number: "ABC123456", Birth: date(1990, 1, 2), Expiry: date(2030, 1, 2), Sex: "M", Nationality: "ESP", Surname: "García", Given: "José"})
	if !validTD1(l) {
		t.Fatal("generated TD1 does not validate")
	}
	bad := corruptMRZ(l[:])
	if validTD1([3]string(bad)) {
		t.Error("corrupted TD1 still validates")
	}
}
