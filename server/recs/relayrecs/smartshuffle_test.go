package relayrecs_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/sync/docs"
)

// TestSmartShuffleInPlayer: alice plays her own 7-entry playlist with
// Smart Shuffle on; the engine inserts her Discover Weekly tracks (the
// two demo tracks she never played) after entries 3 and 6, the player
// marks them, their play events carry context smart_shuffle with the
// playlist's id while the entries keep context playlist, and the
// playlist document is unchanged.
func TestSmartShuffleInPlayer(t *testing.T) {
	clk := &clock{t: epoch}
	var r *testbed.Relay
	r, svc := startRelay(t, func(ctx context.Context, from, to time.Time) (map[model.UserID]map[model.TrackID]uint64, error) {
		return demoPlays(r)(ctx, from, to)
	}, clk)
	ctx := t.Context()
	alice := testbed.Device(t, r, "alice")
	if _, err := svc.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := alice.OpenDocs(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := alice.Recommendations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dw, err := docs.ParseDocumentID(recs.Playlists[0].Doc)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "Discover Weekly reaches the device", func() bool {
		v, err := d.Playlists().Get(ctx, dw)
		return err == nil && len(v.Entries) == 2
	})
	t0, t1 := r.Tracks[0], r.Tracks[1]
	entries := []model.TrackID{t0, t1, t0, t1, t0, t1, t0}
	pl, err := d.Playlists().Create(ctx, "mine")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Playlists().Add(ctx, pl, docs.AtEnd(), entries...); err != nil {
		t.Fatal(err)
	}
	p, err := alice.OpenPlayer(player.NewDiscardSink(demoalbum.Rate, demoalbum.Channels), player.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer alice.ClosePlayer()
	sub, cancel := p.Subscribe()
	defer cancel()
	alice.SetSmartShuffle(true)
	if err := alice.PlayPlaylist(ctx, d, pl, 0); err != nil {
		t.Fatal(err)
	}
	var played []model.TrackID
	var inserted []bool
	timeout := time.After(60 * time.Second)
	last := -1
	for done := false; !done; {
		select {
		case st := <-sub:
			if st.State == player.StatePlaying && st.Index != last {
				last = st.Index
				played, inserted = append(played, st.Track), append(inserted, st.Inserted)
				if err := p.Next(); err != nil {
					t.Fatal(err)
				}
			}
			done = st.State == player.StateEnded || st.State == player.StateIdle && len(played) > 0
		case <-timeout:
			t.Fatalf("playback did not end; played %v", played)
		}
	}
	if len(played) != 9 {
		t.Fatalf("played %d items %v, want 7 entries + 2 inserted", len(played), played)
	}
	for i, tr := range played {
		wantIns := i == 3 || i == 7
		if inserted[i] != wantIns || wantIns != (tr == r.Tracks[2] || tr == r.Tracks[3]) {
			t.Fatalf("item %d: %s inserted=%v; played %v", i, tr, inserted[i], played)
		}
	}
	if err := alice.ClosePlayer(); err != nil {
		t.Fatal(err)
	}
	hist, err := alice.History().List(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var smart, plain int
	for _, h := range hist {
		switch h.Event.Context {
		case model.PlayContext{Kind: player.ContextSmartShuffle, ID: pl.String()}:
			smart++
		case model.PlayContext{Kind: "playlist", ID: pl.String()}:
			plain++
		default:
			t.Fatalf("event context %+v", h.Event.Context)
		}
	}
	if smart != 2 || plain != 7 {
		t.Fatalf("events: %d smart_shuffle, %d playlist; want 2 and 7", smart, plain)
	}
	v, err := d.Playlists().Get(ctx, pl)
	if err != nil {
		t.Fatal(err)
	}
	var got []model.TrackID
	for _, e := range v.Entries {
		got = append(got, e.Track)
	}
	if !slices.Equal(got, entries) {
		t.Fatalf("playlist became %v", got)
	}
}
