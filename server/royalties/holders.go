package royalties

import (
	"bytes"
	"cmp"
	"math/big"
	"slices"
	"strconv"

	"github.com/segue-fm/segue/core/model"
)

// Unassigned is the party and role of the holder line that collects the
// money of streamed tracks without valid rights (none recorded at ingest,
// or stored in a format without exact shares): it is held, not paid out
// and not spread over other holders, so the holder lines still sum to the
// pool and the track's holders can be paid once their rights are known.
const Unassigned = "(unassigned)"

// HolderLine is one rights holder's (party and role) share of the pool.
type HolderLine struct {
	Party string     `json:"party"`
	Role  model.Role `json:"role"`
	// Streams is the holder's weighted streams, Σ streams × share over
	// the month's tracks, as an exact decimal (9 fraction digits at most).
	Streams string `json:"streams"`
	Tracks  int    `json:"tracks"`
	Minor   int64  `json:"-"` // the amount in minor units
	Amount  string `json:"amount"`
}

// HolderStatement is a month's statement per rights holder.
type HolderStatement struct {
	Month    string       `json:"month"`
	Currency Currency     `json:"currency"`
	Pool     string       `json:"pool"`
	Streams  uint64       `json:"streams"`
	Holders  []HolderLine `json:"holders"`
	// Unassigned counts the streamed tracks whose money went to the
	// Unassigned line.
	UnassignedTracks int `json:"unassigned_tracks"`
}

// ComputeHolders splits pool (in cur's minor units) over rights holders: holder h's exact
// entitlement is pool × Σ_t streams_t × share_{t,h} / Σ_t streams_t, with
// shares exact multiples of 10⁻⁹ (model.Share), computed in integers.
// Rounding rule (largest remainder, as Compute): each holder first gets
// the floor of its entitlement in minor units; the units left over (fewer
// than the number of holders) go one each to the largest remainders, ties
// by ascending (party, role). Every holder is therefore within one unit of
// its exact entitlement, the lines sum to the pool exactly, and the same
// input gives the same bytes. A track whose rights fail
// model.ValidateRights (none, or legacy) is paid to the Unassigned line.
// Lines are sorted by party then role, Unassigned last. Pure function.
func ComputeHolders(month string, cur Currency, pool int64, streams map[model.TrackID]uint64, rights map[model.TrackID][]model.RightsShare) HolderStatement {
	st := HolderStatement{Month: month, Currency: cur, Pool: cur.Format(pool), Holders: []HolderLine{}}
	type key struct {
		party string
		role  model.Role
	}
	type acc struct {
		units  *big.Int // Σ streams × share units
		tracks int
	}
	holders := map[key]*acc{}
	add := func(k key, units *big.Int) {
		a := holders[k]
		if a == nil {
			a = &acc{units: new(big.Int)}
			holders[k] = a
		}
		a.units.Add(a.units, units)
		a.tracks++
	}
	var total big.Int
	for t, n := range streams {
		if n == 0 {
			continue
		}
		st.Streams += n
		ns := new(big.Int).SetUint64(n)
		total.Add(&total, ns)
		rs := rights[t]
		if len(rs) == 0 || model.ValidateRights(rs) != nil {
			st.UnassignedTracks++
			add(key{Unassigned, Unassigned}, new(big.Int).Mul(ns, big.NewInt(model.ShareScale)))
			continue
		}
		for _, r := range rs {
			add(key{r.Party, r.Role}, new(big.Int).Mul(ns, new(big.Int).SetUint64(uint64(r.Share))))
		}
	}
	if st.Streams == 0 {
		return st
	}
	keys := make([]key, 0, len(holders))
	for k := range holders {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if (a.party == Unassigned) != (b.party == Unassigned) {
			if a.party == Unassigned {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.party, b.party), cmp.Compare(a.role, b.role))
	})
	denom := new(big.Int).Mul(&total, big.NewInt(model.ShareScale))
	bp := big.NewInt(pool)
	type rem struct {
		i int
		r *big.Int
	}
	rems := make([]rem, len(keys))
	left := pool
	scale := big.NewInt(model.ShareScale)
	for i, k := range keys {
		a := holders[k]
		q, r := new(big.Int).QuoRem(new(big.Int).Mul(bp, a.units), denom, new(big.Int))
		whole, frac := new(big.Int).QuoRem(a.units, scale, new(big.Int))
		st.Holders = append(st.Holders, HolderLine{Party: k.party, Role: k.role, Tracks: a.tracks,
			Streams: decimal9(whole, frac.Int64()), Minor: q.Int64()})
		left -= q.Int64()
		rems[i] = rem{i, r}
	}
	slices.SortStableFunc(rems, func(a, b rem) int { return b.r.Cmp(a.r) }) // ties keep (party, role) order
	for k := int64(0); k < left; k++ {
		st.Holders[rems[k].i].Minor++
	}
	for i := range st.Holders {
		st.Holders[i].Amount = cur.Format(st.Holders[i].Minor)
	}
	return st
}

// decimal9 formats whole + frac/10⁹ with trailing zeros dropped.
func decimal9(whole *big.Int, frac int64) string {
	s := whole.String()
	if frac == 0 {
		return s
	}
	f := []byte(strconv.FormatInt(frac+model.ShareScale, 10)[1:])
	return s + "." + string(bytes.TrimRight(f, "0"))
}

// CSV returns the holder statement as RFC 4180 CSV: a header line, then
// month,currency,party,role,tracks,streams,amount per holder (party names
// as cell makes them).
func (s HolderStatement) CSV() []byte {
	return csvBytes([]string{"month", "currency", "party", "role", "tracks", "streams", "amount"}, func(row func(...string)) {
		for _, l := range s.Holders {
			row(s.Month, s.Currency.String(), cell(l.Party), string(l.Role), strconv.Itoa(l.Tracks), l.Streams, l.Amount)
		}
	})
}
