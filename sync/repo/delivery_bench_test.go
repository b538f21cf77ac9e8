package repo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
)

// BenchmarkRelayDelivery is the relay's part of issue 10's per-delivery
// cost without the network: a relay repo and 20 followers (automerge
// sync states, as devices) of one playlist of entries entries; each
// iteration one follower edits (a move), syncs it to the relay, and the
// relay brings the 19 others up to date. Only the relay's calls
// (ReceiveSyncMessage, GenerateSyncMessage) are timed: relay-µs/delivery
// is their time per delivered change (the editor's acknowledgement and
// each other follower's copy, synccap's count). Sub-benchmarks: the
// relay's sync states in Go (msync) and in automerge.
func BenchmarkRelayDelivery(b *testing.B) {
	for _, entries := range []int{20, 1000} {
		for _, goSync := range []bool{true, false} {
			name := fmt.Sprintf("entries=%d/sync=automerge", entries)
			if goSync {
				name = fmt.Sprintf("entries=%d/sync=go", entries)
			}
			b.Run(name, func(b *testing.B) { relayDelivery(b, entries, goSync) })
		}
	}
}

func relayDelivery(b *testing.B, entries int, goSync bool) {
	ctx := context.Background()
	const followers = 20
	relay, err := Open(ctx, store.NewMemory(), testOptions(1).WithGoSync(goSync))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { relay.Close() })
	fs := make([]*Repo, followers)
	for i := range fs {
		if fs[i], err = Open(ctx, store.NewMemory(), testOptions(byte(10+i)).WithGoSync(false)); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { fs[i].Close() })
	}
	h := bigPlaylist(b, fs[0], entries)
	id := h.ID()
	var relayTime time.Duration
	timed := func(fn func() error) {
		t0 := time.Now()
		if err := fn(); err != nil {
			b.Fatal(err)
		}
		relayTime += time.Since(t0)
	}
	// exchange syncs follower f with the relay until neither has
	// anything to send, timing the relay's calls.
	exchange := func(f int) {
		peerF, peerR := PeerID(fmt.Sprintf("f%d", f)), PeerID("relay")
		if _, err := fs[f].Ensure(ctx, id); err != nil {
			b.Fatal(err)
		}
		timed(func() error { _, err := relay.Ensure(ctx, id); return err })
		for range 100 {
			sent := false
			var m []byte
			var ok bool
			timed(func() (err error) { m, ok, err = relay.GenerateSyncMessage(ctx, peerF, id); return err })
			if ok {
				sent = true
				if err := fs[f].ReceiveSyncMessage(ctx, peerR, id, m); err != nil {
					b.Fatal(err)
				}
			}
			m, ok, err := fs[f].GenerateSyncMessage(ctx, peerR, id)
			if err != nil {
				b.Fatal(err)
			}
			if ok {
				sent = true
				timed(func() error { return relay.ReceiveSyncMessage(ctx, peerF, id, m) })
			}
			if !sent {
				return
			}
		}
		b.Fatal("no quiet after 100 rounds")
	}
	for f := range fs {
		exchange(f)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	relayTime = 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := i % followers
		hf, err := fs[f].Get(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		if err := hf.Playlist(ctx, func(p *docs.Playlist) error {
			es, err := p.Entries()
			if err != nil {
				return err
			}
			return p.Move(es[rng.IntN(len(es))].ID, docs.AtIndex(rng.IntN(len(es))))
		}); err != nil {
			b.Fatal(err)
		}
		exchange(f)
		for j := range fs {
			if j != f {
				exchange(j)
			}
		}
	}
	b.ReportMetric(float64(relayTime.Microseconds())/float64(b.N*followers), "relay-µs/delivery")
}
