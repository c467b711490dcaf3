package views

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
)

func finite(t *testing.T, c Chart) {
	t.Helper()
	for _, b := range c.Bars {
		for _, v := range []float64{b.X, b.Y, b.W, b.H} {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > float64(max(c.Width, c.Height)) {
				t.Fatalf("bar %+v is outside the chart %dx%d", b, c.Width, c.Height)
			}
		}
	}
}

// TestStackedBars: bar heights are proportional to the values on one scale, the series
// stack from the axis up, and long periods get at most about eight labels.
func TestStackedBars(t *testing.T) {
	c := StackedBars(context.Background(), "c", "T", "D", []string{"Mon", "Tue", "Wed"}, []ChartSeries{
		{Label: "accepted", Class: "bar-accept", Values: []int{2, 0, 4}},
		{Label: "rejected", Class: "bar-reject", Values: []int{1, 0, 0}},
	})
	finite(t, c)
	if c.Empty || len(c.Bars) != 3 {
		t.Fatalf("got %d bars (empty %t), want 3: zero values draw nothing", len(c.Bars), c.Empty)
	}
	monA, monR, wedA := c.Bars[0], c.Bars[1], c.Bars[2]
	if monA.Class != "bar-accept" || monR.Class != "bar-reject" || wedA.Class != "bar-accept" {
		t.Fatalf("classes %q %q %q", monA.Class, monR.Class, wedA.Class)
	}
	if math.Abs(wedA.H-2*monA.H) > 0.01 || math.Abs(monA.H-2*monR.H) > 0.01 {
		t.Errorf("heights %.1f, %.1f, %.1f: want 4:2:1", wedA.H, monA.H, monR.H)
	}
	if math.Abs(monR.Y+monR.H-monA.Y) > 0.01 || math.Abs(monA.Y+monA.H-(wedA.Y+wedA.H)) > 0.01 {
		t.Errorf("Monday's rejections do not sit on its acceptances on the same axis: %+v %+v %+v", monA, monR, wedA)
	}
	if monA.Tip != "Mon: 2 accepted" {
		t.Errorf("tooltip %q", monA.Tip)
	}
	days, vals := make([]string, 366), make([]int, 366)
	for i := range days {
		days[i] = "d"
	}
	vals[100] = 7
	long := StackedBars(context.Background(), "l", "T", "D", days, []ChartSeries{{Label: "x", Values: vals}})
	finite(t, long)
	labels := 0
	for _, x := range long.Texts {
		if x.Text == "d" {
			labels++
		}
	}
	if labels < 4 || labels > 9 {
		t.Errorf("366 days: %d labels, want about 8", labels)
	}
	if e := StackedBars(context.Background(), "e", "T", "D", []string{"a"}, []ChartSeries{{Values: []int{0}}}); !e.Empty || len(e.Bars) != 0 {
		t.Errorf("no data: %+v", e)
	}
	if e := StackedBars(context.Background(), "e", "T", "D", nil, nil); !e.Empty {
		t.Errorf("no days: %+v", e)
	}
}

// TestHorizontalBars: the largest value spans the plot, others in proportion; a zero
// row keeps its label and value but draws no bar.
func TestHorizontalBars(t *testing.T) {
	c := HorizontalBars(context.Background(), "h", "T", "D", []ChartRow{{Label: "Expired", Value: 10}, {Label: "Blurred", Value: 5, Class: "bar-reject"}, {Label: "None", Value: 0}})
	finite(t, c)
	if len(c.Bars) != 2 || c.Bars[0].Class != "bar-neutral" || c.Bars[1].Class != "bar-reject" {
		t.Fatalf("bars %+v", c.Bars)
	}
	if math.Abs(c.Bars[0].W-2*c.Bars[1].W) > 0.01 || c.Bars[0].X != c.Bars[1].X {
		t.Errorf("widths %.1f and %.1f: want 2:1 from the same start", c.Bars[0].W, c.Bars[1].W)
	}
	texts := []string{}
	for _, x := range c.Texts {
		texts = append(texts, x.Text)
	}
	if strings.Join(texts, ",") != "Expired,10,Blurred,5,None,0" {
		t.Errorf("texts %q", texts)
	}
	if e := HorizontalBars(context.Background(), "e", "T", "D", []ChartRow{{Label: "a"}}); !e.Empty {
		t.Errorf("all zero: %+v", e)
	}
	if got := clipLabel(strings.Repeat("é", 40), 30); len([]rune(got)) != 30 || !strings.HasSuffix(got, "…") {
		t.Errorf("clipped label %q", got)
	}
}

// TestChartSVG: the chart is an image named by its title and description, its texts
// escaped, no style attribute (the CSP forbids inline styles), and an empty chart says so.
func TestChartSVG(t *testing.T) {
	c := HorizontalBars(context.Background(), "chart-x", "Reasons <b>", "Rejections by reason.", []ChartRow{{Label: `<script>alert(1)</script>`, Value: 3}})
	var buf bytes.Buffer
	if err := ChartSVG(c).Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, s := range []string{`id="chart-x"`, `role="img"`, `aria-labelledby="chart-x-title chart-x-desc"`,
		`<title id="chart-x-title">Reasons &lt;b&gt;</title>`, `<desc id="chart-x-desc">Rejections by reason.</desc>`,
		`&lt;script&gt;alert(1)&lt;/script&gt;`, `class="bar-neutral"`} {
		if !strings.Contains(out, s) {
			t.Errorf("SVG lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "<script>") || strings.Contains(out, "style=") {
		t.Errorf("SVG has a script or a style attribute:\n%s", out)
	}
	buf.Reset()
	if err := ChartSVG(HorizontalBars(context.Background(), "chart-e", "T", "D", nil)).Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "<svg") || !strings.Contains(buf.String(), "Nothing to chart") {
		t.Errorf("empty chart: %s", buf.String())
	}
}
