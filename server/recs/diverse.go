package recs

import "fmt"

// TopNPerArtist returns up to n items in TopN order (best first, ties to
// the lower index, -Inf/NaN and exclude skipped) taking at most perArtist
// items of any one artist; artistOf[i] is item i's artist. It is the
// selection rule of Discover Weekly (30 unplayed tracks, at most 2 per
// artist). It returns ErrInvalidOptions when artistOf does not cover
// scores or perArtist < 1.
func TopNPerArtist(scores []float64, exclude []int, artistOf []int, n, perArtist int) ([]int, error) {
	if len(artistOf) != len(scores) || perArtist < 1 {
		return nil, fmt.Errorf("%w: %d artists for %d items, %d per artist", ErrInvalidOptions, len(artistOf), len(scores), perArtist)
	}
	per := map[int]int{}
	return takeRanked(scores, exclude, n, func(i int) bool {
		if per[artistOf[i]] >= perArtist {
			return false
		}
		per[artistOf[i]]++
		return true
	}), nil
}

// takeRanked walks the items of scores in TopN order (exclude skipped),
// offering each to take until take has accepted n, and returns the
// accepted ones in that order. It ranks 4n items first and twice as many
// each time those run out (the top k are a prefix of the top 2k), rather
// than the whole catalog for a few picks.
func takeRanked(scores []float64, exclude []int, n int, take func(i int) bool) []int {
	if n <= 0 {
		return nil
	}
	out := make([]int, 0, min(n, len(scores)))
	seen := 0
	for k := 4 * min(n, len(scores)); ; k *= 2 {
		ranked := TopN(scores, exclude, k)
		for _, i := range ranked[seen:] {
			if !take(i) {
				continue
			}
			if out = append(out, i); len(out) == n {
				return out
			}
		}
		if len(ranked) < k || k >= len(scores) {
			return out // every item is ranked
		}
		seen = len(ranked)
	}
}
