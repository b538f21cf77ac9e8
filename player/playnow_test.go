package player_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
)

// readySource is a headSource that also opens its tracks from memory
// (player.ReadySource), counting those opens.
type readySource struct {
	headSource
	mu    sync.Mutex
	ready int
}

func (s *readySource) OpenReady(id model.TrackID, tier model.Tier) (player.TrackSource, bool) {
	ts, err := s.headSource.OpenTrack(context.Background(), id, tier)
	if err != nil {
		return nil, false
	}
	s.mu.Lock()
	s.ready++
	s.mu.Unlock()
	return ts, true
}

// recSink records every frame written, at a chosen format.
type recSink struct {
	rate, ch int
	mu       sync.Mutex
	frames   []float32
}

func (s *recSink) Format() (int, int) { return s.rate, s.ch }

func (s *recSink) Write(_ context.Context, f []float32) error {
	s.mu.Lock()
	s.frames = append(s.frames, f...)
	s.mu.Unlock()
	return nil
}

func (s *recSink) Close() error { return nil }

func (s *recSink) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.frames)
}

// lowPass is a stateful effect (a one-pole low-pass per channel): its
// output depends on every block before, so a block processed out of
// turn or twice would show.
type lowPass struct {
	rate, ch int
	y        []float32
}

func (l *lowPass) Name() string       { return "lowpass" }
func (l *lowPass) Format() (int, int) { return l.rate, l.ch }
func (l *lowPass) Process(_ context.Context, f []float32) error {
	if l.y == nil {
		l.y = make([]float32, l.ch)
	}
	for i, v := range f {
		c := i % l.ch
		l.y[c] += 0.25 * (v - l.y[c])
		f[i] = l.y[c]
	}
	return nil
}

// TestPlayNowPlaysTheSame plays the first two demo tracks with Play and
// with PlayNow, over a table of sink rates (resampled or not), loudness
// gain, crossfade between albums, volume and a stateful effect: the
// output is the same, frame for frame. A track with a head from a
// ReadySource has its first block in the sink when PlayNow returns (the
// decoder's goroutine has not run: the head was queued at once); a track
// without a head, or from a Source that cannot open it from memory, takes
// the normal path, whose first write may come before or after PlayNow
// returns.
func TestPlayNowPlaysTheSame(t *testing.T) {
	mem, ids := newMemSource(t)
	ids = ids[:2]
	base := player.DefaultOptions().WithTier(model.TierHigh).WithLogger(slog.New(slog.DiscardHandler))
	album := player.DefaultGainOptions().WithMode(player.GainAlbum)
	for _, tc := range []struct {
		name      string
		rate      int
		gain      player.GainOptions
		crossfade time.Duration
		volume    float64
		effect    bool
		head      bool // the tracks carry a decoded head
		ready     bool // the source implements ReadySource
		wantNow   bool // the first block is written inside PlayNow
	}{
		{name: "head, 44.1 kHz, track gain", rate: 44100, gain: player.DefaultGainOptions(), head: true, ready: true, wantNow: true},
		{name: "head, resampled to 48 kHz", rate: 48000, gain: player.DefaultGainOptions(), head: true, ready: true, wantNow: true},
		{name: "head, 32 kHz, album gain, crossfade 1 s, volume 0.5, effect", rate: 32000, gain: album,
			crossfade: time.Second, volume: 0.5, effect: true, head: true, ready: true, wantNow: true},
		{name: "head, 96 kHz, gain off, effect", rate: 96000, gain: player.DefaultGainOptions().WithMode(player.GainOff),
			effect: true, head: true, ready: true, wantNow: true},
		{name: "no head: normal path", rate: 48000, gain: player.DefaultGainOptions(), ready: true},
		{name: "not ready: normal path", rate: 48000, gain: player.DefaultGainOptions(), head: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items := albumItems(ids)
			items[0].AlbumLoudness = model.Loudness{IntegratedLUFS: -20, TruePeakDBTP: -3}
			items[1].AlbumLoudness = items[0].AlbumLoudness
			if tc.crossfade > 0 {
				items[1].Album = "other" // a crossfade joins tracks of different albums
			}
			run := func(now bool) ([]float32, int) {
				var src player.Source = mem
				hs := headSource{memSource: mem, head: decoded(player.PrefetchHeadFrames), t: t}
				switch {
				case tc.ready && tc.head:
					src = &readySource{headSource: hs}
				case tc.ready:
					src = &readySource{headSource: headSource{memSource: mem, head: func(*testing.T, *model.Manifest, []byte, []byte) []float32 { return nil }, t: t}}
				case tc.head:
					src = hs
				}
				opts := base.WithGain(tc.gain)
				if tc.effect {
					opts = opts.WithEffects(&lowPass{rate: tc.rate, ch: 2})
				}
				sink := &recSink{rate: tc.rate, ch: 2}
				p, err := player.New(src, sink, opts)
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				sub, cancel := p.Subscribe()
				defer cancel()
				for _, ev := range []player.Event{player.SetCrossfade{Duration: tc.crossfade}, player.SetVolume{Gain: or(tc.volume, 1)}} {
					if err := p.Send(ev); err != nil {
						t.Fatal(err)
					}
				}
				ev := player.PlayContext{Context: model.PlayContext{Kind: "album", ID: "demo"}, Items: items}
				atReturn := -1
				switch {
				case now:
					if err := p.PlayNow(ev); err != nil {
						t.Fatal(err)
					}
					atReturn = sink.len()
				default:
					if err := p.Send(ev); err != nil {
						t.Fatal(err)
					}
				}
				timeout := time.After(60 * time.Second)
				for started := false; ; {
					select {
					case st := <-sub:
						if st.Err != nil && st.State != player.StatePlaying {
							t.Fatalf("status error: %v", st.Err)
						}
						started = started || st.State == player.StatePlaying
						if started && st.State == player.StateEnded {
							if err := p.Close(); err != nil {
								t.Fatal(err)
							}
							return sink.frames, atReturn
						}
					case <-timeout:
						t.Fatal("playback did not end")
					}
				}
			}
			want, _ := run(false)
			got, atReturn := run(true)
			if len(got) != len(want) {
				t.Fatalf("PlayNow: %d samples, Play %d", len(got), len(want))
			}
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("sample %d: PlayNow %v, Play %v", i, got[i], want[i])
				}
			}
			// Only the head path promises a block inside the call. On the
			// normal path the player's loop, or PlayNow's own pump once
			// the decoder's goroutine has produced a block (it may run
			// between the play's start and the pump on a loaded machine),
			// may write one before PlayNow returns: not checked.
			if tc.wantNow && atReturn <= 0 {
				t.Fatalf("%d samples written when PlayNow returned; want a first block", atReturn)
			}
		})
	}
}

