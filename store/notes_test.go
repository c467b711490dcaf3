package store_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

func mustNote(t *testing.T, db *store.DB, u *store.User, processID, body string, corrects int64) *store.Note {
	t.Helper()
	n, err := db.AddNote(context.Background(), actorOf(u), store.NewNote{ProcessID: processID, Body: body, Corrects: corrects}, allow)
	if err != nil {
		t.Fatalf("add note on %s: %v", processID, err)
	}
	return n
}

// TestNotesAreAppendOnly: a note is kept with its author and time and audited by ids
// only; no UPDATE or DELETE gets through the triggers; a correction is a new note naming
// an earlier one of the same process, never of another process.
func TestNotesAreAppendOnly(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	ana := newUser(t, db, "ana@example.com", store.RoleAgent)
	upsert(t, db, store.SourceWebhook, inReview("n-1", procBase.Add(-time.Hour)))
	upsert(t, db, store.SourceWebhook, inReview("n-2", procBase.Add(-time.Hour)))

	first := mustNote(t, db, ana, "n-1", "Called the customer: she is Ana García, +34 600 000 000", 0)
	if first.ProcessID != "n-1" || first.AuthorID != ana.ID || first.AuthorName != ana.DisplayName || first.AuthorEmail != ana.Email ||
		!first.At.Equal(clk.Now()) || first.Corrects != 0 || first.Purged() {
		t.Fatalf("note: got %+v", first)
	}
	rows := auditRows(t, db, string(store.ActionNoteAdd), "n-1")
	if len(rows) != 1 || rows[0].ActorID != ana.ID || rows[0].ObjectType != "process" || rows[0].Detail != "note "+strconv.FormatInt(first.ID, 10) {
		t.Fatalf("audit of the note: got %+v, want one process.note row naming the note by id", rows)
	}
	if strings.Contains(rows[0].Detail, "García") {
		t.Errorf("the audit row holds the note's text: %q", rows[0].Detail)
	}

	for _, q := range []string{
		"UPDATE notes SET body = 'changed' WHERE id = ?",
		"UPDATE notes SET at = '2000-01-01T00:00:00.000000000Z' WHERE id = ?",
		"UPDATE notes SET author_id = author_id WHERE id = ?",
		"UPDATE notes SET purged_at = '2030-01-01T00:00:00.000000000Z' WHERE id = ?", // without clearing the body
		"DELETE FROM notes WHERE id = ?",
	} {
		if _, err := db.SQL().ExecContext(ctx, q, first.ID); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: got %v, want refused as append-only", q, err)
		}
	}
	if got, err := db.GetNote(ctx, first.ID); err != nil || got.Body != first.Body {
		t.Fatalf("note after the refused changes: %+v, %v", got, err)
	}

	clk.Add(time.Minute)
	fix := mustNote(t, db, ana, "n-1", "Correction: the number is +34 600 000 001", first.ID)
	if fix.Corrects != first.ID {
		t.Errorf("correction links to %d, want %d", fix.Corrects, first.ID)
	}
	if rows := auditRows(t, db, string(store.ActionNoteAdd), "n-1"); len(rows) != 2 || !strings.HasSuffix(rows[0].Detail, "corrects note "+strconv.FormatInt(first.ID, 10)) {
		t.Errorf("audit of the correction: got %+v", rows)
	}

	// A correction of a note of another process, or of no note, is refused and writes nothing.
	for _, corrects := range []int64{first.ID, 9999} {
		_, err := db.AddNote(ctx, actorOf(ana), store.NewNote{ProcessID: "n-2", Body: "wrong link", Corrects: corrects}, allow)
		if !errors.Is(err, store.ErrNoteUnknown) || !errors.Is(err, store.ErrInvalid) {
			t.Errorf("correcting note %d from n-2: got %v, want ErrNoteUnknown (invalid)", corrects, err)
		}
	}
	// The trigger holds even for a write that skips the store's check.
	if _, err := db.SQL().ExecContext(ctx, "INSERT INTO notes (process_id, author_id, at, body, corrects) VALUES ('n-2', ?, 'x', 'y', ?)",
		ana.ID, first.ID); err == nil {
		t.Error("a raw insert correcting another process's note was accepted")
	}
	// The rule judges the process inside the write; a refusal writes nothing.
	r := refuse()
	if _, err := db.AddNote(ctx, actorOf(ana), store.NewNote{ProcessID: "n-2", Body: "refused"}, r.rule); !errors.Is(err, errRefused) {
		t.Errorf("refused note: got %v, want the rule's error", err)
	}
	if c := r.only(t); c.Process.ID != "n-2" || !c.Now.Equal(clk.Now()) {
		t.Errorf("the rule judged %+v, want process n-2 at now", c)
	}
	if _, err := db.AddNote(ctx, actorOf(ana), store.NewNote{ProcessID: "no-such", Body: "x"}, allow); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("note on an unknown process: got %v, want ErrNotFound", err)
	}
	var n int
	if err := db.SQL().QueryRowContext(ctx, "SELECT count(*) FROM notes WHERE process_id = 'n-2'").Scan(&n); err != nil || n != 0 {
		t.Errorf("notes on n-2: %d (%v), want none", n, err)
	}
	if got := len(auditRows(t, db, string(store.ActionNoteAdd), "n-2")); got != 0 {
		t.Errorf("audit rows of refused notes: %d, want 0", got)
	}
}

