package player

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player/shuffle"
)

// unknown returns n items queued by track id alone, as a play started
// before their metadata arrived queues them.
func unknown(n int) []Item {
	items := make([]Item, n)
	for i := range items {
		items[i] = Item{Track: model.TrackID(fmt.Sprint("t", i))}
	}
	return items
}

// TestQueueDescribe: late artists and albums apply to the item they
// name while it is that track, and the next transition is decided with
// them: gapless within an album, crossfaded across albums; an info for
// another track (a replaced context) or out of range changes nothing.
func TestQueueDescribe(t *testing.T) {
	cases := []struct {
		name  string
		infos []ItemInfo
		fade  time.Duration // of the Preload from item 0 to item 1
	}{
		{"nothing known: crossfade", nil, 5 * time.Second},
		{"same album: gapless", []ItemInfo{{0, "t0", "ar", "A"}, {1, "t1", "ar", "A"}}, 0},
		{"other albums: crossfade", []ItemInfo{{0, "t0", "ar", "A"}, {1, "t1", "ar", "B"}}, 5 * time.Second},
		{"stale track ignored", []ItemInfo{{0, "t0", "ar", "A"}, {1, "other", "ar", "A"}}, 5 * time.Second},
		{"out of range ignored", []ItemInfo{{0, "t0", "ar", "A"}, {-1, "t1", "ar", "A"}, {3, "t1", "ar", "A"}}, 5 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := newQueue()
			q.Step(t0, SetCrossfade{Duration: 5 * time.Second})
			l := play(t, q, unknown(3), 0, 0)
			if fx := q.Step(t0, Describe{Infos: c.infos}); len(fx) != 0 {
				t.Fatalf("Describe published %v", fx)
			}
			p := effects[Preload](q.Step(t0, Advanced{Load: l.Load, Frames: 170 * rate}))
			if len(p) != 1 || p[0].Track != "t1" || p[0].Crossfade != c.fade {
				t.Fatalf("preload %+v, want t1 with crossfade %v", p, c.fade)
			}
			if l2 := lastLoad(t, q.Step(t0, Ended{Load: l.Load})); l2.Crossfade != c.fade {
				t.Errorf("transition crossfade %v, want %v", l2.Crossfade, c.fade)
			}
		})
	}
}

// TestQueueDescribeRespreads: with shuffle on over 60 items whose
// artists were unknown (one group, a uniform shuffle), the artists
// arriving spread the items not yet decided again by artist (no two of
// one artist adjacent, where the first order had some), while the ones
// played, the current one and the preloaded next keep their places;
// without shuffle the order stays the context's.
func TestQueueDescribeRespreads(t *testing.T) {
	infos := make([]ItemInfo, 60)
	for i := range infos {
		infos[i] = ItemInfo{Index: i, Track: model.TrackID(fmt.Sprint("t", i)), Artist: model.ArtistID(fmt.Sprint("a", i/10))}
	}
	adjacent := func(q *Queue, from int) int {
		var order []shuffle.Item
		for _, i := range q.order[from:] {
			order = append(order, shuffle.Item{ID: fmt.Sprint(i), Artist: string(infos[i].Artist)})
		}
		return shuffle.SameArtistAdjacent(order)
	}
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprint("shuffle=", on), func(t *testing.T) {
			q := newQueue()
			q.Step(t0, SetShuffle{On: on})
			play(t, q, unknown(60), 7, 0)
			for range 2 {
				q.Step(t0, Next{})
			}
			l := lastLoad(t, q.Step(t0, Next{}))
			q.Step(t0, Ready{Load: l.Load, Frames: 100 * rate})
			pre := effects[Preload](q.Step(t0, Advanced{Load: l.Load, Frames: 90 * rate}))
			if len(pre) != 1 {
				t.Fatalf("no preload: %v", pre)
			}
			before := slices.Clone(q.order)
			adjBefore := adjacent(q, q.pos+2)
			q.Step(t0, Describe{Infos: infos})
			if !slices.Equal(q.order[:q.pos+2], before[:q.pos+2]) {
				t.Fatalf("played, current or preloaded items moved: %v → %v", before[:q.pos+2], q.order[:q.pos+2])
			}
			if !slices.Equal(slices.Sorted(slices.Values(q.order)), slices.Sorted(slices.Values(before))) {
				t.Fatal("the order is not a permutation of the items any more")
			}
			if q.items[infos[20].Index].Artist != "a2" {
				t.Errorf("item 20's artist %q, want a2", q.items[20].Artist)
			}
			if !on {
				if !slices.Equal(q.order, before) {
					t.Errorf("without shuffle the order changed: %v", q.order)
				}
				return
			}
			if adjBefore == 0 {
				t.Fatal("the order before already spread the artists: the test shows nothing")
			}
			if n := adjacent(q, q.pos+2); n != 0 {
				t.Errorf("%d same-artist neighbours after the artists arrived (%d before)", n, adjBefore)
			}
			if next := lastLoad(t, q.Step(t0, Ended{Load: l.Load})); next.Track != pre[0].Track {
				t.Errorf("next played %s, preloaded %s", next.Track, pre[0].Track)
			}
		})
	}
}

