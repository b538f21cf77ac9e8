package counting_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/store/badgerstore"
)

// TestRetention: raw events older than the retention go only once
// counted; counts stay; a late retry of a pruned event is a duplicate,
// not a new stream; the log reads ErrPruned below the first kept entry.
func TestRetention(t *testing.T) {
	ctx := context.Background()
	st, err := badgerstore.Open(ctx, t.TempDir(), badgerstore.DefaultOptions().WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lg := events.NewStoreLog(st)
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	now := day.Add(40 * 24 * time.Hour)
	svc := counting.New(st, lg, nil, nil, counting.DefaultOptions().WithLogger(nil).WithConsumerBatch(4).
		WithRetention(30*24*time.Hour).WithClock(func() time.Time { return now }))
	ev := func(seq uint64) api.PlayRecord {
		return api.PlayRecord{Seq: seq, Track: "t", Tier: model.TierLow, StartedAt: day.UnixMilli(), PlayedMs: 31000,
			EndReason: model.EndCompleted, Source: model.SourceStream}
	}
	// Three old batches (received on day 1, 2, 3) and one recent one.
	for i, rcv := range []time.Time{day, day.Add(24 * time.Hour), day.Add(48 * time.Hour), now.Add(-time.Hour)} {
		b := events.Batch{Device: "d", User: "u", Received: rcv.UnixMilli(), Message: []byte("m"), Sig: []byte("s"),
			Events: []api.PlayRecord{ev(uint64(2 * i)), ev(uint64(2*i + 1))}}
		if _, err := lg.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing counted yet: nothing may go.
	if n, err := svc.Prune(ctx); err != nil || n != 0 {
		t.Fatalf("prune before counting: %d, %v", n, err)
	}
	// Count 4 entries (two old batches): only those go.
	if _, err := svc.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := svc.Prune(ctx); err != nil || n != 4 {
		t.Fatalf("prune after counting 4: %d, %v", n, err)
	}
	for {
		k, err := svc.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			break
		}
	}
	if n, err := svc.Prune(ctx); err != nil || n != 2 {
		t.Fatalf("prune after counting all: %d, %v (the recent batch stays)", n, err)
	}
	if _, err := lg.Read(ctx, 0, 10); !errors.Is(err, events.ErrPruned) {
		t.Fatalf("read of a pruned offset: %v", err)
	}
	if es, err := lg.Read(ctx, 6, 10); err != nil || len(es) != 2 {
		t.Fatalf("read of the kept entries: %d, %v", len(es), err)
	}
	if _, err := lg.Batch(ctx, 0); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("pruned batch: %v", err)
	}
	if _, err := lg.Batch(ctx, 6); err != nil {
		t.Fatalf("kept batch: %v", err)
	}
	if n, _ := svc.TrackStreams(ctx, "t", "2026-11"); n != 8 {
		t.Fatalf("%d streams after pruning, want 8", n)
	}
	// The device retries its first, pruned upload: duplicates.
	out, err := lg.Append(ctx, events.Batch{Device: "d", User: "u", Received: now.UnixMilli(), Message: []byte("m"), Sig: []byte("s"),
		Events: []api.PlayRecord{ev(0), ev(1)}})
	if err != nil || out[0] != events.Duplicate || out[1] != events.Duplicate {
		t.Fatalf("retry of pruned events: %v, %v", out, err)
	}
}
