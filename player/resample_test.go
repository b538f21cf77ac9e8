package player

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func sine(rate, channels, frames int, freq, amp float64) []float32 {
	out := make([]float32, frames*channels)
	for i := 0; i < frames; i++ {
		v := float32(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
		for c := 0; c < channels; c++ {
			out[i*channels+c] = v
		}
	}
	return out
}

func resampleAll(t testing.TB, in []float32, from, to, ch int) []float32 {
	r, err := NewResampler(from, to, ch)
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Write(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	return r.Flush(out)
}

var ratios = []struct{ from, to int }{
	{16000, 44100}, {16000, 48000}, {22050, 44100}, {44100, 48000}, {48000, 44100}, {44100, 16000}, {8000, 44100}, {44100, 44100},
}

func TestResampleSplitEqualsWhole(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	in := make([]float32, 2*20000)
	for i := range in {
		in[i] = float32(rng.NormFloat64() * 0.3)
	}
	for _, rt := range ratios {
		t.Run(fmt.Sprintf("%d-%d", rt.from, rt.to), func(t *testing.T) {
			whole := resampleAll(t, in, rt.from, rt.to, 2)
			for seed := uint64(0); seed < 4; seed++ {
				r, _ := NewResampler(rt.from, rt.to, 2)
				sr := rand.New(rand.NewPCG(seed, 1))
				var out []float32
				for rest := in; len(rest) > 0; {
					n := 2 * min(len(rest)/2, sr.IntN(3000))
					var err error
					if out, err = r.Write(out, rest[:n]); err != nil {
						t.Fatal(err)
					}
					rest = rest[n:]
				}
				out = r.Flush(out)
				if !slices.Equal(out, whole) {
					t.Fatalf("seed %d: split output differs (len %d vs %d)", seed, len(out), len(whole))
				}
			}
		})
	}
}

func TestResampleExactLength(t *testing.T) {
	for _, rt := range ratios {
		r, _ := NewResampler(rt.from, rt.to, 1)
		for _, n := range []int64{0, 1, 2, 159, 160, 161, 1000, 12345} {
			out, _ := r.Write(nil, make([]float32, n))
			out = r.Flush(out)
			want := (n*int64(rt.to) + int64(rt.from) - 1) / int64(rt.from)
			if int64(len(out)) != want || r.OutFrames(n) != want {
				t.Errorf("%d→%d, %d in: %d out (OutFrames %d), want %d", rt.from, rt.to, n, len(out), r.OutFrames(n), want)
			}
		}
	}
}

func TestResampleNoDriftLongRun(t *testing.T) {
	// 10 minutes of 16 kHz (the low tier) to 44.1 kHz, in 1-chunk writes:
	// the output count after every write is exactly what the elapsed input
	// determines, and the total is exact.
	r, _ := NewResampler(16000, 44100, 1)
	buf := make([]float32, 16000)
	var out []float32
	var total int64
	for i := 0; i < 600; i++ {
		out, _ = r.Write(out[:0], buf)
		total += int64(len(out))
		in := int64(i+1) * 16000
		// Every output whose input window is complete has been emitted.
		if lo := r.OutFrames(in - int64(r.Latency())); total < lo-1 || total > r.OutFrames(in) {
			t.Fatalf("after %d s: %d out, want in [%d, %d]", i+1, total, lo-1, r.OutFrames(in))
		}
	}
	out = r.Flush(out[:0])
	total += int64(len(out))
	if total != 600*44100 {
		t.Fatalf("10 min: %d frames, want %d", total, 600*44100)
	}
}

// goertzel returns the amplitude of frequency f in x (mono) at rate.
func goertzel(x []float32, rate int, f float64) float64 {
	w := 2 * math.Pi * f / float64(rate)
	var s1, s2 float64
	c := 2 * math.Cos(w)
	// Hann window for leakage control.
	n := len(x)
	for i, v := range x {
		h := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
		s := float64(v)*h + c*s1 - s2
		s2, s1 = s1, s
	}
	p := s1*s1 + s2*s2 - c*s1*s2
	return 2 * math.Sqrt(math.Max(p, 0)) / (float64(n) * 0.5)
}

func TestResampleFrequencyResponse(t *testing.T) {
	cases := []struct {
		name       string
		from, to   int
		freq       float64
		wantDB     float64 // expected level of freq in the output
		spur       float64 // a frequency that must be absent (image or alias)
		maxSpurDBc float64
	}{
		{"16k→44.1k passband 1k", 16000, 44100, 1000, 0, 15000, -80},
		{"16k→44.1k passband 6k, image at 10k", 16000, 44100, 6000, 0, 10000, -80},
		{"16k→48k 3k, image at 13k", 16000, 48000, 3000, 0, 13000, -80},
		{"44.1k→48k 15k", 44100, 48000, 15000, 0, 48000 - 15000 - 4100, -80},
		{"48k→44.1k 18k", 48000, 44100, 18000, 0, 9000, -80},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := sine(c.from, 1, 2*c.from, c.freq, 0.5)
			out := resampleAll(t, in, c.from, c.to, 1)
			mid := out[len(out)/4 : 3*len(out)/4]
			got := 20 * math.Log10(goertzel(mid, c.to, c.freq)/0.5)
			if math.Abs(got-c.wantDB) > 0.02 {
				t.Errorf("level at %g Hz = %.3f dB, want %.3f", c.freq, got, c.wantDB)
			}
			spur := 20 * math.Log10(goertzel(mid, c.to, c.spur)/0.5)
			if spur > c.maxSpurDBc {
				t.Errorf("spur at %g Hz = %.1f dBc, want ≤ %.0f", c.spur, spur, c.maxSpurDBc)
			}
		})
	}
	// Downsampling rejects content above the new Nyquist: 12 kHz at
	// 44.1 kHz would alias to 4 kHz at 16 kHz.
	out := resampleAll(t, sine(44100, 1, 88200, 12000, 0.5), 44100, 16000, 1)
	mid := out[len(out)/4 : 3*len(out)/4]
	if a := 20 * math.Log10(goertzel(mid, 16000, 4000)/0.5); a > -80 {
		t.Errorf("alias at 4 kHz = %.1f dBc, want ≤ -80", a)
	}
	// 23 kHz at 48 kHz would alias to 21.1 kHz at 44.1 kHz.
	out = resampleAll(t, sine(48000, 1, 96000, 23000, 0.5), 48000, 44100, 1)
	mid = out[len(out)/4 : 3*len(out)/4]
	if a := 20 * math.Log10(goertzel(mid, 44100, 21100)/0.5); a > -80 {
		t.Errorf("alias at 21.1 kHz = %.1f dBc, want ≤ -80", a)
	}
}

