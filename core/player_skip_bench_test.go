package core_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/cputime"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/player"
)

// pacedSink is a Sink that behaves like an audio device with a buffer:
// once paced, Write blocks until the frames fit in a buffer of buf frames
// drained at the sink's rate in real time. Before Pace is called it takes
// frames at once (fast-forwarding through the start of a track). It
// records when each block of interest arrives: after Watch(block), the
// time of the first Write whose frames equal block.
type pacedSink struct {
	rate, ch int
	buf      int64

	mu      sync.Mutex
	frames  int64
	paced   bool
	t0      time.Time // time the paced stream started
	f0      int64     // frames written when it started
	watch   []float32
	seen    chan time.Time
	atFrame int64 // signal reached when frames pass it
	reached chan struct{}
}

func newPacedSink(rate, ch int, buffer time.Duration) *pacedSink {
	return &pacedSink{rate: rate, ch: ch, buf: int64(buffer.Seconds() * float64(rate))}
}

func (s *pacedSink) Format() (int, int) { return s.rate, s.ch }

func (s *pacedSink) Write(ctx context.Context, frames []float32) error {
	now := time.Now()
	s.mu.Lock()
	if s.watch != nil && len(frames) >= len(s.watch) && slices.Equal(frames[:len(s.watch)], s.watch) {
		s.watch = nil
		s.seen <- now
	}
	s.frames += int64(len(frames) / s.ch)
	if s.reached != nil && s.frames >= s.atFrame {
		close(s.reached)
		s.reached = nil
	}
	var wait time.Duration
	if s.paced {
		// The device holds at most buf frames: wait until the excess has
		// played.
		due := s.t0.Add(time.Duration(float64(s.frames-s.f0-s.buf) / float64(s.rate) * float64(time.Second)))
		wait = due.Sub(now)
	}
	s.mu.Unlock()
	if wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (s *pacedSink) Close() error { return nil }

// Pace starts real-time pacing from now.
func (s *pacedSink) Pace() {
	s.mu.Lock()
	s.paced, s.t0, s.f0 = true, time.Now(), s.frames
	s.mu.Unlock()
}

// At returns a channel closed once frame f has been written.
func (s *pacedSink) At(f int64) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := make(chan struct{})
	if s.frames >= f {
		close(c)
		return c
	}
	s.atFrame, s.reached = f, c
	return c
}

// Watch arms detection of block (the first frames of a track); the
// returned channel gets the time of the Write that starts with it.
func (s *pacedSink) Watch(block []float32) <-chan time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watch = block
	s.seen = make(chan time.Time, 1)
	return s.seen
}

// firstBlock returns the first frames a player writes for track id alone
// (no gain, so the samples are the same in any context).
func firstBlock(b *testing.B, e *core.Engine, id model.TrackID, frames int) []float32 {
	sink := newPacedSink(demoalbum.Rate, demoalbum.Channels, 0)
	var got []float32
	done := make(chan struct{})
	rec := &recordSink{pacedSink: sink, n: frames * demoalbum.Channels, out: &got, done: done}
	p, err := e.OpenPlayer(rec, noGain(model.TierHigh))
	if err != nil {
		b.Fatal(err)
	}
	defer e.ClosePlayer()
	if err := p.Play(model.PlayContext{}, []player.Item{{Track: id}}, 0); err != nil {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		b.Fatal("no audio within 30 s")
	}
	return got
}

// recordSink keeps the first n samples written.
type recordSink struct {
	*pacedSink
	n    int
	out  *[]float32
	done chan struct{}
}

func (r *recordSink) Write(ctx context.Context, frames []float32) error {
	if len(*r.out) < r.n {
		*r.out = append(*r.out, frames[:min(len(frames), r.n-len(*r.out))]...)
		if len(*r.out) == r.n {
			close(r.done)
		}
	}
	return r.pacedSink.Write(ctx, frames)
}

// skipOnce plays tracks a, b of the demo album (gapless, one album) into
// a device-like sink with a 100 ms buffer, fast-forwards to frame at of
// track a, plays in real time for settle, then calls Next and returns
// the time until b's first block reaches the sink.
func skipOnce(b *testing.B, e *core.Engine, items []player.Item, at int64, settle time.Duration, want []float32) time.Duration {
	sink := newPacedSink(demoalbum.Rate, demoalbum.Channels, 100*time.Millisecond)
	p, err := e.OpenPlayer(sink, noGain(model.TierHigh))
	if err != nil {
		b.Fatal(err)
	}
	defer e.ClosePlayer()
	reached := sink.At(at)
	if err := p.Play(model.PlayContext{Kind: "album", ID: "demo"}, items, 0); err != nil {
		b.Fatal(err)
	}
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		b.Fatal("playback did not reach the skip point")
	}
	sink.Pace()
	time.Sleep(settle)
	seen := sink.Watch(want)
	t0 := time.Now()
	if err := p.Next(); err != nil {
		b.Fatal(err)
	}
	select {
	case t1 := <-seen:
		return t1.Sub(t0)
	case <-time.After(30 * time.Second):
		b.Fatal("the next track never reached the sink")
	}
	return 0
}

