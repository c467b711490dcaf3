package handlers_test

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

// The admin pages: reason catalogue, deliveries, settings and the audit log, through
// the real router on a real SQLite file.

var (
	admReasonRowRE = regexp.MustCompile(`data-testid="reason-row" data-code="([^"]*)"`)
	admReasonKeyRE = regexp.MustCompile(`data-testid="reason-key">([0-9])<`)
	admPendingRE   = regexp.MustCompile(`data-testid="pending-row" data-id="([0-9]+)" data-state="([a-z_]+)"`)
	admDelivRE     = regexp.MustCompile(`data-testid="delivered-row" data-id="([0-9]+)"`)
	admAuditRowRE  = regexp.MustCompile(`data-testid="audit-row" data-id="([0-9]+)"`)
	admNextRE      = regexp.MustCompile(`href="([^"]*)" data-testid="audit-next"`)
	admFirstRE     = regexp.MustCompile(`href="([^"]*)" data-testid="audit-first"`)
)

// admReasonCodes returns the reason codes in page order.
func admReasonCodes(body string) []string {
	var out []string
	for _, m := range admReasonRowRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// admReasonKeys maps each listed reason code to its shortcut key ("" when none).
func admReasonKeys(body string) map[string]string {
	out := map[string]string{}
	chunks := strings.Split(body, `data-testid="reason-row"`)
	for _, ch := range chunks[1:] {
		m := admReasonRowRE.FindStringSubmatch(`data-testid="reason-row"` + ch)
		if m == nil {
			continue
		}
		key := ""
		if k := admReasonKeyRE.FindStringSubmatch(ch); k != nil {
			key = k[1]
		}
		out[m[1]] = key
	}
	return out
}

// admReason returns the stored reason with code.
func admReason(t *testing.T, db *store.DB, code string) *store.Reason {
	t.Helper()
	list, err := db.ListReasons(context.Background(), false)
	if err != nil {
		t.Fatalf("ListReasons: %v", err)
	}
	for _, r := range list {
		if r.Code == code {
			return r
		}
	}
	t.Fatalf("no reason %q", code)
	return nil
}

func admReasonURL(r *store.Reason, action string) string {
	u := "/admin/reasons/" + idStr(r.ID)
	if action != "" {
		u += "/" + action
	}
	return u
}

// TestAdminReasonLifecycle: an admin adds, edits, reorders, retires and restores a
// reason; each change is stored and audited, and the keys 1–9 follow the order.
func TestAdminReasonLifecycle(t *testing.T) {
	f := newFixture(t)
	b := f.adminB

	r := b.get("/admin/reasons")
	wantPage(t, r, http.StatusOK, "reasons page")
	seeded := admReasonCodes(r.Body)
	if len(seeded) != 9 {
		t.Fatalf("seeded reasons: got %d (%v), want 9", len(seeded), seeded)
	}
	for i, code := range seeded {
		if got, want := admReasonKeys(r.Body)[code], idStr(int64(i+1)); got != want {
			t.Errorf("key of %s: got %q, want %q", code, got, want)
		}
	}

	// Add: it lands at the end, tenth, without a key.
	r = b.submit("/admin/reasons", "/admin/reasons", formOf("code", "selfie-blurred", "label", "Selfie blurred",
		"customer_text", "The selfie is too blurred to compare. Please take it again, holding the phone still."))
	if r.Code != http.StatusSeeOther || r.location() != "/admin/reasons?done=reason-created" {
		t.Fatalf("create: got %s, want 303 to the list", r)
	}
	added := admReason(t, f.db, "selfie-blurred")
	if added.Label != "Selfie blurred" || !added.Active || added.InUse {
		t.Errorf("created %+v, want the label, active, not in use", added)
	}
	if got := f.countAudit("reason.create", store.OutcomeSuccess); got != 1 {
		t.Errorf("reason.create rows: got %d, want 1", got)
	}
	r = b.get(r.location())
	if !strings.Contains(r.Body, "Reason added") {
		t.Errorf("no confirmation after create: %s", r)
	}
	if codes := admReasonCodes(r.Body); len(codes) != 10 || codes[9] != "selfie-blurred" {
		t.Errorf("order after create: %v, want selfie-blurred tenth", codes)
	}
	if got := admReasonKeys(r.Body)["selfie-blurred"]; got != "" {
		t.Errorf("tenth reason has key %q, want none", got)
	}

	// Edit: label and wording change, the code stays.
	r = b.get("/admin/reasons?edit=" + idStr(added.ID))
	wantPage(t, r, http.StatusOK, "edit form")
	if !hasTestID(r.Body, "edit-reason-form") || !strings.Contains(r.Body, "Selfie blurred") {
		t.Fatalf("edit form missing: %s", r)
	}
	r = b.post(admReasonURL(added, ""), formOf("label", " Selfie unusable ", "customer_text", "We could not use the selfie. Please take it again in good light."))
	if r.Code != http.StatusSeeOther || r.location() != "/admin/reasons?done=reason-updated" {
		t.Fatalf("update: got %s, want 303", r)
	}
	if got := admReason(t, f.db, "selfie-blurred"); got.Label != "Selfie unusable" || got.CustomerText != "We could not use the selfie. Please take it again in good light." {
		t.Errorf("after update: %+v", got)
	}
	if got := f.countAudit("reason.update", store.OutcomeSuccess); got != 1 {
		t.Errorf("reason.update rows: got %d, want 1", got)
	}
	// Saving unchanged text changes nothing and records nothing.
	b.post(admReasonURL(added, ""), formOf("label", "Selfie unusable", "customer_text", "We could not use the selfie. Please take it again in good light."))
	if got := f.countAudit("reason.update", ""); got != 1 {
		t.Errorf("reason.update rows after a no-op save: got %d, want 1", got)
	}

	// Move up: ninth, with key 9; the former ninth loses its key.
	r = b.post(admReasonURL(added, "move"), formOf("dir", "up"))
	if r.Code != http.StatusSeeOther || r.location() != "/admin/reasons?done=reason-moved" {
		t.Fatalf("move up: got %s, want 303", r)
	}
	r = b.get("/admin/reasons")
	codes := admReasonCodes(r.Body)
	if codes[8] != "selfie-blurred" || codes[9] != seeded[8] {
		t.Errorf("order after move up: %v", codes)
	}
	keys := admReasonKeys(r.Body)
	if keys["selfie-blurred"] != "9" || keys[seeded[8]] != "" {
		t.Errorf("keys after move up: selfie-blurred %q, %s %q; want 9 and none", keys["selfie-blurred"], seeded[8], keys[seeded[8]])
	}
	// With htmx the answer is the list alone.
	r = b.post(admReasonURL(added, "move"), formOf("dir", "down"), htmxHeader, header{"HX-Target", views.IDAdminReasonList})
	if r.Code != http.StatusOK || strings.Contains(r.Body, "<html") || !strings.Contains(r.Body, `id="`+views.IDAdminReasonList+`"`) {
		t.Fatalf("htmx move down: got %s, want the list fragment", r)
	}
	if codes := admReasonCodes(r.Body); codes[9] != "selfie-blurred" {
		t.Errorf("order after move down: %v", codes)
	}
	// Moving the first up or the last down is a no-op, not an error.
	first := admReason(t, f.db, seeded[0])
	if r := b.post(admReasonURL(first, "move"), formOf("dir", "up")); r.Code != http.StatusSeeOther {
		t.Errorf("move the first up: got %s, want 303", r)
	}
	if got := f.countAudit("reason.move", store.OutcomeSuccess); got != 2 {
		t.Errorf("reason.move rows: got %d, want 2", got)
	}

	// Retire and restore.
	r = b.post(admReasonURL(added, "retire"), nil)
	if r.Code != http.StatusSeeOther || r.location() != "/admin/reasons?done=reason-retired" {
		t.Fatalf("retire: got %s, want 303", r)
	}
	if admReason(t, f.db, "selfie-blurred").Active {
		t.Error("still active after retire")
	}
	r = b.get("/admin/reasons")
	if !strings.Contains(r.Body, "Retired") {
		t.Errorf("no retired marker: %s", r)
	}
	// A retired reason has no place in the order.
	if r := b.post(admReasonURL(added, "move"), formOf("dir", "up")); r.Code != http.StatusConflict || !strings.Contains(r.Body, "Restore it first") {
		t.Errorf("move a retired reason: got %s, want 409", r)
	}
	r = b.post(admReasonURL(added, "restore"), nil, htmxHeader)
	if r.Code != http.StatusOK || !strings.Contains(r.Body, `id="`+views.IDAdminReasonList+`"`) {
		t.Fatalf("htmx restore: got %s, want the list fragment", r)
	}
	if !admReason(t, f.db, "selfie-blurred").Active {
		t.Error("not active after restore")
	}
	if got, want := f.countAudit("reason.retire", store.OutcomeSuccess)+f.countAudit("reason.restore", store.OutcomeSuccess), 2; got != want {
		t.Errorf("retire+restore rows: got %d, want %d", got, want)
	}
	// Restoring an active reason changes nothing.
	b.post(admReasonURL(added, "restore"), nil)
	if got := f.countAudit("reason.restore", ""); got != 1 {
		t.Errorf("reason.restore rows after a second restore: got %d, want 1", got)
	}
}

// TestAdminReasonRefusals: bad ids, a bad direction and retiring the last active reason.
func TestAdminReasonRefusals(t *testing.T) {
	f := newFixture(t)
	b := f.adminB
	tests := []struct {
		name, method, path string
		form               url.Values
		want               int
	}{
		{"edit unknown", http.MethodGet, "/admin/reasons?edit=9999", nil, http.StatusNotFound},
		{"edit not a number", http.MethodGet, "/admin/reasons?edit=abc", nil, http.StatusNotFound},
		{"update unknown", http.MethodPost, "/admin/reasons/9999", formOf("label", "X", "customer_text", "Y"), http.StatusNotFound},
		{"update not a number", http.MethodPost, "/admin/reasons/abc", formOf("label", "X", "customer_text", "Y"), http.StatusNotFound},
		{"move unknown", http.MethodPost, "/admin/reasons/9999/move", formOf("dir", "up"), http.StatusNotFound},
		{"move sideways", http.MethodPost, "/admin/reasons/1/move", formOf("dir", "left"), http.StatusBadRequest},
		{"move no direction", http.MethodPost, "/admin/reasons/1/move", nil, http.StatusBadRequest},
		{"retire unknown", http.MethodPost, "/admin/reasons/9999/retire", nil, http.StatusNotFound},
		{"restore negative", http.MethodPost, "/admin/reasons/-1/restore", nil, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.audit(""))
			var r *response
			if tt.method == http.MethodGet {
				r = b.get(tt.path)
			} else {
				r = b.post(tt.path, tt.form)
			}
			wantPage(t, r, tt.want, tt.name)
			if got := len(f.audit("")); got != before {
				t.Errorf("%s: %d audit rows written, want none", tt.name, got-before)
			}
		})
	}

	// Retire all but one: the last active reason stays.
	list, err := f.db.ListReasons(t.Context(), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range list[1:] {
		if res := b.post(admReasonURL(r, "retire"), nil); res.Code != http.StatusSeeOther {
			t.Fatalf("retire %s: got %s", r.Code, res)
		}
	}
	r := b.post(admReasonURL(list[0], "retire"), nil)
	wantPage(t, r, http.StatusConflict, "retire the last active reason")
	if !strings.Contains(r.Body, "last active reason") {
		t.Errorf("no explanation: %s", r)
	}
	if !admReason(t, f.db, list[0].Code).Active {
		t.Error("the last active reason was retired")
	}
}

