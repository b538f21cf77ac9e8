package features

import (
	"errors"
	"math"
	"testing"

	"github.com/segue-fm/segue/core/model"
)

const rate = 44100

// clicks returns seconds of a click track at bpm: a 10 ms decaying
// 2 kHz burst on every beat, stereo.
func clicks(bpm, seconds float64) []float32 {
	n := int(seconds * rate)
	out := make([]float32, 2*n)
	period := 60 / bpm * rate
	for b := 0.0; b < float64(n); b += period {
		start := int(math.Round(b))
		for i := 0; i < rate/100 && start+i < n; i++ {
			v := float32(0.8 * math.Exp(-float64(i)/80) * math.Sin(2*math.Pi*2000*float64(i)/rate))
			out[2*(start+i)], out[2*(start+i)+1] = v, v
		}
	}
	return out
}

// tones returns a mono sum of sines at freqs, each of amplitude amp.
func tones(seconds, amp float64, freqs ...float64) []float32 {
	out := make([]float32, int(seconds*rate))
	for i := range out {
		var s float64
		for _, f := range freqs {
			s += amp * math.Sin(2*math.Pi*f*float64(i)/rate)
		}
		out[i] = float32(s)
	}
	return out
}

func extract(t *testing.T, channels int, pcm []float32, chunk int) model.AudioFeatures {
	t.Helper()
	e, err := New(rate, channels)
	if err != nil {
		t.Fatal(err)
	}
	for len(pcm) > 0 {
		n := min(chunk*channels, len(pcm))
		e.Write(pcm[:n])
		pcm = pcm[n:]
	}
	return e.Result()
}

func TestTempoClickTrack(t *testing.T) {
	for _, bpm := range []float64{120, 90, 140} {
		f := extract(t, 2, clicks(bpm, 30), 4096)
		if math.Abs(f.TempoBPM-bpm) > 1 {
			t.Errorf("%g BPM click track: tempo %.2f, want %g ± 1", bpm, f.TempoBPM, bpm)
		}
		if f.BeatStrength < 0.5 {
			t.Errorf("%g BPM click track: beat strength %.2f, want ≥ 0.5", bpm, f.BeatStrength)
		}
		if want := bpm / 60; math.Abs(f.OnsetRate-want) > 0.1*want {
			t.Errorf("%g BPM click track: %.2f onsets/s, want %.2f ± 10 %%", bpm, f.OnsetRate, want)
		}
	}
}

func TestKeyChords(t *testing.T) {
	midi := func(n int) float64 { return 440 * math.Pow(2, float64(n-69)/12) }
	for _, tc := range []struct {
		name  string
		notes []int
		key   int
		minor bool
	}{
		{"A major (A3 C#4 E4 A4)", []int{57, 61, 64, 69}, 9, false},
		{"C major (C4 E4 G4)", []int{60, 64, 67}, 0, false},
		{"A minor (A3 C4 E4)", []int{57, 60, 64}, 9, true},
	} {
		var fs []float64
		for _, n := range tc.notes {
			fs = append(fs, midi(n))
		}
		f := extract(t, 1, tones(5, 0.2, fs...), 1000)
		if f.Key != tc.key || f.Minor != tc.minor {
			t.Errorf("%s: key %d minor=%v (r=%.2f), want %d minor=%v", tc.name, f.Key, f.Minor, f.KeyStrength, tc.key, tc.minor)
		}
	}
}

func TestSineCentroidAndEnergy(t *testing.T) {
	for _, hz := range []float64{440, 1000, 5000} {
		f := extract(t, 1, tones(3, 0.5, hz), 777)
		if math.Abs(f.CentroidHz-hz) > 0.02*hz {
			t.Errorf("%g Hz sine: centroid %.1f Hz, want within 2 %%", hz, f.CentroidHz)
		}
		if want := 0.5 / math.Sqrt2; math.Abs(f.Energy-want) > 1e-3 {
			t.Errorf("%g Hz sine: energy %.4f, want %.4f", hz, f.Energy, want)
		}
		if f.TempoBPM != 0 && f.BeatStrength > 0.3 {
			t.Errorf("%g Hz steady sine: tempo %.1f with beat strength %.2f, want no pulse", hz, f.TempoBPM, f.BeatStrength)
		}
	}
}

func TestChunkingInvariant(t *testing.T) {
	pcm := clicks(128, 8)
	a := extract(t, 2, pcm, 1<<20)
	b := extract(t, 2, pcm, 333)
	if a != b {
		t.Errorf("one write %+v, chunks of 333 frames %+v", a, b)
	}
}

func TestSilenceAndEmpty(t *testing.T) {
	for name, pcm := range map[string][]float32{"silence": make([]float32, 2*rate), "empty": nil} {
		if f := extract(t, 2, pcm, 1000); f != (model.AudioFeatures{}) {
			t.Errorf("%s: %+v, want zero features", name, f)
		}
	}
}

func TestNewFormat(t *testing.T) {
	for _, tc := range []struct{ rate, ch int }{{MinRate - 1, 2}, {MaxRate + 1, 2}, {44100, 0}, {44100, MaxChannels + 1}} {
		if _, err := New(tc.rate, tc.ch); !errors.Is(err, ErrFormat) {
			t.Errorf("New(%d, %d): err = %v, want ErrFormat", tc.rate, tc.ch, err)
		}
	}
}

// BenchmarkExtract measures feature extraction over 14 s of 44.1 kHz
// stereo, the length of the master BenchmarkIngest (server/ingest) uses,
// so the two compare directly (issue 14: features add ≤ 20 % to ingest).
func BenchmarkExtract(b *testing.B) {
	pcm := clicks(120, 14)
	b.SetBytes(int64(4 * len(pcm)))
	for b.Loop() {
		e, err := New(rate, 2)
		if err != nil {
			b.Fatal(err)
		}
		for p := pcm; len(p) > 0; {
			n := min(8192, len(p))
			e.Write(p[:n])
			p = p[n:]
		}
		e.Result()
	}
}
