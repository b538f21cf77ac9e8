package loudness

import (
	"errors"
	"fmt"
	"math"

	"github.com/segue-fm/segue/core/model"
)

// Limits on the formats a Meter accepts.
const (
	MinRate     = 8000
	MaxRate     = 768000
	MaxChannels = 64
)

// Gates and floors of EBU R128.
const (
	// AbsoluteGateLUFS is the absolute gate: blocks quieter than this never
	// count. It is also the integrated loudness reported for a signal with
	// no block above it (silence), as ffmpeg's ebur128 filter does.
	AbsoluteGateLUFS = -70.0
	// RelativeGateLU is the relative gate below the absolute-gated loudness.
	RelativeGateLU = -10.0
	// SilenceDBTP is the true peak reported for digital silence, instead of
	// −∞, so results stay finite (JSON-encodable).
	SilenceDBTP = -200.0
)

// ErrFormat is returned by NewMeter and Measure for an unsupported sample
// rate, channel count or weight list.
var ErrFormat = errors.New("loudness: unsupported format")

// Options configure a Meter. The zero value is not useful; start from
// DefaultOptions.
type Options struct {
	weights  []float64
	truePeak bool
}

// DefaultOptions returns the defaults: channel weights by channel count in
// WAV/SMPTE order (see WithWeights), true-peak measurement on.
func DefaultOptions() Options { return Options{truePeak: true} }

// WithWeights sets one BS.1770 weight per channel, in the order of the
// interleaved input. The default (nil) depends on the channel count, in
// WAV/SMPTE channel order: 1.0 for every channel, except 5.1 (L R C LFE Ls
// Rs: 1 1 1 0 1.41 1.41), 5.0 (L R C Ls Rs: 1 1 1 1.41 1.41), quad
// (L R Ls Rs: 1 1 1.41 1.41) and 7.1 (L R C LFE Lb Rb Ls Rs: LFE 0,
// surrounds 1.41). Callers with Vorbis channel order (L C R Ls Rs LFE for
// 5.1) must pass weights. The slice is copied.
func (o Options) WithWeights(w []float64) Options {
	o.weights = append([]float64(nil), w...)
	return o
}

// WithTruePeak turns true-peak measurement on or off (default on). Off
// saves about two thirds of the meter's CPU time; Result then reports the
// sample peak instead.
func (o Options) WithTruePeak(on bool) Options {
	o.truePeak = on
	return o
}

// defaultWeights returns the BS.1770 channel weights for n channels in
// WAV/SMPTE order.
func defaultWeights(n int) []float64 {
	const s = 1.41
	w := make([]float64, n)
	for i := range w {
		w[i] = 1
	}
	switch n {
	case 4:
		w[2], w[3] = s, s
	case 5:
		w[3], w[4] = s, s
	case 6:
		w[3], w[4], w[5] = 0, s, s
	case 8:
		w[3], w[4], w[5], w[6], w[7] = 0, s, s, s, s
	}
	return w
}

// Histogram of gating-block loudness: bins of histStep LU from
// AbsoluteGateLUFS up to histMax; louder blocks fall in the top bin. Each bin
// keeps the exact sum of its blocks' mean-square energies, so gating is exact
// except for blocks within histStep of the relative gate threshold.
const (
	histStep = 0.01
	histMax  = 30.0
	histBins = int((histMax-AbsoluteGateLUFS)/histStep) + 1
)

// shortTermSubs is the number of 100 ms sub-blocks in the 3 s short-term
// window; a gating block is 4 sub-blocks (400 ms, 75 % overlap).
const shortTermSubs = 30

// Meter is a streaming EBU R128 loudness and true-peak meter. Create it with
// NewMeter; feed interleaved samples with Write; read Result at any time.
// Write never allocates. A Meter is not safe for concurrent use.
type Meter struct {
	rate, channels int
	weights        []float64
	shelf, hp      biquad
	kstate         []biquadState // 2 per channel: shelf, hp
	truePeak       bool

	// Partial frame carried between Writes whose length is not a multiple
	// of channels.
	partial  []float32
	npartial int

	// Current 100 ms sub-block: weighted sum of squares and sample count.
	subSum   float64
	subCount int
	subIndex int64 // index of the current sub-block
	subEnd   int64 // frame count at which the current sub-block ends
	frames   int64 // frames written so far

	// Ring of the last shortTermSubs completed sub-blocks.
	ringSum   [shortTermSubs]float64
	ringCount [shortTermSubs]int
	ringLen   int // completed sub-blocks, capped at shortTermSubs
	ringPos   int // next slot to write

	histCount []int64
	histSum   []float64

	// True-peak interpolator history: per channel 2·tpTaps values, the
	// tpTaps most recent samples stored twice so a contiguous window is
	// always available without modulo arithmetic.
	tpHist []float64
	tpPos  int
	peak   float64 // max |x| over samples and interpolated points
}

