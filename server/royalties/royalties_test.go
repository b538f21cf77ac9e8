package royalties_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/royalties"
)

// mustCurrency is ParseCurrency for codes the test knows are valid.
func mustCurrency(code string) royalties.Currency {
	c, err := royalties.ParseCurrency(code)
	if err != nil {
		panic(err)
	}
	return c
}

var eur = mustCurrency("EUR")

// TestParseCurrency: active ISO 4217 codes parse, whatever their minor
// unit; unknown, withdrawn, lower-case and minor-unit-less codes are
// ErrBadCurrency with the reason.
func TestParseCurrency(t *testing.T) {
	for _, c := range []struct {
		in   string
		ok   bool
		text string // in the error
	}{
		{"EUR", true, ""}, {"JPY", true, ""}, {"BHD", true, ""}, {"CLF", true, ""}, {"XCG", true, ""}, {"ZWG", true, ""},
		{"XYZ", false, "not an active ISO 4217 code"},
		{"HRK", false, "not an active ISO 4217 code"}, // withdrawn (Croatia uses EUR)
		{"eur", false, "three upper-case letters"},
		{"EURO", false, "not an active"},
		{"", false, "not an active"},
		{"XAU", false, "no minor unit"},
		{"XTS", false, "no minor unit"},
		{"G X", false, "not an active"},
	} {
		got, err := royalties.ParseCurrency(c.in)
		switch {
		case c.ok && (err != nil || got.String() != c.in):
			t.Errorf("ParseCurrency(%q) = %v, %v", c.in, got, err)
		case !c.ok && (!errors.Is(err, royalties.ErrBadCurrency) || !strings.Contains(err.Error(), c.text)):
			t.Errorf("ParseCurrency(%q): err %v, want ErrBadCurrency saying %q", c.in, err, c.text)
		}
	}
}

// TestParsePool: a pool takes as many fraction digits as its currency's
// minor unit (none for JPY), is exact in minor units, and is bounded.
func TestParsePool(t *testing.T) {
	for _, c := range []struct {
		cur  string
		in   string
		want int64
		err  string // in the error; "" for none
	}{
		{"EUR", "1000000.00", 100000000, ""}, {"EUR", "12.5", 1250, ""}, {"EUR", "7", 700, ""}, {"EUR", "0.01", 1, ""},
		{"EUR", "999999999999999.99", 99999999999999999, ""},
		{"EUR", "-1", 0, "want a decimal"}, {"EUR", "1.234", 0, "2 fraction digits"}, {"EUR", "1e6", 0, "want a decimal"},
		{"EUR", "", 0, "want a decimal"}, {"EUR", ".5", 0, "want a decimal"}, {"EUR", "1.", 0, "want a decimal"},
		{"EUR", "1,00", 0, "want a decimal"}, {"EUR", "9999999999999999", 0, "15 integer digits"},
		{"JPY", "10", 10, ""}, {"JPY", "999999999999999", 999999999999999, ""},
		{"JPY", "10.00", 0, "JPY has no minor unit"}, {"JPY", "10.5", 0, "JPY has no minor unit"},
		{"BHD", "1.5", 1500, ""}, {"BHD", "0.001", 1, ""}, {"BHD", "1.0001", 0, "3 fraction digits"},
		{"BHD", "100000000000000", 100000000000000000, ""}, {"BHD", "100000000000000.001", 0, "at most 100000000000000.000 BHD"},
		{"CLF", "1.2345", 12345, ""}, {"CLF", "999999999999999.9999", 0, "at most 10000000000000.0000 CLF"},
	} {
		got, err := royalties.ParsePool(c.in, mustCurrency(c.cur))
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("ParsePool(%q, %s) = %d, %v; want %d", c.in, c.cur, got, err, c.want)
		case c.err != "" && (!errors.Is(err, royalties.ErrBadPool) || !strings.Contains(err.Error(), c.err)):
			t.Errorf("ParsePool(%q, %s): err %v, want ErrBadPool saying %q", c.in, c.cur, err, c.err)
		}
	}
}

