package edgetrace

import (
	"math"
	"slices"
	"testing"
)

func TestGenerateSkewAndDeterminism(t *testing.T) {
	o := DefaultOptions().WithPlays(30_000)
	a, err := Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	top1, top10 := a.PlayShare(0.01), a.PlayShare(0.10)
	t.Logf("top 1%% of tracks: %.3f of plays, top 10%%: %.3f, %d requests", top1, top10, len(a.Requests))
	if math.Abs(top1-0.30) > 0.05 || math.Abs(top10-0.70) > 0.07 {
		t.Errorf("skew %.3f/%.3f, want ≈ 0.30/0.70", top1, top10)
	}
	if len(a.Plays) != 30_000 {
		t.Errorf("%d plays, want 30000", len(a.Plays))
	}
	b, _ := Generate(o)
	if !slices.Equal(a.Requests, b.Requests) {
		t.Error("same options, different traces")
	}
	c, _ := Generate(o.WithSeed(2))
	if slices.Equal(a.Requests, c.Requests) {
		t.Error("different seeds, same trace")
	}
}

func TestGenerateReleaseSpike(t *testing.T) {
	o := DefaultOptions().WithPlays(50_000).WithReleaseSpike(0.1, 0.5)
	tr, err := Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	var before, after, total int
	for i, p := range tr.Plays {
		if int(p) < 1000 {
			continue
		}
		if i < 25_000-200 {
			before++
		} else {
			after++
		}
		total++
	}
	share := float64(after) / 25_000
	t.Logf("spike album: %d plays after release (%.3f of plays)", after, share)
	if before != 0 || share < 0.08 || share > 0.16 {
		t.Errorf("spike album: %d plays before release, %.3f after; want 0 and ≈ 0.1", before, share)
	}
}

func TestGenerateBadOptions(t *testing.T) {
	for _, o := range []Options{
		DefaultOptions().WithTracks(50),
		DefaultOptions().WithTracks(1005),
		DefaultOptions().WithPlays(0),
		DefaultOptions().WithReleaseSpike(1, 0.5),
		DefaultOptions().WithReleaseSpike(0.1, 0),
	} {
		if _, err := Generate(o); err == nil {
			t.Errorf("Generate(%+v) accepted", o)
		}
	}
}

func reqs(keys ...uint64) []Request {
	out := make([]Request, len(keys))
	for i, k := range keys {
		out[i] = Request{Key: k, Size: 1}
	}
	return out
}

func TestPoliciesKnownAnswers(t *testing.T) {
	// Capacity 2, unit sizes: a b c a b c a b c.
	// LRU always evicts the one needed next: no hits. Bélády (with
	// bypass) keeps a and b, never admits c: a and b hit twice each.
	tr := reqs(1, 2, 3, 1, 2, 3, 1, 2, 3)
	if r := LRU(tr, 2); r.Hits != 0 {
		t.Errorf("LRU hits %d, want 0", r.Hits)
	}
	if r := Belady(tr, 2); r.Hits != 4 {
		t.Errorf("Bélády hits %d, want 4", r.Hits)
	}
	// Everything fits: only compulsory misses.
	if r := Belady(tr, 3); r.Hits != 6 {
		t.Errorf("Bélády with room: %d hits, want 6", r.Hits)
	}
	if r := LRU(tr, 3); r.Hits != 6 {
		t.Errorf("LRU with room: %d hits, want 6", r.Hits)
	}
	// Bytes: a 3-byte object never fits in 2.
	big := []Request{{Key: 1, Size: 3}, {Key: 1, Size: 3}}
	if r := LRU(big, 2); r.Hits != 0 || r.Bytes != 6 {
		t.Errorf("LRU big: %+v", r)
	}
	if r := Belady(big, 2); r.Hits != 0 {
		t.Errorf("Bélády big: %+v", r)
	}
}

func TestBeladyBeatsLRU(t *testing.T) {
	tr, err := Generate(DefaultOptions().WithPlays(20_000))
	if err != nil {
		t.Fatal(err)
	}
	_, distinct := tr.Bytes()
	for _, f := range []float64{0.01, 0.05, 0.2} {
		c := int64(f * float64(distinct))
		l, b := LRU(tr.Requests, c), Belady(tr.Requests, c)
		if b.ByteHitRatio() < l.ByteHitRatio() {
			t.Errorf("capacity %.0f%%: Bélády %.3f < LRU %.3f", 100*f, b.ByteHitRatio(), l.ByteHitRatio())
		}
	}
}
