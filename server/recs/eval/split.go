package eval

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/segue-fm/segue/server/recs"
)

func sortedKeys(m map[int]int) []int {
	k := make([]int, 0, len(m))
	for id := range m {
		k = append(k, id)
	}
	slices.Sort(k)
	return k
}

// Split holds out round(frac·n) of every user's n items (at least one when
// n ≥ 2, never all), chosen by a shuffle seeded from seed and the user
// index so each user's draw is independent of the others. It returns the
// remaining matrix and the held-out items per user, ascending.
func Split(m *recs.Matrix, frac float64, seed uint64) (*recs.Matrix, [][]int, error) {
	if !(frac > 0 && frac < 1) {
		return nil, nil, fmt.Errorf("eval: split fraction %v not in (0, 1)", frac)
	}
	var keep []recs.Play
	test := make([][]int, m.Users())
	for u := range m.Users() {
		items, counts := m.UserRow(u)
		n := len(items)
		h := 0
		if n >= 2 {
			h = min(max(1, int(math.Round(frac*float64(n)))), n-1)
		}
		rng := rand.New(rand.NewPCG(seed, uint64(u)))
		perm := rng.Perm(n)
		for j, p := range perm {
			if j < h {
				test[u] = append(test[u], items[p])
			} else {
				keep = append(keep, recs.Play{User: u, Item: items[p], Count: counts[p]})
			}
		}
		slices.Sort(test[u])
	}
	train, err := recs.NewMatrix(m.Users(), m.Items(), keep)
	if err != nil {
		return nil, nil, fmt.Errorf("eval: split: %w", err)
	}
	return train, test, nil
}
