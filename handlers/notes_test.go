package handlers_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// indexInReview stores a process awaiting review straight in the index (no gateway).
func (h *harness) indexInReview(id string) {
	h.t.Helper()
	s := store.Snapshot{ID: id, Status: "PENDING", RawStatus: "PENDING", Stage: "REVIEW", Reviewable: true,
		UpdatedAt: h.clock.Now().Add(-time.Hour), HolderName: "Ana García"}
	if _, err := h.db.UpsertProcess(context.Background(), store.SourceWebhook, s, h.clock.Now().Add(time.Hour)); err != nil {
		h.t.Fatalf("index %s: %v", id, err)
	}
}

// notesOf returns the bodies of a process's notes, oldest first.
func (h *harness) notesOf(id string) []string {
	h.t.Helper()
	rows, err := h.db.SQL().Query("SELECT body FROM notes WHERE process_id = ? ORDER BY id", id)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// wantTimelineFragment fails unless r is the timeline alone (an htmx swap), not a whole page.
func wantTimelineFragment(t *testing.T, r *response, status int, what string) {
	t.Helper()
	if r.Code != status || strings.Contains(r.Body, "<html") || !strings.HasPrefix(strings.TrimSpace(r.Body), `<section id="timeline"`) {
		t.Errorf("%s: got %s, want %d with the timeline fragment only", what, r, status)
	}
	wantNoLeak(t, r, what)
}

// TestAddNote: a note posted from the process page is kept with its author, audited,
// and shown in the timeline: htmx gets the timeline fragment back, a plain form a 303
// to the page's timeline.
func TestAddNote(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.indexInReview("p-1")
	path := "/processes/p-1"

	r := f.agentB.post(path+"/notes", formOf("note", "Customer called:\r\nshe will send a new selfie"))
	if r.Code != http.StatusSeeOther || r.location() != path+"#timeline" {
		t.Fatalf("plain post: got %s, want 303 to %s#timeline", r, path)
	}
	r = f.adminB.post(path+"/notes", formOf("note", "Checked with the branch <b>today</b>"), htmxHeader)
	wantTimelineFragment(t, r, http.StatusOK, "htmx post")
	for _, s := range []string{"Customer called:", "she will send a new selfie", esc("Checked with the branch <b>today</b>"), "Alan Agent", "Ada Admin"} {
		if !strings.Contains(r.Body, s) {
			t.Errorf("the timeline after posting lacks %q: %s", s, r)
		}
	}
	if strings.Contains(r.Body, "<b>today</b>") {
		t.Error("the note's text is not escaped")
	}
	if got := f.notesOf("p-1"); len(got) != 2 || got[0] != "Customer called:\nshe will send a new selfie" {
		t.Errorf("notes: got %q", got)
	}
	if got := f.countAudit(string(store.ActionNoteAdd), store.OutcomeSuccess); got != 2 {
		t.Errorf("process.note audit rows: %d, want 2", got)
	}
	// The form comes back empty, with the limit as maxlength.
	if !strings.Contains(r.Body, `maxlength="2000"`) || !hasTestID(r.Body, "note-form") || hasTestID(r.Body, "note-error") {
		t.Errorf("form after posting: %s", r)
	}
}

// TestAddNoteRefusedKeepsTheText: a note over its limit or with control characters is
// refused beside the field (422) with what was typed kept, as a fragment for htmx and as
// a page without it; nothing is written.
func TestAddNoteRefusedKeepsTheText(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.indexInReview("p-1")
	long := strings.Repeat("Ñ", 2001)
	for _, tc := range []struct {
		name, body, msg string
		hs              []header
	}{
		{"too long, htmx", long, "The note is too long: 2000 characters at most (you wrote 2001).", []header{htmxHeader}},
		{"too long, plain form", long, "The note is too long: 2000 characters at most (you wrote 2001).", nil},
		{"control character", "call me\x1b[31m", "The note contains an invisible control character at character 8; control characters are not allowed.", []header{htmxHeader}},
		{"empty", "   ", "Enter the note.", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.agentB.post("/processes/p-1/notes", formOf("note", tc.body), tc.hs...)
			if len(tc.hs) > 0 {
				wantTimelineFragment(t, r, http.StatusUnprocessableEntity, tc.name)
			} else {
				wantPage(t, r, http.StatusUnprocessableEntity, tc.name)
			}
			if !strings.Contains(r.Body, `data-testid="note-error">`+esc(tc.msg)+`</p>`) {
				t.Errorf("no message beside the field: %s", r)
			}
			if !strings.Contains(r.Body, ">"+esc(tc.body)+"</textarea>") {
				t.Errorf("the text was not kept in the field: %s", r)
			}
			if !strings.Contains(r.Body, `aria-describedby="note-hint err-note"`) {
				t.Errorf("the field does not point at its error: %s", r)
			}
		})
	}
	if got := f.notesOf("p-1"); len(got) != 0 {
		t.Errorf("refused notes were written: %q", got)
	}
}

