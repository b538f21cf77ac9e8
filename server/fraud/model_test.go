package fraud

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestDefaultModel: the shipped model parses, round-trips and says what
// it was trained on.
func TestDefaultModel(t *testing.T) {
	m, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Trained, "seeds 1,2,3,4,5,6,7,8,9,10,") {
		t.Errorf("trained on %q, want the training seeds 1–10", m.Trained)
	}
	b, err := m.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, defaultModel) {
		t.Error("model.json does not round-trip byte for byte")
	}
}

// TestParseModelRejects: malformed or inconsistent models are ErrBadModel.
func TestParseModelRejects(t *testing.T) {
	for name, mutate := range map[string]func(m *Model){
		"features":       func(m *Model) { m.Features = m.Features[1:] },
		"edges":          func(m *Model) { m.Edges = m.Edges[1:] },
		"points":         func(m *Model) { m.Points[0] = m.Points[0][1:] },
		"unsorted edges": func(m *Model) { m.Edges[0] = []float64{2, 1}; m.Points[0] = []float64{0, 0, 0} },
		"threshold 0":    func(m *Model) { m.Threshold = 0 },
		"threshold > 1":  func(m *Model) { m.Threshold = 1.5 },
	} {
		m, _ := DefaultModel()
		mutate(m)
		b, _ := m.JSON()
		if _, err := ParseModel(b); !errors.Is(err, ErrBadModel) {
			t.Errorf("%s: %v, want ErrBadModel", name, err)
		}
	}
	for _, b := range []string{"", "{", "[]", `{"features":null}`} {
		if _, err := ParseModel([]byte(b)); !errors.Is(err, ErrBadModel) {
			t.Errorf("%q: %v, want ErrBadModel", b, err)
		}
	}
}

// FuzzParseModel: any bytes give a model or ErrBadModel, and a parsed
// model scores without panicking.
func FuzzParseModel(f *testing.F) {
	f.Add(defaultModel)
	f.Add([]byte(`{"features":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseModel(b)
		if err != nil {
			if !errors.Is(err, ErrBadModel) {
				t.Fatalf("error %v is not ErrBadModel", err)
			}
			return
		}
		var x Features
		s := m.Score(x)
		if s.Value < 0 || s.Value > 1 {
			t.Fatalf("score %v", s.Value)
		}
	})
}

// TestScoreExplain: the explanation names the features pushing the score
// up, largest first, and unknown features add nothing.
func TestScoreExplain(t *testing.T) {
	m := &Model{Features: featureNames[:], Edges: make([][]float64, NumFeatures), Points: make([][]float64, NumFeatures), Bias: -5, Threshold: 0.9}
	for i := range m.Points {
		m.Edges[i] = []float64{0.5}
		m.Points[i] = []float64{0, 0}
	}
	m.Points[JustOver30] = []float64{0, 6}
	m.Points[SkipRate] = []float64{0, 2}
	m.Points[Friends] = []float64{0, 9}
	var f Features
	f[JustOver30], f[SkipRate], f[Friends] = 0.9, 0.95, math.NaN()
	s := m.Score(f)
	if want := 1 / (1 + math.Exp(-3)); math.Abs(s.Value-want) > 1e-12 || !s.Flagged {
		t.Fatalf("score %v flagged %v, want %v true", s.Value, s.Flagged, want)
	}
	if len(s.Top) != 2 || s.Top[0].Feature != JustOver30 || s.Top[1].Feature != SkipRate {
		t.Fatalf("top %+v", s.Top)
	}
	want := "score 0.953 (threshold 0.900): plays cut just over 30 s 0.90 (+6.0), skip rate 0.95 (+2.0)"
	if got := s.Explain(m.Threshold); got != want {
		t.Errorf("explain %q\nwant    %q", got, want)
	}
}

// TestFitSeparates: on two synthetic classes differing in two features
// the fitted model ranks every bot above every human, its threshold
// flags the bots only, and fitting is deterministic.
func TestFitSeparates(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var xs []Features
	var ys []bool
	for i := range 600 {
		var f Features
		for k := range f {
			f[k] = r.Float64()
		}
		bot := i%5 == 0
		if bot {
			f[JustOver30] = 0.8 + 0.2*r.Float64()
			f[QuietHours] = 0
		} else {
			f[JustOver30] = 0.05 * r.Float64()
			f[QuietHours] = 5 + r.Float64()*5
		}
		f[AccountsPerIP] = math.NaN()
		xs, ys = append(xs, f), append(ys, bot)
	}
	m, err := Fit(xs, ys, DefaultFitOptions())
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range xs {
		if m.Score(x).Flagged != ys[i] {
			t.Fatalf("sample %d (bot %v) scored %v, threshold %v", i, ys[i], m.Score(x).Value, m.Threshold)
		}
	}
	m2, _ := Fit(xs, ys, DefaultFitOptions())
	a, _ := m.JSON()
	b, _ := m2.JSON()
	if !bytes.Equal(a, b) {
		t.Error("Fit is not deterministic")
	}
	if _, err := ParseModel(a); err != nil {
		t.Errorf("fitted model does not parse: %v", err)
	}
	if _, err := Fit(xs, make([]bool, len(xs)), DefaultFitOptions()); !errors.Is(err, ErrNoData) {
		t.Errorf("one class: %v, want ErrNoData", err)
	}
	if _, err := Fit(xs, ys, DefaultFitOptions().WithBins(0)); err == nil {
		t.Error("0 bins accepted")
	}
}

// TestChooseThreshold: the lowest score reaching the precision, ties
// flagged together.
func TestChooseThreshold(t *testing.T) {
	for _, c := range []struct {
		scores []float64
		bot    []bool
		prec   float64
		want   float64
	}{
		{[]float64{0.9, 0.8, 0.7, 0.2}, []bool{true, true, false, false}, 1, 0.8},
		{[]float64{0.9, 0.8, 0.7, 0.6}, []bool{true, false, true, true}, 0.75, 0.6},
		{[]float64{0.9, 0.8, 0.7, 0.6}, []bool{true, false, true, true}, 1, 0.9},
		{[]float64{0.9, 0.9, 0.1}, []bool{true, false, true}, 1, 1},
		{[]float64{0.5}, []bool{false}, 0.99, 1},
	} {
		if got := ChooseThreshold(c.scores, c.bot, c.prec); got != c.want {
			t.Errorf("ChooseThreshold(%v, %v, %v) = %v, want %v", c.scores, c.bot, c.prec, got, c.want)
		}
	}
}
