package player_test

import (
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
)

// dropSink is a player.BufferedSink that counts its DropBuffered calls
// and the frames written before the last one.
type dropSink struct {
	*player.DiscardSink
	drops      atomic.Int64
	atLastDrop atomic.Int64
}

var _ player.BufferedSink = (*dropSink)(nil)

func (s *dropSink) DropBuffered() {
	s.atLastDrop.Store(s.Frames())
	s.drops.Add(1)
}

// TestDropBufferedAtJumps: a BufferedSink is told to drop its buffered
// audio once for each jump the player handles — the play itself, Seek,
// Next, Previous, Stop — and never for Pause, Resume, SetVolume or the
// gapless track changes of an album played through.
func TestDropBufferedAtJumps(t *testing.T) {
	src, ids := newMemSource(t)
	open := func(t *testing.T) (*player.Player, *dropSink, <-chan player.Status) {
		sink := &dropSink{DiscardSink: player.NewDiscardSink(44100, 2)}
		p, err := player.New(src, sink, player.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		sub, cancel := p.Subscribe()
		t.Cleanup(cancel)
		return p, sink, sub
	}
	ctxt := model.PlayContext{Kind: "album", ID: "demo"}
	waitFor := func(t *testing.T, what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting: %s", what)
			}
		}
	}

	t.Run("album played through", func(t *testing.T) {
		p, sink, sub := open(t)
		if err := p.Play(ctxt, albumItems(ids), 0); err != nil {
			t.Fatal(err)
		}
		tracks := map[model.TrackID]bool{}
		for started := false; ; {
			st := <-sub
			if st.State == player.StatePlaying {
				started = true
				tracks[st.Track] = true
			}
			if started && st.State == player.StateEnded {
				break
			}
		}
		if len(tracks) != len(ids) {
			t.Fatalf("played %d tracks, want %d", len(tracks), len(ids))
		}
		if n := sink.drops.Load(); n != 1 {
			t.Fatalf("%d drops for one play through %d gapless track changes, want 1 (the play)", n, len(ids)-1)
		}
		if at := sink.atLastDrop.Load(); at != 0 {
			t.Fatalf("the play's drop came after %d frames were written, want before the first", at)
		}
	})

	t.Run("each request", func(t *testing.T) {
		p, sink, _ := open(t)
		if err := p.Play(ctxt, albumItems(ids), 1); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the play's first frames", func() bool { return sink.Frames() > 0 })
		for _, tc := range []struct {
			name string
			send func() error
			drop bool
		}{
			{"pause", p.Pause, false},
			{"resume", p.Resume, false},
			{"volume", func() error { return p.SetVolume(0.5) }, false},
			{"seek", func() error { return p.SeekFrame(44100) }, true},
			{"next", p.Next, true},
			{"previous", p.Previous, true},
			{"play", func() error { return p.Play(ctxt, albumItems(ids), 0) }, true},
			{"stop", p.Stop, true},
		} {
			before := sink.drops.Load()
			if err := tc.send(); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			// A pause, resume or volume change is handled before a
			// later seek: a drop by then belongs to the seek alone.
			if err := p.SeekFrame(0); err != nil {
				t.Fatal(err)
			}
			want := before + 1
			if tc.drop {
				want++
			}
			waitFor(t, tc.name+" and a seek handled", func() bool { return sink.drops.Load() >= want })
			if got := sink.drops.Load(); got != want {
				t.Fatalf("%s: %d drops, want %d", tc.name, got-before, want-before)
			}
			if tc.name == "pause" {
				if err := p.Resume(); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}
