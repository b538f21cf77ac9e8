package recs

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/segue-fm/segue/core/model"
)

// listenerProblem is one listener on a large catalog: items tracks by
// artists artists with audio features and ALS factors of 16 dimensions,
// a third of them never played (fresh), and a listener with 500 plays.
func listenerProblem(b *testing.B, items, artists int) (*Universe, Listener) {
	b.Helper()
	rng := rand.New(rand.NewPCG(9, 14))
	its := make([]Item, items)
	plays := make([]float64, items)
	const k = 16
	f := mat.NewDense(items, k, nil)
	for i := range its {
		its[i] = Item{Track: model.TrackID(fmt.Sprint("t", i)), Artist: model.ArtistID(fmt.Sprint("a", rng.IntN(artists))),
			Features: &model.AudioFeatures{TempoBPM: 60 + 100*rng.Float64(), BeatStrength: rng.Float64(), Energy: rng.Float64() / 2,
				CentroidHz: 4000 * rng.Float64(), OnsetRate: 4 * rng.Float64(), Key: rng.IntN(12), Minor: rng.IntN(2) == 0, KeyStrength: rng.Float64()}}
		if rng.IntN(3) > 0 {
			plays[i] = float64(1 + rng.IntN(100))
		}
		for j := range k {
			f.Set(i, j, rng.NormFloat64()/4)
		}
	}
	u, err := NewUniverse(its, plays, nil, f)
	if err != nil {
		b.Fatal(err)
	}
	l := Listener{Plays: map[int]float64{}}
	for len(l.Plays) < 500 {
		if i := rng.IntN(items); plays[i] > 0 {
			l.Plays[i] = float64(1 + rng.IntN(20))
		}
	}
	return u, l
}

// BenchmarkListenerPlaylists times one listener's Discover Weekly and
// Daily Mixes on a 200,000-track catalog of 20,000 artists (what the
// scheduler builds per listener).
//
//	go test ./server/recs -run '^$' -bench ListenerPlaylists -benchtime 3x
func BenchmarkListenerPlaylists(b *testing.B) {
	u, l := listenerProblem(b, 200_000, 20_000)
	b.Run("discover-weekly", func(b *testing.B) {
		for b.Loop() {
			if _, err := u.DiscoverWeekly(l, DefaultDiscoverOptions()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("daily-mixes", func(b *testing.B) {
		for b.Loop() {
			if _, err := u.DailyMixes(l, DefaultMixOptions()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
