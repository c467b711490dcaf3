package store_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
)

// kindOf names a timeline event for comparisons: the process event or the action.
func kindOf(e store.TimelineEvent) string {
	if e.Source == store.FromProcessEvents {
		return "event:" + string(e.Event)
	}
	if e.Source == store.FromNotes {
		return "note"
	}
	return string(e.Action)
}

func timelineOf(t *testing.T, db *store.DB, id string, before store.TimelineCursor, limit int) *store.Timeline {
	t.Helper()
	tl, err := db.Timeline(context.Background(), id, before, limit)
	if err != nil {
		t.Fatalf("timeline of %s: %v", id, err)
	}
	return tl
}

// TestTimelineMergesEverySourceInOrder: the notification, the indexing, status changes,
// claims, evidence views (with the kind, "who saw this face"), notes, a decision with
// its reason, its delivery, a row about the decision itself, in the order they happened,
// each with its actor; another process's rows and the notes' own audit rows stay out.
func TestTimelineMergesEverySourceInOrder(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	ana := newUser(t, db, "ana@example.com", store.RoleAgent)
	bob := newUser(t, db, "bob@example.com", store.RoleAgent)
	tick := func() { clk.Add(time.Second) }

	if err := db.EnqueueNotifications(ctx, []store.Notification{{ProcessID: "t-1", Status: "PENDING"}, {ProcessID: "other", Status: "PENDING"}}); err != nil {
		t.Fatal(err)
	}
	tick()
	s := inProgress("t-1", procBase.Add(-time.Hour))
	upsert(t, db, store.SourceWebhook, s)
	upsert(t, db, store.SourceWebhook, inReview("other", procBase.Add(-time.Hour)))
	tick()
	upsert(t, db, store.SourceWebhook, s) // nothing changed: no event
	tick()
	upsert(t, db, store.SourceWebhook, inReview("t-1", procBase.Add(-time.Minute)))
	tick()
	if _, err := db.Claim(ctx, actorOf(ana), "t-1", 5*time.Minute, allow); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Claim(ctx, actorOf(bob), "other", 5*time.Minute, allow); err != nil {
		t.Fatal(err)
	}
	tick()
	if err := db.RecordServed(ctx, actorOf(ana), "t-1", store.EvidenceFaceNow); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordServed(ctx, actorOf(bob), "t-1", store.EvidenceDocumentFront); err != nil { // outside bob's claim
		t.Fatal(err)
	}
	tick()
	note := mustNote(t, db, ana, "t-1", "Selfie is blurry", 0)
	tick()
	r := reasonByCode(t, db, "face-mismatch")
	d := mustDecide(t, db, ana, store.NewDecision{ProcessID: "t-1", Verdict: store.VerdictReject, ReasonID: r.ID, Comment: r.CustomerText})
	tick()
	deliver(t, db, d.ID, store.DeliveryOutcome{State: store.StateDelivered, Audit: true})
	tick()
	if err := db.Audit(ctx, actorOf(bob), store.ActionProcessSample, "decision", strconv.FormatInt(d.ID, 10), store.OutcomeSuccess, "checked"); err != nil {
		t.Fatal(err)
	}

	tl := timelineOf(t, db, "t-1", store.TimelineCursor{}, 0)
	var got []string
	for _, e := range tl.Events {
		got = append(got, kindOf(e))
	}
	want := []string{"event:notified", "event:indexed", "event:status", "process.claim", "evidence.view", "evidence.view", "note",
		"decision.reject", "decision.delivery", "process.sample"}
	if !slices.Equal(got, want) {
		t.Fatalf("timeline: got %v, want %v", got, want)
	}
	if tl.Older != nil {
		t.Errorf("Older: got %+v, want nil (everything shown)", tl.Older)
	}
	for i := 1; i < len(tl.Events); i++ {
		if tl.Events[i].At.Before(tl.Events[i-1].At) {
			t.Errorf("event %d at %v comes after one at %v", i, tl.Events[i].At, tl.Events[i-1].At)
		}
	}
	ev := tl.Events
	if ev[0].Status != "PENDING" || ev[1].Detail != store.SourceWebhook || ev[1].Stage != "IN_PROGRESS" || ev[2].Stage != "REVIEW" {
		t.Errorf("process events: got %+v %+v %+v", ev[0], ev[1], ev[2])
	}
	if ev[3].ActorID != ana.ID || ev[3].ActorName != ana.DisplayName || ev[3].ActorEmail != ana.Email {
		t.Errorf("claim actor: got %d %q %q", ev[3].ActorID, ev[3].ActorName, ev[3].ActorEmail)
	}
	if ev[4].Evidence != store.EvidenceFaceNow || ev[4].ActorID != ana.ID || ev[4].OutsideClaim {
		t.Errorf("ana's view: got %+v, want the live selfie inside her claim", ev[4])
	}
	if ev[5].Evidence != store.EvidenceDocumentFront || ev[5].ActorID != bob.ID || !ev[5].OutsideClaim {
		t.Errorf("bob's view: got %+v, want the document front outside his claim", ev[5])
	}
	if ev[6].Note == nil || ev[6].Note.ID != note.ID || ev[6].Note.Body != "Selfie is blurry" || ev[6].ActorID != ana.ID || ev[6].Action != store.ActionNoteAdd {
		t.Errorf("note: got %+v", ev[6])
	}
	if ev[7].ReasonLabel != r.Label || ev[7].ActorID != ana.ID {
		t.Errorf("decision: reason %q actor %d, want %q by ana", ev[7].ReasonLabel, ev[7].ActorID, r.Label)
	}
	if ev[8].ActorID != 0 || ev[8].Outcome != store.OutcomeSuccess {
		t.Errorf("delivery: got %+v, want the system's success", ev[8])
	}
	if ev[9].ActorID != bob.ID || ev[9].Detail != "checked" {
		t.Errorf("the decision's own audit row: got %+v", ev[9])
	}
	// The other process has its own timeline.
	other := timelineOf(t, db, "other", store.TimelineCursor{}, 0)
	if got := len(other.Events); got != 3 { // notified, indexed, claim: nothing of t-1
		t.Errorf("other's timeline: %d events, want 3: %+v", got, other.Events)
	}
}

