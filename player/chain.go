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

// floorMod is a − b·⌊a/b⌋, in [0, b), for b > 0 and any a.
func floorMod(a, b int64) int64 { return a - b*floorDiv(a, b) }

// produced returns the chain frame after the last one produced.
func (c *chain) produced() int64 { return c.outBase + int64(len(c.out)/c.channels) }

// fill produces output until frame target exists, the input runs dry, or
// a member fails. It never blocks. It feeds the resampler only the input
// the target needs (the output is the same for any split of the input),
// so a play's first block resamples about a block of input, not a
// decoder's block of 4096 frames.
func (c *chain) fill(target int64) {
	for c.produced() < target && !c.flushed {
		want := c.res.Needs(target)
		if want <= 0 {
			want = decodeBlockFrames
		}
		want = min(want, decodeBlockFrames)
		if c.zeros > 0 {
			n := min(c.zeros, want)
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
		n, end, err := mb.dec.take(c.in[:want*int64(c.channels)])
		if n > 0 {
			mb.fed += int64(n)
			c.out, _ = c.res.Write(c.out, c.in[:n*c.channels])
		}
		if end {
			if err == nil && mb.fed != mb.want {
				err = fmt.Errorf("%w: %d frames, want %d", ErrLength, mb.fed, mb.want)
			}
			if err != nil {
				// Nothing follows this member on the chain: flush the
				// resampler, so every frame it decoded is output before
				// its track fails.
				mb.err = err
				c.out = c.res.Flush(c.out)
				c.flushed = true
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
// member and sets its frame range; dec must decode ts from sample 0. The
// caller checks continues first, so the ranges of consecutive members
// tile the chain's output.
func (c *chain) link(ts *trackStream, dec *decoder) {
	in := c.planned
	ts.cIn = c.gridIn(in, ts.m)
	ts.cOut, _ = c.span(ts.cIn, ts.m)
	first, end := c.span(in, ts.m)
	ts.frames = end - first
	ts.off = first
	ts.pos = 0
	ts.ch = c
	c.members = append(c.members, &member{ts: ts, dec: dec, want: ts.m.TotalSamples})
	c.planned += ts.m.TotalSamples
}

// gridIn reduces the input frame in to the equivalent virtual input frame
// of the resampling grid (the same output phase): in mod M, lifted to
// [M, 2M) for a timed track, whose true start may precede its first input
// frame by up to one frame.
func (c *chain) gridIn(in int64, m *model.Manifest) int64 {
	g := in % c.m
	if m.Timing != nil {
		g += c.m
	}
	return g
}

// span returns the output frames [first, end) of the track of manifest m
// when its first input frame is input frame in of the grid (output frame
// u is at input time u·M/L).
//
// Without timing they are the output frames from its first input frame
// on, up to its end: [⌈in·L/M⌉, ⌈(in+T)·L/M⌉). With timing (a tier
// resampled at ingest, see model.Timing), the track's true start on the
// master's time line lies frac = k − offset·R/Rs input frames before its
// first input frame (k = ⌈offset·R/Rs⌉, R the stream's rate, Rs the
// master's) and its true end (offset+N)·R/Rs − k input frames after it; the
// span is the output frames nearest to both: first = round((in−k)·L/M +
// offset·Rout/Rs), end likewise with offset+N. The end of a track and the
// start of the track that continues it in its run are the same number, so
// consecutive members tile the output, and a run of tracks spans exactly
// round(run length·Rout/Rs) frames (its length at the output rate).
func (c *chain) span(in int64, m *model.Manifest) (first, end int64) {
	t := m.Timing
	if t == nil {
		return ceilDiv(in*c.l, c.m), ceilDiv((in+m.TotalSamples)*c.l, c.m)
	}
	k, _ := model.ResampledSpan(t.RunOffset, t.SourceSamples, t.SourceRate, m.SampleRate)
	return c.nearest(in-k, t.RunOffset, t.SourceRate), c.nearest(in-k, t.RunOffset+t.SourceSamples, t.SourceRate)
}

// nearest returns round(d·L/M + s·Rout/Rs) (halves round up) exactly,
// without overflow for |d| ≤ 2^45 and s ≤ model.MaxRunFrames: d is an
// input frame offset of the grid, s a master frame at rs Hz.
func (c *chain) nearest(d, s int64, rs int) int64 {
	_, out := c.res.Rates()
	q2, r2 := floorDiv(d*c.l, c.m), floorMod(d*c.l, c.m)
	q1, r1 := s*int64(out)/int64(rs), s*int64(out)%int64(rs)
	den := c.m * int64(rs)
	num := r1*c.m + r2*int64(rs) // the fraction num/den, in [0, 2)
	return q1 + q2 + floorDiv(2*num+den, 2*den)
}

// startIn returns the virtual input frame at which a fresh chain places
// the first input frame of the track of manifest m: 0 without timing. With
// timing it is the grid frame in [M, 2M) that puts the track's true start
// nearest to an output frame (within 1/(2M) frame; exactly when the output
// rate is the master's), so the track's frame 0 is its true start: the
// phase reset of a track played on its own or out of its run's order.
func (c *chain) startIn(m *model.Manifest) int64 {
	t := m.Timing
	if t == nil {
		return 0
	}
	_, out := c.res.Rates()
	rs := int64(t.SourceRate)
	k, _ := model.ResampledSpan(t.RunOffset, t.SourceSamples, t.SourceRate, m.SampleRate)
	r1 := t.RunOffset * int64(out) % rs
	den := c.m * rs
	best, bestDist := int64(0), den
	for e := range c.m { // e ≡ in − k (mod M)
		f := (r1*c.m + (e*c.l%c.m)*rs) % den
		if d := min(f, den-f); d < bestDist {
			best, bestDist = e, d
		}
	}
	return floorMod(k+best, c.m) + c.m
}

// continues reports whether the track of manifest b continues the track of
// manifest a on one resampling grid: neither is timed (plain gapless
// concatenation of the decoded samples, as for tiers at the master's
// rate), or b follows a in its gapless run. A timed track that does not
// continue its predecessor (played alone, out of order, or after another
// album) starts a chain of its own: its resampling phase is reset.
func continues(a, b *model.Manifest) bool {
	ta, tb := a.Timing, b.Timing
	switch {
	case ta == nil && tb == nil:
		return true
	case ta == nil || tb == nil:
		return false
	}
	return tb.Follows == a.TrackID && tb.SourceRate == ta.SourceRate && tb.RunOffset == ta.RunOffset+ta.SourceSamples
}

// retire stops the decoder of the member of ts, a track that ended while
// the chain goes on with the next one. Every frame of it was fed (its
// output was all produced), so the chain moves past it at once: its
// stopped decoder never reports its end, and before, a chain that had
// not yet taken that end (a gapless track shorter than a block) waited
// for it for ever.
func (c *chain) retire(ts *trackStream) {
	for i, mb := range c.members {
		if mb.ts != ts {
			continue
		}
		mb.dec.stop()
		if i == c.cur && mb.err == nil && mb.fed == mb.want {
			c.cur++
		}
	}
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
	cIn      int64 // the track's input offset on its resampling grid (see gridIn)
	cOut     int64 // its first frame on that grid (see span)
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

// buffered reports whether frames of the stream are produced and not yet
// read.
func (s *trackStream) buffered() bool {
	return s.Remaining() > 0 && s.ch.produced() > s.off+s.pos
}

// failure returns the error its own decoder ended with, if any: a
// decoder that decoded more frames than the manifest says ends with
// ErrLength after handing over all of the track's frames.
func (s *trackStream) failure() error {
	for _, mb := range s.ch.members {
		if mb.ts == s {
			return mb.err
		}
	}
	return nil
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
