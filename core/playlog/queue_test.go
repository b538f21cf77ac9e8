package playlog_test

import (
	"testing"
	"time"

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