// TestTimelineGoneAndStatusEventsOnlyOnChange: a status re-read that changes nothing adds
// no event; the gateway forgetting a process is recorded once.
func TestTimelineGoneAndStatusEventsOnlyOnChange(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	upsert(t, db, store.SourceTracked, inReview("g-1", procBase.Add(-time.Hour)))
	for range 3 {
		clk.Add(time.Minute)
		upsert(t, db, store.SourceTracked, inReview("g-1", procBase.Add(-time.Hour)))
	}
	for range 2 {
		clk.Add(time.Minute)
		if err := db.MarkGone(ctx, "g-1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.MarkGone(ctx, "never-indexed"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range timelineOf(t, db, "g-1", store.TimelineCursor{}, 0).Events {
		got = append(got, kindOf(e))
	}
	if want := []string{"event:indexed", "event:gone"}; !slices.Equal(got, want) {
		t.Errorf("timeline: got %v, want %v", got, want)
	}
	// Known again: a status event.
	clk.Add(time.Minute)
	upsert(t, db, store.SourceTracked, inReview("g-1", procBase))
	if evs := timelineOf(t, db, "g-1", store.TimelineCursor{}, 0).Events; kindOf(evs[len(evs)-1]) != "event:status" {
		t.Errorf("after the gateway knows it again: last event %+v, want a status event", evs[len(evs)-1])
	}
}

// TestTimelinePagesWithTheCursor: a long timeline comes in pages of the newest events;
// following Older walks back to the first event, every event exactly once, in order,
// whatever the mix of sources, including events of the same instant.
func TestTimelinePagesWithTheCursor(t *testing.T) {
	db, clk := openClockedDB(t)
	ctx := context.Background()
	ana := newUser(t, db, "ana@example.com", store.RoleAgent)
	upsert(t, db, store.SourceWebhook, inReview("p-1", procBase.Add(-time.Hour)))
	for i := range 40 {
		switch i % 4 {
		case 0:
			mustNote(t, db, ana, "p-1", fmt.Sprintf("note %d", i), 0)
		case 1:
			if err := db.RecordServed(ctx, actorOf(ana), "p-1", store.EvidenceFaceNow); err != nil {
				t.Fatal(err)
			}
		case 2:
			if err := db.EnqueueNotifications(ctx, []store.Notification{{ProcessID: "p-1", Status: "PENDING"}}); err != nil {
				t.Fatal(err)
			}
		case 3:
			clk.Add(time.Second) // the others share instants
		}
	}
	all := timelineOf(t, db, "p-1", store.TimelineCursor{}, store.TimelineMax).Events
	if len(all) != 31 { // indexed + 10 notes, 10 views, 10 notifications
		t.Fatalf("whole timeline: %d events, want 31", len(all))
	}
	for _, limit := range []int{1, 7, 10, 30} {
		var pages [][]store.TimelineEvent
		cur := store.TimelineCursor{}
		for range 100 {
			tl := timelineOf(t, db, "p-1", cur, limit)
			if len(tl.Events) > limit {
				t.Fatalf("limit %d: a page of %d", limit, len(tl.Events))
			}
			pages = append([][]store.TimelineEvent{tl.Events}, pages...)
			if tl.Older == nil {
				break
			}
			cur = store.ParseTimelineCursor(tl.Older.String())
			if cur != *tl.Older {
				t.Fatalf("cursor round trip: %+v became %q then %+v", *tl.Older, tl.Older.String(), cur)
			}
		}
		var walked []store.TimelineEvent
		for _, p := range pages {
			walked = append(walked, p...)
		}
		if len(walked) != len(all) {
			t.Fatalf("limit %d: walked %d events, want %d", limit, len(walked), len(all))
		}
		for i := range all {
			if walked[i].Source != all[i].Source || walked[i].ID != all[i].ID {
				t.Fatalf("limit %d: event %d is %v %d, want %v %d", limit, i, walked[i].Source, walked[i].ID, all[i].Source, all[i].ID)
			}
		}
	}
	if c := store.ParseTimelineCursor("1.2.x.4"); c != (store.TimelineCursor{}) {
		t.Errorf("a malformed cursor: got %+v, want the newest page", c)
	}
}
