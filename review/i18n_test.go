package review

import (
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/store"
)

// The rules' messages reach Spanish through the catalogue, formatted ones included: the
// view translates the English message it is handed (issue 12, item 5).
func TestMessagesInSpanish(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	msg := func(err error) string {
		t.Helper()
		e := ErrorOf(err)
		if e == nil {
			t.Fatalf("no workflow error: %v", err)
		}
		return e.Message
	}
	_, errEmpty := LimitCaseNote.Check("  ")
	_, errLong := LimitAddition.Check(strings.Repeat("a", 501))
	_, errTab := LimitSendBackReason.Check("a\tb")
	_, errDate := CheckCorrection("dateOfBirth", "1990-02-30", now)
	_, errShape := CheckCorrection("dateOfExpiry", "soon", now)
	_, errName := CheckCorrection("surname", "L1u", now)
	c := &store.Case{Process: &store.Process{ID: "p1", Reviewable: true, Evidence: []store.EvidenceKind{store.EvidenceDocumentFront, store.EvidenceFaceNow}},
		Served: map[store.EvidenceKind]bool{}}
	tests := []struct{ en, es string }{
		{msg(errEmpty), "Introduzca la nota."},
		{msg(errLong), "El texto adicional para el cliente supera el máximo de 500 caracteres (ha escrito 501)."},
		{msg(errTab), "El motivo para devolverlo contiene un tabulador en el carácter 2; no se admiten tabuladores."},
		{msg(errDate), "La fecha de nacimiento 1990-02-30 no existe; compruebe el día y el mes."},
		{msg(errShape), "Escriba la fecha de caducidad como AAAA-MM-DD, por ejemplo 1985-07-23."},
		{msg(errName), "El apellido no puede contener dígitos (“1” en el carácter 2)."},
		{msg(evidenceFirst(c)), "Para aceptar hay que ver antes las evidencias; aún sin cargar: los datos de identidad y las comprobaciones, anverso del documento, selfie en directo. Vuelva a cargarlas o rechace el proceso."},
		{msg(unknownFieldsError([]string{"a", "b"}, 5)), "Las correcciones incluyen campos que este proceso no tiene (a, b y 3 más); recargue la página y vuelva a intentarlo."},
		{msg(translate(store.ErrConflict)), "Otra persona lo cambió mientras tanto. Recargue la página y vuelva a intentarlo."},
		{ScoreThresholdsText, "Por debajo del 50 % es dudoso; del 80 % en adelante es un resultado sólido."},
	}
	for _, tt := range tests {
		if got := i18n.ES.T(tt.en); got != tt.es {
			t.Errorf("%q\n in Spanish is %q,\n want %q", tt.en, got, tt.es)
		}
	}
}
