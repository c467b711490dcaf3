package sandbox

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// Synthetic document images: ID card front and back (ISO ID-1 proportions),
// passport data page (with a TD3 MRZ), driving licence, plus the portrait
// crop and the live selfie. Each process draws the same images every time.

var (
	inkText  = color.RGBA{0x1b, 0x1d, 0x24, 0xff}
	inkLabel = color.RGBA{0x5a, 0x5f, 0x6e, 0xff}
	white    = color.RGBA{0xff, 0xff, 0xff, 0xff}
)

const (
	cardW, cardH         = 856, 540
	passportW, passportH = 880, 620
)

func printDate(t time.Time) string { return t.Format("02.01.2006") }

// docArt is everything the document renderers need for one process.
type docArt struct {
	p       *process
	c       *country
	id      identity
	face    faceParams
	fonts   fontSet
	failed  func(string) bool
	docType string
}

func newDocArt(p *process) (*docArt, error) {
	fs, err := loadFonts()
	if err != nil {
		return nil, err
	}
	return &docArt{
		p: p, c: lookupCountry(p.CountryID), id: p.Identity,
		face:  newFaceParams(seedOf(p.ID, "face"), p.Identity.Gender == "F"),
		fonts: fs, failed: p.failed, docType: p.DocType,
	}, nil
}

// background paints paper, security waves and a rosette.
func (a *docArt) background(c *canvas, seed uint64) {
	paper := a.c.Paper
	c.gradient(mix(paper, white, 0.6), paper)
	r := rand.New(rand.NewPCG(seed, 7))
	b := c.img.Bounds()
	waveInk := withAlpha(mix(paper, a.c.Ink, 0.35), 0x50)
	for i := range 9 {
		s := c.shape()
		y0 := float64(b.Dy())*0.15 + float64(i)*float64(b.Dy())*0.1
		amp, freq, phase := 10+r.Float64()*14, 0.012+r.Float64()*0.01, r.Float64()*6
		prevX, prevY := 0.0, y0+amp*math.Sin(phase)
		for x := 6.0; x <= float64(b.Dx()); x += 6 {
			y := y0 + amp*math.Sin(x*freq+phase) + amp*0.4*math.Sin(x*freq*3.1+phase*2)
			s.segment(prevX, prevY, x, y, 1.3)
			prevX, prevY = x, y
		}
		c.fill(s, waveInk)
	}
	ros := c.shape()
	cx, cy := float64(b.Dx())*0.78, float64(b.Dy())*0.62
	for k := range 12 {
		a := float64(k) * math.Pi / 12
		ros.ellipse(cx+math.Cos(a)*28, cy+math.Sin(a)*28, 58, 58, false)
		ros.ellipse(cx+math.Cos(a)*28, cy+math.Sin(a)*28, 56.6, 56.6, true)
	}
	c.fill(ros, withAlpha(a.c.Ink, 0x20))
}

// header paints the coloured band with the country and the title.
func (a *docArt) header(c *canvas, height int) {
	w := c.img.Bounds().Dx()
	c.fillRect(image.Rect(0, 0, w, height), a.c.Ink)
	f := a.fonts
	country := script(f.bold, a.c.Name, a.c.NameEN)
	c.textFit(f.bold, 26, 24, 36, float64(w)-170, country, white)
	title := printable(f.regular, a.c.Titles[a.docType], strings.ToUpper(a.docType))
	c.textFit(f.regular, 17, 24, float64(height)-14, float64(w)-170, title, color.RGBA{0xf1, 0xf1, 0xf1, 0xff})
	c.text(f.bold, 40, float64(w)-120, float64(height)/2+15, a.c.Code, withAlpha(white, 0xd0))
}

// field prints a label and its value (with the Latin form underneath when
// the value is in another script the font can draw).
func (a *docArt) field(c *canvas, x, y, width float64, label, native, latinForm string) float64 {
	f := a.fonts
	c.text(f.regular, 12, x, y, label, inkLabel)
	value := script(f.bold, native, latinForm)
	c.textFit(f.bold, 21, x, y+23, width, value, inkText)
	if value != latinForm && latinForm != "" && !strings.EqualFold(value, latinForm) {
		c.textFit(f.regular, 14, x, y+41, width, latinForm, inkLabel)
		return 60
	}
	return 46
}

func (a *docArt) portrait(w, h int) *canvas {
	return renderPortrait(a.face, w, h, mix(a.c.Paper, color.RGBA{0xb8, 0xc4, 0xd0, 0xff}, 0.6))
}