// TestAdminReasonValidation: bad or duplicate input comes back as the form with a
// message on the field (422); nothing is stored or audited.
func TestAdminReasonValidation(t *testing.T) {
	f := newFixture(t)
	okText := "Please start again."
	tests := []struct {
		name, code, label, text string
		field, msg              string
	}{
		{"duplicate code", "face-mismatch", "Another", okText, "code", "A reason with this code already exists"},
		{"code too short", "x", "Label", okText, "code", "Use 2 to 40 characters"},
		{"code too long", strings.Repeat("a", 41), "Label", okText, "code", "Use 2 to 40 characters"},
		{"code upper case", "Face-Blur", "Label", okText, "code", "Use 2 to 40 characters"},
		{"code with a space", "face blur", "Label", okText, "code", "Use 2 to 40 characters"},
		{"code with a dot", "face.blur", "Label", okText, "code", "Use 2 to 40 characters"},
		{"no code", "", "Label", okText, "code", "Use 2 to 40 characters"},
		{"no label", "new-one", "  ", okText, "label", "Enter the label."},
		{"label too long", "new-one", strings.Repeat("l", 101), okText, "label", "The label is too long: 100 characters at most (you wrote 101)."},
		{"label with a direction override", "new-one", "Expired\u202E", okText, "label", "The label contains an invisible direction-control character"},
		{"no wording", "new-one", "Label", " ", "customer_text", "Enter the wording for the customer."},
		{"wording too long", "new-one", "Label", strings.Repeat("w", 501), "customer_text", "The wording for the customer is too long: 500 characters at most (you wrote 501)."},
		{"two paragraphs", "new-one", "Label", "First paragraph.\n\nSecond one.", "customer_text", "The wording for the customer contains a line break at character 17; it must be on one line."},
		{"a line break", "new-one", "Label", "First line.\r\nSecond line.", "customer_text", "The wording for the customer contains a line break at character 12; it must be on one line."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reasons := f.countRows("SELECT count(*) FROM reasons")
			audits := len(f.audit(""))
			r := f.adminB.submit("/admin/reasons", "/admin/reasons", formOf("code", tt.code, "label", tt.label, "customer_text", tt.text))
			wantPage(t, r, http.StatusUnprocessableEntity, tt.name)
			if !hasTestID(r.Body, "err-"+tt.field) || !strings.Contains(r.Body, esc(tt.msg)) {
				t.Errorf("%s: want %q on %s: %s", tt.name, tt.msg, tt.field, r)
			}
			if !hasTestID(r.Body, "new-reason-form") {
				t.Errorf("%s: the form is not returned", tt.name)
			}
			if tt.label != "" && strings.TrimSpace(tt.label) != "" && !strings.Contains(r.Body, `value="`+esc(strings.TrimSpace(tt.label))+`"`) {
				t.Errorf("%s: the typed label is not kept", tt.name)
			}
			if got := f.countRows("SELECT count(*) FROM reasons"); got != reasons {
				t.Errorf("%s: reasons %d, want %d", tt.name, got, reasons)
			}
			if got := len(f.audit("")); got != audits {
				t.Errorf("%s: %d audit rows written, want none", tt.name, got-audits)
			}
		})
	}

	// The edit form refuses the same way and keeps the stored text.
	target := admReason(t, f.db, "face-mismatch")
	edits := []struct {
		name, label, text, field string
	}{
		{"empty label", "", "Fine text.", "label"},
		{"label on two lines", "A\nB", "Fine text.", "label"},
		{"empty wording", "Fine", "", "customer_text"},
		{"wording on two lines", "Fine", "One.\nTwo.", "customer_text"},
	}
	for _, tt := range edits {
		t.Run("edit "+tt.name, func(t *testing.T) {
			r := f.adminB.post(admReasonURL(target, ""), formOf("label", tt.label, "customer_text", tt.text))
			wantPage(t, r, http.StatusUnprocessableEntity, tt.name)
			if !hasTestID(r.Body, "edit-reason-form") || !hasTestID(r.Body, "err-"+tt.field) {
				t.Errorf("%s: want the edit form with an error on %s: %s", tt.name, tt.field, r)
			}
			if got := admReason(t, f.db, "face-mismatch"); got.Label != target.Label || got.CustomerText != target.CustomerText {
				t.Errorf("%s: stored %+v, want unchanged", tt.name, got)
			}
		})
	}
	if got := f.countAudit("reason.update", ""); got != 0 {
		t.Errorf("reason.update rows: got %d, want 0", got)
	}
}

