package social

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"strings"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	"github.com/segue-fm/segue/server/catalog"
)

// Card dimensions: the Open Graph large image size.
const (
	CardWidth  = 1200
	CardHeight = 630
)

// fonts are the Go fonts' faces the card is set in, parsed once.
var fonts = sync.OnceValues(func() (*faces, error) {
	bold, err := opentype.Parse(gobold.TTF)
	if err != nil {
		return nil, err
	}
	reg, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return nil, err
	}
	f := &faces{}
	for _, x := range []struct {
		dst  *font.Face
		fnt  *opentype.Font
		size float64
	}{{&f.title, bold, 60}, {&f.sub, reg, 36}, {&f.small, bold, 24}} {
		if *x.dst, err = opentype.NewFace(x.fnt, &opentype.FaceOptions{Size: x.size, DPI: 72, Hinting: font.HintingFull}); err != nil {
			return nil, err
		}
	}
	return f, nil
})

type faces struct{ title, sub, small font.Face }

// fontMu serialises text drawing: opentype faces are not safe for
// concurrent use.
var fontMu sync.Mutex

// palette derives two colours from seed for the generated cover and the
// background tint.
func palette(seed string) (a, b color.RGBA) {
	h := sha256.Sum256([]byte(seed))
	hue := func(x byte, sat, val float64) color.RGBA {
		hh := float64(x) / 256 * 6
		c := val * sat
		xx := c * (1 - math.Abs(math.Mod(hh, 2)-1))
		var r, g, bb float64
		switch int(hh) {
		case 0:
			r, g = c, xx
		case 1:
			r, g = xx, c
		case 2:
			g, bb = c, xx
		case 3:
			g, bb = xx, c
		case 4:
			r, bb = xx, c
		default:
			r, bb = c, xx
		}
		m := val - c
		return color.RGBA{uint8(255 * (r + m)), uint8(255 * (g + m)), uint8(255 * (bb + m)), 255}
	}
	return hue(h[0], 0.75, 0.95), hue(h[1]+96, 0.8, 0.55)
}

func lerp(a, b color.RGBA, t float64) color.RGBA {
	f := func(x, y uint8) uint8 { return uint8(float64(x) + (float64(y)-float64(x))*t) }
	return color.RGBA{f(a.R, b.R), f(a.G, b.G), f(a.B, b.B), 255}
}

// drawCover paints the generated cover in r: a diagonal gradient of the
// seed's colours with concentric rings, like a record.
func drawCover(img *image.RGBA, r image.Rectangle, seed string) {
	a, b := palette(seed)
	w, h := float64(r.Dx()), float64(r.Dy())
	cx, cy := w/2, h/2
	for y := 0; y < r.Dy(); y++ {
		for x := 0; x < r.Dx(); x++ {
			c := lerp(a, b, (float64(x)/w+float64(y)/h)/2)
			d := math.Hypot(float64(x)-cx, float64(y)-cy)
			if ring := math.Mod(d, 28); d < w*0.45 && ring < 3 {
				c = lerp(c, color.RGBA{255, 255, 255, 255}, 0.18)
			}
			if d < w*0.08 {
				c = lerp(c, color.RGBA{20, 20, 24, 255}, 0.85)
			}
			img.SetRGBA(r.Min.X+x, r.Min.Y+y, c)
		}
	}
}

// maxFitRunes bounds the runes fit measures: far more than a card line
// shows (≈ 70 of the narrowest glyphs at the smallest size), so its
// rune-by-rune search stays cheap whatever the length of a user's
// playlist name (a 20,000-rune name took 28 s under fontMu).
const maxFitRunes = 200

// fit cuts s to fit width pixels in face, ending it with "…" when cut.
func fit(face font.Face, s string, width int) string {
	limit := fixed.I(width)
	head, cut := firstRunes(s, maxFitRunes)
	if !cut && font.MeasureString(face, s) <= limit {
		return s
	}
	rs := []rune(head)
	if cut {
		rs = append(rs, ' ') // dropped first by the loop: head itself ends with "…"
	}
	for len(rs) > 0 {
		rs = rs[:len(rs)-1]
		t := strings.TrimSpace(string(rs)) + "…"
		if font.MeasureString(face, t) <= limit {
			return t
		}
	}
	return "…"
}

// firstRunes returns the first n runes of s and whether s has more.
func firstRunes(s string, n int) (string, bool) {
	for i := range s {
		if n == 0 {
			return s[:i], true
		}
		n--
	}
	return s, false
}

func text(img *image.RGBA, face font.Face, c color.Color, x, y int, s string) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: face, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// Card drawing limits. The card route is public and unauthenticated, and
// drawing one costs 30–130 ms of CPU: the last cards drawn are kept, by
// what they show, and at most cardJobs are drawn at once.
const (
	// cardCacheSize is the number of drawn cards kept (≈ 110 KB each).
	cardCacheSize = 64
	// cardJobs bounds the cards drawn at once; a request for another
	// card not kept gets ErrCardBusy.
	cardJobs = 2
)

// ErrCardBusy: cardJobs cards are being drawn (503 + Retry-After).
var ErrCardBusy = errors.New("social: cards busy")

