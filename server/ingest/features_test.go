package ingest

import (
	"bytes"
	"context"
	"math"
	"testing"
	"testing/fstest"

	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/internal/testtool"
)

// TestIngestStoresFeatures: a master's audio features are measured at
// ingest and stored in the catalog with the track (issue 14 item 1).
func TestIngestStoresFeatures(t *testing.T) {
	testtool.Need(t, "oggenc")
	const rate, seconds = 44100, 12
	pcm := make([]float32, rate*seconds)
	for b := 0; b < len(pcm); b += rate / 2 { // a click every 0.5 s: 120 BPM
		for i := 0; i < rate/100 && b+i < len(pcm); i++ {
			pcm[b+i] = float32(0.8 * math.Exp(-float64(i)/80) * math.Sin(2*math.Pi*2000*float64(i)/rate))
		}
	}
	var wav bytes.Buffer
	if err := demoalbum.WriteWAV(&wav, pcm, rate, 1); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, _ := newCatalog()
	fsys := fstest.MapFS{"m.wav": {Data: wav.Bytes()}, "m.wav.json": {Data: []byte(`{"title":"Clicks","artists":["Tester"],"album":"Tests"}`)}}
	req, err := LoadFiles(fsys, "m.wav")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Ingest(ctx, c, testSigner, req, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := c.Track(ctx, res.Tracks[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	f := tr.Features
	if f == nil {
		t.Fatal("catalog track has no features")
	}
	if math.Abs(f.TempoBPM-120) > 1 || f.Energy <= 0 || f.CentroidHz < 1000 || f.OnsetRate < 1.8 || f.OnsetRate > 2.2 {
		t.Errorf("features %+v, want tempo 120 ± 1, 2 onsets/s, centroid near the 2 kHz click", *f)
	}
}
