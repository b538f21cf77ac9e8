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

// recSink records every frame written, at a chosen format, and how many
// samples were written with a context for which player.NoWait is true.
type recSink struct {
	rate, ch int
	mu       sync.Mutex
	frames   []float32
	noWait   int
}

func (s *recSink) Format() (int, int) { return s.rate, s.ch }

func (s *recSink) Write(ctx context.Context, f []float32) error {
	s.mu.Lock()
	s.frames = append(s.frames, f...)
	if player.NoWait(ctx) {
		s.noWait += len(f)
	}
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

// TestPlayNowPlaysTheSame plays the first two demo tracks with Play, with
// PlayNow and with TryPlayNow, over a table of sink rates (resampled or not), loudness
// gain, crossfade between albums, volume and a stateful effect: the
// output is the same, frame for frame. A track with a head from a
// ReadySource has its first block in the sink when PlayNow returns (the
// decoder's goroutine has not run: the head was queued at once); a track
// without a head, or from a Source that cannot open it from memory, takes
// the normal path. Only TryPlayNow's own write is made with NoWait.
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
			run := func(mode string) ([]float32, int) {
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
				switch mode {
				case "PlayNow":
					if err := p.PlayNow(ev); err != nil {
						t.Fatal(err)
					}
					atReturn = sink.len()
				case "TryPlayNow":
					// It declines while the loop has the two requests
					// above to handle.
					for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
						ok, err := p.TryPlayNow(ev)
						if err != nil {
							t.Fatal(err)
						}
						if ok {
							break
						}
						if time.Now().After(deadline) {
							t.Fatal("TryPlayNow declined an idle player for 10 s")
						}
					}
					atReturn = sink.len()
					sink.mu.Lock()
					noWait := sink.noWait
					sink.mu.Unlock()
					if noWait != atReturn {
						t.Errorf("TryPlayNow: %d samples written with NoWait, %d when it returned", noWait, atReturn)
					}
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
							if mode != "TryPlayNow" && sink.noWait != 0 {
								t.Errorf("%s: %d samples written with NoWait", mode, sink.noWait)
							}
							return sink.frames, atReturn
						}
					case <-timeout:
						t.Fatal("playback did not end")
					}
				}
			}
			want, _ := run("Send")
			for _, mode := range []string{"PlayNow", "TryPlayNow"} {
				got, atReturn := run(mode)
				if len(got) != len(want) {
					t.Fatalf("%s: %d samples, Play %d", mode, len(got), len(want))
				}
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("sample %d: %s %v, Play %v", i, mode, got[i], want[i])
					}
				}
				if tc.wantNow != (atReturn > 0) {
					t.Fatalf("%d samples written when %s returned; want a first block: %v", atReturn, mode, tc.wantNow)
				}
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

// blockSink blocks every write until release is closed, recording the
// frames as recSink does.
type blockSink struct {
	recSink
	writing chan struct{} // closed at the first write
	once    sync.Once
	release chan struct{}
}

func (s *blockSink) Write(ctx context.Context, f []float32) error {
	s.once.Do(func() { close(s.writing) })
	<-s.release
	return s.recSink.Write(ctx, f)
}

// TestTryPlayNowDeclines: TryPlayNow does nothing and returns false while
// the loop is inside a sink write (the pipeline is not free) and while a
// track is playing (paused: its decoder would have to be stopped), and
// returns true with ErrPlayerClosed on a closed player; the play the
// declined call did not make is not made later either.
func TestTryPlayNowDeclines(t *testing.T) {
	mem, ids := newMemSource(t)
	src := &readySource{headSource: headSource{memSource: mem, head: decoded(player.PrefetchHeadFrames), t: t}}
	first := player.PlayContext{Context: model.PlayContext{Kind: "album", ID: "demo"}, Items: albumItems(ids[:1])}
	other := player.PlayContext{Context: model.PlayContext{Kind: "tracks"}, Items: albumItems(ids[1:2])}
	opts := player.DefaultOptions().WithTier(model.TierHigh).WithLogger(slog.New(slog.DiscardHandler))
	for _, tc := range []struct {
		name   string
		state  func(t *testing.T, p *player.Player, sink *blockSink, sub <-chan player.Status)
		wantOK bool
		want   error
	}{
		{name: "loop writing", state: func(t *testing.T, p *player.Player, sink *blockSink, _ <-chan player.Status) {
			if err := p.Send(first); err != nil {
				t.Fatal(err)
			}
			<-sink.writing
		}},
		{name: "track paused", state: func(t *testing.T, p *player.Player, sink *blockSink, sub <-chan player.Status) {
			close(sink.release)
			if err := p.Send(first); err != nil {
				t.Fatal(err)
			}
			if err := p.Pause(); err != nil {
				t.Fatal(err)
			}
			waitState(t, sub, player.StatePaused)
		}},
		{name: "closed", state: func(t *testing.T, p *player.Player, sink *blockSink, _ <-chan player.Status) {
			close(sink.release)
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
		}, wantOK: true, want: player.ErrPlayerClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &blockSink{recSink: recSink{rate: 44100, ch: 2}, writing: make(chan struct{}), release: make(chan struct{})}
			p, err := player.New(src, sink, opts)
			if err != nil {
				t.Fatal(err)
			}
			sub, cancel := p.Subscribe()
			defer cancel()
			tc.state(t, p, sink, sub)
			ok, err := p.TryPlayNow(other)
			if ok != tc.wantOK || !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("TryPlayNow: %v, %v; want %v, %v", ok, err, tc.wantOK, tc.want)
			}
			if tc.want == nil {
				select {
				case <-sink.release:
				default:
					close(sink.release)
				}
				if err := p.Resume(); err != nil {
					t.Fatal(err)
				}
				for timeout := time.After(60 * time.Second); ; {
					var st player.Status
					select {
					case st = <-sub:
					case <-timeout:
						t.Fatal("the first play did not end")
					}
					if st.Track == ids[1] {
						t.Fatalf("the declined play was made: %+v", st)
					}
					if st.State == player.StateEnded {
						break
					}
				}
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			sink.mu.Lock()
			defer sink.mu.Unlock()
			if sink.noWait != 0 {
				t.Fatalf("%d samples written with NoWait", sink.noWait)
			}
		})
	}
}

// waitState waits up to 30 s for a status in state s.
func waitState(t *testing.T, sub <-chan player.Status, s player.State) {
	t.Helper()
	for timeout := time.After(30 * time.Second); ; {
		select {
		case st := <-sub:
			if st.State == s {
				return
			}
		case <-timeout:
			t.Fatalf("no %v status in 30 s", s)
		}
	}
}
