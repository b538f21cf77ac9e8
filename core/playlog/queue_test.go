package playlog_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/core/playlog"
	"github.com/segue-fm/segue/store"
)

// TestSharedQueueAcrossTabs: two queues on one store (two browser tabs
// on one IndexedDB) never issue one number twice, whether the other's
// play is still queued or already acknowledged. With New, the second tab
// kept the next number it loaded and overwrote the first tab's play.
func TestSharedQueueAcrossTabs(t *testing.T) {
	ctx := t.Context()
	st := store.NewMemory()
	a, b := playlog.NewShared(st), playlog.NewShared(st)
	ev := func(id string) model.PlayEvent {
		return model.PlayEvent{EventID: id, TrackID: "tr1", Tier: model.TierLow, Started: time.Unix(1e9, 0), Played: time.Second}
	}
	var seqs []uint64
	app := func(q *playlog.Queue, id string) {
		t.Helper()
		seq, err := q.Append(ctx, ev(id))
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	app(b, "b1") // b loads now: next is 1
	app(a, "a1")
	app(a, "a2")
	app(b, "b2") // b's next is stale
	if err := a.Ack(ctx, seqs[len(seqs)-1]); err != nil {
		t.Fatal(err)
	}
	app(b, "b3") // every number so far acknowledged
	app(a, "a3")
	seen := map[uint64]bool{}
	for _, s := range seqs {
		if seen[s] {
			t.Fatalf("numbers issued %v: %d twice", seqs, s)
		}
		seen[s] = true
	}
	es, err := a.List(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Event.EventID != "b3" || es[1].Event.EventID != "a3" {
		t.Fatalf("queued after the ack: %+v, want b3 then a3", es)
	}
}

// countingStore is a store.Store whose Updates record the keys their
// transactions read, write and delete, and how many iterations they run.
type countingStore struct {
	store.Store
	gets, sets, dels []string
	iterations       int
}

type countingTxn struct {
	store.Txn
	s *countingStore
}

func (s *countingStore) Update(ctx context.Context, fn func(store.Txn) error) error {
	return s.Store.Update(ctx, func(tx store.Txn) error { return fn(countingTxn{tx, s}) })
}

func (t countingTxn) Get(k []byte) ([]byte, error) {
	t.s.gets = append(t.s.gets, string(k))
	return t.Txn.Get(k)
}

func (t countingTxn) Set(k, v []byte) error {
	t.s.sets = append(t.s.sets, string(k))
	return t.Txn.Set(k, v)
}

func (t countingTxn) Delete(k []byte) error {
	t.s.dels = append(t.s.dels, string(k))
	return t.Txn.Delete(k)
}

func (t countingTxn) Iterate(p []byte, rev bool, fn func(k, v []byte) error) error {
	t.s.iterations++
	return t.Txn.Iterate(p, rev, fn)
}

// TestUploadAcksByKey: Upload acknowledges a batch by its keys: the
// acknowledging transaction deletes exactly the batch's entries, reads
// only the damaged one (to set it aside under BadPrefix, unchanged) and
// the mark, and iterates nothing. Before, Ack iterated the queue up to
// the batch's last number inside its transaction, reading and decoding
// every entry a second time.
func TestUploadAcksByKey(t *testing.T) {
	ctx := t.Context()
	mem := store.NewMemory()
	q := playlog.New(mem)
	for i := range 4 {
		if _, err := q.Append(ctx, model.PlayEvent{EventID: fmt.Sprint(i), TrackID: "tr1", Tier: model.TierLow, Started: time.Unix(1e9, 0), Played: time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	damaged := []byte{0xff, 0x00}
	if err := mem.Set(ctx, playlog.Key(1), damaged); err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: mem}
	q = playlog.New(cs)
	u := playlog.Uploader{Device: "dev", Sign: func([]byte) []byte { return make([]byte, 64) }, Now: time.Now,
		Post: func(_ context.Context, req api.PlaysRequest) (api.PlaysAnswer, error) {
			var ans api.PlaysAnswer
			for _, r := range req.Events {
				ans.Results = append(ans.Results, api.PlayResult{Seq: r.Seq, Status: api.PlayAccepted})
			}
			return ans, nil
		}}
	sum, err := u.Upload(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Accepted != 3 || sum.Rejected[playlog.Undecodable] != 1 {
		t.Fatalf("summary %+v; want 3 accepted, 1 undecodable", sum)
	}
	key := func(seq uint64) string { return string(playlog.Key(seq)) }
	bad := string(playlog.BadPrefix) + string(playlog.Key(1)[len(playlog.Prefix):])
	slices.Sort(cs.dels)
	if want := []string{key(0), key(1), key(2), key(3)}; !slices.Equal(cs.dels, want) {
		t.Errorf("deleted %q; want %q", cs.dels, want)
	}
	if want := []string{key(1), string(playlog.MarkKey)}; !slices.Equal(cs.gets, want) {
		t.Errorf("read %q in the ack; want %q (the damaged entry, the mark)", cs.gets, want)
	}
	if want := []string{bad, string(playlog.MarkKey)}; !slices.Equal(cs.sets, want) {
		t.Errorf("wrote %q; want %q", cs.sets, want)
	}
	if cs.iterations != 0 {
		t.Errorf("the ack ran %d iterations; want none", cs.iterations)
	}
	if v, err := mem.Get(ctx, []byte(bad)); err != nil || !bytes.Equal(v, damaged) {
		t.Errorf("set aside: %x, %v; want %x", v, err, damaged)
	}
	if n, err := q.Len(ctx); err != nil || n != 0 {
		t.Errorf("%d queued, %v; want none", n, err)
	}
}

// countingMemory is a store.Memory with playlog.Counter, counting by
// iteration, that records the calls of Count.
type countingMemory struct {
	*store.Memory
	counts int
}

func (m *countingMemory) Count(ctx context.Context, lo, hi []byte) (int, error) {
	m.counts++
	n := 0
	err := m.Iterate(ctx, nil, false, func(k, _ []byte) error {
		if bytes.Compare(k, lo) >= 0 && bytes.Compare(k, hi) < 0 {
			n++
		}
		return nil
	})
	return n, err
}

// TestLenWithCounter: with a playlog.Counter store, Len counts one key
// range while every number issued is below 2^56, leaving out the mark and
// the web player's old hist/<event id> entries, and falls back to an
// iteration over the keys above it.
func TestLenWithCounter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		first  uint64 // the mark before the appends
		counts int
	}{
		{"small numbers", 0, 1},
		{"numbers past 2^56", 1 << 56, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			st := &countingMemory{Memory: store.NewMemory()}
			if err := st.Set(ctx, playlog.MarkKey, binary.BigEndian.AppendUint64(nil, tc.first)); err != nil {
				t.Fatal(err)
			}
			if err := st.Set(ctx, []byte("hist/0123abcd-old-event"), []byte("{}")); err != nil {
				t.Fatal(err)
			}
			q := playlog.NewShared(st)
			for i := range 3 {
				if _, err := q.Append(ctx, model.PlayEvent{EventID: fmt.Sprint(i), TrackID: "tr1", Tier: model.TierLow, Started: time.Unix(1e9, 0), Played: time.Second}); err != nil {
					t.Fatal(err)
				}
			}
			n, err := playlog.NewShared(st).Len(ctx)
			if err != nil || n != 3 {
				t.Fatalf("Len = %d, %v; want 3", n, err)
			}
			if st.counts != tc.counts {
				t.Fatalf("Count called %d times, want %d", st.counts, tc.counts)
			}
		})
	}
}

// TestDamagedMarkNotReused: a high-water mark (MarkKey) that does not
// decode no longer restarts the numbering at 0 once the queue is empty
// (the relay refused those plays as seq_conflict: lost): the next number
// is above every one issued before, and the mark is rewritten.
func TestDamagedMarkNotReused(t *testing.T) {
	ctx := t.Context()
	for _, shared := range []bool{false, true} {
		for _, tc := range []struct {
			name string
			mark []byte
		}{
			{"one byte", []byte{1}},
			{"empty", []byte{}},
			{"nine bytes", make([]byte, 9)},
		} {
			t.Run(fmt.Sprintf("%s shared=%v", tc.name, shared), func(t *testing.T) {
				st := store.NewMemory()
				open := playlog.New
				if shared {
					open = playlog.NewShared
				}
				q := open(st)
				var last uint64
				for i := range 3 {
					seq, err := q.Append(ctx, model.PlayEvent{EventID: fmt.Sprint(i), TrackID: "tr1", Tier: model.TierLow, Started: time.Unix(1e9, 0), Played: time.Second})
					if err != nil {
						t.Fatal(err)
					}
					last = seq
				}
				if err := q.Ack(ctx, last); err != nil {
					t.Fatal(err)
				}
				if err := st.Set(ctx, playlog.MarkKey, tc.mark); err != nil {
					t.Fatal(err)
				}
				q = open(st)
				seq, err := q.Append(ctx, model.PlayEvent{EventID: "after", TrackID: "tr1", Tier: model.TierLow, Started: time.Unix(1e9, 0), Played: time.Second})
				if err != nil {
					t.Fatal(err)
				}
				if seq <= last {
					t.Fatalf("number after the damaged mark: %d, want above %d", seq, last)
				}
				if err := q.Ack(ctx, seq); err != nil {
					t.Fatal(err)
				}
				b, err := st.Get(ctx, playlog.MarkKey)
				if err != nil || len(b) != 8 || binary.BigEndian.Uint64(b) != seq {
					t.Fatalf("mark after the ack: %x, %v, want %d", b, err, seq)
				}
			})
		}
	}
}