// TestAdminCatalogueRefusesAgents: an agent gets 403 on every route of these pages and
// nothing changes.
func TestAdminCatalogueRefusesAgents(t *testing.T) {
	f := newFixture(t)
	reason := admReason(t, f.db, "face-mismatch")
	rid := idStr(reason.ID)
	routes := []struct{ method, path string }{
		{http.MethodGet, "/admin/reasons"},
		{http.MethodGet, "/admin/reasons?edit=" + rid},
		{http.MethodPost, "/admin/reasons"},
		{http.MethodPost, "/admin/reasons/" + rid},
		{http.MethodPost, "/admin/reasons/" + rid + "/move"},
		{http.MethodPost, "/admin/reasons/" + rid + "/retire"},
		{http.MethodPost, "/admin/reasons/" + rid + "/restore"},
		{http.MethodGet, "/admin/deliveries"},
		{http.MethodPost, "/admin/deliveries/1/retry"},
		{http.MethodPost, "/admin/deliveries/1/resolve"},
		{http.MethodGet, "/admin/settings"},
		{http.MethodPost, "/admin/settings"},
		{http.MethodGet, "/admin/audit"},
		{http.MethodPost, "/admin/audit/verify"},
	}
	form := formOf("code", "agent-made", "label", "Agent label", "customer_text", "Agent text.", "dir", "up",
		"note", "done", store.SettingFourEyesReject, "on")
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			var r *response
			if rt.method == http.MethodGet {
				r = f.agentB.get(rt.path)
			} else {
				r = f.agentB.post(rt.path, form)
			}
			wantPage(t, r, http.StatusForbidden, "agent "+rt.method+" "+rt.path)
		})
	}
	if got := admReason(t, f.db, "face-mismatch"); got.Label != reason.Label || !got.Active || got.Position != reason.Position {
		t.Errorf("reason after the agent's attempts: %+v, want unchanged", got)
	}
	if got := f.countRows("SELECT count(*) FROM reasons"); got != 9 {
		t.Errorf("reasons: got %d, want 9", got)
	}
	if v, _ := f.db.Setting(t.Context(), store.SettingFourEyesReject, "off"); v != "off" {
		t.Errorf("four_eyes_reject after the agent's attempt: %q, want off", v)
	}
	for _, a := range []string{"reason.create", "reason.update", "reason.move", "reason.retire", "setting.change", "audit.verify"} {
		if got := f.countAudit(a, ""); got != 0 {
			t.Errorf("%s rows: got %d, want 0", a, got)
		}
	}
	if got := f.countAudit("access.denied", store.OutcomeDenied); got != len(routes) {
		t.Errorf("access.denied rows: got %d, want %d", got, len(routes))
	}
}

