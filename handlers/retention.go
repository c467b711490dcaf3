package handlers

import "github.com/labstack/echo/v4"

// registerRetention adds the erasure actions (admins) and anything retention shows.
func (h *Handler) registerRetention(u, a *echo.Group) {}
