package loudness

import "math"

// biquad is a second-order IIR section in transposed direct form II,
// evaluated in float64. a0 is normalised to 1.
type biquad struct {
	b0, b1, b2, a1, a2 float64
}

// kWeighting returns the two K-weighting stages of BS.1770-4 for the given
// sample rate: the high-shelf "pre-filter" modelling the head, and the RLB
// high-pass. Both are designed from their analogue prototypes with the
// bilinear transform (pre-warped at f0), which reproduces the 48 kHz table
// of BS.1770-4 to within 1e-9 and extends it to every rate.
func kWeighting(rate int) (shelf, highpass biquad) {
	fs := float64(rate)

	// Stage 1: high shelf, +4 dB above ~1.5 kHz.
	const (
		f0 = 1681.974450955533
		g  = 3.999843853973347 // dB
		q  = 0.7071752369554196
	)
	k := math.Tan(math.Pi * f0 / fs)
	vh := math.Pow(10, g/20)
	vb := math.Pow(vh, 0.4996667741545416)
	a0 := 1 + k/q + k*k
	shelf = biquad{
		b0: (vh + vb*k/q + k*k) / a0,
		b1: 2 * (k*k - vh) / a0,
		b2: (vh - vb*k/q + k*k) / a0,
		a1: 2 * (k*k - 1) / a0,
		a2: (1 - k/q + k*k) / a0,
	}

	// Stage 2: RLB second-order high-pass at ~38 Hz.
	const (
		f1 = 38.13547087602444
		q1 = 0.5003270373238773
	)
	k = math.Tan(math.Pi * f1 / fs)
	a0 = 1 + k/q1 + k*k
	highpass = biquad{
		b0: 1,
		b1: -2,
		b2: 1,
		a1: 2 * (k*k - 1) / a0,
		a2: (1 - k/q1 + k*k) / a0,
	}
	return shelf, highpass
}

// biquadState is the two-element delay line of one biquad on one channel.
type biquadState struct{ z1, z2 float64 }

// step filters one sample.
func (f *biquad) step(s *biquadState, x float64) float64 {
	y := f.b0*x + s.z1
	s.z1 = f.b1*x - f.a1*y + s.z2
	s.z2 = f.b2*x - f.a2*y
	return y
}

// True-peak interpolator: 4× oversampling by a polyphase windowed-sinc FIR
// with tpTaps taps per phase. Phase 0 is the input sample itself; phases
// 1–3 interpolate at ¼, ½ and ¾ of the way to the next sample. This is the
// structure of BS.1770-4 Annex 2 (4× polyphase FIR) with a longer
// Kaiser-windowed design than the annex's 12-tap example, whose phases
// deviate by up to 0.24 dB from unity gain; these stay within 0.05 dB
// up to 0.4 fs.
const (
	tpPhases = 4
	tpTaps   = 24
	tpBeta   = 7.0 // Kaiser β
)

// truePeakTaps holds phases 1–3 (phase 0 is the identity), each applied to
// the tpTaps most recent input samples, oldest first; the interpolated
// point lies between window positions tpTaps/2−1 and tpTaps/2.
var truePeakTaps = designTruePeak()

func designTruePeak() (taps [tpPhases - 1][tpTaps]float64) {
	half := float64(tpTaps / 2)
	for p := 1; p < tpPhases; p++ {
		d := float64(p) / tpPhases
		var sum float64
		for j := range tpTaps {
			t := float64(j) - (half - 1) - d // distance from the point, in samples
			v := sinc(t) * kaiser(t/half, tpBeta)
			taps[p-1][j] = v
			sum += v
		}
		for j := range tpTaps {
			taps[p-1][j] /= sum // unity gain at DC
		}
	}
	return taps
}

// sinc is the normalised sinc, sin(πx)/(πx).
func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// kaiser is the Kaiser window at x ∈ [−1, 1] (0 outside).
func kaiser(x, beta float64) float64 {
	if x < -1 || x > 1 {
		return 0
	}
	return bessel0(beta*math.Sqrt(1-x*x)) / bessel0(beta)
}

// bessel0 is the modified Bessel function of the first kind, order 0.
func bessel0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}
