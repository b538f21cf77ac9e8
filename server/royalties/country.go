package royalties

import (
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"

	"github.com/segue-fm/segue/core/model"
)

// ErrCountryCounts: a track's per-country counts exceed its counted
// streams (counts from different data).
var ErrCountryCounts = errors.New("royalties: per-country counts exceed the track's streams")

// UnknownCountry is the country of streams whose account had none, and of
// streams counted before the relay kept counts per country.
const UnknownCountry = "ZZ"

// CountryLine is one track's share of the pool in one country.
type CountryLine struct {
	Track   model.TrackID `json:"track"`
	Country string        `json:"country"`
	Streams uint64        `json:"streams"`
	Minor   int64         `json:"-"` // the amount in minor units
	Amount  string        `json:"amount"`
}

// CountryTotal is one country's streams and amount over all tracks.
type CountryTotal struct {
	Country string `json:"country"`
	Streams uint64 `json:"streams"`
	Minor   int64  `json:"-"` // the amount in minor units
	Amount  string `json:"amount"`
}

// CountryStatement is a statement split per track and country, with the
// per-country totals. Its lines sum to each track line of the statement
// it was computed from, and so to the pool.
type CountryStatement struct {
	Month     string         `json:"month"`
	Currency  Currency       `json:"currency"`
	Pool      string         `json:"pool"`
	Streams   uint64         `json:"streams"`
	Countries []CountryTotal `json:"countries"`
	Lines     []CountryLine  `json:"lines"`
}

// ComputeCountries splits every track line of st over the countries its
// streams were counted in. countries holds each track's counted streams
// per country (ISO 3166-1 alpha-2, UnknownCountry for none) and held the
// streams held out of st per track and country (fraud flags; nil for
// none). A track's net streams per country are its counts minus the held
// ones; streams st counts beyond the countries' sum (counted before the
// relay kept per-country counts) are UnknownCountry's. The track's amount
// is split over its countries by the package's rounding rule (floor, then
// the leftover minor units by largest remainder, ties by ascending country
// code), so each track's country lines sum to its amount exactly and the
// result is the same for the same input. Errors: held streams a country
// does not have (ErrHeldExceeds) or countries with more net streams than
// the track (ErrCountryCounts). Pure; the maps are not changed.
func ComputeCountries(st Statement, countries, held map[model.TrackID]map[string]uint64) (CountryStatement, error) {
	cs := CountryStatement{Month: st.Month, Currency: st.Currency, Pool: st.Pool, Streams: st.Streams}
	totals := map[string]*CountryTotal{}
	for _, l := range st.Tracks {
		net := map[string]uint64{}
		var sum uint64
		for c, n := range countries[l.Track] {
			h := held[l.Track][c]
			if h > n {
				return CountryStatement{}, fmt.Errorf("%w: %d held streams of %s in %s, %d counted there", ErrHeldExceeds, h, l.Track, c, n)
			}
			if n > h {
				net[c] = n - h
				sum += n - h
			}
		}
		for c, h := range held[l.Track] {
			if _, ok := countries[l.Track][c]; !ok && h > 0 {
				return CountryStatement{}, fmt.Errorf("%w: %d held streams of %s in %s, none counted there", ErrHeldExceeds, h, l.Track, c)
			}
		}
		if sum > l.Streams {
			return CountryStatement{}, fmt.Errorf("%w: %s has %d streams, %d by country", ErrCountryCounts, l.Track, l.Streams, sum)
		}
		if sum < l.Streams {
			net[UnknownCountry] += l.Streams - sum
		}
		codes := slices.Sorted(maps.Keys(net))
		for i, minor := range splitMinor(l.Minor, codes, net) {
			c := codes[i]
			cs.Lines = append(cs.Lines, CountryLine{Track: l.Track, Country: c, Streams: net[c], Minor: minor, Amount: st.Currency.Format(minor)})
			t := totals[c]
			if t == nil {
				t = &CountryTotal{Country: c}
				totals[c] = t
			}
			t.Streams += net[c]
			t.Minor += minor
		}
	}
	for _, c := range slices.Sorted(maps.Keys(totals)) {
		t := *totals[c]
		t.Amount = st.Currency.Format(t.Minor)
		cs.Countries = append(cs.Countries, t)
	}
	return cs, nil
}

// splitMinor splits an amount in minor units over keys (sorted) in
// proportion to weights by the largest-remainder rule, ties by key order.
// The weights must not all be zero.
func splitMinor(amount int64, keys []string, weights map[string]uint64) []int64 {
	var total uint64
	for _, k := range keys {
		total += weights[k]
	}
	out := make([]int64, len(keys))
	if total == 0 {
		return out
	}
	bt, pool := new(big.Int).SetUint64(total), big.NewInt(amount)
	rems := make([]*big.Int, len(keys))
	left := amount
	for i, k := range keys {
		q, r := new(big.Int).QuoRem(new(big.Int).Mul(pool, new(big.Int).SetUint64(weights[k])), bt, new(big.Int))
		out[i] = q.Int64()
		left -= out[i]
		rems[i] = r
	}
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return rems[b].Cmp(rems[a]) })
	for k := int64(0); k < left; k++ {
		out[order[k]]++
	}
	return out
}

// CSV returns the per-country statement as CSV: a header, then
// month,currency,track,country,streams,amount per line, sorted by track
// then country (track ids as cell makes them).
func (s CountryStatement) CSV() []byte {
	return csvBytes([]string{"month", "currency", "track", "country", "streams", "amount"}, func(row func(...string)) {
		for _, l := range s.Lines {
			row(s.Month, s.Currency.String(), cell(string(l.Track)), l.Country, strconv.FormatUint(l.Streams, 10), l.Amount)
		}
	})
}
