package eval

import (
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/segue-fm/segue/server/recs"
)

// NDCG returns the binary-relevance NDCG of the ranked list against the
// relevant set (ascending): DCG = Σ 1/log2(rank+2) over hits, divided by
// the DCG of min(len(ranked), len(relevant)) hits at the top.
func NDCG(ranked, relevant []int) float64 {
	var dcg, idcg float64
	for r, i := range ranked {
		if _, ok := slices.BinarySearch(relevant, i); ok {
			dcg += 1 / math.Log2(float64(r+2))
		}
	}
	for r := range min(len(ranked), len(relevant)) {
		idcg += 1 / math.Log2(float64(r+2))
	}
	if idcg == 0 {
		return 0
	}
	return dcg / idcg
}

// Recall returns the hits in ranked divided by min(len(ranked),
// len(relevant)), so a list that could not hold every relevant item can
// still score 1.
func Recall(ranked, relevant []int) float64 {
	d := min(len(ranked), len(relevant))
	if d == 0 {
		return 0
	}
	hits := 0
	for _, i := range ranked {
		if _, ok := slices.BinarySearch(relevant, i); ok {
			hits++
		}
	}
	return float64(hits) / float64(d)
}

// Result is the mean of the metrics over the users with held-out items.
type Result struct {
	NDCG10   float64
	Recall50 float64
	Users    int
}

// Evaluate ranks every item for each user with held-out items, excluding
// the user's training items, and averages NDCG@10 and recall@50. Users
// are scored in parallel; the sums are taken in user order, so the result
// is deterministic.
func Evaluate(s recs.Scorer, train *recs.Matrix, test [][]int) Result {
	ndcg := make([]float64, len(test))
	rec := make([]float64, len(test))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			scores := make([]float64, train.Items())
			for {
				u := int(next.Add(1) - 1)
				if u >= len(test) {
					return
				}
				if len(test[u]) == 0 {
					continue
				}
				seen, _ := train.UserRow(u)
				s.Scores(u, scores)
				top := recs.TopN(scores, seen, 50)
				ndcg[u] = NDCG(top[:min(10, len(top))], test[u])
				rec[u] = Recall(top, test[u])
			}
		})
	}
	wg.Wait()
	var r Result
	for u := range test {
		if len(test[u]) > 0 {
			r.NDCG10 += ndcg[u]
			r.Recall50 += rec[u]
			r.Users++
		}
	}
	if r.Users > 0 {
		r.NDCG10 /= float64(r.Users)
		r.Recall50 /= float64(r.Users)
	}
	return r
}
