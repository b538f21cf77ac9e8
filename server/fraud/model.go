package fraud

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/gonum/optimize"
)

// Errors of the fraud package.
var (
	// ErrBadModel: a model that does not decode or does not match this
	// version's features.
	ErrBadModel = errors.New("fraud: bad model")
	// ErrNoData: nothing to fit on (no samples, or only one class).
	ErrNoData = errors.New("fraud: need samples of both classes")
)

// Model is an additive logistic model, a scorecard: each feature's value
// falls in one of its bins (Edges[i], ascending: bin k holds values in
// [Edges[i][k-1], Edges[i][k])), each bin carries Points (log-odds), and
// score = σ(Bias + Σ points of the features' bins). An unknown (NaN)
// feature contributes 0. Accounts scoring ≥ Threshold are flagged. The
// bins let one feature be suspicious only at its extremes (a muted share
// near 1, quiet hours near 0) and keep every score explainable as a sum of
// per-feature points.
type Model struct {
	Features  []string    `json:"features"`
	Edges     [][]float64 `json:"edges"`
	Points    [][]float64 `json:"points"`
	Bias      float64     `json:"bias"`
	Threshold float64     `json:"threshold"`
	// Trained says what the model was fitted on (seeds, sizes).
	Trained string `json:"trained"`
}

//go:embed model.json
var defaultModel []byte

// DefaultModel returns the model shipped with the relay, fitted by
// `go run ./bench/fraud -fit` on the training seeds of the simulated
// population (docs/BENCHMARKS.md). Each call returns a new copy.
func DefaultModel() (*Model, error) { return ParseModel(defaultModel) }

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// ParseModel decodes a model written by Model.JSON and checks it against
// this version's features.
func ParseModel(b []byte) (*Model, error) {
	var m Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadModel, err)
	}
	if !slices.Equal(m.Features, featureNames[:]) {
		return nil, fmt.Errorf("%w: features %v, want %v", ErrBadModel, m.Features, featureNames)
	}
	n := int(NumFeatures)
	if len(m.Edges) != n || len(m.Points) != n {
		return nil, fmt.Errorf("%w: %d features but %d edge lists, %d point lists", ErrBadModel, n, len(m.Edges), len(m.Points))
	}
	for i := range n {
		if len(m.Edges[i]) > MaxBins || len(m.Points[i]) != len(m.Edges[i])+1 {
			return nil, fmt.Errorf("%w: feature %s: %d edges, %d points", ErrBadModel, featureNames[i], len(m.Edges[i]), len(m.Points[i]))
		}
		for k, e := range m.Edges[i] {
			if !finite(e) || (k > 0 && e <= m.Edges[i][k-1]) {
				return nil, fmt.Errorf("%w: feature %s: edges not finite and ascending", ErrBadModel, featureNames[i])
			}
		}
		for _, p := range m.Points[i] {
			if !finite(p) {
				return nil, fmt.Errorf("%w: feature %s: points not finite", ErrBadModel, featureNames[i])
			}
		}
	}
	if !finite(m.Bias) || !(m.Threshold > 0 && m.Threshold <= 1) {
		return nil, fmt.Errorf("%w: bias %v, threshold %v", ErrBadModel, m.Bias, m.Threshold)
	}
	return &m, nil
}

// MaxBins bounds the edges per feature of a model.
const MaxBins = 64

// JSON encodes the model (indented, stable).
func (m *Model) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Contribution is one feature's part in a score: its value and the
// log-odds it adds (weight × standardised value).
type Contribution struct {
	Feature Feature
	Value   float64
	LogOdds float64
}

// Score is an account's fraud score with its explanation.
type Score struct {
	// Value is the probability-like score in [0, 1].
	Value float64
	// Flagged: Value ≥ the model's threshold.
	Flagged bool
	// Top are the features pushing the score up most, largest first (at
	// most 3, only positive ones).
	Top []Contribution
}

// Explain renders the score for people: the score and its top features
// with their values, e.g. "score 0.998 (threshold 0.9): plays cut just
// over 30 s 0.84 (+7.1), skip rate 0.91 (+2.3)".
func (s Score) Explain(threshold float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "score %.3f (threshold %.3f)", s.Value, threshold)
	for i, c := range s.Top {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&b, "%s%s %.2f (+%.1f)", sep, featureText[c.Feature], c.Value, c.LogOdds)
	}
	return b.String()
}

// bin returns the bin of x among edges: the number of edges ≤ x.
func bin(edges []float64, x float64) int {
	k, _ := slices.BinarySearchFunc(edges, x, func(e, x float64) int {
		if e <= x {
			return -1
		}
		return 1
	})
	return k
}

// points returns feature i's log-odds for f (0 when unknown).
func (m *Model) points(f Features, i int) float64 {
	if math.IsNaN(f[i]) {
		return 0
	}
	return m.Points[i][bin(m.Edges[i], f[i])]
}

