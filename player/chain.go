package player

import (
	"errors"
	"fmt"

	"github.com/segue-fm/segue/core/model"
)

// errUnderrun is returned by a trackStream read with nothing buffered; the
// player checks readiness first, so the mixer normally never sees it.
var errUnderrun = errors.New("player: buffer underrun")

// chain resamples the gapless concatenation of its members' decoded audio
// with one Resampler, so the resampler stays continuous across tracks
// that share a rate. Chain output frame k is the input signal at time
// k·M/L input frames (L/M = outRate/inRate in lowest terms). Used only by
// the player's goroutine.
type chain struct {
	res      *Resampler
	l, m     int64
	channels int
	members  []*member
	cur      int   // member feeding input
	zeros    int64 // silent input frames still to feed before the first member
	planned  int64 // input frames of zeros + every member
	out      []float32
	outBase  int64 // chain frame of out[0]
	final    bool  // no member will be linked after the last: flush at its end
	flushed  bool
	in       []float32
}

// member is one track's decoder feeding a chain.
type member struct {
	ts   *trackStream
	dec  *decoder
	want int64 // input frames it contributes
	fed  int64
	err  error
}

func newChain(inRate, outRate, channels int) (*chain, error) {
	r, err := NewResampler(inRate, outRate, channels)
	if err != nil {
		return nil, err
	}
	g := int64(gcd(inRate, outRate))
	return &chain{res: r, l: int64(outRate) / g, m: int64(inRate) / g, channels: channels, final: true,
		in: make([]float32, decodeBlockFrames*channels)}, nil
}

// ceilDiv is ⌈a/b⌉ for b > 0 and any a.
func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

// floorDiv is ⌊a/b⌋ for b > 0 and any a.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// produced returns the chain frame after the last one produced.
func (c *chain) produced() int64 { return c.outBase + int64(len(c.out)/c.channels) }

// fill produces output until frame target exists, the input runs dry, or
// a member fails. It never blocks.
func (c *chain) fill(target int64) {
	for c.produced() < target && !c.flushed {
		if c.zeros > 0 {
			n := min(c.zeros, decodeBlockFrames)
			buf := c.in[:n*int64(c.channels)]
			clear(buf)
			c.out, _ = c.res.Write(c.out, buf)
			c.zeros -= n
			continue
		}
		if c.cur >= len(c.members) {
			if c.final {
				c.out = c.res.Flush(c.out)
				c.flushed = true
			}
			return
		}
		mb := c.members[c.cur]
		if mb.err != nil {
			return
		}
		n, end, err := mb.dec.take(c.in)
		if n > 0 {
			mb.fed += int64(n)
			c.out, _ = c.res.Write(c.out, c.in[:n*c.channels])
		}
		if end {
			switch {
			case err != nil:
				mb.err = err
				return
			case mb.fed != mb.want:
				mb.err = fmt.Errorf("%w: %d frames, want %d", ErrLength, mb.fed, mb.want)
				return
			}
			c.cur++
			continue
		}
		if n == 0 {
			return
		}
	}
}

// drop forgets output frames before chain frame f.
func (c *chain) drop(f int64) {
	if f <= c.outBase {
		return
	}
	n := int(min(f, c.produced())-c.outBase) * c.channels
	c.out = c.out[:copy(c.out, c.out[n:])]
	c.outBase += int64(n / c.channels)
}

// link appends ts (starting at its sample 0) after the chain's last
// member and sets its frame range; dec must decode ts from sample 0.
func (c *chain) link(ts *trackStream, dec *decoder) {
	in := c.planned
	ts.cIn = in % c.m
	ts.cOut = ceilDiv(ts.cIn*c.l, c.m)
	ts.frames = ceilDiv((ts.cIn+ts.m.TotalSamples)*c.l, c.m) - ts.cOut
	ts.off = ceilDiv(in*c.l, c.m)
	ts.pos = 0
	ts.ch = c
	c.members = append(c.members, &member{ts: ts, dec: dec, want: ts.m.TotalSamples})
	c.planned += ts.m.TotalSamples
}

// stop stops every member's decoder.
func (c *chain) stop() {
	for _, mb := range c.members {
		mb.dec.stop()
	}
}

// trackStream is one track's frames at the output format: a window of a
// chain's output, with the channel mapping and loudness gain applied. It
// implements Stream. Track frame j is chain frame off+j.
type trackStream struct {
	src      TrackSource
	m        *model.Manifest
	ch       *chain
	off      int64
	pos      int64 // next track frame
	frames   int64 // track length in output frames
	cIn      int64 // the track's input offset on its resampling grid, in [0, M)
	cOut     int64 // ⌈cIn·L/M⌉
	gain     float32
	outCh    int
	rate     int
	bitrate  int
	consumed int64 // frames read since the stream was created
}

// Read implements Stream.
func (s *trackStream) Read(dst []float32) (int, error) {
	want := min(int64(len(dst)/s.outCh), s.Remaining())
	if want == 0 {
		if s.Remaining() == 0 {
			return 0, nil
		}
		return 0, errUnderrun
	}
	start := s.off + s.pos
	s.ch.fill(start + want)
	s.ch.drop(start)
	n := min(want, s.ch.produced()-start)
	if n <= 0 {
		if err := s.err(); err != nil {
			return 0, err
		}
		return 0, errUnderrun
	}
	src := s.ch.out[(start-s.ch.outBase)*int64(s.ch.channels):]
	mapChannels(dst[:n*int64(s.outCh)], src, s.ch.channels, s.outCh, s.gain)
	s.pos += n
	s.consumed += n
	return int(n), nil
}

// Remaining implements Stream.
func (s *trackStream) Remaining() int64 { return s.frames - s.pos }

// available reports whether min(need, Remaining) frames can be read now.
func (s *trackStream) available(need int64) bool {
	need = min(need, s.Remaining())
	if need <= 0 {
		return true
	}
	s.ch.fill(s.off + s.pos + need)
	return s.ch.produced() >= s.off+s.pos+need
}

// err returns the error that stops the stream from producing its
// remaining frames, if any.
func (s *trackStream) err() error {
	if s.ch.produced() >= s.off+s.frames {
		return nil
	}
	for _, mb := range s.ch.members[s.ch.cur:] {
		if mb.err != nil {
			return mb.err
		}
		if mb.ts == s {
			break
		}
	}
	return nil
}

// mapChannels writes len(dst)/outCh frames of src (inCh channels) to dst
// scaled by gain: equal counts copy, mono is duplicated, and more input
// channels than output keep the first outCh.
func mapChannels(dst, src []float32, inCh, outCh int, gain float32) {
	n := len(dst) / outCh
	if inCh == outCh {
		for i, v := range src[:n*inCh] {
			dst[i] = v * gain
		}
		return
	}
	for f := range n {
		for c := range outCh {
			dst[f*outCh+c] = src[f*inCh+min(c, inCh-1)] * gain
		}
	}
}
