package royalties_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/royalties"
)

func TestParsePool(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"1000000.00", 100000000, false}, {"12.5", 1250, false}, {"7", 700, false}, {"0.01", 1, false},
		{"-1", 0, true}, {"1.234", 0, true}, {"1e6", 0, true}, {"", 0, true}, {".5", 0, true}, {"1,00", 0, true},
		{"9999999999999999", 0, true},
	} {
		got, err := royalties.ParsePool(c.in)
		if (err != nil) != c.err || got != c.want || (err != nil && !errors.Is(err, royalties.ErrBadPool)) {
			t.Errorf("ParsePool(%q) = %d, %v", c.in, got, err)
		}
	}
	for in, ok := range map[string]bool{"EUR": true, "eur": false, "EURO": false, "": false} {
		if _, err := royalties.ParseCurrency(in); (err == nil) != ok {
			t.Errorf("ParseCurrency(%q): %v", in, err)
		}
	}
}

// TestCompute: the amounts sum to the pool to the cent for awkward
// splits, leftover cents go by largest remainder then track id, and the
// same counts give the same statement.
func TestCompute(t *testing.T) {
	s := royalties.Compute("2026-11", "EUR", 100, map[model.TrackID]uint64{"c": 1, "a": 1, "b": 1, "z": 0})
	if got := fmt.Sprint(s.Tracks[0].Amount, " ", s.Tracks[1].Amount, " ", s.Tracks[2].Amount); got != "0.34 0.33 0.33" || len(s.Tracks) != 3 {
		t.Errorf("100 cents over three equal tracks: %s (%d lines)", got, len(s.Tracks))
	}
	s = royalties.Compute("2026-11", "EUR", 1000, map[model.TrackID]uint64{"a": 1, "b": 2, "c": 4})
	// 1000×1/7 = 142 r6, ×2/7 = 285 r5, ×4/7 = 571 r3: two cents left,
	// to the largest remainders a and b.
	if got := fmt.Sprint(s.Tracks[0].Cents, s.Tracks[1].Cents, s.Tracks[2].Cents); got != "143 286 571" {
		t.Errorf("1/2/4 split: %s", got)
	}
	if string(s.CSV()) != "month,currency,track,streams,amount\n2026-11,EUR,a,1,1.43\n2026-11,EUR,b,2,2.86\n2026-11,EUR,c,4,5.71\n" {
		t.Errorf("csv:\n%s", s.CSV())
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		m := map[model.TrackID]uint64{}
		for i := range 1 + rng.IntN(50) {
			m[model.TrackID(fmt.Sprint("t", i))] = rng.Uint64N(1e8)
		}
		pool := rng.Int64N(royalties.MaxPoolCents)
		s := royalties.Compute("2026-11", "EUR", pool, m)
		var sum int64
		for _, l := range s.Tracks {
			sum += l.Cents
		}
		if sum != pool && s.Streams > 0 {
			t.Fatalf("amounts sum to %d, pool %d", sum, pool)
		}
		if again := royalties.Compute("2026-11", "EUR", pool, m); string(again.CSV()) != string(s.CSV()) {
			t.Fatal("not reproducible")
		}
	}
	if s := royalties.Compute("2026-11", "EUR", 100, nil); len(s.Tracks) != 0 || s.Streams != 0 {
		t.Errorf("no streams: %+v", s)
	}
}
