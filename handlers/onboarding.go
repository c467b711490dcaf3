package handlers

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"golang.org/x/text/collate"

	"github.com/mobbscan-review/portal/auth"
	"github.com/mobbscan-review/portal/i18n"
	"github.com/mobbscan-review/portal/review"
	"github.com/mobbscan-review/portal/views"
)

// onboardingPage is the form with country, doc and ref chosen; the countries are in the
// alphabetical order of their names in the request's language (the view translates them).
func onboardingPage(ctx context.Context, country, doc, ref string) views.OnboardingPage {
	o := views.OnboardingPage{CustomerRef: ref, MaxRef: review.LimitCustomerRef.Max}
	for _, c := range views.Countries {
		o.Countries = append(o.Countries, views.Option{Value: c[0], Label: c[1], Selected: c[0] == country})
	}
	col := collate.New(i18n.From(ctx).Lang.Tag())
	slices.SortStableFunc(o.Countries, func(a, b views.Option) int {
		return col.CompareString(i18n.T(ctx, a.Label), i18n.T(ctx, b.Label))
	})
	for _, d := range review.DocTypes {
		o.DocTypes = append(o.DocTypes, views.Option{Value: d, Label: views.DocTypeLabel(d), Selected: d == doc})
	}
	return o
}

func (h *Handler) showNewOnboarding(c echo.Context) error {
	return render(c, http.StatusOK, views.OnboardingScreen(h.page(c, i18n.M("New onboarding"), "onboarding"), onboardingPage(c.Request().Context(), "ESP", "IDCard", "")))
}

// createOnboarding creates a process at the gateway and shows the customer's link.
func (h *Handler) createOnboarding(c echo.Context) error {
	country, doc, ref := strings.ToUpper(strings.TrimSpace(c.FormValue("country"))), c.FormValue("doc"), strings.TrimSpace(c.FormValue("ref"))
	o := onboardingPage(c.Request().Context(), country, doc, ref)
	o.Errors = views.FormErrors{}
	if views.CountryName(country) == country {
		o.Errors["country"] = i18n.M("Choose the country that issued the document.")
	}
	known := false
	for _, d := range review.DocTypes {
		known = known || d == doc
	}
	if !known {
		o.Errors["doc"] = i18n.M("Choose a document type.")
	}
	if _, err := review.LimitCustomerRef.Check(ref); err != nil {
		o.Errors[review.LimitCustomerRef.Field] = review.ErrorOf(err).Message
	}
	p := h.page(c, i18n.M("New onboarding"), "onboarding")
	if o.Errors.Has() {
		return render(c, http.StatusUnprocessableEntity, views.OnboardingScreen(p, o))
	}
	proc, err := h.Review.CreateOnboarding(c.Request().Context(), auth.ActorFrom(c), review.NewOnboarding{Country: country, DocType: doc, CustomerRef: ref})
	switch {
	case review.ErrorCode(err) == review.CodeRateLimited: // issue 9: the per-user limit
		o.Errors[""] = review.ErrorOf(err).Message
		c.Response().Header().Set("Retry-After", retryAfter(err))
		return render(c, http.StatusTooManyRequests, views.OnboardingScreen(p, o))
	case review.ErrorOf(err) != nil:
		h.log.Warn("create onboarding failed", "error", err)
		o.Errors[""] = i18n.M("Mobbscan did not create the process: it is not answering or refused the request. Nothing was created; try again in a moment.")
		return render(c, http.StatusServiceUnavailable, views.OnboardingScreen(p, o))
	case err != nil:
		return err
	}
	o = onboardingPage(c.Request().Context(), country, doc, "")
	o.Created = &views.CreatedOnboarding{ID: proc.ID, URL: processURL(proc.ID), Link: proc.OnboardingURL}
	return render(c, http.StatusCreated, views.OnboardingScreen(p, o))
}
