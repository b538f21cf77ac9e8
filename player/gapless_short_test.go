package player_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testtool"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/server/ingest/segment"
)

// synthSource serves tracks oggenc encodes from sox's sine, of exact
// lengths: "<frames>@<rate>x<channels>".
type synthSource struct {
	streams map[model.TrackID]*segment.Stream
}

func newSynthSource(t *testing.T, ids ...model.TrackID) *synthSource {
	sox, oggenc := testtool.Need(t, "sox"), testtool.Need(t, "oggenc")
	s := &synthSource{streams: map[model.TrackID]*segment.Stream{}}
	dir := t.TempDir()
	for _, id := range ids {
		if s.streams[id] != nil {
			continue
		}
		var n, rate, ch int
		if _, err := fmt.Sscanf(string(id), "%d@%dx%d", &n, &rate, &ch); err != nil {
			t.Fatal(err)
		}
		w, o := filepath.Join(dir, "a.wav"), filepath.Join(dir, "a.ogg")
		if b, err := exec.Command(sox, "-r", fmt.Sprint(rate), "-c", fmt.Sprint(ch), "-n", "-b", "16", w,
			"synth", fmt.Sprintf("%ds", n), "sine", "440", "gain", "-6").CombinedOutput(); err != nil {
			t.Fatalf("sox: %v %s", err, b)
		}
		if b, err := exec.Command(oggenc, "-Q", "-o", o, w).CombinedOutput(); err != nil {
			t.Fatalf("oggenc: %v %s", err, b)
		}
		data, err := os.ReadFile(o)
		if err != nil {
			t.Fatal(err)
		}
		st, err := segment.Split(data, segment.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		if st.TotalSamples != int64(n) {
			t.Fatalf("%s: oggenc wrote %d frames", id, st.TotalSamples)
		}
		s.streams[id] = st
	}
	return s
}

func (s *synthSource) OpenTrack(ctx context.Context, id model.TrackID, tier model.Tier) (player.TrackSource, error) {
	st := s.streams[id]
	if st == nil {
		return nil, fmt.Errorf("%w: %s", player.ErrUnplayable, id)
	}
	return newExampleTrack(id, tier, st), nil
}

// Gapless play is sample-exact on tracks shorter than a block, of
// exactly a block and a block and a frame, and across a change of sample
// rate or channel count: the output holds the tracks' frames (at the
// output rate) and nothing more, within an album and across albums
// without a crossfade.
func TestGaplessShortTracksExact(t *testing.T) {
	tests := []struct {
		tracks []model.TrackID
		want   int64 // frames at 44.1 kHz
	}{
		{[]model.TrackID{"500@44100x2", "500@44100x2"}, 1000},
		{[]model.TrackID{"1024@44100x2", "1024@44100x2"}, 2048},
		{[]model.TrackID{"1025@44100x2", "1025@44100x2", "1@44100x2"}, 2051},
		{[]model.TrackID{"1023@44100x2", "1@44100x2", "1025@44100x2"}, 2049},
		{[]model.TrackID{"44100@44100x2", "48000@48000x2"}, 88200},
		{[]model.TrackID{"44100@44100x2", "44100@44100x1", "1024@44100x2"}, 89224},
		{[]model.TrackID{"24000@48000x1", "1024@44100x2"}, 22050 + 1024},
	}
	var all []model.TrackID
	for _, tc := range tests {
		all = append(all, tc.tracks...)
	}
	src := newSynthSource(t, all...)
	for _, tc := range tests {
		for _, albums := range []string{"one album", "an album each"} {
			t.Run(fmt.Sprint(tc.tracks, albums), func(t *testing.T) {
				var items []player.Item
				for i, id := range tc.tracks {
					album := model.AlbumID("a")
					if albums != "one album" {
						album = model.AlbumID(fmt.Sprint("a", i))
					}
					items = append(items, player.Item{Track: id, Album: album})
				}
				sink := player.NewDiscardSink(44100, 2)
				p, err := player.New(src, sink, player.DefaultOptions().WithTier(model.TierHigh).WithLogger(slog.New(slog.DiscardHandler)))
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				sub, cancel := p.Subscribe()
				defer cancel()
				playToEnd(t, p, sub, items, nil)
				if got := sink.Frames(); got != tc.want {
					t.Errorf("%d frames, want %d", got, tc.want)
				}
			})
		}
	}
}
