// Package eventstest is the conformance suite of events.Log backends:
// every backend's tests call Run with a function opening a fresh log.
package eventstest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/events"
)

// Run runs the suite. open returns a new, empty log; reopen, when not
// nil, closes nothing and returns the log over the same durable state
// (a new handle), to check that appends survive it.
func Run(t *testing.T, open func(t *testing.T) (l events.Log, reopen func() events.Log)) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, events.Log, func() events.Log)
	}{
		{"AppendRead", testAppendRead},
		{"Dedup", testDedup},
		{"DedupInBatch", testDedupInBatch},
		{"BadBatch", testBadBatch},
		{"BatchKept", testBatchKept},
		{"Concurrent", testConcurrent},
		{"Reopen", testReopen},
		{"LargeBatches", testLargeBatches},
		{"OutOfOrder", testOutOfOrder},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, reopen := open(t)
			tc.fn(t, l, reopen)
		})
	}
}

// Event returns a valid play record with seq and track t.
func Event(seq uint64, t model.TrackID) api.PlayRecord {
	return api.PlayRecord{Seq: seq, Track: t, Tier: model.TierLow, StartedAt: 1_800_000_000_000 + int64(seq), PlayedMs: 31_000,
		EndReason: model.EndCompleted, Source: model.SourceStream}
}

func batch(dev model.DeviceID, evs ...api.PlayRecord) events.Batch {
	return events.Batch{Device: dev, User: model.UserID("u-" + dev), Received: 42, Message: []byte("msg-" + dev), Sig: []byte("sig"), Events: evs}
}

func mustAppend(t *testing.T, l events.Log, b events.Batch, want ...events.Outcome) {
	t.Helper()
	got, err := l.Append(context.Background(), b)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
}

func readAll(t *testing.T, l events.Log) []events.Entry {
	t.Helper()
	var out []events.Entry
	for {
		es, err := l.Read(context.Background(), uint64(len(out)), 3)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if len(es) == 0 {
			return out
		}
		out = append(out, es...)
	}
}

func testAppendRead(t *testing.T, l events.Log, _ func() events.Log) {
	ctx := context.Background()
	if h, err := l.Head(ctx); err != nil || h != 0 {
		t.Fatalf("empty head %d, %v", h, err)
	}
	mustAppend(t, l, batch("d1", Event(1, "a"), Event(2, "b")), events.Appended, events.Appended)
	mustAppend(t, l, batch("d2", Event(1, "c")), events.Appended)
	es := readAll(t, l)
	if len(es) != 3 {
		t.Fatalf("%d entries, want 3", len(es))
	}
	for i, want := range []struct {
		dev   model.DeviceID
		track model.TrackID
	}{{"d1", "a"}, {"d1", "b"}, {"d2", "c"}} {
		e := es[i]
		if e.Offset != uint64(i) || e.Device != want.dev || e.Event.Track != want.track || e.User != model.UserID("u-"+want.dev) || e.Received != 42 {
			t.Errorf("entry %d = %+v", i, e)
		}
	}
	if es[0].Event != Event(1, "a") {
		t.Errorf("event not kept verbatim: %+v", es[0].Event)
	}
	if h, _ := l.Head(ctx); h != 3 {
		t.Errorf("head %d, want 3", h)
	}
	if es, err := l.Read(ctx, 3, 10); err != nil || len(es) != 0 {
		t.Errorf("read at head: %v, %v", es, err)
	}
}

func testDedup(t *testing.T, l events.Log, _ func() events.Log) {
	mustAppend(t, l, batch("d1", Event(1, "a"), Event(2, "b")), events.Appended, events.Appended)
	changed := Event(2, "b")
	changed.PlayedMs++
	// A retry of the same batch adds nothing; a changed event with a used
	// seq conflicts; the new seq in the same batch is still appended; the
	// same seq from another device is another event.
	mustAppend(t, l, batch("d1", Event(1, "a"), changed, Event(3, "c")), events.Duplicate, events.Conflict, events.Appended)
	mustAppend(t, l, batch("d2", Event(1, "a")), events.Appended)
	if es := readAll(t, l); len(es) != 4 || es[2].Event.Seq != 3 || es[3].Device != "d2" {
		t.Fatalf("entries %+v", es)
	}
}

