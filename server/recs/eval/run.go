package eval

import (
	"fmt"
	"io"
	"time"

	"github.com/segue-fm/segue/server/recs"
)

// Config is one evaluation run. Grids list the values tried on the
// validation split; the best value of each (by validation NDCG@10) is
// kept, one parameter at a time in the order of the fields, then every
// model is refitted on the full training split and measured once on the
// test split.
type Config struct {
	Seed         uint64
	TestFrac     float64
	ALS          recs.Options
	Alphas       []float64
	Epsilons     []float64
	Lambdas      []float64
	FactorsGrid  []int
	ItersGrid    []int
	KNNGrid      []int
	EASELambdas  []float64
	EASEMaxItems int
	Betas        []float64
}

// DefaultConfig is the configuration docs/BENCHMARKS.md records.
func DefaultConfig() Config {
	return Config{
		Seed:         42,
		TestFrac:     0.2,
		ALS:          recs.DefaultOptions(),
		Alphas:       []float64{0.3, 1, 3, 10, 40},
		Epsilons:     []float64{1, 10, 100},
		Lambdas:      []float64{0.01, 1, 10, 50, 100, 300},
		FactorsGrid:  []int{32, 64, 128},
		ItersGrid:    []int{5, 15},
		KNNGrid:      []int{20, 50, 200, 1000},
		EASELambdas:  []float64{50, 200, 500, 1000},
		EASEMaxItems: 3000,
		Betas:        []float64{0, 0.1, 0.3, 1},
	}
}

// Row is one line of the result table.
type Row struct {
	Name   string
	Params string
	Val    Result
	Test   Result
	Fit    time.Duration
}

