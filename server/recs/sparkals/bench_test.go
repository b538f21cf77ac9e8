package sparkals

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// BenchmarkLoad loads the factors of the anchor problem size
// (100,000 users and 50,000 tracks, rank 64, float32 as Spark writes
// them), written once in one part file per side:
//
//	go test ./server/recs/sparkals -run '^$' -bench Load -benchtime 1x -count 3
func BenchmarkLoad(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	table := func(prefix string, rows int) Table {
		ids := make([]string, rows)
		data := make([]float64, rows*64)
		for r := range ids {
			ids[r] = fmt.Sprintf("%s%07d", prefix, r)
		}
		for i := range data {
			data[i] = rng.NormFloat64() * 0.1
		}
		return Table{IDs: ids, Factors: mat.NewDense(rows, 64, data)}
	}
	dir := b.TempDir()
	if err := Write(dir, Manifest{RunID: "bench"}, table("user", 100_000), table("track", 50_000), Float32); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		f, err := Load(context.Background(), dir, DefaultLimits())
		if err != nil || len(f.Users.IDs) != 100_000 || len(f.Items.IDs) != 50_000 {
			b.Fatal(err)
		}
	}
}
