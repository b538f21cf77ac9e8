package p2p_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	libp2ppeer "github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/p2p"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// pairKey is the test relay's LAN key of users a and b.
func pairKey(a, b model.UserID) []byte {
	if a > b {
		a, b = b, a
	}
	k := sha256.Sum256([]byte("lan key\x00" + a + "\x00" + b))
	return k[:]
}

// withKeys gives a device of user the LAN keys it shares with each of
// others (its own account's key included when listed).
func withKeys(user model.UserID, others ...model.UserID) func(p2p.Options) p2p.Options {
	var ks []p2p.LANKey
	for _, o := range others {
		ks = append(ks, p2p.LANKey{User: o, Key: pairKey(user, o)})
	}
	return func(o p2p.Options) p2p.Options { return o.WithLANKeys(ks...).WithDialTimeout(2 * time.Second) }
}

// logTo sends a device's log records to w.
func logTo(w io.Writer) func(p2p.Options) p2p.Options {
	return func(o p2p.Options) p2p.Options {
		return o.WithLogger(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}
}

// lockedBuf is a bytes.Buffer for concurrent writers.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// names matches the users of TestLANKeysRevealNothingToStrangers as
// words (not inside a peer id).
var names = regexp.MustCompile(`\b(alice|eve)\b`)

// stranger is a libp2p host with a key of its own and no certificate
// nor LAN key: any machine on the network.
// strangerStream connects a stranger (stranger) to d over TCP and opens
// a sync protocol stream to it.
func strangerStream(ctx context.Context, t *testing.T, d *device) network.Stream {
	t.Helper()
	h := stranger(t)
	ma, err := multiaddr.NewMultiaddr(addr(t, d, "/tcp/"))
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
	return st
}

func stranger(t *testing.T) host.Host {
	t.Helper()
	key, _, err := libp2pcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestLANKeysRevealNothingToStrangers: with LAN keys, alice's phone
// shows its certificate only to a peer that proved a key it holds. A
// stranger dialling it (sending made-up proofs) reads nothing; the
// phone dialling a stranger (as mDNS makes it dial every announced
// peer) sends only its nonce and proofs, nothing naming alice; eve,
// registered but sharing nothing with alice (she holds a key with alice
// the phone does not), neither dialling nor dialled learns alice's
// account, nor alice hers. Before, the phone sent its certificate to
// whatever it dialled, and to any registered device that dialled it.
func TestLANKeysRevealNothingToStrangers(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var phoneLog, eveLog lockedBuf
	phone := newDevice(t, "alice", 1, withKeys("alice", "alice", "bob"), logTo(&phoneLog))
	eve := newDevice(t, "eve", 4, withKeys("eve", "eve", "alice"), logTo(&eveLog))

	t.Run("stranger dials", func(t *testing.T) {
		st := strangerStream(ctx, t, phone)
		defer st.Reset()
		proofs := make([]byte, 34+16*32)
		proofs[32], proofs[33] = 0, 16
		if _, err := rand.Read(proofs[34:]); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Write(proofs); err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(st)
		if len(got) > 0 {
			t.Fatalf("the phone wrote %d bytes to a stranger", len(got))
		}
	})
	t.Run("phone dials a stranger", func(t *testing.T) {
		h := stranger(t)
		var got []byte
		read := make(chan struct{})
		h.SetStreamHandler(p2p.ProtocolID, func(st network.Stream) {
			defer close(read)
			_ = st.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, _ = io.ReadAll(st)
			st.Reset()
		})
		err := phone.node.Connect(ctx, h.Addrs()[0].String()+"/p2p/"+h.ID().String())
		if err == nil {
			t.Fatal("the phone synced with a stranger")
		}
		<-read
		if len(got) != 34+16*32 || bytes.Contains(got, []byte("alice")) {
			t.Fatalf("the stranger read %d bytes (%q), want the nonce and 16 proofs only", len(got), got)
		}
	})
	t.Run("eve dials", func(t *testing.T) {
		if err := eve.node.Connect(ctx, addr(t, phone, "/tcp/")); err == nil || names.MatchString(err.Error()) {
			t.Fatalf("eve's dial: %v", err)
		}
	})
	t.Run("phone dials eve", func(t *testing.T) {
		if err := phone.node.Connect(ctx, addr(t, eve, "/quic-v1")); err == nil || names.MatchString(err.Error()) ||
			!strings.Contains(err.Error(), "no LAN key in common") {
			t.Fatalf("phone's dial: %v", err)
		}
	})
	if len(eve.node.Peers()) != 0 || len(phone.node.Peers()) != 0 {
		t.Fatalf("peers: eve %+v, phone %+v", eve.node.Peers(), phone.node.Peers())
	}
	if names.MatchString(eveLog.String()) {
		t.Fatalf("eve's log names alice:\n%s", eveLog.String())
	}
	if names.MatchString(phoneLog.String()) {
		t.Fatalf("the phone's log names eve:\n%s", phoneLog.String())
	}
}

// TestLANKeysSync: with LAN keys, alice's laptop and phone (her own
// account's key) sync her playlists, bob (the key of alice and bob)
// syncs the playlist she shares with him, both ways of dialling; a
// device of mallory holding alice and bob's key (leaked) learns the
// phone's certificate but is refused, its certificate naming neither.
func TestLANKeysSync(t *testing.T) {
	ctx := t.Context()
	phone := newDevice(t, "alice", 1, withKeys("alice", "bob", "alice"))
	laptop := newDevice(t, "alice", 2, withKeys("alice", "alice"))
	bob := newDevice(t, "bob", 3, withKeys("bob", "bob", "alice"))
	mallory := newDevice(t, "mallory", 5, func(o p2p.Options) p2p.Options {
		return o.WithLANKeys(p2p.LANKey{User: "alice", Key: pairKey("alice", "bob")})
	})
	shared, err := phone.repo.CreatePlaylist(ctx, "alice", "shared")
	if err != nil {
		t.Fatal(err)
	}
	if err := shared.Playlist(ctx, func(p *docs.Playlist) error {
		if err := p.SetCollaborators("bob"); err != nil {
			return err
		}
		_, err := p.Add(docs.AtEnd(), "alice", "a1")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := laptop.node.Connect(ctx, addr(t, phone, "/tcp/")); err != nil {
		t.Fatalf("laptop: %v", err)
	}
	if err := phone.node.Connect(ctx, addr(t, bob, "/quic-v1")); err != nil {
		t.Fatalf("phone to bob: %v", err)
	}
	if err := mallory.node.Connect(ctx, addr(t, phone, "/tcp/")); err == nil {
		t.Fatal("mallory synced with the phone")
	}
	eventually(t, "the laptop and bob get the playlist", func() bool {
		return len(tracksOf(t, laptop.repo, shared.ID())) == 1 && len(tracksOf(t, bob.repo, shared.ID())) == 1
	})
	bh, err := bob.repo.Get(ctx, shared.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := bh.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "bob", "b1"); return err }); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bob's edit reaches the phone and the laptop", func() bool {
		want := []model.TrackID{"a1", "b1"}
		return slices.Equal(tracksOf(t, phone.repo, shared.ID()), want) && slices.Equal(tracksOf(t, laptop.repo, shared.ID()), want)
	})
	users := map[model.UserID]bool{}
	for _, p := range phone.node.Peers() {
		users[p.User] = true
	}
	if len(users) != 2 || !users["alice"] || !users["bob"] {
		t.Fatalf("phone's peers = %+v", phone.node.Peers())
	}
}