// Run tunes on a validation split carved from the training split (never on
// the test split), then measures every recommender on the test split. log
// receives one line per tried configuration.
func Run(d *Dataset, c Config, log io.Writer) ([]Row, error) {
	m, err := d.Matrix()
	if err != nil {
		return nil, err
	}
	train, test, err := Split(m, c.TestFrac, c.Seed)
	if err != nil {
		return nil, err
	}
	fit, val, err := Split(train, c.TestFrac, c.Seed+1)
	if err != nil {
		return nil, err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(log, format+"\n", a...) }

	// Popularity: nothing to tune.
	var rows []Row
	measure := func(name, params string, build func(*recs.Matrix) (recs.Scorer, error), v Result) error {
		start := time.Now()
		s, err := build(train)
		if err != nil {
			return fmt.Errorf("eval: fit %s: %w", name, err)
		}
		fitTime := time.Since(start)
		rows = append(rows, Row{Name: name, Params: params, Val: v, Test: Evaluate(s, train, test), Fit: fitTime})
		return nil
	}
	popBuild := func(m *recs.Matrix) (recs.Scorer, error) { return recs.NewPopularity(m), nil }
	pv, _ := popBuild(fit)
	if err := measure("popularity", "-", popBuild, Evaluate(pv, fit, val)); err != nil {
		return nil, err
	}

	// Item-kNN.
	bestK, bestKV := 0, Result{NDCG10: -1}
	for _, k := range c.KNNGrid {
		s, err := recs.NewItemKNN(fit, k)
		if err != nil {
			return nil, err
		}
		r := Evaluate(s, fit, val)
		logf("item-kNN k=%d: val NDCG@10 %.4f", k, r.NDCG10)
		if r.NDCG10 > bestKV.NDCG10 {
			bestK, bestKV = k, r
		}
	}
	if err := measure("item-kNN (cosine)", fmt.Sprintf("k=%d", bestK), func(m *recs.Matrix) (recs.Scorer, error) { return recs.NewItemKNN(m, bestK) }, bestKV); err != nil {
		return nil, err
	}

	// ALS, coordinate-wise over the grids.
	o := c.ALS
	var bestO Result
	tryALS := func(o recs.Options) (Result, *recs.ALS, error) {
		a, err := recs.TrainALS(fit, o)
		if err != nil {
			return Result{}, nil, err
		}
		r := Evaluate(a, fit, val)
		logf("ALS α=%g ε=%g λ=%g factors=%d iters=%d: val NDCG@10 %.4f", o.Alpha, o.Epsilon, o.Regularization, o.Factors, o.Iterations, r.NDCG10)
		return r, a, nil
	}
	bestO, bestA, err := tryALS(o)
	if err != nil {
		return nil, err
	}
	steps := []func(recs.Options, int) (recs.Options, int){
		func(o recs.Options, i int) (recs.Options, int) { return o.WithAlpha(c.Alphas[i]), len(c.Alphas) },
		func(o recs.Options, i int) (recs.Options, int) { return o.WithEpsilon(c.Epsilons[i]), len(c.Epsilons) },
		func(o recs.Options, i int) (recs.Options, int) {
			return o.WithRegularization(c.Lambdas[i]), len(c.Lambdas)
		},
		func(o recs.Options, i int) (recs.Options, int) {
			return o.WithFactors(c.FactorsGrid[i]), len(c.FactorsGrid)
		},
		func(o recs.Options, i int) (recs.Options, int) {
			return o.WithIterations(c.ItersGrid[i]), len(c.ItersGrid)
		},
	}
	for _, step := range steps {
		_, n := step(o, 0)
		base := o
		for i := range n {
			cand, _ := step(base, i)
			if cand == base { // already measured
				continue
			}
			r, a, err := tryALS(cand)
			if err != nil {
				return nil, err
			}
			if r.NDCG10 > bestO.NDCG10 {
				o, bestO, bestA = cand, r, a
			}
		}
	}
	alsParams := fmt.Sprintf("α=%g ε=%g λ=%g factors=%d iters=%d cg=%d", o.Alpha, o.Epsilon, o.Regularization, o.Factors, o.Iterations, o.CGSteps)
	var alsTest *recs.ALS
	if err := measure("ALS (implicit, CG)", alsParams, func(m *recs.Matrix) (recs.Scorer, error) {
		a, err := recs.TrainALS(m, o)
		alsTest = a
		return a, err
	}, bestO); err != nil {
		return nil, err
	}

	// ALS + friends re-ranking, β tuned on the validation ALS.
	bestB, bestBV := 0.0, Result{NDCG10: -1}
	for _, b := range c.Betas {
		r := Evaluate(&recs.FriendBoost{Base: bestA, Train: fit, Friends: d.Friends, Beta: b}, fit, val)
		logf("ALS + friends β=%g: val NDCG@10 %.4f", b, r.NDCG10)
		if r.NDCG10 > bestBV.NDCG10 {
			bestB, bestBV = b, r
		}
	}
	if err := measure("ALS + friends re-rank", fmt.Sprintf("%s β=%g", alsParams, bestB), func(m *recs.Matrix) (recs.Scorer, error) {
		return &recs.FriendBoost{Base: alsTest, Train: m, Friends: d.Friends, Beta: bestB}, nil
	}, bestBV); err != nil {
		return nil, err
	}

	// EASE on the EASEMaxItems most popular artists.
	bestL, bestLV := 0.0, Result{NDCG10: -1}
	for _, l := range c.EASELambdas {
		s, err := recs.NewEASE(fit, l, c.EASEMaxItems)
		if err != nil {
			return nil, err
		}
		r := Evaluate(s, fit, val)
		logf("EASE λ=%g items=%d: val NDCG@10 %.4f", l, c.EASEMaxItems, r.NDCG10)
		if r.NDCG10 > bestLV.NDCG10 {
			bestL, bestLV = l, r
		}
	}
	if err := measure("EASE", fmt.Sprintf("λ=%g, top %d artists of %d", bestL, c.EASEMaxItems, m.Items()), func(m *recs.Matrix) (recs.Scorer, error) {
		return recs.NewEASE(m, bestL, c.EASEMaxItems)
	}, bestLV); err != nil {
		return nil, err
	}
	return rows, nil
}

// WriteTable prints rows as a Markdown table.
func WriteTable(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| recommender | chosen on validation | val NDCG@10 | test NDCG@10 | test recall@50 | fit |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %.4f | %.4f | %.4f | %.2f s |\n", r.Name, r.Params, r.Val.NDCG10, r.Test.NDCG10, r.Test.Recall50, r.Fit.Seconds())
	}
}
