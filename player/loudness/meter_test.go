package loudness

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/segue-fm/segue/internal/testtool"
)

// segment is a stretch of sine in every channel listed in amp (peak
// amplitude in dBFS per channel; NaN = silent channel).
type segment struct {
	seconds float64
	freq    float64
	dbfs    []float64
}

// synth renders segments as interleaved float32 at rate. Phase is
// continuous across segments.
func synth(rate int, segs ...segment) []float32 {
	var out []float32
	var n int
	for _, s := range segs {
		frames := int(math.Round(s.seconds * float64(rate)))
		for i := 0; i < frames; i++ {
			v := math.Sin(2 * math.Pi * s.freq * float64(n) / float64(rate))
			for _, db := range s.dbfs {
				if math.IsNaN(db) {
					out = append(out, 0)
					continue
				}
				out = append(out, float32(v*math.Pow(10, db/20)))
			}
			n++
		}
	}
	return out
}

func TestKWeighting48kMatchesBS1770Table(t *testing.T) {
	shelf, hp := kWeighting(48000)
	cases := []struct {
		name      string
		got, want float64
	}{
		{"shelf b0", shelf.b0, 1.53512485958697},
		{"shelf b1", shelf.b1, -2.69169618940638},
		{"shelf b2", shelf.b2, 1.19839281085285},
		{"shelf a1", shelf.a1, -1.69065929318241},
		{"shelf a2", shelf.a2, 0.73248077421585},
		{"hp b0", hp.b0, 1},
		{"hp b1", hp.b1, -2},
		{"hp b2", hp.b2, 1},
		{"hp a1", hp.a1, -1.99004745483398},
		{"hp a2", hp.a2, 0.99007225036621},
	}
	for _, c := range cases {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s = %.14f, want %.14f", c.name, c.got, c.want)
		}
	}
}

// response returns |H(f)|² in dB of the K-weighting cascade at rate.
func response(rate int, f float64) float64 {
	shelf, hp := kWeighting(rate)
	z := cmplx.Exp(complex(0, -2*math.Pi*f/float64(rate))) // z^-1
	h := func(b biquad) complex128 {
		num := complex(b.b0, 0) + complex(b.b1, 0)*z + complex(b.b2, 0)*z*z
		den := 1 + complex(b.a1, 0)*z + complex(b.a2, 0)*z*z
		return num / den
	}
	g := cmplx.Abs(h(shelf) * h(hp))
	return 20 * math.Log10(g)
}

func TestKWeightingResponseAnyRate(t *testing.T) {
	// The analogue prototype's response, sampled by the bilinear design at
	// every rate, must agree with the 48 kHz design well below Nyquist.
	ref := map[float64]float64{}
	freqs := []float64{20, 38, 100, 1000, 1681, 3000, 6000}
	for _, f := range freqs {
		ref[f] = response(48000, f)
	}
	for _, rate := range []int{16000, 22050, 32000, 44100, 88200, 96000, 192000} {
		for _, f := range freqs {
			if f > float64(rate)/8 {
				continue
			}
			got := response(rate, f)
			// Bilinear warping grows towards Nyquist; at ≤ fs/4 the shelf
			// stays within 0.1 dB of the 48 kHz design.
			if math.Abs(got-ref[f]) > 0.1 {
				t.Errorf("rate %d, %g Hz: %.3f dB, 48 kHz design %.3f dB", rate, f, got, ref[f])
			}
		}
	}
	if g := response(48000, 1000); math.Abs(g-0.691) > 0.01 {
		t.Errorf("gain at 1 kHz = %.4f dB, want 0.691 (the constant in BS.1770 eq. 2)", g)
	}
}

