package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/store"
	"github.com/mobbscan-review/portal/views"
)

// fourEyesSettings are the on/off settings of the four-eyes rule, in page order.
var fourEyesSettings = []views.AdminSetting{
	{Key: store.SettingFourEyesAcceptFailed, Label: i18n.M("Accepts with failed checks need a second agent"),
		Help: i18n.M("An accept of a process where an automatic check failed waits for a second agent.")},
	{Key: store.SettingFourEyesAccept, Label: i18n.M("Every accept needs a second agent"),
		Help: i18n.M("Every accept waits for a second agent, whatever the checks say.")},
	{Key: store.SettingFourEyesReject, Label: i18n.M("Every reject needs a second agent"),
		Help: i18n.M("Every reject waits for a second agent before the customer is told.")},
}

// settingsPage is the settings page: the four-eyes switches, the effective retention
// and the erasures at Mobbscan that are not done.
func (h *Handler) settingsPage(c echo.Context) (views.AdminSettingsPage, error) {
	ctx := c.Request().Context()
	fe, err := h.Review.FourEyesSettings(ctx)
	if err != nil {
		return views.AdminSettingsPage{}, err
	}
	p := views.AdminSettingsPage{FourEyes: make([]views.AdminSetting, 0, len(fourEyesSettings))}
	for _, s := range fourEyesSettings {
		s.On = fe.On(s.Key)
		p.FourEyes = append(p.FourEyes, s)
	}
	r, err := h.Review.RetentionSettings(ctx)
	if err != nil {
		return p, err
	}
	p.Retention = h.retentionForm(r)
	if p.Erasures, err = h.erasuresView(c); err != nil {
		return p, err
	}
	p.Erasures.Notice = erasureNotices[c.QueryParam("erasure")]
	d, err := h.Review.DeskSettings(ctx)
	if err != nil {
		return p, err
	}
	p.Desk = deskForm(d)
	if p.SSO, err = h.ssoSettings(c); err != nil { // single sign-on (issue 9, item 2)
		return p, err
	}
	policy, err := h.Authenticator.SecondFactorPolicy(ctx) // second factor (issue 9, item 1; handlers/totp.go)
	if err != nil {
		return p, err
	}
	p.SecondFactor = secondFactorPolicyForm(policy)
	return p, nil
}

func (h *Handler) showSettings(c echo.Context) error {
	p, err := h.settingsPage(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.AdminSettingsScreen(h.page(c, i18n.M("Settings"), "settings"), p))
}

// saveSettings stores the four-eyes toggles: a checked box is "on", an unchecked one
// (absent from the form) "off".
func (h *Handler) saveSettings(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, i18n.M("The form could not be read."))
	}
	var fe review.FourEyes
	for _, s := range fourEyesSettings {
		switch form.Get(s.Key) {
		case "":
		case "on":
			fe.Set(s.Key, true)
		default:
			return echo.NewHTTPError(http.StatusBadRequest, i18n.M("Use the check boxes of the settings page."))
		}
	}
	if err := h.Review.SetFourEyes(c.Request().Context(), auth.ActorFrom(c), fe); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/settings?done=settings-saved")
}
