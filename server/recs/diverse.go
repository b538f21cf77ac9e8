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
	if n <= 0 {
		return nil, nil
	}
	ranked := TopN(scores, exclude, len(scores))
	per := map[int]int{}
	out := make([]int, 0, n)
	for _, i := range ranked {
		if per[artistOf[i]] >= perArtist {
			continue
		}
		per[artistOf[i]]++
		if out = append(out, i); len(out) == n {
			break
		}
	}
	return out, nil
}
