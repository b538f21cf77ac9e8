// Package dsp is the signal processing of the eq example plugin: a
// 10-band parametric equaliser of peaking biquads (Robert
// Bristow-Johnson's "Audio EQ Cookbook"), pure Go with no allocation per
// block, so the same code runs natively (as the benchmark reference) and
// compiled to WebAssembly (as the plugin).
//
// Parameters (keys as the plugin ABI passes them):
//
//	preamp          gain in dB applied before the bands, [−24, +24], default 0
//	bandN, bandN.gain  band N's gain in dB (N = 1…10), [−24, +24], default 0
//	bandN.freq      band N's centre frequency in Hz, (0, rate/2), defaults
//	                31.25, 62.5, 125, 250, 500, 1000, 2000, 4000, 8000, 16000
//	bandN.q         band N's quality factor, [0.1, 20], default √2 (one octave)
//
// A band at 0 dB, or whose centre is at or above 0.49 × rate, is bypassed
// exactly: with every band at 0 dB and no preamp the output equals the
// input bit for bit. Filtering runs in float64 (transposed direct form
// II), band by band over the block (stereo: both channels in one loop,
// two bands per pass, the first band reading and the last writing the
// float32 block), with the same arithmetic as sample by sample; state
// below 1e-100 is flushed to zero at the end of each block so
// silence never leaves slow denormals behind. The threshold is far below
// what can change a float32 result, so the output does not depend on how
// the stream is split into blocks.
package dsp

import (
	"errors"
	"math"
	"math/cmplx"
	"strconv"
	"strings"
)

// Bands is the number of bands.
const Bands = 10

// MaxChannels is the largest channel count New accepts.
const MaxChannels = 32

// Limits of the parameters.
const (
	MaxGainDB = 24
	MinQ      = 0.1
	MaxQ      = 20
)

// DefaultFreqs are the bands' default centre frequencies in Hz (octaves).
var DefaultFreqs = [Bands]float64{31.25, 62.5, 125, 250, 500, 1000, 2000, 4000, 8000, 16000}

// DefaultQ is the bands' default quality factor: one octave wide.
const DefaultQ = math.Sqrt2

// Errors returned by New and SetParam.
var (
	ErrFormat = errors.New("eq: unsupported format")
	ErrParam  = errors.New("eq: unknown parameter")
	ErrRange  = errors.New("eq: parameter value out of range")
)

// Band is one peaking filter's settings.
type Band struct {
	Freq, GainDB, Q float64
}

// Coeffs are a biquad's coefficients normalised by a0.
type Coeffs struct {
	B0, B1, B2, A1, A2 float64
}

// Peaking returns the RBJ cookbook peaking-EQ coefficients for a band at
// sample rate rate.
func Peaking(b Band, rate float64) Coeffs {
	a := math.Pow(10, b.GainDB/40)
	w0 := 2 * math.Pi * b.Freq / rate
	sn, cs := math.Sincos(w0)
	alpha := sn / (2 * b.Q)
	a0 := 1 + alpha/a
	return Coeffs{
		B0: (1 + alpha*a) / a0,
		B1: -2 * cs / a0,
		B2: (1 - alpha*a) / a0,
		A1: -2 * cs / a0,
		A2: (1 - alpha/a) / a0,
	}
}

// Response returns the filter's complex frequency response at freq Hz.
func (c Coeffs) Response(freq, rate float64) complex128 {
	z1 := cmplx.Exp(complex(0, -2*math.Pi*freq/rate))
	z2 := z1 * z1
	return (complex(c.B0, 0) + complex(c.B1, 0)*z1 + complex(c.B2, 0)*z2) /
		(1 + complex(c.A1, 0)*z1 + complex(c.A2, 0)*z2)
}

// EQ is the equaliser for one stream. It is not safe for concurrent use.
type EQ struct {
	rate     float64
	channels int
	preamp   float64
	bands    [Bands]Band
	active   [Bands]bool
	coeffs   [Bands]Coeffs
	state    [][Bands][2]float64 // per channel, per band: z1, z2
	work     []float64           // the block being processed
}

