package recs

import (
	"container/heap"
	"math"
)

// Scorer scores every item for one user of the matrix it was fitted on.
// Scores writes len(dst) = items scores; higher is better, -Inf means
// "never recommend". Implementations are safe for concurrent use.
type Scorer interface {
	Scores(u int, dst []float64)
}

// TopN returns the n items with the highest scores, best first, skipping
// the items in exclude (sorted ascending, as Matrix.UserRow returns them)
// and items scored -Inf or NaN. Ties go to the lower item index, so the
// result is deterministic.
func TopN(scores []float64, exclude []int, n int) []int {
	if n <= 0 {
		return nil
	}
	h := make(minHeap, 0, n)
	e := 0
	for i, s := range scores {
		for e < len(exclude) && exclude[e] < i {
			e++
		}
		if e < len(exclude) && exclude[e] == i {
			continue
		}
		if math.IsNaN(s) || math.IsInf(s, -1) {
			continue
		}
		c := cand{i, s}
		if len(h) < n {
			heap.Push(&h, c)
		} else if c.better(h[0]) {
			h[0] = c
			heap.Fix(&h, 0)
		}
	}
	out := make([]int, len(h))
	for j := len(h) - 1; j >= 0; j-- {
		out[j] = heap.Pop(&h).(cand).item
	}
	return out
}

type cand struct {
	item  int
	score float64
}

func (c cand) better(d cand) bool {
	return c.score > d.score || (c.score == d.score && c.item < d.item)
}

// minHeap keeps the worst candidate on top.
type minHeap []cand

func (h minHeap) Len() int           { return len(h) }
func (h minHeap) Less(i, j int) bool { return h[j].better(h[i]) }
func (h minHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *minHeap) Push(x any)        { *h = append(*h, x.(cand)) }
func (h *minHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}
