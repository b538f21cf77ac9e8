package core_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	tbed "github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/p2p"
)

// stoppableRelay starts a relay on 127.0.0.1 and returns its origin and
// a function that stops it (idempotent; also run at cleanup).
func stoppableRelay(t *testing.T) (string, func()) {
	t.Helper()
	r := tbed.NewRelay(t, tbed.DefaultOptions().WithDemoAlbum(false))
	return r.URL, func() { r.Stop() }
}

// registeredEngine opens an engine in a fresh directory and registers it
// as a device of user (signing up first when needed). It returns the
// engine and its device identity.
func registeredEngine(t *testing.T, origin string, user model.UserID, name string) (*core.Engine, *crypto.Identity) {
	t.Helper()
	ctx := context.Background()
	ks, err := crypto.NewFileKeyStore(t.TempDir(), crypto.DefaultFileKeyStoreOptions())
	if err != nil {
		t.Fatal(err)
	}
	e := tbed.Engine(t, core.DefaultOptions().WithOrigins(origin).WithKeyStore(ks))
	tbed.Register(t, e, user, name)
	id, err := crypto.LoadOrCreateIdentity(ctx, ks, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e, id
}

// TestLANWithRelayCerts: two devices of alice register with a real
// relay, which hands each a device certificate; the relay is stopped,
// and the devices then sync a playlist over LAN (libp2p on loopback)
// with StartLAN's default certificate, in both directions.
// syncingDocs opens e's documents as user and starts their sync with the
// relay; they close when the test ends.
func syncingDocs(t *testing.T, e *core.Engine, user model.UserID) *core.Docs {
	t.Helper()
	d, err := e.OpenDocs(t.Context(), user)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.StartSync(t.Context()); err != nil {
		t.Fatal(err)
	}
	return d
}

// startLAN starts d's LAN node on loopback, without mDNS (or returns
// the one running). With the relay up, StartLAN fetches the LAN keys
// of d's account and of the users it shares playlists with.
func startLAN(t *testing.T, d *core.Docs) *p2p.Node {
	t.Helper()
	n, err := d.StartLAN(t.Context(), nil, p2p.DefaultOptions().WithListen("/ip4/127.0.0.1/tcp/0").WithMDNS(false, ""))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// lanLink starts LAN nodes of to and from (startLAN) and connects from
// to to; it returns from's node.
func lanLink(t *testing.T, from, to *core.Docs) *p2p.Node {
	t.Helper()
	tn, fn := startLAN(t, to), startLAN(t, from)
	if err := fn.Connect(t.Context(), tn.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	return fn
}

// sharedPlaylist has owner create a playlist "shared" with collaborator
// as its one collaborator, waits until the relay has it, and has each of
// followers follow it; it returns the playlist's id.
func sharedPlaylist(t *testing.T, owner *core.Docs, collaborator model.UserID, followers ...*core.Docs) docs.DocumentID {
	t.Helper()
	ctx := t.Context()
	id, err := owner.Playlists().Create(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Playlists().SetCollaborators(ctx, id, collaborator); err != nil {
		t.Fatal(err)
	}
	if err := owner.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range followers {
		if err := d.Playlists().Follow(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

func TestLANWithRelayCerts(t *testing.T) {
	ctx := t.Context()
	origin, stopRelay := stoppableRelay(t)
	phone, phoneID := registeredEngine(t, origin, "alice", "phone")
	laptop, laptopID := registeredEngine(t, origin, "alice", "laptop")
	// The catalog key pinned at registration (trust on first use).
	catalog, err := phone.Store().Get(ctx, []byte("cfg/catalog-key"))
	if err != nil {
		t.Fatal(err)
	}

	// The stored certificate verifies for each device's own key and user.
	for i, e := range []*core.Engine{phone, laptop} {
		cert, err := e.DeviceCert(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id := []*crypto.Identity{phoneID, laptopID}[i]
		c, err := crypto.VerifyDeviceCert(ed25519.PublicKey(catalog), cert, id.SignPublic())
		if err != nil || c.User != "alice" || c.Device != e.DeviceID() {
			t.Fatalf("cert of %s = %+v, %v", e.DeviceID(), c, err)
		}
	}
	// A device without a stored certificate fetches it again.
	if err := laptop.Store().Delete(ctx, []byte("cfg/device-cert")); err != nil {
		t.Fatal(err)
	}
	if _, err := laptop.DeviceCert(ctx); err != nil {
		t.Fatalf("re-fetch: %v", err)
	}

	stopRelay()

	open := func(e *core.Engine) (*core.Docs, *p2p.Node) {
		d, err := e.OpenDocs(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		n, err := d.StartLAN(ctx, nil, p2p.DefaultOptions().WithListen("/ip4/127.0.0.1/tcp/0").WithMDNS(false, ""))
		if err != nil {
			t.Fatal(err)
		}
		return d, n
	}
	pd, pn := open(phone)
	ld, ln := open(laptop)

	id, err := pd.Playlists().Create(ctx, "Offline mix")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pd.Playlists().Add(ctx, id, docs.AtEnd(), "t1", "t2"); err != nil {
		t.Fatal(err)
	}
	if err := ln.Connect(ctx, pn.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "laptop gets the playlist over LAN", func() bool {
		return slices.Equal(trackList(t, ld, id), []model.TrackID{"t1", "t2"})
	})
	if _, err := ld.Playlists().Add(ctx, id, docs.AtEnd(), "t3"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "phone gets the laptop's edit", func() bool {
		return slices.Equal(trackList(t, pd, id), []model.TrackID{"t1", "t2", "t3"})
	})
	ps := pn.Peers()
	if len(ps) != 1 || ps[0].User != "alice" || ps[0].Device != laptop.DeviceID() {
		t.Fatalf("phone's peers = %+v", ps)
	}
	// The LAN quota counts in the device's store (it survives a restart):
	// the laptop counts the documents alice's phone created on it, her
	// library (the relay was stopped before the laptop got it) and the
	// playlist.
	v, err := laptop.Store().Get(ctx, []byte("lanquota/alice"))
	if month := time.Now().UTC().Format("2006-01"); err != nil || !strings.HasPrefix(string(v), month+" 2 ") {
		t.Fatalf("laptop's LAN quota count of alice = %q, %v; want %s, 2 documents", v, err, month)
	}
}

// TestDeviceCertNeedsRegistration: an unregistered engine with no
// stored certificate cannot start LAN sync.
func TestDeviceCertNeedsRegistration(t *testing.T) {
	ctx := t.Context()
	origin, _ := stoppableRelay(t)
	e, err := core.Open(ctx, t.TempDir(), core.DefaultOptions().WithOrigins(origin).WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.DeviceCert(ctx); !errors.Is(err, core.ErrNotRegistered) {
		t.Fatalf("err = %v, want ErrNotRegistered", err)
	}
}

// TestLANForeignPeerCannotCreate: a LAN peer of another account (eve,
// registered with the same relay) syncs the documents alice's device
// already holds — her playlist that alice collaborates on and followed
// through the relay takes eve's edit over the LAN — but stores none it brings: not
// another public playlist, and not eve's document at the id of a
// playlist alice's library follows but her device has not received yet
// (owner eve, public: merged with alice's real playlist when the relay
// sent it, it made it eve's and public on the relay). Before, a LAN peer
// of any account could store any number of documents naming itself as
// owner.
func TestLANForeignPeerCannotCreate(t *testing.T) {
	ctx := t.Context()
	origin, stopRelay := stoppableRelay(t)
	phone, _ := registeredEngine(t, origin, "alice", "phone")
	eveDev, _ := registeredEngine(t, origin, "eve", "eve")
	ad, ed := syncingDocs(t, phone, "alice"), syncingDocs(t, eveDev, "eve")
	public := func(name string) docs.DocumentID {
		id, err := ed.Playlists().Create(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := ed.Playlists().SetPublic(ctx, id, true); err != nil {
			t.Fatal(err)
		}
		if _, err := ed.Playlists().Add(ctx, id, docs.AtEnd(), "t1"); err != nil {
			t.Fatal(err)
		}
		return id
	}
	shared := public("shared")
	if err := ed.Playlists().SetCollaborators(ctx, shared, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := ed.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ad.Playlists().Follow(ctx, shared); err != nil {
		t.Fatal(err)
	}
	if err := ad.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	startLAN(t, ad)
	startLAN(t, ed)
	stopRelay()
	spam := public("spam")
	planted, err := docs.NewDocumentID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := ad.Playlists().Follow(ctx, planted); err != nil {
		t.Fatal(err)
	}
	h, err := ed.Repo().Ensure(ctx, planted)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Change(ctx, func(d *automerge.Doc) error {
		p, err := docs.CreatePlaylist(d, "eve", "planted", docs.DefaultOptions())
		if err != nil {
			return err
		}
		return p.SetPublic(true)
	}); err != nil {
		t.Fatal(err)
	}

	en := lanLink(t, ed, ad)
	if _, err := ed.Playlists().Add(ctx, shared, docs.AtEnd(), "t2"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "eve's edit of the followed playlist reaches alice over the LAN", func() bool {
		return slices.Equal(trackList(t, ad, shared), []model.TrackID{"t1", "t2"})
	})
	if err := en.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	for _, id := range []docs.DocumentID{spam, planted} {
		if _, err := ad.Playlists().Get(ctx, id); !errors.Is(err, core.ErrNotPlaylist) {
			t.Errorf("alice holds eve's %s: %v", id, err)
		}
	}
}

// TestLANKeysFromRelay: devices fetch their LAN keys from a real relay
// when they start LAN sync, then sync with the relay gone: alice's
// laptop and bob (a collaborator on her playlist) sync with her phone;
// eve, registered but sharing nothing with alice, is refused dialling
// and dialled and never learns the phone's account. Once alice removes
// bob from the playlist, her phone's next LAN start (relay still gone)
// refuses him: it keeps only the keys of users its playlists name.
func TestLANKeysFromRelay(t *testing.T) {
	ctx := t.Context()
	origin, stopRelay := stoppableRelay(t)
	phoneE, _ := registeredEngine(t, origin, "alice", "phone")
	laptopE, _ := registeredEngine(t, origin, "alice", "laptop")
	bobE, _ := registeredEngine(t, origin, "bob", "bob")
	eveE, _ := registeredEngine(t, origin, "eve", "eve")
	phone, laptop := syncingDocs(t, phoneE, "alice"), syncingDocs(t, laptopE, "alice")
	bob, eve := syncingDocs(t, bobE, "bob"), syncingDocs(t, eveE, "eve")
	id := sharedPlaylist(t, phone, "bob", bob)
	waitUntil(t, "bob gets the playlist", func() bool { _, err := bob.Playlists().Get(ctx, id); return err == nil })
	pn, ln, bn, en := startLAN(t, phone), startLAN(t, laptop), startLAN(t, bob), startLAN(t, eve)
	stopRelay()

	if err := ln.Connect(ctx, pn.Addrs()[0]); err != nil {
		t.Fatalf("laptop: %v", err)
	}
	if err := bn.Connect(ctx, pn.Addrs()[0]); err != nil {
		t.Fatalf("bob: %v", err)
	}
	if _, err := bob.Playlists().Add(ctx, id, docs.AtEnd(), "b1"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "bob's edit reaches the laptop through the phone", func() bool {
		return slices.Equal(trackList(t, laptop, id), []model.TrackID{"b1"})
	})
	if err := en.Connect(ctx, pn.Addrs()[0]); err == nil {
		t.Fatal("eve synced with alice's phone")
	}
	if err := pn.Connect(ctx, en.Addrs()[0]); err == nil {
		t.Fatal("alice's phone synced with eve")
	}
	if ps := en.Peers(); len(ps) != 0 {
		t.Fatalf("eve's peers %+v", ps)
	}

	if err := phone.Playlists().SetCollaborators(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := phone.Close(); err != nil {
		t.Fatal(err)
	}
	phone2, err := phoneE.OpenDocs(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { phone2.Close() })
	pn2 := startLAN(t, phone2)
	if err := bn.Connect(ctx, pn2.Addrs()[0]); err == nil {
		t.Fatalf("bob, removed, dialling the restarted phone: %v", err)
	}
	if err := pn2.Connect(ctx, ln.Addrs()[0]); err != nil {
		t.Fatalf("the restarted phone dialling the laptop: %v", err)
	}
}
