package player

import (
	"errors"
	"io"
	"math"
	"time"
)

// MaxCrossfade is the longest crossfade the player applies (SetCrossfade
// clamps to it): the most two consecutive plays of one device overlap,
// which the relay's play counting allows (server/counting).
const MaxCrossfade = 12 * time.Second

// MaxCrossfadeFrames bounds a crossfade: MaxCrossfade at 192 kHz.
const MaxCrossfadeFrames = int64(MaxCrossfade/time.Second) * 192000

// LimiterReleaseFrames is the time constant, in frames, with which the
// crossfade's limiter lets its gain back up to 1 (93 ms at 44.1 kHz).
const LimiterReleaseFrames = 4096

// Stream is one track ready for mixing: interleaved frames at the mixer's
// format (already resampled and gain-adjusted).
type Stream interface {
	// Read fills dst with whole frames and returns how many; it returns
	// io.EOF (with n == 0) after the last frame.
	Read(dst []float32) (n int, err error)
	// Remaining returns the exact number of frames left.
	Remaining() int64
}

// Mixer joins streams: sample-exact concatenation (gapless) or an
// equal-power crossfade, chosen per transition. Pure and single-threaded:
// it only pulls from its streams.
type Mixer struct {
	channels  int
	cur, next Stream
	fade      int64 // requested crossfade of the next transition, frames
	fadeLen   int64 // length of the running fade, 0 when none
	fadePos   int64
	solo      bool    // the running fade lost its outgoing stream: cur fades in against silence
	atten     float64 // the fade's limiter: 1 − its gain (see limit)
	scratch   []float32
	switches  int
}

// NewMixer returns a mixer of interleaved audio with the given channel count.
func NewMixer(channels int) *Mixer { return &Mixer{channels: channels} }

// Play makes s the current stream, dropping any current and queued stream.
func (m *Mixer) Play(s Stream) {
	m.cur, m.next, m.fadeLen, m.fadePos, m.solo, m.atten = s, nil, 0, 0, false, 0
}

// Enqueue sets the stream that follows the current one. crossfadeFrames 0
// joins them gaplessly, sample-exact; otherwise the last crossfadeFrames of
// the current stream (fewer if it or s is shorter) overlap the start of s
// with an equal-power (cos/sin) curve, then a peak limiter that keeps the
// sum within full scale: a frame whose sum would pass ±1 is lowered to
// it at once, and the gain comes back up to 1 exponentially
// (LimiterReleaseFrames), by the fade's end at the latest. A fade whose
// sum stays within ±1 is the equal-power sum exactly. The caller passes
// 0 for consecutive tracks of one album.
func (m *Mixer) Enqueue(s Stream, crossfadeFrames int64) {
	m.next = s
	m.fade = min(max(crossfadeFrames, 0), MaxCrossfadeFrames, s.Remaining())
	if m.cur == nil {
		m.cur, m.next = s, nil
	}
}

// Current returns the stream being played (the outgoing one during a fade).
func (m *Mixer) Current() Stream { return m.cur }

// dropCurrent ends the current stream early (its track failed). During a
// fade the incoming stream becomes current where it is and fades in
// against silence over the rest of the fade, so it is neither restarted
// nor cut in at full gain; otherwise the queued stream, if any, becomes
// current from its start. It reports whether there was a fade.
func (m *Mixer) dropCurrent() bool {
	if m.fadeLen == 0 || m.next == nil || m.solo {
		return false
	}
	m.cur, m.next, m.fade, m.solo = m.next, nil, 0, true
	m.switches++
	return true
}

// Switches returns how many transitions have completed.
func (m *Mixer) Switches() int { return m.switches }

