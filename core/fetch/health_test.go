package fetch_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/store"
)

// manualClock is a Clock moved only by the test.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestQuarantineFollowsInjectedClock: an origin that failed through its
// own fault is tried after the healthy one until the injected clock has
// passed its quarantine, then first again; wall time plays no part.
func TestQuarantineFollowsInjectedClock(t *testing.T) {
	fx := newFixture(t, 7, "trquarantine", 4, 3000)
	o1, o2 := fx.origin("o1"), fx.origin("o2")
	o1.Fail(fx.req(fetch.KindChunk, 0), netErr)
	clock := &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	f, err := fetch.New(context.Background(), store.NewMemory(), []fetch.Origin{o1, o2}, fx.keyFunc(),
		fetch.DefaultOptions().WithLogger(quietLogger()).WithClock(clock).WithFailover(time.Second, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m, err := f.Manifest(ctx, fx.m.TrackID, fx.m.Tier)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Chunk(ctx, m, 0); err != nil { // o1 fails: quarantined
		t.Fatal(err)
	}
	tests := []struct {
		advance time.Duration
		chunk   int
		wantO1  int // requests o1 gets for the chunk
	}{
		{0, 1, 0},
		{29 * time.Second, 2, 0},               // 29 s: still quarantined
		{time.Second + time.Millisecond, 3, 1}, // 30.001 s: healthy again, asked first
	}
	for _, tt := range tests {
		clock.advance(tt.advance)
		if _, err := f.Chunk(ctx, m, tt.chunk); err != nil {
			t.Fatal(err)
		}
		if got := o1.Requests(fx.req(fetch.KindChunk, tt.chunk)); got != tt.wantO1 {
			t.Errorf("chunk %d after +%v: o1 asked %d times, want %d", tt.chunk, tt.advance, got, tt.wantO1)
		}
		if got := o2.Requests(fx.req(fetch.KindChunk, tt.chunk)); got != 1-tt.wantO1 {
			t.Errorf("chunk %d after +%v: o2 asked %d times, want %d", tt.chunk, tt.advance, got, 1-tt.wantO1)
		}
	}
}

// slowOrigin answers through its inner origin only once gate is closed
// (or the context ends): a primary that is up but slow.
type slowOrigin struct {
	fetch.Origin
	gate <-chan struct{}
}

func (o slowOrigin) Fetch(ctx context.Context, r fetch.Request) ([]byte, error) {
	select {
	case <-o.gate:
		return o.Origin.Fetch(ctx, r)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestHedgeFirstChunk: a primary that answers, but late, delays the start
// of a track by about the hedge delay, not by its latency: manifest,
// header and chunk 0 are also asked of the next origin after 100 ms and
// the first verified answer wins. Later chunks are not hedged, and the
// slow primary is not quarantined (it did not fail). Without hedging the
// same start waits for the primary. The primary answers after 20 s when
// hedged (so the bound of 5 s leaves a loaded machine room and still
// fails without hedging) and after 1 s when not.
func TestHedgeFirstChunk(t *testing.T) {
	fx := newFixture(t, 8, "trhedge", 3, 3000)
	for _, tt := range []struct {
		name      string
		hedge     time.Duration
		late      time.Duration
		wantStart func(time.Duration) bool
		want      string
	}{
		{"hedged", 100 * time.Millisecond, 20 * time.Second, func(d time.Duration) bool { return d < 5*time.Second }, "< 5 s"},
		{"not hedged", 0, time.Second, func(d time.Duration) bool { return d >= time.Second }, "≥ 1 s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o1, o2 := fx.origin("o1"), fx.origin("o2")
			gate := make(chan struct{})
			var once sync.Once
			open := func() { once.Do(func() { close(gate) }) }
			late := time.AfterFunc(tt.late, open)
			t.Cleanup(func() { late.Stop(); open() })
			rec := &recorder{}
			f, err := fetch.New(context.Background(), store.NewMemory(),
				[]fetch.Origin{slowOrigin{o1, gate}, o2}, fx.keyFunc(),
				fetch.DefaultOptions().WithLogger(quietLogger()).WithObserver(rec.observe).WithHedge(tt.hedge))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			start := time.Now()
			m, err := f.ManifestAndPrefetch(ctx, fx.m.TrackID, fx.m.Tier, 1)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Header(ctx, m); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Chunk(ctx, m, 0); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); !tt.wantStart(d) {
				t.Errorf("first audio objects after %v, want %s", d, tt.want)
			}
			if n := len(rec.failures()); n != 0 {
				t.Errorf("%d failures observed, want 0 (a slow origin is not a failed one)", n)
			}
			if tt.hedge == 0 {
				return
			}
			// Chunk 1 is not hedged: it comes from the slow primary, which
			// is still first in health order (and now answers).
			open()
			before := o2.Requests(fx.req(fetch.KindChunk, 1))
			if _, err := f.Chunk(ctx, m, 1); err != nil {
				t.Fatal(err)
			}
			if o1.Requests(fx.req(fetch.KindChunk, 1)) != 1 || o2.Requests(fx.req(fetch.KindChunk, 1)) != before {
				t.Errorf("chunk 1: o1 %d, o2 %d requests; want the primary alone", o1.Requests(fx.req(fetch.KindChunk, 1)),
					o2.Requests(fx.req(fetch.KindChunk, 1))-before)
			}
		})
	}
}
