package recs

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// Popularity scores every item by the number of users who played it; it
// ignores the user. It is the floor every other recommender must beat.
type Popularity struct{ counts []float64 }

// NewPopularity counts the users of every item of m.
func NewPopularity(m *Matrix) *Popularity {
	c := make([]float64, m.items)
	for i := range c {
		c[i] = float64(m.tRowPtr[i+1] - m.tRowPtr[i])
	}
	return &Popularity{counts: c}
}

// Scores copies the popularity of every item into dst.
func (p *Popularity) Scores(_ int, dst []float64) { copy(dst, p.counts) }

// ItemKNN is item-based collaborative filtering with cosine similarity
// between binary item columns: each item keeps its K most similar items,
// and a user's score for item j is the sum of the similarities of j to the
// items the user played.
type ItemKNN struct {
	m         *Matrix
	neighbors [][]neighbor
}

type neighbor struct {
	item int
	sim  float64
}

// NewItemKNN computes the k nearest neighbours of every item of m by
// cosine similarity of the binary play columns. k must be at least 1.
func NewItemKNN(m *Matrix, k int) (*ItemKNN, error) {
	if k < 1 {
		return nil, fmt.Errorf("%w: knn k %d", ErrInvalidOptions, k)
	}
	acc := make([]float64, m.items)
	var touched []int
	nb := make([][]neighbor, m.items)
	for i := range m.items {
		touched = touched[:0]
		us, _ := m.ItemColumn(i)
		for _, u := range us {
			js, _ := m.UserRow(u)
			for _, j := range js {
				if j == i {
					continue
				}
				if acc[j] == 0 {
					touched = append(touched, j)
				}
				acc[j]++
			}
		}
		ni := float64(len(us))
		cands := make([]neighbor, 0, len(touched))
		for _, j := range touched {
			nj := float64(m.tRowPtr[j+1] - m.tRowPtr[j])
			cands = append(cands, neighbor{j, acc[j] / math.Sqrt(ni*nj)})
			acc[j] = 0
		}
		slices.SortFunc(cands, func(a, b neighbor) int {
			switch {
			case a.sim > b.sim:
				return -1
			case a.sim < b.sim:
				return 1
			}
			return a.item - b.item
		})
		nb[i] = slices.Clone(cands[:min(k, len(cands))])
	}
	return &ItemKNN{m: m, neighbors: nb}, nil
}

// Scores writes Σ over the user's items i of sim(i, j) for every item j.
func (s *ItemKNN) Scores(u int, dst []float64) {
	clear(dst)
	items, _ := s.m.UserRow(u)
	for _, i := range items {
		for _, n := range s.neighbors[i] {
			dst[n.item] += n.sim
		}
	}
}

// EASE is the closed-form linear item-item model of Steck (2019):
// B = I − P·diag(1/diag(P)) with P = (XᵀX + λI)⁻¹ over binary X, diagonal
// forced to zero. P and B are dense n×n, so EASE is restricted to the
// MaxItems most popular items (ties to the lower index); every other item
// scores -Inf and is never recommended. Memory is about 3·8·n² bytes
// while fitting (Gram, Cholesky factor, inverse) and 8·n² bytes after.
type EASE struct {
	m     *Matrix
	index []int // item → position in the restricted set, or -1
	items []int // position → item
	b     *mat.Dense
}

// MaxEASEItems is the largest restriction NewEASE accepts (8·n² ≈ 1.6 GB
// per dense matrix at this size).
const MaxEASEItems = 15000

// NewEASE fits EASE with regularization lambda (> 0) on the maxItems most
// popular items of m (1 ≤ maxItems ≤ MaxEASEItems).
func NewEASE(m *Matrix, lambda float64, maxItems int) (*EASE, error) {
	if !(lambda > 0) || math.IsInf(lambda, 0) {
		return nil, fmt.Errorf("%w: ease lambda %v", ErrInvalidOptions, lambda)
	}
	if maxItems < 1 || maxItems > MaxEASEItems {
		return nil, fmt.Errorf("%w: ease max items %d not in [1, %d]", ErrInvalidOptions, maxItems, MaxEASEItems)
	}
	order := make([]int, m.items)
	for i := range order {
		order[i] = i
	}
	pop := func(i int) int { return m.tRowPtr[i+1] - m.tRowPtr[i] }
	slices.SortStableFunc(order, func(a, b int) int { return pop(b) - pop(a) })
	sel := order[:min(maxItems, len(order))]
	slices.Sort(sel)
	n := len(sel)
	index := make([]int, m.items)
	for i := range index {
		index[i] = -1
	}
	for p, i := range sel {
		index[i] = p
	}
	e := &EASE{m: m, index: index, items: sel}
	if n == 0 {
		return e, nil
	}
	g := mat.NewSymDense(n, nil)
	raw := g.RawSymmetric()
	var pos []int
	for u := range m.users {
		pos = pos[:0]
		items, _ := m.UserRow(u)
		for _, i := range items {
			if p := index[i]; p >= 0 {
				pos = append(pos, p)
			}
		}
		for a, pa := range pos {
			for _, pb := range pos[a:] { // pos ascending: pa ≤ pb, upper triangle
				raw.Data[pa*raw.Stride+pb]++
			}
		}
	}
	for p := range n {
		raw.Data[p*raw.Stride+p] += lambda
	}
	var chol mat.Cholesky
	if !chol.Factorize(g) {
		return nil, fmt.Errorf("%w: ease gram matrix not positive definite", ErrInvalidOptions)
	}
	var inv mat.SymDense
	if err := chol.InverseTo(&inv); err != nil {
		return nil, fmt.Errorf("recs: invert ease gram matrix: %w", err)
	}
	chol.Reset()
	b := mat.NewDense(n, n, nil)
	for i := range n {
		for j := range n {
			if i != j {
				b.Set(i, j, -inv.At(i, j)/inv.At(j, j))
			}
		}
	}
	e.b = b
	return e, nil
}

// Items returns the restricted item set, ascending. Read only.
func (e *EASE) Items() []int { return e.items }

// Scores writes xᵤ·B for the restricted items and -Inf for the rest.
func (e *EASE) Scores(u int, dst []float64) {
	for i := range dst {
		dst[i] = math.Inf(-1)
	}
	for _, i := range e.items {
		dst[i] = 0
	}
	items, _ := e.m.UserRow(u)
	for _, i := range items {
		p := e.index[i]
		if p < 0 {
			continue
		}
		row := e.b.RawRowView(p)
		for q, v := range row {
			dst[e.items[q]] += v
		}
	}
}