// NewMeter returns a meter for interleaved audio at rate Hz with the given
// channel count and DefaultOptions. It fails with ErrFormat for a rate
// outside [MinRate, MaxRate] or channels outside [1, MaxChannels].
func NewMeter(rate, channels int) (*Meter, error) {
	return NewMeterWithOptions(rate, channels, DefaultOptions())
}

// NewMeterWithOptions is NewMeter with explicit options.
func NewMeterWithOptions(rate, channels int, o Options) (*Meter, error) {
	if rate < MinRate || rate > MaxRate {
		return nil, fmt.Errorf("%w: sample rate %d", ErrFormat, rate)
	}
	if channels < 1 || channels > MaxChannels {
		return nil, fmt.Errorf("%w: %d channels", ErrFormat, channels)
	}
	w := o.weights
	if w == nil {
		w = defaultWeights(channels)
	}
	if len(w) != channels {
		return nil, fmt.Errorf("%w: %d weights for %d channels", ErrFormat, len(w), channels)
	}
	for i, x := range w {
		if x < 0 || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%w: weight %d is %v", ErrFormat, i, x)
		}
	}
	m := &Meter{
		rate:      rate,
		channels:  channels,
		weights:   w,
		kstate:    make([]biquadState, 2*channels),
		truePeak:  o.truePeak,
		partial:   make([]float32, channels),
		histCount: make([]int64, histBins),
		histSum:   make([]float64, histBins),
		tpHist:    make([]float64, 2*tpTaps*channels),
	}
	m.shelf, m.hp = kWeighting(rate)
	m.subEnd = m.subBoundary(1)
	return m, nil
}

// subBoundary returns the frame index at which sub-block k starts, so
// sub-blocks stay exactly 100 ms on average even when rate/10 is not an
// integer.
func (m *Meter) subBoundary(k int64) int64 { return k * int64(m.rate) / 10 }

// Write adds interleaved samples (frame-major: one sample per channel per
// frame). Any length is accepted: an incomplete trailing frame is kept and
// completed by the next Write. Non-finite samples are treated as 0. Write
// does not retain buf and never allocates.
func (m *Meter) Write(buf []float32) {
	c := m.channels
	if m.npartial > 0 {
		n := copy(m.partial[m.npartial:], buf)
		m.npartial += n
		buf = buf[n:]
		if m.npartial < c {
			return
		}
		m.frame(m.partial)
		m.npartial = 0
	}
	whole := len(buf) / c * c
	for i := 0; i < whole; i += c {
		m.frame(buf[i : i+c])
	}
	m.npartial = copy(m.partial, buf[whole:])
}

// frame processes one interleaved frame.
func (m *Meter) frame(f []float32) {
	var sum float64
	pos := m.tpPos
	for ch, s := range f {
		x := float64(s)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			x = 0
		}
		st := m.kstate[2*ch : 2*ch+2]
		y := m.hp.step(&st[1], m.shelf.step(&st[0], x))
		sum += m.weights[ch] * y * y

		if a := math.Abs(x); a > m.peak {
			m.peak = a
		}
		if m.truePeak {
			h := m.tpHist[2*tpTaps*ch : 2*tpTaps*(ch+1)]
			h[pos] = x
			h[pos+tpTaps] = x
			win := h[pos+1 : pos+1+tpTaps] // most recent, oldest first
			if a := interpolatedPeak(win); a > m.peak {
				m.peak = a
			}
		}
	}
	m.tpPos = (pos + 1) % tpTaps
	m.subSum += sum
	m.subCount++
	m.frames++
	if m.frames == m.subEnd {
		m.endSub()
	}
}

// endSub closes the current 100 ms sub-block and, once four are available,
// records the 400 ms gating block that ends with it.
func (m *Meter) endSub() {
	m.ringSum[m.ringPos] = m.subSum
	m.ringCount[m.ringPos] = m.subCount
	m.ringPos = (m.ringPos + 1) % shortTermSubs
	if m.ringLen < shortTermSubs {
		m.ringLen++
	}
	m.subSum, m.subCount = 0, 0
	m.subIndex++
	m.subEnd = m.subBoundary(m.subIndex + 1)

	if m.ringLen >= 4 {
		z := m.window(4)
		l := energyToLUFS(z)
		if l >= AbsoluteGateLUFS {
			b := int((l - AbsoluteGateLUFS) / histStep)
			if b >= histBins {
				b = histBins - 1
			}
			m.histCount[b]++
			m.histSum[b] += z
		}
	}
}

