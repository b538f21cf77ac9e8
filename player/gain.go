package player

import (
	"errors"
	"fmt"
	"math"

	"github.com/segue-fm/segue/core/model"
)

// Loudness normalisation targets of DESIGN §3.
const (
	TargetLUFS      = -14.0 // playback level
	PeakCeilingDBTP = -1.0  // no sample or inter-sample peak above this
)

// GainMode selects which loudness measurement normalises playback.
type GainMode int

// Gain modes.
const (
	GainTrack GainMode = iota // each track to TargetLUFS
	GainAlbum                 // the album as a whole, keeping its dynamics between tracks
	GainOff                   // unity gain
)

// GainOptions configure NormalisationGainDB. Start from DefaultGainOptions.
type GainOptions struct {
	mode      GainMode
	preampDB  float64
	maxGainDB float64
}

// DefaultGainOptions returns track mode, 0 dB pre-amp and at most +12 dB of
// boost.
func DefaultGainOptions() GainOptions {
	return GainOptions{mode: GainTrack, maxGainDB: 12}
}

// ErrGainOptions is returned by New for GainOptions whose pre-amp or
// maximum boost is NaN: every sample would be NaN.
var ErrGainOptions = errors.New("player: bad gain options")

// validate refuses the options NormalisationGainDB cannot compute with.
func (o GainOptions) validate() error {
	if math.IsNaN(o.preampDB) || math.IsNaN(o.maxGainDB) {
		return fmt.Errorf("%w: pre-amp %v dB, maximum boost %v dB", ErrGainOptions, o.preampDB, o.maxGainDB)
	}
	return nil
}

// WithMode sets the gain mode (default GainTrack).
func (o GainOptions) WithMode(m GainMode) GainOptions { o.mode = m; return o }

// WithPreamp adds db to the normalisation gain before peak limiting
// (default 0; New refuses NaN with ErrGainOptions).
func (o GainOptions) WithPreamp(db float64) GainOptions { o.preampDB = db; return o }

// WithMaxGain caps the boost applied to quiet material (default +12 dB;
// New refuses NaN with ErrGainOptions).
func (o GainOptions) WithMaxGain(db float64) GainOptions { o.maxGainDB = db; return o }

// NormalisationGainDB returns the gain in dB for a track: TargetLUFS −
// integrated loudness (of the track, or of the album in GainAlbum mode when
// album is measured) plus the pre-amp, capped at the maximum boost and
// limited so that the track's true peak + gain ≤ PeakCeilingDBTP. In
// GainAlbum mode every track of an album thus gets the same gain, keeping
// the album's dynamics, except a track whose own peak would clip, which
// gets less. A loudness that is zero (not measured) or not finite is no
// measurement: a track without one plays at unity gain (0 dB, no pre-amp),
// or in GainAlbum mode at its album's gain limited by the album's true
// peak. Pure.
func NormalisationGainDB(track, album model.Loudness, o GainOptions) float64 {
	if o.mode == GainOff {
		return 0
	}
	l, peak := track, track.TruePeakDBTP
	switch {
	case o.mode == GainAlbum && measured(album):
		l = album
		if !measured(track) {
			peak = album.TruePeakDBTP
		}
	case !measured(track):
		return 0
	}
	g := TargetLUFS - l.IntegratedLUFS + o.preampDB
	g = math.Min(g, o.maxGainDB)
	return math.Min(g, PeakCeilingDBTP-peak)
}

// measured reports whether l is a measurement: not the zero value, and
// both figures finite.
func measured(l model.Loudness) bool {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	return l != (model.Loudness{}) && finite(l.IntegratedLUFS) && finite(l.TruePeakDBTP)
}

// DBToLinear converts decibels to a linear amplitude factor.
func DBToLinear(db float64) float32 { return float32(math.Pow(10, db/20)) }

// DefaultRampFrames is the length of a Fader ramp at 44.1 kHz: 20 ms.
const DefaultRampFrames = 882

// Fader applies a linear gain to interleaved audio and ramps smoothly
// (linearly over RampFrames frames) to a new gain instead of stepping, so
// volume changes make no zipper noise. Not safe for concurrent use.
type Fader struct {
	channels   int
	cur, tgt   float32
	step       float32
	rampFrames int
	left       int
}

// NewFader returns a fader at gain for the given channel count, ramping
// over rampFrames frames (≥ 1) on every change.
func NewFader(channels int, gain float32, rampFrames int) *Fader {
	return &Fader{channels: channels, cur: gain, tgt: gain, rampFrames: max(1, rampFrames)}
}

// SetGain starts a ramp from the current gain to g.
func (f *Fader) SetGain(g float32) {
	f.tgt = g
	f.left = f.rampFrames
	f.step = (g - f.cur) / float32(f.rampFrames)
}

// Gain returns the gain applied to the next frame.
func (f *Fader) Gain() float32 { return f.cur }

// Apply multiplies buf (interleaved, whole frames) in place.
func (f *Fader) Apply(buf []float32) {
	c := f.channels
	i := 0
	for ; f.left > 0 && i+c <= len(buf); i += c {
		f.cur += f.step
		f.left--
		if f.left == 0 {
			f.cur = f.tgt
		}
		for j := i; j < i+c; j++ {
			buf[j] *= f.cur
		}
	}
	if f.cur == 1 {
		return
	}
	for ; i < len(buf); i++ {
		buf[i] *= f.cur
	}
}