// Score scores one account's features. Pure.
func (m *Model) Score(f Features) Score {
	lo := m.Bias
	cs := make([]Contribution, 0, NumFeatures)
	for i := range int(NumFeatures) {
		c := m.points(f, i)
		lo += c
		if c > 0 {
			cs = append(cs, Contribution{Feature: Feature(i), Value: f[i], LogOdds: c})
		}
	}
	slices.SortStableFunc(cs, func(a, b Contribution) int {
		switch {
		case a.LogOdds > b.LogOdds:
			return -1
		case a.LogOdds < b.LogOdds:
			return 1
		}
		return 0
	})
	v := sigmoid(lo)
	return Score{Value: v, Flagged: v >= m.Threshold, Top: cs[:min(3, len(cs))]}
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// softplus is log(1 + eˣ), computed stably.
func softplus(x float64) float64 { return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x))) }

// FitOptions configures Fit. DefaultFitOptions: 12 quantile bins per
// feature and class (merged: at most 22 edges), L2 penalty 4.0 on the points (per sample-weight unit), target
// precision 1.0 on the training set for the threshold (no training human
// flagged: the margin that keeps held-out precision ≥ 0.99, since a
// wrongly withheld royalty is costly).
type FitOptions struct {
	bins      int
	l2        float64
	precision float64
}

// DefaultFitOptions returns the defaults above.
func DefaultFitOptions() FitOptions { return FitOptions{bins: 12, l2: 4.0, precision: 1.0} }

// Bins returns the number of bins per feature.
func (o FitOptions) Bins() int { return o.bins }

// L2 returns the L2 penalty.
func (o FitOptions) L2() float64 { return o.l2 }

// Precision returns the target training precision.
func (o FitOptions) Precision() float64 { return o.precision }

// WithBins sets the number of quantile bins per feature and class
// (1–MaxBins/2).
func (o FitOptions) WithBins(n int) FitOptions { o.bins = n; return o }

// WithL2 sets the L2 penalty (≥ 0).
func (o FitOptions) WithL2(l float64) FitOptions { o.l2 = l; return o }

// WithPrecision sets the training precision the threshold must reach
// (0–1].
func (o FitOptions) WithPrecision(p float64) FitOptions { o.precision = p; return o }

// quantileEdges returns up to bins−1 distinct inner quantiles of xs
// (NaN ignored), ascending.
func quantileEdges(xs []float64, bins int) []float64 {
	v := slices.DeleteFunc(slices.Clone(xs), math.IsNaN)
	if len(v) == 0 {
		return nil
	}
	slices.Sort(v)
	var out []float64
	for k := 1; k < bins; k++ {
		e := v[k*len(v)/bins]
		if e > v[0] && (len(out) == 0 || e > out[len(out)-1]) {
			out = append(out, e)
		}
	}
	return out
}

// featureDirection constrains the points of a feature to grow in one
// direction (+1: higher values more suspicious, −1: lower values); 0
// leaves them free. Constrained are the features where "none at all"
// must not look suspicious: a human who never muted, shares no device or
// IP, or has many friends and library edits; a free feature may be
// suspicious in a middle range (a skip rate near 0 or near 1).
var featureDirection = [NumFeatures]float64{
	Muted: 1, AccountsPerDevice: 1, AccountsPerIP: 1, NoFriends: 1, Friends: -1, LibraryEdits: -1,
}