func TestIntegratedTech3341(t *testing.T) {
	nan := math.NaN()
	st := func(db float64) []float64 { return []float64{db, db} }
	cases := []struct {
		name  string
		rate  int
		segs  []segment
		want  float64
		tol   float64
		chans int
	}{
		{"case1 -23 dBFS stereo", 48000, []segment{{20, 1000, st(-23)}}, -23, 0.1, 2},
		{"case2 -33 dBFS stereo", 48000, []segment{{20, 1000, st(-33)}}, -33, 0.1, 2},
		// A −20 dBFS sine reads −20 LUFS in stereo and −23 LUFS in mono.
		{"-20 dBFS stereo 44.1k", 44100, []segment{{10, 1000, st(-20)}}, -20, 0.1, 2},
		{"-23 dBFS stereo 16k low tier", 16000, []segment{{10, 1000, st(-23)}}, -23, 0.1, 2},
		{"-23 dBFS stereo 22.05k", 22050, []segment{{10, 1000, st(-23)}}, -23, 0.1, 2},
		{"-23 dBFS stereo 96k", 96000, []segment{{5, 1000, st(-23)}}, -23, 0.1, 2},
		{"case3 relative gate", 48000, []segment{{10, 1000, st(-36)}, {60, 1000, st(-23)}, {10, 1000, st(-36)}}, -23, 0.1, 2},
		{"case4 absolute+relative gate", 48000, []segment{{10, 1000, st(-72)}, {10, 1000, st(-36)}, {60, 1000, st(-23)}, {10, 1000, st(-36)}, {10, 1000, st(-72)}}, -23, 0.1, 2},
		{"case5 level steps", 48000, []segment{{20, 1000, st(-26)}, {20.1, 1000, st(-20)}, {20, 1000, st(-26)}}, -23, 0.1, 2},
		{"mono -20 dBFS", 48000, []segment{{10, 1000, []float64{-20}}}, -23, 0.1, 1},
		// 5.1 SMPTE: LFE weight 0, surrounds 1.41 (+1.4922 dB).
		{"5.1 LFE ignored", 48000, []segment{{10, 1000, []float64{-23, -23, nan, 0, nan, nan}}}, -23, 0.1, 6},
		{"5.1 surrounds weighted", 48000, []segment{{10, 1000, []float64{nan, nan, nan, nan, -23, -23}}}, -23 + 10*math.Log10(1.41), 0.1, 6},
		{"silence", 48000, []segment{{5, 1000, st(nan)}}, AbsoluteGateLUFS, 0, 2},
		{"below absolute gate", 48000, []segment{{5, 1000, st(-75)}}, AbsoluteGateLUFS, 0, 2},
		{"shorter than one block", 48000, []segment{{0.3, 1000, st(-20)}}, AbsoluteGateLUFS, 0, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := Measure(synth(c.rate, c.segs...), c.rate, c.chans)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(l.IntegratedLUFS-c.want) > c.tol {
				t.Errorf("integrated = %.3f LUFS, want %.3f ± %.2f", l.IntegratedLUFS, c.want, c.tol)
			}
		})
	}
}