// or returns v, or def when v is zero.
func or(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

// failSink fails every write.
type failSink struct{ recSink }

var errSinkGone = errors.New("sink gone")

func (s *failSink) Write(context.Context, []float32) error { return errSinkGone }

// TestPlayNowErrors: PlayNow on a closed player fails with
// ErrPlayerClosed and writes nothing; a sink write failing inside PlayNow
// is returned, ends the player (Close returns it) and a later PlayNow
// fails with ErrPlayerClosed.
func TestPlayNowErrors(t *testing.T) {
	mem, ids := newMemSource(t)
	src := &readySource{headSource: headSource{memSource: mem, head: decoded(player.PrefetchHeadFrames), t: t}}
	ev := player.PlayContext{Context: model.PlayContext{Kind: "album", ID: "demo"}, Items: albumItems(ids)}
	for _, tc := range []struct {
		name       string
		sink       player.Sink
		closeFirst bool
		want       error // of the first PlayNow
		wantClose  error
	}{
		{name: "closed", sink: &recSink{rate: 44100, ch: 2}, closeFirst: true, want: player.ErrPlayerClosed},
		{name: "sink fails", sink: &failSink{recSink{rate: 44100, ch: 2}}, want: errSinkGone, wantClose: errSinkGone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := player.New(src, tc.sink, player.DefaultOptions().WithTier(model.TierHigh).WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			if tc.closeFirst {
				if err := p.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.PlayNow(ev); !errors.Is(err, tc.want) {
				t.Fatalf("PlayNow: %v, want %v", err, tc.want)
			}
			if err := p.Close(); !errors.Is(err, tc.wantClose) || (tc.wantClose == nil && err != nil) {
				t.Fatalf("Close: %v, want %v", err, tc.wantClose)
			}
			if err := p.PlayNow(ev); !errors.Is(err, player.ErrPlayerClosed) {
				t.Fatalf("PlayNow after the end: %v, want ErrPlayerClosed", err)
			}
			if rs, ok := tc.sink.(*recSink); ok && rs.len() != 0 {
				t.Fatalf("%d samples written to a closed player's sink", rs.len())
			}
		})
	}
}
