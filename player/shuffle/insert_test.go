package shuffle

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/segue-fm/segue/core/model"
)

func randomFeatures(rng *rand.Rand) model.AudioFeatures {
	return model.AudioFeatures{
		TempoBPM: 60 + 120*rng.Float64(), BeatStrength: rng.Float64(), Energy: 0.5 * rng.Float64(),
		CentroidHz: 200 + 4000*rng.Float64(), OnsetRate: 8 * rng.Float64(), Key: rng.IntN(12), Minor: rng.IntN(2) == 1,
	}
}

// TestPlanInsertionsFitsNeighbours: on a playlist whose tempo and energy
// flow smoothly, planned insertions sit closer to their neighbours than
// random insertions (the measure), one every 3 tracks, each
// candidate once.
func TestPlanInsertionsFitsNeighbours(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var playlist []model.AudioFeatures
	for i := range 30 {
		x := float64(i) / 29
		playlist = append(playlist, model.AudioFeatures{TempoBPM: 80 + 80*x, BeatStrength: 0.6, Energy: 0.1 + 0.3*x, CentroidHz: 800 + 2000*x, OnsetRate: 2 + 4*x, Key: 7, Minor: false})
	}
	cands := make([]model.AudioFeatures, 60)
	for i := range cands {
		cands[i] = randomFeatures(rng)
	}
	ins, err := PlanInsertions(playlist, cands, nil, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 9 { // after positions 2, 5, …, 26 (29 is the last track)
		t.Fatalf("%d insertions, want 9", len(ins))
	}
	seen := map[int]bool{}
	for j, in := range ins {
		if in.After != 3*j+2 || seen[in.Candidate] {
			t.Errorf("insertion %d = %+v (after %d wanted, candidate reused=%v)", j, in, 3*j+2, seen[in.Candidate])
		}
		seen[in.Candidate] = true
	}
	planned := MeanNeighborDistance(playlist, cands, ins)
	var random float64
	const trials = 200
	for range trials {
		perm := rng.Perm(len(cands))
		r := make([]Insertion, len(ins))
		for j, in := range ins {
			r[j] = Insertion{After: in.After, Candidate: perm[j]}
		}
		random += MeanNeighborDistance(playlist, cands, r) / trials
	}
	t.Logf("mean neighbour distance: planned %.3f, random %.3f", planned, random)
	if planned > 0.6*random {
		t.Errorf("planned insertions %.3f not clearly closer than random %.3f", planned, random)
	}
}

// TestPlanInsertionsTaste: a strong taste term picks the preferred
// candidate even when another fits the neighbours better.
func TestPlanInsertionsTaste(t *testing.T) {
	f := model.AudioFeatures{TempoBPM: 120, Energy: 0.2, CentroidHz: 1000, Key: 0}
	far := model.AudioFeatures{TempoBPM: 70, Energy: 0.05, CentroidHz: 4000, Key: 6, Minor: true}
	playlist := []model.AudioFeatures{f, f}
	cands := []model.AudioFeatures{f, far}
	for _, tc := range []struct {
		weight float64
		want   int
	}{{0, 0}, {100, 1}} {
		ins, err := PlanInsertions(playlist, cands, []float64{0, 1}, 1, tc.weight)
		if err != nil || len(ins) != 1 || ins[0].Candidate != tc.want {
			t.Errorf("taste weight %g: %v, %v; want candidate %d", tc.weight, ins, err, tc.want)
		}
	}
	if _, err := PlanInsertions(playlist, cands, []float64{1}, 1, 1); !errors.Is(err, ErrInvalidInsert) {
		t.Errorf("short taste: err = %v", err)
	}
	if _, err := PlanInsertions(playlist, cands, nil, 0, 1); !errors.Is(err, ErrInvalidInsert) {
		t.Errorf("every 0: err = %v", err)
	}
}

// TestPlanInsertionsNonFinite: a NaN audio feature (in the playlist or a
// candidate) counts as unmeasured instead of making every cost NaN and
// the plan index candidate −1 (a panic); a NaN or infinite taste score
// or weight is refused with ErrInvalidInsert.
func TestPlanInsertionsNonFinite(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	plain := []model.AudioFeatures{{TempoBPM: 120}, {TempoBPM: 120}, {TempoBPM: 120}, {TempoBPM: 120}, {TempoBPM: 120}}
	withNaN := []model.AudioFeatures{{TempoBPM: 120}, {TempoBPM: 120}, {TempoBPM: nan}, {BeatStrength: nan, Energy: nan, CentroidHz: nan, OnsetRate: nan}, {TempoBPM: 120}}
	cands := []model.AudioFeatures{{TempoBPM: nan}, {Energy: nan}}
	for _, tc := range []struct {
		name     string
		playlist []model.AudioFeatures
		taste    []float64
		weight   float64
		wantErr  bool
	}{
		{"NaN features", withNaN, nil, 0.5, false},
		{"NaN features with taste", withNaN, []float64{1, 0.5}, 0.5, false},
		{"NaN taste", plain, []float64{nan, nan}, 0.5, true},
		{"-Inf taste", plain, []float64{math.Inf(-1), math.Inf(-1)}, 0.5, true},
		{"+Inf taste", plain, []float64{inf, 0}, 0.5, true},
		{"NaN weight", plain, []float64{1, 0}, nan, true},
		{"Inf weight", plain, []float64{1, 0}, inf, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ins, err := PlanInsertions(tc.playlist, cands, tc.taste, 3, tc.weight)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidInsert) {
					t.Fatalf("err = %v, want ErrInvalidInsert", err)
				}
				return
			}
			if err != nil || len(ins) != 1 || ins[0].After != 2 || ins[0].Candidate < 0 {
				t.Fatalf("PlanInsertions = %+v, %v; want one insertion after entry 2", ins, err)
			}
		})
	}
	if d := FeatureDistance(model.AudioFeatures{TempoBPM: nan}, model.AudioFeatures{}); d != 0 {
		t.Fatalf("distance of a NaN tempo to an unmeasured track = %v, want 0", d)
	}
}
