package edge

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
)

// edgeClock is a settable clock for an edge.
type edgeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *edgeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *edgeClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// storm replays n plays of the album's tracks through h, as engines start
// and play them: positional manifest, header and chunk 0, then the next
// chunks by hash until a seeded skip point. Tracks and tiers follow a
// seeded skew (earlier tracks played more). It returns how many answers
// were not 200 and how many were not edge hits.
func storm(t *testing.T, h http.Handler, tracks []model.TrackID, toks []string, n int, seed uint64) (failed, misses int64) {
	t.Helper()
	const workers = 8
	var wg sync.WaitGroup
	var fail, miss atomic.Int64
	do := func(path, tok string) []byte {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			fail.Add(1)
			return nil
		}
		if rec.Header().Get("X-Cache") != "HIT" {
			miss.Add(1)
		}
		return rec.Body.Bytes()
	}
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for range n / workers {
				track := tracks[min(int(rng.ExpFloat64()*float64(len(tracks))/3), len(tracks)-1)]
				tier := model.Tiers[rng.IntN(len(model.Tiers))]
				tok := toks[rng.IntN(len(toks))]
				base := "/v1/audio/" + string(track) + "/" + string(tier)
				env := do(base+"/manifest", tok)
				do(base+"/header", tok)
				do(base+"/chunks/0", tok)
				hs, err := manifestBlobs(env)
				if err != nil {
					fail.Add(1)
					continue
				}
				chunks := hs[1:]
				for i := 1; i < len(chunks) && rng.Float64() > 0.1; i++ { // 10 % skip at each chunk
					do("/v1/blobs/"+hex.EncodeToString(chunks[i].SHA256[:]), tok)
				}
			}
		})
	}
	wg.Wait()
	return fail.Load(), miss.Load()
}

// TestPrepositionReleaseStorm: an edge pre-positions an album scheduled
// for release in ten minutes, then takes a simulated release storm of
// 10,000 plays in the release's first minute (by its clock): no request
// for the album reaches the origin and every answer is a hit, although
// the edge's cache (64 KiB) could not hold the album — pinned objects
// live outside it. The same storm on an edge that did not pre-position
// sends the album's objects to the origin (each once, the cache holding
// them). After the pin window, the next
// pass hands the pins to the cache.
func TestPrepositionReleaseStorm(t *testing.T) {
	f := newFixture(t)
	toks := []string{f.token, testbed.Device(t, f.relay, "bob").Token(), testbed.Device(t, f.relay, "carol").Token()}
	release := time.Now().Add(10 * time.Minute).Truncate(time.Second)
	ctx := context.Background()
	if err := f.relay.Server().Catalog().ScheduleRelease(ctx, f.relay.Album, release); err != nil {
		t.Fatal(err)
	}
	originFetches := func() int64 {
		var n int64
		f.origin.counts.Range(func(_, v any) bool { n += v.(*atomic.Int64).Load(); return true })
		return n
	}
	const plays = 10_000

	clock := &edgeClock{t: release.Add(-10 * time.Minute)}
	e, _ := startEdge(t, DefaultOptions(f.origin.url).WithMemoryBytes(64<<10).WithClock(clock.now))
	rep, err := e.Preposition(ctx, f.token)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Releases != 1 || rep.Streams != len(f.relay.Tracks)*len(model.Tiers) || rep.Fetched == 0 {
		t.Fatalf("pass %+v, want 1 release, %d streams", rep, len(f.relay.Tracks)*len(model.Tiers))
	}
	again, err := e.Preposition(ctx, f.token)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * again.Streams; again.Fetched != want { // positional refresh only
		t.Errorf("second pass fetched %d objects, want %d (manifest, header, chunk 0 of each stream)", again.Fetched, want)
	}
	clock.set(release.Add(30 * time.Second)) // the first minute after the release
	before := originFetches()
	failed, misses := storm(t, e.Handler(), f.relay.Tracks, toks, plays, 1)
	fetches := originFetches() - before
	s := e.Stats()
	t.Logf("pre-positioned: %d plays, %d origin fetches, %d misses, %d pinned objects (%d bytes), pass 1 fetched %d objects (%d bytes)",
		plays, fetches, misses, s.PinnedObjects, s.PinnedBytes, rep.Fetched, rep.Bytes)
	if failed != 0 || fetches != 0 || misses != 0 {
		t.Fatalf("storm on the pre-positioned edge: %d failed answers, %d origin fetches, %d misses; want 0, 0, 0", failed, fetches, misses)
	}

	cold, _ := startEdge(t, DefaultOptions(f.origin.url).WithClock(clock.now)) // a cache that holds the album
	before = originFetches()
	failed, misses = storm(t, cold.Handler(), f.relay.Tracks, toks, plays, 1)
	coldFetches := originFetches() - before
	t.Logf("not pre-positioned: %d plays, %d origin fetches, %d misses", plays, coldFetches, misses)
	if failed != 0 || coldFetches < int64(s.PinnedObjects)/2 {
		t.Fatalf("storm on a cold edge: %d failed, %d origin fetches; the test would not see a missing pre-positioning", failed, coldFetches)
	}

	clock.set(release.Add(DefaultPinWindow))
	if _, err := e.Preposition(ctx, f.token); err != nil {
		t.Fatal(err)
	}
	if s := e.Stats(); s.PinnedObjects != 0 || s.PinnedBytes != 0 {
		t.Fatalf("after the pin window: %d objects (%d bytes) still pinned", s.PinnedObjects, s.PinnedBytes)
	}
}

