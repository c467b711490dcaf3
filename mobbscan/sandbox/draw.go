package sandbox

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"strings"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/gomonobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
	"golang.org/x/image/vector"
)

// A small 2D drawing toolkit over image/draw and x/image/vector: filled
// anti-aliased paths under an affine transform, and text in the Go fonts.

// affine maps (x, y) to (a*x + c*y + e, b*x + d*y + f).
type affine struct{ a, b, c, d, e, f float64 }

var identityAffine = affine{a: 1, d: 1}

func (m affine) apply(x, y float64) (float64, float64) {
	return m.a*x + m.c*y + m.e, m.b*x + m.d*y + m.f
}

// then returns the transform that applies n first and m after it.
func (m affine) then(n affine) affine {
	return affine{
		a: m.a*n.a + m.c*n.b, b: m.b*n.a + m.d*n.b,
		c: m.a*n.c + m.c*n.d, d: m.b*n.c + m.d*n.d,
		e: m.a*n.e + m.c*n.f + m.e, f: m.b*n.e + m.d*n.f + m.f,
	}
}

func translate(x, y float64) affine { return affine{a: 1, d: 1, e: x, f: y} }
func scaleBy(sx, sy float64) affine { return affine{a: sx, d: sy} }
func rotate(rad float64) affine {
	s, c := math.Sincos(rad)
	return affine{a: c, b: s, c: -s, d: c}
}

// canvas is an RGBA image with a current transform.
type canvas struct {
	img   *image.RGBA
	m     affine
	z     vector.Rasterizer
	faces map[faceKey]font.Face
}

type faceKey struct {
	f    *sfnt.Font
	size float64
}

func newCanvas(w, h int) *canvas {
	return &canvas{img: image.NewRGBA(image.Rect(0, 0, w, h)), m: identityAffine}
}

func (c *canvas) fillRect(r image.Rectangle, col color.Color) {
	draw.Draw(c.img, r, image.NewUniform(col), image.Point{}, draw.Over)
}

// gradient fills the canvas from top colour to bottom colour.
func (c *canvas) gradient(top, bottom color.RGBA) {
	b := c.img.Bounds()
	for y := range b.Dy() {
		col := mix(top, bottom, float64(y)/float64(max(1, b.Dy()-1)))
		row := c.img.Pix[y*c.img.Stride : y*c.img.Stride+b.Dx()*4]
		copy(row, []byte{col.R, col.G, col.B, 0xff})
		for n := 4; n < len(row); n *= 2 {
			copy(row[n:], row[:n])
		}
	}
}

func mix(a, b color.RGBA, t float64) color.RGBA {
	l := func(x, y uint8) uint8 { return uint8(float64(x) + (float64(y)-float64(x))*t + 0.5) }
	return color.RGBA{l(a.R, b.R), l(a.G, b.G), l(a.B, b.B), l(a.A, b.A)}
}

func shade(c color.RGBA, f float64) color.RGBA {
	s := func(x uint8) uint8 { return uint8(math.Max(0, math.Min(255, float64(x)*f))) }
	return color.RGBA{s(c.R), s(c.G), s(c.B), c.A}
}

func withAlpha(c color.RGBA, a uint8) color.NRGBA { return color.NRGBA{c.R, c.G, c.B, a} }

// path collects a shape in user space; fill rasterises it under the
// canvas's transform into only the pixels its bounding box covers.
type path struct {
	m   affine
	ops []pathOp
}

type pathOp struct {
	kind byte // 'M', 'L', 'Q', 'C', 'Z'
	pts  [3][2]float64
}

func (p *path) add(kind byte, xy ...float64) {
	var op pathOp
	op.kind = kind
	for i := 0; i+1 < len(xy); i += 2 {
		x, y := p.m.apply(xy[i], xy[i+1])
		op.pts[i/2] = [2]float64{x, y}
	}
	p.ops = append(p.ops, op)
}

