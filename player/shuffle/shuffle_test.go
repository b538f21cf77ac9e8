package shuffle

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// playlist builds a playlist where artist i has counts[i] songs.
func playlist(counts ...int) []Item {
	var items []Item
	for a, c := range counts {
		for s := 0; s < c; s++ {
			items = append(items, Item{ID: fmt.Sprintf("a%d-s%d", a, s), Artist: fmt.Sprintf("artist%d", a)})
		}
	}
	return items
}

// skewed are playlists where a few artists dominate.
var skewed = []struct {
	name  string
	items []Item
}{
	{"one dominant 40/60", playlist(24, 4, 4, 4, 4, 4, 4, 4, 4, 4)},
	{"two dominant", playlist(15, 15, 3, 3, 3, 3, 3, 3, 2, 2)},
	{"three of twelve", playlist(10, 10, 10, 2, 2, 2, 2, 2, 2, 2, 2, 2)},
	{"long tail 100", playlist(20, 15, 10, 5, 5, 5, 5, 5, 5, 5, 4, 4, 4, 4, 2, 1, 1)},
}

func TestSmartIsPermutation(t *testing.T) {
	for _, pl := range skewed {
		for seed := uint64(0); seed < 20; seed++ {
			got := Smart(pl.items, rand.New(rand.NewPCG(seed, 1)))
			a := slices.Clone(got)
			b := slices.Clone(pl.items)
			cmp := func(x, y Item) int {
				if x.ID < y.ID {
					return -1
				}
				if x.ID > y.ID {
					return 1
				}
				return 0
			}
			slices.SortFunc(a, cmp)
			slices.SortFunc(b, cmp)
			if !slices.Equal(a, b) {
				t.Fatalf("%s seed %d: not a permutation", pl.name, seed)
			}
		}
	}
}

func TestSmartDeterministic(t *testing.T) {
	items := skewed[0].items
	a := Smart(items, rand.New(rand.NewPCG(7, 7)))
	b := Smart(items, rand.New(rand.NewPCG(7, 7)))
	if !slices.Equal(a, b) {
		t.Fatal("same seed, different order")
	}
	if c := Smart(items, rand.New(rand.NewPCG(8, 7))); slices.Equal(a, c) {
		t.Fatal("different seeds, same order")
	}
}

type stats struct{ adj, minDist float64 }

func measure(items []Item, seeds int, f func([]Item, *rand.Rand) []Item) stats {
	var s stats
	for seed := 0; seed < seeds; seed++ {
		o := f(items, rand.New(rand.NewPCG(uint64(seed), 99)))
		s.adj += float64(SameArtistAdjacent(o))
		s.minDist += float64(MinSameArtistDistance(o))
	}
	s.adj /= float64(seeds)
	s.minDist /= float64(seeds)
	return s
}

func TestSmartBeatsFisherYates(t *testing.T) {
	for _, pl := range skewed {
		smart := measure(pl.items, 500, Smart)
		fy := measure(pl.items, 500, FisherYates)
		t.Logf("%-20s same-artist adjacent: smart %.2f vs FY %.2f · min distance: smart %.2f vs FY %.2f",
			pl.name, smart.adj, fy.adj, smart.minDist, fy.minDist)
		if !(smart.adj < fy.adj/2) {
			t.Errorf("%s: smart adjacent %.2f not below half of Fisher–Yates %.2f", pl.name, smart.adj, fy.adj)
		}
		if !(smart.minDist > fy.minDist) {
			t.Errorf("%s: smart min distance %.2f not above Fisher–Yates %.2f", pl.name, smart.minDist, fy.minDist)
		}
	}
}

func TestMetrics(t *testing.T) {
	it := func(artists string) []Item {
		var o []Item
		for i, a := range artists {
			o = append(o, Item{ID: fmt.Sprint(i), Artist: string(a)})
		}
		return o
	}
	cases := []struct {
		order   string
		adj, md int
	}{
		{"", 0, 0},
		{"a", 0, 1},
		{"abc", 0, 3},
		{"aab", 1, 1},
		{"abab", 0, 2},
		{"abcabc", 0, 3},
		{"aaaa", 3, 1},
		{"abcda", 0, 4},
	}
	for _, c := range cases {
		o := it(c.order)
		if got := SameArtistAdjacent(o); got != c.adj {
			t.Errorf("%q adjacent = %d, want %d", c.order, got, c.adj)
		}
		if got := MinSameArtistDistance(o); got != c.md {
			t.Errorf("%q min distance = %d, want %d", c.order, got, c.md)
		}
	}
}

func TestEdgeCases(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	if got := Smart(nil, rng); len(got) != 0 {
		t.Errorf("Smart(nil) = %v", got)
	}
	one := []Item{{"x", "a"}}
	if got := Smart(one, rng); !slices.Equal(got, one) {
		t.Errorf("Smart(one) = %v", got)
	}
	in := playlist(3, 3)
	orig := slices.Clone(in)
	Smart(in, rng)
	FisherYates(in, rng)
	if !slices.Equal(in, orig) {
		t.Error("input modified")
	}
}

// BenchmarkShuffleMetrics reports both metrics for both shuffles side by
// side, averaged over the b.N seeds, on each skewed playlist.
func BenchmarkShuffleMetrics(b *testing.B) {
	for _, pl := range skewed {
		for _, alg := range []struct {
			name string
			f    func([]Item, *rand.Rand) []Item
		}{{"smart", Smart}, {"fisheryates", FisherYates}} {
			b.Run(pl.name+"/"+alg.name, func(b *testing.B) {
				var adj, md float64
				seed := uint64(0)
				for b.Loop() {
					o := alg.f(pl.items, rand.New(rand.NewPCG(seed, 99)))
					adj += float64(SameArtistAdjacent(o))
					md += float64(MinSameArtistDistance(o))
					seed++
				}
				b.ReportMetric(adj/float64(seed), "adjacent/op")
				b.ReportMetric(md/float64(seed), "mindist/op")
			})
		}
	}
}

func ExampleSmart() {
	items := []Item{{"1", "A"}, {"2", "A"}, {"3", "A"}, {"4", "B"}, {"5", "C"}, {"6", "B"}}
	order := Smart(items, rand.New(rand.NewPCG(1, 2)))
	fmt.Println(len(order), SameArtistAdjacent(order))
	// Output: 6 0
}