// cardCache keeps the last cardCacheSize cards drawn, by the SHA-256 of
// what they show (cardKey), and bounds the cards drawn at once.
type cardCache struct {
	mu      sync.Mutex
	m       map[[32]byte]*list.Element // of *cardEntry
	order   *list.List                 // most recently used first
	drawing map[[32]byte]chan struct{} // closed when that card's drawing ends
	jobs    chan struct{}
}

type cardEntry struct {
	key [32]byte
	png []byte
}

func newCardCache() *cardCache {
	return &cardCache{m: map[[32]byte]*list.Element{}, order: list.New(), drawing: map[[32]byte]chan struct{}{},
		jobs: make(chan struct{}, cardJobs)}
}

func (c *cardCache) get(k [32]byte) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.getLocked(k)
}

func (c *cardCache) getLocked(k [32]byte) ([]byte, bool) {
	e, ok := c.m[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cardEntry).png, true
}

func (c *cardCache) putLocked(k [32]byte, b []byte) {
	if _, ok := c.m[k]; ok {
		return
	}
	c.m[k] = c.order.PushFront(&cardEntry{key: k, png: b})
	for c.order.Len() > cardCacheSize {
		e := c.order.Back()
		delete(c.m, e.Value.(*cardEntry).key)
		c.order.Remove(e)
	}
}

// cardKey is the SHA-256 of everything a card of it with wave draws.
func cardKey(it item, wave []byte) [32]byte {
	h := sha256.New()
	for _, f := range []string{it.Kind, it.Title, it.Subtitle, it.Detail, it.Seed, string(wave)} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return [32]byte(h.Sum(nil))
}

// card returns the share card of it as a 1200×630 PNG (drawCard), kept
// or drawn: ErrCardBusy when cardJobs others are being drawn. The
// returned slice is shared: do not modify it.
func (s *Service) card(ctx context.Context, it item) ([]byte, error) {
	var wave []byte
	if it.Track != "" {
		var err error
		switch wave, err = s.waves.get(ctx, it.Track); {
		case errors.Is(err, catalog.ErrEmbargoed):
			wave = nil // not released: the card shows no waveform until it is
		case err != nil:
			s.log.Warn("social: waveform", "track", it.Track, "err", err)
			wave = nil
		}
	}
	return s.cards.card(ctx, cardKey(it, wave), func() ([]byte, error) { return drawCard(it, wave) })
}

// card returns the card of key k: kept, or drawn by draw, or — while
// another request draws it — that request's once it is done.
func (c *cardCache) card(ctx context.Context, k [32]byte, draw func() ([]byte, error)) ([]byte, error) {
	for {
		c.mu.Lock()
		if b, ok := c.getLocked(k); ok {
			c.mu.Unlock()
			return b, nil
		}
		done, busy := c.drawing[k]
		if !busy {
			select {
			case c.jobs <- struct{}{}:
			default:
				c.mu.Unlock()
				return nil, ErrCardBusy
			}
			done = make(chan struct{})
			c.drawing[k] = done
			c.mu.Unlock()
			b, err := draw()
			c.mu.Lock()
			if err == nil {
				c.putLocked(k, b)
			}
			delete(c.drawing, k)
			close(done)
			<-c.jobs
			c.mu.Unlock()
			return b, err
		}
		c.mu.Unlock()
		select {
		case <-done: // kept now, unless it failed: then draw it here
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// drawCard draws the card of it: background tinted from the item, the
// generated cover (the catalog has no cover art), the kind, title,
// subtitle and detail in the Go fonts, and wave, the waveform of the
// item's (first) track drawn from its audio (none when nil: a track
// whose waveform cannot be computed, or whose album is still embargoed).
func drawCard(it item, wave []byte) ([]byte, error) {
	f, err := fonts()
	if err != nil {
		return nil, err
	}
	img := image.NewRGBA(image.Rect(0, 0, CardWidth, CardHeight))
	_, dark := palette(it.Seed)
	bg := lerp(color.RGBA{14, 14, 18, 255}, dark, 0.25)
	draw.Draw(img, img.Bounds(), image.NewUniform(bg), image.Point{}, draw.Src)
	cover := image.Rect(70, 80, 540, 550)
	drawCover(img, cover, it.Seed)

	const left, width = 600, 540
	fontMu.Lock()
	text(img, f.small, color.RGBA{190, 190, 200, 255}, left, 130, strings.ToUpper("Segue · "+it.Kind))
	text(img, f.title, color.White, left, 210, fit(f.title, it.Title, width))
	text(img, f.sub, color.RGBA{220, 220, 228, 255}, left, 265, fit(f.sub, it.Subtitle, width))
	if it.Detail != "" {
		text(img, f.sub, color.RGBA{150, 150, 160, 255}, left, 315, fit(f.sub, it.Detail, width))
	}
	fontMu.Unlock()

	if len(wave) == WaveBars {
		accent, _ := palette(it.Seed)
		const top, height = 380, 160
		mid := top + height/2
		step := float64(width) / WaveBars
		for i, v := range wave {
			bh := max(int(float64(v)/255*height/2), 2)
			x0 := left + int(float64(i)*step)
			x1 := x0 + max(int(step*0.6), 1)
			draw.Draw(img, image.Rect(x0, mid-bh, x1, mid+bh), image.NewUniform(accent), image.Point{}, draw.Src)
		}
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
