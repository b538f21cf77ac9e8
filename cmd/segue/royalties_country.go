package main

import (
	"context"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/royalties"
	"github.com/segue-fm/segue/store"
)

// countryStatement splits st (the month's statement, flagged accounts'
// streams held out) per track and country: the counts per country come
// from the counting service's cnt/c keys, and each flagged account's held
// streams from the countries they were counted under
// (counting.UserMonthCountryStreams; for a month counted before those
// were kept, the country its account has now). Before, a flagged account
// that had moved had its streams held out of its new country: the old
// one was paid for them, the new one lost a legitimate stream, and a
// move to a country with no counted stream of the track failed the run.
func countryStatement(ctx context.Context, s store.Store, st royalties.Statement, held map[model.UserID]map[model.TrackID]uint64) (royalties.CountryStatement, error) {
	countries, err := counting.MonthCountryStreams(ctx, s, st.Month)
	if err != nil {
		return royalties.CountryStatement{}, err
	}
	heldBy := map[model.TrackID]map[string]uint64{}
	add := func(t model.TrackID, c string, n uint64) {
		if heldBy[t] == nil {
			heldBy[t] = map[string]uint64{}
		}
		heldBy[t][c] += n
	}
	for u, ts := range held {
		byCountry, ok, err := counting.UserMonthCountryStreams(ctx, s, u, st.Month)
		if err != nil {
			return royalties.CountryStatement{}, err
		}
		if ok {
			for c, cts := range byCountry {
				for t, n := range cts {
					add(t, c, n)
				}
			}
			continue
		}
		// Counted before the relay kept each month's countries: the
		// account's country now is all there is.
		c, err := counting.AccountCountry(ctx, s, u)
		if err != nil {
			return royalties.CountryStatement{}, err
		}
		for t, n := range ts {
			add(t, c, n)
		}
	}
	return royalties.ComputeCountries(st, countries, heldBy)
}