func testDedupInBatch(t *testing.T, l events.Log, _ func() events.Log) {
	changed := Event(1, "x")
	mustAppend(t, l, batch("d1", Event(1, "a"), Event(1, "a"), changed), events.Appended, events.Duplicate, events.Conflict)
	if es := readAll(t, l); len(es) != 1 {
		t.Fatalf("%d entries, want 1", len(es))
	}
}

func testBadBatch(t *testing.T, l events.Log, _ func() events.Log) {
	for name, b := range map[string]events.Batch{
		"no device": {Sig: []byte("s"), Events: []api.PlayRecord{Event(1, "a")}},
		"no sig":    {Device: "d", Events: []api.PlayRecord{Event(1, "a")}},
		"no events": {Device: "d", Sig: []byte("s")},
	} {
		if _, err := l.Append(context.Background(), b); !errors.Is(err, events.ErrBadBatch) {
			t.Errorf("%s: %v, want ErrBadBatch", name, err)
		}
	}
	if h, _ := l.Head(context.Background()); h != 0 {
		t.Errorf("head %d after refused batches", h)
	}
}

func testBatchKept(t *testing.T, l events.Log, _ func() events.Log) {
	ctx := context.Background()
	mustAppend(t, l, batch("d1", Event(1, "a")), events.Appended)
	mustAppend(t, l, batch("d2", Event(1, "a"), Event(2, "b")), events.Appended, events.Appended)
	es := readAll(t, l)
	if es[1].Batch != es[2].Batch || es[0].Batch == es[1].Batch {
		t.Fatalf("batch ids %d %d %d", es[0].Batch, es[1].Batch, es[2].Batch)
	}
	b, err := l.Batch(ctx, es[1].Batch)
	if err != nil {
		t.Fatal(err)
	}
	if b.Device != "d2" || string(b.Message) != "msg-d2" || string(b.Sig) != "sig" || b.User != "u-d2" {
		t.Errorf("batch %+v", b)
	}
	if _, err := l.Batch(ctx, 999); !errors.Is(err, events.ErrNotFound) {
		t.Errorf("unknown batch: %v", err)
	}
}

