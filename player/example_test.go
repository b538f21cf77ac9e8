package player_test

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/server/ingest/segment"
)

func ExampleMixer() {
	// Two tracks of one album join gaplessly: 3 + 2 frames, mono. A
	// Read stops at the join, where a player queues the stream after the
	// new current one.
	m := player.NewMixer(1)
	m.Play(player.NewSliceStream([]float32{1, 2, 3}, 1))
	m.Enqueue(player.NewSliceStream([]float32{4, 5}, 1), 0)
	var out []float32
	buf := make([]float32, 8)
	for {
		n, err := m.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			fmt.Println(out, err == io.EOF)
			return
		}
	}
	// Output: [1 2 3 4 5] true
}

func ExampleQueue() {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	q := player.NewQueue(player.QueueConfig{Rate: 44100, Tier: model.TierHigh})
	fx := q.Step(t0, player.PlayContext{Items: []player.Item{{Track: "a"}, {Track: "b"}}})
	load := fx[0].(player.Load)
	q.Step(t0, player.Advanced{Load: load.Load, Frames: 31 * 44100})
	for _, f := range q.Step(t0.Add(31*time.Second), player.Next{}) {
		if r, ok := f.(player.Record); ok {
			fmt.Println(r.Event.TrackID, r.Event.Played, r.Event.End, r.Event.IsStream)
		}
	}
	// Output: a 31s skipped true
}

func ExampleNormalisationGainDB() {
	master := model.Loudness{IntegratedLUFS: -9, TruePeakDBTP: 0.3}
	fmt.Printf("%.1f dB\n", player.NormalisationGainDB(master, model.Loudness{}, player.DefaultGainOptions()))
	// Output: -5.0 dB
}

// exampleSource is a player.Source over the demo album's Ogg files in
// memory, segmented like the relay's blobs (header, then chunks with
// primer pages). The engine's Source fetches, verifies and decrypts the
// same layout from a relay.
type exampleSource struct{}

type exampleTrack struct {
	m  *model.Manifest
	st *segment.Stream
}

func (a exampleSource) OpenTrack(ctx context.Context, id model.TrackID, tier model.Tier) (player.TrackSource, error) {
	data, err := demoalbum.FS.ReadFile(fmt.Sprintf("data/%s.%s.ogg", id, tier))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", player.ErrUnplayable, err)
	}
	st, err := segment.Split(data, segment.DefaultOptions())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", player.ErrUnplayable, err)
	}
	return newExampleTrack(id, tier, st), nil
}

// newExampleTrack is the track of a segmented Vorbis stream: its
// manifest lists the stream's chunks.
func newExampleTrack(id model.TrackID, tier model.Tier, st *segment.Stream) *exampleTrack {
	m := &model.Manifest{Version: model.ManifestVersion, TrackID: id, Tier: tier, Codec: model.CodecVorbis,
		SampleRate: st.SampleRate, Channels: st.Channels, TotalSamples: st.TotalSamples,
		Header: model.BlobRef{Size: int64(len(st.Header))}}
	for i, c := range st.Chunks {
		m.Chunks = append(m.Chunks, model.Chunk{Index: i, FirstSample: c.FirstSample, Samples: c.Samples,
			PrimerSize: int64(c.PrimerSize), Blob: model.BlobRef{Size: int64(len(c.Data))}})
	}
	return &exampleTrack{m: m, st: st}
}

func (t *exampleTrack) Manifest() *model.Manifest { return t.m }

func (t *exampleTrack) Header(ctx context.Context) ([]byte, error) {
	return append([]byte(nil), t.st.Header...), nil
}

func (t *exampleTrack) Chunk(ctx context.Context, i int) ([]byte, error) {
	if i < 0 || i >= len(t.st.Chunks) {
		return nil, fmt.Errorf("%w: chunk %d of %d", player.ErrUnplayable, i, len(t.st.Chunks))
	}
	return append([]byte(nil), t.st.Chunks[i].Data...), nil
}

func (t *exampleTrack) Close() error { return nil }

// ExampleNew plays the first two tracks of the demo album gaplessly into
// a DiscardSink and prints what reached the sink: exactly the two tracks'
// samples, with no gap between them.
func ExampleNew() {
	sink := player.NewDiscardSink(44100, 2)
	p, err := player.New(exampleSource{}, sink, player.DefaultOptions().WithTier(model.TierHigh))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	statuses, stop := p.Subscribe()
	defer stop()
	items := []player.Item{{Track: "01", Album: "demo"}, {Track: "02", Album: "demo"}}
	if err := p.Play(model.PlayContext{Kind: "album", ID: "demo"}, items, 0); err != nil {
		fmt.Println(err)
		return
	}
	started := false
	for st := range statuses {
		started = started || st.State == player.StatePlaying
		if started && st.State == player.StateEnded {
			break
		}
	}
	fmt.Println(sink.Frames(), "frames; album cut after track 1 at", demoalbum.Cuts[0])
	// Output: 1299709 frames; album cut after track 1 at 617003
}