func (p *path) moveTo(x, y float64)                 { p.add('M', x, y) }
func (p *path) lineTo(x, y float64)                 { p.add('L', x, y) }
func (p *path) quadTo(x1, y1, x, y float64)         { p.add('Q', x1, y1, x, y) }
func (p *path) cubeTo(x1, y1, x2, y2, x, y float64) { p.add('C', x1, y1, x2, y2, x, y) }
func (p *path) close()                              { p.ops = append(p.ops, pathOp{kind: 'Z'}) }

// kappa places cubic control points to approximate a quarter circle.
const kappa = 0.5522847498

// ellipse adds a closed ellipse; reverse winds it the other way (to cut a
// hole in a shape added before it in the same path).
func (p *path) ellipse(cx, cy, rx, ry float64, reverse bool) {
	kx, ky := rx*kappa, ry*kappa
	if reverse {
		ky = -ky
		ry = -ry
	}
	p.moveTo(cx+rx, cy)
	p.cubeTo(cx+rx, cy+ky, cx+kx, cy+ry, cx, cy+ry)
	p.cubeTo(cx-kx, cy+ry, cx-rx, cy+ky, cx-rx, cy)
	p.cubeTo(cx-rx, cy-ky, cx-kx, cy-ry, cx, cy-ry)
	p.cubeTo(cx+kx, cy-ry, cx+rx, cy-ky, cx+rx, cy)
	p.close()
}

func (p *path) rect(x, y, w, h float64) {
	p.moveTo(x, y)
	p.lineTo(x+w, y)
	p.lineTo(x+w, y+h)
	p.lineTo(x, y+h)
	p.close()
}

// segment adds a line from (x0, y0) to (x1, y1) of the given width as a quad.
func (p *path) segment(x0, y0, x1, y1, width float64) {
	dx, dy := x1-x0, y1-y0
	l := math.Hypot(dx, dy)
	if l == 0 {
		return
	}
	nx, ny := -dy/l*width/2, dx/l*width/2
	p.moveTo(x0+nx, y0+ny)
	p.lineTo(x1+nx, y1+ny)
	p.lineTo(x1-nx, y1-ny)
	p.lineTo(x0-nx, y0-ny)
	p.close()
}

// shape starts a path under the canvas's current transform.
func (c *canvas) shape() *path { return &path{m: c.m} }

// fill draws p in col.
func (c *canvas) fill(p *path, col color.Color) {
	if len(p.ops) == 0 {
		return
	}
	minX, minY := math.Inf(1), math.Inf(1)
	maxX, maxY := math.Inf(-1), math.Inf(-1)
	n := map[byte]int{'M': 1, 'L': 1, 'Q': 2, 'C': 3, 'Z': 0}
	for _, op := range p.ops {
		for i := range n[op.kind] {
			x, y := op.pts[i][0], op.pts[i][1]
			minX, maxX = math.Min(minX, x), math.Max(maxX, x)
			minY, maxY = math.Min(minY, y), math.Max(maxY, y)
		}
	}
	box := image.Rect(int(math.Floor(minX)), int(math.Floor(minY)), int(math.Ceil(maxX))+1, int(math.Ceil(maxY))+1).
		Intersect(c.img.Bounds())
	if box.Empty() {
		return
	}
	ox, oy := float64(box.Min.X), float64(box.Min.Y)
	pt := func(q [2]float64) (float32, float32) { return float32(q[0] - ox), float32(q[1] - oy) }
	c.z.Reset(box.Dx(), box.Dy())
	c.z.DrawOp = draw.Over
	open := false
	for _, op := range p.ops {
		switch op.kind {
		case 'M':
			if open {
				c.z.ClosePath()
			}
			x, y := pt(op.pts[0])
			c.z.MoveTo(x, y)
			open = true
		case 'L':
			x, y := pt(op.pts[0])
			c.z.LineTo(x, y)
		case 'Q':
			x1, y1 := pt(op.pts[0])
			x, y := pt(op.pts[1])
			c.z.QuadTo(x1, y1, x, y)
		case 'C':
			x1, y1 := pt(op.pts[0])
			x2, y2 := pt(op.pts[1])
			x, y := pt(op.pts[2])
			c.z.CubeTo(x1, y1, x2, y2, x, y)
		case 'Z':
			c.z.ClosePath()
			open = false
		}
	}
	if open {
		c.z.ClosePath()
	}
	c.z.Draw(c.img, box, image.NewUniform(col), image.Point{})
}

