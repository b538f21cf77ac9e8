package demoalbum

import (
	"math"
	"math/rand/v2"
)

// Rate is the sample rate of the synthesised piece.
const Rate = 44100

// Channels is the channel count of the synthesised piece (stereo).
const Channels = 2

// TotalSamples is the exact length of the piece in sample frames (≈60 s).
// It is odd, so it is a multiple of no power of two.
const TotalSamples = 2_645_999

// Cuts are the sample positions where track 2, 3 and 4 begin. They are
// primes, so no cut falls on a Vorbis block (64…8192) or Ogg page
// boundary, and the encoder must trim each track's last block exactly.
var Cuts = [3]int64{617_003, 1_299_709, 1_979_993}

// tempo and harmony of the piece.
const (
	bpm       = 96.0
	beatSec   = 60.0 / bpm
	barSec    = 4 * beatSec
	seedMelod = 0x5e9e
)

// progression is one chord per bar (MIDI notes of a close-voiced triad or
// seventh), looping: Cmaj7 – Am7 – Fmaj7 – G6 – Em7 – Am7 – Dm7 – G.
var progression = [][]int{
	{60, 64, 67, 71},
	{57, 60, 64, 67},
	{53, 57, 60, 64},
	{55, 59, 62, 64},
	{52, 55, 59, 62},
	{57, 60, 64, 67},
	{50, 53, 57, 60},
	{55, 59, 62, 67},
}

// scale is C major pentatonic over two octaves, for the melody.
var scale = []int{72, 74, 76, 79, 81, 84, 86, 88}

func midiHz(n int) float64 { return 440 * math.Pow(2, float64(n-69)/12) }

// note is one scheduled melody note.
type note struct {
	start, dur float64 // seconds
	hz, amp    float64
	pan        float64 // −1 left … +1 right
}

// melody builds the deterministic melody: eighth notes drawn from the
// pentatonic scale by a seeded random walk, with rests.
func melody(total float64) []note {
	r := rand.New(rand.NewPCG(seedMelod, 7))
	var out []note
	idx := 3
	for t := 4 * barSec; t < total-2*barSec; t += beatSec / 2 {
		if r.IntN(10) < 3 {
			continue // rest
		}
		idx += r.IntN(5) - 2
		idx = max(0, min(len(scale)-1, idx))
		dur := beatSec / 2 * float64(1+r.IntN(3))
		out = append(out, note{start: t, dur: dur, hz: midiHz(scale[idx]), amp: 0.10 + 0.04*r.Float64(), pan: 0.3*r.Float64() - 0.15})
	}
	return out
}

// Synthesize renders the whole piece: a continuous ≈60 s instrumental in
// C major at 96 bpm with pads, bass, a melody and soft percussion, with a
// fade-in and fade-out only at the very ends, so a gap at any cut is
// audible. It returns interleaved stereo float32 frames at Rate, exactly
// TotalSamples frames, owned by the caller. The output is deterministic.
func Synthesize() []float32 {
	n := TotalSamples
	total := float64(n) / Rate
	out := make([]float32, n*Channels)
	mel := melody(total)
	noise := rand.New(rand.NewPCG(0xbeef, 11))
	// One-pole low-pass state for the hi-hat noise (high-passed by difference).
	var hatPrev float64
	mi := 0
	for i := range n {
		t := float64(i) / Rate
		bar := int(t / barSec)
		chord := progression[bar%len(progression)]
		inBar := t - float64(bar)*barSec
		beat := int(inBar / beatSec)
		inBeat := inBar - float64(beat)*beatSec

		// Pads: each chord tone as a soft sine pair detuned left/right, with
		// a cross-fade between bars so chord changes are smooth.
		var l, r float64
		xf := math.Min(1, inBar/0.4)
		prevChord := progression[(bar+len(progression)-1)%len(progression)]
		for k := range 4 {
			for _, c := range []struct {
				note int
				g    float64
			}{{chord[k], xf}, {prevChord[k], 1 - xf}} {
				if c.g == 0 {
					continue
				}
				hz := midiHz(c.note)
				a := 0.045 * c.g
				l += a * (math.Sin(2*math.Pi*hz*0.998*t) + 0.3*math.Sin(2*math.Pi*2*hz*t))
				r += a * (math.Sin(2*math.Pi*hz*1.002*t) + 0.3*math.Sin(2*math.Pi*2*hz*t+0.5))
			}
		}

		// Bass: the chord root two octaves down, plucked on beats 1 and 3.
		if beat%2 == 0 || inBeat < beatSec {
			root := midiHz(chord[0] - 24)
			pt := inBar - float64(beat/2*2)*beatSec
			env := math.Exp(-pt * 2.2)
			b := 0.22 * env * (math.Sin(2*math.Pi*root*t) + 0.25*math.Sin(2*math.Pi*2*root*t))
			l += b
			r += b
		}

		// Melody: sine with a gentle vibrato and attack/release envelope.
		for mi < len(mel) && mel[mi].start+mel[mi].dur+0.3 < t {
			mi++
		}
		for j := mi; j < len(mel) && mel[j].start <= t; j++ {
			m := mel[j]
			nt := t - m.start
			env := math.Min(1, nt/0.02) * math.Exp(-nt*1.5)
			if nt > m.dur {
				env *= math.Exp(-(nt - m.dur) * 12)
			}
			v := m.amp * env * (math.Sin(2*math.Pi*m.hz*nt+0.6*math.Sin(2*math.Pi*5*nt)) + 0.2*math.Sin(2*math.Pi*3*m.hz*nt))
			l += v * (1 - m.pan)
			r += v * (1 + m.pan)
		}

		// Percussion: a soft kick on beats 1 and 3, a hi-hat on every
		// eighth note, both quiet.
		if beat%2 == 0 && inBeat < 0.25 {
			f := 50 + 70*math.Exp(-inBeat*30)
			k := 0.28 * math.Exp(-inBeat*14) * math.Sin(2*math.Pi*f*inBeat)
			l += k
			r += k
		}
		inEighth := math.Mod(inBar, beatSec/2)
		w := noise.Float64()*2 - 1
		hat := w - hatPrev
		hatPrev = w
		if inEighth < 0.06 {
			h := 0.025 * math.Exp(-inEighth*70) * hat
			l += 0.8 * h
			r += 1.2 * h
		}

		// Fades at the piece's ends only.
		g := math.Min(1, t/1.5) * math.Min(1, (total-t)/3)
		out[2*i] = float32(0.85 * g * math.Tanh(1.5*l))
		out[2*i+1] = float32(0.85 * g * math.Tanh(1.5*r))
	}
	return out
}

// Split cuts the interleaved piece at Cuts into the four tracks' sample
// slices (aliasing piece).
func Split(piece []float32) [4][]float32 {
	var tracks [4][]float32
	bounds := []int64{0, Cuts[0], Cuts[1], Cuts[2], int64(len(piece) / Channels)}
	for i := range 4 {
		tracks[i] = piece[bounds[i]*Channels : bounds[i+1]*Channels]
	}
	return tracks
}