// TestAdminSettings: the four-eyes toggles are saved as on/off and every change is
// audited; saving without a change records nothing.
func TestAdminSettings(t *testing.T) {
	f := newFixture(t)
	keys := []string{store.SettingFourEyesAcceptFailed, store.SettingFourEyesAccept, store.SettingFourEyesReject}
	get := func(key string) string {
		t.Helper()
		v, err := f.db.Setting(t.Context(), key, "unset")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	r := f.adminB.get("/admin/settings")
	wantPage(t, r, http.StatusOK, "settings page")
	for _, k := range keys {
		if !hasTestID(r.Body, "setting-"+k) {
			t.Errorf("no check box for %s", k)
		}
	}
	for _, s := range []string{"Accepts with failed checks need a second agent", "Every accept needs a second agent", "Every reject needs a second agent", "What four-eyes does"} {
		if !strings.Contains(r.Body, s) {
			t.Errorf("settings page lacks %q", s)
		}
	}
	if strings.Contains(r.Body, "checked") {
		t.Errorf("a box is checked by default: %s", r)
	}

	steps := []struct {
		name    string
		form    url.Values
		want    map[string]string
		changes int // new setting.change rows
	}{
		{"reject on", formOf(store.SettingFourEyesReject, "on"), map[string]string{
			store.SettingFourEyesAcceptFailed: "off", store.SettingFourEyesAccept: "off", store.SettingFourEyesReject: "on"}, 3},
		{"same again", formOf(store.SettingFourEyesReject, "on"), map[string]string{
			store.SettingFourEyesAcceptFailed: "off", store.SettingFourEyesAccept: "off", store.SettingFourEyesReject: "on"}, 0},
		{"accepts on, reject off", formOf(store.SettingFourEyesAcceptFailed, "on", store.SettingFourEyesAccept, "on"), map[string]string{
			store.SettingFourEyesAcceptFailed: "on", store.SettingFourEyesAccept: "on", store.SettingFourEyesReject: "off"}, 3},
		{"all off", url.Values{}, map[string]string{
			store.SettingFourEyesAcceptFailed: "off", store.SettingFourEyesAccept: "off", store.SettingFourEyesReject: "off"}, 2},
	}
	for _, st := range steps {
		before := f.countAudit("setting.change", store.OutcomeSuccess)
		r := f.adminB.submit("/admin/settings", "/admin/settings", st.form)
		if r.Code != http.StatusSeeOther || r.location() != "/admin/settings?done=settings-saved" {
			t.Fatalf("%s: got %s, want 303", st.name, r)
		}
		for k, want := range st.want {
			if got := get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", st.name, k, got, want)
			}
		}
		if got := f.countAudit("setting.change", store.OutcomeSuccess) - before; got != st.changes {
			t.Errorf("%s: %d setting.change rows, want %d", st.name, got, st.changes)
		}
		page := f.adminB.get(r.location())
		if !strings.Contains(page.Body, "Settings saved.") {
			t.Errorf("%s: no confirmation", st.name)
		}
		for k, want := range st.want {
			checked := regexp.MustCompile(`name="` + k + `" value="on" checked`).MatchString(page.Body)
			if checked != (want == "on") {
				t.Errorf("%s: box %s checked=%v, want %v", st.name, k, checked, want == "on")
			}
		}
	}
	last := f.audit("setting.change")
	if e := last[len(last)-1]; e.ActorID != f.admin.ID || e.ObjectType != "setting" || e.IP != "192.0.2.10" || e.RequestID == "" {
		t.Errorf("setting.change row: %+v, want the admin, object setting, IP and request id", e)
	}

	// Anything but "on" is not a check box value.
	r = f.adminB.post("/admin/settings", formOf(store.SettingFourEyesReject, "yes"))
	wantPage(t, r, http.StatusBadRequest, "bad value")
	if got := get(store.SettingFourEyesReject); got != "off" {
		t.Errorf("after a bad value: %q, want off", got)
	}
}

// admDecide makes a decision on a fresh process in review, as an agent would, and
// returns it (state queued, or second_review).
func admDecide(g *gw, id, holder string, verdict store.Verdict, second bool) *store.Decision {
	g.t.Helper()
	ctx := context.Background()
	g.indexSnapshot(store.Snapshot{ID: id, UpdatedAt: g.clock.Now().Add(-time.Hour), Country: "ESP", DocType: "IDCard", HolderName: holder})
	a := store.Actor{UserID: g.agent.ID, Email: g.agent.Email, IP: "192.0.2.10"}
	allow := func(*store.Case) error { return nil }
	if _, err := g.db.Claim(ctx, a, id, 10*time.Minute, allow); err != nil {
		g.t.Fatalf("claim %s: %v", id, err)
	}
	nd := store.NewDecision{ProcessID: id, Verdict: verdict, SecondReview: second}
	if verdict == store.VerdictReject {
		r := admReason(g.t, g.db, "face-mismatch")
		nd.ReasonID, nd.Comment = r.ID, r.CustomerText
	}
	d, err := g.db.Decide(ctx, a, nd, allow)
	if err != nil {
		g.t.Fatalf("decide %s: %v", id, err)
	}
	return d
}

// admDeliver records one delivery attempt with outcome o, as the worker would.
func admDeliver(g *gw, d *store.Decision, o store.DeliveryOutcome) {
	g.t.Helper()
	ctx := context.Background()
	ok, err := g.db.StartDelivery(ctx, d.ID)
	if err != nil || !ok {
		g.t.Fatalf("StartDelivery %d: %v, %v", d.ID, ok, err)
	}
	o.Audit = true
	if err := g.db.FinishDelivery(ctx, d, o); err != nil {
		g.t.Fatalf("FinishDelivery %d: %v", d.ID, err)
	}
}

func admDecision(g *gw, id int64) *store.Decision {
	g.t.Helper()
	d, err := g.db.GetDecision(context.Background(), id)
	if err != nil {
		g.t.Fatalf("GetDecision %d: %v", id, err)
	}
	return d
}

