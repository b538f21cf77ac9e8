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
// streams are taken from the country its account has now (the one its
// streams were counted under unless it changed since).
func countryStatement(ctx context.Context, s store.Store, st royalties.Statement, held map[model.UserID]map[model.TrackID]uint64) (royalties.CountryStatement, error) {
	countries, err := counting.MonthCountryStreams(ctx, s, st.Month)
	if err != nil {
		return royalties.CountryStatement{}, err
	}
	heldBy := map[model.TrackID]map[string]uint64{}
	for u, ts := range held {
		c, err := counting.AccountCountry(ctx, s, u)
		if err != nil {
			return royalties.CountryStatement{}, err
		}
		for t, n := range ts {
			if heldBy[t] == nil {
				heldBy[t] = map[string]uint64{}
			}
			heldBy[t][c] += n
		}
	}
	return royalties.ComputeCountries(st, countries, heldBy)
}
