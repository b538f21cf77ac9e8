package ingest

import (
	"bytes"
	"context"
	"testing"
	"testing/fstest"
	"time"

	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/internal/testtool"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/store"
)

// BenchmarkIngest measures ingest time per track. "master" encodes the
// demo album's first track (14 s float WAV master, 44.1 kHz stereo) into
// four tiers with oggenc run one process at a time, so the encoder's wall
// time and ours (hash, decode, loudness, segmentation, encryption, blob
// writes, signing, publish) add up to the total. "pre-encoded" ingests
// the four demo tracks from their committed tiers (no encoder at all).
func BenchmarkIngest(b *testing.B) {
	ctx := context.Background()
	b.Run("master", func(b *testing.B) {
		testtool.Need(b, "oggenc")
		var wav bytes.Buffer
		if err := demoalbum.WriteWAV(&wav, demoalbum.Split(demoalbum.Synthesize())[0], demoalbum.Rate, demoalbum.Channels); err != nil {
			b.Fatal(err)
		}
		fsys := fstest.MapFS{"01.wav": {Data: wav.Bytes()}, "01.wav.json": {Data: []byte(`{"title":"Arrival","artists":["Segue Ensemble"],"album":"Segue Demo"}`)}}
		req, err := LoadFiles(fsys, "01.wav")
		if err != nil {
			b.Fatal(err)
		}
		var enc, total time.Duration
		b.ResetTimer()
		for b.Loop() {
			cat := catalog.New(store.NewMemory(), catalog.AtRestKey{})
			res, err := Ingest(ctx, cat, testSigner, req, DefaultOptions().WithParallel(1))
			if err != nil {
				b.Fatal(err)
			}
			enc += res.EncoderTime
			total += res.Elapsed
		}
		n := float64(b.N)
		b.ReportMetric(float64(total.Milliseconds())/n, "ms/track")
		b.ReportMetric(float64(enc.Milliseconds())/n, "encoder-ms/track")
		b.ReportMetric(float64((total-enc).Milliseconds())/n, "ours-ms/track")
		b.ReportMetric(float64(total-enc)/float64(total)*100, "ours-%")
	})
	b.Run("pre-encoded", func(b *testing.B) {
		req, err := LoadAlbum(demoalbum.FS, demoalbum.AlbumPath)
		if err != nil {
			b.Fatal(err)
		}
		var total time.Duration
		for b.Loop() {
			cat := catalog.New(store.NewMemory(), catalog.AtRestKey{})
			res, err := Ingest(ctx, cat, testSigner, req, DefaultOptions())
			if err != nil {
				b.Fatal(err)
			}
			total += res.Elapsed
		}
		b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N*len(req.Tracks)), "ms/track")
	})
}
