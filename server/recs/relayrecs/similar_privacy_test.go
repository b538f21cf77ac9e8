package relayrecs_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/recs"
	"github.com/segue-fm/segue/server/recs/relayrecs"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/repo"
)

// TestSimilarHidesFewListeners: the similar-tracks answer is the same for
// every caller, so the play factors of a track only a few users played
// must not shape it. A niche artist's tracks (no audio features) played
// by only the victim, who also played "secret" tracks no one else did:
// before, the similar tracks of a niche track were the victim's secret
// tracks, ranked by their history alone. With recs.MinSimilarListeners
// listeners each, the same tracks are similar by their plays.
func TestSimilarHidesFewListeners(t *testing.T) {
	for _, tc := range []struct {
		name      string
		listeners int
		wantNiche bool // the answer names niche or secret tracks
	}{
		{"one listener", 1, false},
		{"below the minimum", recs.MinSimilarListeners - 1, false},
		{"at the minimum", recs.MinSimilarListeners, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			st := store.NewMemory()
			r, err := repo.Open(ctx, st, repo.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			cat, fresh := newCatalog(40, 8)
			var private []model.TrackID
			for _, kind := range []string{"niche", "secret"} {
				artist := model.ArtistID(kind)
				album := model.AlbumID(kind)
				var ids []model.TrackID
				for i := range 6 {
					id := model.TrackID(fmt.Sprintf("%s-%02d", kind, i))
					cat.tracks = append(cat.tracks, model.Track{ID: id, ArtistIDs: []model.ArtistID{artist}, AlbumID: album})
					ids = append(ids, id)
				}
				cat.albums[album] = model.Album{ID: album, ArtistIDs: []model.ArtistID{artist}, ReleaseDate: "2020-01-01", TrackIDs: ids}
				private = append(private, ids...)
			}
			var users []model.UserID
			for i := range 60 {
				users = append(users, model.UserID(fmt.Sprintf("sim%02d", i)))
			}
			sim := relayrecs.SimulatedPlays(cat.tracks[:len(cat.tracks)-len(private)], users, 40, fresh, 7)
			plays := func(ctx context.Context, from, to time.Time) (map[model.UserID]map[model.TrackID]uint64, error) {
				out, err := sim(ctx, from, to)
				if err != nil {
					return nil, err
				}
				for v := range tc.listeners {
					m := map[model.TrackID]uint64{}
					for i, id := range private {
						m[id] = uint64(3 + i%4)
					}
					out[model.UserID(fmt.Sprintf("victim%d", v))] = m
				}
				return out, nil
			}
			clk := &clock{t: epoch}
			svc := relayrecs.New(st, cat, r, plays, relayrecs.DefaultOptions().WithClock(clk.now).WithLogger(slog.New(slog.DiscardHandler)).
				WithALS(recs.DefaultOptions().WithFactors(16).WithIterations(8).WithWorkers(1)))
			got, err := svc.Similar(ctx, "niche-00", 10)
			if err != nil {
				t.Fatal(err)
			}
			leaked := slices.ContainsFunc(got, func(id model.TrackID) bool {
				return strings.HasPrefix(string(id), "niche-") || strings.HasPrefix(string(id), "secret-")
			})
			if leaked != tc.wantNiche {
				t.Errorf("similar to niche-00 with %d listeners: %v; names niche or secret tracks = %v, want %v", tc.listeners, got, leaked, tc.wantNiche)
			}
			got, err = svc.Similar(ctx, "t000-00", relayrecs.MaxSimilar)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.wantNiche && slices.ContainsFunc(got, func(id model.TrackID) bool { return slices.Contains(private, id) }) {
				t.Errorf("similar to t000-00 names a track of %d listeners: %v", tc.listeners, got)
			}
		})
	}
}
