package relayrecs

import (
	"cmp"
	"context"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/segue-fm/segue/core/model"
)

// SimulatedPlays returns a PlaySource of seeded simulated listening, for
// tests and the demo (a real relay reads CountedPlays): each user has a
// taste — two or three artists of the catalog chosen at random — and
// plays perUser tracks drawn mostly (80 %) from those artists' tracks and
// otherwise from the whole catalog, each draw adding 1–10 plays. Tracks
// in fresh are never played by anyone (new releases). The same
// arguments give the same counts; the time window is ignored.
func SimulatedPlays(tracks []model.Track, users []model.UserID, perUser int, fresh []model.TrackID, seed uint64) PlaySource {
	var pool []model.Track
	byArtist := map[model.ArtistID][]model.TrackID{}
	for _, t := range tracks {
		if slices.Contains(fresh, t.ID) || len(t.ArtistIDs) == 0 {
			continue
		}
		pool = append(pool, t)
		byArtist[t.ArtistIDs[0]] = append(byArtist[t.ArtistIDs[0]], t.ID)
	}
	artists := make([]model.ArtistID, 0, len(byArtist))
	for a := range byArtist {
		artists = append(artists, a)
	}
	slices.SortFunc(artists, cmp.Compare)
	out := map[model.UserID]map[model.TrackID]uint64{}
	if len(pool) > 0 {
		rng := rand.New(rand.NewPCG(seed, 0x73696d))
		for _, u := range users {
			taste := make([]model.ArtistID, 0, 3)
			for range 2 + rng.IntN(2) {
				taste = append(taste, artists[rng.IntN(len(artists))])
			}
			m := map[model.TrackID]uint64{}
			for range perUser {
				var id model.TrackID
				if rng.Float64() < 0.8 {
					ts := byArtist[taste[rng.IntN(len(taste))]]
					id = ts[rng.IntN(len(ts))]
				} else {
					id = pool[rng.IntN(len(pool))].ID
				}
				m[id] += uint64(1 + rng.IntN(10))
			}
			out[u] = m
		}
	}
	return func(context.Context, time.Time, time.Time) (map[model.UserID]map[model.TrackID]uint64, error) {
		cp := make(map[model.UserID]map[model.TrackID]uint64, len(out))
		for u, m := range out {
			cp[u] = make(map[model.TrackID]uint64, len(m))
			for t, n := range m {
				cp[u][t] = n
			}
		}
		return cp, nil
	}
}