func TestMomentaryShortTerm(t *testing.T) {
	m, err := NewMeter(48000, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsInf(m.Momentary(), -1) || !math.IsInf(m.ShortTerm(), -1) {
		t.Fatal("empty meter reports a loudness")
	}
	m.Write(synth(48000, segment{4, 1000, []float64{-23, -23}}))
	if got := m.Momentary(); math.Abs(got+23) > 0.1 {
		t.Errorf("momentary = %.3f, want -23", got)
	}
	if got := m.ShortTerm(); math.Abs(got+23) > 0.1 {
		t.Errorf("short-term = %.3f, want -23", got)
	}
	// 1 s of -30 dBFS: the momentary window sees only it, the short-term
	// window mixes 2 s of -23 with 1 s of -33 LUFS.
	m.Write(synth(48000, segment{1, 1000, []float64{-33, -33}}))
	if got := m.Momentary(); math.Abs(got+33) > 0.1 {
		t.Errorf("momentary = %.3f, want -33", got)
	}
	want := 10 * math.Log10((2*math.Pow(10, -2.3)+math.Pow(10, -3.3))/3)
	if got := m.ShortTerm(); math.Abs(got-want) > 0.1 {
		t.Errorf("short-term = %.3f, want %.3f", got, want)
	}
}

func TestTruePeak(t *testing.T) {
	cases := []struct {
		name     string
		rate     int
		freq     float64
		phaseDeg float64
		dbfs     float64
		want     float64 // dBTP
	}{
		// fs/4 at 45°: samples at ±0.707 (−3.01 dBFS), true peak at 0 dBTP
		// between them (EBU Tech 3341 cases 15–23 style).
		{"fs/4 45deg 48k", 48000, 12000, 45, 0, 0},
		{"fs/4 45deg 44.1k -6", 44100, 11025, 45, -6, -6},
		{"fs/6 60deg", 48000, 8000, 60, -3, -3},
		{"fs/3 30deg", 48000, 16000, 30, -3, -3},
		{"0.45fs", 44100, 19845, 20, -1, -1},
		{"1k sine -20", 48000, 1000, 0, -20, -20},
		{"997 Hz 16k", 16000, 997, 10, -1, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			amp := math.Pow(10, c.dbfs/20)
			buf := make([]float32, 2*c.rate)
			for i := 0; i < c.rate; i++ {
				// A 10 ms raised-cosine fade-in and fade-out: an abrupt start
				// from silence overshoots (Gibbs), as it would in any meter.
				fade := min(1, float64(min(i, c.rate-1-i))/float64(c.rate/100))
				fade = 0.5 - 0.5*math.Cos(math.Pi*fade)
				v := float32(fade * amp * math.Sin(2*math.Pi*c.freq*float64(i)/float64(c.rate)+c.phaseDeg*math.Pi/180))
				buf[2*i], buf[2*i+1] = v, v
			}
			l, err := Measure(buf, c.rate, 2)
			if err != nil {
				t.Fatal(err)
			}
			// Tech 3341 tolerance for true peak: +0.2 / −0.4 dB.
			if d := l.TruePeakDBTP - c.want; d > 0.2 || d < -0.4 {
				t.Errorf("true peak = %.3f dBTP, want %.3f (+0.2/−0.4)", l.TruePeakDBTP, c.want)
			}
			m, _ := NewMeterWithOptions(c.rate, 2, DefaultOptions().WithTruePeak(false))
			m.Write(buf)
			var sp float64
			for _, s := range buf {
				sp = math.Max(sp, math.Abs(float64(s)))
			}
			if got, want := m.TruePeak(), 20*math.Log10(sp); got != want {
				t.Errorf("sample peak = %v, want %v", got, want)
			}
		})
	}
	// The last sample of a stream still gets its inter-sample points.
	l, _ := Measure([]float32{0, 0, 0, 0, 0.7071, 0.7071}, 48000, 1)
	if l.TruePeakDBTP < -2.9 {
		t.Errorf("tail peak %.3f dBTP ignores the final samples", l.TruePeakDBTP)
	}
	l, _ = Measure(make([]float32, 4800), 48000, 2)
	if l.TruePeakDBTP != SilenceDBTP {
		t.Errorf("silence peak = %v, want %v", l.TruePeakDBTP, SilenceDBTP)
	}
}

func TestWriteSplitEqualsWhole(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sig := synth(44100, segment{3, 440, []float64{-12, -18, -30}}, segment{2, 3000, []float64{-6, -40, -10}})
	for i := range sig {
		sig[i] += float32(rng.NormFloat64() * 0.01)
	}
	whole, _ := NewMeter(44100, 3)
	whole.Write(sig)
	for seed := uint64(0); seed < 5; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		m, _ := NewMeter(44100, 3)
		for rest := sig; len(rest) > 0; {
			n := min(len(rest), r.IntN(5000))
			m.Write(rest[:n])
			rest = rest[n:]
		}
		if m.Result() != whole.Result() || m.Frames() != whole.Frames() || m.ShortTerm() != whole.ShortTerm() {
			t.Fatalf("seed %d: split %+v, whole %+v", seed, m.Result(), whole.Result())
		}
	}
}

