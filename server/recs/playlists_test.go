package recs

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player/shuffle"
)

func feat(bpm, energy float64) *model.AudioFeatures {
	return &model.AudioFeatures{TempoBPM: bpm, Energy: energy, BeatStrength: 0.5, CentroidHz: 1000}
}

// TestOrderFlow: every step of the order stays within the threshold, a
// track too far from all others is left out, and the chain is the
// longest one (not just the one from the calmest track).
func TestOrderFlow(t *testing.T) {
	cases := []struct {
		name  string
		feats []model.AudioFeatures
		want  int
	}{
		{"empty", nil, 0},
		{"one", []model.AudioFeatures{*feat(100, 0.1)}, 1},
		{"ramp", []model.AudioFeatures{*feat(130, 0.2), *feat(100, 0.1), *feat(110, 0.13), *feat(120, 0.16)}, 4},
		{"outlier left out", []model.AudioFeatures{*feat(100, 0.1), *feat(104, 0.11), *feat(240, 0.45), *feat(108, 0.12)}, 3},
		{"calmest is the outlier", []model.AudioFeatures{*feat(60, 0.01), *feat(140, 0.3), *feat(142, 0.31), *feat(145, 0.3)}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			order := OrderFlow(c.feats, 0.15)
			if len(order) != c.want {
				t.Fatalf("order %v, want %d tracks", order, c.want)
			}
			for i := 1; i < len(order); i++ {
				if d := FlowStep(c.feats[order[i-1]], c.feats[order[i]]); d > 0.15 {
					t.Errorf("step %d: %.3f", i, d)
				}
			}
		})
	}
}

// TestKMeans: two well-separated groups end in two clusters; the result
// is the same for a seed; k is clamped to the number of points.
func TestKMeans(t *testing.T) {
	pts := [][]float64{{0, 0}, {0.1, 0}, {0, 0.1}, {5, 5}, {5.1, 5}, {5, 5.1}}
	a, c := KMeans(pts, 2, 20, 1)
	if len(c) != 2 || a[0] != a[1] || a[1] != a[2] || a[3] != a[4] || a[4] != a[5] || a[0] == a[3] {
		t.Fatalf("assign %v", a)
	}
	b, _ := KMeans(pts, 2, 20, 1)
	if !slices.Equal(a, b) {
		t.Fatal("not deterministic")
	}
	if _, c := KMeans(pts[:1], 5, 20, 1); len(c) != 1 {
		t.Fatalf("%d centroids for one point", len(c))
	}
	if a, c := KMeans(nil, 3, 20, 1); a != nil || c != nil {
		t.Fatal("clusters of nothing")
	}
}