// TestNewNeedsLANKeys: a node starts only with one to MaxLANKeys keys
// of LANKeySize bytes naming a user (before LAN keys, a node without
// any showed its certificate to whatever it dialled).
func TestNewNeedsLANKeys(t *testing.T) {
	id, err := crypto.NewIdentity(bytes.NewReader(bytes.Repeat([]byte{9}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := crypto.IssueDeviceCert(catalogKey, "alice", id.SignPublic(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(t.Context(), store.NewMemory(), repo.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	good := p2p.LANKey{User: "alice", Key: pairKey("alice", "alice")}
	many := make([]p2p.LANKey, p2p.MaxLANKeys+1)
	for i := range many {
		many[i] = good
	}
	for _, c := range []struct {
		name string
		keys []p2p.LANKey
		ok   bool
	}{
		{"none", nil, false},
		{"short key", []p2p.LANKey{{User: "alice", Key: []byte{1}}}, false},
		{"no user", []p2p.LANKey{{Key: good.Key}}, false},
		{"too many", many, false},
		{"one", []p2p.LANKey{good}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, err := p2p.New(t.Context(), id, cert, catalogKey.Public().(ed25519.PublicKey), peer.NewRepoAdapter(r),
				p2p.DefaultOptions().WithListen("/ip4/127.0.0.1/tcp/0").WithMDNS(false, "").WithLANKeys(c.keys...))
			if c.ok {
				if err != nil {
					t.Fatal(err)
				}
				n.Close()
				return
			}
			if !errors.Is(err, p2p.ErrBadLANKey) {
				t.Fatalf("err = %v, want ErrBadLANKey", err)
			}
		})
	}
}
