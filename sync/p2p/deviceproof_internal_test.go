package p2p

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	libp2ppeer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/sync/wire"
)

// TestDeviceProof: with a peer id that names no device (a fresh libp2p
// key per node), a peer proves its device by signing the stream's
// binding with the key its certificate names. A host that holds alice's
// LAN key (leaked) and a copy of her laptop's certificate, but not the
// laptop's key, is refused whatever it signs with; a signature the
// laptop made for another stream is refused; a device signing with its
// own key is accepted (the dialler below speaks the protocol).
func TestDeviceProof(t *testing.T) {
	n := testNode(t, 1, slog.DiscardHandler)
	catalog := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	identity := func(seed byte) (*crypto.Identity, []byte) {
		id, err := crypto.NewIdentity(bytes.NewReader(bytes.Repeat([]byte{seed}, 64)))
		if err != nil {
			t.Fatal(err)
		}
		cert, err := crypto.IssueDeviceCert(catalog, "alice", id.SignPublic(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return id, cert
	}
	laptop, laptopCert := identity(2)
	thief, thiefCert := identity(3)
	for _, c := range []struct {
		name string
		cert []byte
		pub  ed25519.PublicKey
		sign func(bind []byte) []byte
		ok   bool
	}{
		{"own certificate and key", thiefCert, thief.SignPublic(), thief.Sign, true},
		{"copied certificate, own key", laptopCert, thief.SignPublic(), thief.Sign, false},
		{"copied certificate and public key, own signature", laptopCert, laptop.SignPublic(), thief.Sign, false},
		{"the laptop's signature of another stream", laptopCert, laptop.SignPublic(), func([]byte) []byte {
			other := (&Node{h: n.h}).binding(true, make([]byte, 32), n.h.ID())
			return laptop.Sign(other.local)
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			key, _, err := libp2pcrypto.GenerateEd25519Key(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if err := h.Connect(t.Context(), libp2ppeer.AddrInfo{ID: n.h.ID(), Addrs: n.h.Addrs()}); err != nil {
				t.Fatal(err)
			}
			st, err := h.NewStream(t.Context(), n.h.ID(), ProtocolID)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Reset()
			_ = st.SetDeadline(time.Now().Add(5 * time.Second))
			conn := newStreamConn(st, wire.MaxFrameSize)
			nonce := make([]byte, 32)
			rand.Read(nonce)
			proofs := slices.Concat(nonce, binary.BigEndian.AppendUint16(nil, 16),
				lanTag(bytes.Repeat([]byte{1}, LANKeySize), "dial", nonce, h.ID(), n.h.ID()), make([]byte, 15*32))
			if err := conn.writeRaw(proofs); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.r.Read(make([]byte, 32)); err != nil {
				t.Fatalf("key proof: %v", err)
			}
			bind := (&Node{h: h}).binding(true, nonce, n.h.ID())
			if err := conn.writeBlob(c.cert); err != nil {
				t.Fatal(err)
			}
			if err := conn.writeBlob(append(slices.Clone(c.pub), c.sign(bind.local)...)); err != nil {
				t.Fatal(err)
			}
			_, err = conn.readBlob(crypto.MaxDeviceCertSize)
			if c.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !c.ok && err == nil {
				t.Fatal("the node showed its certificate")
			}
		})
	}
}
