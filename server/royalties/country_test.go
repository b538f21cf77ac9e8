package royalties

import (
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/segue-fm/segue/core/model"
)

type cmap = map[model.TrackID]map[string]uint64

// TestComputeCountries: table of splits — ties to the lower country code,
// streams without per-country counts under ZZ, held streams taken from
// their country — and the refusals.
func TestComputeCountries(t *testing.T) {
	for _, tc := range []struct {
		name      string
		streams   map[model.TrackID]uint64 // after the hold-out
		countries cmap
		held      cmap
		want      string // lines, then totals
		err       error
	}{
		{name: "tie to lower code", streams: map[model.TrackID]uint64{"a": 2, "b": 1},
			countries: cmap{"a": {"FR": 1, "DE": 1}, "b": {"FR": 1}},
			want:      "[a/DE/1/33.34 a/FR/1/33.33 b/FR/1/33.33] [DE/1/33.34 FR/2/66.66]"},
		{name: "uncounted countries are ZZ", streams: map[model.TrackID]uint64{"a": 5},
			countries: cmap{"a": {"FR": 3}},
			want:      "[a/FR/3/60.00 a/ZZ/2/40.00] [FR/3/60.00 ZZ/2/40.00]"},
		{name: "held taken from its country", streams: map[model.TrackID]uint64{"a": 3},
			countries: cmap{"a": {"FR": 2, "DE": 2}}, held: cmap{"a": {"FR": 1}},
			want: "[a/DE/2/66.67 a/FR/1/33.33] [DE/2/66.67 FR/1/33.33]"},
		{name: "country fully held", streams: map[model.TrackID]uint64{"a": 1},
			countries: cmap{"a": {"FR": 2, "DE": 1}}, held: cmap{"a": {"FR": 2}},
			want: "[a/DE/1/100.00] [DE/1/100.00]"},
		{name: "held beyond the country", streams: map[model.TrackID]uint64{"a": 1},
			countries: cmap{"a": {"FR": 1}}, held: cmap{"a": {"FR": 2}}, err: ErrHeldExceeds},
		{name: "held in a country without counts", streams: map[model.TrackID]uint64{"a": 1},
			countries: cmap{"a": {"FR": 2}}, held: cmap{"a": {"DE": 1}}, err: ErrHeldExceeds},
		{name: "countries exceed the track", streams: map[model.TrackID]uint64{"a": 1},
			countries: cmap{"a": {"FR": 2}}, err: ErrCountryCounts},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := ComputeCountries(Compute("2026-11", eur, 10000, tc.streams), tc.countries, tc.held)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var lines, totals []string
			for _, l := range cs.Lines {
				lines = append(lines, fmt.Sprintf("%s/%s/%d/%s", l.Track, l.Country, l.Streams, l.Amount))
			}
			for _, c := range cs.Countries {
				totals = append(totals, fmt.Sprintf("%s/%d/%s", c.Country, c.Streams, c.Amount))
			}
			if got := fmt.Sprint(lines, " ", totals); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestComputeCountriesSums: on seeded random months the country lines of
// every track sum to the track's amount, the country totals to the pool,
// every line is within one cent of its exact share (pool × streams /
// total), and the CSV is the same for the same input.
func TestComputeCountriesSums(t *testing.T) {
	codes := []string{"AT", "BE", "DE", "FR", "IT", "NL", "ZZ"}
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 7))
		streams, countries := map[model.TrackID]uint64{}, cmap{}
		for i := range 1 + rng.IntN(40) {
			tr := model.TrackID(fmt.Sprint("t", i))
			countries[tr] = map[string]uint64{}
			for _, c := range codes {
				if rng.IntN(3) == 0 {
					n := uint64(rng.IntN(1000))
					countries[tr][c] = n
					streams[tr] += n
				}
			}
			streams[tr] += uint64(rng.IntN(3)) // some uncounted by country
		}
		pool := rng.Int64N(1e12)
		st := Compute("2026-11", eur, pool, streams)
		cs, err := ComputeCountries(st, countries, nil)
		if err != nil {
			t.Fatal(err)
		}
		perTrack := map[model.TrackID]int64{}
		var all int64
		for _, l := range cs.Lines {
			perTrack[l.Track] += l.Minor
			exact := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(pool), new(big.Int).SetUint64(l.Streams)), new(big.Int).SetUint64(st.Streams))
			diff := new(big.Rat).Sub(exact, new(big.Rat).SetInt64(l.Minor))
			if diff.Abs(diff).Cmp(big.NewRat(2, 1)) >= 0 {
				t.Fatalf("seed %d: %s/%s %d cents, exact %s", seed, l.Track, l.Country, l.Minor, exact.FloatString(2))
			}
		}
		for _, l := range st.Tracks {
			if perTrack[l.Track] != l.Minor {
				t.Fatalf("seed %d: %s country lines %d, track %d", seed, l.Track, perTrack[l.Track], l.Minor)
			}
		}
		for _, c := range cs.Countries {
			all += c.Minor
		}
		if len(st.Tracks) > 0 && all != pool {
			t.Fatalf("seed %d: totals %d, pool %d", seed, all, pool)
		}
		again, _ := ComputeCountries(Compute("2026-11", eur, pool, streams), countries, nil)
		if string(again.CSV()) != string(cs.CSV()) {
			t.Fatalf("seed %d: not reproducible", seed)
		}
	}
}

// eur is the currency of the package's internal tests.
var eur = func() Currency {
	c, err := ParseCurrency("EUR")
	if err != nil {
		panic(err)
	}
	return c
}()