// window returns the mean weighted square over the last n completed
// sub-blocks (n ≤ ringLen).
func (m *Meter) window(n int) float64 {
	var sum float64
	var cnt int
	for i := 1; i <= n; i++ {
		j := (m.ringPos - i + shortTermSubs) % shortTermSubs
		sum += m.ringSum[j]
		cnt += m.ringCount[j]
	}
	if cnt == 0 {
		return 0
	}
	return sum / float64(cnt)
}

// energyToLUFS converts a weighted mean square to LUFS (BS.1770 eq. 2).
func energyToLUFS(z float64) float64 {
	if z <= 0 {
		return math.Inf(-1)
	}
	return -0.691 + 10*math.Log10(z)
}

// Frames returns the number of complete frames written.
func (m *Meter) Frames() int64 { return m.frames }

// Integrated returns the gated integrated loudness in LUFS of everything
// written so far, or AbsoluteGateLUFS when no 400 ms block passes the
// absolute gate (silence, or less than 400 ms of audio).
func (m *Meter) Integrated() float64 {
	var n int64
	var sum float64
	for i, c := range m.histCount {
		n += c
		sum += m.histSum[i]
	}
	if n == 0 {
		return AbsoluteGateLUFS
	}
	threshold := energyToLUFS(sum/float64(n)) + RelativeGateLU
	first := 0
	if threshold > AbsoluteGateLUFS {
		first = int(math.Ceil((threshold-AbsoluteGateLUFS)/histStep - 1e-9))
	}
	n, sum = 0, 0
	for i := first; i < histBins; i++ {
		n += m.histCount[i]
		sum += m.histSum[i]
	}
	if n == 0 {
		return AbsoluteGateLUFS
	}
	return energyToLUFS(sum / float64(n))
}

// Momentary returns the loudness in LUFS of the last complete 400 ms block,
// or −∞ before 400 ms have been written or for silence.
func (m *Meter) Momentary() float64 {
	if m.ringLen < 4 {
		return math.Inf(-1)
	}
	return energyToLUFS(m.window(4))
}

// ShortTerm returns the loudness in LUFS of the last 3 s (complete 100 ms
// sub-blocks), or −∞ before 3 s have been written or for silence.
func (m *Meter) ShortTerm() float64 {
	if m.ringLen < shortTermSubs {
		return math.Inf(-1)
	}
	return energyToLUFS(m.window(shortTermSubs))
}

// TruePeak returns the true peak in dBTP (dB relative to full scale of the
// 4× oversampled signal, the input samples included), or SilenceDBTP for
// digital silence. With true peak off it is the sample peak in dBFS.
func (m *Meter) TruePeak() float64 {
	p := m.peak
	if m.truePeak {
		p = math.Max(p, m.tailPeak())
	}
	if p == 0 {
		return SilenceDBTP
	}
	return 20 * math.Log10(p)
}

// tailPeak returns the largest interpolated value between the last samples
// written, which the streaming interpolator has not produced yet because
// they need later input: the stream is continued with zeros.
func (m *Meter) tailPeak() float64 {
	var peak float64
	for ch := 0; ch < m.channels; ch++ {
		var w [2 * tpTaps]float64
		base := 2 * tpTaps * ch
		copy(w[:tpTaps], m.tpHist[base+m.tpPos:base+m.tpPos+tpTaps])
		for k := 1; k <= tpTaps/2; k++ {
			peak = math.Max(peak, interpolatedPeak(w[k:k+tpTaps]))
		}
	}
	return peak
}

// interpolatedPeak returns the largest magnitude of the interpolated
// points between win[tpTaps/2−1] and win[tpTaps/2].
func interpolatedPeak(win []float64) float64 {
	win = win[:tpTaps]
	var peak float64
	for p := range truePeakTaps {
		taps := &truePeakTaps[p]
		var acc float64
		for j, t := range taps {
			acc += t * win[j]
		}
		peak = math.Max(peak, math.Abs(acc))
	}
	return peak
}

// Result returns the integrated loudness and the true peak measured so far.
// The meter keeps accepting Writes afterwards.
func (m *Meter) Result() model.Loudness {
	return model.Loudness{IntegratedLUFS: m.Integrated(), TruePeakDBTP: m.TruePeak()}
}

// Measure runs a fresh Meter over interleaved samples and returns the
// result. It fails with ErrFormat for an unsupported format or when len
// is not a multiple of channels.
func Measure(interleaved []float32, rate, channels int) (model.Loudness, error) {
	m, err := NewMeter(rate, channels)
	if err != nil {
		return model.Loudness{}, err
	}
	if len(interleaved)%channels != 0 {
		return model.Loudness{}, fmt.Errorf("%w: %d samples is not a whole number of %d-channel frames", ErrFormat, len(interleaved), channels)
	}
	m.Write(interleaved)
	return m.Result(), nil
}
