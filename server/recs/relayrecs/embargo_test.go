package relayrecs_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/recs/relayrecs"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
)

// TestEmbargoedNotRecommended: an album under embargo (model.Album
// ReleaseAt ahead of the relay's clock) is in no service playlist and no
// similar-tracks answer, even when its metadata release date is already
// past and its tracks sound exactly like the listener's favourites; a
// run after the release instant uses it.
func TestEmbargoedNotRecommended(t *testing.T) {
	releaseAt := epoch.Add(24 * time.Hour)
	for _, embargoed := range []bool{true, false} {
		t.Run(fmt.Sprintf("embargoed=%v", embargoed), func(t *testing.T) {
			f := newFixture(t, "alice")
			ctx := t.Context()
			// One album per artist, dated 6 days before epoch (inside
			// Friday 2026-11-27's Release Radar window), each track a
			// twin of one the artist already has.
			for a := range 40 {
				artist := model.ArtistID(fmt.Sprintf("a%03d", a))
				album := model.AlbumID(fmt.Sprintf("emb%03d", a))
				var ids []model.TrackID
				for i := range 3 {
					id := model.TrackID(fmt.Sprintf("e%03d-%02d", a, i))
					f.cat.tracks = append(f.cat.tracks, model.Track{ID: id, ArtistIDs: []model.ArtistID{artist}, AlbumID: album, Features: f.cat.tracks[a*8+i].Features})
					ids = append(ids, id)
				}
				al := model.Album{ID: album, ArtistIDs: []model.ArtistID{artist}, ReleaseDate: epoch.AddDate(0, 0, -6).Format(time.DateOnly), TrackIDs: ids}
				if embargoed {
					al.ReleaseAt = releaseAt.Unix()
				}
				f.cat.albums[album] = al
			}
			if _, err := f.svc.RunDue(ctx); err != nil {
				t.Fatal(err)
			}
			count := func(tracks []model.TrackID) int {
				n := 0
				for _, id := range tracks {
					if strings.HasPrefix(string(id), "e") {
						n++
					}
				}
				return n
			}
			in := map[string]int{}
			for _, k := range []string{relayrecs.KindDiscoverWeekly, relayrecs.KindReleaseRadar, relayrecs.DailyMixKind(1)} {
				_, tracks, _ := f.playlist(t, "alice", k)
				in[k] = count(tracks)
			}
			sim, simErr := f.svc.Similar(ctx, "t000-00", relayrecs.MaxSimilar)
			if simErr != nil {
				t.Fatal(simErr)
			}
			in["similar"] = count(sim)
			_, ownErr := f.svc.Similar(ctx, "e000-00", 10)
			if !embargoed {
				for k, n := range in {
					if n == 0 {
						t.Errorf("released album: none of its tracks in %s (the test no longer exercises it)", k)
					}
				}
				if ownErr != nil {
					t.Errorf("similar to a released track: %v", ownErr)
				}
				return
			}
			for k, n := range in {
				if n != 0 {
					t.Errorf("%s holds %d tracks of albums under embargo", k, n)
				}
			}
			if !errors.Is(ownErr, catalog.ErrNotFound) {
				t.Errorf("similar to an embargoed track: %v, want catalog.ErrNotFound", ownErr)
			}
			// After the release instant the next run (the daily mixes
			// of the next day) trains with the album.
			f.clk.set(releaseAt.Add(12 * time.Hour))
			if _, err := f.svc.RunDue(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.Similar(ctx, "e000-00", 10); err != nil {
				t.Errorf("similar to the track after its release: %v", err)
			}
		})
	}
}

// TestReleaseRadarEmbargoOnly: an album whose only release time is its
// embargo (release_at, no full release_date) is a new release once the
// embargo ends: the next Release Radar lists it.
func TestReleaseRadarEmbargoOnly(t *testing.T) {
	f := newFixture(t, "alice")
	// Released on Wednesday 2026-11-25 09:00 UTC by artist a000, whom
	// alice follows; the metadata date is only a year.
	f.cat.albums["new000"] = model.Album{ID: "new000", ArtistIDs: []model.ArtistID{"a000"}, ReleaseDate: "2026",
		ReleaseAt: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC).Unix(), TrackIDs: f.cat.albums["new000"].TrackIDs}
	libID, _, err := relaysync.LibraryOf(t.Context(), f.st, "alice")
	if err != nil {
		t.Fatal(err)
	}
	lib, err := f.docs.OpenLibrary(t.Context(), libID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := lib.Library(t.Context(), func(l *docs.Library) error { return l.FollowArtists("a000") }); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, radar, si := f.playlist(t, "alice", relayrecs.KindReleaseRadar)
	if si.Period != "2026-11-27" {
		t.Fatalf("period %q", si.Period)
	}
	for _, id := range f.fresh[:3] { // new000's tracks
		if !slices.Contains(radar, id) {
			t.Errorf("Release Radar %v lacks %s, released 2026-11-25 09:00 UTC by its embargo's end", radar, id)
		}
	}
}
