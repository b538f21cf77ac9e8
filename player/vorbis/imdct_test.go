package vorbis

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestIMDCTMatchesDefinition checks the FFT-based IMDCT against the
// O(n²) definition for every legal block size up to 2048.
func TestIMDCTMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{64, 128, 256, 512, 1024, 2048} {
		m := n / 2
		x := make([]float32, m)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		first, second := make([]float32, m), make([]float32, m)
		in := append([]float32(nil), x...)
		newIMDCT(n).inverse(newIMDCTWork(n), in, first, second)
		y := append(first, second...)
		maxErr := 0.0
		for j := range n {
			want := 0.0
			for k := range m {
				want += float64(x[k]) * math.Cos(2*math.Pi/float64(n)*(float64(j)+0.5+float64(n)/4)*(float64(k)+0.5))
			}
			maxErr = max(maxErr, math.Abs(want-float64(y[j])))
		}
		if maxErr > 1e-4 {
			t.Errorf("n=%d: max error %g", n, maxErr)
		}
	}
}
