// Package handlers is the portal's HTTP surface on Echo v4: the URL table, one file per
// area, rendering and htmx helpers and the error handler. HTTP in and out, nothing else.
package handlers

import (
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/static"
	"github.com/mobbscan-review/portal/store"
)

// Config is what the HTTP layer needs to know of the deployment.
type Config struct {
	Production     bool
	BaseURL        string       // public base URL, for links handed out (no trailing slash)
	TrustedProxies []*net.IPNet // client IPs come from X-Forwarded-For only through these
	BodyLimit      string       // e.g. "1M"
	Logger         *slog.Logger
	LinkTTL        time.Duration // lifetime of set-password links
}

// Deps are the services the handlers use.
type Deps struct {
	DB            *store.DB
	Sessions      *auth.SessionStore
	Authenticator *auth.Authenticator
	Hasher        *auth.Hasher
	Review        *review.Service
	Inbox         *review.Inbox
	// Workers reports each background worker's state (WorkerRunning, WorkerStopped)
	// for /healthz; nil when the program runs none.
	Workers func() map[string]string
	// Metrics hooks (handlers/metrics.go), nil when metrics are off: ObserveRequest is
	// told of every request by route pattern, ObserveWebhook of each webhook intake's
	// result (WebhookResults).
	ObserveRequest func(route, method string, status int, d time.Duration)
	ObserveWebhook func(result string)
	// OIDC is single sign-on (issue 9, item 2); nil when it is not configured.
	OIDC *auth.OIDC
}

// Handler holds the dependencies of every route.
type Handler struct {
	cfg Config
	Deps
	log *slog.Logger
}

// New builds the Echo application with the whole URL table. Every route needs a
// session unless it is in the public group (Z1).
func New(cfg Config, deps Deps) *echo.Echo {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BodyLimit == "" {
		cfg.BodyLimit = "1M"
	}
	if cfg.LinkTTL <= 0 {
		cfg.LinkTTL = 24 * time.Hour
	}
	h := &Handler{cfg: cfg, Deps: deps, log: cfg.Logger}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = h.handleError
	e.IPExtractor = echo.ExtractIPDirect()
	if len(cfg.TrustedProxies) > 0 {
		opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
		for _, n := range cfg.TrustedProxies {
			opts = append(opts, echo.TrustIPRange(n))
		}
		e.IPExtractor = echo.ExtractIPFromXFFHeader(opts...)
	}

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(h.denyCrossOrigin))
	e.Pre(h.requestID)
	e.Use(h.observeRequests) // metrics: outermost, sees the final status (handlers/metrics.go)
	e.Use(h.recoverPanic, h.logRequests, h.securityHeaders, echo.WrapMiddleware(cop.Handler),
		middleware.BodyLimit(cfg.BodyLimit), deps.Sessions.Load, h.locale)

	// Public: sign-in, static files, health, one-time links (and later the webhook).
	e.GET("/login", h.showLogin)
	e.POST("/login", h.login)
	e.GET("/login/oidc", h.startSSO)          // single sign-on (issue 9, item 2)
	e.GET(auth.OIDCCallbackPath, h.finishSSO) // single sign-on (issue 9, item 2)
	e.GET("/password/:token", h.showSetPasswordLink)
	e.POST("/password/:token", h.setPasswordFromLink)
	e.POST("/lang", h.setLanguage) // the language menu of signed-out pages (issue 12)
	e.GET("/healthz", h.health)
	e.HEAD("/healthz", h.health)
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", static.Handler())))
	e.POST("/webhooks/mobbscan/:token", h.receiveWebhook)

	// Signed in.
	u := e.Group("", auth.RequireUser)
	u.GET("/", h.showHome)
	u.GET("/queue", h.showQueue)
	u.POST("/queue/next", h.nextCase)
	u.POST("/processes/track", h.trackProcess)
	u.GET("/processes/:id", h.showProcess)
	u.POST("/processes/:id/claim", h.claimProcess)
	u.POST("/processes/:id/heartbeat", h.heartbeatProcess)
	u.POST("/processes/:id/release", h.releaseProcess)
	u.POST("/processes/:id/accept", h.acceptProcess)
	u.POST("/processes/:id/reject", h.rejectProcess)
	u.GET("/processes/:id/readiness", h.showAcceptReadiness)
	u.GET("/processes/:id/delivery", h.showDelivery)
	u.GET("/processes/:id/timeline", h.showTimeline) // case timeline (issue 11)
	u.POST("/processes/:id/notes", h.addNote)        // case notes (issue 11)
	u.POST("/processes/:id/delivery/retry", h.retryDelivery)
	u.POST("/decisions/:did/confirm", h.confirmDecision)
	u.POST("/decisions/:did/overturn", h.overturnDecision)
	u.POST("/account/preferences", h.savePreferences) // language, theme, time zone (issue 12)
	u.GET("/processes/:id/evidence/:kind", h.streamEvidence)
	u.GET("/processes/:id/evidence.zip", h.streamZIP)
	u.GET("/onboardings/new", h.showNewOnboarding)
	u.POST("/onboardings", h.createOnboarding)
	u.POST("/logout", h.logout)
	u.POST(keepaliveURL, h.keepSessionAlive)
	u.GET("/account", h.showAccount)
	u.GET("/account/password", h.showChangePassword)
	u.POST("/account/password", h.changePassword)
	u.POST("/account/sessions/:sid/end", h.endMySession)

	// Admins.
	a := u.Group("/admin", h.requireAdmin)
	a.GET("/users", h.showUsers)
	a.POST("/users", h.createUser)
	a.GET("/users/:id", h.showUser)
	a.POST("/users/:id/role", h.changeUserRole)
	a.POST("/users/:id/disable", h.disableUser)
	a.POST("/users/:id/enable", h.enableUser)
	a.POST("/users/:id/password-link", h.issuePasswordLink)
	a.POST("/users/:id/sessions/end", h.endUserSessions)
	a.POST("/users/:id/sessions/:sid/end", h.endUserSession)
	h.registerAdminCatalogue(a)
	a.GET("/audit/export", h.exportAudit) // audit export (issue 11, item 6), beside the audit log's routes
	h.registerHistory(u)
	h.registerInsights(u) // insights (issue 11, item 1)
	h.registerRetention(u, a)
	h.registerDesk(u, a)
	a.POST("/settings/sso", h.saveSSOSettings) // single sign-on (issue 9, item 2)
	h.registerSecondFactor(e, u, a)            // second factor (issue 9, item 1; handlers/totp.go)

	// Unknown paths get the same page whether signed in or not; a known path asked with
	// another method gets 405 (under /admin only after the admin check).
	e.RouteNotFound("/*", notFound(e))
	a.RouteNotFound("/*", notFound(e))
	return e
}

