package review

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/store"
)

// MaxReasonCode is the longest reason code (the database checks it too).
const MaxReasonCode = 40

// reasonCodeRE is what a reason code may be.
var reasonCodeRE = regexp.MustCompile(`^[a-z0-9_-]{2,40}$`)

// Form fields of a reason.
const (
	FieldReasonCode = "code"
	FieldReasonText = "customer_text"
)

// ReasonInput is a rejection reason as an admin's form sent it.
type ReasonInput struct{ Code, Label, CustomerText string }

// checkReason validates a reason (its code only when new: it never changes) and
// returns it trimmed, or a CodeInvalid error with a message per field.
func checkReason(in ReasonInput, withCode bool) (ReasonInput, error) {
	fields := map[string]string{}
	in.Code = strings.TrimSpace(in.Code)
	if withCode && !reasonCodeRE.MatchString(in.Code) {
		fields[FieldReasonCode] = fmt.Sprintf(i18n.M("Use 2 to %d characters: lower-case letters a–z, digits, - and _."), MaxReasonCode)
	}
	var err error
	if in.Label, err = LimitReasonLabel.Check(in.Label); err != nil {
		fields[LimitReasonLabel.Field] = ErrorOf(err).Message
	}
	if in.CustomerText, err = LimitReasonText.Check(in.CustomerText); err != nil {
		fields[LimitReasonText.Field] = ErrorOf(err).Message
	}
	if len(fields) > 0 {
		return in, &Error{Code: CodeInvalid, Message: i18n.M("Check the reason's fields."), Fields: fields}
	}
	return in, nil
}

// mayEditCatalogue: the reason catalogue is the admins'.
func mayEditCatalogue(a store.Actor) error {
	if !IsAdmin(a) {
		return errorf(CodeForbidden, "", "Only an administrator may change the rejection reasons.")
	}
	return nil
}

// CreateReason adds a reason at the end of the catalogue.
func (s *Service) CreateReason(ctx context.Context, a store.Actor, in ReasonInput) (*store.Reason, error) {
	if err := mayEditCatalogue(a); err != nil {
		return nil, err
	}
	in, err := checkReason(in, true)
	if err != nil {
		return nil, err
	}
	r := &store.Reason{Code: in.Code, Label: in.Label, CustomerText: in.CustomerText}
	if err := s.DB.CreateReason(ctx, a, r); err != nil {
		if ErrorCode(translate(err)) == CodeConflict {
			return nil, &Error{Code: CodeInvalid, Fields: map[string]string{FieldReasonCode: i18n.M("A reason with this code already exists (retired ones keep their code). Choose another.")},
				Message: i18n.M("A reason with this code already exists."), Err: err}
		}
		return nil, translate(err)
	}
	return r, nil
}

// UpdateReason changes a reason's label and customer wording; its code stays.
func (s *Service) UpdateReason(ctx context.Context, a store.Actor, id int64, in ReasonInput) error {
	if err := mayEditCatalogue(a); err != nil {
		return err
	}
	in, err := checkReason(in, false)
	if err != nil {
		return err
	}
	r, err := s.DB.GetReason(ctx, id)
	if err != nil {
		return translate(err)
	}
	if in.Label == r.Label && in.CustomerText == r.CustomerText {
		return nil
	}
	return translate(s.DB.UpdateReason(ctx, a, id, in.Label, in.CustomerText))
}

// MoveReason moves an active reason one place up (delta -1) or down (+1).
func (s *Service) MoveReason(ctx context.Context, a store.Actor, id int64, delta int) error {
	if err := mayEditCatalogue(a); err != nil {
		return err
	}
	r, err := s.DB.GetReason(ctx, id)
	if err != nil {
		return translate(err)
	}
	if !r.Active {
		return errorf(CodeConflict, "", "A retired reason has no place in the order. Restore it first.")
	}
	return translate(s.DB.MoveReason(ctx, a, id, delta))
}

// SetReasonActive retires or restores a reason. Retiring keeps it on record with the
// decisions that use it; the last active reason stays, so that agents can still reject.
func (s *Service) SetReasonActive(ctx context.Context, a store.Actor, id int64, active bool) error {
	if err := mayEditCatalogue(a); err != nil {
		return err
	}
	r, err := s.DB.GetReason(ctx, id)
	if err != nil || r.Active == active {
		return translate(err)
	}
	if !active {
		list, err := s.DB.ListReasons(ctx, true)
		if err != nil {
			return err
		}
		if len(list) <= 1 {
			return errorf(CodeConflict, "", "This is the last active reason: agents need one to reject a process. Add another before retiring it.")
		}
	}
	return translate(s.DB.SetReasonActive(ctx, a, id, active))
}
