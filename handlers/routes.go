// Package handlers is the portal's HTTP surface on Echo v4: the URL table, one file per
// area, rendering and htmx helpers and the error handler. HTTP in and out, nothing else.
package handlers

import (
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/mobbscan-review/portal/auth"
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
	e.Use(h.recoverPanic, h.logRequests, h.securityHeaders, echo.WrapMiddleware(cop.Handler),
		middleware.BodyLimit(cfg.BodyLimit), deps.Sessions.Load)

	// Public: sign-in, static files, health, one-time links (and later the webhook).
	e.GET("/login", h.showLogin)
	e.POST("/login", h.login)
	e.GET("/password/:token", h.showSetPasswordLink)
	e.POST("/password/:token", h.setPasswordFromLink)
	e.GET("/healthz", h.health)
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", static.Handler())))

	// Signed in.
	u := e.Group("", auth.RequireUser)
	u.GET("/", h.showHome)
	u.POST("/logout", h.logout)
	u.GET("/account", h.showAccount)
	u.GET("/account/password", h.showChangePassword)
	u.POST("/account/password", h.changePassword)
	u.POST("/account/sessions/:sid/end", h.endMySession)

	// Admins.
	a := u.Group("/admin", deps.Sessions.RequireAdmin)
	a.GET("/users", h.showUsers)
	a.POST("/users", h.createUser)
	a.GET("/users/:id", h.showUser)
	a.POST("/users/:id/role", h.changeUserRole)
	a.POST("/users/:id/disable", h.disableUser)
	a.POST("/users/:id/enable", h.enableUser)
	a.POST("/users/:id/password-link", h.issuePasswordLink)
	a.POST("/users/:id/sessions/end", h.endUserSessions)
	a.POST("/users/:id/sessions/:sid/end", h.endUserSession)

	// Unknown paths get the same page whether signed in or not.
	e.RouteNotFound("/*", func(c echo.Context) error { return echo.ErrNotFound })
	return e
}

// PublicRoutes are the routes reachable without a session (Z1); a test proves every
// other route refuses anonymous requests.
var PublicRoutes = map[string]bool{
	"GET /login": true, "POST /login": true, "GET /password/:token": true, "POST /password/:token": true,
	"GET /healthz": true, "GET /static/*": true, "GET /*": true, "POST /*": true, "PUT /*": true,
	"DELETE /*": true, "PATCH /*": true, "HEAD /*": true, "OPTIONS /*": true, "CONNECT /*": true,
	"TRACE /*": true, "PROPFIND /*": true, "REPORT /*": true,
}

func (h *Handler) showHome(c echo.Context) error {
	// The review queue becomes the home page when it exists; until then, the account.
	if u := auth.UserFrom(c); u != nil && u.IsAdmin() {
		return c.Redirect(http.StatusSeeOther, "/admin/users")
	}
	return c.Redirect(http.StatusSeeOther, "/account")
}