// admPending returns the undelivered rows of the deliveries page: id → state.
func admPending(body string) map[string]string {
	out := map[string]string{}
	for _, m := range admPendingRE.FindAllStringSubmatch(body, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// TestAdminDeliveries: the page lists every decision not yet delivered, newest first,
// and the recent deliveries; an admin retries and resolves them, and both are audited;
// a retry or resolve the state does not allow is a 409, an unknown id a 404.
func TestAdminDeliveries(t *testing.T) {
	g := newGateway(t)
	parked := admDecide(g, "dl-parked", "Paula Parked", store.VerdictReject, false)
	admDeliver(g, parked, store.DeliveryOutcome{State: store.StateParked, Error: "not delivered within 24h0m0s; last error: 503"})
	g.clock.Advance(time.Minute)
	conflict := admDecide(g, "dl-conflict", "Carl Conflict", store.VerdictAccept, false)
	admDeliver(g, conflict, store.DeliveryOutcome{State: store.StateConflict, GatewayStatus: "NOT_VERIFIED", Error: "Mobbscan already holds another verdict: NOT_VERIFIED"})
	g.clock.Advance(time.Minute)
	retrying := admDecide(g, "dl-retrying", "Rita Retry", store.VerdictAccept, false)
	admDeliver(g, retrying, store.DeliveryOutcome{State: store.StateQueued, Next: g.clock.Now().Add(30 * time.Second), Error: "gateway timeout"})
	g.clock.Advance(time.Minute)
	second := admDecide(g, "dl-second", "Sam Second", store.VerdictAccept, true)
	g.clock.Advance(time.Minute)
	delivered := admDecide(g, "dl-delivered", "Dana Delivered", store.VerdictAccept, false)
	admDeliver(g, delivered, store.DeliveryOutcome{State: store.StateDelivered, GatewayStatus: "VERIFIED"})

	r := g.adminB.get("/admin/deliveries")
	wantPage(t, r, http.StatusOK, "deliveries page")
	wantPending := map[string]string{
		idStr(parked.ID): string(store.StateParked), idStr(conflict.ID): string(store.StateConflict),
		idStr(retrying.ID): string(store.StateQueued), idStr(second.ID): string(store.StateSecondReview),
	}
	if got := admPending(r.Body); !maps.Equal(got, wantPending) {
		t.Errorf("pending rows: got %v, want %v", got, wantPending)
	}
	var order []string
	for _, m := range admPendingRE.FindAllStringSubmatch(r.Body, -1) {
		order = append(order, m[1])
	}
	if want := []string{idStr(second.ID), idStr(retrying.ID), idStr(conflict.ID), idStr(parked.ID)}; !slices.Equal(order, want) {
		t.Errorf("pending order: got %v, want newest first %v", order, want)
	}
	if m := admDelivRE.FindAllStringSubmatch(r.Body, -1); len(m) != 1 || m[0][1] != idStr(delivered.ID) {
		t.Errorf("recently delivered rows: %v, want only %d", m, delivered.ID)
	}
	for _, s := range []string{"Paula Parked", "Carl Conflict", "Mobbscan already holds another verdict: NOT_VERIFIED", "Awaiting second review",
		"Retrying", `href="/processes/dl-parked"`, "Alan Agent", "Face does not match"} {
		if !strings.Contains(r.Body, esc(s)) && !strings.Contains(r.Body, s) {
			t.Errorf("deliveries page lacks %q", s)
		}
	}
	// Retry for queued, parked, conflict; resolve for parked, conflict only.
	for _, c := range []struct {
		d              *store.Decision
		retry, resolve bool
	}{{parked, true, true}, {conflict, true, true}, {retrying, true, false}, {second, false, false}} {
		row := admRow(r.Body, c.d.ID)
		if got := strings.Contains(row, `data-testid="retry-now"`); got != c.retry {
			t.Errorf("decision %d (%s): retry button %v, want %v", c.d.ID, c.d.ProcessID, got, c.retry)
		}
		if got := strings.Contains(row, `data-testid="resolve-form"`); got != c.resolve {
			t.Errorf("decision %d (%s): resolve form %v, want %v", c.d.ID, c.d.ProcessID, got, c.resolve)
		}
	}

	// Retry a parked decision: queued now, audited.
	r = g.adminB.submit("/admin/deliveries", "/admin/deliveries/"+idStr(parked.ID)+"/retry", nil)
	if r.Code != http.StatusSeeOther || r.location() != "/admin/deliveries?done=delivery-retried" {
		t.Fatalf("retry parked: got %s, want 303", r)
	}
	if d := admDecision(g, parked.ID); d.State != store.StateQueued || !d.NextAttemptAt.Equal(g.clock.Now()) {
		t.Errorf("after retry: state %s next %v, want queued now", d.State, d.NextAttemptAt)
	}
	if got := g.countAudit("decision.retry", store.OutcomeSuccess); got != 1 {
		t.Errorf("decision.retry rows: got %d, want 1", got)
	}
	if ev := g.audit("decision.retry"); ev[0].ActorID != g.admin.ID || ev[0].ObjectID != "dl-parked" {
		t.Errorf("decision.retry row: %+v, want the admin on dl-parked", ev[0])
	}
	// With htmx the list comes back.
	r = g.adminB.post("/admin/deliveries/"+idStr(conflict.ID)+"/retry", nil, htmxHeader, header{"HX-Target", views.IDAdminDeliveryList})
	if r.Code != http.StatusOK || strings.Contains(r.Body, "<html") || !strings.Contains(r.Body, `id="`+views.IDAdminDeliveryList+`"`) {
		t.Fatalf("htmx retry: got %s, want the list fragment", r)
	}
	if got := admPending(r.Body)[idStr(conflict.ID)]; got != string(store.StateQueued) {
		t.Errorf("conflict after htmx retry: listed as %q, want queued", got)
	}

	// Put them back in trouble to resolve them.
	admDeliver(g, admDecision(g, parked.ID), store.DeliveryOutcome{State: store.StateParked, Error: "still down"})
	admDeliver(g, admDecision(g, conflict.ID), store.DeliveryOutcome{State: store.StateConflict, Error: "other verdict"})

	// A resolve needs a note.
	for _, note := range []string{"", "   ", strings.Repeat("n", 501)} {
		r = g.adminB.post("/admin/deliveries/"+idStr(parked.ID)+"/resolve", formOf("note", note))
		wantPage(t, r, http.StatusUnprocessableEntity, "resolve without a good note")
		if !hasTestID(admRow(r.Body, parked.ID), "err-note") {
			t.Errorf("note %q: no message on the parked row's note: %s", note, r)
		}
		if d := admDecision(g, parked.ID); d.State != store.StateParked {
			t.Errorf("note %q: state %s, want parked", note, d.State)
		}
	}
	r = g.adminB.submit("/admin/deliveries", "/admin/deliveries/"+idStr(parked.ID)+"/resolve", formOf("note", " Rejected by hand in the Mobbscan console. "))
	if r.Code != http.StatusSeeOther || r.location() != "/admin/deliveries?done=delivery-resolved" {
		t.Fatalf("resolve: got %s, want 303", r)
	}
	if d := admDecision(g, parked.ID); d.State != store.StateResolved {
		t.Errorf("after resolve: state %s, want resolved", d.State)
	}
	ev := g.audit("decision.resolve")
	if len(ev) != 1 || ev[0].ActorID != g.admin.ID || ev[0].ObjectID != "dl-parked" || !strings.Contains(ev[0].Detail, "Rejected by hand in the Mobbscan console.") {
		t.Errorf("decision.resolve rows: %+v, want one by the admin with the note", ev)
	}
	if r := g.adminB.post("/admin/deliveries/"+idStr(conflict.ID)+"/resolve", formOf("note", "Agreed with Mobbscan support.")); r.Code != http.StatusSeeOther {
		t.Errorf("resolve conflict: got %s, want 303", r)
	}
	r = g.adminB.get("/admin/deliveries?done=delivery-resolved")
	if !strings.Contains(r.Body, "Marked resolved.") {
		t.Errorf("no confirmation after resolve")
	}
	if got := admPending(r.Body); got[idStr(parked.ID)] != "" || got[idStr(conflict.ID)] != "" {
		t.Errorf("resolved decisions still listed: %v", got)
	}

	// Refusals: the wrong state is a 409 in plain words, unknown ids 404; none is audited.
	tests := []struct {
		name, path string
		form       url.Values
		want       int
		msg        string
	}{
		{"retry awaiting second review", "/admin/deliveries/" + idStr(second.ID) + "/retry", nil, http.StatusConflict, "waits for a second agent"},
		{"retry delivered", "/admin/deliveries/" + idStr(delivered.ID) + "/retry", nil, http.StatusConflict, "Mobbscan already has this decision."},
		{"retry resolved", "/admin/deliveries/" + idStr(parked.ID) + "/retry", nil, http.StatusConflict, "already marked resolved"},
		{"resolve queued", "/admin/deliveries/" + idStr(retrying.ID) + "/resolve", formOf("note", "x"), http.StatusConflict, "Only a parked or conflicting decision"},
		{"resolve awaiting second review", "/admin/deliveries/" + idStr(second.ID) + "/resolve", formOf("note", "x"), http.StatusConflict, "Only a parked or conflicting decision"},
		{"resolve resolved", "/admin/deliveries/" + idStr(parked.ID) + "/resolve", formOf("note", "x"), http.StatusConflict, "already marked resolved"},
		{"retry unknown", "/admin/deliveries/9999/retry", nil, http.StatusNotFound, ""},
		{"retry not a number", "/admin/deliveries/abc/retry", nil, http.StatusNotFound, ""},
		{"resolve unknown", "/admin/deliveries/9999/resolve", formOf("note", "x"), http.StatusNotFound, ""},
		{"resolve zero", "/admin/deliveries/0/resolve", formOf("note", "x"), http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(g.audit(""))
			r := g.adminB.post(tt.path, tt.form)
			wantPage(t, r, tt.want, tt.name)
			if !strings.Contains(r.Body, esc(tt.msg)) {
				t.Errorf("%s: want %q in %s", tt.name, tt.msg, r)
			}
			if got := len(g.audit("")); got != before {
				t.Errorf("%s: %d audit rows written, want none", tt.name, got-before)
			}
		})
	}
	if d := admDecision(g, second.ID); d.State != store.StateSecondReview {
		t.Errorf("second-review decision: state %s, want unchanged", d.State)
	}

	// A reason used by a decision is marked in use on the catalogue.
	r = g.adminB.get("/admin/reasons")
	chunks := strings.Split(r.Body, `data-testid="reason-row"`)
	for _, ch := range chunks[1:] {
		code := admReasonRowRE.FindStringSubmatch(`data-testid="reason-row"` + ch)[1]
		if got, want := strings.Contains(ch, `data-testid="reason-in-use"`), code == "face-mismatch"; got != want {
			t.Errorf("reason %s: in-use marker %v, want %v", code, got, want)
		}
	}
}

// admRow returns the markup of the pending row of decision id.
func admRow(body string, id int64) string {
	start := strings.Index(body, `data-testid="pending-row" data-id="`+idStr(id)+`"`)
	if start < 0 {
		return ""
	}
	end := strings.Index(body[start:], "</tr>")
	if end < 0 {
		return body[start:]
	}
	return body[start : start+end]
}

// TestAdminAuditPages: the log is newest first, 100 events a page, and the pages
// together hold every event once; filters narrow it; a broken cursor is a 400.
func TestAdminAuditPages(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	a := store.Actor{UserID: f.agent.ID, Email: f.agent.Email, IP: "192.0.2.10", RequestID: "req-1"}
	for i := range 150 {
		id := "proc-" + idStr(int64(i%3))
		if err := f.db.Audit(ctx, a, "process.view", "process", id, store.OutcomeSuccess, ""); err != nil {
			t.Fatal(err)
		}
	}
	total := len(f.audit(""))

	var seen []int64
	path, pages := "/admin/audit", 0
	for path != "" {
		pages++
		if pages > 5 {
			t.Fatal("more pages than events")
		}
		r := f.adminB.get(path)
		wantPage(t, r, http.StatusOK, "audit page "+path)
		ids := admAuditIDs(r.Body)
		if len(ids) > 100 {
			t.Fatalf("%s: %d rows, want at most 100", path, len(ids))
		}
		seen = append(seen, ids...)
		if pages > 1 && !admFirstRE.MatchString(r.Body) {
			t.Errorf("%s: no link back to the newest events", path)
		}
		path = ""
		if m := admNextRE.FindStringSubmatch(r.Body); m != nil {
			path = unescapeHref(m[1])
			if len(ids) != 100 {
				t.Errorf("a page with a next link has %d rows, want 100", len(ids))
			}
			if want := "before=" + idStr(ids[len(ids)-1]); !strings.Contains(path, want) {
				t.Errorf("next link %q, want %s", path, want)
			}
		}
	}
	// The page reads happened after counting: they add no audit rows of their own.
	if len(seen) != total {
		t.Errorf("rows over all pages: got %d, want %d", len(seen), total)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] >= seen[i-1] {
			t.Fatalf("rows not strictly newest first at %d: %d after %d", i, seen[i], seen[i-1])
		}
	}

	filters := []struct {
		query string
		want  int
	}{
		{"action=process.view", 150},
		{"type=process&id=proc-1", 50},
		{"action=process.view&type=process&id=proc-2&before=1000000", 50},
		{"id=proc-0", 50},
		{"action=user.create", 2},
		{"action=reason.create", 0},
		{"type=user", f.countRows("SELECT count(*) FROM audit_events WHERE object_type = 'user'")},
	}
	for _, tt := range filters {
		t.Run(tt.query, func(t *testing.T) {
			var got int
			path := "/admin/audit?" + tt.query
			for path != "" {
				r := f.adminB.get(path)
				wantPage(t, r, http.StatusOK, tt.query)
				got += len(admAuditIDs(r.Body))
				path = ""
				if m := admNextRE.FindStringSubmatch(r.Body); m != nil {
					path = unescapeHref(m[1])
				}
			}
			if got != tt.want {
				t.Errorf("%s: %d rows, want %d", tt.query, got, tt.want)
			}
		})
	}
	// Links keep the filters.
	r := f.adminB.get("/admin/audit?action=process.view")
	if m := admNextRE.FindStringSubmatch(r.Body); m == nil || !strings.Contains(unescapeHref(m[1]), "action=process.view") {
		t.Errorf("next link of a filtered page: %v, want the filter kept", m)
	}
	if !strings.Contains(r.Body, `<option value="process.view" selected>`) {
		t.Errorf("the action filter does not show its choice")
	}

	for _, q := range []string{"before=abc", "before=-3", "before=0", "action=DROP%20TABLE", "type=a%20b", "id=" + strings.Repeat("x", 129)} {
		r := f.adminB.get("/admin/audit?" + q)
		wantPage(t, r, http.StatusBadRequest, q)
	}
}