// noSource opens nothing: the players of these tests only queue.
type noSource struct{}

func (noSource) OpenTrack(context.Context, model.TrackID, model.Tier) (TrackSource, error) {
	return nil, ErrUnplayable
}

// TestFillLate: the rounds double from 800 items, follow order, and end
// at once when ctx ends (a lookup held back until then), and Late's
// Replace and Stop end the running fill before returning.
func TestFillLate(t *testing.T) {
	p, err := New(noSource{}, NewDiscardSink(44100, 2), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ids := make([]model.TrackID, 5000)
	order := StartOrder(len(ids), 1000)
	for i := range ids {
		ids[i] = model.TrackID(fmt.Sprint("t", i))
	}
	var sizes []int
	var firsts []model.TrackID
	lookup := func(_ context.Context, ids []model.TrackID) ([]model.Track, []error) {
		sizes, firsts = append(sizes, len(ids)), append(firsts, ids[0])
		tracks := make([]model.Track, len(ids))
		for i, id := range ids {
			tracks[i] = model.Track{ID: id, AlbumID: "al", ArtistIDs: []model.ArtistID{"ar"}}
		}
		return tracks, make([]error, len(ids))
	}
	if err := p.FillLate(context.Background(), ids, order, lookup); err != nil {
		t.Fatal(err)
	}
	if want := []int{800, 1600, 2600}; !slices.Equal(sizes, want) {
		t.Errorf("rounds of %v, want %v", sizes, want)
	}
	if want := []model.TrackID{"t1000", "t1800", "t3400"}; !slices.Equal(firsts, want) {
		t.Errorf("rounds start at %v, want %v", firsts, want)
	}

	var l Late
	started := make(chan struct{})
	ended := make(chan error, 1)
	held := func(ctx context.Context, ids []model.TrackID) ([]model.Track, []error) {
		close(started)
		<-ctx.Done()
		return make([]model.Track, len(ids)), make([]error, len(ids))
	}
	l.Replace(context.Background(), func(ctx context.Context) { ended <- p.FillLate(ctx, ids, order, held) })
	<-started
	l.Replace(context.Background(), nil)
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("replaced fill ended with %v, want context.Canceled", err)
		}
	default:
		t.Fatal("Replace returned before the fill it replaced ended")
	}
	l.Stop() // nothing running: returns
}

// TestStartOrder: start first, then the items after it, then those
// before; start clamped as PlayContext's.
func TestStartOrder(t *testing.T) {
	cases := []struct {
		n, start int
		want     []int
	}{
		{0, 0, nil},
		{4, 0, []int{0, 1, 2, 3}},
		{4, 2, []int{2, 3, 0, 1}},
		{4, -3, []int{0, 1, 2, 3}},
		{4, 9, []int{3, 0, 1, 2}},
	}
	for _, c := range cases {
		if got := StartOrder(c.n, c.start); !slices.Equal(got, c.want) {
			t.Errorf("StartOrder(%d, %d) = %v, want %v", c.n, c.start, got, c.want)
		}
	}
}