func renderPortrait(f faceParams, w, h int, bg color.RGBA) *canvas {
	c := newCanvas(w, h)
	c.gradient(mix(bg, white, 0.45), bg)
	fw := float64(w)
	drawPerson(c, f, pose{cx: fw / 2, cy: float64(h) * 0.44, scale: fw / 2.9, smile: 0.15})
	return c
}

// signature scribbles a synthetic signature.
func (a *docArt) signature(c *canvas, x, y, w float64) {
	r := rand.New(rand.NewPCG(seedOf(a.p.ID, "signature"), 1))
	s := c.shape()
	px, py := x, y
	loops := 3 + r.IntN(4)
	for i := 1; i <= 60; i++ {
		t := float64(i) / 60
		nx := x + t*w
		ny := y - 14*math.Sin(t*math.Pi*float64(loops)+r.Float64()*0.3)*(1-t*0.5)
		s.segment(px, py, nx, ny, 2.2)
		px, py = nx, ny
	}
	c.fill(s, color.RGBA{0x1d, 0x2b, 0x6b, 0xff})
}

// ghost draws a faint small copy of the portrait (a security feature).
func ghost(c *canvas, portrait *canvas, at image.Point, w, h int) {
	src := portrait.img
	sb := src.Bounds()
	const alpha = 0x48
	for y := range h {
		for x := range w {
			si := src.PixOffset(sb.Min.X+x*sb.Dx()/w, sb.Min.Y+y*sb.Dy()/h)
			s := src.Pix[si : si+3]
			grey := (77*int(s[0]) + 150*int(s[1]) + 29*int(s[2])) >> 8
			d := c.img.Pix[c.img.PixOffset(at.X+x, at.Y+y):]
			for k := range 3 {
				d[k] = uint8(int(d[k]) + (grey-int(d[k]))*alpha/255)
			}
		}
	}
}

// flaws applies the visible side of failed validations to one side of a
// document.
func (a *docArt) flaws(c *canvas, appearence, photocopy string) {
	b := c.img.Bounds()
	if a.failed(appearence) { // a glare hides part of the document
		g := c.shape()
		g.ellipse(float64(b.Dx())*0.62, float64(b.Dy())*0.42, float64(b.Dx())*0.22, float64(b.Dy())*0.2, false)
		c.fill(g, color.NRGBA{0xff, 0xff, 0xff, 0xc8})
		g2 := c.shape()
		g2.ellipse(float64(b.Dx())*0.62, float64(b.Dy())*0.42, float64(b.Dx())*0.3, float64(b.Dy())*0.28, false)
		c.fill(g2, color.NRGBA{0xff, 0xff, 0xff, 0x60})
	}
	if a.failed(photocopy) {
		grayscale(c, 1.5)
		noise(c, rand.New(rand.NewPCG(seedOf(a.p.ID, photocopy), 3)), 14)
	}
}

func (a *docArt) specimen(c *canvas) {
	if !a.failed(ValidationDocumentNotSpecimen) {
		return
	}
	b := c.img.Bounds()
	w := c.measure(a.fonts.bold, 110, "SPECIMEN")
	c.text(a.fonts.bold, 110, (float64(b.Dx())-w)/2, float64(b.Dy())*0.62, "SPECIMEN", color.NRGBA{0xd0, 0x10, 0x10, 0x80})
}

// footer prints the synthetic-document notice at y (a baseline).
func (a *docArt) footer(c *canvas, y float64) {
	c.text(a.fonts.regular, 10, 24, y, "SYNTHETIC DOCUMENT · MOBBSCAN SANDBOX · NOT A REAL PERSON", withAlpha(inkLabel, 0xb0))
}

