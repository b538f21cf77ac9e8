package p2p_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/p2p"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// catalogKey is the test relay's catalog key (seeded: deterministic).
var testLog io.Writer = io.Discard

var catalogKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))

type device struct {
	user model.UserID
	st   store.Store
	repo *repo.Repo
	node *p2p.Node
	// restart closes the node and starts a new one on the same store and
	// repository, with the same options refined by more.
	restart func(more ...func(p2p.Options) p2p.Options)
}

// testUsers are the accounts of the tests.
var testUsers = []model.UserID{"alice", "bob", "carol", "eve", "mallory"}

// openKeys returns the LAN keys of user with every test user: any two
// test devices may sync, as before LAN keys (tests of the key proof
// give their devices fewer with withKeys).
func openKeys(user model.UserID) []p2p.LANKey {
	var ks []p2p.LANKey
	for _, o := range testUsers {
		ks = append(ks, p2p.LANKey{User: o, Key: pairKey(user, o)})
	}
	return ks
}

// newDevice opens a device of user with a real Badger store and a libp2p
// node on 127.0.0.1 (no mDNS) keeping its LAN quota in the store, as a
// device does, holding the LAN keys of openKeys, its options refined by
// opts.
func newDevice(t *testing.T, user model.UserID, seed byte, opts ...func(p2p.Options) p2p.Options) *device {
	t.Helper()
	return newDeviceWith(t, user, seed, func(r *repo.Repo) peer.Repo { return peer.NewRepoAdapter(r) }, opts...)
}

// newDeviceWith is newDevice whose node syncs adapt(repo).
func newDeviceWith(t *testing.T, user model.UserID, seed byte, adapt func(*repo.Repo) peer.Repo, opts ...func(p2p.Options) p2p.Options) *device {
	t.Helper()
	ctx := t.Context()
	id, err := crypto.NewIdentity(bytes.NewReader(bytes.Repeat([]byte{seed}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := crypto.IssueDeviceCert(catalogKey, user, id.SignPublic(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st, err := badgerstore.Open(ctx, t.TempDir(), badgerstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r, err := repo.Open(ctx, st, repo.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	o := p2p.DefaultOptions().WithListen("/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1").WithMDNS(false, "").
		WithLogger(slog.New(slog.NewTextHandler(testLog, &slog.HandlerOptions{Level: slog.LevelDebug}))).WithQuotaStore(st).
		WithLANKeys(openKeys(user)...)
	for _, f := range opts {
		o = f(o)
	}
	d := &device{user: user, st: st, repo: r}
	start := func(o p2p.Options) {
		n, err := p2p.New(ctx, id, cert, catalogKey.Public().(ed25519.PublicKey), adapt(r), o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		d.node = n
	}
	d.restart = func(more ...func(p2p.Options) p2p.Options) {
		if err := d.node.Close(); err != nil {
			t.Fatal(err)
		}
		ro := o
		for _, f := range more {
			ro = f(ro)
		}
		start(ro)
	}
	start(o)
	return d
}

func tracksOf(t *testing.T, r *repo.Repo, id docs.DocumentID) []model.TrackID {
	t.Helper()
	h, err := r.Get(context.Background(), id)
	if err != nil || h.Empty() {
		return nil
	}
	var out []model.TrackID
	if err := h.ReadPlaylist(func(p *docs.Playlist) error {
		es, err := p.Entries()
		for _, e := range es {
			out = append(out, e.Track)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func holds(r *repo.Repo, id docs.DocumentID) bool {
	h, err := r.Get(context.Background(), id)
	return err == nil && !h.Empty()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timeout: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func addr(t *testing.T, d *device, transport string) string {
	t.Helper()
	for _, a := range d.node.Addrs() {
		if bytes.Contains([]byte(a), []byte(transport)) {
			return a
		}
	}
	t.Fatalf("no %s address in %v", transport, d.node.Addrs())
	return ""
}

// TestLANSync: with no relay at all, two devices of alice sync her
// library and a playlist; bob (collaborator) gets and edits the shared
// playlist; eve gets neither. TCP and QUIC both carry the protocol.
func TestLANSync(t *testing.T) {
	ctx := t.Context()
	phone, laptop := newDevice(t, "alice", 1), newDevice(t, "alice", 2)
	bob, eve := newDevice(t, "bob", 3), newDevice(t, "eve", 4)

	lib, err := phone.repo.Library(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := lib.Library(ctx, func(l *docs.Library) error { return l.SaveTracks("liked-1") }); err != nil {
		t.Fatal(err)
	}
	shared, err := phone.repo.CreatePlaylist(ctx, "alice", "shared")
	if err != nil {
		t.Fatal(err)
	}
	if err := shared.Playlist(ctx, func(p *docs.Playlist) error {
		if err := p.SetCollaborators("bob"); err != nil {
			return err
		}
		_, err := p.Add(docs.AtEnd(), "alice", "a1", "a2")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	private, err := phone.repo.CreatePlaylist(ctx, "alice", "private")
	if err != nil {
		t.Fatal(err)
	}

	if err := laptop.node.Connect(ctx, addr(t, phone, "/tcp/")); err != nil {
		t.Fatal(err)
	}
	if err := bob.node.Connect(ctx, addr(t, phone, "/quic-v1")); err != nil {
		t.Fatal(err)
	}
	if err := eve.node.Connect(ctx, addr(t, phone, "/tcp/")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "laptop gets both playlists", func() bool {
		return len(tracksOf(t, laptop.repo, shared.ID())) == 2 && holds(laptop.repo, private.ID())
	})
	eventually(t, "laptop gets the library", func() bool {
		h, err := laptop.repo.Get(ctx, docs.LibraryID("alice"))
		if err != nil || h.Empty() {
			return false
		}
		var n int
		_ = h.ReadLibrary(func(l *docs.Library) error { s, err := l.Tracks(); n = len(s); return err })
		return n == 1
	})
	eventually(t, "bob gets the shared playlist", func() bool { return len(tracksOf(t, bob.repo, shared.ID())) == 2 })

	bh, err := bob.repo.Get(ctx, shared.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := bh.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "bob", "b1"); return err }); err != nil {
		t.Fatal(err)
	}
	want := []model.TrackID{"a1", "a2", "b1"}
	eventually(t, "bob's edit reaches alice's devices", func() bool {
		return slices.Equal(tracksOf(t, phone.repo, shared.ID()), want) && slices.Equal(tracksOf(t, laptop.repo, shared.ID()), want)
	})
	for _, id := range []docs.DocumentID{private.ID(), docs.LibraryID("alice")} {
		if holds(bob.repo, id) {
			t.Fatalf("bob holds %s", id)
		}
	}
	for _, id := range []docs.DocumentID{shared.ID(), private.ID(), docs.LibraryID("alice")} {
		if holds(eve.repo, id) {
			t.Fatalf("eve holds %s", id)
		}
	}
	ps := phone.node.Peers()
	if len(ps) != 3 {
		t.Fatalf("phone peers = %+v", ps)
	}
	users := map[model.UserID]bool{}
	for _, p := range ps {
		users[p.User] = true
	}
	if !users["alice"] || !users["bob"] || !users["eve"] {
		t.Fatalf("peer users = %v", users)
	}
}

func init() {
	if os.Getenv("P2P_DEBUG") != "" {
		testLog = os.Stderr
	}
}
