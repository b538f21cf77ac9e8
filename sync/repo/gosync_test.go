package repo

import (
	"bytes"
	"context"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
)

// TestSyncStateSwitch: a relay that persisted its sync states with one
// implementation (automerge's, or msync's) and restarts with the other
// resumes from them: the stored bytes are the same format, an idle
// resumed session exchanges only heads, and a later edit reaches the
// peer.
func TestSyncStateSwitch(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name          string
		before, after bool
	}{
		{"automerge to go", false, true},
		{"go to automerge", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.NewMemory()
			relay, err := Open(ctx, st, testOptions(1).WithGoSync(tc.before))
			if err != nil {
				t.Fatal(err)
			}
			dev := openRepo(t, store.NewMemory(), 2)
			h, err := dev.CreatePlaylist(ctx, "alice", "Mix")
			if err != nil {
				t.Fatal(err)
			}
			id := h.ID()
			addTrack := func(tr model.TrackID) {
				t.Helper()
				if err := h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", tr); return err }); err != nil {
					t.Fatal(err)
				}
			}
			addTrack("t1")
			syncUntilQuiet(t, dev, relay, "dev", "relay", id)
			saved, err := relay.SyncState(ctx, "dev", id)
			if err != nil || saved == nil {
				t.Fatalf("sync state %x, %v", saved, err)
			}
			relay.Close()
			dev.PeerDisconnected("relay")

			relay, err = Open(ctx, st, testOptions(1).WithGoSync(tc.after))
			if err != nil {
				t.Fatal(err)
			}
			defer relay.Close()
			// The first message resumes from the stored shared heads
			// (a fresh state would claim none and send a Bloom filter of
			// every change).
			if _, err := relay.Ensure(ctx, id); err != nil {
				t.Fatal(err)
			}
			first, ok, err := relay.GenerateSyncMessage(ctx, "dev", id)
			if err != nil || !ok {
				t.Fatalf("first message: %v, %v", ok, err)
			}
			m, err := wire.ParseSync(first)
			if err != nil {
				t.Fatal(err)
			}
			shared, err := SharedHeads(saved)
			if err != nil || len(shared) == 0 {
				t.Fatalf("shared heads %v, %v", shared, err)
			}
			if len(m.Have) != 1 || len(m.Have[0].LastSync) != len(shared) || m.Have[0].LastSync[0] != [32]byte(shared[0]) || len(m.Have[0].Bloom) != 0 {
				t.Fatalf("first message's have %+v, want last sync %v and an empty filter", m.Have, shared)
			}
			if err := dev.ReceiveSyncMessage(ctx, "relay", id, first); err != nil {
				t.Fatal(err)
			}
			msgs, _ := syncUntilQuiet(t, dev, relay, "dev", "relay", id)
			msgs++
			if msgs > 2 {
				t.Fatalf("resumed idle session exchanged %d messages, want at most 2 (heads each way)", msgs)
			}
			again, err := relay.SyncState(ctx, "dev", id)
			if err != nil || !bytes.Equal(again, saved) {
				t.Fatalf("sync state after resuming %x (%v), before %x", again, err, saved)
			}
			addTrack("t2")
			syncUntilQuiet(t, dev, relay, "dev", "relay", id)
			hr, err := relay.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(entries(t, hr)), 2; got != want {
				t.Fatalf("relay has %d entries, want %d", got, want)
			}
		})
	}
}
