package review_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mobbscan-review/portal/review"
)

// TestReasonCatalogueRules: only admins change the reason catalogue; what they type is
// checked field by field; the last active reason cannot be retired.
func TestReasonCatalogueRules(t *testing.T) {
	t.Parallel()
	h := newHarness(t, options{})
	ctx := context.Background()
	admin := h.newAdmin("admin")
	valid := review.ReasonInput{Code: "glare", Label: "Glare on the document", CustomerText: "The photo of your document has glare."}

	t.Run("agents may not", func(t *testing.T) {
		_, err := h.svc.CreateReason(ctx, h.actor, valid)
		wantCode(t, err, review.CodeForbidden)
		r := h.reason("unreadable")
		wantCode(t, h.svc.UpdateReason(ctx, h.actor, r.ID, valid), review.CodeForbidden)
		wantCode(t, h.svc.MoveReason(ctx, h.actor, r.ID, 1), review.CodeForbidden)
		wantCode(t, h.svc.SetReasonActive(ctx, h.actor, r.ID, false), review.CodeForbidden)
		if got := h.reason("unreadable"); got.Label != r.Label || got.Position != r.Position || !got.Active {
			t.Errorf("after the refusals: got %+v, want %+v unchanged", got, r)
		}
	})
	t.Run("fields are checked", func(t *testing.T) {
		tests := []struct {
			name  string
			in    review.ReasonInput
			field string
		}{
			{"code with capitals", review.ReasonInput{Code: "Glare", Label: valid.Label, CustomerText: valid.CustomerText}, review.FieldReasonCode},
			{"code too long", review.ReasonInput{Code: strings.Repeat("g", review.MaxReasonCode+1), Label: valid.Label, CustomerText: valid.CustomerText}, review.FieldReasonCode},
			{"code taken", review.ReasonInput{Code: "unreadable", Label: valid.Label, CustomerText: valid.CustomerText}, review.FieldReasonCode},
			{"blank label", review.ReasonInput{Code: "glare", Label: "  ", CustomerText: valid.CustomerText}, review.LimitReasonLabel.Field},
			{"blank wording", review.ReasonInput{Code: "glare", Label: valid.Label, CustomerText: " \n "}, review.FieldReasonText},
			{"wording with a right-to-left override", review.ReasonInput{Code: "glare", Label: valid.Label, CustomerText: "Your photo\u202Egpj.exe"}, review.FieldReasonText},
			{"wording too long", review.ReasonInput{Code: "glare", Label: valid.Label, CustomerText: strings.Repeat("w", review.LimitReasonText.Max+1)}, review.FieldReasonText},
		}
		for _, tc := range tests {
			_, err := h.svc.CreateReason(ctx, admin, tc.in)
			if e := wantCode(t, err, review.CodeInvalid); e != nil && e.Fields[tc.field] == "" {
				t.Errorf("%s: fields %v, want a message for %s", tc.name, e.Fields, tc.field)
			}
		}
		r, err := h.svc.CreateReason(ctx, admin, review.ReasonInput{Code: " glare ", Label: " " + valid.Label, CustomerText: valid.CustomerText + "  "})
		if err != nil {
			t.Fatal(err)
		}
		if r.Code != valid.Code || r.Label != valid.Label || r.CustomerText != valid.CustomerText {
			t.Errorf("created: got %+v, want %+v trimmed", r, valid)
		}
	})
	t.Run("the last active reason stays", func(t *testing.T) {
		rs, err := h.db.ListReasons(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs[1:] {
			if err := h.svc.SetReasonActive(ctx, admin, r.ID, false); err != nil {
				t.Fatal(err)
			}
		}
		wantCode(t, h.svc.SetReasonActive(ctx, admin, rs[0].ID, false), review.CodeConflict)
		wantCode(t, h.svc.MoveReason(ctx, admin, rs[1].ID, -1), review.CodeConflict)
		if active, _ := h.db.ListReasons(ctx, true); len(active) != 1 || active[0].ID != rs[0].ID {
			t.Errorf("active reasons: got %d, want only %s", len(active), rs[0].Code)
		}
	})
	wantCode(t, h.svc.UpdateReason(ctx, admin, 987654, review.ReasonInput{Label: "x", CustomerText: "y"}), review.CodeNotFound)
	if _, err := h.db.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
}