// BenchmarkSkipToNext measures Next() → first sample of the next track at
// the sink, on a device-like sink (100 ms buffer, real-time pacing, 1024-
// frame writes, so a write in progress delays the skip by up to 23 ms),
// against a real relay on loopback:
//
//   - prefetched: skip at 85 % of the track, after the preload (from 75 %)
//     has fetched and pre-decoded the next track;
//   - cold: skip at 10 % on a fresh engine (empty cache, no content key),
//     so the next track is opened (manifest ∥ key ∥ header ∥ chunk 0),
//     decoded and written after the skip.
func BenchmarkSkipToNext(b *testing.B) {
	tb := newTestbed(b)
	items := albumOf(tb, 0, 1)
	a := demoalbum.Cuts[0]
	ref := tb.openEngine(b, core.DefaultOptions(), tb.url)
	want := firstBlock(b, ref, tb.tracks[1], 1024)
	b.Run("prefetched", func(b *testing.B) {
		e := tb.openEngine(b, core.DefaultOptions(), tb.url)
		var ds []time.Duration
		for b.Loop() {
			ds = append(ds, skipOnce(b, e, items, a*85/100, 300*time.Millisecond, want))
		}
		b.ReportMetric(float64(median(ds).Microseconds())/1000, "skip_ms")
		b.ReportMetric(float64(slices.Max(ds).Microseconds())/1000, "max_ms")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("cold", func(b *testing.B) {
		var ds []time.Duration
		for b.Loop() {
			b.StopTimer()
			e := tb.openEngine(b, core.DefaultOptions(), tb.url)
			b.StartTimer()
			ds = append(ds, skipOnce(b, e, items, a/10, 50*time.Millisecond, want))
			b.StopTimer()
			e.Close()
			b.StartTimer()
		}
		b.ReportMetric(float64(median(ds).Microseconds())/1000, "skip_ms")
		b.ReportMetric(float64(slices.Max(ds).Microseconds())/1000, "max_ms")
		b.ReportMetric(0, "ns/op")
	})
}

// cpuTime returns the process's user + system CPU time.
func cpuTime(b *testing.B) time.Duration {
	d, ok := cputime.Process()
	if !ok {
		b.Fatal("no process CPU time on this platform")
	}
	return d
}

// BenchmarkPlaybackCPU measures the CPU cost of playback: the demo album
// at very_high (320 kbps), from the engine's cache (the relay in this
// process is idle), through the whole pipeline (verify, decrypt, Vorbis
// decode, gain, mixer) with track normalisation on.
//
//   - unpaced: as fast as possible into a DiscardSink; reports ×realtime
//     (audio duration / wall time) and cpu_per_audio_s.
//   - realtime: 4 s paced like a device; reports cpu_pct, the process CPU
//     time over the audio time played.
//
// CPU time is the whole process's (internal/cputime, user + system).
func BenchmarkPlaybackCPU(b *testing.B) {
	tb := newTestbed(b)
	e := tb.openEngine(b, core.DefaultOptions(), tb.url)
	items := albumOf(tb, 0, 1, 2, 3)
	opts := player.DefaultOptions().WithTier(model.TierVeryHigh)
	playAll := func(sink player.Sink, until <-chan time.Time) {
		p, err := e.OpenPlayer(sink, opts)
		if err != nil {
			b.Fatal(err)
		}
		defer e.ClosePlayer()
		sub, cancel := p.Subscribe()
		defer cancel()
		if err := p.Play(model.PlayContext{Kind: "album", ID: "demo"}, items, 0); err != nil {
			b.Fatal(err)
		}
		started := false
		timeout := time.After(60 * time.Second)
		for {
			select {
			case st := <-sub:
				started = started || st.State == player.StateBuffering || st.State == player.StatePlaying
				if started && (st.State == player.StateEnded || st.State == player.StateIdle) {
					return
				}
			case <-until:
				return
			case <-timeout:
				b.Fatal("playback did not end")
			}
		}
	}
	playAll(player.NewDiscardSink(demoalbum.Rate, demoalbum.Channels), nil) // fills the cache
	b.Run("unpaced", func(b *testing.B) {
		var audio, wall, cpu time.Duration
		for b.Loop() {
			sink := player.NewDiscardSink(demoalbum.Rate, demoalbum.Channels)
			c0, t0 := cpuTime(b), time.Now()
			playAll(sink, nil)
			wall += time.Since(t0)
			cpu += cpuTime(b) - c0
			audio += time.Duration(sink.Frames()) * time.Second / demoalbum.Rate
		}
		b.ReportMetric(audio.Seconds()/wall.Seconds(), "x_realtime")
		b.ReportMetric(cpu.Seconds()/audio.Seconds()*1000, "cpu_ms_per_audio_s")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("realtime", func(b *testing.B) {
		const span = 4 * time.Second
		var audio, cpu time.Duration
		for b.Loop() {
			sink := newPacedSink(demoalbum.Rate, demoalbum.Channels, 100*time.Millisecond)
			sink.Pace()
			c0, t0 := cpuTime(b), time.Now()
			playAll(sink, time.After(span))
			cpu += cpuTime(b) - c0
			audio += time.Since(t0)
		}
		b.ReportMetric(100*cpu.Seconds()/audio.Seconds(), "cpu_pct")
		b.ReportMetric(0, "ns/op")
	})
}
