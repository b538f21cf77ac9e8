package player_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
)

// skewSource serves synthSource's tracks under manifests whose length
// (and last chunk's) is off by skew frames from what the track decodes to.
type skewSource struct {
	*synthSource
	skew map[model.TrackID]int64
}

func (s *skewSource) OpenTrack(ctx context.Context, id model.TrackID, tier model.Tier) (player.TrackSource, error) {
	ts, err := s.synthSource.OpenTrack(ctx, id, tier)
	if err != nil {
		return nil, err
	}
	m := ts.Manifest()
	m.TotalSamples += s.skew[id]
	m.Chunks[len(m.Chunks)-1].Samples += s.skew[id]
	return ts, nil
}

// render plays items from src to a stereo sink at rate and returns its
// frames and the errors published.
func render(t *testing.T, src player.Source, rate int, fade time.Duration, items ...player.Item) ([]float32, []error) {
	t.Helper()
	sink := &recSink{rate: rate, ch: 2}
	p, err := player.New(src, sink, player.DefaultOptions().WithTier(model.TierHigh).WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.SetCrossfade(fade); err != nil {
		t.Fatal(err)
	}
	sub, cancel := p.Subscribe()
	defer cancel()
	var errs []error
	playToEnd(t, p, sub, items, func(st player.Status) {
		if st.Err != nil {
			errs = append(errs, st.Err)
		}
	})
	sink.mu.Lock()
	defer sink.mu.Unlock()
	return append([]float32(nil), sink.frames...), errs
}

// A track that decodes to one frame more or less than its manifest says
// fails with ErrLength after every frame it decoded, up to the manifest's
// length, was heard; the next track then plays whole. Before, the failure
// dropped the decoded frames after the last whole block (784 of 10,000
// here) and, at another output rate, the resampler's tail.
func TestLengthMismatchPlaysDecodedTail(t *testing.T) {
	a, b := model.TrackID("10000@44100x2"), model.TrackID("5000@44100x2")
	src := newSynthSource(t, a, b)
	tests := []struct {
		rate  int
		skew  int64 // manifest length − decoded length of a
		album model.AlbumID
		fade  time.Duration
	}{
		{44100, 1, "a", 0},
		{44100, -1, "a", 0},
		{44100, 1, "b", 0},
		{44100, -1, "b", 0},
		{44100, 1, "b", 50 * time.Millisecond},
		{44100, -1, "b", 50 * time.Millisecond},
		{48000, 1, "a", 0},
		{48000, -1, "a", 0},
		{48000, 1, "b", 0},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.rate, "Hz skew ", tc.skew, " album ", tc.album, " fade ", tc.fade), func(t *testing.T) {
			// The frames of a that can be heard: what it decodes, up to its
			// manifest's length.
			ref, _ := render(t, src, tc.rate, 0, player.Item{Track: a, Album: "a"})
			refA := ref[:2*ceilDiv((10000+min(tc.skew, 0))*int64(tc.rate), 44100)]
			refB, _ := render(t, src, tc.rate, 0, player.Item{Track: b, Album: "b"})
			ss := &skewSource{src, map[model.TrackID]int64{a: tc.skew}}
			got, errs := render(t, ss, tc.rate, tc.fade, player.Item{Track: a, Album: "a"}, player.Item{Track: b, Album: tc.album})
			if len(errs) != 1 || !errors.Is(errs[0], player.ErrLength) {
				t.Errorf("errors %v, want one ErrLength", errs)
			}
			// A crossfade mixes the second track into the first one's
			// manifest's last frames. When the first track decodes them all
			// (a longer decode, cut to the manifest), the fade completes;
			// else the first track ends at its failure, a frame early, and
			// the second one goes on fading in where it is (before, it
			// started again after the failure).
			fade := int(tc.fade.Seconds() * 44100)
			overlap := 0
			if fade > 0 {
				overlap = 2 * (fade - int(max(tc.skew, 0)))
			}
			if len(got) != len(refA)+len(refB)-overlap {
				t.Fatalf("%d frames, want %d (%d of the first track, %d of the second, %d overlapping)", len(got)/2, (len(refA)+len(refB)-overlap)/2, len(refA)/2, len(refB)/2, overlap/2)
			}
			// At another rate a's last frames differ within the resampler's
			// reach: the track cut by its manifest is flushed after its
			// last frame, the reference after the one after it.
			exact := len(refA)
			if tc.skew < 0 {
				r, err := player.NewResampler(44100, tc.rate, 2)
				if err != nil {
					t.Fatal(err)
				}
				exact -= 2 * int(r.OutFrames(int64(r.Latency())))
			}
			if fade > 0 {
				exact = 2 * (10000 + int(tc.skew) - fade)
			}
			for i := range exact {
				if got[i] != refA[i] {
					t.Fatalf("first track: sample %d is %v, want %v", i, got[i], refA[i])
				}
			}
			for i := 2 * fade; i < len(refB); i++ {
				if j := len(refA) - overlap + i; got[j] != refB[i] {
					t.Fatalf("second track: sample %d is %v, want %v", i, got[j], refB[i])
				}
			}
		})
	}
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