// New returns a flat equaliser for rate Hz and channels interleaved
// channels.
func New(rate, channels int) (*EQ, error) {
	if rate < 1000 || rate > 768000 || channels < 1 || channels > MaxChannels {
		return nil, ErrFormat
	}
	e := &EQ{rate: float64(rate), channels: channels, state: make([][Bands][2]float64, channels)}
	for i := range e.bands {
		e.bands[i] = Band{Freq: DefaultFreqs[i], Q: DefaultQ}
		e.update(i)
	}
	return e, nil
}

// Band returns band i's settings (0-based).
func (e *EQ) Band(i int) Band { return e.bands[i] }

// Coeffs returns band i's current coefficients and whether it is active.
func (e *EQ) Coeffs(i int) (Coeffs, bool) { return e.coeffs[i], e.active[i] }

// Preamp returns the preamp gain in dB.
func (e *EQ) Preamp() float64 { return e.preamp }

func (e *EQ) update(i int) {
	b := e.bands[i]
	e.active[i] = b.GainDB != 0 && b.Freq < 0.49*e.rate
	if e.active[i] {
		e.coeffs[i] = Peaking(b, e.rate)
		return
	}
	for c := range e.state {
		e.state[c][i] = [2]float64{}
	}
}

// SetParam sets one parameter (see the package comment). It returns
// ErrParam for an unknown key and ErrRange for a value outside the
// parameter's range; the settings are then unchanged.
func (e *EQ) SetParam(key string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ErrRange
	}
	if key == "preamp" {
		if v < -MaxGainDB || v > MaxGainDB {
			return ErrRange
		}
		e.preamp = v
		return nil
	}
	rest, ok := strings.CutPrefix(key, "band")
	if !ok {
		return ErrParam
	}
	num, field, _ := strings.Cut(rest, ".")
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > Bands || strconv.Itoa(n) != num {
		return ErrParam
	}
	b := &e.bands[n-1]
	switch field {
	case "", "gain":
		if v < -MaxGainDB || v > MaxGainDB {
			return ErrRange
		}
		b.GainDB = v
	case "freq":
		if v <= 0 || v >= e.rate/2 {
			return ErrRange
		}
		b.Freq = v
	case "q":
		if v < MinQ || v > MaxQ {
			return ErrRange
		}
		b.Q = v
	default:
		return ErrParam
	}
	e.update(n - 1)
	return nil
}

// Process equalises len(buf)/channels interleaved frames in place; a
// trailing partial frame is left untouched. Each sample goes through the
// preamp and the active bands in float64 and is rounded to float32 once.
// The work runs band by band over the block (the band's coefficients and
// state in locals), which gives the same result as sample by sample.
func (e *EQ) Process(buf []float32) {
	ch := e.channels
	n := len(buf) / ch * ch
	var idx [Bands]int
	na := 0
	for b := range Bands {
		if e.active[b] {
			idx[na] = b
			na++
		}
	}
	if na == 0 && e.preamp == 0 || n == 0 {
		return
	}
	g := 1.0
	if e.preamp != 0 {
		g = math.Pow(10, e.preamp/20)
	}
	if cap(e.work) < n {
		e.work = make([]float64, n)
	}
	w := e.work[:n]
	in := buf[:n]
	if ch == 2 {
		// The first band reads the block (preamp applied), the last
		// writes it back: no separate conversion passes.
		switch na {
		case 0:
			for i, v := range in {
				in[i] = float32(float64(v) * g)
			}
		case 1:
			b := idx[0]
			stereoBand(in, in, g, e.coeffs[b], &e.state[0][b], &e.state[1][b])
		default:
			first, last := idx[0], idx[na-1]
			stereoBand(in, w, g, e.coeffs[first], &e.state[0][first], &e.state[1][first])
			mid := idx[1 : na-1]
			for ; len(mid) >= 2; mid = mid[2:] {
				p, q := mid[0], mid[1]
				stereoBands(w, e.coeffs[p], e.coeffs[q], &e.state[0][p], &e.state[1][p], &e.state[0][q], &e.state[1][q])
			}
			if len(mid) == 1 {
				stereoBand(w, w, 1, e.coeffs[mid[0]], &e.state[0][mid[0]], &e.state[1][mid[0]])
			}
			stereoBand(w, in, 1, e.coeffs[last], &e.state[0][last], &e.state[1][last])
		}
		return
	}
	for i, v := range in {
		w[i] = float64(v) * g
	}
	for _, b := range idx[:na] {
		c := e.coeffs[b]
		for k := range ch {
			z := &e.state[k][b]
			z1, z2 := z[0], z[1]
			for i := k; i < n; i += ch {
				x := w[i]
				y := c.B0*x + z1
				z1 = c.B1*x - c.A1*y + z2
				z2 = c.B2*x - c.A2*y
				w[i] = y
			}
			*z = [2]float64{flush(z1), flush(z2)}
		}
	}
	for i, y := range w {
		in[i] = float32(y)
	}
}

