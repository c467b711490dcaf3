package sandbox

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestControlAPIIsOffByDefault(t *testing.T) {
	h := newHarness(t, Config{})
	for _, p := range []struct{ method, path string }{
		{http.MethodGet, "/_sandbox/"},
		{http.MethodPost, "/_sandbox/seed"},
		{http.MethodGet, "/_sandbox/processes"},
		{http.MethodPost, "/_sandbox/faults"},
		{http.MethodPost, "/_sandbox/reset"},
	} {
		if got := h.call(p.method, p.path, map[string]int{"count": 1}, nil, ""); got != http.StatusNotFound {
			t.Errorf("%s %s: %d, want 404", p.method, p.path, got)
		}
	}
	if n := len(h.sb.List()); n != 0 {
		t.Errorf("the disabled control API seeded %d processes", n)
	}
}

func TestControlAPI(t *testing.T) {
	rc := newReceiver(t)
	h := newHarness(t, Config{Control: true})
	ctl := func(method, path string, body, out any) int {
		t.Helper()
		return h.call(method, path, body, out, "") // no token needed
	}

	// Seed.
	var seeded struct{ IDs []string }
	if code := ctl(http.MethodPost, "/_sandbox/seed", SeedSpec{Count: 4, States: []string{"CREATED", "review", "VERIFIED", "EXPIRED"}, CountryID: "GRC"}, &seeded); code != 200 || len(seeded.IDs) != 4 {
		t.Fatalf("seed: %d %v", code, seeded)
	}
	created, review := seeded.IDs[0], seeded.IDs[1]

	// List and get.
	var list struct{ Processes []ProcessSnapshot }
	ctl(http.MethodGet, "/_sandbox/processes", nil, &list)
	var states []Status
	for _, p := range list.Processes {
		states = append(states, p.State)
		if p.CountryID != "GRC" {
			t.Errorf("country %s", p.CountryID)
		}
	}
	if !slices.Equal(states, []Status{StatusCreated, StatusPending, StatusVerified, StatusExpired}) {
		t.Errorf("states = %v", states)
	}
	var snap ProcessSnapshot
	if code := ctl(http.MethodGet, "/_sandbox/processes/"+review, nil, &snap); code != 200 || snap.Stage != StageReview {
		t.Errorf("get: %d %+v", code, snap)
	}
	if code := ctl(http.MethodGet, "/_sandbox/processes/nope", nil, nil); code != 404 {
		t.Errorf("get unknown: %d", code)
	}

	// Webhooks added over the control API receive the completion.
	if code := ctl(http.MethodPost, "/_sandbox/webhooks", map[string]string{"url": rc.srv.URL}, nil); code != http.StatusNoContent {
		t.Fatalf("add webhook: %d", code)
	}
	if code := ctl(http.MethodPost, "/_sandbox/webhooks", map[string]string{"url": "ftp://x"}, nil); code != 400 {
		t.Errorf("bad webhook url: %d", code)
	}

	// Complete.
	if code := ctl(http.MethodPost, "/_sandbox/processes/"+created+"/complete", map[string]any{"failed": []string{ValidationLiveness, ValidationLegalAge}}, &snap); code != 200 ||
		snap.Stage != StageReview || !slices.Equal(snap.Failed, []string{ValidationLiveness, ValidationLegalAge}) {
		t.Errorf("complete: %d %+v", code, snap)
	}
	if code := ctl(http.MethodPost, "/_sandbox/processes/"+created+"/complete", map[string]any{"outcome": "clean"}, nil); code != 409 {
		t.Errorf("complete twice: %d", code)
	}
	if code := ctl(http.MethodPost, "/_sandbox/processes/"+review+"/complete", map[string]any{"failed": []string{"validationNope"}}, nil); code != 400 {
		t.Errorf("unknown validation: %d", code)
	}
	if code := ctl(http.MethodPost, "/_sandbox/processes/"+review+"/complete", map[string]any{"outcome": "clean", "failed": []string{ValidationMRZ}}, nil); code != 400 {
		t.Errorf("clean with failures: %d", code)
	}
	p, _ := h.sb.get(created)
	if age := time.Since(p.Identity.Birth); age > 18*365*24*time.Hour {
		t.Errorf("a process failing validationLegalAge has a %v-old holder", age.Round(24*time.Hour))
	}

	// Expire.
	extra := h.seed(SeedSpec{States: []string{"IN_PROGRESS"}, Silent: true})[0]
	if code := ctl(http.MethodPost, "/_sandbox/processes/"+extra+"/expire", nil, &snap); code != 200 || snap.Stage != StageExpired {
		t.Errorf("expire: %d %+v", code, snap)
	}
	if code := ctl(http.MethodPost, "/_sandbox/processes/"+review+"/expire", nil, nil); code != 409 {
		t.Errorf("expire a finished process: %d", code)
	}

	// Replay.
	var replay struct{ Queued int }
	if code := ctl(http.MethodPost, "/_sandbox/processes/"+review+"/replay", nil, &replay); code != 200 || replay.Queued != 3 {
		t.Errorf("replay: %d %+v", code, replay)
	}
	wait(t, h.sb)
	if got := len(rc.received()); got != 5 { // the completion, the expiry and three replays
		t.Errorf("receiver got %d notifications, want 5", got)
	}

	// Faults.
	var faults struct{ Faults []faultBody }
	if code := ctl(http.MethodPost, "/_sandbox/faults", faultBody{Route: RouteAccept, Kind: FaultRateLimited, RetryAfter: 7, Count: 2, Latency: "3ms"}, &faults); code != 200 ||
		len(faults.Faults) != 1 || faults.Faults[0] != (faultBody{Route: RouteAccept, Kind: FaultRateLimited, RetryAfter: 7, Count: 2, Latency: "3ms"}) {
		t.Errorf("set fault: %d %+v", code, faults)
	}
	ctl(http.MethodPost, "/_sandbox/faults", faultBody{Route: RouteZip, Kind: FaultReset}, nil)
	if got := h.api(http.MethodPost, "/mobbscan-agent/accept", map[string]string{"verificationId": review}, nil); got != 429 {
		t.Errorf("accept under fault: %d", got)
	}
	for _, bad := range []faultBody{{Route: "nope", Kind: FaultServerError}, {Route: RouteAccept, Kind: "teapot"}, {Route: RouteAccept, Kind: FaultLatency, Latency: "soon"}} {
		if code := ctl(http.MethodPost, "/_sandbox/faults", bad, nil); code != 400 {
			t.Errorf("bad fault %+v: %d", bad, code)
		}
	}
	ctl(http.MethodDelete, "/_sandbox/faults/"+RouteAccept, nil, &faults)
	if len(faults.Faults) != 1 || faults.Faults[0].Route != RouteZip {
		t.Errorf("after clearing accept: %+v", faults)
	}
	if code := ctl(http.MethodDelete, "/_sandbox/faults/nope", nil, nil); code != 400 {
		t.Errorf("clear unknown route: %d", code)
	}
	ctl(http.MethodDelete, "/_sandbox/faults", nil, &faults)
	if len(faults.Faults) != 0 {
		t.Errorf("after clearing all: %+v", faults)
	}

	// Token lifetime.
	if code := ctl(http.MethodPost, "/_sandbox/token-lifetime", map[string]string{"lifetime": "90s"}, nil); code != 200 {
		t.Errorf("token lifetime: %d", code)
	}
	if c := decodeClaims(t, h.newToken()); c.Expiry-c.IssuedAt != 90 {
		t.Errorf("token lives %ds, want 90", c.Expiry-c.IssuedAt)
	}
	for _, bad := range []string{"", "-1s", "forever", "48h"} {
		if code := ctl(http.MethodPost, "/_sandbox/token-lifetime", map[string]string{"lifetime": bad}, nil); code != 400 {
			t.Errorf("lifetime %q: %d", bad, code)
		}
	}

	// Large video.
	var video struct{ Bytes int64 }
	if code := ctl(http.MethodPost, "/_sandbox/video", map[string]int64{"bytes": 5 << 20}, &video); code != 200 || video.Bytes != 5<<20 {
		t.Errorf("video: %d %+v", code, video)
	}
	resp := h.request(http.MethodHead, "/mobbscan-agent/"+review+"/recording/video_liveness", nil, h.token)
	resp.Body.Close()
	if resp.ContentLength != 5<<20 {
		t.Errorf("video length %d", resp.ContentLength)
	}

	// Stats and the console.
	var st Stats
	if code := ctl(http.MethodGet, "/_sandbox/stats", nil, &st); code != 200 || st.TokensIssued != 2 || st.Requests[RouteAccept] != 1 {
		t.Errorf("stats: %d %+v", code, st)
	}
	fresh := h.seed(SeedSpec{States: []string{"CREATED"}, Silent: true})[0]
	freshSnap, _ := h.sb.Get(fresh)
	resp = h.request(http.MethodGet, "/_sandbox/", nil, "")
	page := readAll(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(page, review) || !strings.Contains(page, "/onboarding/"+freshSnap.OnboardingToken) {
		t.Errorf("console: %d", resp.StatusCode)
	}

	// Reset.
	if code := ctl(http.MethodPost, "/_sandbox/reset", nil, nil); code != http.StatusNoContent {
		t.Fatalf("reset: %d", code)
	}
	ctl(http.MethodGet, "/_sandbox/processes", nil, &list)
	if len(list.Processes) != 0 || len(h.sb.Faults()) != 0 || h.sb.Stats().TokensIssued != 0 {
		t.Errorf("after reset: %d processes, faults %v, stats %+v", len(list.Processes), h.sb.Faults(), h.sb.Stats())
	}
	again := h.seed(SeedSpec{Count: 4, States: []string{"CREATED", "review", "VERIFIED", "EXPIRED"}, CountryID: "GRC", Silent: true})
	if !slices.Equal(again, seeded.IDs) {
		t.Error("after a reset the same seed does not give the same processes")
	}
}

func TestControlBodies(t *testing.T) {
	h := newHarness(t, Config{Control: true})
	for _, tt := range []struct {
		path, body string
		want       int
	}{
		{"/_sandbox/seed", `{"count":2}`, 200},
		{"/_sandbox/seed", `{}`, 200},
		{"/_sandbox/seed", `{"count":-1}`, 400},
		{"/_sandbox/seed", `{"count":100000}`, 400},
		{"/_sandbox/seed", `{"states":["DONE"]}`, 400},
		{"/_sandbox/seed", `{"countryId":"spain"}`, 400},
		{"/_sandbox/seed", `{"docType":"Visa"}`, 400},
		{"/_sandbox/seed", `{"outcome":"bad"}`, 400},
		{"/_sandbox/seed", `{"failed":["nope"]}`, 400},
		{"/_sandbox/seed", `{"count":"2"}`, 400},
		{"/_sandbox/seed", `not json`, 400},
		{"/_sandbox/faults", `{"route":"accept"}`, 400},
		{"/_sandbox/video", `{"bytes":-5}`, 400},
	} {
		if got := h.call(http.MethodPost, tt.path, tt.body, nil, ""); got != tt.want {
			t.Errorf("POST %s %s: %d, want %d", tt.path, tt.body, got, tt.want)
		}
	}
}

func TestSeederVariety(t *testing.T) {
	sb, err := New(Config{Seed: 2026})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	now := time.Now()
	ids, err := sb.Seed(SeedSpec{Count: 60, Silent: true})
	if err != nil {
		t.Fatal(err)
	}
	countries, docs, failures := map[string]bool{}, map[string]bool{}, map[string]bool{}
	scripts := map[string]bool{}
	clean, minors, expired, refs := 0, 0, 0, 0
	var lowFacial, highFacial bool
	for _, id := range ids {
		p, _ := sb.get(id)
		countries[p.CountryID] = true
		docs[p.DocType] = true
		for _, f := range p.Failed {
			failures[f] = true
		}
		if len(p.Failed) == 0 {
			clean++
		}
		if p.Identity.Birth.After(now.AddDate(-18, 0, 0)) {
			minors++
		}
		if p.Identity.Expiry.Before(now) {
			expired++
		}
		if strings.HasPrefix(p.ExtraData["customerRef"], "C-") {
			refs++
		}
		for _, r := range p.Identity.Surname {
			switch {
			case r >= 0x370 && r < 0x400:
				scripts["greek"] = true
			case r >= 0x400 && r < 0x500:
				scripts["cyrillic"] = true
			case r >= 0x4e00 && r < 0xa000:
				scripts["cjk"] = true
			case r > 0x7f && r < 0x250:
				scripts["accented"] = true
			}
		}
		if p.Scores.FacialMatching < 0.5 {
			lowFacial = true
		}
		if p.Scores.FacialMatching > 0.9 {
			highFacial = true
		}
		if !p.Created.Before(p.Updated.Add(time.Second)) || p.Created.After(now) || p.Created.Before(now.Add(-11*time.Hour)) {
			t.Errorf("%s: created %v updated %v", id, p.Created, p.Updated)
		}
	}
	if len(countries) < 7 || len(docs) != 3 || len(failures) != len(Validations) {
		t.Errorf("countries %v, doc types %v, failures %d of %d", countries, docs, len(failures), len(Validations))
	}
	if len(scripts) != 4 || clean < 10 || minors == 0 || expired == 0 || refs < 20 || !lowFacial || !highFacial {
		t.Errorf("scripts %v, clean %d, minors %d, expired %d, customerRefs %d, facial scores low %v high %v",
			scripts, clean, minors, expired, refs, lowFacial, highFacial)
	}
}

func TestSeedIsReproducible(t *testing.T) {
	seed := func(s int64) []ProcessSnapshot {
		clk := newClock()
		sb, err := New(Config{Seed: s, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		defer sb.Close()
		if _, err := sb.Seed(SeedSpec{Count: 10, States: []string{"REVIEW", "NOT_VERIFIED"}, Silent: true}); err != nil {
			t.Fatal(err)
		}
		return sb.List()
	}
	a, b, c := seed(1), seed(1), seed(2)
	for i := range a {
		if a[i].ID != b[i].ID || a[i].CountryID != b[i].CountryID || !slices.Equal(a[i].Failed, b[i].Failed) ||
			!a[i].Created.Equal(b[i].Created) || a[i].RejectionComment != b[i].RejectionComment {
			t.Errorf("process %d differs between runs with the same seed:\n%+v\n%+v", i, a[i], b[i])
		}
	}
	if a[0].ID == c[0].ID {
		t.Error("another seed gives the same ids")
	}
}

func TestGoMethodErrors(t *testing.T) {
	sb, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if err := sb.Complete("nope", nil); err == nil {
		t.Error("Complete of an unknown id succeeded")
	}
	id := must(sb.Seed(SeedSpec{Silent: true}))[0]
	if err := sb.Complete(id, nil); err == nil {
		t.Error("Complete of a finished process succeeded")
	}
	if err := sb.Expire(id); err == nil {
		t.Error("Expire of a finished process succeeded")
	}
	if _, ok := sb.Get("nope"); ok {
		t.Error("Get of an unknown id succeeded")
	}
}