// TestNotesUnknownProcessAndClosedNotes: an unknown process is 404 (denial audited, Z2);
// a process whose identity data was purged shows why notes are closed and refuses one (409).
func TestNotesUnknownProcessAndClosedNotes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, r := range []*response{
		f.agentB.post("/processes/no-such/notes", formOf("note", "hello")),
		f.agentB.get("/processes/no-such/timeline", htmxHeader),
	} {
		if r.Code != http.StatusNotFound {
			t.Errorf("unknown process: got %s, want 404", r)
		}
	}
	if got := f.countAudit(string(store.ActionAccessDenied), store.OutcomeDenied); got != 2 {
		t.Errorf("denials audited: %d, want 2", got)
	}

	ctx := context.Background()
	old := store.Snapshot{ID: "p-old", Status: "VERIFIED", RawStatus: "VERIFIED", Stage: "DONE", Final: true,
		UpdatedAt: f.clock.Now().AddDate(-1, 0, 0), HolderName: "Bo Li"}
	if _, err := f.db.UpsertProcess(ctx, store.SourceWebhook, old, f.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.PurgeDue(ctx, store.RetentionPass{Before: f.clock.Now().AddDate(0, -3, 0)}, func(*store.ErasureCase) error { return nil }); err != nil {
		t.Fatal(err)
	}
	r := f.agentB.get("/processes/p-old/timeline", htmxHeader)
	wantTimelineFragment(t, r, http.StatusOK, "purged process's timeline")
	if !hasTestID(r.Body, "notes-closed") || hasTestID(r.Body, "note-form") {
		t.Errorf("purged process: want the notes closed with why, no form: %s", r)
	}
	r = f.agentB.post("/processes/p-old/notes", formOf("note", "late note"), htmxHeader)
	if r.Code != http.StatusConflict || !strings.Contains(r.Body, "Retention cleared") {
		t.Errorf("note on a purged process: got %s, want 409 saying why", r)
	}
}

var noteIDRE = regexp.MustCompile(`id="note-(\d+)"`)

// TestTimelineFragmentAndCorrection: GET /processes/:id/timeline is the fragment for htmx
// and a page of its own without it; ?correct= turns the form into a correction, which is
// a new note naming the first (the first is never changed).
func TestTimelineFragmentAndCorrection(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.indexInReview("p-1")
	f.agentB.post("/processes/p-1/notes", formOf("note", "Document number is 12345678Z"))

	r := f.agentB.get("/processes/p-1/timeline", htmxHeader)
	wantTimelineFragment(t, r, http.StatusOK, "timeline fragment")
	for _, s := range []string{`data-kind="indexed"`, `data-kind="process.note"`, "Entered the portal", "Document number is 12345678Z"} {
		if !strings.Contains(r.Body, s) {
			t.Errorf("timeline lacks %q: %s", s, r)
		}
	}
	m := noteIDRE.FindStringSubmatch(r.Body)
	if m == nil {
		t.Fatalf("no note anchor in %s", r)
	}
	noteID := m[1]
	if !strings.Contains(r.Body, `hx-get="/processes/p-1/timeline?correct=`+noteID+`"`) {
		t.Errorf("no correction link for note %s: %s", noteID, r)
	}
	page := f.agentB.get("/processes/p-1/timeline?correct=" + noteID)
	wantPage(t, page, http.StatusOK, "timeline page")
	if !hasTestID(page.Body, "note-correcting") || !strings.Contains(page.Body, `name="corrects" value="`+noteID+`"`) {
		t.Fatalf("correction form: %s", page)
	}
	r = f.agentB.post("/processes/p-1/notes", url.Values{"note": {"It is 12345679Z"}, "corrects": {noteID}}, htmxHeader)
	wantTimelineFragment(t, r, http.StatusOK, "correction")
	if !hasTestID(r.Body, "note-corrects") || !strings.Contains(r.Body, "Corrected note "+noteID) {
		t.Errorf("the correction does not name the note: %s", r)
	}
	if got := f.notesOf("p-1"); len(got) != 2 || got[0] != "Document number is 12345678Z" {
		t.Errorf("notes: %q, want the first unchanged and the correction after it", got)
	}
	// A correction naming another process's note is refused beside the field.
	f.indexInReview("p-2")
	if r := f.agentB.get("/processes/p-2/timeline?correct="+noteID, htmxHeader); hasTestID(r.Body, "note-correcting") {
		t.Errorf("p-2's form offers to correct p-1's note: %s", r)
	}
	r = f.agentB.post("/processes/p-2/notes", url.Values{"note": {"wrong"}, "corrects": {noteID}}, htmxHeader)
	wantTimelineFragment(t, r, http.StatusUnprocessableEntity, "correction of another process's note")
	if !hasTestID(r.Body, "note-error") {
		t.Errorf("no message beside the field: %s", r)
	}
}

