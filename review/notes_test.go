package review_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// notesService is the review service on a real SQLite file with two indexed processes
// (one in review, one whose identity data retention cleared) and an agent and an admin.
// Notes never reach the gateway, so there is none.
func notesService(t *testing.T) (*review.Service, *store.DB, store.Actor, store.Actor) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	actors := make([]store.Actor, 2)
	for i, role := range []string{store.RoleAgent, store.RoleAdmin} {
		u := &store.User{Email: role + "@example.com", DisplayName: "The " + role, Role: role, Active: true, PasswordHash: "x"}
		if err := db.CreateUser(ctx, store.System, u); err != nil {
			t.Fatal(err)
		}
		actors[i] = store.Actor{UserID: u.ID, Role: u.Role, Email: u.Email}
	}
	for _, s := range []store.Snapshot{
		{ID: "n-review", Status: "PENDING", RawStatus: "PENDING", Stage: "REVIEW", Reviewable: true, UpdatedAt: now.Add(-time.Hour), HolderName: "Ana García"},
		{ID: "n-old", Status: "VERIFIED", RawStatus: "VERIFIED", Stage: "DONE", Final: true, UpdatedAt: now.AddDate(-1, 0, 0), HolderName: "Bo Li"},
	} {
		if _, err := db.UpsertProcess(ctx, store.SourceWebhook, s, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.PurgeDue(ctx, store.RetentionPass{Before: now.AddDate(0, -3, 0)}, func(*store.ErasureCase) error { return nil }); err != nil {
		t.Fatal(err)
	}
	return review.New(db, nil, nil, review.Config{}), db, actors[0], actors[1]
}

func countNotes(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.SQL().QueryRow("SELECT count(*) FROM notes").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAddNoteChecksTheText: a note is refused beside its field when it is empty, over
// LimitCaseNote or carries control or direction-control characters (C5); line breaks
// are kept. A refused note writes nothing.
func TestAddNoteChecksTheText(t *testing.T) {
	svc, db, agent, _ := notesService(t)
	ctx := context.Background()
	max := review.LimitCaseNote.Max
	for _, tc := range []struct {
		name, body, msg string
	}{
		{"empty", "  \r\n ", "Enter the note."},
		{"one too long", strings.Repeat("é", max+1), "The note is too long: 2000 characters at most (you wrote 2001)."},
		{"NUL", "call back\x00", "The note contains an invisible control character at character 10; control characters are not allowed."},
		{"tab", "a\tb", "The note contains a tab at character 2; tabs are not allowed."},
		{"bidi override", "file\u202Etxt.exe", "The note contains an invisible direction-control character at character 5; direction-control characters are not allowed."},
	} {
		_, err := svc.AddNote(ctx, agent, "n-review", tc.body, 0)
		if e := wantField(t, err, review.CodeInvalid, review.FieldNote); e != nil && e.Message != tc.msg {
			t.Errorf("%s: message %q, want %q", tc.name, e.Message, tc.msg)
		}
	}
	if n := countNotes(t, db); n != 0 {
		t.Fatalf("refused notes wrote %d rows", n)
	}
	n, err := svc.AddNote(ctx, agent, "n-review", "  Line one\r\nLine two "+strings.Repeat("x", max-20)+"  ", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(n.Body, "Line one\nLine two ") || len([]rune(n.Body)) != max-2 || n.AuthorID != agent.UserID {
		t.Errorf("note: got %q (%d characters) by %d", n.Body[:20], len([]rune(n.Body)), n.AuthorID)
	}
}

// TestMayAddNote: every signed-in reviewer (agent or admin) adds notes to any process
// they may open; nobody else, and no one on a process whose identity data was purged.
func TestMayAddNote(t *testing.T) {
	live := &store.Process{ID: "p"}
	purged := &store.Process{ID: "p", PurgedAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, tc := range []struct {
		name string
		a    store.Actor
		p    *store.Process
		want review.Code
	}{
		{"agent", store.Actor{UserID: 1, Role: store.RoleAgent}, live, ""},
		{"admin", store.Actor{UserID: 2, Role: store.RoleAdmin}, live, ""},
		{"nobody", store.Actor{}, live, review.CodeForbidden},
		{"the system", store.System, live, review.CodeForbidden},
		{"unknown role", store.Actor{UserID: 3, Role: "auditor"}, live, review.CodeForbidden},
		{"purged", store.Actor{UserID: 1, Role: store.RoleAgent}, purged, review.CodeConflict},
	} {
		if got := review.ErrorCode(review.MayAddNote(tc.a, tc.p)); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestAddNoteThroughTheService: the rule is judged inside the write (a purged process
// refuses, an unknown one is not found); a correction names an earlier note of the same
// process, else it is refused beside the field.
func TestAddNoteThroughTheService(t *testing.T) {
	svc, db, agent, admin := notesService(t)
	ctx := context.Background()
	_, err := svc.AddNote(ctx, agent, "n-old", "too late", 0)
	wantField(t, err, review.CodeConflict, review.FieldNote)
	_, err = svc.AddNote(ctx, agent, "no-such", "hello", 0)
	wantCode(t, err, review.CodeNotFound)

	first, err := svc.AddNote(ctx, agent, "n-review", "Selfie looks edited", 0)
	if err != nil {
		t.Fatal(err)
	}
	fix, err := svc.AddNote(ctx, admin, "n-review", "It is not: the light was bad", first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if fix.Corrects != first.ID || fix.AuthorID != admin.UserID {
		t.Errorf("correction: got %+v", fix)
	}
	for _, corrects := range []int64{-1, first.ID + 100} {
		_, err := svc.AddNote(ctx, agent, "n-review", "a correction of nothing", corrects)
		wantField(t, err, review.CodeInvalid, review.FieldNote)
	}
	if n := countNotes(t, db); n != 2 {
		t.Errorf("notes: %d, want 2", n)
	}
}
