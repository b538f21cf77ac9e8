package core_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	tbed "github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/player"
)

// TestPrefetchHeads: Prefetch refuses a bad tier or an empty list; a
// track it readied opens (Source) carrying its first player.PrefetchHeadFrames frames decoded,
// bit for bit what the player's decoder makes of its header and chunk 0;
// a track not readied carries none; no more than player.PrefetchMaxTracks heads are
// kept; registering again drops them.
func TestPrefetchHeads(t *testing.T) {
	ctx := t.Context()
	r := tbed.NewRelay(t, tbed.DefaultOptions())
	e := tbed.Device(t, r, "prefetch")
	for _, c := range []struct {
		tier model.Tier
		ids  []model.TrackID
	}{{"loud", r.Tracks[:1]}, {model.TierLow, nil}} {
		if err := e.Prefetch(ctx, c.tier, c.ids); !errors.Is(err, core.ErrPrefetchArgs) {
			t.Errorf("Prefetch(%q, %v) = %v, want ErrPrefetchArgs", c.tier, c.ids, err)
		}
	}
	if err := e.Prefetch(ctx, model.TierHigh, r.Tracks[:2]); err != nil {
		t.Fatal(err)
	}
	head := func(id model.TrackID, tier model.Tier) ([]float32, []float32) {
		t.Helper()
		ts, err := core.Source{E: e}.OpenTrack(ctx, id, tier)
		if err != nil {
			t.Fatal(err)
		}
		defer ts.Close()
		hdr, err := ts.Header(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c0, err := ts.Chunk(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		want, err := player.DecodeHead(ctx, ts.Manifest(), bytes.NewReader(append(hdr, c0...)), player.PrefetchHeadFrames, player.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		return ts.(player.HeadSource).Head(), want
	}
	for _, id := range r.Tracks[:2] {
		got, want := head(id, model.TierHigh)
		if len(got) != player.PrefetchHeadFrames*2 || len(got) != len(want) {
			t.Fatalf("track %s: head of %d samples, want %d", id, len(got), len(want))
		}
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("track %s: head sample %d is %v, the decoder's %v", id, i, got[i], want[i])
			}
		}
	}
	if got, _ := head(r.Tracks[2], model.TierHigh); got != nil {
		t.Fatal("a track not prefetched has a head")
	}

	var all []struct {
		id   model.TrackID
		tier model.Tier
	}
	for _, tier := range []model.Tier{model.TierLow, model.TierNormal, model.TierHigh} {
		if err := e.Prefetch(ctx, tier, r.Tracks); err != nil {
			t.Fatal(err)
		}
		for _, id := range r.Tracks {
			all = append(all, struct {
				id   model.TrackID
				tier model.Tier
			}{id, tier})
		}
	}
	if len(all) <= player.PrefetchMaxTracks {
		t.Fatalf("the test readies %d tracks, not more than the bound %d", len(all), player.PrefetchMaxTracks)
	}
	count := func() int {
		n := 0
		for _, a := range all {
			if got, _ := head(a.id, a.tier); got != nil {
				n++
			}
		}
		return n
	}
	if n := count(); n != player.PrefetchMaxTracks {
		t.Fatalf("%d of %d readied tracks have a head, want the bound %d", n, len(all), player.PrefetchMaxTracks)
	}
	tbed.Register(t, e, "prefetch", "test device")
	if n := count(); n != 0 {
		t.Fatalf("%d heads after registering again", n)
	}
}