// TestFormat: amounts print with the currency's minor-unit digits, and
// ParsePool reads them back.
func TestFormat(t *testing.T) {
	for _, c := range []struct {
		cur   string
		minor int64
		want  string
	}{
		{"EUR", 1234, "12.34"}, {"EUR", 5, "0.05"}, {"EUR", 0, "0.00"}, {"EUR", -150, "-1.50"},
		{"JPY", 1000, "1000"}, {"JPY", 0, "0"},
		{"BHD", 1234, "1.234"}, {"KWD", 7, "0.007"},
		{"CLF", 12345, "1.2345"},
	} {
		cur := mustCurrency(c.cur)
		got := cur.Format(c.minor)
		if got != c.want {
			t.Errorf("%s Format(%d) = %q, want %q", c.cur, c.minor, got, c.want)
		}
		if back, err := royalties.ParsePool(got, cur); c.minor >= 0 && (err != nil || back != c.minor) {
			t.Errorf("%s ParsePool(%q) = %d, %v; want %d", c.cur, got, back, err, c.minor)
		}
	}
}

// TestComputeMinorUnits: in currencies with 0 and 3 minor digits the
// split is exact in their smallest unit (the leftover yen or fils by
// largest remainder) and the amounts print in it.
func TestComputeMinorUnits(t *testing.T) {
	for _, c := range []struct {
		cur  string
		pool int64
		want string // the tracks' amounts
	}{
		{"JPY", 10, "4 3 3"},
		{"JPY", 1, "1 0 0"},
		{"BHD", 1000, "0.334 0.333 0.333"},
		{"EUR", 1000, "3.34 3.33 3.33"},
	} {
		cur := mustCurrency(c.cur)
		s := royalties.Compute("2026-11", cur, c.pool, map[model.TrackID]uint64{"a": 1, "b": 1, "c": 1})
		var amounts []string
		var sum int64
		for _, l := range s.Tracks {
			amounts = append(amounts, l.Amount)
			sum += l.Minor
		}
		if got := strings.Join(amounts, " "); got != c.want || sum != c.pool || s.Pool != cur.Format(c.pool) {
			t.Errorf("%s %d over three tracks: %s (sum %d, pool %s), want %s", c.cur, c.pool, got, sum, s.Pool, c.want)
		}
		if !strings.Contains(string(s.CSV()), "2026-11,"+c.cur+",a,1,") {
			t.Errorf("%s csv:\n%s", c.cur, s.CSV())
		}
	}
}

// TestCompute: the amounts sum to the pool to the cent for awkward
// splits, leftover cents go by largest remainder then track id, and the
// same counts give the same statement.
func TestCompute(t *testing.T) {
	s := royalties.Compute("2026-11", eur, 100, map[model.TrackID]uint64{"c": 1, "a": 1, "b": 1, "z": 0})
	if got := fmt.Sprint(s.Tracks[0].Amount, " ", s.Tracks[1].Amount, " ", s.Tracks[2].Amount); got != "0.34 0.33 0.33" || len(s.Tracks) != 3 {
		t.Errorf("100 cents over three equal tracks: %s (%d lines)", got, len(s.Tracks))
	}
	s = royalties.Compute("2026-11", eur, 1000, map[model.TrackID]uint64{"a": 1, "b": 2, "c": 4})
	// 1000×1/7 = 142 r6, ×2/7 = 285 r5, ×4/7 = 571 r3: two cents left,
	// to the largest remainders a and b.
	if got := fmt.Sprint(s.Tracks[0].Minor, s.Tracks[1].Minor, s.Tracks[2].Minor); got != "143 286 571" {
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
		pool := rng.Int64N(royalties.MaxPoolMinor)
		s := royalties.Compute("2026-11", eur, pool, m)
		var sum int64
		for _, l := range s.Tracks {
			sum += l.Minor
		}
		if sum != pool && s.Streams > 0 {
			t.Fatalf("amounts sum to %d, pool %d", sum, pool)
		}
		if again := royalties.Compute("2026-11", eur, pool, m); string(again.CSV()) != string(s.CSV()) {
			t.Fatal("not reproducible")
		}
	}
	if s := royalties.Compute("2026-11", eur, 100, nil); len(s.Tracks) != 0 || s.Streams != 0 {
		t.Errorf("no streams: %+v", s)
	}
}
