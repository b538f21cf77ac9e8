package p2p_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/multiformats/go-multiaddr"

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

// TestTCPDialFromEphemeralPort: a node's TCP dial leaves from a port of
// its own, not its listening port. With libp2p's port reuse it left from
// the listening port, so two nodes dialling each other at once made one
// TCP connection (simultaneous open) on which both began Noise as
// initiator, and a dial failed with "noise: message is too short"
// (TestSimultaneousDials, about one TCP run in 200).
func TestTCPDialFromEphemeralPort(t *testing.T) {
	phone, laptop := newDevice(t, "alice", 1), newDevice(t, "alice", 2)
	if err := laptop.node.Connect(t.Context(), addr(t, phone, "/tcp/")); err != nil {
		t.Fatal(err)
	}
	listen, err := multiaddr.NewMultiaddr(addr(t, laptop, "/tcp/"))
	if err != nil {
		t.Fatal(err)
	}
	lport, err := listen.ValueForProtocol(multiaddr.P_TCP)
	if err != nil {
		t.Fatal(err)
	}
	ps := phone.node.Peers()
	if len(ps) != 1 {
		t.Fatalf("phone's peers %+v", ps)
	}
	seen, err := multiaddr.NewMultiaddr(ps[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	if sport, err := seen.ValueForProtocol(multiaddr.P_TCP); err != nil || sport == lport {
		t.Fatalf("the laptop dialled from %s (%v); it listens on port %s", ps[0].Addr, err, lport)
	}
}
