package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mobbscan-review/portal/store"
)

// Preferences round trip on a real SQLite file, survive reopening it, and are audited.
func TestPreferencesRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := store.TargetForTest(t)
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	u := newUser(t, db, "prefs@example.com", "agent")
	got, err := db.Preferences(ctx, u.ID)
	if err != nil || got != (store.Preferences{Theme: store.ThemeAuto}) {
		t.Fatalf("defaults: %+v, %v", got, err)
	}
	want := store.Preferences{Language: "es", Theme: store.ThemeDark, TimeZone: "Europe/Madrid"}
	actor := store.Actor{UserID: u.ID, Email: u.Email}
	if err := db.SetPreferences(ctx, actor, u.ID, want); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPreferences(ctx, actor, u.ID, store.Preferences{Language: "en", TimeZone: "America/Mexico_City"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Preferences(ctx, u.ID); got != (store.Preferences{Language: "en", Theme: store.ThemeAuto, TimeZone: "America/Mexico_City"}) {
		t.Fatalf("after update: %+v", got)
	}
	if err := db.SetPreferences(ctx, actor, u.ID, want); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got, err := db.Preferences(ctx, u.ID); err != nil || got != want {
		t.Fatalf("after reopening: %+v, %v; want %+v", got, err, want)
	}
	events, err := db.ListAudit(ctx, store.AuditFilter{Action: string(store.ActionUserSetting)})
	if err != nil || len(events) != 3 {
		t.Fatalf("audit: %d events, %v; want 3", len(events), err)
	}

	for _, bad := range []store.Preferences{{Language: "fr"}, {Theme: "sepia"}, {TimeZone: string(make([]byte, 65))}} {
		if err := db.SetPreferences(ctx, actor, u.ID, bad); !errors.Is(err, store.ErrBadPreference) {
			t.Errorf("%+v: %v, want ErrBadPreference", bad, err)
		}
	}
	if err := db.SetPreferences(ctx, actor, 999999, want); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown user: %v, want ErrNotFound", err)
	}
}
