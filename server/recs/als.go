package recs

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// ErrInvalidOptions is returned when training options are out of range.
var ErrInvalidOptions = errors.New("recs: invalid options")

// Options configure implicit ALS. The zero value is not usable; start from
// DefaultOptions.
type Options struct {
	// Factors is the latent dimension (default 64).
	Factors int
	// Iterations is the number of alternating user/item sweeps (default 15).
	Iterations int
	// Regularization is λ, added to the diagonal of every solve (default 0.01).
	Regularization float64
	// Alpha scales confidence: c = 1 + Alpha·log(1 + plays/Epsilon) (default 40).
	Alpha float64
	// Epsilon is the play-count scale of the log confidence (default 1).
	Epsilon float64
	// CGSteps is the number of conjugate-gradient steps per row solve,
	// warm-started from the previous factors as in implicit's CG solver
	// (default 3).
	CGSteps int
	// Seed seeds the initial factors (default 1).
	Seed uint64
	// Workers is the number of goroutines solving rows (default GOMAXPROCS).
	// It never changes the result.
	Workers int
}

// DefaultOptions returns the options documented on each field.
func DefaultOptions() Options {
	return Options{Factors: 64, Iterations: 15, Regularization: 0.01, Alpha: 40, Epsilon: 1, CGSteps: 3, Seed: 1, Workers: runtime.GOMAXPROCS(0)}
}

// WithFactors returns o with Factors set (default 64).
func (o Options) WithFactors(k int) Options { o.Factors = k; return o }

// WithIterations returns o with Iterations set (default 15).
func (o Options) WithIterations(n int) Options { o.Iterations = n; return o }

// WithRegularization returns o with Regularization set (default 0.01).
func (o Options) WithRegularization(l float64) Options { o.Regularization = l; return o }

// WithAlpha returns o with Alpha set (default 40).
func (o Options) WithAlpha(a float64) Options { o.Alpha = a; return o }

// WithEpsilon returns o with Epsilon set (default 1).
func (o Options) WithEpsilon(e float64) Options { o.Epsilon = e; return o }

// WithCGSteps returns o with CGSteps set (default 3).
func (o Options) WithCGSteps(n int) Options { o.CGSteps = n; return o }

// WithSeed returns o with Seed set (default 1).
func (o Options) WithSeed(s uint64) Options { o.Seed = s; return o }

// WithWorkers returns o with Workers set (default GOMAXPROCS).
func (o Options) WithWorkers(n int) Options { o.Workers = n; return o }

// MaxFactors bounds Options.Factors.
const MaxFactors = 1024

func (o Options) validate() error {
	switch {
	case o.Factors < 1 || o.Factors > MaxFactors:
		return fmt.Errorf("%w: factors %d not in [1, %d]", ErrInvalidOptions, o.Factors, MaxFactors)
	case o.Iterations < 0:
		return fmt.Errorf("%w: iterations %d", ErrInvalidOptions, o.Iterations)
	case !(o.Regularization >= 0) || math.IsInf(o.Regularization, 0):
		return fmt.Errorf("%w: regularization %v", ErrInvalidOptions, o.Regularization)
	case !(o.Alpha >= 0) || math.IsInf(o.Alpha, 0):
		return fmt.Errorf("%w: alpha %v", ErrInvalidOptions, o.Alpha)
	case !(o.Epsilon > 0) || math.IsInf(o.Epsilon, 0):
		return fmt.Errorf("%w: epsilon %v", ErrInvalidOptions, o.Epsilon)
	case o.CGSteps < 1:
		return fmt.Errorf("%w: cg steps %d", ErrInvalidOptions, o.CGSteps)
	case o.Workers < 1:
		return fmt.Errorf("%w: workers %d", ErrInvalidOptions, o.Workers)
	}
	return nil
}

// ALS is a trained implicit-feedback factor model. UserFactors is
// users × Factors and ItemFactors items × Factors; the model owns both and
// callers must not modify them.
type ALS struct {
	UserFactors *mat.Dense
	ItemFactors *mat.Dense
}

// TrainALS fits implicit ALS to m (Hu, Koren & Volinsky 2008). Each entry
// r > 0 gets preference 1 and confidence 1 + α·log(1 + r/ε); missing
// entries preference 0 and confidence 1. Every iteration solves all user
// rows against fixed item factors, then all item rows against the new user
// factors, each row by CGSteps conjugate-gradient steps on
// (YᵀY + λI + Yᵀ(Cᵤ − I)Y) xᵤ = YᵀCᵤp(u) warm-started from the previous
// xᵤ. Rows are independent, so the result depends on the options and m
// only, never on Workers or scheduling.
func TrainALS(m *Matrix, o Options) (*ALS, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	k := o.Factors
	rng := rand.New(rand.NewPCG(o.Seed, 0x5e9e_a15))
	users := initFactors(rng, m.users, k)
	items := initFactors(rng, m.items, k)
	conf := func(v []float64) []float64 {
		c := make([]float64, len(v))
		for i, r := range v {
			c[i] = 1 + o.Alpha*math.Log1p(r/o.Epsilon)
		}
		return c
	}
	uConf, iConf := conf(m.vals), conf(m.tVals)
	for range o.Iterations {
		halfStep(users, items, m.rowPtr, m.colIdx, uConf, o)
		halfStep(items, users, m.tRowPtr, m.tColIdx, iConf, o)
	}
	return &ALS{UserFactors: users, ItemFactors: items}, nil
}

