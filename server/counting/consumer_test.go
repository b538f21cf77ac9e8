package counting_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
)

// TestRunWokenByUpload: with an hour's poll interval, the consumer still
// counts an upload at once: the upload wakes it.
func TestRunWokenByUpload(t *testing.T) {
	f := newFixture(t, counting.DefaultOptions().WithPoll(time.Hour).WithThreshold(time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("run: %v", err)
		}
	}()
	d := newDevice(t, f, "wally")
	for round := range 3 {
		// Let Run reach its wait first.
		time.Sleep(50 * time.Millisecond)
		if _, a := d.upload(t, []api.PlayRecord{play(uint64(round), f.r.Tracks[0], 1500)}); a.Results[0].Status != api.PlayAccepted {
			t.Fatalf("upload: %+v", a)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if p, err := f.svc.Position(ctx); err == nil && p == uint64(round+1) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: upload not counted within 10 s with an hour's poll", round)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// bigTxnStore refuses, as Badger does past its batch size, any
// transaction writing more than limit keys.
type bigTxnStore struct {
	store.Store
	limit   int
	refused atomic.Int64
}

type countingTxn struct {
	store.Txn
	n, limit int
}

func (t *countingTxn) Set(k, v []byte) error {
	if t.n++; t.n > t.limit {
		return store.ErrTxnTooBig
	}
	return t.Txn.Set(k, v)
}

func (s *bigTxnStore) Update(ctx context.Context, fn func(store.Txn) error) error {
	err := s.Store.Update(ctx, func(tx store.Txn) error { return fn(&countingTxn{Txn: tx, limit: s.limit}) })
	if errors.Is(err, store.ErrTxnTooBig) {
		s.refused.Add(1)
	}
	return err
}

// TestStepSplitsTooBigTxn: a consumer batch whose counts do not fit one
// transaction is counted in halves, each exactly once, instead of
// failing the consumer.
func TestStepSplitsTooBigTxn(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	lg := events.NewStoreLog(mem)
	var evs []api.PlayRecord
	for i := range 64 {
		evs = append(evs, api.PlayRecord{Seq: uint64(i), Track: model.TrackID(fmt.Sprint("t", i)), Tier: model.TierLow,
			StartedAt: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC).UnixMilli(), PlayedMs: 31000, EndReason: model.EndCompleted, Source: model.SourceStream})
	}
	if _, err := lg.Append(ctx, events.Batch{Device: "d", User: "u", Message: []byte("m"), Sig: []byte("s"), Events: evs}); err != nil {
		t.Fatal(err)
	}
	// Each stream writes 3 count keys (track, user, country): 64 streams
	// need 193 keys, the store takes 60.
	st := &bigTxnStore{Store: mem, limit: 60}
	svc := counting.New(st, lg, nil, nil, counting.DefaultOptions().WithLogger(nil).WithConsumerBatch(64))
	total := 0
	for {
		n, err := svc.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total != 64 || st.refused.Load() == 0 {
		t.Fatalf("counted %d in steps, %d refused transactions", total, st.refused.Load())
	}
	for i := range 64 {
		if n, err := svc.TrackStreams(ctx, model.TrackID(fmt.Sprint("t", i)), "2026-11"); err != nil || n != 1 {
			t.Fatalf("track %d: %d streams, %v", i, n, err)
		}
	}
}

// TestMonthCountryStreams reads the month's per-country counts of every
// track, ignoring other months and track ids that share a prefix.
func TestMonthCountryStreams(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	for k, n := range map[string]uint64{
		"cnt/c/a/2026-11/FR": 2, "cnt/c/a/2026-11/ZZ": 1, "cnt/c/a/2026-10/FR": 5,
		"cnt/c/a/b/2026-11/DE": 3, "cnt/c/x": 9,
	} {
		if err := st.Set(ctx, []byte(k), binaryU64(n)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := counting.MonthCountryStreams(ctx, st, "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	if want := "map[a:map[FR:2 ZZ:1] a/b:map[DE:3]]"; fmt.Sprint(got) != want {
		t.Fatalf("got %v, want %s", got, want)
	}
	if _, err := counting.MonthCountryStreams(ctx, st, "2026-13"); !errors.Is(err, counting.ErrBadMonth) {
		t.Fatalf("bad month: %v", err)
	}
}

func binaryU64(n uint64) []byte {
	return []byte{byte(n >> 56), byte(n >> 48), byte(n >> 40), byte(n >> 32), byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

// TestCountCacheTwoServices: two services over one store take turns
// counting; each one's cached counts are dropped once the other has
// committed, so the totals stay exact.
func TestCountCacheTwoServices(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	lg := events.NewStoreLog(mem)
	a := counting.New(mem, lg, nil, nil, counting.DefaultOptions().WithLogger(nil).WithConsumerBatch(3))
	b := counting.New(mem, lg, nil, nil, counting.DefaultOptions().WithLogger(nil).WithConsumerBatch(3))
	started := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC).UnixMilli()
	for i := range 30 {
		ev := api.PlayRecord{Seq: uint64(i), Track: model.TrackID(fmt.Sprint("t", i%2)), Tier: model.TierLow,
			StartedAt: started, PlayedMs: 31000, EndReason: model.EndCompleted, Source: model.SourceStream}
		if _, err := lg.Append(ctx, events.Batch{Device: "d", User: "u", Message: []byte("m"), Sig: []byte("s"), Events: []api.PlayRecord{ev}}); err != nil {
			t.Fatal(err)
		}
	}
	for i, svc := range []*counting.Service{a, a, b, a, b, b, a, b, a, a} {
		if n, err := svc.Step(ctx); err != nil || n != 3 {
			t.Fatalf("step %d: %d, %v", i, n, err)
		}
	}
	for _, tr := range []model.TrackID{"t0", "t1"} {
		if n, err := a.TrackStreams(ctx, tr, "2026-11"); err != nil || n != 15 {
			t.Fatalf("%s: %d streams, %v; want 15", tr, n, err)
		}
	}
	if n, err := b.UserStreams(ctx, "u", "2026-11", "t0"); err != nil || n != 15 {
		t.Fatalf("user streams %d, %v", n, err)
	}
}

// TestRecordedThreshold: the consumer's first commit records its
// threshold; a service restarted with another threshold records that one
// at its first commit; nothing counted records nothing; a damaged record
// is an error.
func TestRecordedThreshold(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	lg := events.NewStoreLog(mem)
	if _, ok, err := counting.RecordedThreshold(ctx, mem); ok || err != nil {
		t.Fatalf("empty store: ok %v, err %v", ok, err)
	}
	appendPlay := func(seq uint64) {
		t.Helper()
		ev := api.PlayRecord{Seq: seq, Track: "t", Tier: model.TierLow, StartedAt: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC).UnixMilli(),
			PlayedMs: 12000, EndReason: model.EndCompleted, Source: model.SourceStream}
		if _, err := lg.Append(ctx, events.Batch{Device: "d", User: "u", Message: []byte("m"), Sig: []byte("s"), Events: []api.PlayRecord{ev}}); err != nil {
			t.Fatal(err)
		}
	}
	for i, tc := range []struct {
		threshold time.Duration
		streams   uint64 // of track t after this service counted its play
	}{
		{10 * time.Second, 1},
		{30 * time.Second, 1}, // the 12 s play does not count under 30 s
		{1500 * time.Millisecond, 2},
	} {
		svc := counting.New(mem, lg, nil, nil, counting.DefaultOptions().WithLogger(nil).WithThreshold(tc.threshold))
		if _, err := svc.Step(ctx); err != nil {
			t.Fatal(err)
		}
		// Caught up: nothing committed, the previous service's record stays.
		if i > 0 {
			if d, ok, err := counting.RecordedThreshold(ctx, mem); err != nil || !ok || d == tc.threshold {
				t.Fatalf("service %d before counting: %v %v %v, want the previous threshold", i, d, ok, err)
			}
		}
		appendPlay(uint64(i))
		if _, err := svc.Step(ctx); err != nil {
			t.Fatal(err)
		}
		if d, ok, err := counting.RecordedThreshold(ctx, mem); err != nil || !ok || d != tc.threshold {
			t.Fatalf("service %d: recorded %v %v %v, want %v", i, d, ok, err, tc.threshold)
		}
		if n, err := svc.TrackStreams(ctx, "t", "2026-11"); err != nil || n != tc.streams {
			t.Fatalf("service %d: %d streams, %v; want %d", i, n, err, tc.streams)
		}
	}
	for _, bad := range [][]byte{{1, 2, 3}, make([]byte, 8), {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		if err := mem.Set(ctx, []byte("cnt/threshold"), bad); err != nil {
			t.Fatal(err)
		}
		if _, _, err := counting.RecordedThreshold(ctx, mem); !errors.Is(err, counting.ErrCorrupt) {
			t.Errorf("record %x: %v, want ErrCorrupt", bad, err)
		}
	}
}

// TestRecordedThresholds: the history of thresholds by log offset. A
// store counted before the history was kept (only cnt/threshold) gets
// that one from offset 0 when the next service commits; a restart with
// the same threshold adds nothing; each entry maps to the threshold it
// was counted with.
func TestRecordedThresholds(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	lg := events.NewStoreLog(mem)
	ev := func(seq uint64) {
		t.Helper()
		e := api.PlayRecord{Seq: seq, Track: "t", Tier: model.TierLow, StartedAt: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC).UnixMilli(),
			PlayedMs: 12000, EndReason: model.EndCompleted, Source: model.SourceStream}
		if _, err := lg.Append(ctx, events.Batch{Device: "d", User: "u", Message: []byte("m"), Sig: []byte("s"), Events: []api.PlayRecord{e}}); err != nil {
			t.Fatal(err)
		}
	}
	// Offsets 0 and 1 counted by an earlier version under 20 s: its
	// position and latest threshold, no history.
	ev(0)
	ev(1)
	if err := mem.Set(ctx, []byte("cnt/pos"), binaryU64(2)); err != nil {
		t.Fatal(err)
	}
	if err := mem.Set(ctx, []byte("cnt/threshold"), binaryU64(20_000)); err != nil {
		t.Fatal(err)
	}
	for i, d := range []time.Duration{10 * time.Second, 10 * time.Second, 30 * time.Second} {
		ev(uint64(i + 2)) // offsets 2, 3, 4
		svc := counting.New(mem, lg, nil, nil, counting.DefaultOptions().WithLogger(nil).WithThreshold(d))
		if _, err := svc.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	thr, err := counting.RecordedThresholds(ctx, mem)
	if err != nil {
		t.Fatal(err)
	}
	for off, want := range []time.Duration{20 * time.Second, 20 * time.Second, 10 * time.Second, 10 * time.Second, 30 * time.Second, 30 * time.Second} {
		if d, ok := thr.At(uint64(off)); !ok || d != want {
			t.Errorf("offset %d: %v %v, want %v", off, d, ok, want)
		}
	}
	if empty, err := counting.RecordedThresholds(ctx, store.NewMemory()); err != nil {
		t.Fatal(err)
	} else if d, ok := empty.At(0); ok {
		t.Errorf("empty store: %v, want none", d)
	}
}

// fullStore fails every Update with the error of a full disk (what
// badgerstore returns) while full is set.
type fullStore struct {
	store.Store
	full    atomic.Bool
	refused atomic.Int64
}

func (s *fullStore) Update(ctx context.Context, fn func(store.Txn) error) error {
	if s.full.Load() {
		s.refused.Add(1)
		return fmt.Errorf("%w: commit: %w", badgerstore.ErrNoSpace, syscall.ENOSPC)
	}
	return s.Store.Update(ctx, fn)
}

// TestRunWaitsForRoom: a consumer whose counts cannot be stored because
// the disk is full keeps running, retrying at its poll interval, and
// counts the events once there is room. Before, Run returned the error
// and segue relay logged "counting consumer stopped": plays acknowledged
// before the disk filled were never counted until the relay restarted.
func TestRunWaitsForRoom(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	lg := events.NewStoreLog(mem)
	ev := api.PlayRecord{Seq: 1, Track: "t1", Tier: model.TierLow, StartedAt: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC).UnixMilli(),
		PlayedMs: 31000, EndReason: model.EndCompleted, Source: model.SourceStream}
	if _, err := lg.Append(ctx, events.Batch{Device: "d", User: "u", Message: []byte("m"), Sig: []byte("s"), Events: []api.PlayRecord{ev}}); err != nil {
		t.Fatal(err)
	}
	st := &fullStore{Store: mem}
	st.full.Store(true)
	svc := counting.New(st, lg, nil, nil, counting.DefaultOptions().WithLogger(nil).WithPoll(time.Millisecond))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("run: %v", err)
		}
	}()
	wait := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(time.Millisecond) {
			select {
			case err := <-done:
				done <- err
				t.Fatalf("%s: Run returned %v", what, err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10 s", what)
			}
		}
	}
	wait("two refused attempts on the full disk", func() bool { return st.refused.Load() >= 2 })
	st.full.Store(false)
	wait("the event counted once there is room", func() bool {
		n, err := svc.TrackStreams(ctx, "t1", "2026-11")
		return err == nil && n == 1
	})
}
