package review_test

import (
	"testing"

	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// Single sign-on (issue 9, item 2): with "single sign-on is the only way in", only
// administrators keep password sign-in (the way back in).
func TestMaySignInWithPassword(t *testing.T) {
	admin := &store.User{Role: store.RoleAdmin}
	agent := &store.User{Role: store.RoleAgent}
	for _, tt := range []struct {
		name    string
		ssoOnly bool
		user    *store.User
		ok      bool
	}{
		{"agent, passwords allowed", false, agent, true},
		{"admin, passwords allowed", false, admin, true},
		{"agent, SSO only", true, agent, false},
		{"admin, SSO only (recovery)", true, admin, true},
	} {
		err := review.MaySignInWithPassword(tt.ssoOnly, tt.user)
		if tt.ok && err != nil {
			t.Errorf("%s: got %v, want allowed", tt.name, err)
		}
		if !tt.ok {
			if e := wantCode(t, err, review.CodeForbidden); e != nil && e.Message == "" {
				t.Errorf("%s: refusal without a message", tt.name)
			}
		}
	}
}
