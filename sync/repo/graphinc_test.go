package repo

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
	"github.com/segue-fm/segue/sync/wire"
)

// loadStored loads document id from st as Repo.read does, with
// automerge alone: the snapshot (if any), then every increment in
// sequence order with LoadIncremental. It also returns the bytes of the
// increments and the changes the snapshot holds.
func loadStored(t *testing.T, st store.Store, id docs.DocumentID) (d *automerge.Doc, incBytes int, inSnap map[automerge.ChangeHash]bool) {
	t.Helper()
	ctx := context.Background()
	d = automerge.New()
	inSnap = map[automerge.ChangeHash]bool{}
	if v, err := st.Get(ctx, snapKey(id)); err == nil {
		snap, err := openRecord(snapKey(id), v)
		if err != nil {
			t.Fatal(err)
		}
		if d, err = automerge.Load(snap); err != nil {
			t.Fatal(err)
		}
		chs, err := d.Changes()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range chs {
			inSnap[c.Hash()] = true
		}
		automerge.CloseChanges(chs)
	}
	if err := st.Iterate(ctx, incPrefix(id), false, func(k, v []byte) error {
		inc, err := openRecord(k, v)
		if err != nil {
			return err
		}
		incBytes += len(inc)
		return d.LoadIncremental(inc)
	}); err != nil {
		t.Fatal(err)
	}
	return d, incBytes, inSnap
}

// storedContent is what TestIncrementFromGraph compares of two stored
// documents.
type storedContent struct {
	heads   []automerge.ChangeHash
	changes []automerge.ChangeHash // sorted
	name    string
	entries []docs.Entry
}

