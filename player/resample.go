package player

import (
	"errors"
	"fmt"
	"math"
	"sync"
)

// ErrFormat is returned for an unsupported sample rate, channel count or
// rate ratio.
var ErrFormat = errors.New("player: unsupported format")

// Resampler design: a Kaiser-windowed sinc, polyphase over L phases, with
// resampleHalfTaps taps either side of the output point at the lower of
// the two rates. Passband to 0.42·min(rate), stopband from 0.5·min(rate),
// ≥ 80 dB rejection.
const (
	resampleHalfTaps = 32
	resampleCutoff   = 0.46 // −6 dB point as a fraction of min(rate)
	resampleBeta     = 8.0  // Kaiser β for ≈ 80 dB
	maxPhases        = 4096
)

// Resampler converts interleaved float32 audio from one sample rate to
// another with a band-limited polyphase filter. It is streaming and
// stateful: feeding a signal in any split of Write calls produces exactly
// the same output, bit for bit, as feeding it at once, and it stays
// continuous across track boundaries as long as the caller keeps writing.
//
// Output timing is exact: output frame k is the input signal at time
// k·inRate/outRate input frames, computed with integer arithmetic, so the
// total output after Flush is exactly OutFrames(total input) with no drift
// over any length. When the rates are equal it copies samples unchanged.
// A Resampler is not safe for concurrent use.
type Resampler struct {
	in, out, channels int
	l, m              int64 // output/input rate ratio in lowest terms: L/M
	taps              int   // taps per phase
	bank              []float32

	hist    []float32 // interleaved input frames [histBase, histBase+len/ch)
	histPos int64     // absolute input index of hist[0]
	inTotal int64     // input frames written
	outNext int64     // next output frame index
	n       int64     // floor(outNext·M/L)
	phase   int64     // (outNext·M) mod L
}

// CheckRates reports, with an error wrapping ErrFormat, a pair of rates
// NewResampler refuses: either outside [1000, 768000] Hz, or a reduced
// ratio outRate/inRate whose numerator exceeds 4096 (44056 Hz to 44100 Hz
// is 11025/11014). It builds nothing.
func CheckRates(inRate, outRate int) error {
	if inRate < 1000 || inRate > 768000 || outRate < 1000 || outRate > 768000 {
		return fmt.Errorf("%w: resample %d → %d Hz", ErrFormat, inRate, outRate)
	}
	g := gcd(inRate, outRate)
	if l := outRate / g; l > maxPhases {
		return fmt.Errorf("%w: resample %d → %d Hz: the ratio %d/%d needs over %d filter phases", ErrFormat, inRate, outRate, l, inRate/g, maxPhases)
	}
	return nil
}

// NewResampler returns a resampler from inRate to outRate Hz for the given
// number of interleaved channels. Rates must be in [1000, 768000], channels
// in [1, 255], and the reduced ratio outRate/inRate must have a numerator
// of at most 4096 (true for every pair of standard rates).
func NewResampler(inRate, outRate, channels int) (*Resampler, error) {
	if err := CheckRates(inRate, outRate); err != nil {
		return nil, err
	}
	if channels < 1 || channels > 255 {
		return nil, fmt.Errorf("%w: %d channels", ErrFormat, channels)
	}
	g := gcd(inRate, outRate)
	r := &Resampler{in: inRate, out: outRate, channels: channels, l: int64(outRate / g), m: int64(inRate / g)}
	if inRate == outRate {
		return r, nil
	}
	r.bank, r.taps = filterBank(inRate, outRate, r.l)
	half := r.taps / 2
	// The first output needs input −half+1 … half: start with half−1
	// frames of silence before the signal.
	r.hist = make([]float32, (half-1)*channels, (half-1+4096)*channels)
	r.histPos = -int64(half - 1)
	return r, nil
}

// Bounds of the filter-bank cache: a bank takes ≈ 1 ms to compute for
// 44.1 → 48 kHz natively and ≈ 4 ms in the browser (GOOS=js under Node),
// and every chain (each play, seek, or track of another rate) needs one.
const (
	// maxCachedBanks is the most rate pairs whose banks are kept.
	maxCachedBanks = 8
	// maxCachedBankTaps bounds the coefficients of a kept bank (1 MiB);
	// larger banks (unusual rate pairs) are computed for each resampler.
	maxCachedBankTaps = 1 << 18
)

// banks holds the filter banks made so far, by (input rate, output
// rate); a bank is never written once made, so resamplers share it.
var banks struct {
	mu sync.Mutex
	m  map[[2]int]bankEntry
}

type bankEntry struct {
	coef []float32
	taps int
}

// filterBank returns the polyphase bank (l phases of taps coefficients)
// from inRate to outRate Hz, L/M = l/m in lowest terms: from the cache,
// else computed (and kept when small enough). The bank is read-only.
func filterBank(inRate, outRate int, l int64) ([]float32, int) {
	k := [2]int{inRate, outRate}
	banks.mu.Lock()
	e, ok := banks.m[k]
	banks.mu.Unlock()
	if ok {
		return e.coef, e.taps
	}
	coef, taps := makeBank(inRate, outRate, l)
	if len(coef) > maxCachedBankTaps {
		return coef, taps
	}
	banks.mu.Lock()
	defer banks.mu.Unlock()
	if banks.m == nil || len(banks.m) >= maxCachedBanks {
		banks.m = map[[2]int]bankEntry{}
	}
	banks.m[k] = bankEntry{coef, taps}
	return coef, taps
}

