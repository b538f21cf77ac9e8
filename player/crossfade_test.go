package player_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
)

// shortSource serves the first chunks of the demo album's high tier as
// short tracks: "<track>/<chunks>" is track's first chunks (about 1, 3, 7
// s for 1, 2, 3 chunks), with the exact manifest of that prefix.
type shortSource struct{ *memSource }

func (s shortSource) OpenTrack(ctx context.Context, id model.TrackID, tier model.Tier) (player.TrackSource, error) {
	var base string
	var n int
	if _, err := fmt.Sscanf(string(id), "%2s/%d", &base, &n); err != nil {
		return nil, fmt.Errorf("%w: %s", player.ErrUnplayable, id)
	}
	ts, err := s.memSource.OpenTrack(ctx, model.TrackID(base), model.TierHigh)
	if err != nil {
		return nil, err
	}
	mt := ts.(*memTrack)
	m := *mt.m
	m.Chunks = m.Chunks[:n]
	m.TotalSamples = 0
	for _, c := range m.Chunks {
		m.TotalSamples += c.Samples
	}
	return &memTrack{s: mt.s, st: mt.st, m: &m}, nil
}

// The crossfade the listener asks for is the overlap they get, on short
// tracks too: the next track is preloaded early enough. Only a crossfade
// longer than a track is shortened, and then with a reported reason.
func TestCrossfadeOverlapOnShortTracks(t *testing.T) {
	mem, _ := newMemSource(t)
	src := shortSource{mem}
	lengths := map[model.TrackID]int64{}
	for _, id := range []model.TrackID{"t1/3", "t2/3"} {
		ts, err := src.OpenTrack(context.Background(), id, model.TierHigh)
		if err != nil {
			t.Fatal(err)
		}
		lengths[id] = ts.Manifest().TotalSamples
	}
	a, b := lengths["t1/3"], lengths["t2/3"]
	t.Logf("outgoing track %d frames, incoming %d", a, b)
	tests := []struct {
		fade    time.Duration
		overlap int64 // frames
		warned  bool
	}{
		{2 * time.Second, 2 * 44100, false},
		{3 * time.Second, 3 * 44100, false},
		{5 * time.Second, 5 * 44100, false},
		{10 * time.Second, min(a, b), true}, // longer than either track
	}
	for _, tc := range tests {
		t.Run(tc.fade.String(), func(t *testing.T) {
			sink := player.NewDiscardSink(44100, 2)
			logged := &shortenedLog{}
			p, err := player.New(src, sink, player.DefaultOptions().WithTier(model.TierHigh).
				WithLogger(slog.New(logged)))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			sub, cancel := p.Subscribe()
			defer cancel()
			if err := p.SetCrossfade(tc.fade); err != nil {
				t.Fatal(err)
			}
			items := []player.Item{{Track: "t1/3", Album: "one"}, {Track: "t2/3", Album: "two"}}
			if err := p.Play(model.PlayContext{Kind: "playlist", ID: "mix"}, items, 0); err != nil {
				t.Fatal(err)
			}
			var warning error
			timeout := time.After(60 * time.Second)
			for started, done := false, false; !done; {
				select {
				case st := <-sub:
					started = started || st.State == player.StatePlaying
					done = started && st.State == player.StateEnded
					if errors.Is(st.Err, player.ErrCrossfadeShortened) {
						warning = st.Err
					}
				case <-timeout:
					t.Fatal("playback did not end")
				}
			}
			overlap := a + b - sink.Frames()
			if overlap != tc.overlap {
				t.Errorf("crossfade %v: overlap %d frames (%.2f s), want %d", tc.fade, overlap, float64(overlap)/44100, tc.overlap)
			}
			// The status channel drops its oldest updates when the
			// reader falls behind (a loaded machine), so the warning is
			// counted in the log, where it is always written; a status
			// that carries it must be one of those.
			if n := logged.count.Load(); (n > 0) != tc.warned || warning != nil && n == 0 {
				t.Errorf("crossfade %v: %d warnings logged, status warning %v; want one: %v", tc.fade, n, warning, tc.warned)
			}
			if warning != nil {
				t.Logf("warning: %v", warning)
			}
		})
	}
}

// shortenedLog is a slog.Handler counting the player's "crossfade
// shortened" warnings.
type shortenedLog struct{ count atomic.Int64 }

func (h *shortenedLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *shortenedLog) Handle(_ context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && r.Message == "player: crossfade shortened" {
		h.count.Add(1)
	}
	return nil
}

func (h *shortenedLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *shortenedLog) WithGroup(string) slog.Handler      { return h }

// reasonLog is a slog.Handler keeping the reason of the player's
// "crossfade shortened" warnings.
type reasonLog struct {
	mu      sync.Mutex
	reasons []string
}

func (h *reasonLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *reasonLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "player: crossfade shortened" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "reason" {
			h.mu.Lock()
			h.reasons = append(h.reasons, a.Value.String())
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

func (h *reasonLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *reasonLog) WithGroup(string) slog.Handler      { return h }

// A crossfade longer than both tracks is shortened to the shorter one,
// and the warning names that one: the incoming track when it is the
// shorter, even though the outgoing one is shorter than the crossfade
// too.
func TestCrossfadeShortenedNamesTheShorterTrack(t *testing.T) {
	mem, _ := newMemSource(t)
	src := shortSource{mem}
	dur := func(id model.TrackID) time.Duration {
		ts, err := src.OpenTrack(context.Background(), id, model.TierHigh)
		if err != nil {
			t.Fatal(err)
		}
		n := ts.Manifest().TotalSamples
		return time.Duration(n/44100)*time.Second + time.Duration(n%44100*int64(time.Second)/44100)
	}
	tests := []struct {
		out, in model.TrackID
		want    string
	}{
		{"t1/2", "t2/1", "the incoming track lasts " + dur("t2/1").String()},
		{"t1/1", "t2/2", "the outgoing track lasts " + dur("t1/1").String()},
	}
	for _, tc := range tests {
		t.Run(string(tc.out)+"→"+string(tc.in), func(t *testing.T) {
			logged := &reasonLog{}
			p, err := player.New(src, player.NewDiscardSink(44100, 2), player.DefaultOptions().WithLogger(slog.New(logged)))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			sub, cancel := p.Subscribe()
			defer cancel()
			if err := p.SetCrossfade(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			items := []player.Item{{Track: tc.out, Album: "one"}, {Track: tc.in, Album: "two"}}
			if err := p.Play(model.PlayContext{Kind: "playlist", ID: "mix"}, items, 0); err != nil {
				t.Fatal(err)
			}
			timeout := time.After(60 * time.Second)
			for started, done := false, false; !done; {
				select {
				case st := <-sub:
					started = started || st.State == player.StatePlaying
					done = started && st.State == player.StateEnded
				case <-timeout:
					t.Fatal("playback did not end")
				}
			}
			logged.mu.Lock()
			defer logged.mu.Unlock()
			if len(logged.reasons) != 1 || logged.reasons[0] != tc.want {
				t.Errorf("reasons %q, want [%q]", logged.reasons, tc.want)
			}
		})
	}
}
