package shuffle

import (
	"errors"
	"fmt"
	"math"

	"github.com/segue-fm/segue/core/model"
)

// FeatureDims is the length of a FeatureVector.
const FeatureDims = 8

// ErrInvalidInsert is returned by PlanInsertions for an interval below 1,
// taste scores that do not match the candidates, or a taste score or
// weight that is NaN or infinite.
var ErrInvalidInsert = errors.New("shuffle: invalid insertion plan")

// FeatureVector maps audio features onto comparable scales, each
// coordinate roughly in [0, 1]: log2 tempo over 30–300 BPM, beat strength,
// energy (RMS, ×2 so music at −6 dBFS RMS maps near 1), log2 centroid over
// 50 Hz–12.8 kHz, onset rate / 10 per second, the key on the circle of
// fifths as a point on a circle of radius 0.5, and the mode. A NaN
// feature maps to 0, like an unmeasured one, so distances stay finite.
func FeatureVector(f model.AudioFeatures) [FeatureDims]float64 {
	clamp := func(x float64) float64 {
		if !(x > 0) { // ≤ 0 or NaN
			return 0
		}
		return math.Min(1, x)
	}
	var v [FeatureDims]float64
	if f.TempoBPM > 0 {
		v[0] = clamp(math.Log2(f.TempoBPM/30) / math.Log2(10))
	}
	v[1] = clamp(f.BeatStrength)
	v[2] = clamp(2 * f.Energy)
	if f.CentroidHz > 0 {
		v[3] = clamp(math.Log2(f.CentroidHz/50) / 8)
	}
	v[4] = clamp(f.OnsetRate / 10)
	fifths := float64((f.Key*7)%12) / 12 * 2 * math.Pi
	v[5], v[6] = 0.5*math.Cos(fifths), 0.5*math.Sin(fifths)
	if f.Minor {
		v[7] = 1
	}
	return v
}

// FeatureDistance is the Euclidean distance between two tracks'
// FeatureVectors.
func FeatureDistance(a, b model.AudioFeatures) float64 {
	va, vb := FeatureVector(a), FeatureVector(b)
	var s float64
	for i := range va {
		s += (va[i] - vb[i]) * (va[i] - vb[i])
	}
	return math.Sqrt(s)
}

// Insertion places candidate Candidate after playlist position After.
type Insertion struct {
	After     int
	Candidate int
}

// PlanInsertions chooses Smart Shuffle's recommended tracks: after every
// every-th playlist track (positions every−1, 2·every−1, …, never after the
// last), the unused candidate minimising its feature distance to the
// tracks before and after the gap minus tasteWeight × taste[c] (the
// listener's predicted preference, e.g. ALS scores; nil means no taste
// term). Each candidate is used once; planning stops when candidates run
// out. It is deterministic (ties to the lower candidate index).
func PlanInsertions(playlist, candidates []model.AudioFeatures, taste []float64, every int, tasteWeight float64) ([]Insertion, error) {
	if every < 1 {
		return nil, fmt.Errorf("%w: insert every %d", ErrInvalidInsert, every)
	}
	if taste != nil && len(taste) != len(candidates) {
		return nil, fmt.Errorf("%w: %d taste scores for %d candidates", ErrInvalidInsert, len(taste), len(candidates))
	}
	if math.IsNaN(tasteWeight) || math.IsInf(tasteWeight, 0) {
		return nil, fmt.Errorf("%w: taste weight %v", ErrInvalidInsert, tasteWeight)
	}
	for c, x := range taste {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%w: taste score %v of candidate %d", ErrInvalidInsert, x, c)
		}
	}
	used := make([]bool, len(candidates))
	var out []Insertion
	for after := every - 1; after+1 < len(playlist) && len(out) < len(candidates); after += every {
		best, bestCost := -1, math.Inf(1)
		for c, f := range candidates {
			if used[c] {
				continue
			}
			cost := FeatureDistance(playlist[after], f) + FeatureDistance(f, playlist[after+1])
			if taste != nil {
				cost -= tasteWeight * taste[c]
			}
			if cost < bestCost {
				best, bestCost = c, cost
			}
		}
		used[best] = true
		out = append(out, Insertion{After: after, Candidate: best})
	}
	return out, nil
}

// MeanNeighborDistance is the mean, over insertions, of the feature
// distance from the inserted track to the playlist tracks on either side:
// Smart Shuffle's fit metric (lower is smoother).
func MeanNeighborDistance(playlist, candidates []model.AudioFeatures, ins []Insertion) float64 {
	if len(ins) == 0 {
		return 0
	}
	var s float64
	for _, in := range ins {
		f := candidates[in.Candidate]
		s += (FeatureDistance(playlist[in.After], f) + FeatureDistance(f, playlist[in.After+1])) / 2
	}
	return s / float64(len(ins))
}
