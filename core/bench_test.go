package core_test

import (
	"context"
	"testing"

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
