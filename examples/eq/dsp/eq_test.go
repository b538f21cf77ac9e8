package dsp_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/segue-fm/segue/examples/eq/dsp"
)

func TestSetParam(t *testing.T) {
	for _, tc := range []struct {
		key  string
		v    float64
		want error
	}{
		{"preamp", -3, nil},
		{"preamp", 25, dsp.ErrRange},
		{"band1", 6, nil},
		{"band10.gain", -24, nil},
		{"band10.gain", -24.5, dsp.ErrRange},
		{"band0", 1, dsp.ErrParam},
		{"band11", 1, dsp.ErrParam},
		{"band01", 1, dsp.ErrParam},
		{"band+1", 1, dsp.ErrParam},
		{"band3.width", 1, dsp.ErrParam},
		{"band3.freq", 22050, dsp.ErrRange},
		{"band3.freq", 0, dsp.ErrRange},
		{"band3.freq", 3000, nil},
		{"band3.q", 0.05, dsp.ErrRange},
		{"band3.q", 20, nil},
		{"band3", math.NaN(), dsp.ErrRange},
		{"band3", math.Inf(1), dsp.ErrRange},
		{"gain", 1, dsp.ErrParam},
	} {
		e, _ := dsp.New(44100, 2)
		if err := e.SetParam(tc.key, tc.v); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("SetParam(%q, %v) = %v, want %v", tc.key, tc.v, err, tc.want)
		}
	}
	if _, err := dsp.New(44100, 0); !errors.Is(err, dsp.ErrFormat) {
		t.Errorf("0 channels: %v", err)
	}
}

// The output does not depend on how the stream is split into blocks.
func TestBlockSplitInvariant(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, 2*30000)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 0.3)
		if i > 40000 {
			x[i] = 0 // silence: the state decays towards the flush threshold
		}
	}
	run := func(split func() int) []float32 {
		e, _ := dsp.New(48000, 2)
		for _, k := range []string{"band1", "band5", "band9"} {
			e.SetParam(k, 7)
		}
		e.SetParam("preamp", -2)
		y := append([]float32(nil), x...)
		for off := 0; off < len(y); {
			n := min(2*split(), len(y)-off)
			e.Process(y[off : off+n])
			off += n
		}
		return y
	}
	whole := run(func() int { return len(x) })
	for seed := range uint64(5) {
		r := rand.New(rand.NewPCG(seed, 1))
		got := run(func() int { return 1 + r.IntN(3000) })
		for i := range whole {
			if got[i] != whole[i] {
				t.Fatalf("seed %d: sample %d differs: %v vs %v", seed, i, got[i], whole[i])
			}
		}
	}
}

// reference is the equaliser written the plain way: sample by sample,
// each through the preamp and every active band in order.
type reference struct {
	ch     int
	g      float64
	coeffs []dsp.Coeffs
	state  [][][2]float64
}

func (r *reference) process(buf []float32) {
	for i := range buf {
		k := i % r.ch
		x := float64(buf[i]) * r.g
		for b, c := range r.coeffs {
			z := &r.state[k][b]
			y := c.B0*x + z[0]
			z[0] = c.B1*x - c.A1*y + z[1]
			z[1] = c.B2*x - c.A2*y
			x = y
		}
		buf[i] = float32(x)
	}
	for k := range r.state {
		for b := range r.state[k] {
			for j := range 2 {
				if math.Abs(r.state[k][b][j]) < 1e-100 {
					r.state[k][b][j] = 0
				}
			}
		}
	}
}

// Process (band by band, bands paired, conversions fused) gives exactly
// the plain sample-by-sample result, for any set of active bands, channel
// count and block split.
func TestProcessMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for trial := range 60 {
		ch := []int{1, 2, 2, 2, 3}[trial%5]
		const rate = 44100
		e, _ := dsp.New(rate, ch)
		ref := &reference{ch: ch, g: 1}
		if trial%3 != 0 {
			pre := float64(rng.IntN(13) - 6)
			e.SetParam("preamp", pre)
			if pre != 0 {
				ref.g = math.Pow(10, pre/20)
			}
		}
		for b := 1; b <= dsp.Bands; b++ {
			if rng.IntN(3) == 0 && trial != 59 {
				continue
			}
			gain := float64(rng.IntN(25) - 12)
			key := "band" + string(rune('0'+b%10))
			if b == 10 {
				key = "band10"
			}
			e.SetParam(key, gain)
			if gain != 0 {
				ref.coeffs = append(ref.coeffs, dsp.Peaking(dsp.Band{Freq: dsp.DefaultFreqs[b-1], GainDB: gain, Q: dsp.DefaultQ}, rate))
			}
		}
		ref.state = make([][][2]float64, ch)
		for k := range ref.state {
			ref.state[k] = make([][2]float64, len(ref.coeffs))
		}
		x := make([]float32, ch*5000)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 0.2)
		}
		got, want := append([]float32(nil), x...), append([]float32(nil), x...)
		for off := 0; off < len(x); {
			n := min(ch*(1+rng.IntN(1500)), len(x)-off)
			e.Process(got[off : off+n])
			ref.process(want[off : off+n])
			off += n
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("trial %d (%d channels, %d bands): sample %d is %v, the plain equaliser's %v", trial, ch, len(ref.coeffs), i, got[i], want[i])
			}
		}
	}
}
