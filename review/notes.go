package review

import (
	"context"
	"errors"

	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/store"
)

// AddNote posts a's internal note on a case (issue 11): never sent to the gateway,
// never edited after it is posted. The text passes LimitCaseNote (length and the
// character rule C5); MayAddNote judges the process inside the write. corrects, when not
// zero, names the earlier note of the same process this one corrects: a mistake is put
// right by appending, not by editing.
func (s *Service) AddNote(ctx context.Context, a store.Actor, processID, body string, corrects int64) (*store.Note, error) {
	text, err := LimitCaseNote.Check(body)
	if err != nil {
		return nil, err
	}
	if corrects < 0 {
		return nil, noteToCorrectError(nil)
	}
	n, err := s.DB.AddNote(ctx, a, store.NewNote{ProcessID: processID, Body: text, Corrects: corrects}, mayAddNote(a))
	if errors.Is(err, store.ErrNoteUnknown) {
		return nil, noteToCorrectError(err)
	}
	return n, translate(err)
}

// noteToCorrectError: the correction names no note of this process.
func noteToCorrectError(err error) *Error {
	return &Error{Code: CodeInvalid, Field: FieldNote, Message: i18n.M("The note you are correcting is not a note of this process. Reload the page and try again."), Err: err}
}