// TestPurgeClearsNoteBodies (P2): the purge of a process's identity data clears the text
// of its notes in the same transaction (the only change the append-only trigger lets
// through); author, time and links stay; other processes' notes are untouched.
func TestPurgeClearsNoteBodies(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	ana := newUser(t, db, "ana@example.com", store.RoleAgent)
	old := procBase.Add(-200 * 24 * time.Hour)
	upsert(t, db, store.SourceWebhook, decided("old-1", "VERIFIED", old))
	upsert(t, db, store.SourceWebhook, inReview("live-1", old))
	first := mustNote(t, db, ana, "old-1", "Her passport number is X1234567", 0)
	fix := mustNote(t, db, ana, "old-1", "No: X1234568", first.ID)
	kept := mustNote(t, db, ana, "live-1", "Ana García asked to be called back", 0)

	clk.Add(time.Hour)
	runPass(t, db.PurgeDue, store.RetentionPass{Before: procBase.Add(-90 * 24 * time.Hour), Detail: "retention"}, allowPurge)
	wantPurged(t, db, "old-1", clk.Now())
	for _, want := range []*store.Note{first, fix} {
		got, err := db.GetNote(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Body != "" || !got.PurgedAt.Equal(clk.Now()) || got.AuthorID != want.AuthorID || !got.At.Equal(want.At) || got.Corrects != want.Corrects {
			t.Errorf("note %d after the purge: got %+v, want its text cleared at %v and the rest kept from %+v", want.ID, got, clk.Now(), want)
		}
	}
	var n int
	if err := db.SQL().QueryRowContext(ctx, "SELECT count(*) FROM notes WHERE body LIKE '%X123456%'").Scan(&n); err != nil || n != 0 {
		t.Errorf("notes still holding the passport number: %d (%v)", n, err)
	}
	if got, err := db.GetNote(ctx, kept.ID); err != nil || got.Body != kept.Body || got.Purged() {
		t.Errorf("note of a process in review: got %+v (%v), want untouched", got, err)
	}
	rows := auditRows(t, db, string(store.ActionProcessPurge), "old-1")
	if len(rows) != 1 || !strings.Contains(rows[0].Detail, "2 case note(s) cleared") {
		t.Errorf("purge audit: got %+v, want it to count the cleared notes", rows)
	}
	// A purged note stays purged: its text cannot come back.
	if _, err := db.SQL().ExecContext(ctx, "UPDATE notes SET body = 'back', purged_at = NULL WHERE id = ?", first.ID); err == nil {
		t.Error("a purged note's text was put back")
	}
}