func admAuditIDs(body string) []int64 {
	var out []int64
	for _, m := range admAuditRowRE.FindAllStringSubmatch(body, -1) {
		var n int64
		for _, c := range m[1] {
			n = n*10 + int64(c-'0')
		}
		out = append(out, n)
	}
	return out
}

func unescapeHref(s string) string { return strings.ReplaceAll(s, "&amp;", "&") }

// TestAdminAuditVerify: "Verify chain" reports an intact chain with its length, or the
// first broken link; each check is itself recorded.
func TestAdminAuditVerify(t *testing.T) {
	f := newFixture(t)
	n, err := f.db.VerifyAudit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r := f.adminB.submit("/admin/audit", "/admin/audit/verify", nil)
	wantPage(t, r, http.StatusOK, "verify")
	if want := "Intact: " + idStr(int64(n)) + " events."; !strings.Contains(r.Body, want) {
		t.Errorf("verify: want %q in %s", want, r)
	}
	ev := f.audit("audit.verify")
	if len(ev) != 1 || ev[0].Outcome != store.OutcomeSuccess || ev[0].ActorID != f.admin.ID {
		t.Errorf("audit.verify rows: %+v, want one success by the admin", ev)
	}
	// With htmx only the result comes back.
	r = f.adminB.post("/admin/audit/verify", nil, htmxHeader, header{"HX-Target", views.IDAdminAuditVerify})
	if r.Code != http.StatusOK || strings.Contains(r.Body, "<html") || !hasTestID(r.Body, "audit-intact") {
		t.Errorf("htmx verify: got %s, want the intact result alone", r)
	}

	// Tamper with an event (the triggers forbid it; an attacker with the file drops them).
	f.skipAuditCheck = true
	db := f.db.SQL()
	if _, err := db.Exec("DROP TRIGGER audit_events_no_update"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE audit_events SET detail = 'edited' WHERE id = 3"); err != nil {
		t.Fatal(err)
	}
	r = f.adminB.post("/admin/audit/verify", nil)
	wantPage(t, r, http.StatusOK, "verify a broken chain")
	if !hasTestID(r.Body, "audit-broken") || !strings.Contains(r.Body, "Broken at event 3:") || !strings.Contains(r.Body, "The 2 events before it check out.") {
		t.Errorf("broken chain: want event 3 named in %s", r)
	}
	if got := f.countAudit("audit.verify", store.OutcomeFailure); got != 1 {
		t.Errorf("failed audit.verify rows: got %d, want 1", got)
	}
}

