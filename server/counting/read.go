package counting

import (
	"context"
	"fmt"
	"strings"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
)

// UserTrackStreams returns every user's counted streams per track, summed
// over the months from..to inclusive (YYYY-MM each; ErrBadMonth
// otherwise), read from st (the keys cnt/u/…). Recommendations train on
// it. The maps are the caller's.
func UserTrackStreams(ctx context.Context, st store.Store, from, to string) (map[model.UserID]map[model.TrackID]uint64, error) {
	if !monthRE.MatchString(from) || !monthRE.MatchString(to) {
		return nil, ErrBadMonth
	}
	out := map[model.UserID]map[model.TrackID]uint64{}
	const prefix = "cnt/u/"
	err := st.Iterate(ctx, []byte(prefix), false, func(k, v []byte) error {
		user, rest, ok := strings.Cut(string(k[len(prefix):]), "/")
		if !ok {
			return nil
		}
		month, track, ok := strings.Cut(rest, "/")
		if !ok || month < from || month > to || track == "" {
			return nil
		}
		n, err := readU64(v, nil)
		if err != nil {
			return err
		}
		m := out[model.UserID(user)]
		if m == nil {
			m = map[model.TrackID]uint64{}
			out[model.UserID(user)] = m
		}
		m[model.TrackID(track)] += n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("counting: user streams: %w", err)
	}
	return out, nil
}
