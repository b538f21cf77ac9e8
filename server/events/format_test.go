package events_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/events/eventstest"
	"github.com/segue-fm/segue/store"
)

func keysUnder(t *testing.T, st store.Store, pfx string) map[string]int {
	t.Helper()
	out := map[string]int{}
	err := st.Iterate(context.Background(), []byte(pfx), false, func(k, _ []byte) error {
		out[string(k[:len("ev/x/")])]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func seqBatch(dev model.DeviceID, received int64, from, n uint64) events.Batch {
	evs := make([]api.PlayRecord, n)
	for i := range evs {
		evs[i] = eventstest.Event(from+uint64(i), "t")
	}
	return events.Batch{Device: dev, User: "u", Received: received, Message: []byte("m"), Sig: []byte("s"), Events: evs}
}

// TestStoreLogKeysPerBatch: the StoreLog writes no key per event: 16
// batches of 1,000 events from two devices take a chunk per started
// 256-offset block, a de-duplication block per 256 seqs, a claim per
// batch and the head (format 1 took 32,000 keys).
func TestStoreLogKeysPerBatch(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	l := events.NewStoreLog(st)
	for i := range 16 {
		if _, err := l.Append(ctx, seqBatch(model.DeviceID(fmt.Sprint("d", i%2)), 1, uint64(i/2)*1000, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	got := keysUnder(t, st, "ev/")
	// 16,000 offsets: 63 blocks, each batch's start that is not
	// block-aligned cuts one more chunk: ≤ 63 + 16.
	if got["ev/c/"] > 63+16 || got["ev/s/"] != 2*((7*1000+999)/256+1) || got["ev/b/"] != 16 || got["ev/l/"]+got["ev/d/"] != 0 {
		t.Fatalf("keys %v", got)
	}
}

// TestPrunePartialChunk: retention cut inside a chunk keeps the rest of
// it readable (rewritten from the cut) and the batch's claim until its
// last entry goes; FirstKept finds the first kept offset.
func TestPrunePartialChunk(t *testing.T) {
	ctx := context.Background()
	l := events.NewStoreLog(store.NewMemory())
	if _, err := l.Append(ctx, seqBatch("d", 1, 0, 300)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, seqBatch("d", 1000, 300, 10)); err != nil {
		t.Fatal(err)
	}
	if first, err := events.FirstKept(ctx, l); err != nil || first != 0 {
		t.Fatalf("first kept before any prune: %d, %v", first, err)
	}
	cut := time.UnixMilli(500)
	for _, step := range []struct {
		upTo, low uint64 // the consumer's position, the first kept offset
		n         int
		batch     bool // batch 0's claim still there
	}{{100, 100, 100, true}, {100, 100, 0, true}, {257, 257, 157, true}, {310, 300, 43, false}} {
		n, err := l.Prune(ctx, cut, step.upTo)
		if err != nil || n != step.n {
			t.Fatalf("prune to %d: %d, %v; want %d", step.upTo, n, err, step.n)
		}
		if first, err := events.FirstKept(ctx, l); err != nil || first != step.low {
			t.Fatalf("first kept after prune to %d: %d, %v; want %d", step.upTo, first, err, step.low)
		}
		if _, err := l.Read(ctx, step.low-1, 1); !errors.Is(err, events.ErrPruned) {
			t.Fatalf("read %d after prune to %d: %v", step.low-1, step.upTo, err)
		}
		es, err := l.Read(ctx, step.low, 1000)
		if err != nil || len(es) != 310-int(step.low) || es[0].Offset != step.low || es[0].Event.Seq != step.low {
			t.Fatalf("read after prune to %d: %d entries, %v", step.upTo, len(es), err)
		}
		if _, err := l.Batch(ctx, 0); (err == nil) != step.batch {
			t.Fatalf("batch 0 after prune to %d: %v", step.upTo, err)
		}
	}
	// The received-after-cut batch stays whatever the consumer's position.
	if n, err := l.Prune(ctx, cut, 310); err != nil || n != 0 {
		t.Fatalf("prune of recent: %d, %v", n, err)
	}
	out, err := l.Append(ctx, seqBatch("d", 2000, 0, 3))
	if err != nil || fmt.Sprint(out) != fmt.Sprint([]events.Outcome{events.Duplicate, events.Duplicate, events.Duplicate}) {
		t.Fatalf("retry of pruned: %v, %v", out, err)
	}
}

// legacyEntry is the format-1 entry record, written by hand here.
type legacyEntry struct {
	Batch    uint64         `cbor:"1,keyasint"`
	Device   model.DeviceID `cbor:"2,keyasint"`
	User     model.UserID   `cbor:"3,keyasint"`
	Received int64          `cbor:"4,keyasint"`
	Event    api.PlayRecord `cbor:"5,keyasint"`
}

// writeLegacy writes a format-1 log of the given batches (each a device
// and a seq range) as the code before chunks did, with offsets below low
// already pruned (their entries gone, their dedup keys kept).
func writeLegacy(t *testing.T, st store.Store, low uint64, batches ...events.Batch) {
	t.Helper()
	ctx := context.Background()
	var off uint64
	for _, b := range batches {
		id := off
		for _, e := range b.Events {
			msg, err := crypto.AppendPlaysMessage(nil, b.Device, []api.PlayRecord{e})
			if err != nil {
				t.Fatal(err)
			}
			h := sha256Sum(msg)
			dk := binary.BigEndian.AppendUint64([]byte("ev/d/"+string(b.Device)+"/"), e.Seq)
			if err := st.Set(ctx, dk, binary.BigEndian.AppendUint64(h[:], off)); err != nil {
				t.Fatal(err)
			}
			if off >= low {
				rec, err := cborx.Marshal(legacyEntry{Batch: id, Device: b.Device, User: b.User, Received: b.Received, Event: e})
				if err != nil {
					t.Fatal(err)
				}
				if err := st.Set(ctx, binary.BigEndian.AppendUint64([]byte("ev/l/"), off), rec); err != nil {
					t.Fatal(err)
				}
			}
			off++
		}
		br, err := cborx.Marshal(map[int]any{1: b.Device, 2: b.User, 3: b.Received, 4: b.Message, 5: b.Sig})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Set(ctx, binary.BigEndian.AppendUint64([]byte("ev/b/"), id), br); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range map[string]uint64{"ev/head": off, "ev/low": low} {
		if err := st.Set(ctx, []byte(k), binary.BigEndian.AppendUint64(nil, v)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrateFormat1: a log written by the per-event format (including a
// pruned prefix and more keys than one conversion transaction takes) is
// converted on first use: same entries, batches and offsets, retries of
// old and pruned events are duplicates, changed ones conflicts, and no
// format-1 key is left.
func TestMigrateFormat1(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	old := []events.Batch{seqBatch("d1", 5, 0, 1500), seqBatch("d2", 6, 0, 700), seqBatch("d1", 7, 1500, 100)}
	writeLegacy(t, st, 1000, old...)
	l := events.NewStoreLog(st)
	if h, err := l.Head(ctx); err != nil || h != 2300 {
		t.Fatalf("head %d, %v", h, err)
	}
	es, err := l.Read(ctx, 1000, 10000)
	if err != nil || len(es) != 1300 {
		t.Fatalf("read: %d, %v", len(es), err)
	}
	for i, e := range es {
		off := 1000 + i
		var want events.Batch
		var seq, batch int
		switch {
		case off < 1500:
			want, seq, batch = old[0], off, 0
		case off < 2200:
			want, seq, batch = old[1], off-1500, 1500
		default:
			want, seq, batch = old[2], off-2200+1500, 2200
		}
		if e.Offset != uint64(off) || e.Device != want.Device || e.Event.Seq != uint64(seq) || e.Batch != uint64(batch) || e.Received != want.Received {
			t.Fatalf("entry %d: %+v", off, e)
		}
	}
	if _, err := l.Read(ctx, 999, 1); !errors.Is(err, events.ErrPruned) {
		t.Fatalf("read of pruned: %v", err)
	}
	if b, err := l.Batch(ctx, 1500); err != nil || b.Device != "d2" || string(b.Sig) != "s" {
		t.Fatalf("batch: %+v, %v", b, err)
	}
	changed := eventstest.Event(1200, "t")
	changed.PlayedMs++
	b := events.Batch{Device: "d1", User: "u", Received: 9, Message: []byte("m"), Sig: []byte("s"),
		Events: []api.PlayRecord{eventstest.Event(3, "t"), eventstest.Event(1599, "t"), changed, eventstest.Event(1600, "t")}}
	out, err := l.Append(ctx, b)
	if err != nil || fmt.Sprint(out) != fmt.Sprint([]events.Outcome{events.Duplicate, events.Duplicate, events.Conflict, events.Appended}) {
		t.Fatalf("append after conversion: %v, %v", out, err)
	}
	got := keysUnder(t, st, "ev/")
	if got["ev/l/"]+got["ev/d/"] != 0 {
		t.Fatalf("format-1 keys left: %v", got)
	}
	if n, err := l.Prune(ctx, time.UnixMilli(7), 2300); err != nil || n != 1200 {
		t.Fatalf("prune after conversion: %d, %v", n, err)
	}
	if es, err := l.Read(ctx, 2200, 1000); err != nil || len(es) != 101 {
		t.Fatalf("read after prune: %d, %v", len(es), err)
	}
}

// TestCorruptBlock: a de-duplication block or chunk that does not decode
// fails the append or read with ErrCorrupt, adding nothing.
func TestCorruptBlock(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	l := events.NewStoreLog(st)
	if _, err := l.Append(ctx, seqBatch("d", 1, 0, 3)); err != nil {
		t.Fatal(err)
	}
	var bk, ck []byte
	if err := st.Iterate(ctx, []byte("ev/"), false, func(k, _ []byte) error {
		switch {
		case strings.HasPrefix(string(k), "ev/s/"):
			bk = append([]byte(nil), k...)
		case strings.HasPrefix(string(k), "ev/c/"):
			ck = append([]byte(nil), k...)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.Set(ctx, bk, make([]byte, 33)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, seqBatch("d", 1, 3, 1)); !errors.Is(err, events.ErrCorrupt) {
		t.Fatalf("append over a corrupt block: %v", err)
	}
	if h, _ := l.Head(ctx); h != 3 {
		t.Fatalf("head %d", h)
	}
	if err := st.Set(ctx, ck, []byte{0x80}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(ctx, 1, 5); !errors.Is(err, events.ErrCorrupt) {
		t.Fatalf("read of a corrupt chunk: %v", err)
	}
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
