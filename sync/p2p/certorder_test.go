package p2p_test

import (
	"context"
	"crypto/rand"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	libp2ppeer "github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/segue-fm/segue/sync/p2p"
)

// TestListenerRevealsNothingFirst: a host with a key of its own but no
// device certificate (any machine on the network) opens a stream to a
// node and only reads. Before, the node wrote its certificate at once,
// naming its account and device to whoever connected; now the side that
// was dialled writes its certificate only after the dialler's checked,
// and the stream ends with nothing read.
func TestListenerRevealsNothingFirst(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	phone := newDevice(t, "alice", 1, func(o p2p.Options) p2p.Options { return o.WithDialTimeout(time.Second) })
	key, _, err := libp2pcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(key), libp2p.NoListenAddrs, libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ma, err := multiaddr.NewMultiaddr(addr(t, phone, "/tcp/"))
	if err != nil {
		t.Fatal(err)
	}
	ai, err := libp2ppeer.AddrInfoFromP2pAddr(ma)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Connect(ctx, *ai); err != nil {
		t.Fatal(err)
	}
	st, err := h.NewStream(ctx, ai.ID, p2p.ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Reset()
	got, _ := io.ReadAll(st) // ends when the node gives up on the handshake
	if len(got) > 0 {
		t.Fatalf("the node wrote %d bytes to a host that showed no certificate", len(got))
	}
}
