// Package royalties computes the pro-rata royalty statement of a month
// from counted streams, in exact integer arithmetic on minor currency
// units (cents): revenue per stream = pool / counted streams.
//
// Rounding rule (largest remainder): each track first gets
// floor(pool × streams / total) cents; the cents left over (fewer than
// the number of tracks) go one each to the tracks with the largest
// remainders of that division, ties broken by ascending track id. The
// amounts therefore sum to the pool exactly, and the same counts always
// give the same statement byte for byte.
package royalties

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"

	"github.com/segue-fm/segue/core/model"
)

// Errors of the royalties package.
var (
	// ErrBadPool: the pool is not a non-negative decimal with at most two
	// fraction digits.
	ErrBadPool = errors.New("royalties: pool must be a decimal like 1000000.00")
	// ErrBadCurrency: not three upper-case letters (ISO 4217).
	ErrBadCurrency = errors.New("royalties: currency must be three letters like EUR")
)

// MaxPoolCents bounds the pool (10^15 currency units).
const MaxPoolCents = int64(1e17)

var poolRE = regexp.MustCompile(`^[0-9]{1,15}(\.[0-9]{1,2})?$`)
var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

// ParsePool parses a decimal amount ("1000000.00", "12.5", "7") into
// cents, exactly.
func ParsePool(s string) (int64, error) {
	if !poolRE.MatchString(s) {
		return 0, ErrBadPool
	}
	whole, frac, _ := strings.Cut(s, ".")
	frac += strings.Repeat("0", 2-len(frac))
	var c int64
	for _, r := range whole + frac {
		c = c*10 + int64(r-'0')
	}
	return c, nil
}

// ParseCurrency checks an ISO 4217 code.
func ParseCurrency(s string) (string, error) {
	if !currencyRE.MatchString(s) {
		return "", ErrBadCurrency
	}
	return s, nil
}

// FormatCents writes cents as a decimal with two fraction digits.
func FormatCents(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }

// Line is one track's share of the pool.
type Line struct {
	Track   model.TrackID `json:"track"`
	Streams uint64        `json:"streams"`
	Cents   int64         `json:"-"`
	Amount  string        `json:"amount"`
}

// Statement is a month's pro-rata statement.
type Statement struct {
	Month    string `json:"month"`
	Currency string `json:"currency"`
	Pool     string `json:"pool"`
	Streams  uint64 `json:"streams"`
	Tracks   []Line `json:"tracks"`
}

// Compute splits poolCents over the tracks' streams by the package's
// rounding rule. Tracks with no streams are left out; with no streams at
// all the statement has no lines (nothing is paid). It is a pure
// function; lines are sorted by track id.
func Compute(month, currency string, poolCents int64, streams map[model.TrackID]uint64) Statement {
	st := Statement{Month: month, Currency: currency, Pool: FormatCents(poolCents)}
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
	pool := big.NewInt(poolCents)
	rems := make([]rem, len(tracks))
	left := poolCents
	for i, t := range tracks {
		q, r := new(big.Int).QuoRem(new(big.Int).Mul(pool, new(big.Int).SetUint64(streams[t])), total, new(big.Int))
		c := q.Int64()
		left -= c
		st.Tracks = append(st.Tracks, Line{Track: t, Streams: streams[t], Cents: c})
		rems[i] = rem{i, r}
	}
	slices.SortStableFunc(rems, func(a, b rem) int { return b.r.Cmp(a.r) }) // ties keep track order
	for k := int64(0); k < left; k++ {
		st.Tracks[rems[k].i].Cents++
	}
	for i := range st.Tracks {
		st.Tracks[i].Amount = FormatCents(st.Tracks[i].Cents)
	}
	return st
}

// CSV returns the statement as CSV: a header line, then
// month,currency,track,streams,amount per track. Track ids are
// catalog ids (hex), never needing quotes.
func (s Statement) CSV() []byte {
	var b strings.Builder
	b.WriteString("month,currency,track,streams,amount\n")
	for _, l := range s.Tracks {
		fmt.Fprintf(&b, "%s,%s,%s,%d,%s\n", s.Month, s.Currency, l.Track, l.Streams, l.Amount)
	}
	return []byte(b.String())
}
