package recs

import (
	"errors"
	"fmt"
	"slices"
)

// ErrInvalidMatrix is returned when play triples cannot form a matrix: a
// negative index, an index outside the declared shape, or a negative or
// non-finite count.
var ErrInvalidMatrix = errors.New("recs: invalid play matrix")

// Play is one (user, item, count) triple of the implicit feedback matrix.
// Users and items are dense indices starting at 0.
type Play struct {
	User, Item int
	Count      float64
}

// Matrix is an immutable sparse users × items matrix of play counts in
// compressed sparse row form, with its transpose (items × users) kept
// alongside so both ALS half-steps read rows. Duplicate (user, item)
// triples are summed. Callers must not modify the slices it exposes.
type Matrix struct {
	users, items int
	rowPtr       []int
	colIdx       []int
	vals         []float64
	tRowPtr      []int
	tColIdx      []int
	tVals        []float64
}

// NewMatrix builds a users × items matrix from plays. It returns
// ErrInvalidMatrix for an index outside [0, users) × [0, items) or a count
// that is negative, NaN or infinite. Zero counts are dropped.
func NewMatrix(users, items int, plays []Play) (*Matrix, error) {
	if users < 0 || items < 0 {
		return nil, fmt.Errorf("%w: shape %d×%d", ErrInvalidMatrix, users, items)
	}
	for _, p := range plays {
		if p.User < 0 || p.User >= users || p.Item < 0 || p.Item >= items {
			return nil, fmt.Errorf("%w: (%d, %d) outside %d×%d", ErrInvalidMatrix, p.User, p.Item, users, items)
		}
		if !(p.Count >= 0) || p.Count > maxCount {
			return nil, fmt.Errorf("%w: count %v at (%d, %d)", ErrInvalidMatrix, p.Count, p.User, p.Item)
		}
	}
	rp, ci, v := csr(users, plays, func(p Play) (int, int) { return p.User, p.Item })
	trp, tci, tv := csr(items, plays, func(p Play) (int, int) { return p.Item, p.User })
	return &Matrix{users: users, items: items, rowPtr: rp, colIdx: ci, vals: v, tRowPtr: trp, tColIdx: tci, tVals: tv}, nil
}

// maxCount bounds a single count so sums stay finite.
const maxCount = 1e15

// csr builds sorted, duplicate-summed compressed rows keyed by key.
func csr(rows int, plays []Play, key func(Play) (int, int)) (rowPtr, colIdx []int, vals []float64) {
	sorted := slices.Clone(plays)
	slices.SortFunc(sorted, func(a, b Play) int {
		ra, ca := key(a)
		rb, cb := key(b)
		if ra != rb {
			return ra - rb
		}
		return ca - cb
	})
	rowPtr = make([]int, rows+1)
	for _, p := range sorted {
		if p.Count == 0 {
			continue
		}
		r, c := key(p)
		if n := len(colIdx); n > 0 && rowPtr[r+1] > 0 && colIdx[n-1] == c {
			vals[n-1] += p.Count
			continue
		}
		colIdx = append(colIdx, c)
		vals = append(vals, p.Count)
		rowPtr[r+1]++
	}
	for r := range rows {
		rowPtr[r+1] += rowPtr[r]
	}
	return rowPtr, colIdx, vals
}

// Users returns the number of rows.
func (m *Matrix) Users() int { return m.users }

// Items returns the number of columns.
func (m *Matrix) Items() int { return m.items }

// NNZ returns the number of stored (non-zero) entries.
func (m *Matrix) NNZ() int { return len(m.vals) }

// UserRow returns the items user u played and their counts, items in
// increasing order. The slices alias the matrix: read only.
func (m *Matrix) UserRow(u int) (items []int, counts []float64) {
	return m.colIdx[m.rowPtr[u]:m.rowPtr[u+1]], m.vals[m.rowPtr[u]:m.rowPtr[u+1]]
}

// ItemColumn returns the users who played item i and their counts, users
// in increasing order. The slices alias the matrix: read only.
func (m *Matrix) ItemColumn(i int) (users []int, counts []float64) {
	return m.tColIdx[m.tRowPtr[i]:m.tRowPtr[i+1]], m.tVals[m.tRowPtr[i]:m.tRowPtr[i+1]]
}
