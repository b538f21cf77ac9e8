package player

import (
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/segue-fm/segue/core/model"
)

func noise(rng *rand.Rand, frames, channels int) []float32 {
	out := make([]float32, frames*channels)
	for i := range out {
		out[i] = float32(rng.NormFloat64() * 0.1)
	}
	return out
}

// drain reads the mixer to EOF in blocks of the given frame count.
func drainMixer(t *testing.T, m *Mixer, block, channels int) []float32 {
	t.Helper()
	var out []float32
	buf := make([]float32, block*channels)
	for {
		n, err := m.Read(buf)
		out = append(out, buf[:n*channels]...)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestMixerGaplessEqualsContinuous(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	whole := noise(rng, 100003, 2)
	cuts := []int{0, 17, 44100, 44101, 70000, 100003}
	for _, block := range []int{1, 64, 1000, 4096, 200000} {
		// Enqueue holds one next stream: queue the following one as soon as
		// a transition happens, as the pipeline's pre-decoder does, and
		// never ask for more than the two queued streams hold.
		m := NewMixer(2)
		var out []float32
		buf := make([]float32, block*2)
		k := 0
		m.Play(NewSliceStream(whole[2*cuts[0]:2*cuts[1]], 2))
		k = 1
		for {
			if m.next == nil && k+1 < len(cuts) {
				m.Enqueue(NewSliceStream(whole[2*cuts[k]:2*cuts[k+1]], 2), 0)
				k++
			}
			req := m.cur.Remaining()
			if m.next != nil {
				req += m.next.Remaining()
			}
			req = max(1, min(req, int64(block)))
			n, err := m.Read(buf[:2*req])
			out = append(out, buf[:n*2]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !slices.Equal(out, whole) {
			t.Fatalf("block %d: concatenation differs from the continuous signal (len %d vs %d)", block, len(out), len(whole))
		}
	}
}

func TestMixerCrossfadeEqualPower(t *testing.T) {
	const rate, fadeSec = 8000, 3
	rng := rand.New(rand.NewPCG(9, 9))
	a := noise(rng, 10*rate, 1)
	b := noise(rng, 10*rate, 1)
	m := NewMixer(1)
	m.Play(NewSliceStream(a, 1))
	m.Enqueue(NewSliceStream(b, 1), fadeSec*rate)
	out := drainMixer(t, m, 777, 1)
	if want := (20 - fadeSec) * rate; len(out) != want {
		t.Fatalf("length %d, want %d (overlap of %d frames)", len(out), want, fadeSec*rate)
	}
	if m.Switches() != 1 {
		t.Errorf("switches = %d", m.Switches())
	}
	// Before and after the fade the streams pass unchanged.
	if !slices.Equal(out[:7*rate], a[:7*rate]) || !slices.Equal(out[10*rate:], b[3*rate:]) {
		t.Fatal("audio outside the fade changed")
	}
	// Energy in 100 ms windows stays within ±1 dB of the input energy
	// (uncorrelated noise: cos² + sin² = 1), also across the fade.
	var ref float64
	for _, v := range a {
		ref += float64(v) * float64(v)
	}
	ref /= float64(len(a))
	for w := 0; w+rate/10 <= len(out); w += rate / 10 {
		var e float64
		for _, v := range out[w : w+rate/10] {
			e += float64(v) * float64(v)
		}
		e /= float64(rate / 10)
		if db := 10 * math.Log10(e/ref); math.Abs(db) > 1 {
			t.Fatalf("window at %.1f s: energy %.2f dB off", float64(w)/rate, db)
		}
	}
}

func TestMixerShortStreams(t *testing.T) {
	cases := []struct {
		name       string
		a, b, fade int
		wantLen    int
	}{
		{"fade longer than both", 100, 50, 1000, 100},
		{"fade longer than a", 100, 500, 300, 500},
		{"empty next", 100, 0, 50, 100},
		{"empty current", 0, 100, 50, 100},
		{"zero fade", 100, 100, 0, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := NewMixer(1)
			m.Play(NewSliceStream(make([]float32, c.a), 1))
			m.Enqueue(NewSliceStream(make([]float32, c.b), 1), int64(c.fade))
			if out := drainMixer(t, m, 33, 1); len(out) != c.wantLen {
				t.Errorf("len %d, want %d", len(out), c.wantLen)
			}
		})
	}
}

func TestNormalisationGain(t *testing.T) {
	l := func(i, tp float64) model.Loudness { return model.Loudness{IntegratedLUFS: i, TruePeakDBTP: tp} }
	cases := []struct {
		name         string
		track, album model.Loudness
		o            GainOptions
		want         float64
	}{
		{"loud master cut", l(-8, -0.1), model.Loudness{}, DefaultGainOptions(), -6},
		{"quiet master boosted", l(-20, -10), model.Loudness{}, DefaultGainOptions(), 6},
		{"boost limited by true peak", l(-20, -3), model.Loudness{}, DefaultGainOptions(), 2},
		{"max boost", l(-40, -30), model.Loudness{}, DefaultGainOptions(), 12},
		{"album mode", l(-10, -1), l(-12, -0.5), DefaultGainOptions().WithMode(GainAlbum), -2},
		{"album mode, another track holds the album peak", l(-10, -1), l(-13, 0.5), DefaultGainOptions().WithMode(GainAlbum), -1},
		{"album mode limited by the track's own peak", l(-11, -0.2), l(-16, -0.2), DefaultGainOptions().WithMode(GainAlbum), -0.8},
		{"album mode no album data", l(-10, -1), model.Loudness{}, DefaultGainOptions().WithMode(GainAlbum), -4},
		{"preamp then limit", l(-16, -4), model.Loudness{}, DefaultGainOptions().WithPreamp(3), 3},
		{"off", l(-30, -20), model.Loudness{}, DefaultGainOptions().WithMode(GainOff), 0},
		// A track without a measurement plays at unity gain; it was cut
		// 14 dB as if it measured 0 LUFS.
		{"track not measured", model.Loudness{}, model.Loudness{}, DefaultGainOptions(), 0},
		{"track not measured, pre-amp", model.Loudness{}, model.Loudness{}, DefaultGainOptions().WithPreamp(3), 0},
		{"track measurement not a number", l(math.NaN(), -3), model.Loudness{}, DefaultGainOptions(), 0},
		{"track measurement infinite", l(math.Inf(1), math.Inf(1)), model.Loudness{}, DefaultGainOptions(), 0},
		// In album mode the album's gain applies, limited by the album's
		// true peak (no track of it peaks higher).
		{"album mode, track not measured", model.Loudness{}, l(-20, -3), DefaultGainOptions().WithMode(GainAlbum), 2},
		{"album mode, neither measured", model.Loudness{}, model.Loudness{}, DefaultGainOptions().WithMode(GainAlbum), 0},
	}
	for _, c := range cases {
		if got := NormalisationGainDB(c.track, c.album, c.o); !(math.Abs(got-c.want) <= 1e-9) {
			t.Errorf("%s: %v dB, want %v", c.name, got, c.want)
		}
		// Nothing clips: the track's true peak after gain stays at or
		// below the ceiling, in every mode.
		if c.o.mode != GainOff && measured(c.track) && c.track.TruePeakDBTP+NormalisationGainDB(c.track, c.album, c.o) > PeakCeilingDBTP+1e-9 {
			t.Errorf("%s: peak above ceiling", c.name)
		}
	}
}

func TestFaderRampIsSmooth(t *testing.T) {
	f := NewFader(2, 1, 100)
	buf := make([]float32, 2*300)
	for i := range buf {
		buf[i] = 1
	}
	f.Apply(buf[:20])
	f.SetGain(0)
	f.Apply(buf[20:])
	for i := 0; i < 10; i++ {
		if buf[2*i] != 1 {
			t.Fatalf("frame %d changed before the ramp", i)
		}
	}
	for i := 11; i < 300; i++ {
		if d := buf[2*(i-1)] - buf[2*i]; d < 0 || d > 1.0/100+1e-6 {
			t.Fatalf("frame %d: step %v, want a monotone ramp of ≤ 1/100", i, d)
		}
		if buf[2*i] != buf[2*i+1] {
			t.Fatalf("frame %d: channels differ", i)
		}
	}
	if buf[2*110] != 0 || buf[599] != 0 || f.Gain() != 0 {
		t.Fatalf("ramp did not end at 0: %v %v", buf[2*110], f.Gain())
	}
}
