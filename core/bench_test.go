package core_test

import (
	"context"
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

// BenchmarkTimeToFirstByteSlowLink is the online case over an emulated
// 50 ms RTT, 10 Mbit/s link below HTTP (emulatedLink as the engine's
// dialer: a round trip per TCP handshake, half a round trip each way,
// one shared bottleneck), for the engine's default client (h2) and for
// HTTP/1.1 (WithHTTP2(false)). Each iteration opens a fresh engine on a
// new link and registers it (untimed), leaving the registration's
// connection open — the engine's normal state — then times OpenTrack →
// first byte. It reports ttfb_ms, the ratio to the floor of one round
// trip plus the transfer of header and chunk 0 (ratio_vs_floor), and the
// connections dialed in the timed part (dials/op: HTTP/2 reuses the
// registration's connection, HTTP/1.1 dials for its parallel requests).
func BenchmarkTimeToFirstByteSlowLink(b *testing.B) {
	const rtt = 50 * time.Millisecond
	const bps = 10e6
	tb := newTestbed(b)
	ctx := context.Background()
	id, tier := tb.tracks[0], model.TierHigh
	for _, proto := range []string{"h2", "http1"} {
		b.Run(proto, func(b *testing.B) {
			var total, floor time.Duration
			dials := 0
			for b.Loop() {
				b.StopTimer()
				link := newEmulatedLink(rtt, bps)
				e, err := core.Open(ctx, "", core.DefaultOptions().WithOrigins(tb.url).WithCatalogKey(tb.catalogPub).
					WithHTTP2(proto == "h2").WithDialContext(link.dial).
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
				d0 := link.dials.Load()
				b.StartTimer()
				start := time.Now()
				firstByte(b, e, id, tier)
				total += time.Since(start)
				b.StopTimer()
				dials += int(link.dials.Load() - d0)
				tr, err := e.OpenTrack(ctx, id, tier)
				if err != nil {
					b.Fatal(err)
				}
				m := tr.Manifest()
				floor = rtt + time.Duration(float64((m.Header.Size+m.Chunks[0].Blob.Size)*8)/bps*float64(time.Second))
				e.Close()
				link.closeAll()
				b.StartTimer()
			}
			mean := total / time.Duration(b.N)
			b.ReportMetric(float64(mean)/1e6, "ttfb_ms")
			b.ReportMetric(float64(mean)/float64(floor), "ratio_vs_floor")
			b.ReportMetric(float64(dials)/float64(b.N), "dials/op")
		})
	}
}
