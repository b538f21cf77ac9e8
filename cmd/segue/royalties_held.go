package main

import (
	"context"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/fraud"
	"github.com/segue-fm/segue/server/royalties"
	"github.com/segue-fm/segue/store"
)

// heldStatement is the JSON statement: the pro-rata lines and, when
// accounts were flagged for fraud (`segue fraud scan`), their held
// streams under "held"; "unscanned" when it pays streams the month's
// fraud scan has not checked (--unscanned).
type heldStatement struct {
	royalties.Statement
	Held      *royalties.Held `json:"held,omitempty"`
	Unscanned bool            `json:"unscanned,omitempty"`
}

func heldOrNil(h royalties.Held) *royalties.Held {
	if len(h.Lines) == 0 {
		return nil
	}
	return &h
}

// flaggedStreams returns the month's counted streams per track of every
// account flagged by the month's fraud scan (none when it was not
// scanned).
func flaggedStreams(ctx context.Context, st store.Store, month string) (map[model.UserID]map[model.TrackID]uint64, error) {
	flags, err := fraud.Flags(ctx, st, month)
	if err != nil {
		return nil, err
	}
	held := map[model.UserID]map[model.TrackID]uint64{}
	for _, f := range flags {
		ts, err := counting.UserMonthStreams(ctx, st, f.User, month)
		if err != nil {
			return nil, err
		}
		if len(ts) > 0 {
			held[f.User] = ts
		}
	}
	return held, nil
}