// Read fills dst (whole frames) and returns the number of frames written.
// It stops short after a transition (a fade's end, or a stream's end with
// the next one queued), so the caller can queue the new current stream's
// successor before any more of it is mixed: that stream's own crossfade
// may have to start at once. It returns io.EOF when the current stream
// has ended and nothing is queued, and a stream's other errors as they
// come.
func (m *Mixer) Read(dst []float32) (int, error) {
	c := m.channels
	want := len(dst) / c
	done := 0
	for done < want {
		if m.cur == nil {
			return done, io.EOF
		}
		if m.fadeLen == 0 && m.next != nil && m.fade > 0 {
			if rem := m.cur.Remaining(); rem <= m.fade {
				m.fadeLen, m.fadePos, m.atten = rem, 0, 0
				if rem == 0 {
					m.fade = 0
				}
			}
		}
		if m.fadeLen > 0 {
			n, err := m.mixFade(dst[done*c : want*c])
			done += n
			if err != nil || m.fadeLen == 0 {
				return done, err
			}
			continue
		}
		limit := want - done
		if m.next != nil && m.fade > 0 {
			limit = int(min(int64(limit), m.cur.Remaining()-m.fade))
		}
		n, err := m.cur.Read(dst[done*c : (done+limit)*c])
		done += n
		if errors.Is(err, io.EOF) || (err == nil && n == 0 && m.cur.Remaining() == 0) {
			if m.advance() {
				return done, nil
			}
			continue
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// advance makes the queued stream current and reports whether there was
// one.
func (m *Mixer) advance() bool {
	m.cur, m.next, m.fadeLen, m.fadePos, m.solo = m.next, nil, 0, 0, false
	if m.cur != nil {
		m.switches++
	}
	return m.cur != nil
}

// mixFade writes up to len(dst)/c faded frames.
func (m *Mixer) mixFade(dst []float32) (int, error) {
	c := m.channels
	n := int(min(int64(len(dst)/c), m.fadeLen-m.fadePos))
	if cap(m.scratch) < n*c {
		m.scratch = make([]float32, n*c)
	}
	b := m.scratch[:n*c]
	// A stream that fails after some frames has them mixed first (a
	// track's decoded tail is heard), and the error is returned with them.
	var nb int
	var err error
	switch {
	case m.solo:
		// The outgoing stream failed during the fade (dropCurrent): the
		// incoming one, now current, fades in against silence.
		nb, err = readFull(m.cur, b, c)
		clear(dst[:nb*c])
	case m.next != nil:
		na, errA := readFull(m.cur, dst[:n*c], c)
		nb, err = readFull(m.next, b[:na*c], c)
		if errA != nil {
			err = errA
		}
	default:
		// The incoming stream was dropped during the fade (its track
		// failed): the outgoing one fades on against silence.
		nb, err = readFull(m.cur, dst[:n*c], c)
		clear(b[:nb*c])
	}
	for i := 0; i < nb; i++ {
		theta := math.Pi / 2 * (float64(m.fadePos+int64(i)) + 0.5) / float64(m.fadeLen)
		ga, gb := float32(math.Cos(theta)), float32(math.Sin(theta))
		for j := i * c; j < (i+1)*c; j++ {
			dst[j] = dst[j]*ga + b[j]*gb
		}
		m.limit(dst[i*c:(i+1)*c], m.fadeLen-m.fadePos-int64(i))
	}
	m.fadePos += int64(nb)
	if m.fadePos >= m.fadeLen && m.solo {
		m.fadeLen, m.fadePos, m.solo = 0, 0, false
	} else if m.fadePos >= m.fadeLen {
		// The outgoing stream is exhausted; the incoming one continues.
		m.cur, m.next, m.fadeLen, m.fadePos = m.next, nil, 0, 0
		if m.cur != nil {
			m.switches++
		}
	}
	return nb, err
}

// limitRelease is the limiter's attenuation kept from one frame to the
// next: exp(−1/LimiterReleaseFrames).
var limitRelease = math.Exp(-1.0 / LimiterReleaseFrames)

// limit applies the fade's peak limiter to one mixed frame, left frames
// before the fade's end: the attenuation is what the frame needs to stay
// within ±1, or the previous frame's released, but no more than lets it
// reach 0 linearly by the fade's end (the frames after the fade pass
// unchanged, so its gain must not jump there). A frame within ±1 with no
// attenuation left is untouched.
func (m *Mixer) limit(frame []float32, left int64) {
	var peak float64
	for _, v := range frame {
		peak = max(peak, math.Abs(float64(v)))
	}
	need := 0.0
	if peak > 1 {
		need = 1 - 1/peak
	}
	m.atten = max(need, min(m.atten*limitRelease, float64(left-1)/LimiterReleaseFrames))
	if m.atten == 0 {
		return
	}
	g := 1 - m.atten
	for j, v := range frame {
		// The product can round a hair past full scale.
		frame[j] = float32(max(-1, min(1, float64(v)*g)))
	}
}

// readFull reads exactly len(dst)/c frames unless the stream ends first.
func readFull(s Stream, dst []float32, c int) (int, error) {
	done := 0
	for done*c < len(dst) {
		n, err := s.Read(dst[done*c:])
		done += n
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return done, err
		}
		if n == 0 {
			break
		}
	}
	return done, nil
}

// SliceStream is a Stream over interleaved samples in memory. The stream
// reads samples but does not modify them.
type SliceStream struct {
	samples  []float32
	channels int
	pos      int
}

// NewSliceStream returns a stream over samples (whole frames).
func NewSliceStream(samples []float32, channels int) *SliceStream {
	return &SliceStream{samples: samples[:len(samples)/channels*channels], channels: channels}
}

// Read implements Stream.
func (s *SliceStream) Read(dst []float32) (int, error) {
	if s.pos == len(s.samples) {
		return 0, io.EOF
	}
	n := copy(dst[:len(dst)/s.channels*s.channels], s.samples[s.pos:])
	s.pos += n
	return n / s.channels, nil
}

// Remaining implements Stream.
func (s *SliceStream) Remaining() int64 { return int64(len(s.samples)-s.pos) / int64(s.channels) }
