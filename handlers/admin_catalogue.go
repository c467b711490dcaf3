package handlers

import "github.com/labstack/echo/v4"

// registerAdminCatalogue adds the admin pages for reasons, deliveries, settings and the
// audit log to the admin group: every route here already requires an admin.
func (h *Handler) registerAdminCatalogue(a *echo.Group) {
	a.GET("/reasons", h.showReasons)
	a.POST("/reasons", h.createReason)
	a.POST("/reasons/:rid", h.updateReason)
	a.POST("/reasons/:rid/move", h.moveReason)
	a.POST("/reasons/:rid/retire", h.retireReason)
	a.POST("/reasons/:rid/restore", h.restoreReason)

	a.GET("/deliveries", h.showDeliveries)
	a.POST("/deliveries/:did/retry", h.retryUndelivered)
	a.POST("/deliveries/:did/resolve", h.resolveUndelivered)

	a.GET("/settings", h.showSettings)
	a.POST("/settings", h.saveSettings)

	a.GET("/audit", h.showAudit)
	a.POST("/audit/verify", h.verifyAuditChain)
}
