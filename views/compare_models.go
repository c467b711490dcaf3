package views

import (
	"context"
	"strconv"
	"strings"

	"github.com/mobbscan-review/portal/i18n"
)

// Comparison tools of the process page (issue 12, item 2): the document portrait and the
// live selfie side by side (linked zoom and pan, overlay, blink, brightness and
// contrast) and the liveness video's player (speed, frame step, loop of a range).
// The behaviour is static/compare.js; the look static/compare.css.

// CompareView is the face comparison: the document's portrait and the live selfie.
type CompareView struct {
	Portrait, Selfie EvidenceItem
}

// Both reports whether both faces are present: overlay and blink need two images.
func (c CompareView) Both() bool { return c.Portrait.Present && c.Selfie.Present }

// Missing returns the faces that are not available, in display order.
func (c CompareView) Missing() []EvidenceItem {
	var out []EvidenceItem
	for _, e := range []EvidenceItem{c.Portrait, c.Selfie} {
		if !e.Present {
			out = append(out, e)
		}
	}
	return out
}

// VideoSpeeds are the playback rates the video player offers, slowest first.
var VideoSpeeds = []float64{0.25, 0.5, 1, 1.5, 2}

// speedValue is a rate as HTMLMediaElement.playbackRate takes it ("0.25").
func speedValue(r float64) string { return strconv.FormatFloat(r, 'f', -1, 64) }

// speedLabel is a rate as the language writes it: "0.25×", "0,25×".
func speedLabel(ctx context.Context, r float64) string {
	s := speedValue(r)
	if i18n.From(ctx).Lang == i18n.ES {
		s = strings.ReplaceAll(s, ".", ",")
	}
	return s + "×"
}

// langOf is the request's language, for the number formats compare.js writes.
func langOf(ctx context.Context) string { return string(i18n.From(ctx).Lang) }

// cmpPressed is an aria-pressed value.
func cmpPressed(on bool) string {
	if on {
		return "true"
	}
	return "false"
}