// statusLine returns the deliveries page's status line element (role=status), from its
// opening tag to its end, or "" when the body has none.
func statusLine(body string) string {
	i := strings.Index(body, `<div id="`+views.IDAdminDeliveryStatus+`"`)
	if i < 0 {
		return ""
	}
	rest := body[i:]
	if j := strings.Index(rest, "</div>"); j >= 0 {
		return rest[:j]
	}
	return rest
}

// TestAdminDeliveriesRetryFeedback (issue 12, defect): "Retry now" says what it did in
// the page's status line, which is on the page from the start (role=status, so screen
// readers announce what is put in it): with htmx the list comes back with the status
// line out of band; without, the redirect's page says it. A retry the state no longer
// allows says why in the same place (409), with the list as it is now.
func TestAdminDeliveriesRetryFeedback(t *testing.T) {
	g := newGateway(t)
	parked := admDecide(g, "fb-parked", "Paula Parked", store.VerdictAccept, false)
	admDeliver(g, parked, store.DeliveryOutcome{State: store.StateParked, Error: "not delivered within 24h0m0s; last error: 503"})
	conflict := admDecide(g, "fb-conflict", "Carl Conflict", store.VerdictAccept, false)
	admDeliver(g, conflict, store.DeliveryOutcome{State: store.StateConflict, GatewayStatus: "NOT_VERIFIED", Error: "other verdict"})
	delivered := admDecide(g, "fb-delivered", "Dana Delivered", store.VerdictAccept, false)
	admDeliver(g, delivered, store.DeliveryOutcome{State: store.StateDelivered})

	// The first render has the status line, empty.
	r := g.adminB.get("/admin/deliveries")
	line := statusLine(r.Body)
	if r.Code != http.StatusOK || line == "" || !strings.Contains(line, `role="status"`) || hasTestID(line, "deliveries-notice") {
		t.Fatalf("deliveries page: status line %q, want an empty role=status element", line)
	}

	// htmx: the list, and the status line out of band naming the process.
	htmx := []header{htmxHeader, {"HX-Target", views.IDAdminDeliveryList}}
	r = g.adminB.post("/admin/deliveries/"+idStr(parked.ID)+"/retry", nil, htmx...)
	if r.Code != http.StatusOK || strings.Contains(r.Body, "<html") || !strings.Contains(r.Body, `id="`+views.IDAdminDeliveryList+`"`) {
		t.Fatalf("htmx retry: got %s, want the list fragment", r)
	}
	line = statusLine(r.Body)
	if !strings.Contains(line, `hx-swap-oob="innerHTML"`) || !strings.Contains(line, `role="status"`) ||
		!strings.Contains(line, "Delivery of fb-parked retried: queued for sending to Mobbscan now.") {
		t.Errorf("htmx retry: status line %q, want the notice out of band", line)
	}
	if got := admPending(r.Body)[idStr(parked.ID)]; got != string(store.StateQueued) {
		t.Errorf("after htmx retry: listed as %q, want queued", got)
	}

	// In Spanish.
	r = g.adminB.post("/admin/deliveries/"+idStr(conflict.ID)+"/retry", nil, append(htmx, header{"Accept-Language", "es"})...)
	if line = statusLine(r.Body); !strings.Contains(line, "Entrega de fb-conflict reintentada: en cola para enviarse a Mobbscan ahora.") {
		t.Errorf("htmx retry in Spanish: status line %q", line)
	}

	// Without htmx: a redirect whose page confirms in the flash (role=status).
	admDeliver(g, admDecision(g, parked.ID), store.DeliveryOutcome{State: store.StateParked, Error: "still down"})
	r = g.adminB.submit("/admin/deliveries", "/admin/deliveries/"+idStr(parked.ID)+"/retry", nil)
	if r.Code != http.StatusSeeOther || r.location() != "/admin/deliveries?done=delivery-retried" {
		t.Fatalf("plain retry: got %s, want 303", r)
	}
	r = g.adminB.get(r.location())
	if !hasTestID(r.Body, "flash") || !strings.Contains(r.Body, `role="status"`) {
		t.Errorf("after the redirect: no flash in %s", r)
	}

	// Refused (already delivered): why, in the status line, 409; with htmx the list
	// still swaps (data-swap-refused), with the status line out of band.
	r = g.adminB.post("/admin/deliveries/"+idStr(delivered.ID)+"/retry", nil, htmx...)
	if r.Code != http.StatusConflict || strings.Contains(r.Body, "<html") {
		t.Fatalf("htmx refused retry: got %s, want 409 and the fragment", r)
	}
	line = statusLine(r.Body)
	if !hasTestID(line, "deliveries-problem") || !strings.Contains(line, esc("Mobbscan already has this decision.")) || !strings.Contains(line, `hx-swap-oob="innerHTML"`) {
		t.Errorf("htmx refused retry: status line %q", line)
	}
	if !strings.Contains(r.Body, `data-swap-refused="true"`) {
		t.Errorf("htmx refused retry: the retry forms do not let htmx swap a 409")
	}
	r = g.adminB.post("/admin/deliveries/"+idStr(delivered.ID)+"/retry", nil)
	wantPage(t, r, http.StatusConflict, "plain refused retry")
	if line = statusLine(r.Body); !hasTestID(line, "deliveries-problem") || strings.Contains(line, "hx-swap-oob") {
		t.Errorf("plain refused retry: status line %q, want the problem in the page's own status line", line)
	}
}

