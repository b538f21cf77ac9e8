// Package features measures a track's audio features from its master PCM
// at ingest (issue 14 item 1): tempo and beat strength (autocorrelation of
// a spectral-flux onset envelope), energy (RMS), spectral centroid, onset
// rate, and key/mode (chroma correlated with the Krumhansl–Kessler key
// profiles). It is pure DSP over samples the caller streams in; FFTs come
// from gonum's dsp/fourier.
package features

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/dsp/fourier"

	"github.com/segue-fm/segue/core/model"
)

// ErrFormat is returned by New for a sample rate or channel count outside
// the supported range.
var ErrFormat = errors.New("features: unsupported format")

// Supported formats.
const (
	MinRate     = 8000
	MaxRate     = 384000
	MaxChannels = 8
)

const (
	onsetN   = 2048 // onset/centroid frame
	onsetHop = 512
	chromaN  = 8192 // key frame: 5.4 Hz bins at 44.1 kHz resolve semitones from ≈ 90 Hz
	chromaLo = 60.0 // Hz, chroma range
	chromaHi = 2000.0
	minBPM   = 30.0
	maxBPM   = 300.0
	// fluxFloor is the smallest spectral flux (rise of log1p(100·|X|)
	// summed over a frame's bins) counted as a change at all: a steady
	// sine's window leakage stays below 3, a click exceeds 1,000.
	fluxFloor = 20.0
)

// Extractor accumulates features over streamed interleaved frames. It is
// not safe for concurrent use.
type Extractor struct {
	rate, channels int

	buf        []float64 // mono samples from absolute index base
	base       int64
	nextOnset  int64
	nextChroma int64

	fftO, fftC *fourier.FFT
	winO, winC []float64
	frame      []float64
	coef       []complex128
	prevLog    []float64
	havePrev   bool

	flux             []float64 // onset envelope, one value per onset hop
	sumSq            float64
	samples          int64
	centNum, centDen float64
	chroma           [12]float64
}

// New returns an extractor for PCM at rate Hz with channels interleaved
// channels.
func New(rate, channels int) (*Extractor, error) {
	if rate < MinRate || rate > MaxRate || channels < 1 || channels > MaxChannels {
		return nil, fmt.Errorf("%w: %d Hz, %d channels", ErrFormat, rate, channels)
	}
	return &Extractor{
		rate: rate, channels: channels,
		fftO: fourier.NewFFT(onsetN), fftC: fourier.NewFFT(chromaN),
		winO: hann(onsetN), winC: hann(chromaN),
		frame:   make([]float64, chromaN),
		coef:    make([]complex128, chromaN/2+1),
		prevLog: make([]float64, onsetN/2+1),
	}, nil
}

func hann(n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n))
	}
	return w
}

// Write takes interleaved frames (len a multiple of the channel count;
// a trailing partial frame is ignored).
func (e *Extractor) Write(pcm []float32) {
	for f := 0; f+e.channels <= len(pcm); f += e.channels {
		var s float64
		for c := range e.channels {
			s += float64(pcm[f+c])
		}
		s /= float64(e.channels)
		e.buf = append(e.buf, s)
		e.sumSq += s * s
		e.samples++
	}
	end := e.base + int64(len(e.buf))
	for e.nextOnset+onsetN <= end {
		e.onsetFrame(e.buf[e.nextOnset-e.base : e.nextOnset-e.base+onsetN])
		e.nextOnset += onsetHop
	}
	for e.nextChroma+chromaN <= end {
		e.chromaFrame(e.buf[e.nextChroma-e.base : e.nextChroma-e.base+chromaN])
		e.nextChroma += chromaN
	}
	if drop := min(e.nextOnset, e.nextChroma) - e.base; drop > 0 {
		e.buf = append(e.buf[:0], e.buf[drop:]...)
		e.base += drop
	}
}

func (e *Extractor) spectrum(fft *fourier.FFT, win, x []float64) []complex128 {
	n := len(x)
	fr := e.frame[:n]
	for i, v := range x {
		fr[i] = v * win[i]
	}
	return fft.Coefficients(e.coef[:n/2+1], fr)
}

// onsetFrame adds one frame's spectral flux and centroid terms.
func (e *Extractor) onsetFrame(x []float64) {
	c := e.spectrum(e.fftO, e.winO, x)
	binHz := float64(e.rate) / onsetN
	var flux float64
	for k, v := range c {
		mag := math.Hypot(real(v), imag(v))
		e.centNum += float64(k) * binHz * mag
		e.centDen += mag
		l := math.Log1p(100 * mag)
		if e.havePrev && l > e.prevLog[k] {
			flux += l - e.prevLog[k]
		}
		e.prevLog[k] = l
	}
	if e.havePrev {
		if flux < fluxFloor {
			flux = 0 // rounding noise of a steady signal, not an onset
		}
		e.flux = append(e.flux, flux)
	}
	e.havePrev = true
}

// chromaFrame folds one long frame's magnitudes into pitch classes.
func (e *Extractor) chromaFrame(x []float64) {
	c := e.spectrum(e.fftC, e.winC, x)
	binHz := float64(e.rate) / chromaN
	for k := int(chromaLo/binHz) + 1; k < len(c) && float64(k)*binHz <= chromaHi; k++ {
		f := float64(k) * binHz
		midi := 69 + 12*math.Log2(f/440)
		pc := ((int(math.Round(midi)) % 12) + 12) % 12
		e.chroma[pc] += math.Hypot(real(c[k]), imag(c[k]))
	}
}

