package player_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
)

// headSource is memSource whose tracks carry a decoded head made by
// head from the track's header and chunk 0.
type headSource struct {
	*memSource
	head func(t *testing.T, m *model.Manifest, hdr, c0 []byte) []float32
	t    *testing.T
}

type headTrack struct {
	player.TrackSource
	head []float32
}

func (h *headTrack) Head() []float32 { return h.head }

func (s headSource) OpenTrack(ctx context.Context, id model.TrackID, tier model.Tier) (player.TrackSource, error) {
	ts, err := s.memSource.OpenTrack(ctx, id, tier)
	if err != nil {
		return nil, err
	}
	hdr, err := ts.Header(ctx)
	if err != nil {
		return nil, err
	}
	c0, err := ts.Chunk(ctx, 0)
	if err != nil {
		return nil, err
	}
	return &headTrack{ts, s.head(s.t, ts.Manifest(), hdr, c0)}, nil
}

// decoded is a head function decoding n frames with DecodeHead.
func decoded(n int) func(t *testing.T, m *model.Manifest, hdr, c0 []byte) []float32 {
	return func(t *testing.T, m *model.Manifest, hdr, c0 []byte) []float32 {
		h, err := player.DecodeHead(context.Background(), m, io.MultiReader(bytes.NewReader(hdr), bytes.NewReader(c0)), n, player.DefaultOptions())
		if err != nil {
			t.Error(err)
		}
		return h
	}
}

// TestHeadPlaysTheSame plays two tracks of the demo album from sources
// whose tracks carry a decoded head: heads DecodeHead made give the output
// of a plain play, bit for bit (short, across the decoder's blocks,
// longer than chunk 0); heads that do not fit the manifest are ignored;
// a head of silence on the first track is played (so the head is what
// the output starts with) and the decode resumes after it.
func TestHeadPlaysTheSame(t *testing.T) {
	src, ids := newMemSource(t)
	ids = ids[:2]
	opts := player.DefaultOptions().WithTier(model.TierHigh)
	want, _ := playToWAV(t, src, opts, albumItems(ids), nil)
	const silent = 3000
	for _, tc := range []struct {
		name  string
		head  func(t *testing.T, m *model.Manifest, hdr, c0 []byte) []float32
		quiet int // leading frames of each track the head silences
	}{
		{name: "one frame", head: decoded(1)},
		{name: "1000 frames", head: decoded(1000)},
		{name: "two decoder blocks and a part", head: decoded(9000)},
		{name: "longer than chunk 0", head: decoded(player.MaxHeadFrames)},
		{name: "odd length ignored", head: func(*testing.T, *model.Manifest, []byte, []byte) []float32 { return make([]float32, 7) }},
		{name: "longer than the track ignored", head: func(_ *testing.T, m *model.Manifest, _, _ []byte) []float32 {
			return make([]float32, (m.TotalSamples+1)*int64(m.Channels))
		}},
		{name: "silence played", head: func(t *testing.T, m *model.Manifest, hdr, c0 []byte) []float32 {
			if m.TrackID != ids[0] {
				return decoded(silent)(t, m, hdr, c0)
			}
			return make([]float32, silent*m.Channels)
		}, quiet: silent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := playToWAV(t, headSource{memSource: src, head: tc.head, t: t}, opts, albumItems(ids), nil)
			if len(got) != len(want) {
				t.Fatalf("%d samples, without a head %d", len(got), len(want))
			}
			first := 0
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					first = i
					if tc.quiet == 0 || i >= tc.quiet*2 {
						t.Fatalf("sample %d: %v, without a head %v", i, got[i], want[i])
					}
					if got[i] != 0 {
						t.Fatalf("sample %d of the silent head: %v", i, got[i])
					}
				}
			}
			if tc.quiet > 0 && first == 0 {
				t.Fatal("the silent head was not played")
			}
		})
	}
}

// TestDecodeHeadErrors: the frame count's bounds, a stream that is not
// Vorbis, and a manifest whose format differs from the stream's.
func TestDecodeHeadErrors(t *testing.T) {
	src, ids := newMemSource(t)
	ts, err := src.OpenTrack(context.Background(), ids[0], model.TierHigh)
	if err != nil {
		t.Fatal(err)
	}
	hdr, _ := ts.Header(context.Background())
	c0, _ := ts.Chunk(context.Background(), 0)
	mono := *ts.Manifest()
	mono.Channels = 1
	for _, tc := range []struct {
		name string
		m    *model.Manifest
		r    []byte
		n    int
		want error
	}{
		{name: "zero frames", m: ts.Manifest(), r: append(hdr, c0...), n: 0, want: player.ErrHeadFrames},
		{name: "over the bound", m: ts.Manifest(), r: append(hdr, c0...), n: player.MaxHeadFrames + 1, want: player.ErrHeadFrames},
		{name: "not vorbis", m: ts.Manifest(), r: bytes.Repeat([]byte("x"), 4096), n: 100, want: player.ErrUnplayable},
		{name: "format differs", m: &mono, r: append(hdr, c0...), n: 100, want: player.ErrUnplayable},
		{name: "header only", m: ts.Manifest(), r: hdr, n: 100, want: io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := player.DecodeHead(context.Background(), tc.m, bytes.NewReader(tc.r), tc.n, player.DefaultOptions()); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}
