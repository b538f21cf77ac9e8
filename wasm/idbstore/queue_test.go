//go:build js && wasm

package idbstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/core/playlog"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/wasm/idbstore"
)

func open(t *testing.T, name string) *idbstore.Store {
	t.Helper()
	s, err := idbstore.Open(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func play(id string) model.PlayEvent {
	return model.PlayEvent{EventID: id, TrackID: "tr1", Tier: model.TierLow, Started: time.Unix(1e9, 0), Played: time.Second}
}

// TestQueueBatchReadsOnlyTheBatch: with 20,000 plays queued, listing
// the next batch of playlog.MaxBatch, acknowledging it and finding the
// next sequence number read about a batch's entries from IndexedDB, not
// the whole queue. Before, every Iterate read the whole prefix
// (getAll), 20,000 entries for each batch of 500.
func TestQueueBatchReadsOnlyTheBatch(t *testing.T) {
	ctx := t.Context()
	const queued = 20_000
	s := open(t, fmt.Sprintf("bigqueue-%d", dbs.Add(1)))
	// One play's stored bytes, copied to every sequence number.
	if _, err := playlog.New(s).Append(ctx, play("ev")); err != nil {
		t.Fatal(err)
	}
	v, err := s.Get(ctx, playlog.Key(0))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx store.Txn) error {
		for i := range uint64(queued) {
			if err := tx.Set(playlog.Key(i), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	q := playlog.NewShared(s)
	// At most: the chunks of 64, 128, … up to a batch past the batch,
	// and the queue's first look for its newest entry.
	const batch = 2*playlog.MaxBatch + 64
	for _, c := range []struct {
		name string
		op   func() error
		most int64
	}{
		{"list a batch", func() error {
			es, err := q.List(ctx, 0, playlog.MaxBatch)
			if err == nil && len(es) != playlog.MaxBatch {
				err = fmt.Errorf("listed %d", len(es))
			}
			return err
		}, batch},
		{"ack it", func() error { return q.Ack(ctx, playlog.MaxBatch-1) }, batch},
		{"next number", func() error {
			seq, err := q.Append(ctx, play("next"))
			if err == nil && seq != queued {
				err = fmt.Errorf("appended as %d, want %d", seq, queued)
			}
			return err
		}, 128},
		{"list the next batch", func() error {
			es, err := q.List(ctx, 0, playlog.MaxBatch)
			if err == nil && (len(es) != playlog.MaxBatch || es[0].Seq != playlog.MaxBatch) {
				err = fmt.Errorf("listed %d from %d", len(es), es[0].Seq)
			}
			return err
		}, batch},
	} {
		before := s.EntriesRead()
		if err := c.op(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if n := s.EntriesRead() - before; n > c.most {
			t.Errorf("%s read %d entries of %d queued, want at most %d", c.name, n, queued, c.most)
		}
	}
}
