package counting

import (
	"context"
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
