package player

import (
	"errors"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
)

// TestQueueSmartShuffleInserted: an inserted item is marked in Status,
// its play event carries the smart_shuffle context (with the playlist's
// id), the playlist's own items keep the playlist context, and an
// upcoming inserted item can be removed while playlist items and the
// playing item cannot.
func TestQueueSmartShuffleInserted(t *testing.T) {
	items := album(4, "pl")
	items = append(items[:2:2], append([]Item{{Track: "rec-1", Artist: "other", Inserted: true}}, items[2:]...)...)
	items = append(items, Item{Track: "rec-2", Artist: "other", Inserted: true})
	q := newQueue()
	fx := q.Step(t0, PlayContext{Context: model.PlayContext{Kind: "playlist", ID: "doc1"}, Items: items})
	l := lastLoad(t, fx)
	q.Step(t0, Ready{Load: l.Load, Frames: 180 * rate})
	// Remove refusals: a playlist item, the playing item, out of range.
	for _, i := range []int{1, 0, -1, 99} {
		fx := q.Step(t0, RemoveInserted{Index: i})
		if w := effects[Warn](fx); len(w) != 1 || !errors.Is(w[0].Err, ErrNotRemovable) {
			t.Fatalf("remove %d: %v, want ErrNotRemovable", i, fx)
		}
	}
	// Remove the last inserted item (index 5); rec-1 stays.
	if fx := q.Step(t0, RemoveInserted{Index: 5}); len(effects[Warn](fx)) != 0 {
		t.Fatalf("remove 5: %v", fx)
	}
	var got []model.TrackID
	var ctxs []model.PlayContext
	var marked []bool
	for range 5 {
		st := status(q.Step(t0, Advanced{Load: q.load, Frames: 40 * rate}))
		got, marked = append(got, st.Track), append(marked, st.Inserted)
		fx := q.Step(t0.Add(time.Minute), Ended{Load: q.load})
		for _, r := range effects[Record](fx) {
			ctxs = append(ctxs, r.Event.Context)
		}
		if loads := effects[Load](fx); len(loads) == 1 {
			q.Step(t0, Ready{Load: loads[0].Load, Frames: 180 * rate})
		}
	}
	want := []model.TrackID{"pl-0", "pl-1", "rec-1", "pl-2", "pl-3"}
	for i := range want {
		if got[i] != want[i] || marked[i] != (want[i] == "rec-1") {
			t.Fatalf("played %v (inserted %v), want %v", got, marked, want)
		}
		wc := model.PlayContext{Kind: "playlist", ID: "doc1"}
		if want[i] == "rec-1" {
			wc = model.PlayContext{Kind: ContextSmartShuffle, ID: "doc1"}
		}
		if ctxs[i] != wc {
			t.Fatalf("event %d context %+v, want %+v", i, ctxs[i], wc)
		}
	}
}
