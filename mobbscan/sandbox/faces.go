package sandbox

import (
	"hash/fnv"
	"image/color"
	"math"
	"math/rand/v2"
)

// Synthetic faces: a parametric head-and-shoulders figure drawn with filled
// paths. The parameters come from a seed, so the same person is drawn the
// same way on the document and, in another pose and light, in the selfie.

type hairStyle int

const (
	hairShort hairStyle = iota
	hairLong
	hairReceding
	hairBun
	hairCurly
)

type faceParams struct {
	skin, hair, iris, lips, cloth color.RGBA
	style                         hairStyle
	faceW, faceH, jaw             float64
	eyeGap, eyeSize, browTilt     float64
	browThick, noseLen, mouthW    float64
	beard, glasses                bool
}

var (
	skinTones = []color.RGBA{
		{0xf6, 0xd7, 0xc3, 0xff}, {0xee, 0xc6, 0xa8, 0xff}, {0xe3, 0xb1, 0x8d, 0xff}, {0xd2, 0x9c, 0x74, 0xff},
		{0xbc, 0x84, 0x5c, 0xff}, {0x9f, 0x6a, 0x45, 0xff}, {0x7d, 0x4f, 0x33, 0xff}, {0x5c, 0x3a, 0x26, 0xff},
	}
	hairColours = []color.RGBA{
		{0x1c, 0x16, 0x14, 0xff}, {0x3b, 0x27, 0x1d, 0xff}, {0x5e, 0x3c, 0x24, 0xff}, {0x8a, 0x4b, 0x2a, 0xff},
		{0xc8, 0x9d, 0x5c, 0xff}, {0xe2, 0xc7, 0x8a, 0xff}, {0x9a, 0x96, 0x92, 0xff}, {0x2a, 0x22, 0x20, 0xff},
	}
	irisColours = []color.RGBA{
		{0x4a, 0x2e, 0x1b, 0xff}, {0x2b, 0x1a, 0x10, 0xff}, {0x6b, 0x55, 0x2a, 0xff},
		{0x3f, 0x6e, 0x4a, 0xff}, {0x3a, 0x6a, 0x9c, 0xff}, {0x6f, 0x7d, 0x86, 0xff},
	}
	clothColours = []color.RGBA{
		{0x2d, 0x3e, 0x5c, 0xff}, {0x5a, 0x2d, 0x3c, 0xff}, {0x33, 0x55, 0x3f, 0xff}, {0x22, 0x22, 0x26, 0xff},
		{0xe0, 0xe0, 0xdc, 0xff}, {0x8c, 0x6d, 0x4f, 0xff}, {0x4d, 0x6f, 0x96, 0xff},
	}
)

