package handlers_test

// The hardening findings of issue 9 (item 3), each through the real Echo router.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
)

// TestEndForeignSessionIs404AndAudited: ending a session that is not one's own (another
// user's, or none) is 404, ends nothing and is audited as access.denied.
func TestEndForeignSessionIs404AndAudited(t *testing.T) {
	f := newFixture(t)
	adminSID := f.sessionsOf(f.admin.ID)[0].ID
	for _, sid := range []string{idStr(adminSID), "987654", "not-a-number"} {
		denied := f.countAudit("access.denied", store.OutcomeDenied)
		ends := f.countAudit("session.end", "")
		r := f.agentB.post("/account/sessions/"+sid+"/end", nil)
		wantPage(t, r, http.StatusNotFound, "end session "+sid)
		if got := f.countAudit("access.denied", store.OutcomeDenied); got != denied+1 {
			t.Errorf("session %s: access.denied rows %d, want %d", sid, got, denied+1)
		}
		if got := f.countAudit("session.end", ""); got != ends {
			t.Errorf("session %s: session.end rows %d, want %d (nothing ended)", sid, got, ends)
		}
		ev := f.audit("access.denied")
		if last := ev[len(ev)-1]; last.ObjectType != "session" || last.ObjectID != sid || last.ActorID != f.agent.ID {
			t.Errorf("audit row %+v, want session %s by the agent", last, sid)
		}
	}
	wantSignedIn(t, f.adminB, "admin after an agent tried to end their session")
}

// TestDeniedRequestsBoundTheAudit: one user's unknown ids are recorded one by one up to
// review.DeniedRecorded a window, the rest counted into one summary (L3).
func TestDeniedRequestsBoundTheAudit(t *testing.T) {
	f := newFixture(t)
	before := f.countAudit("access.denied", "")
	for i := range 200 {
		r := f.agentB.get(fmt.Sprintf("/processes/no-such-process-%d", i))
		if r.Code != http.StatusNotFound {
			t.Fatalf("probe %d: got %s, want 404", i, r)
		}
	}
	if got := f.countAudit("access.denied", "") - before; got != review.DeniedRecorded {
		t.Errorf("200 denied URLs added %d rows, want %d", got, review.DeniedRecorded)
	}
	f.clock.Advance(store.RefusalWindow)
	if _, err := f.db.SweepRefusals(context.Background()); err != nil {
		t.Fatal(err)
	}
	ev := f.audit("access.denied")
	if last := ev[len(ev)-1]; !strings.HasPrefix(last.Detail, fmt.Sprintf("%d more refusals for user:%d ", 200-review.DeniedRecorded, f.agent.ID)) {
		t.Errorf("summary row %q, want the %d counted refusals", last.Detail, 200-review.DeniedRecorded)
	}
}

// TestSignInFloodBoundsTheAudit: 5,000 refused sign-ins from one client, through the
// sign-in page, add fewer than 20 audit rows (L3).
func TestSignInFloodBoundsTheAudit(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 requests")
	}
	f := newFixture(t)
	attacker := f.browser().from("203.0.113.99")
	if r := attacker.get("/login"); r.Code != http.StatusOK {
		t.Fatalf("GET /login: %s", r)
	}
	before := f.countRows("SELECT count(*) FROM audit_events")
	for i := range 5000 {
		r := attacker.post("/login", formOf("email", "agent@example.com", "password", fmt.Sprint("guess ", i)))
		if r.Code == http.StatusSeeOther || r.Code >= 500 {
			t.Fatalf("attempt %d: %s", i, r)
		}
		f.clock.Advance(100 * time.Millisecond)
	}
	f.clock.Advance(store.RefusalWindow)
	if _, err := f.db.SweepRefusals(context.Background()); err != nil {
		t.Fatal(err)
	}
	added := f.countRows("SELECT count(*) FROM audit_events") - before
	t.Logf("5,000 refused sign-ins through the router: %d audit rows", added)
	if added >= 20 || added == 0 {
		t.Errorf("5,000 refused sign-ins added %d audit rows, want 1 to 19", added)
	}
}

