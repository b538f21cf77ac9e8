package playsim

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/segue-fm/segue/server/recs/eval"
)

// ErrBadShape: a Shape with no listeners or no artists.
var ErrBadShape = errors.New("playsim: shape needs listeners and artists")

// Shape is what the simulated humans are modelled on: each Listener is a
// real listener's taste (artists and their relative play weights) and
// friend count; Popularity is every artist's total weight, the pool bots
// draw their "filler" plays from.
type Shape struct {
	Artists    int
	Popularity []float64 // by artist index, len Artists
	Listeners  []Listener
}

// Listener is one modelled listener: the artists they play with their
// weights (parallel slices, heaviest first) and their number of friends.
type Listener struct {
	Artists []int
	Weights []float64
	Friends int
}

// ShapeFromLastFM models the population on the lastfm-2k data set: each
// user becomes a Listener with their artist weights from user_artists.dat
// and their friend count from user_friends.dat; Popularity is the artist
// play-count distribution. The data stays where it is: callers load it at
// evaluation time (eval.FindLastFM, eval.LoadLastFM).
func ShapeFromLastFM(d *eval.Dataset) (Shape, error) {
	s := Shape{Artists: len(d.ArtistIDs), Popularity: make([]float64, len(d.ArtistIDs)), Listeners: make([]Listener, len(d.UserIDs))}
	for _, p := range d.Plays {
		s.Popularity[p.Item] += p.Count
		l := &s.Listeners[p.User]
		l.Artists = append(l.Artists, p.Item)
		l.Weights = append(l.Weights, p.Count)
	}
	for u := range s.Listeners {
		s.Listeners[u].Friends = len(d.Friends[u])
		sortListener(&s.Listeners[u])
	}
	s.Listeners = slices.DeleteFunc(s.Listeners, func(l Listener) bool { return len(l.Artists) == 0 })
	if len(s.Listeners) == 0 || s.Artists == 0 {
		return Shape{}, ErrBadShape
	}
	return s, nil
}

// SyntheticShape is a stand-in with no data behind it, for tests that do
// not need the real distribution: Zipf artist popularity, listeners with
// 5–50 artists drawn by popularity, geometric friend counts. Deterministic
// in seed.
func SyntheticShape(seed uint64, listeners, artists int) Shape {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	s := Shape{Artists: artists, Popularity: make([]float64, artists)}
	for a := range s.Popularity {
		s.Popularity[a] = 1e5 / math.Pow(float64(a+1), 1.1)
	}
	cum := cumulative(s.Popularity)
	for range listeners {
		var l Listener
		seen := map[int]bool{}
		for n := 5 + r.IntN(46); len(l.Artists) < n; {
			a := pick(r, cum)
			if seen[a] {
				n--
				continue
			}
			seen[a] = true
			l.Artists = append(l.Artists, a)
			l.Weights = append(l.Weights, math.Exp(r.NormFloat64()*1.5)*100)
		}
		l.Friends = int(r.ExpFloat64() * 8)
		sortListener(&l)
		s.Listeners = append(s.Listeners, l)
	}
	return s
}

func sortListener(l *Listener) {
	idx := make([]int, len(l.Artists))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case l.Weights[a] > l.Weights[b]:
			return -1
		case l.Weights[a] < l.Weights[b]:
			return 1
		}
		return l.Artists[a] - l.Artists[b]
	})
	as, ws := make([]int, len(idx)), make([]float64, len(idx))
	for i, j := range idx {
		as[i], ws[i] = l.Artists[j], l.Weights[j]
	}
	l.Artists, l.Weights = as, ws
}

// cumulative returns the running sums of w (for pick).
func cumulative(w []float64) []float64 {
	c := make([]float64, len(w))
	t := 0.0
	for i, x := range w {
		t += max(x, 0)
		c[i] = t
	}
	return c
}

// pick draws an index with probability proportional to its weight, from
// cumulative sums.
func pick(r *rand.Rand, cum []float64) int {
	if len(cum) == 0 || cum[len(cum)-1] <= 0 {
		return 0
	}
	x := r.Float64() * cum[len(cum)-1]
	i, _ := slices.BinarySearchFunc(cum, x, func(c, x float64) int {
		if c <= x {
			return -1
		}
		return 1
	})
	return min(i, len(cum)-1)
}
