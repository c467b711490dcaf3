package handlers_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mobbscan-review/portal/mobbscan/sandbox"
	"github.com/mobbscan-review/portal/store"
)

var onboardingLinkRE = regexp.MustCompile(`value="([^"]*)" id="onboarding-link"`)

// TestOnboardingValidation: a bad country, document type or reference gets the form
// back with 422 and the gateway is not asked.
func TestOnboardingValidation(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	if r := g.agentB.get("/onboardings/new"); r.Code != http.StatusOK || !hasTestID(r.Body, "onboarding-form") {
		t.Fatalf("GET /onboardings/new: got %s, want 200 with the form", r)
	}
	tests := []struct {
		name, country, doc, ref string
		field                   string // aria-describedby target of the error
	}{
		{"unknown country", "XXX", "IDCard", "", "country"},
		{"no country", "", "IDCard", "", "country"},
		{"country markup", "<b>", "IDCard", "", "country"},
		{"unknown document", "ESP", "Selfie", "", "doc"},
		{"document in other case", "ESP", "idcard", "", "doc"},
		{"no document", "ESP", "", "", "doc"},
		{"reference too long", "ESP", "IDCard", strings.Repeat("r", 101), "ref"},
		{"reference on two lines", "ESP", "IDCard", "a\nb", "ref"},
		{"reference with a tab", "ESP", "IDCard", "a\tb", "ref"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := g.agentB.post("/onboardings", formOf("country", tt.country, "doc", tt.doc, "ref", tt.ref))
			wantPage(t, r, http.StatusUnprocessableEntity, tt.name)
			if !hasTestID(r.Body, "onboarding-form") {
				t.Errorf("the form is not shown again")
			}
			if !strings.Contains(r.Body, `aria-describedby="err-`+tt.field+`"`) {
				t.Errorf("no error attached to the %s field", tt.field)
			}
			if strings.Contains(r.Body, "<b>") {
				t.Errorf("input echoed unescaped")
			}
		})
	}
	if n := g.sb.Stats().Requests[sandbox.RouteCreate]; n != 0 {
		t.Errorf("create requests to the gateway: %d, want 0", n)
	}
	if n := g.countProcesses(); n != 0 {
		t.Errorf("processes indexed: %d, want 0", n)
	}
}

// TestOnboardingGatewayDown: when the gateway does not create the process, the form
// comes back with 503 and a message, and nothing is stored.
func TestOnboardingGatewayDown(t *testing.T) {
	t.Parallel()
	g := newGateway(t, withClientTimeouts(300*time.Millisecond, time.Second))
	for _, f := range []sandbox.Fault{
		{Kind: sandbox.FaultUnavailable},
		{Kind: sandbox.FaultServerError},
		{Kind: sandbox.FaultLatency, Latency: time.Minute},
		{Kind: sandbox.FaultMalformed, NotApplied: true},
	} {
		t.Run(string(f.Kind), func(t *testing.T) {
			g.fault(sandbox.RouteCreate, f)
			defer g.sb.ClearFault(sandbox.RouteCreate)
			r := g.agentB.post("/onboardings", formOf("country", "ESP", "doc", "Passport", "ref", "C-9"))
			wantPage(t, r, http.StatusServiceUnavailable, "gateway down")
			if !hasTestID(r.Body, "onboarding-form") || !strings.Contains(r.Body, "Nothing was created") {
				t.Errorf("want the form with the message: %s", r)
			}
			if !strings.Contains(r.Body, `value="C-9"`) {
				t.Errorf("the reference is not kept in the form")
			}
			if hasTestID(r.Body, "onboarding-created") {
				t.Errorf("a created-process box is shown")
			}
			if n := g.countProcesses(); n != 0 {
				t.Errorf("processes indexed: %d, want 0", n)
			}
			if n := g.countAudit("process.create", ""); n != 0 {
				t.Errorf("process.create rows: %d, want 0", n)
			}
		})
	}
}