// front renders the front of an ID card or driving licence.
func (a *docArt) front() image.Image {
	c := newCanvas(cardW, cardH)
	a.background(c, seedOf(a.p.ID, "front"))
	a.header(c, 80)
	portrait := a.portrait(220, 282)
	draw.Draw(c.img, image.Rect(28, 100, 248, 382), portrait.img, image.Point{}, draw.Src)
	a.signature(c, 40, 425, 190)
	ghost(c, portrait, image.Point{X: 730, Y: 388}, 92, 118)

	id := a.id
	x, w := 280.0, 540.0
	y := 112.0
	lic := a.docType == DocDriverLicense
	label := func(num, text string) string {
		if lic {
			return num + ". " + text
		}
		return text
	}
	y += a.field(c, x, y, w, label("1", "SURNAME"), id.Surname, id.SurnameLatin)
	y += a.field(c, x, y, w, label("2", "GIVEN NAMES"), id.Given, id.GivenLatin)
	if lic {
		a.field(c, x, y, 250, "3. DATE OF BIRTH", printDate(id.Birth), "")
		a.field(c, x+260, y, 200, "4a. ISSUED", printDate(id.Issue), "")
		y += 50
		a.field(c, x, y, 250, "4b. VALID UNTIL", printDate(id.Expiry), "")
		a.field(c, x+260, y, 200, "4c. AUTHORITY", a.c.Code+" TRAFFIC", "")
		y += 50
		a.field(c, x, y, 250, "5. LICENCE No", id.Number, "")
		a.field(c, x+260, y, 200, "9. CATEGORIES", "AM / A1 / B", "")
	} else {
		a.field(c, x, y, 80, "SEX", id.Gender, "")
		a.field(c, x+100, y, 140, "NATIONALITY", id.Nationality, "")
		a.field(c, x+260, y, 200, "DATE OF BIRTH", printDate(id.Birth), "")
		y += 50
		a.field(c, x, y, 230, "DOCUMENT No", id.Number, "")
		a.field(c, x+260, y, 200, "VALID UNTIL", printDate(id.Expiry), "")
		y += 50
		if id.Personal != "" {
			a.field(c, x, y, 300, "PERSONAL No", id.Personal, "")
		}
	}
	a.specimen(c)
	a.footer(c, cardH-8)
	a.flaws(c, ValidationFrontAppearence, ValidationFrontPhotocopy)
	return c.img
}

// back renders the back of an ID card (with its TD1 MRZ) or driving licence.
func (a *docArt) back() image.Image {
	c := newCanvas(cardW, cardH)
	a.background(c, seedOf(a.p.ID, "back"))
	id := a.id
	x := 32.0
	y := 40.0
	y += a.field(c, x, y, 780, "ADDRESS", id.Address, "")
	a.field(c, x, y, 420, "CITY", id.City, "")
	a.field(c, x+440, y, 200, "POST CODE", id.PostCode, "")
	y += 56
	a.field(c, x, y, 200, "DATE OF ISSUE", printDate(id.Issue), "")
	a.field(c, x+220, y, 380, "ISSUING AUTHORITY", a.c.Code+" SANDBOX ISSUING OFFICE", "")
	y += 56
	personal := id.Personal
	if id.BackPersonal != "" {
		personal = id.BackPersonal
	}
	if a.docType == DocDriverLicense {
		a.licenceCategories(c, y)
	} else {
		if personal != "" {
			a.field(c, x, y, 400, "PERSONAL No", personal, "")
		}
		a.mrzBand(c, a.p.mrz(), 368, 31)
	}
	a.footer(c, 18)
	a.flaws(c, ValidationBackAppearence, ValidationBackPhotocopy)
	return c.img
}

func (a *docArt) licenceCategories(c *canvas, y float64) {
	cats := []string{"AM", "A1", "A2", "A", "B", "BE", "C1", "C"}
	f := a.fonts
	line := withAlpha(inkLabel, 0x90)
	for i, cat := range cats {
		cy := y + float64(i)*28
		row := c.shape()
		row.rect(32, cy, 560, 1)
		c.fill(row, line)
		c.text(f.bold, 16, 40, cy+21, cat, inkText)
		if i < 2 || cat == "B" {
			c.text(f.regular, 15, 140, cy+21, printDate(a.id.Issue), inkText)
			c.text(f.regular, 15, 300, cy+21, printDate(a.id.Expiry), inkText)
		}
	}
}

// mrzBand prints the MRZ on a white band from y to the bottom.
func (a *docArt) mrzBand(c *canvas, lines []string, y int, size float64) {
	b := c.img.Bounds()
	c.fillRect(image.Rect(0, y, b.Dx(), b.Dy()), color.RGBA{0xfa, 0xfa, 0xf7, 0xff})
	step := float64(b.Dy()-y-16) / float64(len(lines))
	for i, l := range lines {
		c.text(a.fonts.mono, size, 36, float64(y)+step*float64(i+1)-6, l, inkText)
	}
}

