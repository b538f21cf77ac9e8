package recs

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// blockMatrix builds groups taste groups: users of group g play a random
// 60 % of the items of group g only, with random counts.
func blockMatrix(t *testing.T, groups, usersPer, itemsPer int, seed uint64) *Matrix {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	var plays []Play
	for g := range groups {
		for u := range usersPer {
			for i := range itemsPer {
				if rng.Float64() < 0.6 {
					plays = append(plays, Play{User: g*usersPer + u, Item: g*itemsPer + i, Count: float64(1 + rng.IntN(50))})
				}
			}
		}
	}
	m, err := NewMatrix(groups*usersPer, groups*itemsPer, plays)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNewMatrix(t *testing.T) {
	m, err := NewMatrix(2, 3, []Play{{0, 2, 1}, {0, 1, 2}, {0, 2, 3}, {1, 0, 0}, {1, 1, 5}})
	if err != nil {
		t.Fatal(err)
	}
	items, counts := m.UserRow(0)
	if !slices.Equal(items, []int{1, 2}) || !slices.Equal(counts, []float64{2, 4}) {
		t.Errorf("row 0 = %v %v, want [1 2] [2 4] (duplicates summed, sorted)", items, counts)
	}
	users, counts := m.ItemColumn(1)
	if !slices.Equal(users, []int{0, 1}) || !slices.Equal(counts, []float64{2, 5}) {
		t.Errorf("column 1 = %v %v", users, counts)
	}
	if m.NNZ() != 3 {
		t.Errorf("NNZ = %d, want 3 (zero count dropped)", m.NNZ())
	}
	for _, tc := range []struct {
		name  string
		users int
		plays []Play
	}{
		{"user out of range", 2, []Play{{2, 0, 1}}},
		{"negative item", 2, []Play{{0, -1, 1}}},
		{"negative count", 2, []Play{{0, 0, -1}}},
		{"NaN count", 2, []Play{{0, 0, math.NaN()}}},
		{"infinite count", 2, []Play{{0, 0, math.Inf(1)}}},
		{"negative shape", -1, nil},
	} {
		if _, err := NewMatrix(tc.users, 3, tc.plays); !errors.Is(err, ErrInvalidMatrix) {
			t.Errorf("%s: err = %v, want ErrInvalidMatrix", tc.name, err)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	m := blockMatrix(t, 1, 3, 3, 1)
	for _, o := range []Options{
		DefaultOptions().WithFactors(0),
		DefaultOptions().WithFactors(MaxFactors + 1),
		DefaultOptions().WithIterations(-1),
		DefaultOptions().WithRegularization(-1),
		DefaultOptions().WithAlpha(math.NaN()),
		DefaultOptions().WithEpsilon(0),
		DefaultOptions().WithCGSteps(0),
		DefaultOptions().WithWorkers(0),
	} {
		if _, err := TrainALS(m, o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%+v: err = %v, want ErrInvalidOptions", o, err)
		}
	}
}

// TestCGMatchesDirectSolve checks one row solve against a Cholesky solve of
// the explicit normal equations: with k CG steps on a k-dimensional SPD
// system CG is exact up to rounding.
func TestCGMatchesDirectSolve(t *testing.T) {
	const items, k = 30, 6
	rng := rand.New(rand.NewPCG(3, 4))
	yd := make([]float64, items*k)
	for i := range yd {
		yd[i] = rng.NormFloat64()
	}
	y := mat.NewDense(items, k, yd)
	cols := []int{1, 4, 5, 11, 20, 29}
	conf := []float64{2, 41, 7.5, 100, 1.5, 12}
	const lambda = 0.1

	// A = YᵀY + λI + Σ (c−1) yᵢyᵢᵀ, b = Σ c·yᵢ
	a := mat.NewSymDense(k, nil)
	a.SymOuterK(1, y.T())
	b := mat.NewVecDense(k, nil)
	for j, i := range cols {
		yi := mat.NewVecDense(k, y.RawRowView(i))
		a.SymRankOne(a, conf[j]-1, yi)
		b.AddScaledVec(b, conf[j], yi)
	}
	for i := range k {
		a.SetSym(i, i, a.At(i, i)+lambda)
	}
	var chol mat.Cholesky
	if !chol.Factorize(a) {
		t.Fatal("A not positive definite")
	}
	var want mat.VecDense
	if err := chol.SolveVecTo(&want, b); err != nil {
		t.Fatal(err)
	}

	x := make([]float64, k)
	for i := range x {
		x[i] = rng.Float64() * 0.01
	}
	cgSolve(x, y.RawMatrix(), gram(y, lambda, k), cols, conf, k, newCGWork(k))
	for i := range k {
		if d := math.Abs(x[i] - want.AtVec(i)); d > 1e-8*(1+math.Abs(want.AtVec(i))) {
			t.Errorf("x[%d] = %.12g, direct solve %.12g", i, x[i], want.AtVec(i))
		}
	}
	// Fewer steps than k leave a residual: the comparison above is not vacuous.
	x1 := make([]float64, k)
	cgSolve(x1, y.RawMatrix(), gram(y, lambda, k), cols, conf, 1, newCGWork(k))
	var diff float64
	for i := range k {
		diff += math.Abs(x1[i] - want.AtVec(i))
	}
	if diff < 1e-6 {
		t.Errorf("one CG step already matched the direct solve (diff %g): test problem too easy", diff)
	}
}

// TestRecommendWithinTasteGroup: on block-diagonal taste groups every
// recommender except popularity recommends only unseen items of the
// user's own group.
func TestRecommendWithinTasteGroup(t *testing.T) {
	const groups, usersPer, itemsPer = 3, 20, 15
	m := blockMatrix(t, groups, usersPer, itemsPer, 11)
	als, err := TrainALS(m, DefaultOptions().WithFactors(8).WithIterations(10).WithRegularization(0.1))
	if err != nil {
		t.Fatal(err)
	}
	knn, err := NewItemKNN(m, 10)
	if err != nil {
		t.Fatal(err)
	}
	ease, err := NewEASE(m, 10, m.Items())
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]Scorer{"als": als, "itemknn": knn, "ease": ease} {
		scores := make([]float64, m.Items())
		for u := range m.Users() {
			seen, _ := m.UserRow(u)
			s.Scores(u, scores)
			n := min(3, itemsPer-len(seen)) // unseen items left in the group
			top := TopN(scores, seen, n)
			if len(top) != n {
				t.Fatalf("%s user %d: %d recommendations", name, u, len(top))
			}
			for _, i := range top {
				if i/itemsPer != u/usersPer {
					t.Errorf("%s: user %d (group %d) got item %d of group %d", name, u, u/usersPer, i, i/itemsPer)
				}
				if _, found := slices.BinarySearch(seen, i); found {
					t.Errorf("%s: user %d got already played item %d", name, u, i)
				}
			}
		}
	}
}

// TestALSDeterministic: the same seed gives bit-identical factors whatever
// the worker count; another seed gives different factors.
func TestALSDeterministic(t *testing.T) {
	m := blockMatrix(t, 4, 30, 25, 5)
	o := DefaultOptions().WithFactors(16).WithIterations(4)
	a, err := TrainALS(m, o.WithWorkers(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []int{2, 7} {
		b, err := TrainALS(m, o.WithWorkers(w))
		if err != nil {
			t.Fatal(err)
		}
		if !mat.Equal(a.UserFactors, b.UserFactors) || !mat.Equal(a.ItemFactors, b.ItemFactors) {
			t.Errorf("workers=%d: factors differ from workers=1", w)
		}
	}
	c, err := TrainALS(m, o.WithSeed(2))
	if err != nil {
		t.Fatal(err)
	}
	if mat.Equal(a.ItemFactors, c.ItemFactors) {
		t.Error("seed 2 gave the same factors as seed 1")
	}
}

// TestALSConverges: more iterations lower the weighted squared loss
// Σ c·(p − xᵀy)² + λ(‖X‖² + ‖Y‖²) over the full matrix.
func TestALSConverges(t *testing.T) {
	m := blockMatrix(t, 2, 15, 10, 9)
	o := DefaultOptions().WithFactors(4).WithRegularization(0.1)
	loss := func(a *ALS) float64 {
		var l float64
		for u := range m.Users() {
			items, counts := m.UserRow(u)
			pref := make(map[int]float64, len(items))
			for j, i := range items {
				pref[i] = 1 + o.Alpha*math.Log1p(counts[j]/o.Epsilon)
			}
			xu := blas64.Vector{N: o.Factors, Inc: 1, Data: a.UserFactors.RawRowView(u)}
			for i := range m.Items() {
				pred := blas64.Dot(xu, blas64.Vector{N: o.Factors, Inc: 1, Data: a.ItemFactors.RawRowView(i)})
				c, p := 1.0, 0.0
				if ci, ok := pref[i]; ok {
					c, p = ci, 1
				}
				l += c * (p - pred) * (p - pred)
			}
		}
		return l + o.Regularization*(mat.Norm(a.UserFactors, 2)+mat.Norm(a.ItemFactors, 2))
	}
	var prev float64 = math.Inf(1)
	for _, it := range []int{1, 3, 10} {
		a, err := TrainALS(m, o.WithIterations(it))
		if err != nil {
			t.Fatal(err)
		}
		l := loss(a)
		if !(l < prev) {
			t.Errorf("loss after %d iterations %g, not below %g", it, l, prev)
		}
		prev = l
	}
}

func TestTopN(t *testing.T) {
	inf := math.Inf(-1)
	scores := []float64{5, 9, 9, 1, inf, math.NaN(), 7, 3}
	for _, tc := range []struct {
		exclude []int
		n       int
		want    []int
	}{
		{nil, 3, []int{1, 2, 6}},
		{[]int{1, 6}, 3, []int{2, 0, 7}},
		{nil, 100, []int{1, 2, 6, 0, 7, 3}},
		{nil, 0, nil},
	} {
		if got := TopN(scores, tc.exclude, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("TopN(exclude %v, %d) = %v, want %v", tc.exclude, tc.n, got, tc.want)
		}
	}
}

func TestPopularity(t *testing.T) {
	m, err := NewMatrix(3, 3, []Play{{0, 0, 1}, {1, 0, 9}, {2, 0, 1}, {0, 2, 100}, {1, 2, 1}, {2, 1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float64, 3)
	NewPopularity(m).Scores(0, dst)
	if !slices.Equal(dst, []float64{3, 1, 2}) {
		t.Errorf("popularity = %v, want user counts [3 1 2]", dst)
	}
}

// TestEASERestriction: items outside the maxItems most popular are never
// scored, and on the full set B matches the closed form computed directly.
func TestEASERestriction(t *testing.T) {
	m := blockMatrix(t, 2, 10, 6, 21)
	const lambda = 5
	full, err := NewEASE(m, lambda, m.Items())
	if err != nil {
		t.Fatal(err)
	}
	// Direct closed form with mat.Inverse on a dense Gram matrix.
	x := mat.NewDense(m.Users(), m.Items(), nil)
	for u := range m.Users() {
		items, _ := m.UserRow(u)
		for _, i := range items {
			x.Set(u, i, 1)
		}
	}
	var g, p mat.Dense
	g.Mul(x.T(), x)
	for i := range m.Items() {
		g.Set(i, i, g.At(i, i)+lambda)
	}
	if err := p.Inverse(&g); err != nil {
		t.Fatal(err)
	}
	for i := range m.Items() {
		for j := range m.Items() {
			want := 0.0
			if i != j {
				want = -p.At(i, j) / p.At(j, j)
			}
			if d := math.Abs(full.b.At(i, j) - want); d > 1e-9 {
				t.Fatalf("B[%d][%d] = %g, want %g", i, j, full.b.At(i, j), want)
			}
		}
	}

	const keep = 4
	r, err := NewEASE(m, lambda, keep)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Items()) != keep {
		t.Fatalf("restricted to %d items, want %d", len(r.Items()), keep)
	}
	pop := make([]float64, m.Items())
	NewPopularity(m).Scores(0, pop)
	minKept := math.Inf(1)
	for _, i := range r.Items() {
		minKept = min(minKept, pop[i])
	}
	dst := make([]float64, m.Items())
	r.Scores(0, dst)
	for i, s := range dst {
		_, kept := slices.BinarySearch(r.Items(), i)
		if kept != !math.IsInf(s, -1) {
			t.Errorf("item %d kept=%v score %g", i, kept, s)
		}
		if !kept && pop[i] > minKept {
			t.Errorf("item %d (popularity %g) dropped while one of popularity %g kept", i, pop[i], minKept)
		}
	}
	for _, bad := range []struct {
		l float64
		n int
	}{{0, 3}, {math.NaN(), 3}, {1, 0}, {1, MaxEASEItems + 1}} {
		if _, err := NewEASE(m, bad.l, bad.n); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("NewEASE(%v, %d): err = %v, want ErrInvalidOptions", bad.l, bad.n, err)
		}
	}
	if _, err := NewItemKNN(m, 0); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("NewItemKNN(k=0): err = %v", err)
	}
}

// TestFriendBoost: a large Beta lifts the items the user's friends played
// above the base ranking; Beta 0 keeps the base ranking.
func TestFriendBoost(t *testing.T) {
	m, err := NewMatrix(3, 4, []Play{{0, 0, 1}, {1, 0, 1}, {1, 1, 3}, {2, 3, 1}, {2, 0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	pop := NewPopularity(m) // item 0 (3 users) > 1, 3 (1 user) > 2
	dst := make([]float64, 4)
	seen, _ := m.UserRow(0)
	(&FriendBoost{Base: pop, Train: m, Friends: [][]int{{2}, nil, nil}}).Scores(0, dst)
	if got := TopN(dst, seen, 1); !slices.Equal(got, []int{1}) {
		t.Errorf("beta 0: top = %v, want [1] (popularity, lower index on ties)", got)
	}
	(&FriendBoost{Base: pop, Train: m, Friends: [][]int{{2}, nil, nil}, Beta: 1}).Scores(0, dst)
	if got := TopN(dst, seen, 1); !slices.Equal(got, []int{3}) {
		t.Errorf("beta 1: top = %v, want [3] (played by friend 2)", got)
	}
}

func TestTopNPerArtist(t *testing.T) {
	scores := []float64{9, 8, 7, 6, 5, 4, math.Inf(-1)}
	artist := []int{0, 0, 0, 1, 1, 2, 3}
	for _, tc := range []struct {
		exclude []int
		n, per  int
		want    []int
	}{
		{nil, 4, 2, []int{0, 1, 3, 4}},
		{nil, 10, 1, []int{0, 3, 5}},
		{[]int{0}, 3, 2, []int{1, 2, 3}},
		{nil, 0, 2, nil},
	} {
		got, err := TopNPerArtist(scores, tc.exclude, artist, tc.n, tc.per)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("TopNPerArtist(exclude %v, n %d, per %d) = %v, %v; want %v", tc.exclude, tc.n, tc.per, got, err, tc.want)
		}
	}
	if _, err := TopNPerArtist(scores, nil, artist[:3], 3, 2); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("short artist list: err = %v", err)
	}
	if _, err := TopNPerArtist(scores, nil, artist, 3, 0); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("perArtist 0: err = %v", err)
	}
}
