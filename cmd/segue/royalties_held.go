package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/fraud"
	"github.com/segue-fm/segue/server/royalties"
	"github.com/segue-fm/segue/store"
)

// heldStatement is the JSON statement: the pro-rata lines and, when
// accounts were flagged for fraud (`segue fraud scan`), their held
// streams under "held".
type heldStatement struct {
	royalties.Statement
	Held *royalties.Held `json:"held,omitempty"`
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

// checkScanned fails unless the month's last fraud scan read every stream
// of the month counted so far (fraud.Covers): a statement would otherwise
// pay streams no scan has checked, a farm's included, without a word.
func checkScanned(ctx context.Context, st store.Store, data, month string) error {
	pos, err := counting.New(st, events.NewStoreLog(st), nil, nil, counting.DefaultOptions().WithLogger(nil)).Position(ctx)
	if err != nil {
		return err
	}
	err = fraud.Covers(ctx, st, events.NewStoreLog(st), month, pos)
	if errors.Is(err, fraud.ErrNotScanned) || errors.Is(err, fraud.ErrStale) {
		return fmt.Errorf("royalties: %w: run segue fraud scan --data %s --month %s first, or pass --unscanned to pay streams no scan has checked", err, data, month)
	}
	return err
}
