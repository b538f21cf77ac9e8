package core_test

import (
	"errors"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	tbed "github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/sync/docs"
)

// TestDownloadedPlaysWithRelayDown downloads the demo album and a
// playlist of two of its tracks (in another order), stops the relay, and
// plays both through the engine's player: the track and album metadata,
// manifests, blobs and keys all come from what the downloads hold, and
// each play reaches the sink with exactly the tracks' sample counts.
// Metadata of tracks downloaded with the album answers TrackInfo and
// Album with the relay down.
func TestDownloadedPlaysWithRelayDown(t *testing.T) {
	const tier = model.TierNormal // 44.1 kHz: the output is the tracks' samples, unresampled
	r := tbed.NewRelay(t, tbed.DefaultOptions().WithLicenses(true))
	ctx := t.Context()
	e := tbed.Device(t, r, testUser)
	d, err := e.OpenDocs(ctx, testUser)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	dl, err := e.OpenDownloads(ctx, download.DefaultOptions().WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.FollowPlaylists(ctx, d); err != nil {
		t.Fatal(err)
	}
	pl, err := d.Playlists().Create(ctx, "Offline")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Playlists().Add(ctx, pl, docs.AtEnd(), r.Tracks[2], r.Tracks[0]); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []download.Ref{
		{Kind: download.KindPlaylist, ID: pl.String(), Tier: tier}, // resolved first: its tracks' metadata by GET /v1/tracks
		{Kind: download.KindAlbum, ID: string(r.Album), Tier: tier},
	} {
		if err := dl.Add(ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
	if err := dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	samples := map[model.TrackID]int64{}
	for _, id := range r.Tracks {
		env, err := r.Server().Catalog().Manifest(ctx, id, tier)
		if err != nil {
			t.Fatal(err)
		}
		m, err := crypto.OpenManifest(r.CatalogKey, env)
		if err != nil {
			t.Fatal(err)
		}
		samples[id] = m.TotalSamples
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}

	a, tracks, err := e.Album(ctx, r.Album)
	if err != nil || a.ID != r.Album || len(tracks) != len(r.Tracks) {
		t.Fatalf("Album with the relay down = %+v, %d tracks, %v; want %s with %d tracks", a, len(tracks), err, r.Album, len(r.Tracks))
	}
	if tr, err := e.TrackInfo(ctx, r.Tracks[1]); err != nil || tr.ID != r.Tracks[1] || tr.Title == "" {
		t.Fatalf("TrackInfo with the relay down = %+v, %v", tr, err)
	}
	if _, err := e.TrackInfo(ctx, "not-downloaded"); !errors.Is(err, core.ErrOffline) {
		t.Fatalf("TrackInfo of a track no download holds = %v, want ErrOffline", err)
	}

	cases := []struct {
		name  string
		play  func() error
		clips []model.TrackID
	}{
		{"album", func() error { return e.PlayAlbum(ctx, r.Album, 0) }, r.Tracks},
		{"playlist", func() error { return e.PlayPlaylist(ctx, d, pl, 0) }, []model.TrackID{r.Tracks[2], r.Tracks[0]}},
	}
	for _, tc := range cases {
		if t.Failed() {
			break
		}
		t.Run(tc.name, func(t *testing.T) {
			var want int64
			for _, id := range tc.clips {
				want += samples[id]
			}
			run := playThroughEngine(t, e, noGain(tier), func(*player.Player) error { return tc.play() }, nil)
			for _, st := range run.statuses {
				if st.Err != nil {
					t.Fatalf("player warning with the relay down: %v", st.Err)
				}
			}
			if got := int64(len(run.samples) / 2); got != want {
				t.Fatalf("played %d frames, want %d (the downloaded tracks' samples)", got, want)
			}
		})
	}

	// In offline mode a playlist entry no download holds is skipped at
	// once (with a warning status), not retried until the stall timeout,
	// and the rest plays.
	e.SetOfflineMode(true)
	defer e.SetOfflineMode(false)
	began := time.Now()
	ids := []model.TrackID{"not-downloaded", r.Tracks[3]}
	run := playThroughEngine(t, e, noGain(tier), func(*player.Player) error {
		return e.PlayTracks(ctx, model.PlayContext{Kind: "playlist", ID: "mixed"}, ids, 0)
	}, nil)
	if el := time.Since(began); el > 10*time.Second {
		t.Fatalf("the missing track held the play for %v", el)
	}
	var warned []error
	for _, st := range run.statuses {
		if st.Err != nil {
			warned = append(warned, st.Err)
		}
	}
	if len(warned) != 1 || !errors.Is(warned[0], player.ErrUnplayable) || !errors.Is(warned[0], core.ErrOffline) {
		t.Fatalf("warnings %v: want one skip of the track not downloaded (unplayable, offline)", warned)
	}
	if got := int64(len(run.samples) / 2); got != samples[r.Tracks[3]] {
		t.Fatalf("played %d frames, want the downloaded track's %d", got, samples[r.Tracks[3]])
	}
}
