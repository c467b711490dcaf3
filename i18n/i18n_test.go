package i18n

import (
	"context"
	"testing"
	"time"
)

func TestMatchAcceptLanguage(t *testing.T) {
	for in, want := range map[string]Lang{
		"":                          EN,
		"es-ES,es;q=0.9,en;q=0.8":   ES,
		"es-MX":                     ES,
		"en-GB,en;q=0.9":            EN,
		"fr-FR,fr;q=0.9":            EN,
		"fr-FR,es;q=0.5":            ES,
		"de;q=0.9,en;q=0.1,es;q=.5": ES,
		"not a header \x00":         EN,
	} {
		if got := Match(in); got != want {
			t.Errorf("Match(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestTranslateFormatsAndFormattedMessages(t *testing.T) {
	defer func(saved map[string]string, f *formats) { es, esFormats = saved, f }(es, esFormats)
	es = map[string]string{
		"Surname": "Apellido",
		"Note":    "Nota",
		"%s is too long: %d characters at most (you wrote %d).": "%s es demasiado larga: %d caracteres como máximo (ha escrito %d).",
		"%s cannot contain digits (%s at character %d).":        "%[1]s no puede contener dígitos (%[2]s en el carácter %[3]d).",
		"There is no account %q.":                               "No hay ninguna cuenta %q.",
	}
	esFormats = &formats{}
	ctx := With(context.Background(), Locale{Lang: ES})
	for _, c := range []struct{ in, want string }{
		{"Surname", "Apellido"},
		{"Unknown words", "Unknown words"},
		{"Note is too long: 2000 characters at most (you wrote 2031).", "Nota es demasiado larga: 2000 caracteres como máximo (ha escrito 2031)."},
		{"Surname cannot contain digits (“7” at character 3).", "Apellido no puede contener dígitos (“7” en el carácter 3)."},
		{`There is no account "a\"b".`, `No hay ninguna cuenta "a\"b".`},
	} {
		if got := T(ctx, c.in); got != c.want {
			t.Errorf("T(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := Tf(ctx, "%s is too long: %d characters at most (you wrote %d).", "Note", 5, 6); got != "Nota es demasiado larga: 5 caracteres como máximo (ha escrito 6)." {
		t.Errorf("format with args: %q", got)
	}
	if got := Tf(context.Background(), "%s is too long: %d characters at most (you wrote %d).", "Note", 5, 6); got != "Note is too long: 5 characters at most (you wrote 6)." {
		t.Errorf("English format with args: %q", got)
	}
}

func TestAddRefusesTwoTranslations(t *testing.T) {
	defer func(saved map[string]string) { es = saved; recover() }(es)
	es = map[string]string{"Save": "Guardar"}
	add(map[string]string{"Save": "Guardar"})
	defer func() {
		if recover() == nil {
			t.Error("a second, different translation was accepted")
		}
	}()
	add(map[string]string{"Save": "Salvar"})
}

func TestDatesAndNumbers(t *testing.T) {
	madrid, err := time.LoadLocation("Europe/Madrid")
	if err != nil {
		t.Skip("no time zone database")
	}
	at := time.Date(2026, 12, 6, 13, 5, 0, 0, time.UTC)
	es := With(context.Background(), Locale{Lang: ES, Zone: madrid})
	en := With(context.Background(), Locale{Lang: EN})
	if got := DateTime(es, at); got != "6 dic 2026, 14:05 CET" {
		t.Errorf("Spanish: %q", got)
	}
	if got := DateTime(en, at); got != "6 Dec 2026, 13:05 UTC" {
		t.Errorf("English: %q", got)
	}
	if got := Number(en, 12345); got != "12,345" {
		t.Errorf("English number: %q", got)
	}
	if got := Number(es, 12345); got != "12.345" {
		t.Errorf("Spanish number: %q", got)
	}
}
