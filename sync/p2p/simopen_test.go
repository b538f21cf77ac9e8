package p2p_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
)

// TestSimultaneousDials: two devices of alice, each given the other's
// address (segue sync --peer on both), dial at once. Both dials
// succeed, each node ends with one session with the other, and an edit
// made afterwards on either side reaches the other. Before, about one
// run in five failed a dial with a stream reset: the node whose session
// lost reset the losing stream during its handshake, and the dialler's
// Connect returned that reset although a session with the peer stood.
func TestSimultaneousDials(t *testing.T) {
	ctx := t.Context()
	for _, transport := range []string{"/tcp/", "/quic-v1"} {
		t.Run(transport, func(t *testing.T) {
			phone, laptop := newDevice(t, "alice", 1), newDevice(t, "alice", 2)
			pl, err := phone.repo.CreatePlaylist(ctx, "alice", "mix")
			if err != nil {
				t.Fatal(err)
			}
			pa, la := addr(t, phone, transport), addr(t, laptop, transport)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			wg.Add(2)
			go func() { defer wg.Done(); errs[0] = phone.node.Connect(ctx, la) }()
			go func() { defer wg.Done(); errs[1] = laptop.node.Connect(ctx, pa) }()
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("dial %d: %v", i, err)
				}
			}
			eventually(t, "laptop gets the playlist", func() bool { return holds(laptop.repo, pl.ID()) })
			if err := pl.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "t1"); return err }); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the phone's edit reaches the laptop", func() bool {
				return slices.Equal(tracksOf(t, laptop.repo, pl.ID()), []model.TrackID{"t1"})
			})
			eventually(t, "one session each", func() bool {
				return len(phone.node.Peers()) == 1 && len(laptop.node.Peers()) == 1
			})
		})
	}
}
