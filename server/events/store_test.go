package events_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"

	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/events/eventstest"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
)

// TestStoreLogBadger runs the conformance suite on the relay's embedded
// backend, on a real Badger directory (reopened from disk in Reopen).
func TestStoreLogBadger(t *testing.T) {
	eventstest.Run(t, func(t *testing.T) (events.Log, func() events.Log) {
		dir := t.TempDir()
		open := func() *badgerstore.Store {
			st, err := badgerstore.Open(context.Background(), dir, badgerstore.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		st := open()
		cur := st
		t.Cleanup(func() { cur.Close() })
		return events.NewStoreLog(st), func() events.Log {
			if err := cur.Close(); err != nil {
				t.Fatal(err)
			}
			cur = open()
			return events.NewStoreLog(cur)
		}
	})
}

// TestStoreLogMemory runs the suite on store.Memory, the pure-test fake.
func TestStoreLogMemory(t *testing.T) {
	eventstest.Run(t, func(t *testing.T) (events.Log, func() events.Log) {
		return events.NewStoreLog(store.NewMemory()), nil
	})
}

// TestStoreLogTailCache runs the suite on Badger with a tail cache small
// enough (300 entries) that reads are served from it, from the store and
// across its edge.
func TestStoreLogTailCache(t *testing.T) {
	eventstest.Run(t, func(t *testing.T) (events.Log, func() events.Log) {
		dir := t.TempDir()
		open := func() *badgerstore.Store {
			st, err := badgerstore.Open(context.Background(), dir, badgerstore.DefaultOptions().WithSyncWrites(false))
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		cur := open()
		t.Cleanup(func() { cur.Close() })
		return events.NewStoreLog(cur).WithTailCache(300), func() events.Log {
			if err := cur.Close(); err != nil {
				t.Fatal(err)
			}
			cur = open()
			return events.NewStoreLog(cur).WithTailCache(300)
		}
	})
}

// TestTailCacheSameEntries: a log with a tail cache returns exactly the
// entries a log without one reads from the same store, at every offset
// and limit, for events with every field and flag set, duplicates and
// conflicts mixed in, and after the cache dropped its oldest entries.
func TestTailCacheSameEntries(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	cached := events.NewStoreLog(st).WithTailCache(100)
	var head uint64
	for b := range 40 {
		evs := make([]api.PlayRecord, 1+b%7)
		for i := range evs {
			seq := uint64(b*5 + i) // overlaps the previous batch: duplicates
			evs[i] = api.PlayRecord{Seq: seq, Track: model.TrackID(fmt.Sprint("t", seq%9)), Tier: model.TierHigh,
				Context: model.PlayContext{Kind: "playlist", ID: fmt.Sprint("p", b)}, StartedAt: int64(1000 + seq),
				PlayedMs: int64(seq * 997 % 60000), EndReason: model.EndSkipped, Source: model.SourceDownload,
				Offline: seq%2 == 0, VolumeMuted: seq%3 == 0, TrustedTime: seq%5 == 0}
		}
		out, err := cached.Append(ctx, events.Batch{Device: model.DeviceID(fmt.Sprint("d", b%3)), User: "u",
			Received: int64(b), Message: []byte("m"), Sig: []byte("s"), Events: evs})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out {
			if o == events.Appended {
				head++
			}
		}
		cold := events.NewStoreLog(st)
		for _, from := range []uint64{0, head / 2, head - min(head, 120), head - min(head, 99), head - 1, head} {
			for _, limit := range []int{1, 7, 1000} {
				got, err := cached.Read(ctx, from, limit)
				if err != nil {
					t.Fatal(err)
				}
				want, err := cold.Read(ctx, from, limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(want) {
					t.Fatalf("batch %d, from %d, limit %d: %d entries cached, %d from the store", b, from, limit, len(got), len(want))
				}
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("batch %d, from %d, entry %d: cached %+v, store %+v", b, from, i, got[i], want[i])
					}
				}
			}
		}
	}
	if head < 150 {
		t.Fatalf("only %d entries: the cache never dropped any", head)
	}
}

// slowStore counts transactions and makes each take a while, so that
// concurrent appends queue up behind a commit.
type slowStore struct {
	store.Store
	updates atomic.Int64
	fail    atomic.Bool
}

func (s *slowStore) Update(ctx context.Context, fn func(store.Txn) error) error {
	s.updates.Add(1)
	time.Sleep(5 * time.Millisecond)
	if s.fail.Load() {
		return errors.New("disk full")
	}
	return s.Store.Update(ctx, fn)
}

// TestGroupCommit: concurrent appends share transactions (fewer commits
// than batches), every batch gets its own outcomes, and a failed commit
// fails every batch in it with nothing added.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	st := &slowStore{Store: store.NewMemory()}
	l := events.NewStoreLog(st)
	const writers = 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := model.DeviceID(fmt.Sprint("d", w))
			b := events.Batch{Device: dev, User: "u", Message: []byte("m"), Sig: []byte("s"),
				Events: []api.PlayRecord{eventstest.Event(1, "a"), eventstest.Event(2, "b"), eventstest.Event(1, "a")}}
			out, err := l.Append(ctx, b)
			if err != nil || fmt.Sprint(out) != fmt.Sprint([]events.Outcome{events.Appended, events.Appended, events.Duplicate}) {
				t.Errorf("writer %d: %v %v", w, out, err)
			}
		}()
	}
	wg.Wait()
	if n := st.updates.Load(); n >= writers {
		t.Errorf("%d transactions for %d concurrent batches: no group commit", n, writers)
	}
	if h, _ := l.Head(ctx); h != 2*writers {
		t.Fatalf("head %d, want %d", h, 2*writers)
	}
	st.fail.Store(true)
	for w := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := events.Batch{Device: model.DeviceID(fmt.Sprint("e", w)), User: "u", Message: []byte("m"), Sig: []byte("s"),
				Events: []api.PlayRecord{eventstest.Event(1, "a")}}
			if _, err := l.Append(ctx, b); err == nil {
				t.Errorf("append on a failing store succeeded")
			}
		}()
	}
	wg.Wait()
	st.fail.Store(false)
	if h, _ := l.Head(ctx); h != 2*writers {
		t.Fatalf("head %d after failed commits, want %d", h, 2*writers)
	}
}

