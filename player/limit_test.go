package player

import (
	"encoding/binary"
	"fmt"
	"math"
	"os/exec"
	"testing"

	"github.com/segue-fm/segue/internal/testtool"
)

// soxMono renders a sox synth effect (args) as mono 32-bit float frames
// at 44.1 kHz.
func soxMono(t *testing.T, sox string, secs float64, args ...string) []float32 {
	t.Helper()
	cmd := exec.Command(sox, append([]string{"-R", "-n", "-r", "44100", "-c", "1", "-b", "32", "-e", "floating-point", "-t", "raw", "-",
		"synth", fmt.Sprint(secs)}, args...)...)
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("sox: %v", err)
	}
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}

// A crossfade never leaves full scale: the equal-power sum of two
// full-scale tracks (sox) passes a peak limiter, which only lowers
// samples and has let go by the fade's end. A fade whose plain sum stays
// within full scale is bit-identical to the plain equal-power curve, and
// so is everything outside the fade. Before, the sum of two full-scale
// sines peaked at 1.41, clipped by every sink.
func TestCrossfadeNeverClips(t *testing.T) {
	sox := testtool.Need(t, "sox")
	const rate, fade = 44100, 2 * 44100
	tests := []struct {
		name  string
		a, b  []string // sox synth arguments
		quiet bool     // the plain sum stays within full scale: unchanged
	}{
		{"full-scale sines", []string{"sine", "440", "gain", "-n"}, []string{"sine", "441", "gain", "-n"}, false},
		{"full-scale squares", []string{"square", "100", "gain", "-n"}, []string{"square", "100", "gain", "-n"}, false},
		{"full-scale noise", []string{"whitenoise", "gain", "-n"}, []string{"pinknoise", "gain", "-n"}, false},
		{"sines at -3.1 dBFS", []string{"sine", "440", "gain", "-n", "-3.1"}, []string{"sine", "441", "gain", "-n", "-3.1"}, true},
		{"noise at -10 dBFS", []string{"whitenoise", "gain", "-n", "-10"}, []string{"brownnoise", "gain", "-n", "-10"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := soxMono(t, sox, 5, tc.a...), soxMono(t, sox, 5, tc.b...)
			m := NewMixer(1)
			m.Play(NewSliceStream(a, 1))
			m.Enqueue(NewSliceStream(b, 1), fade)
			out := drainMixer(t, m, 1000, 1)
			if len(out) != len(a)+len(b)-fade {
				t.Fatalf("%d frames, want %d", len(out), len(a)+len(b)-fade)
			}
			start := len(a) - fade
			var peak, plainPeak float64
			for i := range fade {
				theta := math.Pi / 2 * (float64(i) + 0.5) / float64(fade)
				plain := a[start+i]*float32(math.Cos(theta)) + b[i]*float32(math.Sin(theta))
				got := out[start+i]
				plainPeak = max(plainPeak, math.Abs(float64(plain)))
				peak = max(peak, math.Abs(float64(got)))
				switch {
				case tc.quiet && got != plain:
					t.Fatalf("fade frame %d: %v, want %v (within full scale, unchanged)", i, got, plain)
				case math.Abs(float64(got)) > math.Abs(float64(plain)) || got*plain < 0:
					t.Fatalf("fade frame %d: %v from %v: the limiter only lowers", i, got, plain)
				case i == fade-1 && math.Abs(float64(plain)) <= 1 && got != plain:
					t.Fatalf("last fade frame: %v, want %v (the limiter let go)", got, plain)
				}
			}
			if peak > 1 {
				t.Errorf("peak %.4f in the fade (%.4f without the limiter), want ≤ 1", peak, plainPeak)
			}
			if tc.quiet != (plainPeak <= 1) {
				t.Fatalf("the plain fade peaks at %.4f: the case does not test what it says", plainPeak)
			}
			for i := range start {
				if out[i] != a[i] {
					t.Fatalf("frame %d before the fade changed", i)
				}
			}
			for i := fade; i < len(b); i++ {
				if out[start+i] != b[i] {
					t.Fatalf("frame %d of the next track after the fade changed", i)
				}
			}
		})
	}
}