// makeBank computes the Kaiser-windowed sinc bank of filterBank.
func makeBank(inRate, outRate int, l int64) ([]float32, int) {
	scale := math.Min(1, float64(outRate)/float64(inRate)) // cutoff relative to input rate
	half := int(math.Ceil(resampleHalfTaps / scale))
	taps := 2 * half
	bank := make([]float32, int(l)*taps)
	fc := resampleCutoff * scale
	vals := make([]float64, taps)
	for p := int64(0); p < l; p++ {
		frac := float64(p) / float64(l)
		row := bank[int(p)*taps : int(p+1)*taps]
		var sum float64
		for j := range vals {
			// Tap j multiplies input n−half+1+j; the output point is n+frac.
			t := float64(half-1-j) + frac
			v := 2 * fc * sincf(2*fc*t) * kaiserWin(t/float64(half), resampleBeta)
			vals[j] = v
			sum += v
		}
		for j, v := range vals {
			row[j] = float32(v / sum)
		}
	}
	return bank, taps
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// sincf is the normalised sinc.
func sincf(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// kaiserWin is the Kaiser window at x ∈ [−1, 1], 0 outside.
func kaiserWin(x, beta float64) float64 {
	if x <= -1 || x >= 1 {
		return 0
	}
	return besselI0(beta*math.Sqrt(1-x*x)) / besselI0(beta)
}

func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 60; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}

// Rates returns the input and output sample rates.
func (r *Resampler) Rates() (in, out int) { return r.in, r.out }

// OutFrames returns the exact number of output frames that inFrames input
// frames produce after Flush: ⌈inFrames·outRate/inRate⌉.
func (r *Resampler) OutFrames(inFrames int64) int64 {
	return (inFrames*r.l + r.m - 1) / r.m
}

// Latency returns how many input frames past an output point Write needs
// before it can emit that output (0 when passing through).
func (r *Resampler) Latency() int { return r.taps / 2 }

// Needs returns how many more input frames Write needs before the output
// (since the start or the last Flush) holds frames frames; 0 when the
// input written so far determines them, or only Flush can emit them.
func (r *Resampler) Needs(frames int64) int64 {
	if frames <= r.outNext {
		return 0
	}
	if r.bank == nil {
		return frames - r.inTotal
	}
	last := floorDiv((frames-1)*r.m, r.l) // the input frame of the last output frame
	return max(last+int64(r.taps/2)+1-r.inTotal, 0)
}

// Write appends to dst the output frames that the input written so far
// determines, and returns the extended slice. in is interleaved; a length
// that is not a multiple of channels is an error. Write copies what it needs
// from in; dst is owned by the caller, and Write does not allocate when dst
// has enough capacity and in is no longer than 4096 frames.
func (r *Resampler) Write(dst, in []float32) ([]float32, error) {
	if len(in)%r.channels != 0 {
		return dst, fmt.Errorf("%w: %d samples is not a whole number of %d-channel frames", ErrFormat, len(in), r.channels)
	}
	r.inTotal += int64(len(in) / r.channels)
	if r.bank == nil {
		r.outNext = r.inTotal
		return append(dst, in...), nil
	}
	r.hist = append(r.hist, in...)
	return r.drain(dst, r.histPos+int64(len(r.hist)/r.channels)), nil
}

// drain emits every output frame whose input window ends before avail and
// whose time is inside the input written so far.
func (r *Resampler) drain(dst []float32, avail int64) []float32 {
	half := int64(r.taps / 2)
	c := r.channels
	for r.n+half < avail && r.n < r.inTotal {
		start := int(r.n-half+1-r.histPos) * c
		row := r.bank[int(r.phase)*r.taps : int(r.phase+1)*r.taps]
		for ch := 0; ch < c; ch++ {
			var acc float32
			idx := start + ch
			for _, t := range row {
				acc += t * r.hist[idx]
				idx += c
			}
			dst = append(dst, acc)
		}
		r.outNext++
		r.phase += r.m
		for r.phase >= r.l {
			r.phase -= r.l
			r.n++
		}
	}
	// Drop input no future output needs.
	if keep := r.n - half + 1; keep > r.histPos {
		drop := int(keep-r.histPos) * c
		if drop > len(r.hist) {
			drop = len(r.hist)
		}
		n := copy(r.hist, r.hist[drop:])
		r.hist = r.hist[:n]
		r.histPos += int64(drop / c)
	}
	return dst
}

// Flush ends the stream: it appends the remaining output frames, as if
// silence followed the input, so the total output is exactly
// OutFrames(input frames), and resets the resampler for a new stream.
func (r *Resampler) Flush(dst []float32) []float32 {
	if r.bank != nil {
		half := r.taps / 2
		r.hist = append(r.hist, make([]float32, half*r.channels)...)
		dst = r.drain(dst, r.histPos+int64(len(r.hist)/r.channels))
		r.hist = r.hist[:0]
		for range half - 1 {
			r.hist = append(r.hist, make([]float32, r.channels)...)
		}
		r.histPos = -int64(half - 1)
	}
	r.inTotal, r.outNext, r.n, r.phase = 0, 0, 0, 0
	return dst
}