func TestResampleMatchesIdealSine(t *testing.T) {
	// The low tier's resampled output approximates the ideal signal at the
	// output rate to better than −80 dB (away from the stream edges).
	in := sine(16000, 2, 16000, 440, 0.5)
	out := resampleAll(t, in, 16000, 44100, 2)
	ideal := sine(44100, 2, 44100, 440, 0.5)
	if len(out) != len(ideal) {
		t.Fatalf("len %d, want %d", len(out), len(ideal))
	}
	var errMax float64
	for i := 2000; i < len(out)-2000; i++ {
		errMax = math.Max(errMax, math.Abs(float64(out[i]-ideal[i])))
	}
	if db := 20 * math.Log10(errMax/0.5); db > -80 {
		t.Errorf("max error %.1f dB relative to the signal", db)
	}
}

func TestResamplePassthrough(t *testing.T) {
	in := sine(44100, 2, 1000, 440, 0.5)
	out := resampleAll(t, in, 44100, 44100, 2)
	if !slices.Equal(in, out) {
		t.Fatal("equal rates changed the signal")
	}
}

func TestResampleErrors(t *testing.T) {
	for _, c := range []struct{ from, to, ch int }{{999, 44100, 2}, {44100, 800000, 2}, {44100, 48000, 0}, {44100, 48001, 1}} {
		if _, err := NewResampler(c.from, c.to, c.ch); !errors.Is(err, ErrFormat) {
			t.Errorf("NewResampler(%d, %d, %d) err = %v", c.from, c.to, c.ch, err)
		}
	}
	r, _ := NewResampler(16000, 44100, 2)
	if _, err := r.Write(nil, make([]float32, 3)); !errors.Is(err, ErrFormat) {
		t.Errorf("odd write err = %v", err)
	}
}

func TestResampleWriteDoesNotAllocate(t *testing.T) {
	r, _ := NewResampler(16000, 44100, 2)
	in := make([]float32, 2*1024)
	dst := make([]float32, 0, 2*4000)
	r.Write(dst, in)
	if a := testing.AllocsPerRun(50, func() { dst, _ = r.Write(dst[:0], in) }); a != 0 {
		t.Errorf("Write allocates %v per call", a)
	}
}

func BenchmarkResample(b *testing.B) {
	for _, rt := range []struct{ from, to int }{{16000, 44100}, {44100, 48000}, {48000, 44100}} {
		b.Run(fmt.Sprintf("%d-%d-stereo", rt.from, rt.to), func(b *testing.B) {
			r, _ := NewResampler(rt.from, rt.to, 2)
			in := sine(rt.from, 2, rt.from/10, 440, 0.5)
			dst := make([]float32, 0, 2*rt.to/5)
			b.SetBytes(int64(len(in) * 4))
			for b.Loop() {
				dst, _ = r.Write(dst[:0], in)
			}
			b.ReportMetric(float64(b.N)*0.1/b.Elapsed().Seconds(), "x-realtime")
		})
	}
}