// seedOf hashes the parts into a seed.
func seedOf(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

func newFaceParams(seed uint64, female bool) faceParams {
	r := rand.New(rand.NewPCG(seed, 0xface))
	f := faceParams{
		skin:      pick(r, skinTones),
		hair:      pick(r, hairColours),
		iris:      pick(r, irisColours),
		cloth:     pick(r, clothColours),
		faceW:     0.86 + r.Float64()*0.14,
		faceH:     1.18 + r.Float64()*0.16,
		jaw:       r.Float64(),
		eyeGap:    0.33 + r.Float64()*0.08,
		eyeSize:   0.85 + r.Float64()*0.3,
		browTilt:  (r.Float64() - 0.5) * 0.12,
		browThick: 0.05 + r.Float64()*0.05,
		noseLen:   0.3 + r.Float64()*0.14,
		mouthW:    0.22 + r.Float64()*0.1,
		glasses:   r.IntN(5) == 0,
	}
	f.lips = shade(f.skin, 0.78)
	f.lips.R = uint8(min(255, int(f.lips.R)+25))
	if female {
		f.style = []hairStyle{hairLong, hairLong, hairBun, hairCurly, hairShort}[r.IntN(5)]
		f.faceW *= 0.95
		f.browThick *= 0.7
		f.lips = color.RGBA{uint8(min(255, int(f.lips.R)+30)), f.lips.G, f.lips.B, 0xff}
	} else {
		f.style = []hairStyle{hairShort, hairShort, hairReceding, hairCurly}[r.IntN(4)]
		f.beard = r.IntN(3) == 0
		f.jaw = 0.4 + f.jaw*0.6
	}
	return f
}

// pose places and lights a face. Coordinates are canvas pixels; the face's
// own unit is its half-width.
type pose struct {
	cx, cy, scale float64
	yaw           float64 // -1..1, head turned left/right
	roll          float64 // radians
	smile         float64 // 0..1
}

// drawPerson draws head, hair and shoulders.
func drawPerson(c *canvas, f faceParams, p pose) {
	saved := c.m
	defer func() { c.m = saved }()
	c.m = saved.then(translate(p.cx, p.cy)).then(rotate(p.roll)).then(scaleBy(p.scale, p.scale))

	fx := p.yaw * 0.28 // features shift towards where the head turns
	skinDark := shade(f.skin, 0.86)

	// Long hair falls behind the shoulders.
	if f.style == hairLong {
		s := c.shape()
		s.moveTo(-f.faceW*1.2, -0.2)
		s.cubeTo(-f.faceW*1.5, 1.0, -f.faceW*1.5, 1.9, -f.faceW*1.1, 2.3)
		s.lineTo(f.faceW*1.1, 2.3)
		s.cubeTo(f.faceW*1.5, 1.9, f.faceW*1.5, 1.0, f.faceW*1.2, -0.2)
		s.close()
		c.fill(s, shade(f.hair, 0.85))
	}
	// Neck and shoulders.
	neck := c.shape()
	neck.rect(-0.36+fx*0.3, 0.6, 0.72, 1.3)
	c.fill(neck, skinDark)
	body := c.shape()
	body.moveTo(-2.6, 3.6)
	body.cubeTo(-2.5, 2.2, -1.6, 1.75, -0.45+fx*0.3, 1.6)
	body.quadTo(fx*0.3, 2.05, 0.45+fx*0.3, 1.6)
	body.cubeTo(1.6, 1.75, 2.5, 2.2, 2.6, 3.6)
	body.close()
	c.fill(body, f.cloth)
	collar := c.shape()
	collar.segment(-0.5+fx*0.3, 1.62, fx*0.3, 2.08, 0.09)
	collar.segment(0.5+fx*0.3, 1.62, fx*0.3, 2.08, 0.09)
	c.fill(collar, shade(f.cloth, 0.7))

	// Ears, the far one hidden as the head turns.
	ears := c.shape()
	if p.yaw < 0.3 {
		ears.ellipse(f.faceW*0.98-p.yaw*0.1, 0.08, 0.15, 0.27, false)
	}
	if p.yaw > -0.3 {
		ears.ellipse(-f.faceW*0.98-p.yaw*0.1, 0.08, 0.15, 0.27, false)
	}
	c.fill(ears, skinDark)

	// Head: a rounded top, a jaw between round and square.
	w, h := f.faceW, f.faceH
	jw := w * (0.55 + 0.3*f.jaw)
	hx := p.yaw * 0.08
	head := c.shape()
	head.moveTo(hx, -h)
	head.cubeTo(hx+w*0.75, -h, hx+w, -h*0.55, hx+w, -0.05)
	head.cubeTo(hx+w, h*0.45, hx+jw, h*0.8, hx+w*0.2, h*0.98)
	head.quadTo(hx, h*1.02, hx-w*0.2, h*0.98)
	head.cubeTo(hx-jw, h*0.8, hx-w, h*0.45, hx-w, -0.05)
	head.cubeTo(hx-w, -h*0.55, hx-w*0.75, -h, hx, -h)
	head.close()
	c.fill(head, f.skin)

	// Cheeks: a soft blush.
	cheeks := c.shape()
	cheeks.ellipse(fx-0.5, 0.32, 0.2, 0.12, false)
	cheeks.ellipse(fx+0.5, 0.32, 0.2, 0.12, false)
	c.fill(cheeks, color.NRGBA{0xd0, 0x60, 0x60, 0x22})

	drawHair(c, f, hx, w, h)
	if f.beard {
		beard := c.shape()
		beard.moveTo(hx-w*0.92, 0.15)
		beard.cubeTo(hx-w*0.9, h*0.7, hx-jw*0.8, h*1.1, hx, h*1.08)
		beard.cubeTo(hx+jw*0.8, h*1.1, hx+w*0.9, h*0.7, hx+w*0.92, 0.15)
		beard.cubeTo(hx+w*0.6, 0.5, fx+0.3, 0.38, fx, 0.42)
		beard.cubeTo(fx-0.3, 0.38, hx-w*0.6, 0.5, hx-w*0.92, 0.15)
		beard.close()
		c.fill(beard, withAlpha(f.hair, 0xd8))
	}

	// Eyes, brows and glasses.
	for _, side := range []float64{-1, 1} {
		ex := fx + side*f.eyeGap
		far := 1.0
		if side*p.yaw < 0 {
			far = 1 - math.Abs(p.yaw)*0.3
		}
		rx, ry := 0.15*f.eyeSize*far, 0.085*f.eyeSize
		eye := c.shape()
		eye.ellipse(ex, -0.08, rx, ry, false)
		c.fill(eye, color.RGBA{0xf7, 0xf5, 0xf0, 0xff})
		ix := ex + p.yaw*0.05
		iris := c.shape()
		iris.ellipse(ix, -0.08, 0.075*f.eyeSize*far, 0.075*f.eyeSize, false)
		c.fill(iris, f.iris)
		pupil := c.shape()
		pupil.ellipse(ix, -0.08, 0.035*f.eyeSize*far, 0.035*f.eyeSize, false)
		c.fill(pupil, color.RGBA{0x12, 0x10, 0x10, 0xff})
		glint := c.shape()
		glint.ellipse(ix+0.025, -0.105, 0.014, 0.014, false)
		c.fill(glint, color.RGBA{0xff, 0xff, 0xff, 0xff})
		lid := c.shape()
		lid.moveTo(ex-rx*1.1, -0.08)
		lid.quadTo(ex, -0.08-ry*2.3, ex+rx*1.1, -0.08)
		lid.quadTo(ex, -0.08-ry*1.6, ex-rx*1.1, -0.08)
		lid.close()
		c.fill(lid, shade(f.skin, 0.6))
		brow := c.shape()
		by := -0.3 - side*f.browTilt*0.5
		brow.moveTo(ex-0.2*far, by+0.03)
		brow.quadTo(ex, by-0.06, ex+0.2*far, by+0.02+side*f.browTilt)
		brow.lineTo(ex+0.2*far, by+0.02+side*f.browTilt+f.browThick*0.6)
		brow.quadTo(ex, by-0.06+f.browThick, ex-0.2*far, by+0.03+f.browThick)
		brow.close()
		c.fill(brow, shade(f.hair, 0.8))
		if f.glasses {
			g := c.shape()
			g.ellipse(ex, -0.07, 0.26*far, 0.19, false)
			g.ellipse(ex, -0.07, 0.22*far, 0.155, true)
			c.fill(g, color.RGBA{0x25, 0x22, 0x24, 0xff})
		}
	}
	if f.glasses {
		bridge := c.shape()
		bridge.segment(fx-f.eyeGap+0.24, -0.1, fx+f.eyeGap-0.24, -0.1, 0.035)
		c.fill(bridge, color.RGBA{0x25, 0x22, 0x24, 0xff})
	}

	// Nose: a shadowed side and the nostrils.
	nose := c.shape()
	nx := fx * 1.2
	nose.moveTo(nx+0.02, -0.02)
	nose.quadTo(nx+0.12, f.noseLen*0.7, nx+0.1, f.noseLen)
	nose.quadTo(nx, f.noseLen+0.05, nx-0.1, f.noseLen)
	nose.quadTo(nx, f.noseLen-0.02, nx+0.05, f.noseLen*0.6)
	nose.close()
	c.fill(nose, color.NRGBA{0x60, 0x30, 0x20, 0x38})
	nostrils := c.shape()
	nostrils.ellipse(nx-0.06, f.noseLen, 0.035, 0.02, false)
	nostrils.ellipse(nx+0.06, f.noseLen, 0.035, 0.02, false)
	c.fill(nostrils, color.NRGBA{0x30, 0x10, 0x10, 0x70})

	// Mouth: the corners rise with the smile.
	mw, my := f.mouthW, f.noseLen+0.24
	up := 0.06 * p.smile
	mouth := c.shape()
	mouth.moveTo(fx-mw, my-up)
	mouth.quadTo(fx-mw*0.4, my-0.07, fx, my-0.04)
	mouth.quadTo(fx+mw*0.4, my-0.07, fx+mw, my-up)
	mouth.quadTo(fx, my+0.11+up, fx-mw, my-up)
	mouth.close()
	c.fill(mouth, f.lips)
	line := c.shape()
	line.moveTo(fx-mw, my-up)
	line.quadTo(fx, my+0.03+up, fx+mw, my-up)
	line.quadTo(fx, my+0.05+up, fx-mw, my-up)
	line.close()
	c.fill(line, shade(f.lips, 0.55))
}

func drawHair(c *canvas, f faceParams, hx, w, h float64) {
	hair := c.shape()
	switch f.style {
	case hairReceding:
		for _, side := range []float64{-1, 1} {
			hair.moveTo(hx+side*w*1.02, 0.05)
			hair.cubeTo(hx+side*w*1.06, -0.6, hx+side*w*0.8, -h*0.9, hx+side*w*0.45, -h*0.98)
			hair.quadTo(hx+side*w*0.7, -h*0.6, hx+side*w*0.88, 0.05)
			hair.close()
		}
	default:
		top := -h * 1.12
		if f.style == hairCurly {
			top = -h * 1.22
		}
		hair.moveTo(hx-w*1.05, 0.1)
		hair.cubeTo(hx-w*1.12, -h*0.8, hx-w*0.7, top, hx, top)
		hair.cubeTo(hx+w*0.7, top, hx+w*1.12, -h*0.8, hx+w*1.05, 0.1)
		hair.lineTo(hx+w*0.9, 0.1)
		hair.cubeTo(hx+w*0.88, -0.35, hx+w*0.7, -0.52, hx+w*0.3, -h*0.55)
		hair.quadTo(hx-w*0.1, -h*0.45, hx-w*0.6, -h*0.5)
		hair.cubeTo(hx-w*0.85, -0.4, hx-w*0.9, -0.2, hx-w*0.9, 0.1)
		hair.close()
		if f.style == hairCurly {
			for i := range 14 {
				a := math.Pi + float64(i)*math.Pi/13
				hair.ellipse(hx+math.Cos(a)*w*1.05, -0.25+math.Sin(a)*h*0.95, 0.2, 0.2, false)
			}
		}
		if f.style == hairBun {
			hair.ellipse(hx, top-0.18, 0.36, 0.28, false)
		}
	}
	c.fill(hair, f.hair)
	// A lighter strand gives the hair some volume.
	if f.style != hairReceding {
		gloss := c.shape()
		gloss.moveTo(hx-w*0.5, -h*0.85)
		gloss.quadTo(hx, -h*1.05, hx+w*0.5, -h*0.88)
		gloss.quadTo(hx, -h*0.98, hx-w*0.5, -h*0.85)
		gloss.close()
		c.fill(gloss, color.NRGBA{0xff, 0xff, 0xff, 0x26})
	}
}

// light brightens one side of the image and darkens the other, the way a
// window beside the person would (dir -1 light from the left, 1 right).
func light(c *canvas, dir, strength float64) {
	b := c.img.Bounds()
	factor := make([]int, b.Dx()) // per column, in 1/256
	for x := range factor {
		t := (float64(x)/float64(b.Dx()) - 0.5) * 2 * dir
		factor[x] = int((1 + t*strength) * 256)
	}
	for y := range b.Dy() {
		row := c.img.Pix[y*c.img.Stride : y*c.img.Stride+b.Dx()*4]
		for x, f := range factor {
			px := row[x*4 : x*4+3]
			for k := range px {
				px[k] = clamp8(int(px[k]) * f >> 8)
			}
		}
	}
}

func clamp8(v int) uint8 { return uint8(max(0, min(255, v))) }

// noise adds camera grain.
func noise(c *canvas, r *rand.Rand, amount int) {
	pix := c.img.Pix
	span := uint32(2*amount + 1)
	for i := 0; i+3 < len(pix); i += 4 {
		n := int(r.Uint32()%span) - amount
		pix[i], pix[i+1], pix[i+2] = clamp8(int(pix[i])+n), clamp8(int(pix[i+1])+n), clamp8(int(pix[i+2])+n)
	}
}

// grayscale turns the image into a grey copy with the contrast scaled
// (photocopies).
func grayscale(c *canvas, contrast float64) {
	pix := c.img.Pix
	k := int(contrast * 256)
	for i := 0; i+3 < len(pix); i += 4 {
		l := (77*int(pix[i]) + 150*int(pix[i+1]) + 29*int(pix[i+2])) >> 8
		v := clamp8((l-128)*k>>8 + 128)
		pix[i], pix[i+1], pix[i+2] = v, v, v
	}
}