// TestUserNamesRefuseControlCharacters: an admin cannot give an account a name or email
// with control or direction-control characters (C5); the message is beside the field
// and the text is kept.
func TestUserNamesRefuseControlCharacters(t *testing.T) {
	f := newFixture(t)
	tests := []struct{ name, email, uname, field, msg string }{
		{"override in the name", "eve@example.com", "Eve\u202e nimdA", "name",
			"The display name contains an invisible direction-control character at character 4; direction-control characters are not allowed."},
		{"tab in the name", "eve@example.com", "Eve\tAdmin", "name", "The display name contains a tab at character 4; tabs are not allowed."},
		{"isolate in the email", "eve\u2066@example.com", "Eve", "email",
			"The email address contains an invisible direction-control character at character 4; direction-control characters are not allowed."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users := f.countRows("SELECT count(*) FROM users")
			r := f.adminB.submit("/admin/users", "/admin/users", formOf("email", tt.email, "name", tt.uname, "role", "agent"))
			wantPage(t, r, http.StatusUnprocessableEntity, tt.name)
			if !strings.Contains(r.Body, `data-testid="err-`+tt.field+`"`) || !strings.Contains(r.Body, esc(tt.msg)) {
				t.Errorf("want %q beside %s: %s", tt.msg, tt.field, r)
			}
			if !strings.Contains(r.Body, `value="`+esc(tt.uname)+`"`) {
				t.Errorf("the typed name is not kept")
			}
			if got := f.countRows("SELECT count(*) FROM users"); got != users {
				t.Errorf("users %d, want %d", got, users)
			}
			// The form's limits are the rule's (one declaration).
			for _, want := range []string{
				fmt.Sprintf(`id="new-email" name="email" type="email" required maxlength="%d"`, review.LimitUserEmail.Max),
				fmt.Sprintf(`id="new-name" name="name" type="text" required maxlength="%d"`, review.LimitUserName.Max),
			} {
				if !strings.Contains(r.Body, want) {
					t.Errorf("the form lacks %s", want)
				}
			}
		})
	}
}

// TestNamesAreIsolated: names and emails from the database are shown isolated (<bdi>) on
// the users list and in the audit log, and a typed sign-in email arrives there escaped.
func TestNamesAreIsolated(t *testing.T) {
	f := newFixture(t)
	// An account made before the rule (straight into the store) and a hostile sign-in.
	f.createUser("old@example.com", "Old \u202eName", store.RoleAgent, "", false)
	f.browser().from("203.0.113.5").login("victim@example.com\u202e | auth.login | success", "wrong password 123")

	r := f.adminB.get("/admin/users")
	if !strings.Contains(r.Body, "<bdi>Old \u202eName</bdi>") || !strings.Contains(r.Body, "<bdi>old@example.com</bdi>") {
		t.Errorf("users list: the name and email are not isolated: %s", r)
	}
	r = f.adminB.get("/admin/audit")
	if r.Code != http.StatusOK {
		t.Fatalf("GET /admin/audit: %s", r)
	}
	if strings.Contains(r.Body, "\u202e | auth.login") {
		t.Errorf("the audit log shows the typed override as it is")
	}
	if !strings.Contains(r.Body, `<bdi>victim@example.com\u202e | auth.login | success</bdi>`) {
		t.Errorf("the audit log does not show the escaped, isolated actor")
	}
	css := f.agentB.get("/static/app.css")
	if !strings.Contains(css.Body, "unicode-bidi: isolate") {
		t.Errorf("app.css has no isolation rule")
	}
}

// TestOnboardingRateLimit: an agent who created OnboardingsPerHour onboardings in the
// last hour is refused (429, Retry-After, the message on the form) without a gateway
// call; an hour after the oldest they may create again.
func TestOnboardingRateLimit(t *testing.T) {
	g := newGateway(t)
	ctx := context.Background()
	a := store.Actor{UserID: g.agent.ID, Email: g.agent.Email}
	now := g.clock.Now()
	for i := range review.OnboardingsPerHour {
		at := now
		if i == 0 {
			at = now.Add(-20 * time.Minute) // the oldest, 20 minutes ago
		}
		g.db.Now = func() time.Time { return at }
		if err := g.db.Audit(ctx, a, store.ActionProcessCreate, "process", fmt.Sprint("earlier-", i), store.OutcomeSuccess, "ESP IDCard"); err != nil {
			t.Fatal(err)
		}
	}
	g.db.Now = g.clock.Now
	before := g.gatewayRequests()
	r := g.agentB.post("/onboardings", formOf("country", "ESP", "doc", "IDCard", "ref", "C-1"))
	wantPage(t, r, http.StatusTooManyRequests, "onboarding beyond the limit")
	if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); ra != 40*60 {
		t.Errorf("Retry-After %q, want %d (when the oldest leaves the hour)", r.Header.Get("Retry-After"), 40*60)
	}
	if !strings.Contains(r.Body, "the most allowed") || !strings.Contains(r.Body, `data-testid="onboarding-form"`) {
		t.Errorf("the form and the message are not shown: %s", r)
	}
	if got := g.gatewayRequests(); got != before {
		t.Errorf("%d gateway requests for a refused onboarding, want 0", got-before)
	}
	// Another agent is not limited by it.
	if r := g.agent2B.post("/onboardings", formOf("country", "ESP", "doc", "IDCard")); r.Code != http.StatusCreated {
		t.Errorf("another agent: got %s, want 201", r)
	}
	g.clock.Advance(40 * time.Minute)
	if r := g.signIn("agent@example.com", pwAgent).post("/onboardings", formOf("country", "ESP", "doc", "IDCard")); r.Code != http.StatusCreated {
		t.Errorf("after the oldest left the hour: got %s, want 201", r)
	}
}

