package repo

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
	"github.com/segue-fm/segue/sync/docs"
)

func testOptions(seed byte) Options {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	n := 0
	d := docs.DefaultOptions().
		WithRand(rand.NewChaCha8([32]byte{seed, 1})).
		WithClock(func() time.Time { n++; return t0.Add(time.Duration(n) * time.Millisecond) })
	return DefaultOptions().WithDocOptions(d).WithRand(rand.NewChaCha8([32]byte{seed, 2}))
}

func openRepo(t testing.TB, st store.Store, seed byte) *Repo {
	t.Helper()
	r, err := Open(context.Background(), st, testOptions(seed))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func entries(t testing.TB, h *Handle) []docs.Entry {
	t.Helper()
	var es []docs.Entry
	if err := h.ReadPlaylist(func(p *docs.Playlist) error {
		var err error
		es, err = p.Entries()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return es
}

// syncUntilQuiet runs the sync protocol between a and b for doc id over
// a lossless in-order channel and returns the number of messages sent
// and their total size.
func syncUntilQuiet(t testing.TB, a, b *Repo, pa, pb PeerID, id docs.DocumentID) (msgs, size int) {
	t.Helper()
	msgs, size, _ = syncRounds(t, a, b, pa, pb, id)
	return msgs, size
}

// syncRounds is syncUntilQuiet that also returns the number of rounds
// (a round: each side sends at most one message) that carried messages.
func syncRounds(t testing.TB, a, b *Repo, pa, pb PeerID, id docs.DocumentID) (msgs, size, rounds int) {
	t.Helper()
	ctx := context.Background()
	for range 100 {
		sent := false
		for _, dir := range []struct {
			from, to     *Repo
			fromID, toID PeerID
		}{{a, b, pa, pb}, {b, a, pb, pa}} {
			if _, err := dir.from.Ensure(ctx, id); err != nil {
				t.Fatal(err)
			}
			m, ok, err := dir.from.GenerateSyncMessage(ctx, dir.toID, id)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				continue
			}
			sent = true
			msgs++
			size += len(m)
			if err := dir.to.ReceiveSyncMessage(ctx, dir.fromID, id, m); err != nil {
				t.Fatal(err)
			}
		}
		if !sent {
			return msgs, size, rounds
		}
		rounds++
	}
	t.Fatal("sync did not quiesce in 100 rounds")
	return
}

func TestPersistReload(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		compaction int
	}{{"no compaction", 1000}, {"compaction every 3", 3}} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.NewMemory()
			r, err := Open(ctx, st, testOptions(1).WithCompaction(tc.compaction, 0))
			if err != nil {
				t.Fatal(err)
			}
			h, err := r.CreatePlaylist(ctx, "alice", "Mix")
			if err != nil {
				t.Fatal(err)
			}
			var ids []docs.EntryID
			for i := range 10 {
				err := h.Playlist(ctx, func(p *docs.Playlist) error {
					got, err := p.Add(docs.AtStart(), "alice", model.TrackID(rune('a'+i)))
					ids = append(ids, got...)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := h.Playlist(ctx, func(p *docs.Playlist) error { return p.Remove(ids[3]) }); err != nil {
				t.Fatal(err)
			}
			want := entries(t, h)
			incs := 0
			_ = st.Iterate(ctx, incPrefix(h.ID()), false, func(k, v []byte) error { incs++; return nil })
			if incs > tc.compaction {
				t.Fatalf("%d increments stored, compaction bound %d", incs, tc.compaction)
			}
			r.Close()

			r2 := openRepo(t, st, 2)
			h2, err := r2.Get(ctx, h.ID())
			if err != nil {
				t.Fatal(err)
			}
			if got := entries(t, h2); !slices.Equal(got, want) {
				t.Fatalf("reloaded entries differ:\n%v\n%v", got, want)
			}
			if !slices.Equal(h2.Heads(), h.Heads()) {
				t.Fatal("reloaded heads differ")
			}
			// Editing after reload uses a new actor and persists too.
			if err := h2.Playlist(ctx, func(p *docs.Playlist) error { return p.Rename("Mix 2") }); err != nil {
				t.Fatal(err)
			}
			ids2, _ := r2.List(ctx)
			if !slices.Equal(ids2, []docs.DocumentID{h.ID()}) {
				t.Fatalf("List = %v", ids2)
			}
			if _, err := r2.Get(ctx, docs.DocumentID{1}); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get unknown: %v", err)
			}
		})
	}
}

