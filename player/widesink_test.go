package player_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
)

// frameSink keeps what it is written, at 44.1 kHz in any channel count.
type frameSink struct {
	ch  int
	out []float32
}

func (s *frameSink) Format() (int, int) { return 44100, s.ch }
func (s *frameSink) Write(_ context.Context, f []float32) error {
	s.out = append(s.out, f...)
	return nil
}
func (s *frameSink) Close() error { return nil }

// playAll plays items into sink and returns the skip errors published.
func playAll(t *testing.T, src player.Source, sink player.Sink, items []player.Item) []error {
	t.Helper()
	p, err := player.New(src, sink, player.DefaultOptions().WithTier(model.TierHigh).WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sub, cancel := p.Subscribe()
	defer cancel()
	if err := p.Play(model.PlayContext{Kind: "album", ID: "demo"}, items, 0); err != nil {
		t.Fatal(err)
	}
	var errs []error
	timeout := time.After(60 * time.Second)
	for started, done := false, false; !done; {
		select {
		case st := <-sub:
			if st.Err != nil && !player.IsWarning(st.Err) {
				errs = append(errs, st.Err)
			}
			started = started || st.Err != nil || st.State == player.StateBuffering || st.State == player.StatePlaying
			done = started && (st.State == player.StateEnded || st.State == player.StateIdle)
		case <-timeout:
			t.Fatal("playback did not end")
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	return errs
}

// A stereo track plays on a sink of 3 to 8 channels, each channel on the
// speaker of its position (fronts left and right, every other speaker
// silent), sample for sample as on a stereo sink. It was skipped: "2-channel
// track on a 6-channel sink", so an ALSA device that grants only 5.1 played
// nothing but mono tracks.
func TestStereoTrackOnWideSink(t *testing.T) {
	src, ids := newMemSource(t)
	items := albumItems(ids[:1])
	ref := &frameSink{ch: 2}
	if errs := playAll(t, src, ref, items); len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, ch := range []int{3, 4, 6, 8} {
		t.Run(fmt.Sprint(ch), func(t *testing.T) {
			sink := &frameSink{ch: ch}
			if errs := playAll(t, src, sink, items); len(errs) > 0 {
				t.Fatalf("skipped: %v", errs)
			}
			if len(sink.out)/ch != len(ref.out)/2 {
				t.Fatalf("%d frames, want %d", len(sink.out)/ch, len(ref.out)/2)
			}
			right := 2 // FL C FR … in Vorbis order
			if ch == 4 {
				right = 1 // FL FR RL RR
			}
			for f := range len(ref.out) / 2 {
				for c := range ch {
					want := float32(0)
					switch c {
					case 0:
						want = ref.out[2*f]
					case right:
						want = ref.out[2*f+1]
					}
					if got := sink.out[f*ch+c]; got != want {
						t.Fatalf("frame %d channel %d is %v, want %v", f, c, got, want)
					}
				}
			}
		})
	}
}
