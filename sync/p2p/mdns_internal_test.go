package p2p

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	libp2ppeer "github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// countHandler counts the log records with message msg.
type countHandler struct {
	msg string
	n   atomic.Int64
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }

// blackhole accepts TCP connections on 127.0.0.1 and never answers: a
// made-up peer's address whose dials last until their timeout. It
// returns its address and the number of connections it accepted.
func blackhole(t *testing.T) (multiaddr.Multiaddr, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int64
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	a, err := multiaddr.NewMultiaddr("/ip4/127.0.0.1/tcp/" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	return a, &accepted
}

// testNode starts a node of user alice from identity seed, on 127.0.0.1
// with mDNS off, logging to h.
func testNode(t *testing.T, seed byte, h slog.Handler) *Node {
	t.Helper()
	catalog := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	id, err := crypto.NewIdentity(bytes.NewReader(bytes.Repeat([]byte{seed}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := crypto.IssueDeviceCert(catalog, "alice", id.SignPublic(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(t.Context(), store.NewMemory(), repo.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	n, err := New(t.Context(), id, cert, catalog.Public().(ed25519.PublicKey), peer.NewRepoAdapter(r),
		DefaultOptions().WithListen("/ip4/127.0.0.1/tcp/0").WithMDNS(false, "").WithDialTimeout(time.Second).WithLogger(slog.New(h)).
			WithLANKeys(LANKey{User: "alice", Key: bytes.Repeat([]byte{1}, LANKeySize)}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// TestMDNSFloodBounded: a host answering mDNS with 40 made-up peers, all
// at an address that accepts and never answers, gets MaxMDNSDials dials
// at once from a node and no more (before, one each: any number of
// goroutines and connections, each held for the dial timeout); a peer
// found again while its dial is in flight is not dialled twice; and the
// honest peer, announced again once those dials ended, is synced with.
func TestMDNSFloodBounded(t *testing.T) {
	const dropped = "p2p: mDNS peer not dialled: too many dials in flight"
	h := &countHandler{msg: dropped}
	n := testNode(t, 1, h)
	hole, accepted := blackhole(t)
	var fakes []libp2ppeer.AddrInfo
	for len(fakes) < 40 {
		_, pub, err := libp2pcrypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		id, err := libp2ppeer.IDFromPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		if id.String() < n.ID() { // the node dials only smaller ids
			fakes = append(fakes, libp2ppeer.AddrInfo{ID: id, Addrs: []multiaddr.Multiaddr{hole}})
		}
	}
	f := notifee{n}
	for _, ai := range fakes {
		f.HandlePeerFound(ai)
	}
	f.HandlePeerFound(fakes[0]) // being dialled: neither dialled nor dropped again
	deadline := time.Now().Add(15 * time.Second)
	for accepted.Load() < MaxMDNSDials {
		if time.Now().After(deadline) {
			t.Fatalf("%d dials reached the made-up peers' address, want %d", accepted.Load(), MaxMDNSDials)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := h.n.Load(); got != int64(len(fakes)-MaxMDNSDials) {
		t.Fatalf("%d made-up peers not dialled, want %d (at most %d dials at once)", got, len(fakes)-MaxMDNSDials, MaxMDNSDials)
	}

	var honest *Node
	for seed := byte(2); honest == nil; seed++ {
		c := testNode(t, seed, slog.DiscardHandler)
		if c.ID() < n.ID() {
			honest = c
		} else {
			c.Close()
		}
	}
	ai, err := parseAddr(honest.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(15 * time.Second)
	for len(n.Peers()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the honest peer was never synced with")
		}
		f.HandlePeerFound(*ai) // mDNS announces it again
		time.Sleep(20 * time.Millisecond)
	}
	if got := accepted.Load(); got != MaxMDNSDials {
		t.Fatalf("%d dials reached the made-up peers' address, want %d", got, MaxMDNSDials)
	}
}