// TestBuilderOptionsValidated: invalid options are ErrInvalidOptions,
// never a panic.
func TestBuilderOptionsValidated(t *testing.T) {
	u, err := NewUniverse([]Item{{Track: "a", Artist: "x", Features: feat(100, 0.1)}}, []float64{1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := Listener{Plays: map[int]float64{0: 1}}
	bad := []error{}
	_, e := u.DiscoverWeekly(l, DiscoverOptions{Size: 30, PerArtist: 0, TasteTracks: 1})
	bad = append(bad, e)
	_, e = u.DiscoverWeekly(l, DiscoverOptions{Size: 30, PerArtist: 2, FreshShare: 2, TasteTracks: 1})
	bad = append(bad, e)
	_, e = u.DailyMixes(l, MixOptions{})
	bad = append(bad, e)
	_, e = u.ReleaseRadar(l, time.Now(), RadarOptions{})
	bad = append(bad, e)
	_, e = u.Similar(5, 3)
	bad = append(bad, e)
	_, e = NewUniverse([]Item{{}}, nil, nil, nil)
	bad = append(bad, e)
	_, e = NewUniverse([]Item{{}}, []float64{0}, nil, mat.NewDense(2, 2, nil))
	bad = append(bad, e)
	_, e = NewUniverse([]Item{{}}, []float64{0}, []int{1, 2}, nil)
	bad = append(bad, e)
	for i, e := range bad {
		if !errors.Is(e, ErrInvalidOptions) {
			t.Errorf("case %d: %v, want ErrInvalidOptions", i, e)
		}
	}
}

// TestReleaseRadarWindow: the window is (now − 14 days, now]; unknown
// dates and other artists are left out; newest first.
func TestReleaseRadarWindow(t *testing.T) {
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	day := func(d int) time.Time { return now.AddDate(0, 0, -d) }
	items := []Item{
		{Track: "old", Artist: "x", Released: day(14)},
		{Track: "edge", Artist: "x", Released: day(13)},
		{Track: "today", Artist: "x", Released: day(0)},
		{Track: "future", Artist: "x", Released: now.Add(time.Hour)},
		{Track: "unknown", Artist: "x"},
		{Track: "other", Artist: "y", Released: day(1)},
		{Track: "played", Artist: "z", Released: day(2)},
		{Track: "z-old", Artist: "z", Released: day(400)},
	}
	u, err := NewUniverse(items, make([]float64, len(items)), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := u.ReleaseRadar(Listener{Plays: map[int]float64{7: 5}, Followed: []model.ArtistID{"x"}}, now, DefaultRadarOptions())
	if err != nil {
		t.Fatal(err)
	}
	var ids []model.TrackID
	for _, i := range got {
		ids = append(ids, items[i].Track)
	}
	if want := []model.TrackID{"today", "played", "edge"}; !slices.Equal(ids, want) {
		t.Fatalf("radar %v, want %v", ids, want)
	}
}

// TestSimilar: the nearest track in audio features comes first; the
// track itself is never returned.
func TestSimilar(t *testing.T) {
	items := []Item{
		{Track: "a", Artist: "x", Features: feat(100, 0.1)},
		{Track: "b", Artist: "y", Features: feat(101, 0.1)},
		{Track: "c", Artist: "z", Features: feat(180, 0.4)},
		{Track: "d", Artist: "z"},
	}
	u, err := NewUniverse(items, make([]float64, len(items)), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := u.Similar(0, 5)
	if err != nil || !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("similar %v, %v; want [1 2]", got, err)
	}
}

// TestDiscoverWeeklyKnown: items in Listener.Known are left out like
// played ones (out-of-range indexes are ignored), and the rest fills
// the list.
func TestDiscoverWeeklyKnown(t *testing.T) {
	items := make([]Item, 6)
	plays := make([]float64, 6)
	for i := range items {
		items[i] = Item{Track: model.TrackID(rune('a' + i)), Artist: model.ArtistID(rune('A' + i))}
		plays[i] = float64(10 - i)
	}
	u, err := NewUniverse(items, plays, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultDiscoverOptions()
	o.Size = 3
	for _, c := range []struct {
		name string
		l    Listener
		want []int
	}{
		{"none", Listener{}, []int{0, 1, 2}},
		{"played", Listener{Plays: map[int]float64{0: 1}}, []int{1, 2, 3}},
		{"known", Listener{Known: []int{1, 0, 1, -1, 6}}, []int{2, 3, 4}},
		{"both", Listener{Plays: map[int]float64{2: 1}, Known: []int{0}}, []int{1, 3, 4}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := u.DiscoverWeekly(c.l, o)
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("DiscoverWeekly = %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

// TestDiscoverWeeklyMatchesFullRanking: picking from a ranking of 4n
// items, doubled when it runs out, chooses exactly what walking the
// whole ranking did, including when the artist cap skips most of the
// best items (3 artists with hundreds of tracks each) and when fewer
// than Size items exist.
func TestDiscoverWeeklyMatchesFullRanking(t *testing.T) {
	for _, c := range []struct {
		name           string
		items, artists int
	}{
		{"many artists", 5000, 2000},
		{"cap skips most", 900, 3},
		{"short catalog", 20, 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(c.items), uint64(c.artists)))
			items := make([]Item, c.items)
			plays := make([]float64, c.items)
			for i := range items {
				items[i] = Item{Track: model.TrackID(fmt.Sprint(i)), Artist: model.ArtistID(fmt.Sprint(rng.IntN(c.artists))),
					Features: &model.AudioFeatures{TempoBPM: 60 + 100*rng.Float64(), Energy: rng.Float64() / 2, CentroidHz: 2000 * rng.Float64(), Key: rng.IntN(12)}}
				if rng.IntN(3) > 0 {
					plays[i] = float64(1 + rng.IntN(5)) // ties on purpose
				}
			}
			u, err := NewUniverse(items, plays, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			l := Listener{Plays: map[int]float64{}}
			for range c.items / 10 {
				if i := rng.IntN(c.items); plays[i] > 0 {
					l.Plays[i] = 2
				}
			}
			o := DefaultDiscoverOptions()
			got, err := u.DiscoverWeekly(l, o)
			if err != nil {
				t.Fatal(err)
			}
			if want := fullRankingDiscover(u, l, o); !slices.Equal(got, want) {
				t.Fatalf("DiscoverWeekly = %v\nwhole ranking gives %v", got, want)
			}
		})
	}
}

// fullRankingDiscover is DiscoverWeekly as it was written first: every
// pick walks the whole ranking, and feature distances map both tracks.
func fullRankingDiscover(u *Universe, l Listener, o DiscoverOptions) []int {
	played := l.played()
	taste := u.tasteTracks(l, o.TasteTracks)
	fresh := make([]float64, len(u.Items))
	freshN := 0
	for i, it := range u.Items {
		fresh[i] = math.Inf(-1)
		if u.Plays[i] > 0 || it.Features == nil || len(taste) == 0 {
			continue
		}
		d := math.Inf(1)
		for _, t := range taste {
			d = math.Min(d, shuffle.FeatureDistance(*it.Features, *u.Items[t].Features))
		}
		fresh[i] = -d
		freshN++
	}
	cf := u.cfScores(l)
	for i := range cf {
		if u.Plays[i] == 0 {
			cf[i] = math.Inf(-1)
		}
	}
	per := map[int]int{}
	taken := map[int]bool{}
	pick := func(scores []float64, n int) []int {
		var out []int
		for _, i := range TopN(scores, played, len(scores)) {
			if len(out) == n {
				break
			}
			if taken[i] || per[u.artist[i]] >= o.PerArtist {
				continue
			}
			per[u.artist[i]]++
			taken[i] = true
			out = append(out, i)
		}
		return out
	}
	freshPicks := pick(fresh, min(freshN, int(math.Round(float64(o.Size)*o.FreshShare))))
	cfPicks := pick(cf, o.Size-len(freshPicks))
	if short := o.Size - len(freshPicks) - len(cfPicks); short > 0 {
		freshPicks = append(freshPicks, pick(fresh, short)...)
	}
	var out []int
	for len(cfPicks) > 0 || len(freshPicks) > 0 {
		for range 2 {
			if len(cfPicks) > 0 {
				out, cfPicks = append(out, cfPicks[0]), cfPicks[1:]
			}
		}
		if len(freshPicks) > 0 {
			out, freshPicks = append(out, freshPicks[0]), freshPicks[1:]
		}
	}
	return out
}

// TestTopNPerArtistMatchesFullRanking: ranking 4n items and doubling
// when the cap uses them up picks exactly what walking the whole ranking
// did, for caps that skip few and most items, n beyond the catalog and
// an empty catalog.
func TestTopNPerArtistMatchesFullRanking(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, c := range []struct {
		name                   string
		items, artists, n, per int
	}{
		{"many artists", 3000, 1000, 30, 2},
		{"cap skips most", 3000, 4, 30, 2},
		{"n beyond the catalog", 50, 10, 500, 3},
		{"empty", 0, 1, 10, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			scores := make([]float64, c.items)
			artistOf := make([]int, c.items)
			var exclude []int
			for i := range scores {
				scores[i] = float64(rng.IntN(50)) // ties on purpose
				artistOf[i] = rng.IntN(c.artists)
				if rng.IntN(10) == 0 {
					exclude = append(exclude, i)
				}
			}
			got, err := TopNPerArtist(scores, exclude, artistOf, c.n, c.per)
			if err != nil {
				t.Fatal(err)
			}
			var want []int
			per := map[int]int{}
			for _, i := range TopN(scores, exclude, len(scores)) {
				if len(want) == c.n {
					break
				}
				if per[artistOf[i]] < c.per {
					per[artistOf[i]]++
					want = append(want, i)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("TopNPerArtist = %v\nwhole ranking gives %v", got, want)
			}
		})
	}
}
