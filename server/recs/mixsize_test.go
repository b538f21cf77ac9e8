package recs

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/segue-fm/segue/core/model"
)

// genreUniverse generates a catalog of genres × artistsPer artists ×
// tracksPer tracks: each genre has its own tempo and energy centre (a
// spread of about one flow step), artists sit near their genre's centre.
func genreUniverse(genres, artistsPer, tracksPer int, seed uint64) *Universe {
	rng := rand.New(rand.NewPCG(seed, 99))
	var items []Item
	for g := range genres {
		bpm := 70 * math.Pow(1.25, float64(g))
		energy := 0.04 + 0.05*float64(g)
		for a := range artistsPer {
			artist := model.ArtistID(fmt.Sprintf("g%d-a%02d", g, a))
			ab, ae := bpm*(1+0.06*rng.NormFloat64()), energy+0.01*rng.NormFloat64()
			for i := range tracksPer {
				f := &model.AudioFeatures{TempoBPM: ab * (1 + 0.05*rng.NormFloat64()), Energy: math.Max(0.005, ae+0.01*rng.NormFloat64()),
					BeatStrength: 0.5, CentroidHz: 1000 + 300*float64(g), OnsetRate: 2}
				items = append(items, Item{Track: model.TrackID(fmt.Sprintf("%s-%02d", artist, i)), Artist: artist, Features: f})
			}
		}
	}
	plays := make([]float64, len(items))
	for i := range plays {
		plays[i] = float64(1 + rng.IntN(50))
	}
	u, err := NewUniverse(items, plays, nil, nil)
	if err != nil {
		panic(err)
	}
	return u
}

// TestDailyMixSize: the number and length of mixes follow the history
// (features-only clustering): 12 tracks of 6 artists in each of 6
// genres fill 6 mixes of 50; 40 familiar tracks in one genre make one
// mix of 50; 20 make one of 25 (20 familiar / 0.8); 3 make none.
func TestDailyMixSize(t *testing.T) {
	u := genreUniverse(6, 20, 25, 1)
	history := func(genres, artists, tracks int) Listener {
		rng := rand.New(rand.NewPCG(5, 5))
		l := Listener{Plays: map[int]float64{}}
		for g := range genres {
			for a := range artists {
				for i := range tracks {
					l.Plays[(g*20+a)*25+i] = float64(1 + rng.IntN(30))
				}
			}
		}
		return l
	}
	for _, c := range []struct {
		name                   string
		l                      Listener
		mixes, size, newTracks int
	}{
		{"long history", history(6, 6, 12), 6, 50, 10},
		{"40 familiar", history(1, 4, 10), 1, 50, 10},
		{"20 familiar", history(1, 2, 10), 1, 25, 5},
		{"3 familiar", history(1, 1, 3), 0, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			mixes, err := u.DailyMixes(c.l, DefaultMixOptions())
			if err != nil {
				t.Fatal(err)
			}
			if len(mixes) != c.mixes {
				t.Fatalf("%d mixes, want %d", len(mixes), c.mixes)
			}
			for _, m := range mixes {
				newN := 0
				for j, i := range m {
					if c.l.Plays[i] == 0 {
						newN++
					}
					if j > 0 && FlowStep(*u.Items[m[j-1]].Features, *u.Items[i].Features) > DefaultMixOptions().MaxStep {
						t.Errorf("step %d over the threshold", j)
					}
				}
				if len(m) != c.size || newN != c.newTracks {
					t.Errorf("mix of %d tracks, %d new; want %d, %d new", len(m), newN, c.size, c.newTracks)
				}
			}
		})
	}
}