// Fit fits a model on labelled feature vectors (bot = true): bins per
// feature at the quantiles of each class's training values, the points by L-BFGS on
// the L2-penalised log-loss with the two classes weighted equally (the
// points of the features in featureDirection monotone), and the
// threshold: the lowest training score at which the flagged training
// accounts reach the target precision (most recall at that precision).
// Deterministic.
func Fit(xs []Features, bot []bool, opts FitOptions) (*Model, error) {
	if len(xs) != len(bot) {
		return nil, fmt.Errorf("%w: %d samples, %d labels", ErrNoData, len(xs), len(bot))
	}
	if opts.bins < 1 || opts.bins > MaxBins/2 || opts.l2 < 0 || !(opts.precision > 0 && opts.precision <= 1) {
		return nil, fmt.Errorf("fraud: fit: bad options %+v", opts)
	}
	nb := 0
	for _, b := range bot {
		if b {
			nb++
		}
	}
	if nb == 0 || nb == len(bot) {
		return nil, ErrNoData
	}
	n := int(NumFeatures)
	m := &Model{Features: featureNames[:], Edges: make([][]float64, n), Points: make([][]float64, n)}
	off := make([]int, n+1) // parameter offsets: feature i's points are p[off[i]:off[i+1]]
	var hc, bc []float64
	for i := range n {
		hc, bc = hc[:0], bc[:0]
		for j, x := range xs {
			if bot[j] {
				bc = append(bc, x[i])
			} else {
				hc = append(hc, x[i])
			}
		}
		// Quantiles of each class, merged: resolution both where humans
		// are and where the (rarer) bots are.
		e := append(quantileEdges(hc, opts.bins), quantileEdges(bc, opts.bins)...)
		slices.Sort(e)
		m.Edges[i] = slices.Compact(e)
		off[i+1] = off[i] + len(m.Edges[i]) + 1
	}
	// idx[j][i]: sample j's parameter for feature i, −1 when unknown.
	idx := make([][]int, len(xs))
	for j, x := range xs {
		idx[j] = make([]int, n)
		for i := range n {
			idx[j][i] = -1
			if !math.IsNaN(x[i]) {
				idx[j][i] = off[i] + bin(m.Edges[i], x[i])
			}
		}
	}
	np := off[n]
	// The optimiser's parameters q map to the points: a feature with a
	// direction has its first bin's points free and every later bin adding
	// direction × softplus(q) (the L2 penalty is on that step), so its
	// points are monotone: more of a suspicious signal never lowers the
	// score, and its unsuspicious values never raise it.
	expand := func(q, p []float64) {
		copy(p, q)
		for i := range n {
			if d := featureDirection[i]; d != 0 {
				for k := off[i] + 1; k < off[i+1]; k++ {
					p[k] = p[k-1] + d*softplus(q[k])
				}
			}
		}
	}
	wBot, wHuman := 0.5/float64(nb), 0.5/float64(len(bot)-nb)
	reg := opts.l2 / float64(len(xs))
	p, gp := make([]float64, np+1), make([]float64, np+1)
	loss := func(q, grad []float64) float64 {
		expand(q, p)
		clear(gp)
		l := 0.0
		for j, ij := range idx {
			lo := p[np]
			for _, k := range ij {
				if k >= 0 {
					lo += p[k]
				}
			}
			y, w := 0.0, wHuman
			if bot[j] {
				y, w = 1, wBot
			}
			// log(1+e^lo) − y·lo, computed stably.
			l += w * (math.Max(lo, 0) + math.Log1p(math.Exp(-math.Abs(lo))) - y*lo)
			if grad != nil {
				g := w * (sigmoid(lo) - y)
				for _, k := range ij {
					if k >= 0 {
						gp[k] += g
					}
				}
				gp[np] += g
			}
		}
		for i := range n {
			for k := off[i]; k < off[i+1]; k++ {
				v := q[k]
				if featureDirection[i] != 0 && k > off[i] {
					v = softplus(q[k])
				}
				l += 0.5 * reg * v * v
			}
		}
		if grad == nil {
			return l
		}
		copy(grad, gp)
		for i := range n {
			if d := featureDirection[i]; d != 0 {
				suffix := 0.0
				for k := off[i+1] - 1; k > off[i]; k-- {
					suffix += gp[k]
					grad[k] = d*sigmoid(q[k])*suffix + reg*softplus(q[k])*sigmoid(q[k])
				}
				grad[off[i]] = suffix + gp[off[i]]
			}
		}
		for i := range n {
			for k := off[i]; k < off[i+1]; k++ {
				if featureDirection[i] == 0 || k == off[i] {
					grad[k] += reg * q[k]
				}
			}
		}
		return l
	}
	prob := optimize.Problem{
		Func: func(q []float64) float64 { return loss(q, nil) },
		Grad: func(grad, q []float64) { loss(q, grad) },
	}
	q0 := make([]float64, np+1)
	for i := range n {
		if featureDirection[i] != 0 {
			for k := off[i] + 1; k < off[i+1]; k++ {
				q0[k] = -3 // steps of softplus(−3) ≈ 0.05
			}
		}
	}
	res, err := optimize.Minimize(prob, q0, &optimize.Settings{GradientThreshold: 1e-9}, &optimize.LBFGS{})
	if err != nil && res == nil {
		return nil, fmt.Errorf("fraud: fit: %w", err)
	}
	expand(res.X, p)
	for i := range n {
		m.Points[i] = slices.Clone(p[off[i]:off[i+1]])
	}
	m.Bias = p[np]
	scores := make([]float64, len(xs))
	for j, x := range xs {
		scores[j] = m.Score(x).Value
	}
	m.Threshold = ChooseThreshold(scores, bot, opts.precision)
	return m, nil
}

// ChooseThreshold returns the lowest score t among scores such that the
// accounts scoring ≥ t have precision ≥ minPrecision against labels, or
// 1 when none does. Pure.
func ChooseThreshold(scores []float64, bot []bool, minPrecision float64) float64 {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case scores[a] > scores[b]:
			return -1
		case scores[a] < scores[b]:
			return 1
		}
		return 0
	})
	best, tp, fp := 1.0, 0, 0
	for k, i := range idx {
		if bot[i] {
			tp++
		} else {
			fp++
		}
		if k+1 < len(idx) && scores[idx[k+1]] == scores[i] {
			continue // ties flag together
		}
		if float64(tp)/float64(tp+fp) >= minPrecision && scores[i] > 0 {
			best = scores[i]
		}
	}
	return best
}

// DefaultMinPlays is the fewest plays in the scanned span for an account
// to be scored (streams: the extractor reads no shorter play): below it
// there is too little behaviour to judge, and too few streams to matter;
// such accounts are never flagged.
const DefaultMinPlays = 20
