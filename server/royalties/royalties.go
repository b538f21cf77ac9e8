// Package royalties computes the pro-rata royalty statement of a month
// from counted streams, in exact integer arithmetic on the currency's
// minor unit (ISO 4217: the cent of EUR, the yen itself, the fils of
// BHD): revenue per stream = pool / counted streams.
//
// Rounding rule (largest remainder): each track first gets
// floor(pool × streams / total) minor units; the units left over (fewer
// than the number of tracks) go one each to the tracks with the largest
// remainders of that division, ties broken by ascending track id. The
// amounts therefore sum to the pool exactly, and the same counts always
// give the same statement byte for byte.
package royalties

import (
	"math/big"
	"slices"
	"strconv"

	"github.com/segue-fm/segue/core/model"
)

// Line is one track's share of the pool.
type Line struct {
	Track   model.TrackID `json:"track"`
	Streams uint64        `json:"streams"`
	Minor   int64         `json:"-"` // the amount in minor units
	Amount  string        `json:"amount"`
}

// Statement is a month's pro-rata statement.
type Statement struct {
	Month    string   `json:"month"`
	Currency Currency `json:"currency"`
	Pool     string   `json:"pool"`
	Streams  uint64   `json:"streams"`
	Tracks   []Line   `json:"tracks"`
}

// Compute splits pool (in cur's minor units) over the tracks' streams by
// the package's rounding rule. Tracks with no streams are left out; with no streams at
// all the statement has no lines (nothing is paid). It is a pure
// function; lines are sorted by track id.
func Compute(month string, cur Currency, pool int64, streams map[model.TrackID]uint64) Statement {
	st := Statement{Month: month, Currency: cur, Pool: cur.Format(pool)}
	type rem struct {
		i int
		r *big.Int
	}
	var tracks []model.TrackID
	for t, n := range streams {
		if n > 0 {
			tracks = append(tracks, t)
			st.Streams += n
		}
	}
	if st.Streams == 0 {
		return st
	}
	slices.Sort(tracks)
	total := new(big.Int).SetUint64(st.Streams)
	bp := big.NewInt(pool)
	rems := make([]rem, len(tracks))
	left := pool
	for i, t := range tracks {
		q, r := new(big.Int).QuoRem(new(big.Int).Mul(bp, new(big.Int).SetUint64(streams[t])), total, new(big.Int))
		c := q.Int64()
		left -= c
		st.Tracks = append(st.Tracks, Line{Track: t, Streams: streams[t], Minor: c})
		rems[i] = rem{i, r}
	}
	slices.SortStableFunc(rems, func(a, b rem) int { return b.r.Cmp(a.r) }) // ties keep track order
	for k := int64(0); k < left; k++ {
		st.Tracks[rems[k].i].Minor++
	}
	for i := range st.Tracks {
		st.Tracks[i].Amount = cur.Format(st.Tracks[i].Minor)
	}
	return st
}

// CSV returns the statement as CSV: a header line, then
// month,currency,track,streams,amount per track (track ids as cell makes
// them).
func (s Statement) CSV() []byte {
	return csvBytes([]string{"month", "currency", "track", "streams", "amount"}, func(row func(...string)) {
		for _, l := range s.Tracks {
			row(s.Month, s.Currency.String(), cell(string(l.Track)), strconv.FormatUint(l.Streams, 10), l.Amount)
		}
	})
}