func contentOf(t *testing.T, d *automerge.Doc) storedContent {
	t.Helper()
	c := storedContent{heads: d.Heads()}
	chs, err := d.Changes()
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range chs {
		c.changes = append(c.changes, ch.Hash())
	}
	automerge.CloseChanges(chs)
	slices.SortFunc(c.changes, func(a, b automerge.ChangeHash) int { return bytes.Compare(a[:], b[:]) })
	p, err := docs.OpenPlaylist(d, docs.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	info, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	c.name = info.Name
	if c.entries, err = p.Entries(); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestIncrementFromGraph: a relay on the Go sync states writes each
// increment from its change graph's chunks (Handle.increment, no
// SaveIncremental); fed the same messages as a relay on automerge's
// SaveIncremental path (WithGoSync(false)), its store loads — snapshot
// plus increments, with automerge alone — into the same document: same
// heads, same changes, same name and entries, the relay's own heads;
// and its increments hold every change after the snapshot exactly once.
// Batches come from the owner (unchecked) and a collaborator (the ACL
// check), in order or last change first (automerge queues the owner's
// orphan, the relay holds the collaborator's back), with a rename, an
// edit of the relay's own, a reopen of both relays (the graph is
// rebuilt from the loaded document) and a compaction between them.
func TestIncrementFromGraph(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// steps: 'a' alice (owner) adds two entries, one change each,
		// sent in one message; 'A' the same sent last change first, one
		// per message; 'b', 'B' the same by bob (collaborator, checked);
		// 'n' alice renames; 'l' the Go relay adds an entry itself and
		// the change is sent to the other relay; 'r' both relays are
		// reopened; 'c' both relays compact.
		steps string
	}{
		{"owner batches", "aaa"},
		{"owner, queued orphans", "aAaA"},
		{"collaborator batches", "bbb"},
		{"collaborator, held back", "bBbB"},
		{"rename, local edit, reopen", "anbrlAbrB"},
		{"after a compaction", "aacAbBr"},
		{"reopened before anything", "rabl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			goSt, amSt := store.NewMemory(), store.NewMemory()
			opts := testOptions(90).WithCompaction(1000, 0)
			var goRelay, amRelay *Repo
			open := func() {
				var err error
				if goRelay, err = Open(ctx, goSt, opts.WithGoSync(true)); err != nil {
					t.Fatal(err)
				}
				if amRelay, err = Open(ctx, amSt, opts.WithGoSync(false)); err != nil {
					t.Fatal(err)
				}
			}
			open()
			defer func() { goRelay.Close(); amRelay.Close() }()

			alice := automerge.New()
			defer alice.Close()
			p, err := docs.CreatePlaylist(alice, "alice", "Mix", docs.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if err := p.SetCollaborators("bob"); err != nil {
				t.Fatal(err)
			}
			id := docs.DeriveDocumentID("test", tc.name)
			bob, err := alice.Fork()
			if err != nil {
				t.Fatal(err)
			}
			defer bob.Close()
			// deliver sends the same messages to both relays.
			deliver := func(peer PeerID, in Incoming, msgs ...[]byte) {
				t.Helper()
				for _, m := range msgs {
					for _, r := range []*Repo{goRelay, amRelay} {
						if err := r.ReceiveSyncMessageWith(ctx, peer, id, m, in); err != nil {
							t.Fatalf("%s: %v", peer, err)
						}
					}
				}
			}
			// send delivers the changes of d since *sent, in one message
			// or one per change last first.
			send := func(d *automerge.Doc, sent *[]automerge.ChangeHash, peer PeerID, in Incoming, reverse bool) {
				t.Helper()
				chs, err := d.Changes(*sent...)
				if err != nil {
					t.Fatal(err)
				}
				defer automerge.CloseChanges(chs)
				var heads [][32]byte
				for _, h := range d.Heads() {
					heads = append(heads, h)
				}
				var raws [][]byte
				for _, c := range chs {
					raws = append(raws, c.Save())
				}
				if !reverse {
					deliver(peer, in, wire.SyncMessage{Type: 0x42, Heads: heads, Changes: raws}.Encode())
				} else {
					for i := len(raws) - 1; i >= 0; i-- {
						deliver(peer, in, wire.SyncMessage{Type: 0x42, Heads: heads, Changes: raws[i : i+1]}.Encode())
					}
				}
				*sent = d.Heads()
			}
			var aliceSent, bobSent []automerge.ChangeHash
			send(alice, &aliceSent, "alice-dev", Incoming{}, false)
			edit := func(d *automerge.Doc, by model.UserID, step int, fn func(p *docs.Playlist) error) {
				t.Helper()
				p, err := docs.OpenPlaylist(d, docs.DefaultOptions())
				if err != nil {
					t.Fatal(err)
				}
				if fn == nil {
					fn = func(p *docs.Playlist) error {
						for j := range 2 {
							if _, err := p.Add(docs.AtEnd(), by, model.TrackID(fmt.Sprintf("%s-%d-%d", by, step, j))); err != nil {
								return err
							}
						}
						return nil
					}
				}
				if err := fn(p); err != nil {
					t.Fatal(err)
				}
			}
			for i, s := range tc.steps {
				switch s {
				case 'a', 'A', 'n':
					if _, err := alice.Merge(bob); err != nil {
						t.Fatal(err)
					}
					var fn func(p *docs.Playlist) error
					if s == 'n' {
						fn = func(p *docs.Playlist) error { return p.Rename(fmt.Sprintf("Mix %d", i)) }
					}
					edit(alice, "alice", i, fn)
					send(alice, &aliceSent, "alice-dev", Incoming{}, s == 'A')
				case 'b', 'B':
					if _, err := bob.Merge(alice); err != nil {
						t.Fatal(err)
					}
					edit(bob, "bob", i, nil)
					send(bob, &bobSent, "bob-dev", Incoming{CheckACL: true}, s == 'B')
				case 'l':
					h, err := goRelay.Get(ctx, id)
					if err != nil {
						t.Fatal(err)
					}
					before := h.Heads()
					if err := h.Playlist(ctx, func(p *docs.Playlist) error {
						_, err := p.Add(docs.AtStart(), "alice", model.TrackID(fmt.Sprintf("relay-%d", i)))
						return err
					}); err != nil {
						t.Fatal(err)
					}
					raws := changesSince(t, h, before)
					var heads [][32]byte
					for _, h := range h.Heads() {
						heads = append(heads, h)
					}
					if err := amRelay.ReceiveSyncMessage(ctx, "go-relay", id, wire.SyncMessage{Type: 0x42, Heads: heads, Changes: raws}.Encode()); err != nil {
						t.Fatal(err)
					}
				case 'r':
					goRelay.Close()
					amRelay.Close()
					open()
				case 'c':
					for _, r := range []*Repo{goRelay, amRelay} {
						h, err := r.Get(ctx, id)
						if err != nil {
							t.Fatal(err)
						}
						if err := h.Compact(ctx); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			h, err := goRelay.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			live := h.Heads()
			goDoc, goInc, goSnap := loadStored(t, goSt, id)
			defer goDoc.Close()
			amDoc, _, _ := loadStored(t, amSt, id)
			defer amDoc.Close()
			got, want := contentOf(t, goDoc), contentOf(t, amDoc)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("graph increments load into\n%+v\nSaveIncremental's into\n%+v", got, want)
			}
			if !slices.Equal(got.heads, live) {
				t.Fatalf("stored heads %v, the relay's %v", got.heads, live)
			}
			if n := len(got.entries); n < len(tc.steps) {
				t.Fatalf("%d entries after %d steps", n, len(tc.steps))
			}
			after := 0
			chs, err := goDoc.Changes()
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range chs {
				if !goSnap[c.Hash()] {
					after += len(c.Save())
				}
			}
			automerge.CloseChanges(chs)
			if goInc != after {
				t.Fatalf("increments hold %d bytes, the changes after the snapshot %d", goInc, after)
			}
		})
	}
}

// TestGraphFromStore: a relay loading a document stored as increments
// alone builds its change graph from their chunks (storedGraph, no cgo),
// and that graph is msync.Index's of the loaded document: same changes,
// order, chunks and heads, also when its increments repeat a change
// (automerge's SaveIncremental after a graph increment could, before
// store10). A snapshot leaves the graph to be indexed on first use.
// Either way the relay then syncs and stores the next edit.
func TestGraphFromStore(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// prepare changes the store before the relay reopens.
		prepare func(t *testing.T, st store.Store, id docs.DocumentID)
		fromInc bool
	}{
		{"increments", func(*testing.T, store.Store, docs.DocumentID) {}, true},
		{"a change repeated", func(t *testing.T, st store.Store, id docs.DocumentID) {
			v, err := st.Get(ctx, incKey(id, 1))
			if err != nil {
				t.Fatal(err)
			}
			inc, err := openRecord(incKey(id, 1), v)
			if err != nil {
				t.Fatal(err)
			}
			k := incKey(id, 1000)
			if err := st.Update(ctx, func(tx store.Txn) error { return tx.Set(k, frameRecord(k, inc)) }); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"compacted", func(t *testing.T, st store.Store, id docs.DocumentID) {
			r, err := Open(ctx, st, testOptions(92))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			h, err := r.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Compact(ctx); err != nil {
				t.Fatal(err)
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.NewMemory()
			relay, err := Open(ctx, st, testOptions(92))
			if err != nil {
				t.Fatal(err)
			}
			editor := openRepo(t, store.NewMemory(), 93)
			h, err := editor.CreatePlaylist(ctx, "alice", "Mix")
			if err != nil {
				t.Fatal(err)
			}
			id := h.ID()
			for i := range 5 {
				if err := h.Playlist(ctx, func(p *docs.Playlist) error {
					_, err := p.Add(docs.AtEnd(), "alice", model.TrackID(fmt.Sprintf("t%d", i)))
					return err
				}); err != nil {
					t.Fatal(err)
				}
				syncUntilQuiet(t, editor, relay, "relay", "alice", id)
			}
			relay.Close()
			tc.prepare(t, st, id)
			relay, err = Open(ctx, st, testOptions(92))
			if err != nil {
				t.Fatal(err)
			}
			defer relay.Close()
			rh, err := relay.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			rh.mu.Lock()
			g := rh.changes
			want, err := msync.Index(rh.doc)
			rh.mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			if (g != nil) != tc.fromInc {
				t.Fatalf("graph built at load: %v, want %v", g != nil, tc.fromInc)
			}
			if g != nil {
				if g.Len() != want.Len() || !slices.Equal(g.Heads(), want.Heads()) {
					t.Fatalf("graph from the store: %d changes, heads %v; Index: %d, %v", g.Len(), g.Heads(), want.Len(), want.Heads())
				}
				for i := range g.Len() {
					a, errA := g.RawAt(i)
					b, errB := want.RawAt(i)
					if errA != nil || errB != nil || !bytes.Equal(a, b) {
						t.Fatalf("change %d differs from Index's (%v, %v)", i, errA, errB)
					}
				}
			}
			if err := h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "last"); return err }); err != nil {
				t.Fatal(err)
			}
			syncUntilQuiet(t, editor, relay, "relay", "alice", id)
			if got := rh.Heads(); !slices.Equal(got, h.Heads()) {
				t.Fatalf("relay heads %v, editor %v", got, h.Heads())
			}
			d, _, _ := loadStored(t, st, id)
			defer d.Close()
			if !slices.Equal(d.Heads(), h.Heads()) {
				t.Fatal("the store does not hold the last edit")
			}
		})
	}
}