// TestOnboardingCreated: success answers 201 with the customer's link, and the process
// is indexed (not in review yet) and audited.
func TestOnboardingCreated(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	r := g.agentB.post("/onboardings", formOf("country", " esp ", "doc", "IDCard", "ref", "  CUST-77 "))
	wantPage(t, r, http.StatusCreated, "create onboarding")
	m := onboardingLinkRE.FindStringSubmatch(r.Body)
	if m == nil || !hasTestID(r.Body, "onboarding-created") {
		t.Fatalf("no onboarding link on the page: %s", r)
	}
	link := m[1]
	if !strings.HasPrefix(link, g.gwSrv.URL+"/") {
		t.Errorf("onboarding link %q, want one on the gateway %s", link, g.gwSrv.URL)
	}
	list := g.sb.List()
	if len(list) != 1 {
		t.Fatalf("sandbox processes: %d, want 1", len(list))
	}
	sp := list[0]
	if sp.CountryID != "ESP" || sp.DocType != "IDCard" || sp.ExtraData["customerRef"] != "CUST-77" {
		t.Errorf("created at the gateway: country %q, doc %q, extra %v; want ESP, IDCard, customerRef CUST-77", sp.CountryID, sp.DocType, sp.ExtraData)
	}
	p := g.process(sp.ID)
	if p == nil {
		t.Fatalf("process %s not indexed", sp.ID)
	}
	if p.Source != store.SourceCreated || p.Reviewable || p.Country != "ESP" || p.DocType != "IDCard" || p.CustomerRef != "CUST-77" || p.OnboardingURL != link {
		t.Errorf("indexed process: %+v", p)
	}
	if !strings.Contains(r.Body, `href="/processes/`+sp.ID+`"`) {
		t.Errorf("no link to the process page")
	}
	if n := g.countAudit("process.create", store.OutcomeSuccess); n != 1 {
		t.Errorf("process.create rows: %d, want 1", n)
	}
	// Not in review: the queue does not list it, but its page opens with the link.
	if ids := queueIDs(g.agentB.get("/queue").Body); len(ids) != 0 {
		t.Errorf("queue lists %v, want nothing (the customer has not finished)", ids)
	}
	pr := g.agentB.get("/processes/" + sp.ID)
	if pr.Code != http.StatusOK || !strings.Contains(pr.Body, link) {
		t.Errorf("process page: got %s, want 200 with the onboarding link", pr)
	}
	// The customer finishes: the process enters review and the queue.
	if err := g.sb.Complete(sp.ID, nil); err != nil {
		t.Fatal(err)
	}
	g.ingest(sp.ID)
	if ids := queueIDs(g.agentB.get("/queue").Body); len(ids) != 1 || ids[0] != sp.ID {
		t.Errorf("queue after the customer finished: %v, want [%s]", ids, sp.ID)
	}
}

// TestOnboardingInSpanish: the page and its messages beside the fields in Spanish, the
// values typed kept (issue 12, item 5).
func TestOnboardingInSpanish(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	es := header{"Accept-Language", "es"}
	r := g.agentB.get("/onboardings/new", es)
	wantPage(t, r, http.StatusOK, "new onboarding in Spanish")
	for _, want := range []string{"<h1>Nueva alta</h1>", "Crear un proceso", "País de expedición del documento", "Crear y obtener el enlace"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("new onboarding in Spanish: no %q", want)
		}
	}
	// The countries in the alphabetical order of their Spanish names.
	if de, ar := strings.Index(r.Body, ">Alemania</option>"), strings.Index(r.Body, ">Argentina</option>"); de < 0 || ar < 0 || de > ar {
		t.Errorf("countries in Spanish: want Alemania before Argentina (at %d and %d)", de, ar)
	}
	r = g.agentB.post("/onboardings", formOf("country", "XXX", "doc", "Selfie", "ref", "mi-ref"), es)
	wantPage(t, r, http.StatusUnprocessableEntity, "invalid onboarding in Spanish")
	for _, want := range []string{esc("Elija el país que expidió el documento."), esc("Elija un tipo de documento."), `value="mi-ref"`, `aria-invalid="true"`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("invalid onboarding in Spanish: no %q in %s", want, r)
		}
	}
	if strings.Contains(r.Body, "Choose the country that issued the document.") {
		t.Errorf("invalid onboarding in Spanish: English message shown")
	}
}
