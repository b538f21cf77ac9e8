//go:build js && wasm

package idbstore_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"syscall/js"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/core/playlog"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/wasm/idbstore"
)

func open(t testing.TB, name string) *idbstore.Store {
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
		{"ack it", func() error {
			es, err := q.List(ctx, 0, playlog.MaxBatch)
			if err != nil {
				return err
			}
			before := s.EntriesRead()
			if err := q.AckEntries(ctx, es); err != nil {
				return err
			}
			// At most the queue's first look for its newest entry (one
			// chunk of 64): the ack itself reads none.
			if n := s.EntriesRead() - before; n > 64 {
				return fmt.Errorf("the ack by key read %d entries", n)
			}
			return nil
		}, batch},
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

// TestQueueLenReadsNoValues: counting a queue of 20,000 plays (the
// page's pendingPlays) gives 20,000, and one more after an append in
// another store on the database (another tab), reading keys only: no
// value is copied out of IndexedDB, let alone decoded. Before, Len
// iterated the prefix with its values, 20,000 of them for each count.
func TestQueueLenReadsNoValues(t *testing.T) {
	ctx := t.Context()
	const queued = 20_000
	name := fmt.Sprintf("count-%d", dbs.Add(1))
	s := open(t, name)
	v, err := cbor.Marshal(play("ev"))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx store.Txn) error {
		for i := range uint64(queued) {
			if err := tx.Set(playlog.Key(i), v); err != nil {
				return err
			}
		}
		return tx.Set(playlog.MarkKey, binary.BigEndian.AppendUint64(nil, queued-1))
	})
	if err != nil {
		t.Fatal(err)
	}
	q := playlog.NewShared(s)
	if _, err := playlog.NewShared(open(t, name)).Append(ctx, play("other tab")); err != nil {
		t.Fatal(err)
	}
	// The first count also finds the queue's newest number (one chunk of
	// 64 entries, once per Queue); the next reads nothing.
	for i, most := range []int64{64, 0} {
		before := s.EntriesRead()
		start := time.Now()
		n, err := q.Len(ctx)
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if n != queued+1 {
			t.Errorf("count %d: %d, want %d", i, n, queued+1)
		}
		if r := s.EntriesRead() - before; r > most {
			t.Errorf("count %d read %d values, want at most %d", i, r, most)
		}
		t.Logf("count %d: %d plays in %v", i, n, took)
	}
}

// TestTabsAppendAtOnce: two stores on one database (two tabs of one
// origin) appending at the same time through playlog.NewShared lose no
// play and issue no number twice. Before, an Update in one tab could read
// hist/mark between another's read and commit: both took one number and
// the later write replaced the other's play.
func TestTabsAppendAtOnce(t *testing.T) {
	ctx := t.Context()
	name := fmt.Sprintf("tabs-%d", dbs.Add(1))
	const each = 30
	tabs := []*playlog.Queue{playlog.NewShared(open(t, name)), playlog.NewShared(open(t, name))}
	var wg sync.WaitGroup
	errs := make(chan error, len(tabs)*each)
	for i, q := range tabs {
		wg.Go(func() {
			for j := range each {
				if _, err := q.Append(ctx, play(fmt.Sprintf("tab%d-%d", i, j))); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	es, err := tabs[0].List(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range es {
		seen[e.Event.EventID] = true
	}
	if len(es) != len(tabs)*each || len(seen) != len(tabs)*each {
		t.Fatalf("%d plays queued (%d distinct) after %d appends in two tabs", len(es), len(seen), len(tabs)*each)
	}
}

// TestUpdateHoldsWebLock: an Update runs holding the database's Web Lock
// (idbstore.LockName), which the other tabs of the origin wait for.
func TestUpdateHoldsWebLock(t *testing.T) {
	ctx := t.Context()
	name := fmt.Sprintf("locked-%d", dbs.Add(1))
	s := open(t, name)
	var held []string
	err := s.Update(ctx, func(tx store.Txn) error {
		var err error
		held, err = heldLocks(ctx)
		if err != nil {
			return err
		}
		return tx.Set([]byte("k"), []byte("v"))
	})
	if err != nil {
		t.Fatal(err)
	}
	want := idbstore.LockName(name)
	found := false
	for _, h := range held {
		found = found || h == want
	}
	if !found {
		t.Fatalf("locks held during Update: %q; want %q", held, want)
	}
	// Released: the next Update gets the lock.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.Set(wctx, []byte("k"), []byte("w")); err != nil {
		t.Fatalf("Update after Update: %v", err)
	}
}

// heldLocks returns the names of the Web Locks held in the origin
// (navigator.locks.query).
func heldLocks(ctx context.Context) ([]string, error) {
	ch := make(chan js.Value, 1)
	f := js.FuncOf(func(_ js.Value, a []js.Value) any { ch <- a[0]; return nil })
	defer f.Release()
	js.Global().Get("navigator").Get("locks").Call("query").Call("then", f)
	select {
	case st := <-ch:
		h := st.Get("held")
		out := make([]string, h.Length())
		for i := range out {
			out[i] = h.Index(i).Get("name").String()
		}
		return out, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
