package player_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/player/wav"
	"github.com/segue-fm/segue/server/ingest/segment"
)

// memSource serves the demo album's real segmented Ogg Vorbis from
// memory: the plaintext a verified, decrypted fetch yields. It can fail
// chosen chunks a number of times, to exercise the player's retries.
type memSource struct {
	streams map[string]*segment.Stream
	mu      sync.Mutex
	fail    map[string]int // "<track>/<tier>/<chunk>" → failures left
	perm    map[string]bool
	fetches int
}

func newMemSource(t testing.TB) (*memSource, []model.TrackID) {
	t.Helper()
	meta, err := demoalbum.Album()
	if err != nil {
		t.Fatal(err)
	}
	s := &memSource{streams: map[string]*segment.Stream{}, fail: map[string]int{}, perm: map[string]bool{}}
	var ids []model.TrackID
	for i, tm := range meta.Tracks {
		id := model.TrackID(fmt.Sprintf("t%d", i+1))
		ids = append(ids, id)
		for _, tier := range model.Tiers {
			data, err := demoalbum.FS.ReadFile(path.Join("data", tm.Tiers[tier]))
			if err != nil {
				t.Fatal(err)
			}
			st, err := segment.Split(data, segment.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			s.streams[string(id)+"/"+string(tier)] = st
		}
	}
	return s, ids
}

var errNetDown = errors.New("memsource: network down")

func (s *memSource) OpenTrack(ctx context.Context, id model.TrackID, tier model.Tier) (player.TrackSource, error) {
	st, ok := s.streams[string(id)+"/"+string(tier)]
	if !ok {
		return nil, fmt.Errorf("%w: no %s/%s", player.ErrUnplayable, id, tier)
	}
	meta, _ := demoalbum.Album()
	n := 0
	fmt.Sscanf(string(id), "t%d", &n)
	m := &model.Manifest{Version: model.ManifestVersion, TrackID: id, Tier: tier, Codec: model.CodecVorbis,
		SampleRate: st.SampleRate, Channels: st.Channels, TotalSamples: st.TotalSamples,
		Loudness: meta.Tracks[n-1].Loudness, Header: model.BlobRef{Size: int64(len(st.Header))}, Bitrate: st.NominalBitrate}
	for i, c := range st.Chunks {
		m.Chunks = append(m.Chunks, model.Chunk{Index: i, FirstSample: c.FirstSample, Samples: c.Samples,
			PrimerSize: int64(c.PrimerSize), Blob: model.BlobRef{Size: int64(len(c.Data))}})
	}
	if tm := meta.Tracks[n-1]; st.SampleRate != tm.SampleRate {
		// What ingest records for the demo album's low tier, cut from the
		// piece resampled once.
		m.Timing = &model.Timing{SourceRate: tm.SampleRate, RunOffset: tm.CutOffset, SourceSamples: tm.Samples}
		if n > 1 {
			m.Timing.Follows = model.TrackID(fmt.Sprintf("t%d", n-1))
		}
	}
	return &memTrack{s: s, st: st, m: m}, nil
}

type memTrack struct {
	s  *memSource
	st *segment.Stream
	m  *model.Manifest
}

func (t *memTrack) Manifest() *model.Manifest { return t.m }
func (t *memTrack) Header(ctx context.Context) ([]byte, error) {
	return bytes.Clone(t.st.Header), nil
}
func (t *memTrack) Chunk(ctx context.Context, i int) ([]byte, error) {
	key := fmt.Sprintf("%s/%s/%d", t.m.TrackID, t.m.Tier, i)
	t.s.mu.Lock()
	t.s.fetches++
	perm := t.s.perm[key]
	left := t.s.fail[key]
	if left > 0 {
		t.s.fail[key] = left - 1
	}
	t.s.mu.Unlock()
	if perm {
		return nil, fmt.Errorf("%w: chunk %s corrupt everywhere", player.ErrUnplayable, key)
	}
	if left > 0 {
		return nil, errNetDown
	}
	return bytes.Clone(t.st.Chunks[i].Data), nil
}
func (t *memTrack) Close() error { return nil }

// decodeWhole decodes a track's tier file in one piece (the oracle for
// the pipeline, which decodes it chunk by chunk).
func albumItems(ids []model.TrackID) []player.Item {
	var items []player.Item
	for _, id := range ids {
		items = append(items, player.Item{Track: id, Artist: "ensemble", Album: "demo"})
	}
	return items
}

// playToWAV plays items into an in-memory float WAV sink until the queue
// ends, applying control at each status, and returns the samples.
func playToWAV(t *testing.T, src player.Source, opts player.Options, items []player.Item, control func(p *player.Player, st player.Status)) ([]float32, []player.Status) {
	t.Helper()
	var buf seekBuffer
	sink, err := player.NewWAVSink(&buf, 44100, 2, wav.F32)
	if err != nil {
		t.Fatal(err)
	}
	p, err := player.New(src, sink, opts.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sub, cancel := p.Subscribe()
	defer cancel()
	if err := p.Play(model.PlayContext{Kind: "album", ID: "demo"}, items, 0); err != nil {
		t.Fatal(err)
	}
	seen := []player.Status{{}}
	timeout := time.After(60 * time.Second)
	started := false
	for done := false; !done; {
		select {
		case st := <-sub:
			seen = append(seen, st)
			if st.State == player.StateBuffering || st.State == player.StatePlaying {
				started = true
			}
			if control != nil {
				control(p, st)
			}
			if started && (st.State == player.StateEnded || st.State == player.StateIdle) {
				done = true
			}
		case <-timeout:
			t.Fatalf("playback did not end; last status %+v", seen[len(seen)-1])
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	a, err := wav.Read(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return a.Samples, seen
}

// seekBuffer is an in-memory io.WriteSeeker.
type seekBuffer struct {
	b   []byte
	off int
}

func (s *seekBuffer) Write(p []byte) (int, error) {
	if need := s.off + len(p); need > len(s.b) {
		s.b = append(s.b, make([]byte, need-len(s.b))...)
	}
	copy(s.b[s.off:], p)
	s.off += len(p)
	return len(p), nil
}

func (s *seekBuffer) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case 0:
		s.off = int(off)
	case 1:
		s.off += int(off)
	case 2:
		s.off = len(s.b) + int(off)
	}
	return int64(s.off), nil
}

func (s *seekBuffer) Bytes() []byte { return s.b }

func TestPlayAlbumExactLength(t *testing.T) {
	src, ids := newMemSource(t)
	for _, tier := range []model.Tier{model.TierHigh, model.TierLow} {
		t.Run(string(tier), func(t *testing.T) {
			opts := player.DefaultOptions().WithTier(tier).WithGain(player.DefaultGainOptions().WithMode(player.GainOff)).
				WithShuffleRand(rand.New(rand.NewPCG(1, 2)))
			got, _ := playToWAV(t, src, opts, albumItems(ids), nil)
			var want int64
			var lowIn int64
			for _, id := range ids {
				st := src.streams[string(id)+"/"+string(tier)]
				want += st.TotalSamples
				lowIn += st.TotalSamples
			}
			if tier == model.TierLow {
				// The low tier's tracks are the piece resampled once:
				// played in order at the master's rate they are exactly
				// the piece, not their 16 kHz total upsampled.
				r, _ := player.NewResampler(16000, 44100, 2)
				if r.OutFrames(lowIn) == demoalbum.TotalSamples {
					t.Fatal("the demo album's 16 kHz length upsamples to the piece's length: the test cannot tell")
				}
				want = demoalbum.TotalSamples
			}
			if n := int64(len(got) / 2); n != want {
				t.Fatalf("%d frames, want %d", n, want)
			}
		})
	}
}
