package counting

import (
	"context"
	"errors"
	"fmt"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
)

// ValidMonth reports whether month is a YYYY-MM month.
func ValidMonth(month string) bool { return monthRE.MatchString(month) }

// UserMonthStreams returns user's counted streams of every track in month
// (YYYY-MM) from st (the keys cnt/u/<user>/<month>/…). The map is the
// caller's. Royalties use it to hold a flagged account's streams out of
// the pool.
func UserMonthStreams(ctx context.Context, st store.Store, user model.UserID, month string) (map[model.TrackID]uint64, error) {
	if !monthRE.MatchString(month) {
		return nil, ErrBadMonth
	}
	pfx := []byte("cnt/u/" + string(user) + "/" + month + "/")
	out := map[model.TrackID]uint64{}
	err := st.Iterate(ctx, pfx, false, func(k, v []byte) error {
		n, err := readU64(v, nil)
		if err != nil {
			return err
		}
		out[model.TrackID(k[len(pfx):])] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("counting: user month streams: %w", err)
	}
	return out, nil
}

// MonthCountryStreams returns the counted streams of every track in month
// (YYYY-MM) per country (the keys cnt/c/<track>/<month>/<country>, ISO
// 3166-1 alpha-2 or UnknownCountry). Streams counted before the relay
// kept per-country counts are in no country. The maps are the caller's.
func MonthCountryStreams(ctx context.Context, st store.Store, month string) (map[model.TrackID]map[string]uint64, error) {
	if !monthRE.MatchString(month) {
		return nil, ErrBadMonth
	}
	out := map[model.TrackID]map[string]uint64{}
	mid := "/" + month + "/"
	err := st.Iterate(ctx, []byte("cnt/c/"), false, func(k, v []byte) error {
		rest := string(k[len("cnt/c/"):])
		// <track>/<month>/<CC>: the month and country have fixed widths.
		if len(rest) < len(mid)+3 || rest[len(rest)-len(mid)-2:len(rest)-2] != mid {
			return nil
		}
		track, country := model.TrackID(rest[:len(rest)-len(mid)-2]), rest[len(rest)-2:]
		n, err := readU64(v, nil)
		if err != nil {
			return err
		}
		if out[track] == nil {
			out[track] = map[string]uint64{}
		}
		out[track][country] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("counting: month country streams: %w", err)
	}
	return out, nil
}

// AccountCountry returns the country user's account has now in st
// (UnknownCountry without one or without an account record), the
// country its next streams are counted under.
func AccountCountry(ctx context.Context, st store.Store, user model.UserID) (string, error) {
	c, err := accountCountry(func(k []byte) ([]byte, error) { return st.Get(ctx, k) }, user)
	if err != nil {
		return "", fmt.Errorf("counting: account country: %w", err)
	}
	return c, nil
}

// UserMonthCountryStreams returns user's counted streams of every track
// in month (YYYY-MM) per country they were counted under (the account's
// country when each was counted), so a flagged account's streams are held
// out of the countries that were paid for them. ok is false when the
// month has no record of its first country (streams counted before the
// relay kept it): the caller then has only the account's country now.
// Streams counted before that record, in a month that has one, are
// taken as the first country's. The maps are the caller's.
func UserMonthCountryStreams(ctx context.Context, st store.Store, user model.UserID, month string) (_ map[string]map[model.TrackID]uint64, ok bool, _ error) {
	if !monthRE.MatchString(month) {
		return nil, false, ErrBadMonth
	}
	first, err := st.Get(ctx, monthCountryKey(user, month))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("counting: user month countries: %w", err)
	case len(first) != 2:
		return nil, false, fmt.Errorf("counting: user month countries: %w: %s holds %d bytes, want a country code", ErrCorrupt, monthCountryKey(user, month), len(first))
	}
	total, err := UserMonthStreams(ctx, st, user, month)
	if err != nil {
		return nil, false, err
	}
	out := map[string]map[model.TrackID]uint64{}
	pfx := []byte("cnt/uc/" + string(user) + "/" + month + "/")
	err = st.Iterate(ctx, pfx, false, func(k, v []byte) error {
		// <CC>/<track>
		rest := k[len(pfx):]
		if len(rest) < 4 || rest[2] != '/' {
			return fmt.Errorf("%w: key %q", ErrCorrupt, k)
		}
		n, err := readU64(v, nil)
		if err != nil {
			return err
		}
		c, t := string(rest[:2]), model.TrackID(rest[3:])
		if n > total[t] {
			return fmt.Errorf("%w: %d streams of %s in %s, %d in the month", ErrCorrupt, n, t, c, total[t])
		}
		if out[c] == nil {
			out[c] = map[model.TrackID]uint64{}
		}
		out[c][t] = n
		total[t] -= n
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("counting: user month countries: %w", err)
	}
	for t, n := range total {
		if n == 0 {
			continue
		}
		if out[string(first)] == nil {
			out[string(first)] = map[model.TrackID]uint64{}
		}
		out[string(first)][t] += n
	}
	return out, true, nil
}