// initFactors draws rows × k values uniform in [0, 0.01), as implicit does.
func initFactors(rng *rand.Rand, rows, k int) *mat.Dense {
	if rows == 0 {
		return &mat.Dense{}
	}
	d := make([]float64, rows*k)
	for i := range d {
		d[i] = rng.Float64() * 0.01
	}
	return mat.NewDense(rows, k, d)
}

// gram returns YᵀY + λI as an upper-stored symmetric matrix.
func gram(y *mat.Dense, lambda float64, k int) blas64.Symmetric {
	s := blas64.Symmetric{Uplo: blas.Upper, N: k, Stride: k, Data: make([]float64, k*k)}
	if r, _ := y.Dims(); r > 0 && !y.IsEmpty() {
		blas64.Syrk(blas.Trans, 1, y.RawMatrix(), 0, s)
	}
	for i := range k {
		s.Data[i*k+i] += lambda
	}
	return s
}

// halfStep updates every row of x against the fixed factors y.
func halfStep(x, y *mat.Dense, rowPtr, colIdx []int, conf []float64, o Options) {
	if x.IsEmpty() {
		return
	}
	k := o.Factors
	yty := gram(y, o.Regularization, k)
	var ym blas64.General
	if !y.IsEmpty() {
		ym = y.RawMatrix()
	}
	xm := x.RawMatrix()
	rows := len(rowPtr) - 1
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(o.Workers, rows) {
		wg.Go(func() {
			ws := newCGWork(k)
			for {
				u := int(next.Add(1) - 1)
				if u >= rows {
					return
				}
				lo, hi := rowPtr[u], rowPtr[u+1]
				cgSolve(xm.Data[u*xm.Stride:u*xm.Stride+k], ym, yty, colIdx[lo:hi], conf[lo:hi], o.CGSteps, ws)
			}
		})
	}
	wg.Wait()
}

// cgWork holds one worker's scratch vectors.
type cgWork struct{ r, p, ap []float64 }

func newCGWork(k int) *cgWork {
	return &cgWork{r: make([]float64, k), p: make([]float64, k), ap: make([]float64, k)}
}

// cgSolve runs up to steps conjugate-gradient steps on
// (yty + Σⱼ (cⱼ−1)·yⱼyⱼᵀ) x = Σⱼ cⱼ·yⱼ over the rows j = cols of y, in place
// on x. yty already holds YᵀY + λI.
func cgSolve(x []float64, y blas64.General, yty blas64.Symmetric, cols []int, conf []float64, steps int, ws *cgWork) {
	k := len(x)
	vec := func(d []float64) blas64.Vector { return blas64.Vector{N: k, Inc: 1, Data: d} }
	row := func(i int) blas64.Vector { return vec(y.Data[i*y.Stride : i*y.Stride+k]) }
	xv, r, p, ap := vec(x), vec(ws.r), vec(ws.p), vec(ws.ap)
	// r = b − A·x
	blas64.Symv(-1, yty, xv, 0, r)
	for j, i := range cols {
		yi := row(i)
		c := conf[j]
		blas64.Axpy(c-(c-1)*blas64.Dot(yi, xv), yi, r)
	}
	blas64.Copy(r, p)
	rsOld := blas64.Dot(r, r)
	if rsOld < cgTolerance {
		return
	}
	for range steps {
		blas64.Symv(1, yty, p, 0, ap)
		for j, i := range cols {
			yi := row(i)
			blas64.Axpy((conf[j]-1)*blas64.Dot(yi, p), yi, ap)
		}
		a := rsOld / blas64.Dot(p, ap)
		blas64.Axpy(a, p, xv)
		blas64.Axpy(-a, ap, r)
		rsNew := blas64.Dot(r, r)
		if rsNew < cgTolerance {
			return
		}
		blas64.Scal(rsNew/rsOld, p)
		blas64.Axpy(1, r, p)
		rsOld = rsNew
	}
}

// cgTolerance is the squared residual norm at which CG stops early.
const cgTolerance = 1e-20

// Scores writes the predicted preference of user u for every item into dst
// (len ItemFactors rows): dst = Y·xᵤ.
func (a *ALS) Scores(u int, dst []float64) {
	if a.ItemFactors.IsEmpty() {
		return
	}
	x := a.UserFactors.RawRowView(u)
	blas64.Gemv(blas.NoTrans, 1, a.ItemFactors.RawMatrix(), blas64.Vector{N: len(x), Inc: 1, Data: x}, 0, blas64.Vector{N: len(dst), Inc: 1, Data: dst})
}