// notFound answers 404, or 405 with Allow when the path has a route for another
// method: Echo lets a catch-all not-found route win over its own 405.
func notFound(e *echo.Echo) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			if m == r.Method {
				continue
			}
			probe := e.NewContext(r, nil)
			e.Router().Find(m, echo.GetPath(r), probe)
			for _, rt := range e.Routes() {
				if rt.Method == m && rt.Path == probe.Path() {
					allow = append(allow, m)
					break
				}
			}
		}
		if len(allow) == 0 {
			return echo.ErrNotFound
		}
		c.Response().Header().Set(echo.HeaderAllow, strings.Join(allow, ", "))
		return echo.ErrMethodNotAllowed
	}
}

// PublicRoutes are the routes reachable without a session (Z1); a test proves every
// other route refuses anonymous requests.
var PublicRoutes = map[string]bool{
	"GET /login": true, "POST /login": true, "GET /login/oidc": true, "GET /login/oidc/callback": true, "GET /password/:token": true, "POST /password/:token": true,
	"GET /login/second-factor": true, "POST /login/second-factor": true, // second factor (issue 9, item 1): a pending sign-in, not a session
	"POST /lang": true, "GET /healthz": true, "HEAD /healthz": true, "GET /static/*": true, "POST /webhooks/mobbscan/:token": true, "GET /*": true, "POST /*": true, "PUT /*": true,
	"DELETE /*": true, "PATCH /*": true, "HEAD /*": true, "OPTIONS /*": true, "CONNECT /*": true,
	"TRACE /*": true, "PROPFIND /*": true, "REPORT /*": true,
}

func (h *Handler) showHome(c echo.Context) error {
	return c.Redirect(http.StatusSeeOther, "/queue")
}
