package core_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
)

// firstByte opens (track, tier) and reads the first decrypted byte of its
// stream: the time to first byte a player sees.
func firstByte(b *testing.B, e *core.Engine, id model.TrackID, tier model.Tier) {
	ctx := context.Background()
	tr, err := e.OpenTrack(ctx, id, tier)
	if err != nil {
		b.Fatal(err)
	}
	r := tr.Stream(ctx)
	var one [1]byte
	if _, err := r.Read(one[:]); err != nil {
		b.Fatal(err)
	}
	if one[0] != 'O' {
		b.Fatalf("first byte %q, want 'O' of OggS", one[0])
	}
	b.StopTimer()
	r.Close()
	b.StartTimer()
}

// BenchmarkTimeToFirstByte measures OpenTrack → first decrypted byte of
// header ‖ chunk 0 (the stream releases the header only after its hash
// verified, and fetches chunk 0 concurrently).
//
//   - offline: manifest and blobs in the engine's Badger cache, content key
//     in memory, relay stopped.
//   - online: a cold engine (empty store, no key) against the relay on
//     loopback: manifest + key request in parallel, then header and
//     chunk 0 in parallel; no emulated latency.
func BenchmarkTimeToFirstByte(b *testing.B) {
	for _, tier := range []model.Tier{model.TierLow, model.TierHigh} {
		b.Run("offline/"+string(tier), func(b *testing.B) {
			tb := newTestbed(b)
			e := tb.openEngine(b, core.DefaultOptions(), tb.url)
			id := tb.tracks[0]
			tr, err := e.OpenTrack(context.Background(), id, tier)
			if err != nil {
				b.Fatal(err)
			}
			readStream(b, tr)
			tb.stop()
			b.ResetTimer()
			for b.Loop() {
				firstByte(b, e, id, tier)
			}
		})
		b.Run("online/"+string(tier), func(b *testing.B) {
			tb := newTestbed(b)
			id := tb.tracks[0]
			ctx := context.Background()
			signup, err := core.Open(ctx, b.TempDir(), core.DefaultOptions().WithOrigins(tb.url).
				WithStore(store.NewMemory()).WithKeyStore(&crypto.MemoryKeyStore{}).WithLogger(quiet()))
			if err != nil {
				b.Fatal(err)
			}
			if err := signup.SignUp(ctx, testUser, testPass); err != nil {
				b.Fatal(err)
			}
			signup.Close()
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				e, err := core.Open(ctx, "", core.DefaultOptions().WithOrigins(tb.url).WithCatalogKey(tb.catalogPub).
					WithStore(store.NewMemory()).WithKeyStore(&crypto.MemoryKeyStore{}).WithLogger(quiet()))
				if err != nil {
					b.Fatal(err)
				}
				if err := e.Register(ctx, testUser, testPass, "bench"); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				firstByte(b, e, id, tier)
				b.StopTimer()
				e.Close()
				b.StartTimer()
			}
		})
	}
}

// slowLink emulates a link with a round-trip time and a bandwidth in front
// of a handler: each request waits one RTT before it is served, and
// response bodies share the bandwidth (transfers queue one after the
// other). TCP setup is not emulated.
type slowLink struct {
	inner     http.Handler
	rtt       time.Duration
	bytesPerS float64

	mu   sync.Mutex
	free time.Time // when the link finishes its queued transfers
}

func (l *slowLink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	time.Sleep(l.rtt)
	rec := httptest.NewRecorder()
	l.inner.ServeHTTP(rec, r)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	body := rec.Body.Bytes()
	l.mu.Lock()
	start := time.Now()
	if l.free.After(start) {
		start = l.free
	}
	l.free = start.Add(time.Duration(float64(len(body)) / l.bytesPerS * float64(time.Second)))
	done := l.free
	l.mu.Unlock()
	time.Sleep(time.Until(done))
	w.WriteHeader(rec.Code)
	w.Write(body)
}

// BenchmarkTimeToFirstByteSlowLink is the online case behind an emulated
// 50 ms RTT, 10 Mbit/s link. It reports ttfb_ms and the ratio to the
// floor of one round trip plus the transfer of header and chunk 0
// (ratio_vs_floor); the engine needs two round trips (manifest ∥ key, then
// header ∥ chunk 0), so the ratio is about 2 on this link.
func BenchmarkTimeToFirstByteSlowLink(b *testing.B) {
	const rtt = 50 * time.Millisecond
	const bw = 10e6 / 8
	tb := newTestbed(b)
	front := httptest.NewServer(&slowLink{inner: tb.srv.Handler(), rtt: rtt, bytesPerS: bw})
	defer front.Close()
	ctx := context.Background()
	id, tier := tb.tracks[0], model.TierHigh
	var total time.Duration
	var floor time.Duration
	for b.Loop() {
		b.StopTimer()
		e, err := core.Open(ctx, "", core.DefaultOptions().WithOrigins(front.URL).WithCatalogKey(tb.catalogPub).
			WithStore(store.NewMemory()).WithKeyStore(&crypto.MemoryKeyStore{}).WithLogger(quiet()))
		if err != nil {
			b.Fatal(err)
		}
		if err := e.SignUp(ctx, testUser, testPass); err != nil && !isConflict(err) {
			b.Fatal(err)
		}
		if err := e.Register(ctx, testUser, testPass, "bench"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		firstByte(b, e, id, tier)
		total += time.Since(start)
		b.StopTimer()
		tr, err := e.OpenTrack(ctx, id, tier)
		if err != nil {
			b.Fatal(err)
		}
		m := tr.Manifest()
		floor = rtt + time.Duration(float64(m.Header.Size+m.Chunks[0].Blob.Size)/bw*float64(time.Second))
		e.Close()
		b.StartTimer()
	}
	mean := total / time.Duration(b.N)
	b.ReportMetric(float64(mean)/1e6, "ttfb_ms")
	b.ReportMetric(float64(mean)/float64(floor), "ratio_vs_floor")
}