// TestWrongWebhookTokensAreLimited: an IP may present WebhookWrongBurst wrong tokens,
// then gets 429 with Retry-After (even with the right token: no guessing past the
// limit); the log has one WARN line, not one per guess; the gateway's own IP and the
// right token are unaffected; a refilled bucket lets the IP in again.
func TestWrongWebhookTokensAreLimited(t *testing.T) {
	g := newGateway(t)
	id := g.reviewable(1)[0]
	post := func(ip, token string) *response {
		req := httptest.NewRequest(http.MethodPost, webhookPath(token), strings.NewReader(string(notification(id))))
		req.Header.Set("Content-Type", "application/json")
		return g.browser().from(ip).do(req)
	}
	for i := range review.WebhookWrongBurst {
		if r := post("203.0.113.80", fmt.Sprint("guess-", i)); r.Code != http.StatusNotFound {
			t.Fatalf("wrong token %d: got %s, want 404", i, r)
		}
	}
	r := post("203.0.113.80", "guess-more")
	if r.Code != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("beyond the burst: got %s (Retry-After %q), want 429 with Retry-After", r, r.Header.Get("Retry-After"))
	}
	if r := post("203.0.113.80", testWebhookToken); r.Code != http.StatusTooManyRequests {
		t.Errorf("the right token from a limited IP: got %s, want 429", r)
	}
	if r := post("198.51.100.7", testWebhookToken); r.Code != http.StatusAccepted {
		t.Errorf("the gateway's IP: got %s, want 202", r)
	}
	if n := strings.Count(g.logs.String(), "webhook refused"); n != 1 {
		t.Errorf("%d WARN lines for 12 refusals, want 1 (sampled)", n)
	}
	g.clock.Advance(review.WebhookLogWindow)
	if r := post("203.0.113.80", "guess-again"); r.Code != http.StatusNotFound {
		t.Errorf("after the bucket refilled: got %s, want 404", r)
	}
	if !strings.Contains(g.logs.String(), "refused_since_last_line=12") { // 9 wrong, 2 limited, this one
		t.Errorf("the next window's line does not count the refusals since the last one:\n%s", g.logs.String())
	}
}

// TestVideoRangeBeyondTheEnd: an unsatisfiable Range on the video is passed on as 416
// with Content-Range "bytes */N", not a 500.
func TestVideoRangeBeyondTheEnd(t *testing.T) {
	g := newGateway(t)
	id := g.reviewable(1)[0]
	g.agentB.get("/processes/" + id)
	whole := g.agentB.get(evidencePath(id, sandbox.EvidenceVideoLiveness))
	if whole.Code != http.StatusOK {
		t.Fatalf("whole video: %s", whole)
	}
	n := len(whole.Body)
	r := g.agentB.get(evidencePath(id, sandbox.EvidenceVideoLiveness), header{"Range", fmt.Sprintf("bytes=%d-", n+1000)})
	if r.Code != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("got %s, want 416", r)
	}
	if got, want := r.Header.Get("Content-Range"), "bytes */"+strconv.Itoa(n); got != want {
		t.Errorf("Content-Range %q, want %q", got, want)
	}
	if r.Body != "" || r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("416 with body %d bytes, Cache-Control %q; want empty, no-store", len(r.Body), r.Header.Get("Cache-Control"))
	}
}

// TestSlowBodyIs408: a request whose body does not arrive before the server's
// ReadTimeout gets 408, not 500. The client sends half its body and then nothing, so
// the outcome does not depend on how fast anything runs.
func TestSlowBodyIs408(t *testing.T) {
	g := newGateway(t)
	id := g.reviewable(1)[0]
	srv := httptest.NewUnstartedServer(g.e)
	srv.Config.ReadTimeout = 100 * time.Millisecond // as main.go's http.Server, shorter
	srv.Start()
	t.Cleanup(srv.Close)
	cookie := g.cookieName() + "=" + g.agentB.sessionCookie()
	for _, tt := range []struct{ path, contentType string }{
		{"/login", "application/x-www-form-urlencoded"},
		{"/processes/" + id + "/accept", "application/x-www-form-urlencoded"},
		{"/onboardings", "application/x-www-form-urlencoded"},
		{webhookPath(testWebhookToken), "application/json"},
	} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nSec-Fetch-Site: same-origin\r\nCookie: %s\r\nContent-Length: 100\r\n\r\na=1&",
			tt.path, srv.Listener.Addr(), tt.contentType, cookie)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		conn.Close()
		if err != nil {
			t.Fatalf("%s: %v", tt.path, err)
		}
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("%s: got %d, want 408", tt.path, resp.StatusCode)
		}
	}
}

// TestBodyTimeoutErrorIs408: a handler that reads a body and gets the read deadline's
// error answers 408 through the one error table (no server needed).
func TestBodyTimeoutErrorIs408(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // what the server does to a request whose body read timed out
	req := httptest.NewRequest(http.MethodPost, "/account/sessions/1/end", &stalledBody{}).WithContext(ctx)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.ContentLength = 100
	if r := f.agentB.do(req); r.Code != http.StatusRequestTimeout {
		t.Errorf("got %s, want 408", r)
	}
}

// stalledBody sends a little, then fails as a read past the server's deadline does.
type stalledBody struct{ sent bool }

func (b *stalledBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, "a=1&"), nil
	}
	return 0, os.ErrDeadlineExceeded
}