// BenchmarkAppendBadger: durable group-committed appends of batches of
// 1,000 events from 16 goroutines on a real Badger directory.
func BenchmarkAppendBadger(b *testing.B) {
	st, err := badgerstore.Open(context.Background(), b.TempDir(), badgerstore.DefaultOptions().WithLogger(nil))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	eventstest.BenchAppend(b, events.NewStoreLog(st), 1000)
}

// TestCheckBatch: the shared pre-append validation refuses a batch
// without device, signature or events, or with an unencodable event, and
// hashes equal events alike and different ones differently.
func TestCheckBatch(t *testing.T) {
	ev := api.PlayRecord{Seq: 1, Track: "t", Tier: "low", StartedAt: 1, PlayedMs: 31000, EndReason: "completed", Source: "stream"}
	other := ev
	other.PlayedMs++
	good := events.Batch{Device: "d", Sig: []byte("s"), Events: []api.PlayRecord{ev, ev, other}}
	h, err := events.CheckBatch(good)
	if err != nil || len(h) != 3 || h[0] != h[1] || h[0] == h[2] {
		t.Fatalf("good batch: %x, %v", h, err)
	}
	long := ev
	long.Context.ID = strings.Repeat("x", 1<<16)
	for name, b := range map[string]events.Batch{
		"no device":     {Sig: []byte("s"), Events: []api.PlayRecord{ev}},
		"no signature":  {Device: "d", Events: []api.PlayRecord{ev}},
		"no events":     {Device: "d", Sig: []byte("s")},
		"64 KiB string": {Device: "d", Sig: []byte("s"), Events: []api.PlayRecord{long}},
	} {
		if _, err := events.CheckBatch(b); !errors.Is(err, events.ErrBadBatch) {
			t.Errorf("%s: %v, want ErrBadBatch", name, err)
		}
	}
}
