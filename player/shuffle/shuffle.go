// Package shuffle orders a play queue: Smart, the artist-spreading shuffle
// of DESIGN §6 (Spotify, 2014), the uniform FisherYates baseline, and the
// metrics that compare them; and PlanInsertions, the choice of the
// recommended tracks Smart Shuffle inserts between a playlist's tracks
// (closest in FeatureVector space to both neighbours, plus taste), with
// its fit metric MeanNeighborDistance.
//
// Both shuffles are pure functions of their input and a caller-owned
// *rand.Rand, so a seeded generator reproduces an order exactly:
//
//	rng := rand.New(rand.NewPCG(seed, 0))
//	order := shuffle.Smart(items, rng)
//	fmt.Println(shuffle.SameArtistAdjacent(order), shuffle.MinSameArtistDistance(order))
package shuffle

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Item is one queue entry: a track id and the artist it is grouped by.
type Item struct {
	ID     string
	Artist string
}

// DefaultJitter is the per-song jitter of Smart as a fraction of the
// spacing between one artist's songs.
const DefaultJitter = 0.1

// Smart returns a new slice holding items in an order that spreads each
// artist's songs evenly: songs are grouped by artist, each group is
// shuffled (Fisher–Yates), its k songs get positions (offset + i + jitter)/k
// in [0, 1) with a random offset per artist and a small jitter per song,
// and all songs are merged by position. The input is not modified; the
// result is owned by the caller. A nil rng is not allowed.
func Smart(items []Item, rng *rand.Rand) []Item {
	type placed struct {
		pos float64
		it  Item
	}
	groups := map[string][]Item{}
	var artists []string
	for _, it := range items {
		if _, ok := groups[it.Artist]; !ok {
			artists = append(artists, it.Artist)
		}
		groups[it.Artist] = append(groups[it.Artist], it)
	}
	out := make([]placed, 0, len(items))
	for _, a := range artists { // first-appearance order: deterministic rng use
		g := groups[a]
		shuffleInPlace(g, rng)
		k := float64(len(g))
		offset := rng.Float64()
		for i, it := range g {
			jitter := (rng.Float64()*2 - 1) * DefaultJitter
			p := (offset + float64(i) + jitter) / k
			out = append(out, placed{pos: p - math.Floor(p), it: it})
		}
	}
	slices.SortStableFunc(out, func(a, b placed) int {
		switch {
		case a.pos < b.pos:
			return -1
		case a.pos > b.pos:
			return 1
		}
		return 0
	})
	res := make([]Item, len(out))
	for i, p := range out {
		res[i] = p.it
	}
	return res
}

// FisherYates returns a uniformly random permutation of items as a new
// slice owned by the caller; items is not modified.
func FisherYates(items []Item, rng *rand.Rand) []Item {
	out := slices.Clone(items)
	shuffleInPlace(out, rng)
	return out
}

func shuffleInPlace(s []Item, rng *rand.Rand) {
	for i := len(s) - 1; i > 0; i-- {
		j := rng.IntN(i + 1)
		s[i], s[j] = s[j], s[i]
	}
}

// SameArtistAdjacent counts the adjacent pairs in order by the same artist.
func SameArtistAdjacent(order []Item) int {
	n := 0
	for i := 1; i < len(order); i++ {
		if order[i].Artist == order[i-1].Artist {
			n++
		}
	}
	return n
}

// MinSameArtistDistance returns the smallest distance in positions between
// two songs by the same artist (1 = adjacent), or len(order) when no artist
// appears twice.
func MinSameArtistDistance(order []Item) int {
	last := map[string]int{}
	best := len(order)
	for i, it := range order {
		if j, ok := last[it.Artist]; ok && i-j < best {
			best = i - j
		}
		last[it.Artist] = i
	}
	return best
}