// TestProcessPageShowsTheTimeline: the process page carries the timeline: the webhook's
// notification, the claim and who viewed which evidence, with the actor's name.
func TestProcessPageShowsTheTimeline(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	id := g.reviewable(1)[0]
	path := "/processes/" + id
	claimed := g.agentB.post(path+"/claim", nil)
	if claimed.Code != http.StatusSeeOther {
		t.Fatalf("claim: %s", claimed)
	}
	if r := g.agentB.get(path + "/evidence/face_now"); r.Code != http.StatusOK {
		t.Fatalf("selfie: %s", r)
	}
	r := g.agentB.get(claimed.location())
	wantPage(t, r, http.StatusOK, "process page")
	i := strings.Index(r.Body, `<section id="timeline"`)
	if i < 0 {
		t.Fatalf("no timeline on the page: %s", r.Body)
	}
	tl := r.Body[i:]
	for _, s := range []string{"Notified by Mobbscan", "Entered the portal", "Claimed the process", "Viewed the live selfie", "Opened the process", "Alan Agent", `data-testid="note-form"`} {
		if !strings.Contains(tl, s) {
			t.Errorf("the page's timeline lacks %q: %s", s, tl)
		}
	}
	if i, j := strings.Index(tl, "Claimed the process"), strings.Index(tl, "Viewed the live selfie"); i < 0 || j < i {
		t.Errorf("the claim should come before the view of the selfie")
	}
}

var olderRE = regexp.MustCompile(`href="(/processes/p-1/timeline\?before=[0-9.]+)"`)

// TestTimelineEarlierEvents: a long timeline shows its newest events and links to the
// earlier ones; that page links back to the newest.
func TestTimelineEarlierEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.indexInReview("p-1")
	a := store.Actor{UserID: f.agent.ID, Role: f.agent.Role, Email: f.agent.Email}
	allow := func(*store.Case) error { return nil }
	for i := range 210 {
		if _, err := f.db.AddNote(context.Background(), a, store.NewNote{ProcessID: "p-1", Body: "note number " + idStr(int64(i))}, allow); err != nil {
			t.Fatal(err)
		}
	}
	r := f.agentB.get("/processes/p-1/timeline", htmxHeader)
	wantTimelineFragment(t, r, http.StatusOK, "newest events")
	if n := strings.Count(r.Body, `data-testid="timeline-event"`); n != 200 {
		t.Errorf("newest page: %d events, want 200", n)
	}
	if strings.Contains(r.Body, "note number 9<") || !strings.Contains(r.Body, "note number 209<") || hasTestID(r.Body, "timeline-latest") {
		t.Errorf("newest page: want notes 10–209 and no link to the latest: %s", r)
	}
	m := olderRE.FindStringSubmatch(r.Body)
	if m == nil {
		t.Fatalf("no link to earlier events: %s", r)
	}
	older := f.agentB.get(html.UnescapeString(m[1]))
	wantPage(t, older, http.StatusOK, "earlier events without JavaScript")
	if n := strings.Count(older.Body, `data-testid="timeline-event"`); n != 11 { // indexed + notes 0–9
		t.Errorf("earlier page: %d events, want 11", n)
	}
	if !strings.Contains(older.Body, "note number 0<") || strings.Contains(older.Body, "note number 10<") || !hasTestID(older.Body, "timeline-latest") ||
		hasTestID(older.Body, "timeline-older") {
		t.Errorf("earlier page: want notes 0–9, a link to the latest and none further back: %s", older)
	}
}
