package player_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
)

// Skipping away from a track stops its decoder: after 50 rapid skips
// (paused, so no track plays to its preload point) the player runs the
// current track's pipeline only. Before, every skip to a track that was
// not preloaded left the old track's decoder goroutine blocked for good
// with its seconds of decoded audio, until the player closed: 50 skips
// left 50 goroutines.
func TestSkipsStopDecoders(t *testing.T) {
	src, ids := newMemSource(t)
	var items []player.Item
	for i := range 60 {
		items = append(items, player.Item{Track: ids[i%len(ids)], Album: model.AlbumID(fmt.Sprint(i))})
	}
	for _, tc := range []struct {
		name string
		skip func(p *player.Player) error
		want int // the item index the skips end at
	}{
		{"next", (*player.Player).Next, 50},
		{"previous", (*player.Player).Previous, 9}, // from the last item, within its first 3 s
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			p, err := player.New(src, player.NewDiscardSink(44100, 2), player.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			sub, cancel := p.Subscribe()
			defer cancel()
			if err := p.Pause(); err != nil {
				t.Fatal(err)
			}
			start := 0
			if tc.want < 50 {
				start = 59
			}
			if err := p.Play(model.PlayContext{Kind: "playlist", ID: "x"}, items, start); err != nil {
				t.Fatal(err)
			}
			timeout := time.After(30 * time.Second)
			// Each skip waits for the track it reaches to open.
			at := func(index int) {
				for {
					select {
					case st := <-sub:
						if st.Index == index && st.Length > 0 {
							return
						}
					case <-timeout:
						t.Fatalf("item %d did not open", index)
					}
				}
			}
			at(start)
			for i := range 50 {
				if err := tc.skip(p); err != nil {
					t.Fatal(err)
				}
				if tc.want < 50 {
					at(start - 1 - i)
				} else {
					at(start + 1 + i)
				}
			}
			// The loop, the current track's decoder, and some slack for
			// goroutines on their way out.
			timeout = time.After(10 * time.Second)
			for n := runtime.NumGoroutine(); n > base+4; n = runtime.NumGoroutine() {
				select {
				case <-timeout:
					t.Fatalf("%d goroutines after 50 skips, %d before the player", n, base)
				case <-time.After(10 * time.Millisecond):
				}
			}
		})
	}
}

// closeCount wraps a Source, counting the tracks it opened and those
// closed.
type closeCount struct {
	player.Source
	mu             sync.Mutex
	opened, closed int
}

type countedTrack struct {
	player.TrackSource
	c    *closeCount
	once sync.Once
}

func (c *closeCount) OpenTrack(ctx context.Context, id model.TrackID, tier model.Tier) (player.TrackSource, error) {
	ts, err := c.Source.OpenTrack(ctx, id, tier)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.opened++
	c.mu.Unlock()
	return &countedTrack{TrackSource: ts, c: c}, nil
}

func (t *countedTrack) Close() error {
	t.once.Do(func() {
		t.c.mu.Lock()
		t.c.closed++
		t.c.mu.Unlock()
	})
	return t.TrackSource.Close()
}

func (c *closeCount) open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opened - c.closed
}

// Every track the player opens is closed once it is done with it: after
// Stop, after a new play replaces a preloaded one, and at Close. Before,
// a slot released while it was still the current or preloaded one kept
// its source open (release compared the slot's source with its own), so
// the web engine's read-ahead of a stopped or replaced track went on.
func TestTracksClosed(t *testing.T) {
	mem, ids := newMemSource(t)
	l1 := mem.streams["t1/high"].TotalSamples
	items := []player.Item{{Track: ids[0], Album: "one"}, {Track: ids[1], Album: "two"}}
	for _, tc := range []struct {
		name string
		ctl  func(p *player.Player) error
	}{
		{"stop", (*player.Player).Stop},
		{"new play", func(p *player.Player) error {
			return p.Play(model.PlayContext{Kind: "playlist", ID: "y"}, []player.Item{{Track: ids[2]}}, 0)
		}},
		{"close", func(p *player.Player) error { return p.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &closeCount{Source: mem}
			sink := &hookSink{at: l1 - 44100} // after t2 was preloaded
			p, err := player.New(src, sink, player.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			done := make(chan struct{})
			sink.fn = func() { go func() { defer close(done); tc.ctl(p) }() }
			if err := p.Play(model.PlayContext{Kind: "playlist", ID: "x"}, items, 0); err != nil {
				t.Fatal(err)
			}
			<-done
			want := 0
			if tc.name == "new play" {
				want = 1 // the new play's track
			}
			timeout := time.After(10 * time.Second)
			for n := src.open(); n != want; n = src.open() {
				select {
				case <-timeout:
					t.Fatalf("%d tracks open after %s, want %d", n, tc.name, want)
				case <-time.After(10 * time.Millisecond):
				}
			}
		})
	}
}
