package handlers

import "github.com/labstack/echo/v4"

// registerHistory adds the history of every process ("Processes") for signed-in users.
func (h *Handler) registerHistory(u *echo.Group) {}