// passport renders the data page of a passport.
func (a *docArt) passport() image.Image {
	c := newCanvas(passportW, passportH)
	a.background(c, seedOf(a.p.ID, "passport"))
	a.header(c, 84)
	portrait := a.portrait(230, 295)
	draw.Draw(c.img, image.Rect(30, 104, 260, 399), portrait.img, image.Point{}, draw.Src)
	a.signature(c, 40, 452, 200)
	ghost(c, portrait, image.Point{X: 760, Y: 350}, 80, 103)
	id := a.id
	x := 290.0
	y := 110.0
	a.field(c, x, y, 80, "TYPE", "P", "")
	a.field(c, x+100, y, 120, "CODE", a.c.Code, "")
	a.field(c, x+240, y, 300, "PASSPORT No", id.Number, "")
	y += 50
	y += a.field(c, x, y, 560, "SURNAME", id.Surname, id.SurnameLatin)
	y += a.field(c, x, y, 560, "GIVEN NAMES", id.Given, id.GivenLatin)
	a.field(c, x, y, 200, "NATIONALITY", id.Nationality, "")
	a.field(c, x+220, y, 200, "DATE OF BIRTH", printDate(id.Birth), "")
	a.field(c, x+440, y, 80, "SEX", id.Gender, "")
	y += 50
	a.field(c, x, y, 200, "DATE OF ISSUE", printDate(id.Issue), "")
	a.field(c, x+220, y, 200, "DATE OF EXPIRY", printDate(id.Expiry), "")
	a.field(c, x+440, y, 140, "PLACE OF BIRTH", id.City, "")
	a.footer(c, 492)
	a.mrzBand(c, a.p.mrz(), 500, 26)
	a.specimen(c)
	a.flaws(c, ValidationFrontAppearence, ValidationFrontPhotocopy)
	return c.img
}

// faceDocument is the portrait as cut out of the document: printed, with
// the security waves over it.
func (a *docArt) faceDocument() image.Image {
	c := a.portrait(300, 385)
	waves := c.shape()
	for i := range 5 {
		y0 := 60.0 + float64(i)*70
		px, py := 0.0, y0
		for x := 5.0; x <= 300; x += 5 {
			y := y0 + 9*math.Sin(x/23+float64(i))
			waves.segment(px, py, x, y, 1)
			px, py = x, y
		}
	}
	c.fill(waves, withAlpha(a.c.Ink, 0x30))
	noise(c, rand.New(rand.NewPCG(seedOf(a.p.ID, "face_document"), 5)), 5)
	return c.img
}

// faceNow is the live selfie: the same person (or, for a process that fails
// facial matching, someone else) in a room, turned a little, lit from a
// window.
func (a *docArt) faceNow() image.Image {
	r := rand.New(rand.NewPCG(seedOf(a.p.ID, "selfie"), 9))
	face := a.face
	if a.id.OtherFace {
		face = newFaceParams(seedOf(a.p.ID, "someone else"), a.id.Gender == "F")
	}
	const w, h = 480, 640
	c := newCanvas(w, h)
	walls := []color.RGBA{{0xd9, 0xd2, 0xc4, 0xff}, {0xc4, 0xd0, 0xd6, 0xff}, {0xe6, 0xdc, 0xcf, 0xff}, {0xb9, 0xc3, 0xb0, 0xff}, {0x9a, 0x8f, 0x86, 0xff}}
	wall := pick(r, walls)
	c.gradient(mix(wall, white, 0.25), shade(wall, 0.8))
	dir := -1.0
	if r.IntN(2) == 0 {
		dir = 1
	}
	// A window on the lit side, a door frame or a shelf on the other.
	wx := 20
	if dir > 0 {
		wx = w - 170
	}
	c.fillRect(image.Rect(wx, 60, wx+150, 300), color.RGBA{0xf4, 0xf8, 0xff, 0xff})
	c.fillRect(image.Rect(wx+72, 60, wx+78, 300), shade(wall, 0.7))
	c.fillRect(image.Rect(wx, 178, wx+150, 184), shade(wall, 0.7))
	ox := w - 120
	if dir > 0 {
		ox = 30
	}
	if r.IntN(2) == 0 {
		c.fillRect(image.Rect(ox, 120, ox+90, 128), color.RGBA{0x7a, 0x55, 0x38, 0xff})
		for i := range 4 {
			c.fillRect(image.Rect(ox+6+i*20, 84+i%2*6, ox+20+i*20, 120), pick(r, clothColours))
		}
	} else {
		c.fillRect(image.Rect(ox, 40, ox+12, h), shade(wall, 0.75))
	}
	yaw := (r.Float64()*0.5 + 0.1) * -dir
	drawPerson(c, face, pose{
		cx: float64(w)/2 + yaw*30 + (r.Float64()-0.5)*30, cy: 300 + (r.Float64()-0.5)*30,
		scale: 100 + r.Float64()*18, yaw: yaw, roll: (r.Float64() - 0.5) * 0.22, smile: r.Float64(),
	})
	light(c, dir, 0.22+r.Float64()*0.12)
	noise(c, r, 7)
	return c.img
}