// stereoBand runs one band over interleaved stereo, both channels in one
// loop: out = band(in × g). in and out have the same length and may be
// the same slice; converting float32 ↔ float64 on the way in or out.
func stereoBand[I, O float32 | float64](in []I, out []O, g float64, c Coeffs, zl, zr *[2]float64) {
	b0, b1, b2, a1, a2 := c.B0, c.B1, c.B2, c.A1, c.A2
	l1, l2, r1, r2 := zl[0], zl[1], zr[0], zr[1]
	out = out[:len(in)]
	for i := 1; i < len(in); i += 2 {
		xl, xr := float64(in[i-1])*g, float64(in[i])*g
		yl := b0*xl + l1
		yr := b0*xr + r1
		l1 = b1*xl - a1*yl + l2
		r1 = b1*xr - a1*yr + r2
		l2 = b2*xl - a2*yl
		r2 = b2*xr - a2*yr
		out[i-1], out[i] = O(yl), O(yr)
	}
	*zl = [2]float64{flush(l1), flush(l2)}
	*zr = [2]float64{flush(r1), flush(r2)}
}

// stereoBands runs two bands, p then q, over interleaved stereo in place:
// the same arithmetic as two stereoBand passes, in one loop.
func stereoBands(w []float64, p, q Coeffs, pl, pr, ql, qr *[2]float64) {
	pl1, pl2, pr1, pr2 := pl[0], pl[1], pr[0], pr[1]
	ql1, ql2, qr1, qr2 := ql[0], ql[1], qr[0], qr[1]
	for i := 1; i < len(w); i += 2 {
		xl, xr := w[i-1], w[i]
		yl := p.B0*xl + pl1
		yr := p.B0*xr + pr1
		pl1 = p.B1*xl - p.A1*yl + pl2
		pr1 = p.B1*xr - p.A1*yr + pr2
		pl2 = p.B2*xl - p.A2*yl
		pr2 = p.B2*xr - p.A2*yr
		zl := q.B0*yl + ql1
		zr := q.B0*yr + qr1
		ql1 = q.B1*yl - q.A1*zl + ql2
		qr1 = q.B1*yr - q.A1*zr + qr2
		ql2 = q.B2*yl - q.A2*zl
		qr2 = q.B2*yr - q.A2*zr
		w[i-1], w[i] = zl, zr
	}
	*pl, *pr = [2]float64{flush(pl1), flush(pl2)}, [2]float64{flush(pr1), flush(pr2)}
	*ql, *qr = [2]float64{flush(ql1), flush(ql2)}, [2]float64{flush(qr1), flush(qr2)}
}

func flush(z float64) float64 {
	if math.Abs(z) < 1e-100 {
		return 0
	}
	return z
}

// Reset clears the filters' state (as after a seek).
func (e *EQ) Reset() {
	for c := range e.state {
		e.state[c] = [Bands][2]float64{}
	}
}

// Channels returns the channel count.
func (e *EQ) Channels() int { return e.channels }
