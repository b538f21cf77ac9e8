package core_test

import (
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	tbed "github.com/segue-fm/segue/internal/testbed"
)

// TestManifestCopyIsDeep: Track.Manifest returns a copy owned by the
// caller, so changing any part of it changes neither the track nor the
// next copy. The copy used to share the Timing of a resampled tier (a
// pointer) with the track.
func TestManifestCopyIsDeep(t *testing.T) {
	r := tbed.NewRelay(t, tbed.DefaultOptions())
	e := tbed.Engine(t, core.DefaultOptions().WithOrigins(r.URL))
	tbed.Register(t, e, testUser, "test device")
	tr, err := e.OpenTrack(t.Context(), r.Tracks[1], model.TierLow)
	if err != nil {
		t.Fatal(err)
	}
	m := tr.Manifest()
	if m.Timing == nil || len(m.Chunks) == 0 {
		t.Fatalf("the low tier of a demo track has no timing or no chunks: %+v", m)
	}
	want := *m.Timing
	wantChunk := m.Chunks[0]
	m.Timing.SourceRate, m.Timing.RunOffset, m.Timing.Follows = 1, 2, "trOTHER"
	m.Chunks[0].Samples, m.Chunks[0].Blob.Size = 3, 4
	got := tr.Manifest()
	if *got.Timing != want {
		t.Errorf("timing after changing an earlier copy: %+v, want %+v", *got.Timing, want)
	}
	if got.Chunks[0] != wantChunk {
		t.Errorf("chunk 0 after changing an earlier copy: %+v, want %+v", got.Chunks[0], wantChunk)
	}
}
