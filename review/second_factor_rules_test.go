package review_test

import (
	"testing"

	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// Second factor (issue 9, item 1): who may change the policy and reset a second factor.

func TestMayResetSecondFactor(t *testing.T) {
	target := &store.User{ID: 7, Role: store.RoleAgent}
	tests := []struct {
		name string
		a    store.Actor
		want review.Code
	}{
		{"an administrator, another account", store.Actor{UserID: 1, Role: store.RoleAdmin}, ""},
		{"an administrator, their own", store.Actor{UserID: 7, Role: store.RoleAdmin}, review.CodeForbidden},
		{"an agent", store.Actor{UserID: 2, Role: store.RoleAgent}, review.CodeForbidden},
		{"nobody signed in", store.Actor{}, review.CodeForbidden},
	}
	for _, tt := range tests {
		if got := review.ErrorCode(review.MayResetSecondFactor(tt.a, target)); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestMaySetSecondFactorPolicy(t *testing.T) {
	if err := review.MaySetSecondFactorPolicy(store.Actor{UserID: 1, Role: store.RoleAdmin}); err != nil {
		t.Errorf("administrator: got %v, want nil", err)
	}
	if got := review.ErrorCode(review.MaySetSecondFactorPolicy(store.Actor{UserID: 2, Role: store.RoleAgent})); got != review.CodeForbidden {
		t.Errorf("agent: got %q, want forbidden", got)
	}
}

func TestSecondFactorPolicyRequires(t *testing.T) {
	for _, tt := range []struct {
		p            store.SecondFactorPolicy
		agent, admin bool
	}{
		{store.SecondFactorNobody, false, false},
		{store.SecondFactorAdmins, false, true},
		{store.SecondFactorEveryone, true, true},
		{"sometimes", false, false},
	} {
		if got := tt.p.Requires(store.RoleAgent); got != tt.agent {
			t.Errorf("%s requires for an agent: got %v, want %v", tt.p, got, tt.agent)
		}
		if got := tt.p.Requires(store.RoleAdmin); got != tt.admin {
			t.Errorf("%s requires for an admin: got %v, want %v", tt.p, got, tt.admin)
		}
	}
	if store.SecondFactorPolicy("sometimes").Valid() {
		t.Error("an unknown policy is valid")
	}
}