// Fonts: the Go fonts cover Latin-1, Latin Extended, Greek and Cyrillic.
type fontSet struct{ regular, bold, mono, monoBold *sfnt.Font }

var loadFonts = sync.OnceValues(func() (fontSet, error) {
	var fs fontSet
	for _, f := range []struct {
		dst  **sfnt.Font
		data []byte
	}{{&fs.regular, goregular.TTF}, {&fs.bold, gobold.TTF}, {&fs.mono, gomono.TTF}, {&fs.monoBold, gomonobold.TTF}} {
		parsed, err := opentype.Parse(f.data)
		if err != nil {
			return fs, fmt.Errorf("parsing Go font: %w", err)
		}
		*f.dst = parsed
	}
	return fs, nil
})

func (c *canvas) face(f *sfnt.Font, size float64) font.Face {
	if c.faces == nil {
		c.faces = make(map[faceKey]font.Face)
	}
	k := faceKey{f, size}
	if fc, ok := c.faces[k]; ok {
		return fc
	}
	fc, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingNone})
	if err != nil { // only for invalid sizes, which the callers never pass
		panic(fmt.Sprintf("sandbox: font face: %v", err))
	}
	c.faces[k] = fc
	return fc
}

// renderable reports whether f has a glyph for every letter of s.
func renderable(f *sfnt.Font, s string) bool {
	var buf sfnt.Buffer
	for _, r := range s {
		if r == ' ' {
			continue
		}
		if g, err := f.GlyphIndex(&buf, r); err != nil || g == 0 {
			return false
		}
	}
	return true
}

// text draws s with its baseline starting at (x, y) in canvas pixels (the
// transform is not applied) and returns the advance width.
func (c *canvas) text(f *sfnt.Font, size, x, y float64, s string, col color.Color) float64 {
	d := font.Drawer{Dst: c.img, Src: image.NewUniform(col), Face: c.face(f, size),
		Dot: fixed.Point26_6{X: fixed.Int26_6(x * 64), Y: fixed.Int26_6(y * 64)}}
	d.DrawString(s)
	return float64(d.Dot.X)/64 - x
}

func (c *canvas) measure(f *sfnt.Font, size float64, s string) float64 {
	return float64(font.MeasureString(c.face(f, size), s)) / 64
}

// textFit draws s, shrinking the size until it fits in width.
func (c *canvas) textFit(f *sfnt.Font, size, x, y, width float64, s string, col color.Color) {
	for size > 8 && c.measure(f, size, s) > width {
		size--
	}
	c.text(f, size, x, y, s, col)
}

// printable keeps the " · "-separated parts of s that f can draw, or
// returns fallback when none is left ("居民身份证 · RESIDENT IDENTITY CARD"
// prints its English part).
func printable(f *sfnt.Font, s, fallback string) string {
	var keep []string
	for _, part := range strings.Split(s, " · ") {
		if renderable(f, part) {
			keep = append(keep, part)
		}
	}
	if len(keep) == 0 {
		return fallback
	}
	return strings.Join(keep, " · ")
}

// script picks what to print for a name: the native form when the font can
// draw it, else its Latin form (CJK falls back this way).
func script(f *sfnt.Font, native, latin string) string {
	if renderable(f, native) {
		return native
	}
	return latin
}
