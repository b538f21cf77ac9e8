package recs

import "math"

// FriendBoost re-ranks a base scorer with the listener's social graph: the
// base scores are divided by their largest magnitude for the user, then
// Beta times the fraction of the user's friends who played the item is
// added. With Beta = 0 the ranking is the base ranking.
type FriendBoost struct {
	Base    Scorer
	Train   *Matrix
	Friends [][]int // Friends[u]: indices of u's friends in Train
	Beta    float64
}

// Scores writes the re-ranked scores of every item for user u.
func (f *FriendBoost) Scores(u int, dst []float64) {
	f.Base.Scores(u, dst)
	var mx float64
	for _, s := range dst {
		if !math.IsInf(s, 0) && !math.IsNaN(s) {
			mx = max(mx, math.Abs(s))
		}
	}
	if mx > 0 {
		for i := range dst {
			dst[i] /= mx
		}
	}
	fr := f.Friends[u]
	if len(fr) == 0 || f.Beta == 0 {
		return
	}
	w := f.Beta / float64(len(fr))
	for _, v := range fr {
		items, _ := f.Train.UserRow(v)
		for _, i := range items {
			dst[i] += w
		}
	}
}
