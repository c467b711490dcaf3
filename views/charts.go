package views

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/mobbscan-review/portal/i18n"
)

// Charts are drawn on the server as inline SVG (no chart JavaScript, nothing the CSP
// has to allow): these functions lay a chart out as shapes and texts, and the chart
// component (insights.templ) writes them as elements, escaped like any other text.
// Colours come from classes in app.css, never from style attributes. Every chart has a
// title and a description for assistive technology and is followed by its data table.
// Titles, descriptions and labels come translated; the numbers the charts write are
// formatted in the language of ctx.

// Chart is a chart laid out in a viewBox of Width × Height units.
type Chart struct {
	ID     string // element id; the title is ID+"-title", the description ID+"-desc"
	Title  string
	Desc   string // one sentence on what it shows, for screen readers
	Width  int
	Height int
	Bars   []ChartBar
	Texts  []ChartText
	Lines  []ChartLine
	Legend []ChartLegend
	Empty  bool // nothing to draw: the component says so instead
}

// ChartBar is a rectangle with its value as a tooltip.
type ChartBar struct {
	X, Y, W, H float64
	Class      string // "bar-accept", "bar-reject", "bar-neutral", …
	Tip        string
}

// ChartText is a label.
type ChartText struct {
	X, Y   float64
	Text   string
	Anchor string // "start", "middle" or "end"
	Class  string
}

// ChartLine is a grid line.
type ChartLine struct {
	X1, Y1, X2, Y2 float64
}

// ChartLegend names a series and its class.
type ChartLegend struct {
	Label string
	Class string
}

// ChartSeries is one series of a stacked bar chart: a value per category.
type ChartSeries struct {
	Label  string
	Class  string
	Values []int
}

// num formats a coordinate for an SVG attribute.
func num(f float64) string { return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) }

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten, so the axis reads well.
func niceMax(v int) int {
	if v <= 0 {
		return 1
	}
	p := 1
	for p*10 <= v {
		p *= 10
	}
	for _, m := range []int{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// StackedBars lays out vertical bars, one per category, each stacking the series in
// order from the axis up, with at most about eight category labels under the axis.
func StackedBars(ctx context.Context, id, title, desc string, categories []string, series []ChartSeries) Chart {
	const width, height, left, right, top, bottom = 720.0, 260.0, 44.0, 12.0, 12.0, 40.0
	c := Chart{ID: id, Title: title, Desc: desc, Width: int(width), Height: int(height)}
	for _, s := range series {
		c.Legend = append(c.Legend, ChartLegend{Label: s.Label, Class: s.Class})
	}
	total := 0
	peak := 0
	for i := range categories {
		sum := 0
		for _, s := range series {
			if i < len(s.Values) {
				sum += s.Values[i]
			}
		}
		total += sum
		peak = max(peak, sum)
	}
	if len(categories) == 0 || total == 0 {
		c.Empty = true
		return c
	}
	scale := niceMax(peak)
	plotW, plotH := width-left-right, height-top-bottom
	base := top + plotH
	// Grid: the axis, half way and the top, with their values.
	for _, v := range []int{0, scale / 2, scale} {
		if v == scale/2 && (scale < 2 || scale%2 != 0) {
			continue
		}
		y := base - float64(v)/float64(scale)*plotH
		c.Lines = append(c.Lines, ChartLine{X1: left, Y1: y, X2: width - right, Y2: y})
		c.Texts = append(c.Texts, ChartText{X: left - 6, Y: y + 4, Text: i18n.Number(ctx, v), Anchor: "end", Class: "chart-axis"})
	}
	slot := plotW / float64(len(categories))
	gap := math.Min(slot*0.2, 6)
	every := max(1, int(math.Ceil(float64(len(categories))/8)))
	for i, cat := range categories {
		x := left + float64(i)*slot + gap/2
		y := base
		for _, s := range series {
			if i >= len(s.Values) || s.Values[i] == 0 {
				continue
			}
			h := float64(s.Values[i]) / float64(scale) * plotH
			y -= h
			c.Bars = append(c.Bars, ChartBar{X: x, Y: y, W: slot - gap, H: h, Class: s.Class, Tip: fmt.Sprintf("%s: %s %s", cat, i18n.Number(ctx, s.Values[i]), s.Label)})
		}
		if i%every == 0 {
			c.Texts = append(c.Texts, ChartText{X: x + (slot-gap)/2, Y: base + 16, Text: cat, Anchor: "middle", Class: "chart-axis"})
		}
	}
	return c
}

// ChartRow is one bar of a horizontal bar chart.
type ChartRow struct {
	Label string
	Value int
	Class string // "" is "bar-neutral"
}

// HorizontalBars lays out one labelled horizontal bar per row, longest scale at the
// largest value, with the value written after each bar.
func HorizontalBars(ctx context.Context, id, title, desc string, rows []ChartRow) Chart {
	const width, labelW, valueW, rowH, pad = 520.0, 170.0, 50.0, 26.0, 8.0
	c := Chart{ID: id, Title: title, Desc: desc, Width: int(width), Height: int(pad*2 + rowH*float64(max(len(rows), 1)))}
	peak := 0
	for _, r := range rows {
		peak = max(peak, r.Value)
	}
	if peak == 0 {
		c.Empty = true
		return c
	}
	plotW := width - labelW - valueW
	for i, r := range rows {
		y := pad + float64(i)*rowH
		class := r.Class
		if class == "" {
			class = "bar-neutral"
		}
		w := float64(r.Value) / float64(peak) * plotW
		c.Texts = append(c.Texts, ChartText{X: labelW - 8, Y: y + rowH/2 + 4, Text: clipLabel(r.Label, 24), Anchor: "end", Class: "chart-label"})
		if r.Value > 0 {
			c.Bars = append(c.Bars, ChartBar{X: labelW, Y: y + 4, W: math.Max(w, 1), H: rowH - 8, Class: class, Tip: fmt.Sprintf("%s: %s", r.Label, i18n.Number(ctx, r.Value))})
		}
		c.Texts = append(c.Texts, ChartText{X: labelW + w + 6, Y: y + rowH/2 + 4, Text: i18n.Number(ctx, r.Value), Anchor: "start", Class: "chart-value"})
	}
	return c
}

// clipLabel shortens a label to n characters with an ellipsis (the full text is in the
// bar's tooltip and the table).
func clipLabel(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