// TestPrepositionBudget: a pin budget smaller than the album pins what
// fits, reports ErrPinBudget, and never exceeds the budget.
func TestPrepositionBudget(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.relay.Server().Catalog().ScheduleRelease(ctx, f.relay.Album, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, budget := range []int64{0, 100 << 10} {
		t.Run(strconv.FormatInt(budget, 10), func(t *testing.T) {
			e, _ := startEdge(t, DefaultOptions(f.origin.url).WithPreposition(budget, time.Hour, model.TierNormal))
			before := f.origin.blobFetches()
			_, err := e.Preposition(ctx, f.token)
			if !errors.Is(err, ErrPinBudget) {
				t.Fatalf("err %v, want ErrPinBudget", err)
			}
			s := e.Stats()
			if s.PinnedBytes > budget {
				t.Fatalf("pinned %d bytes over a %d budget", s.PinnedBytes, budget)
			}
			// No header or chunk is fetched that the budget cannot hold
			// (before, every one past the budget was fetched, each pass,
			// and dropped); manifests are, to learn the sizes.
			pinned := 0
			for k := range e.pins.objs {
				if k.kind == 'b' {
					pinned++
				}
			}
			if n := f.origin.blobFetches() - before; n != int64(pinned) {
				t.Errorf("%d headers and chunks fetched, %d pinned: fetched what the budget could not hold", n, pinned)
			}
		})
	}
}

// TestPrepositionPositionalChunks: a client that fetches every chunk by
// position (/v1/audio/{track}/{tier}/chunks/{i}), not by hash, is served
// the pre-positioned album from the pins too: no origin fetch after the
// pass, every answer a hit equal to the relay's.
func TestPrepositionPositionalChunks(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	release := time.Now().Add(10 * time.Minute)
	if err := f.relay.Server().Catalog().ScheduleRelease(ctx, f.relay.Album, release); err != nil {
		t.Fatal(err)
	}
	e, url := startEdge(t, DefaultOptions(f.origin.url).WithPreposition(DefaultPinBytes, time.Hour, model.TierNormal))
	if _, err := e.Preposition(ctx, f.token); err != nil {
		t.Fatal(err)
	}
	for _, tr := range f.relay.Tracks {
		base := "/v1/audio/" + string(tr) + "/normal"
		_, env := get(t, url, base+"/manifest", f.token)
		hs, err := manifestBlobs(env)
		if err != nil {
			t.Fatal(err)
		}
		for i := range len(hs) - 1 {
			path := base + "/chunks/" + strconv.Itoa(i)
			before := f.origin.count(path)
			resp, b := get(t, url, path, f.token)
			_, want := get(t, f.relay.URL, path, f.token)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Cache") != "HIT" || !bytes.Equal(b, want) {
				t.Errorf("%s: %d %s, want a 200 hit with the relay's bytes", path, resp.StatusCode, resp.Header.Get("X-Cache"))
			}
			if n := f.origin.count(path) - before; n != 0 {
				t.Errorf("%s: %d origin fetches after pre-positioning, want 0", path, n)
			}
		}
	}
}

// FuzzManifestBlobs: decoding a parent's manifest envelope for
// pre-positioning never panics, and what it accepts lists at least the
// header.
func FuzzManifestBlobs(f *testing.F) {
	f.Add([]byte{0xa1, 0x01, 0x40})
	f.Add([]byte{0xa1, 0x01, 0x41, 0xa0})
	f.Add([]byte("not cbor"))
	f.Fuzz(func(t *testing.T, b []byte) {
		hs, err := manifestBlobs(b)
		if err == nil && len(hs) == 0 {
			t.Fatal("accepted a manifest without blobs")
		}
	})
}
