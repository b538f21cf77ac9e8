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