func ExampleResampler() {
	// The low tier (16 kHz) to a 44.1 kHz device, one second in two writes.
	r, err := NewResampler(16000, 44100, 2)
	if err != nil {
		panic(err)
	}
	half := make([]float32, 2*8000)
	out, _ := r.Write(nil, half)
	out, _ = r.Write(out, half)
	out = r.Flush(out)
	fmt.Println(len(out) / 2)
	// Output: 44100
}

// TestFilterBankCache checks that resamplers of a rate pair share one
// bank, equal to a freshly computed one, that a bank above
// maxCachedBankTaps is not kept, and that the cache holds at most
// maxCachedBanks pairs.
func TestFilterBankCache(t *testing.T) {
	for _, tc := range []struct {
		in, out int
		kept    bool
	}{
		{44100, 48000, true},
		{48000, 44100, true},
		{22050, 96000, true},
		{192000, 8000, true},
		{16388, 4000, false}, // 1,000 phases of 264 taps
	} {
		t.Run(fmt.Sprintf("%d-%d", tc.in, tc.out), func(t *testing.T) {
			a, err := NewResampler(tc.in, tc.out, 2)
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewResampler(tc.in, tc.out, 1)
			if err != nil {
				t.Fatal(err)
			}
			want, taps := makeBank(tc.in, tc.out, a.l)
			if taps != a.taps || !slices.Equal(a.bank, want) || !slices.Equal(b.bank, want) {
				t.Fatalf("bank differs from a freshly computed one (taps %d, want %d)", a.taps, taps)
			}
			if shared := &a.bank[0] == &b.bank[0]; shared != tc.kept {
				t.Fatalf("banks shared: %v, want %v (%d coefficients)", shared, tc.kept, len(want))
			}
		})
	}
	for r := range 2 * maxCachedBanks {
		if _, err := NewResampler(1000*(8+r), 48000, 1); err != nil {
			t.Fatal(err)
		}
	}
	banks.mu.Lock()
	n := len(banks.m)
	banks.mu.Unlock()
	if n > maxCachedBanks {
		t.Fatalf("%d banks kept, at most %d", n, maxCachedBanks)
	}
}

// TestResampleNeeds: writing the frames Needs(T) asks for brings the
// output to T frames, one frame fewer does not, and it asks for nothing
// once the output is there.
func TestResampleNeeds(t *testing.T) {
	for _, tc := range []struct{ in, out int }{{44100, 48000}, {48000, 44100}, {44100, 44100}, {22050, 96000}, {96000, 8000}} {
		for _, target := range []int64{outFramesBefore(t, tc.in, tc.out) + 1, 1024, 5000} {
			t.Run(fmt.Sprintf("%d-%d/%d", tc.in, tc.out, target), func(t *testing.T) {
				r, err := NewResampler(tc.in, tc.out, 2)
				if err != nil {
					t.Fatal(err)
				}
				var out []float32
				if _, err := r.Write(nil, make([]float32, 2*100)); err != nil {
					t.Fatal(err)
				}
				n := r.Needs(target)
				if n < 1 {
					t.Fatalf("Needs(%d) = %d after 100 frames", target, n)
				}
				in := sine(tc.in, 2, int(n), 440, 0.5)
				if out, err = r.Write(nil, in[:len(in)-2]); err != nil {
					t.Fatal(err)
				}
				if got := r.Needs(target); got != 1 {
					t.Fatalf("one frame short: Needs %d, want 1", got)
				}
				produced := int64(len(out)/2) + outFramesBefore(t, tc.in, tc.out)
				if produced >= target {
					t.Fatalf("%d frames out one input frame short of Needs, want < %d", produced, target)
				}
				if out, err = r.Write(out, in[len(in)-2:]); err != nil {
					t.Fatal(err)
				}
				if produced = int64(len(out)/2) + outFramesBefore(t, tc.in, tc.out); produced < target {
					t.Fatalf("%d frames out after Needs' frames, want ≥ %d", produced, target)
				}
				if got := r.Needs(target); got != 0 {
					t.Fatalf("Needs %d once the output is there", got)
				}
			})
		}
	}
}

// outFramesBefore is the output of a fresh resampler after 100 input
// frames (the prefix TestResampleNeeds writes first).
func outFramesBefore(t *testing.T, in, out int) int64 {
	r, err := NewResampler(in, out, 2)
	if err != nil {
		t.Fatal(err)
	}
	o, err := r.Write(nil, make([]float32, 2*100))
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(o) / 2)
}