func TestFormatErrors(t *testing.T) {
	cases := []struct {
		rate, ch int
		opts     Options
	}{
		{7999, 2, DefaultOptions()},
		{768001, 2, DefaultOptions()},
		{48000, 0, DefaultOptions()},
		{48000, 65, DefaultOptions()},
		{48000, 2, DefaultOptions().WithWeights([]float64{1})},
		{48000, 2, DefaultOptions().WithWeights([]float64{1, math.NaN()})},
		{48000, 1, DefaultOptions().WithWeights([]float64{-1})},
	}
	for _, c := range cases {
		if _, err := NewMeterWithOptions(c.rate, c.ch, c.opts); !errors.Is(err, ErrFormat) {
			t.Errorf("NewMeter(%d, %d): err = %v, want ErrFormat", c.rate, c.ch, err)
		}
	}
	if _, err := Measure(make([]float32, 3), 48000, 2); !errors.Is(err, ErrFormat) {
		t.Errorf("Measure odd length: err = %v", err)
	}
}

func TestWriteDoesNotAllocate(t *testing.T) {
	m, _ := NewMeter(48000, 2)
	buf := synth(48000, segment{0.5, 1000, []float64{-20, -20}})
	if a := testing.AllocsPerRun(20, func() { m.Write(buf[:1001]) }); a != 0 {
		t.Errorf("Write allocates %v times per call", a)
	}
}

// ffmpegEBUR128 runs ffmpeg's ebur128 filter on raw interleaved float32 and
// returns integrated loudness and true peak from its summary.
func ffmpegEBUR128(t *testing.T, sig []float32, rate, channels int) (float64, float64) {
	t.Helper()
	bin := testtool.Need(t, "ffmpeg")
	var raw bytes.Buffer
	binary.Write(&raw, binary.LittleEndian, sig)
	cmd := exec.Command(bin, "-hide_banner", "-nostats", "-f", "f32le", "-ar", strconv.Itoa(rate), "-ac", strconv.Itoa(channels),
		"-i", "pipe:0", "-af", "ebur128=peak=true", "-f", "null", "-")
	cmd.Stdin = &raw
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	parse := func(re string) float64 {
		m := regexp.MustCompile(re).FindAllSubmatch(out, -1)
		if len(m) == 0 {
			t.Fatalf("no %q in ffmpeg output:\n%s", re, out)
		}
		v, err := strconv.ParseFloat(string(m[len(m)-1][1]), 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	return parse(`I:\s+(-?[0-9.]+) LUFS`), parse(`Peak:\s+(-?[0-9.]+) dBFS`)
}

func TestAgainstFFmpeg(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 42))
	noise := func(rate, channels int, seconds, db float64) []float32 {
		out := make([]float32, int(seconds*float64(rate))*channels)
		g := math.Pow(10, db/20)
		for i := range out {
			out[i] = float32(rng.NormFloat64() * g)
		}
		return out
	}
	// A "song": noise bursts at changing levels with pauses, exercising
	// both gates, plus an inter-sample peak.
	song := func(rate int) []float32 {
		var s []float32
		for i, db := range []float64{-30, -18, -60, -12, -24, -80} {
			s = append(s, noise(rate, 2, 1.5+float64(i)*0.3, db)...)
		}
		s = append(s, synth(rate, segment{0.5, float64(rate) / 4, []float64{-2, -2}})...)
		return s
	}
	cases := []struct {
		name           string
		sig            []float32
		rate, channels int
	}{
		{"sine 1k -20 stereo 48k", synth(48000, segment{5, 1000, []float64{-20, -20}}), 48000, 2},
		{"song 44.1k", song(44100), 44100, 2},
		{"song 48k", song(48000), 48000, 2},
		{"noise mono 32k", noise(32000, 1, 6, -20), 32000, 1},
		{"5.1 noise", noise(48000, 6, 5, -25), 48000, 6},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantI, wantTP := ffmpegEBUR128(t, c.sig, c.rate, c.channels)
			got, err := Measure(c.sig, c.rate, c.channels)
			if err != nil {
				t.Fatal(err)
			}
			// ffmpeg prints one decimal and resamples non-48 kHz input.
			if d := math.Abs(got.IntegratedLUFS - wantI); d > 0.15 {
				t.Errorf("integrated %.3f LUFS, ffmpeg %.1f", got.IntegratedLUFS, wantI)
			}
			if d := math.Abs(got.TruePeakDBTP - wantTP); d > 0.4 {
				t.Errorf("true peak %.3f dBTP, ffmpeg %.1f", got.TruePeakDBTP, wantTP)
			}
			t.Logf("ours I=%.2f TP=%.2f · ffmpeg I=%.1f TP=%.1f", got.IntegratedLUFS, got.TruePeakDBTP, wantI, wantTP)
		})
	}
}

