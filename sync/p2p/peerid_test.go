package p2p_test

import (
	"testing"

	"github.com/segue-fm/segue/sync/p2p"
)

// TestPeerIDPerNode: a node's libp2p peer id (what mDNS announces to
// every host on the network, and Noise shows before any key proof) is
// new at every start, so it does not tell that a device is back; the
// device is still authenticated (TestLANKeysSync, TestSetLANKeys,
// TestDeviceProof), by its certificate and a signature with its device
// key over the stream, and a restarted device's new session replaces
// its stale one. With WithStablePeerID the peer id stays (a --peer
// address stays good). Before, the peer id was the device's signing
// key, the same at every start.
func TestPeerIDPerNode(t *testing.T) {
	for _, c := range []struct {
		name   string
		stable bool
	}{
		{"fresh", false},
		{"stable", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			stable := func(o p2p.Options) p2p.Options { return o.WithStablePeerID(c.stable) }
			phone, laptop := newDevice(t, "alice", 1, stable), newDevice(t, "alice", 2, stable)
			first := laptop.node.ID()
			if err := laptop.node.Connect(ctx, addr(t, phone, "/tcp/")); err != nil {
				t.Fatal(err)
			}
			laptop.restart()
			if same := laptop.node.ID() == first; same != c.stable {
				t.Fatalf("the laptop's peer id after a restart: same = %v, want %v", same, c.stable)
			}
			if err := laptop.node.Connect(ctx, addr(t, phone, "/tcp/")); err != nil {
				t.Fatalf("the restarted laptop: %v", err)
			}
			eventually(t, "the phone syncs with the laptop once, under its peer id of now", func() bool {
				ps := phone.node.Peers()
				return len(ps) == 1 && ps[0].ID == laptop.node.ID()
			})
		})
	}
}
