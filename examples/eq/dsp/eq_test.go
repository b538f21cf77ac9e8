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