func TestCorruptStoredDocument(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	id := docs.DocumentID{9}
	if err := st.Set(ctx, snapKey(id), []byte("not automerge")); err != nil {
		t.Fatal(err)
	}
	r := openRepo(t, st, 3)
	if _, err := r.Get(ctx, id); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get corrupt: %v", err)
	}
}

func TestSyncAndEvents(t *testing.T) {
	ctx := context.Background()
	a := openRepo(t, store.NewMemory(), 4)
	b := openRepo(t, store.NewMemory(), 5)
	h, err := a.CreatePlaylist(ctx, "alice", "Shared")
	if err != nil {
		t.Fatal(err)
	}
	evB, cancelB := b.Subscribe(docs.DocumentID{})
	defer cancelB()
	evA, cancelA := a.Subscribe(h.ID())
	defer cancelA()

	syncUntilQuiet(t, a, b, "dev-a", "dev-b", h.ID())
	select {
	case e := <-evB:
		if e.Doc != h.ID() || !e.Remote || e.Peer != "dev-a" {
			t.Fatalf("event on b: %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no remote event on b")
	}
	hb, err := b.Get(ctx, h.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := hb.Playlist(ctx, func(p *docs.Playlist) error {
		_, err := p.Add(docs.AtEnd(), "bob", "t1")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	syncUntilQuiet(t, a, b, "dev-a", "dev-b", h.ID())
	select {
	case e := <-evA:
		if !e.Remote || !slices.Equal(e.Heads, hb.Heads()) {
			t.Fatalf("event on a: %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no remote event on a")
	}
	if !slices.Equal(entries(t, h), entries(t, hb)) {
		t.Fatal("replicas differ after sync")
	}
	if s, err := a.SyncState(ctx, "dev-b", h.ID()); err != nil || len(s) == 0 {
		t.Fatalf("sync state not persisted: %v", err)
	}
	if err := a.ReceiveSyncMessage(ctx, "dev-b", h.ID(), []byte{0x42, 1, 2}); !errors.Is(err, ErrBadMessage) {
		t.Fatalf("garbage message: %v", err)
	}
	if err := a.ReceiveSyncMessage(ctx, "a/b", h.ID(), nil); !errors.Is(err, ErrBadPeer) {
		t.Fatalf("bad peer: %v", err)
	}
	cancelA()
	if _, ok := <-evA; ok {
		// One buffered event may still be delivered before close; drain.
		for range evA {
		}
	}
}

// TestReconnectUsesPersistedSyncState: after a restart the persisted
// shared heads let one small exchange bring the peers back in sync.
func TestReconnectUsesPersistedSyncState(t *testing.T) {
	ctx := context.Background()
	stA, stB := store.NewMemory(), store.NewMemory()
	a, b := openRepo(t, stA, 6), openRepo(t, stB, 7)
	h, _ := a.CreatePlaylist(ctx, "alice", "Big")
	tracks := make([]model.TrackID, 2000)
	for i := range tracks {
		tracks[i] = model.TrackID("trk" + string(rune('A'+i%26)))
	}
	if err := h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", tracks...); return err }); err != nil {
		t.Fatal(err)
	}
	syncUntilQuiet(t, a, b, "A", "B", h.ID())
	a.Close()
	b.Close()
	a, b = openRepo(t, stA, 8), openRepo(t, stB, 9)
	h, _ = a.Get(ctx, h.ID())
	if err := h.Playlist(ctx, func(p *docs.Playlist) error { return p.Rename("Bigger") }); err != nil {
		t.Fatal(err)
	}
	msgs, size := syncUntilQuiet(t, a, b, "A", "B", h.ID())
	if size > 4096 {
		t.Fatalf("reconnect after restart sent %d bytes in %d messages; persisted sync state unused?", size, msgs)
	}
	hb, _ := b.Get(ctx, h.ID())
	if !slices.Equal(hb.Heads(), h.Heads()) {
		t.Fatal("not in sync after reconnect")
	}
}

func TestWriteCheckRejects(t *testing.T) {
	ctx := context.Background()
	relayOpts := testOptions(10).WithWriteCheck(func(peer PeerID, id docs.DocumentID, cur *automerge.Doc, in []*automerge.Change) error {
		if cur == nil || len(cur.Heads()) == 0 {
			return nil // first upload of a new document by its creator
		}
		p, err := docs.OpenPlaylist(cur, docs.DefaultOptions())
		if err != nil {
			return err
		}
		ok, err := p.CanWrite(model.UserID(peer))
		if err != nil || !ok {
			return errors.New("not a collaborator")
		}
		return nil
	})
	relay, err := Open(ctx, store.NewMemory(), relayOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	alice, mallory := openRepo(t, store.NewMemory(), 11), openRepo(t, store.NewMemory(), 12)
	h, _ := alice.CreatePlaylist(ctx, "alice", "Mine")
	syncUntilQuiet(t, alice, relay, "relay", "alice", h.ID())
	syncUntilQuiet(t, mallory, relay, "relay", "mallory", h.ID())
	hm, _ := mallory.Get(ctx, h.ID())
	if err := hm.Playlist(ctx, func(p *docs.Playlist) error { return p.Rename("pwned") }); err != nil {
		t.Fatal(err)
	}
	// Run the exchange until the message carrying the change reaches the
	// relay (the first one only advertises heads).
	var rejected error
	for i := 0; i < 10 && rejected == nil; i++ {
		if m, ok, err := mallory.GenerateSyncMessage(ctx, "relay", h.ID()); err != nil {
			t.Fatal(err)
		} else if ok {
			rejected = relay.ReceiveSyncMessage(ctx, "mallory", h.ID(), m)
		}
		if m, ok, err := relay.GenerateSyncMessage(ctx, "mallory", h.ID()); err != nil {
			t.Fatal(err)
		} else if ok {
			if err := mallory.ReceiveSyncMessage(ctx, "relay", h.ID(), m); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !errors.Is(rejected, ErrRejected) {
		t.Fatalf("mallory's change: %v, want ErrRejected", rejected)
	}
	hr, _ := relay.Get(ctx, h.ID())
	if !slices.Equal(hr.Heads(), h.Heads()) {
		t.Fatal("rejected change was applied")
	}
}

func TestLibraryHandle(t *testing.T) {
	ctx := context.Background()
	a, b := openRepo(t, store.NewMemory(), 13), openRepo(t, store.NewMemory(), 14)
	la, err := a.Library(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	lb, err := b.Library(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := la.Library(ctx, func(l *docs.Library) error { return l.SaveTracks("t1") }); err != nil {
		t.Fatal(err)
	}
	if err := lb.Library(ctx, func(l *docs.Library) error { return l.SaveTracks("t2") }); err != nil {
		t.Fatal(err)
	}
	syncUntilQuiet(t, a, b, "A", "B", la.ID())
	var n int
	_ = lb.ReadLibrary(func(l *docs.Library) error { ts, err := l.Tracks(); n = len(ts); return err })
	if n != 2 {
		t.Fatalf("library has %d tracks after offline creation on two devices, want 2", n)
	}
}

func TestBadgerBacked(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := badgerstore.Open(ctx, dir, badgerstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	r := openRepo(t, st, 15)
	h, err := r.CreatePlaylist(ctx, "alice", "Disk")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "t1", "t2"); return err }); err != nil {
		t.Fatal(err)
	}
	want := entries(t, h)
	r.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = badgerstore.Open(ctx, dir, badgerstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h2, err := openRepo(t, st, 16).Get(ctx, h.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got := entries(t, h2); !slices.Equal(got, want) {
		t.Fatalf("after reopen: %v, want %v", got, want)
	}
}

func FuzzReceiveSyncMessage(f *testing.F) {
	ctx := context.Background()
	a := openRepo(f, store.NewMemory(), 17)
	h, _ := a.CreatePlaylist(ctx, "alice", "Seed")
	_ = h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "t1"); return err })
	m, _, _ := a.GenerateSyncMessage(ctx, "x", h.ID())
	f.Add(m)
	f.Add([]byte{0x42})
	f.Add(bytes.Repeat([]byte{0x42, 0}, 8))
	f.Fuzz(func(t *testing.T, msg []byte) {
		b, err := Open(ctx, store.NewMemory(), DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		_ = b.ReceiveSyncMessage(ctx, "peer", docs.DocumentID{1}, msg)
	})
}

// TestCorruptDocumentSetAside: with WithSetAside a document whose stored
// bytes do not load is moved under docbad/ with its sync states deleted,
// the other documents load, and the next sync receives it whole from a
// peer that has it; without, Get keeps failing with ErrCorrupt.
func TestCorruptDocumentSetAside(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(v []byte) []byte
	}{
		{"junk", func([]byte) []byte { return []byte("not automerge") }},
		{"bad magic", func(v []byte) []byte { return append([]byte{v[0] ^ 0xff}, v[1:]...) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			relay := openRepo(t, store.NewMemory(), 4)
			st := store.NewMemory()
			dev, err := Open(ctx, st, testOptions(5).WithSetAside(true))
			if err != nil {
				t.Fatal(err)
			}
			h, err := relay.CreatePlaylist(ctx, "alice", "Shared")
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "t1", "t2"); return err }); err != nil {
				t.Fatal(err)
			}
			other, err := dev.CreatePlaylist(ctx, "alice", "Mine")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := dev.Ensure(ctx, h.ID()); err != nil {
				t.Fatal(err)
			}
			syncUntilQuiet(t, relay, dev, "relay", "dev", h.ID())
			if err := dev.Close(); err != nil {
				t.Fatal(err)
			}
			var keys [][]byte
			if err := st.Iterate(ctx, docPrefix(h.ID()), false, func(k, _ []byte) error {
				keys = append(keys, bytes.Clone(k))
				return nil
			}); err != nil || len(keys) == 0 {
				t.Fatalf("stored keys of the synced document: %d, %v", len(keys), err)
			}
			old, err := st.Get(ctx, keys[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Set(ctx, keys[0], tc.damage(old)); err != nil {
				t.Fatal(err)
			}
			strict := openRepo(t, st, 6)
			if _, err := strict.Get(ctx, h.ID()); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("without set-aside: %v, want ErrCorrupt", err)
			}
			strict.Close()
			dev = openRepo(t, st, 7)
			dev.opts.setAside = true
			if _, err := dev.Get(ctx, h.ID()); !errors.Is(err, ErrNotFound) {
				t.Fatalf("damaged document: %v, want ErrNotFound once set aside", err)
			}
			if _, err := dev.Get(ctx, other.ID()); err != nil {
				t.Fatalf("the other document: %v", err)
			}
			if v, err := st.Get(ctx, append([]byte(AsidePrefix+h.ID().String()+"/"), keys[0][len(docPrefix(h.ID())):]...)); err != nil || !bytes.Equal(v, tc.damage(old)) {
				t.Fatalf("damaged bytes not kept aside: %v", err)
			}
			if ids, err := dev.List(ctx); err != nil || !slices.Equal(ids, []docs.DocumentID{other.ID()}) {
				t.Fatalf("List after set-aside: %v, %v", ids, err)
			}
			if _, err := dev.Ensure(ctx, h.ID()); err != nil {
				t.Fatal(err)
			}
			syncUntilQuiet(t, relay, dev, "relay", "dev", h.ID())
			hd, err := dev.Get(ctx, h.ID())
			if err != nil {
				t.Fatal(err)
			}
			if got, want := entries(t, hd), entries(t, h); len(got) != 2 || !slices.Equal(got, want) {
				t.Fatalf("entries after the sync: %v, want %v", got, want)
			}
		})
	}
}