// FuzzWrite feeds arbitrary float32 data, split at an arbitrary point, and
// checks the meter never panics, reports finite values, and that the split
// does not change the result.
func FuzzWrite(f *testing.F) {
	seed := synth(16000, segment{0.6, 1000, []float64{-3, -20}})
	var raw bytes.Buffer
	binary.Write(&raw, binary.LittleEndian, seed)
	f.Add(raw.Bytes(), uint16(1001), uint8(2))
	f.Add([]byte{0, 0, 0x80, 0x7f, 0, 0, 0xc0, 0x7f}, uint16(1), uint8(1)) // +Inf, NaN
	f.Fuzz(func(t *testing.T, data []byte, split uint16, channels uint8) {
		ch := int(channels%8) + 1
		sig := make([]float32, len(data)/4)
		for i := range sig {
			sig[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
		a, _ := NewMeter(16000, ch)
		b, _ := NewMeter(16000, ch)
		a.Write(sig)
		s := min(int(split), len(sig))
		b.Write(sig[:s])
		b.Write(sig[s:])
		ra, rb := a.Result(), b.Result()
		if ra != rb {
			t.Fatalf("split changes result: %+v vs %+v", ra, rb)
		}
		if math.IsNaN(ra.IntegratedLUFS) || math.IsInf(ra.IntegratedLUFS, 0) || math.IsNaN(ra.TruePeakDBTP) {
			t.Fatalf("non-finite result %+v", ra)
		}
	})
}

func ExampleMeasure() {
	// One second of a 1 kHz sine at −20 dBFS in both channels (EBU Tech
	// 3341: a −23 dBFS stereo sine reads −23 LUFS).
	buf := make([]float32, 2*48000)
	for i := 0; i < 48000; i++ {
		v := float32(0.1 * math.Sin(2*math.Pi*1000*float64(i)/48000))
		buf[2*i], buf[2*i+1] = v, v
	}
	l, err := Measure(buf, 48000, 2)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%.1f LUFS, %.1f dBTP\n", l.IntegratedLUFS, l.TruePeakDBTP)
	// Output: -20.0 LUFS, -20.0 dBTP
}

func ExampleMeter() {
	m, err := NewMeter(44100, 1)
	if err != nil {
		panic(err)
	}
	block := make([]float32, 4410) // 100 ms
	for k := 0; k < 30; k++ {
		for i := range block {
			block[i] = float32(0.5 * math.Sin(2*math.Pi*1000*float64(k*len(block)+i)/44100))
		}
		m.Write(block)
	}
	fmt.Printf("short-term %.1f LUFS, integrated %.1f LUFS\n", m.ShortTerm(), m.Result().IntegratedLUFS)
	// Output: short-term -9.0 LUFS, integrated -9.0 LUFS
}

func BenchmarkMeterWrite(b *testing.B) {
	for _, tp := range []bool{true, false} {
		b.Run(fmt.Sprintf("truepeak=%v", tp), func(b *testing.B) {
			m, _ := NewMeterWithOptions(44100, 2, DefaultOptions().WithTruePeak(tp))
			buf := synth(44100, segment{1, 1000, []float64{-20, -20}})
			b.SetBytes(int64(len(buf) * 4))
			b.ReportAllocs()
			for b.Loop() {
				m.Write(buf)
			}
			b.ReportMetric(float64(b.N)*1/b.Elapsed().Seconds(), "x-realtime")
		})
	}
}
