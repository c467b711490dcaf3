package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

// fourEyesSettings are the on/off settings of the four-eyes rule, in page order.
var fourEyesSettings = []views.AdminSetting{
	{Key: store.SettingFourEyesAcceptFailed, Label: "Accepts with failed checks need a second agent",
		Help: "An accept of a process where an automatic check failed waits for a second agent."},
	{Key: store.SettingFourEyesAccept, Label: "Every accept needs a second agent",
		Help: "Every accept waits for a second agent, whatever the checks say."},
	{Key: store.SettingFourEyesReject, Label: "Every reject needs a second agent",
		Help: "Every reject waits for a second agent before the customer is told."},
}

// Values of an on/off setting.
const (
	settingOn  = "on"
	settingOff = "off"
)

func (h *Handler) showSettings(c echo.Context) error {
	ctx := c.Request().Context()
	p := views.AdminSettingsPage{FourEyes: make([]views.AdminSetting, 0, len(fourEyesSettings))}
	for _, s := range fourEyesSettings {
		v, err := h.DB.Setting(ctx, s.Key, settingOff)
		if err != nil {
			return err
		}
		s.On = v == settingOn
		p.FourEyes = append(p.FourEyes, s)
	}
	return render(c, http.StatusOK, views.AdminSettingsScreen(h.page(c, "Settings", "settings"), p))
}

// saveSettings stores the four-eyes toggles: a checked box is "on", an unchecked one
// (absent from the form) "off". The store audits each change.
func (h *Handler) saveSettings(c echo.Context) error {
	values := make([]string, len(fourEyesSettings))
	for i, s := range fourEyesSettings {
		switch c.FormValue(s.Key) {
		case "":
			values[i] = settingOff
		case settingOn:
			values[i] = settingOn
		default:
			return echo.NewHTTPError(http.StatusBadRequest, "Use the check boxes of the settings page.")
		}
	}
	ctx, a := c.Request().Context(), auth.ActorFrom(c)
	for i, s := range fourEyesSettings {
		if err := h.DB.SetSetting(ctx, a, s.Key, values[i]); err != nil {
			return err
		}
	}
	return c.Redirect(http.StatusSeeOther, "/admin/settings?done=settings-saved")
}
