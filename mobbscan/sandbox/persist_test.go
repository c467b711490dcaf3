package sandbox

import (
	"bytes"
	"net/http"
	"slices"
	"testing"
)

func TestPersistenceAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, Seed: 31}

	first := newHarness(t, cfg)
	ids := first.seed(SeedSpec{Count: 5, States: []string{"REVIEW", "CREATED", "VERIFIED", "REVIEW", "EXPIRED"}, Silent: true})
	created := first.create(map[string]any{"countryId": "UKR", "docType": "Passport", "redirectUrl": "https://bank.example/back",
		"verificationExtraData": map[string]string{"customerRef": "C-2001"}})["verificationId"]
	first.api(http.MethodPost, "/mobbscan-agent/accept", map[string]any{"verificationId": ids[0], "type": "MANUAL",
		"personalData": map[string]string{"surname": "Nueva"}}, nil)
	first.api(http.MethodPost, "/mobbscan-agent/reject", map[string]any{"verificationId": ids[3], "rejectionComment": "blurred"}, nil)
	first.api(http.MethodDelete, "/mobbscan-agent/api/verification/"+ids[4], nil, nil)
	image, err := first.sb.Image(ids[0], EvidenceDocumentFront)
	if err != nil {
		t.Fatal(err)
	}
	before := first.sb.List()
	oldToken := first.token
	if err := first.sb.Close(); err != nil {
		t.Fatal(err)
	}

	second := newHarness(t, cfg)
	after := second.sb.List()
	if len(after) != len(before) {
		t.Fatalf("%d processes after the restart, want %d", len(after), len(before))
	}
	for i := range before {
		b, a := before[i], after[i]
		if a.ID != b.ID || a.State != b.State || a.Verdict != b.Verdict || a.RejectionComment != b.RejectionComment ||
			!a.Created.Equal(b.Created) || !slices.Equal(a.Failed, b.Failed) || a.Accepts != b.Accepts || a.Rejects != b.Rejects ||
			a.Corrections["surname"] != b.Corrections["surname"] || a.ExtraData["customerRef"] != b.ExtraData["customerRef"] {
			t.Errorf("process %d changed across the restart:\n%+v\n%+v", i, b, a)
		}
	}
	if _, ok := second.sb.Get(ids[4]); ok {
		t.Error("a deleted process came back")
	}
	if snap, _ := second.sb.Get(created); snap.ExtraData["customerRef"] != "C-2001" {
		t.Errorf("created process = %+v", snap)
	}
	again, err := second.sb.Image(ids[0], EvidenceDocumentFront)
	if err != nil || !bytes.Equal(again, image) {
		t.Errorf("evidence differs after the restart (%v)", err)
	}
	// The sequence continues: new processes do not reuse ids.
	more := second.seed(SeedSpec{Count: 3, Silent: true})
	for _, id := range more {
		if slices.Contains(ids, id) || id == created {
			t.Errorf("id %s reused after the restart", id)
		}
	}
	// Tokens are signed with a per-instance key: the old one is refused.
	if got := second.call(http.MethodGet, "/mobbscan-agent/checkVerificationProcessResult/"+ids[0], nil, nil, oldToken); got != http.StatusUnauthorized {
		t.Errorf("token from before the restart: %d, want 401", got)
	}
	// The onboarding link of the created process still works.
	snap, _ := second.sb.Get(created)
	resp := second.request(http.MethodGet, "/onboarding/"+snap.OnboardingToken, nil, "")
	resp.Body.Close()
	if snap, _ := second.sb.Get(created); resp.StatusCode != 200 || snap.State != StatusInProgress {
		t.Errorf("onboarding after restart: %d %s", resp.StatusCode, snap.State)
	}

	if err := second.sb.Reset(); err != nil {
		t.Fatal(err)
	}
	second.sb.Close()
	third := newHarness(t, cfg)
	if n := len(third.sb.List()); n != 0 {
		t.Errorf("%d processes after a reset and a restart", n)
	}
}

func TestOpenStoreFailsOnABadDir(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/file"
	if err := writeFile(file); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{DataDir: file}); err == nil {
		t.Error("New with a file as DataDir succeeded")
	}
}
