package sandbox

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func TestOnboardingPage(t *testing.T) {
	rc := newReceiver(t)
	h := newHarness(t, Config{WebhookURLs: []string{rc.srv.URL}})
	out := h.create(map[string]any{"countryId": "ESP", "docType": "IDCard", "redirectUrl": "https://bank.example/done?x=1"})
	id, link := out["verificationId"], out["onboardingUrl"]

	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(page, "<form") || !strings.Contains(page, ValidationPersonalNumberBothSidesMatch) || !strings.Contains(page, id) {
		t.Fatalf("page: %d\n%s", resp.StatusCode, page)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if snap, _ := h.sb.Get(id); snap.State != StatusInProgress {
		t.Fatalf("opening the page: state %s, want IN_PROGRESS", snap.State)
	}
	// Opening it again changes nothing.
	resp, _ = http.Get(link)
	resp.Body.Close()

	form := url.Values{"outcome": {"failed"}, "failed": {ValidationMRZ, ValidationLiveness, ValidationMRZ}}
	resp, err = noRedirects.PostForm(link, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://bank.example/done?x=1" {
		t.Fatalf("finish: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	snap, _ := h.sb.Get(id)
	if snap.State != StatusPending || snap.Stage != StageReview || !slices.Equal(snap.Failed, []string{ValidationLiveness, ValidationMRZ}) {
		t.Errorf("after finishing: %+v", snap)
	}
	wait(t, h.sb)
	want := sortedEvents([]webhookEvent{{id, "PENDING", "CREATED"}, {id, "PENDING", "IN_PROGRESS"}, {id, "PENDING", "REVIEW"}})
	if got := sortedEvents(rc.received()); !slices.Equal(got, want) {
		t.Errorf("webhooks = %v, want %v", got, want)
	}

	// The finished page, and a second submission.
	resp, _ = http.Get(link)
	if page := readAll(t, resp); resp.StatusCode != 200 || strings.Contains(page, "<form") || !strings.Contains(page, "finished") {
		t.Errorf("finished page: %d\n%s", resp.StatusCode, page)
	}
	resp, _ = noRedirects.PostForm(link, url.Values{"outcome": {"clean"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("second submission: %d, want 409", resp.StatusCode)
	}
}

func TestOnboardingPageCases(t *testing.T) {
	h := newHarness(t, Config{})
	passport := h.create(map[string]any{"countryId": "CHN", "docType": "Passport"})
	resp, _ := http.Get(passport["onboardingUrl"])
	if page := readAll(t, resp); strings.Contains(page, ValidationBackAppearence) || !strings.Contains(page, ValidationFacialMatching) {
		t.Error("the passport page offers the wrong validations")
	}
	resp, _ = noRedirects.PostForm(passport["onboardingUrl"], url.Values{"outcome": {"maybe"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad outcome: %d", resp.StatusCode)
	}
	resp, _ = noRedirects.PostForm(passport["onboardingUrl"], url.Values{"outcome": {"failed"}, "failed": {"validationNope"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown validation: %d", resp.StatusCode)
	}
	// Clean, without a redirect: a thank-you page.
	resp, _ = noRedirects.PostForm(passport["onboardingUrl"], url.Values{"outcome": {"clean"}})
	if page := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(page, "Thank you") {
		t.Errorf("clean finish: %d", resp.StatusCode)
	}
	if snap, _ := h.sb.Get(passport["verificationId"]); snap.Stage != StageReview || len(snap.Failed) != 0 {
		t.Errorf("clean finish: %+v", snap)
	}

	for _, tt := range []struct {
		path string
		want int
	}{
		{"/onboarding/unknown", 404},
	} {
		resp := h.request(http.MethodGet, tt.path, nil, "")
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET %s: %d, want %d", tt.path, resp.StatusCode, tt.want)
		}
		resp, _ = noRedirects.PostForm(h.srv.URL+tt.path, url.Values{"outcome": {"clean"}})
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("POST %s: %d, want %d", tt.path, resp.StatusCode, tt.want)
		}
	}
	expired := h.seed(SeedSpec{States: []string{"EXPIRED"}, Silent: true})[0]
	snap, _ := h.sb.Get(expired)
	resp = h.request(http.MethodGet, "/onboarding/"+snap.OnboardingToken, nil, "")
	if page := readAll(t, resp); resp.StatusCode != http.StatusGone || !strings.Contains(page, "expired") {
		t.Errorf("expired link: %d", resp.StatusCode)
	}
}