// Result returns the features of everything written so far.
func (e *Extractor) Result() model.AudioFeatures {
	var f model.AudioFeatures
	if e.samples > 0 {
		f.Energy = math.Sqrt(e.sumSq / float64(e.samples))
	}
	if e.centDen > 0 {
		f.CentroidHz = e.centNum / e.centDen
	}
	fps := float64(e.rate) / onsetHop
	f.TempoBPM, f.BeatStrength = tempo(e.flux, fps)
	if e.samples > 0 {
		f.OnsetRate = float64(countOnsets(e.flux, fps)) / (float64(e.samples) / float64(e.rate))
	}
	f.Key, f.Minor, f.KeyStrength = key(e.chroma)
	return f
}

// tempo finds the beat period as the lag maximising the onset envelope's
// autocorrelation weighted by a log-normal prior around 120 BPM (one
// octave wide), refined to a fraction of a frame by parabolic
// interpolation of the peaks at the first four multiples of the lag.
func tempo(env []float64, fps float64) (bpm, strength float64) {
	n := len(env)
	minLag := int(math.Floor(fps * 60 / maxBPM))
	maxLag := min(int(math.Ceil(fps*60/minBPM)), n/2)
	if minLag < 1 || maxLag <= minLag+1 {
		return 0, 0
	}
	var mean float64
	for _, v := range env {
		mean += v
	}
	mean /= float64(n)
	d := make([]float64, n)
	for i, v := range env {
		d[i] = v - mean
	}
	acf := make([]float64, min(4*maxLag+3, n))
	for l := range acf {
		var s float64
		for t := 0; t+l < n; t++ {
			s += d[t] * d[t+l]
		}
		acf[l] = s / float64(n-l)
	}
	if acf[0] <= 0 {
		return 0, 0
	}
	best, bestW := 0, 0.0
	for l := minLag; l <= maxLag; l++ {
		if acf[l] <= 0 || acf[l] < acf[l-1] || acf[l] < acf[l+1] {
			continue
		}
		oct := math.Log2(fps * 60 / float64(l) / 120)
		if w := acf[l] * math.Exp(-0.5*oct*oct); w > bestW {
			best, bestW = l, w
		}
	}
	if best == 0 {
		return 0, 0
	}
	var num, den float64
	for m := 1; m <= 4; m++ {
		c := m * best
		if c+3 >= len(acf) {
			break
		}
		p := c
		for l := c - 2; l <= c+2; l++ {
			if acf[l] > acf[p] {
				p = l
			}
		}
		y0, y1, y2 := acf[p-1], acf[p], acf[p+1]
		off := 0.0
		if dd := y0 - 2*y1 + y2; dd < 0 {
			off = 0.5 * (y0 - y2) / dd
		}
		num += float64(m) * (float64(p) + off)
		den += float64(m * m)
	}
	lag := num / den
	return fps * 60 / lag, math.Max(0, math.Min(1, acf[best]/acf[0]))
}

// countOnsets counts envelope peaks: local maxima over ±50 ms that rise
// above the envelope's mean plus one standard deviation.
func countOnsets(env []float64, fps float64) int {
	if len(env) == 0 {
		return 0
	}
	var mean, sq float64
	for _, v := range env {
		mean += v
	}
	mean /= float64(len(env))
	for _, v := range env {
		sq += (v - mean) * (v - mean)
	}
	thr := mean + math.Sqrt(sq/float64(len(env)))
	w := max(1, int(0.05*fps))
	count := 0
	for t, v := range env {
		if v <= thr || v <= 0 {
			continue
		}
		peak := true
		for u := max(0, t-w); u <= min(len(env)-1, t+w) && peak; u++ {
			peak = env[u] < v || (env[u] == v && u >= t)
		}
		if peak {
			count++
		}
	}
	return count
}

// Krumhansl–Kessler probe-tone profiles, tonic first.
var (
	majorProfile = [12]float64{6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88}
	minorProfile = [12]float64{6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17}
)

// key returns the tonic pitch class and mode whose rotated profile
// correlates best (Pearson) with the chroma vector.
func key(chroma [12]float64) (tonic int, minor bool, r float64) {
	r = math.Inf(-1)
	for t := range 12 {
		for _, mode := range []bool{false, true} {
			p := majorProfile
			if mode {
				p = minorProfile
			}
			var rot [12]float64
			for i := range 12 {
				rot[(i+t)%12] = p[i]
			}
			if c := pearson(chroma, rot); c > r {
				tonic, minor, r = t, mode, c
			}
		}
	}
	if math.IsInf(r, -1) || math.IsNaN(r) {
		return 0, false, 0
	}
	return tonic, minor, r
}

func pearson(a, b [12]float64) float64 {
	var ma, mb float64
	for i := range 12 {
		ma += a[i]
		mb += b[i]
	}
	ma /= 12
	mb /= 12
	var num, da, db float64
	for i := range 12 {
		num += (a[i] - ma) * (b[i] - mb)
		da += (a[i] - ma) * (a[i] - ma)
		db += (b[i] - mb) * (b[i] - mb)
	}
	if da == 0 || db == 0 {
		return math.NaN()
	}
	return num / math.Sqrt(da*db)
}