func testConcurrent(t *testing.T, l events.Log, _ func() events.Log) {
	const writers, per = 4, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				// Every writer sends each event twice: only one counts.
				b := batch(model.DeviceID(fmt.Sprint("d", w)), Event(uint64(i), "a"))
				for range 2 {
					if _, err := l.Append(context.Background(), b); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	es := readAll(t, l)
	if len(es) != writers*per {
		t.Fatalf("%d entries, want %d", len(es), writers*per)
	}
	for i, e := range es {
		if e.Offset != uint64(i) {
			t.Fatalf("offset %d at %d: offsets not dense", e.Offset, i)
		}
	}
}

func testReopen(t *testing.T, l events.Log, reopen func() events.Log) {
	if reopen == nil {
		t.Skip("backend has no durable state to reopen")
	}
	mustAppend(t, l, batch("d1", Event(1, "a")), events.Appended)
	l2 := reopen()
	mustAppend(t, l2, batch("d1", Event(1, "a"), Event(2, "b")), events.Duplicate, events.Appended)
	if es := readAll(t, l2); len(es) != 2 {
		t.Fatalf("%d entries after reopen, want 2", len(es))
	}
}

// testLargeBatches: batches larger than the StoreLog's 256-event blocks,
// with seqs crossing block boundaries and devices interleaved, read back
// from every kind of offset and with limits cutting anywhere; a retry of
// a whole large batch adds nothing.
func testLargeBatches(t *testing.T, l events.Log, reopen func() events.Log) {
	ctx := context.Background()
	evs := func(from, n uint64) []api.PlayRecord {
		out := make([]api.PlayRecord, n)
		for i := range out {
			out[i] = Event(from+uint64(i), model.TrackID(fmt.Sprint("t", from+uint64(i))))
		}
		return out
	}
	all := func(n int) []events.Outcome {
		out := make([]events.Outcome, n)
		for i := range out {
			out[i] = events.Appended
		}
		return out
	}
	// d1: seqs 200…499 (crosses 256), d2: 0…9, d1: 500…799 (crosses 512, 768).
	mustAppend(t, l, batch("d1", evs(200, 300)...), all(300)...)
	mustAppend(t, l, batch("d2", evs(0, 10)...), all(10)...)
	mustAppend(t, l, batch("d1", evs(500, 300)...), all(300)...)
	if reopen != nil {
		l = reopen()
	}
	retry := make([]events.Outcome, 300)
	for i := range retry {
		retry[i] = events.Duplicate
	}
	mustAppend(t, l, batch("d1", evs(200, 300)...), retry...)
	want := append(append(evs(200, 300), evs(0, 10)...), evs(500, 300)...)
	for _, limit := range []int{1, 7, 255, 256, 1000} {
		for _, from := range []uint64{0, 1, 255, 256, 299, 300, 305, 310, 511, 512, 609} {
			es, err := l.Read(ctx, from, limit)
			if err != nil {
				t.Fatalf("read %d/%d: %v", from, limit, err)
			}
			if n := min(limit, len(want)-int(from)); len(es) != n {
				t.Fatalf("read %d/%d: %d entries, want %d", from, limit, len(es), n)
			}
			for i, e := range es {
				if e.Offset != from+uint64(i) || e.Event != want[e.Offset] {
					t.Fatalf("read %d/%d: entry %d = %d %+v, want %+v", from, limit, i, e.Offset, e.Event, want[from+uint64(i)])
				}
			}
		}
	}
	es := readAll(t, l)
	if es[299].Batch != es[0].Batch || es[300].Batch == es[0].Batch || es[310].Batch != 310 && es[310].Batch == es[300].Batch {
		t.Fatalf("batch ids %d %d %d %d", es[0].Batch, es[299].Batch, es[300].Batch, es[310].Batch)
	}
	if es[305].Device != "d2" || es[609].Device != "d1" {
		t.Fatalf("devices %s %s", es[305].Device, es[609].Device)
	}
}

// testOutOfOrder: a device may send seqs in any order, across batches
// and blocks of seqs (0, 255, 256, 2⁶⁴−1), fill earlier gaps later, and
// repeat or change any of them.
func testOutOfOrder(t *testing.T, l events.Log, _ func() events.Log) {
	const top = ^uint64(0)
	A, D, C := events.Appended, events.Duplicate, events.Conflict
	mustAppend(t, l, batch("d1", Event(300, "a"), Event(5, "b"), Event(256, "c"), Event(top, "d")), A, A, A, A)
	mustAppend(t, l, batch("d1", Event(255, "e"), Event(5, "b"), Event(4, "f"), Event(0, "g"), Event(300, "x")), A, D, A, A, C)
	mustAppend(t, l, batch("d1", Event(top, "d"), Event(top-1, "h"), Event(6, "i"), Event(256, "c")), D, A, A, D)
	mustAppend(t, l, batch("d2", Event(5, "b"), Event(top, "d")), A, A)
	es := readAll(t, l)
	var got []string
	for _, e := range es {
		got = append(got, fmt.Sprint(e.Device, "/", e.Event.Seq, "/", e.Event.Track))
	}
	want := fmt.Sprint([]string{"d1/300/a", "d1/5/b", "d1/256/c", fmt.Sprint("d1/", top, "/d"), "d1/255/e", "d1/4/f", "d1/0/g",
		fmt.Sprint("d1/", top-1, "/h"), "d1/6/i", "d2/5/b", fmt.Sprint("d2/", top, "/d")})
	if fmt.Sprint(got) != want {
		t.Fatalf("entries %v\nwant %v", got, want)
	}
}

// BenchAppend appends b.N batches of size events from 16 goroutines (one
// device each, fresh seqs) to l and reports events/s: the backends'
// durable append rate side by side, without HTTP.
func BenchAppend(b *testing.B, l events.Log, size int) {
	const workers = 16
	next := make(chan int, workers)
	go func() {
		defer close(next)
		for i := range b.N {
			next <- i
		}
	}()
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := model.DeviceID(fmt.Sprint("bench", w))
			for i := range next {
				evs := make([]api.PlayRecord, size)
				for j := range evs {
					evs[j] = Event(uint64(i*size+j), "t")
				}
				if _, err := l.Append(context.Background(), batch(dev, evs...)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
}
