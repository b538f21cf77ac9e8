package recs

import (
	"math/rand/v2"
	"testing"
)

// speedProblem generates issue 14 item 4's ALS problem: users × items with
// plays user–item triples, item popularity Zipf-distributed (s = 1.1) and
// counts 1–100; duplicates are summed by NewMatrix.
func speedProblem(b *testing.B, users, items, plays int) *Matrix {
	b.Helper()
	rng := rand.New(rand.NewPCG(14, 4))
	zipf := rand.NewZipf(rng, 1.1, 10, uint64(items-1))
	p := make([]Play, plays)
	for i := range p {
		p[i] = Play{User: rng.IntN(users), Item: int(zipf.Uint64()), Count: float64(1 + rng.IntN(100))}
	}
	m, err := NewMatrix(users, items, p)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkALSIteration times one ALS iteration (a user and an item
// half-step) on the speed problem of issue 14 item 4: 100,000 users ×
// 50,000 tracks × 5,000,000 plays, 64 factors, 2 workers. The comparison
// with the Python implicit library is not built (its registry is not
// reachable from the project's machines).
//
//	go test ./server/recs -run '^$' -bench ALSIteration -benchtime 3x
func BenchmarkALSIteration(b *testing.B) {
	m := speedProblem(b, 100_000, 50_000, 5_000_000)
	o := DefaultOptions().WithFactors(64).WithIterations(1).WithWorkers(2)
	for b.Loop() {
		if _, err := TrainALS(m, o); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/iter")
	b.ReportMetric(float64(m.NNZ()), "nnz")
}