// TestAdminPagesInSpanish (issue 12, item 5): the admin pages speak Spanish to a
// Spanish browser, tables have captions, and the audit log names its actions and
// outcomes in words.
func TestAdminPagesInSpanish(t *testing.T) {
	g := newGateway(t)
	parked := admDecide(g, "es-parked", "Paula Parked", store.VerdictReject, false)
	admDeliver(g, parked, store.DeliveryOutcome{State: store.StateParked, Error: "503"})
	es := header{"Accept-Language", "es-ES,es;q=0.9"}
	pages := []struct {
		path          string
		spanish       []string
		english       []string
		captionTables int
	}{
		{"/admin/users", []string{"Añadir un revisor", "Buscar por nombre o email", "Crear cuenta", "Cuentas de revisor"},
			[]string{"Add a reviewer", "Create account", "Display name"}, 1},
		{"/admin/users/" + idStr(g.agent.ID), []string{"Cambiar rol", "Desactivar cuenta", "Actividad reciente en esta cuenta"},
			[]string{"Change role", "Disable account", "Recent activity on this account"}, 0},
		{"/admin/reasons", []string{"Motivos de rechazo", "Añadir un motivo", "Etiqueta para los agentes", "Retirar"},
			[]string{"Add a reason", "Label for agents", ">Retire"}, 1},
		{"/admin/deliveries", []string{"Aún no entregadas", "Reintentar ahora", "Marcar como resuelta", "Aparcada", "Rechazado"},
			[]string{"Not yet delivered", "Retry now", "Mark resolved", ">Parked<"}, 1},
		{"/admin/settings", []string{"Revisión a cuatro ojos", "Conservación y borrado", "Guardar conservación"},
			[]string{"Four-eyes review", "Retention and erasure", "Save retention"}, 0},
		{"/admin/audit", []string{"Registro de auditoría", "Comprobar la cadena", "Eventos, los más nuevos primero", "Éxito"},
			[]string{"Verify chain", "Events, newest first", ">success<"}, 1},
		{"/admin/audit/export", []string{"Exportar el registro de auditoría", "Descargar", "Cualquier acción"},
			[]string{"Export the audit log", ">Download<"}, 0},
	}
	for _, pg := range pages {
		r := g.adminB.get(pg.path, es)
		if r.Code != http.StatusOK {
			t.Errorf("%s: got %s", pg.path, r)
			continue
		}
		for _, s := range pg.spanish {
			if !strings.Contains(r.Body, esc(s)) && !strings.Contains(r.Body, s) {
				t.Errorf("%s: no %q in Spanish", pg.path, s)
			}
		}
		for _, s := range pg.english {
			if strings.Contains(r.Body, s) {
				t.Errorf("%s: English %q left in the Spanish page", pg.path, s)
			}
		}
		if got := strings.Count(r.Body, "<caption"); got < pg.captionTables || strings.Count(r.Body, "<table") > got {
			t.Errorf("%s: %d captions for %d tables", pg.path, got, strings.Count(r.Body, "<table"))
		}
	}
	// In English the audit log shows the action's label with its code.
	r := g.adminB.get("/admin/audit")
	if !strings.Contains(r.Body, "Signed in") || !strings.Contains(r.Body, "auth.login") || !strings.Contains(r.Body, ">Success<") {
		t.Errorf("audit log: want the action's label, its code and the outcome in words")
	}
}
