package repo

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/internal/amchunk"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/msync"
	"github.com/segue-fm/segue/sync/wire"
)

// TestUnsavableChange: a change encoded as automerge never writes it (a
// run of repeated values split in two, amchunk.SplitRun) is applied by
// automerge 0.5, whose document then saves to bytes it cannot load. The
// relay refuses it (msync.Guard), lazy or applying, and its document
// stays as it was; a device, whose sync is automerge's own, applies it,
// and compacting its document stores the changes instead of the
// unloadable snapshot: after a restart the document loads with the same
// heads and entries.
func TestUnsavableChange(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		opts    Options
		refused bool
	}{
		{"device", testOptions(71).WithGoSync(false), false},
		{"relay, lazy", relayOptions(72), true},
		{"relay, applying", relayOptions(73).WithLazyApply(false), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.NewMemory()
			r, err := Open(ctx, st, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { r.Close() }()
			alice, ha := deviceMix(t, 70)
			syncUntilQuiet(t, alice, r, "alice-dev", "relay", ha.ID())
			before := ha.Heads()
			if err := ha.Playlist(ctx, add("alice", 1)); err != nil {
				t.Fatal(err)
			}
			var raw []byte
			if err := ha.Read(func(d *automerge.Doc) error {
				chs, err := d.Changes(before...)
				if err == nil && len(chs) == 1 {
					raw = chs[0].Save()
				}
				automerge.CloseChanges(chs)
				return err
			}); err != nil || raw == nil {
				t.Fatalf("read the change: %v", err)
			}
			bad, err := amchunk.SplitRun(raw)
			if err != nil {
				t.Fatal(err)
			}
			c, err := msync.ParseChange(bad)
			if err != nil {
				t.Fatal(err)
			}
			h := mustGet(t, r, ha.ID())
			was := h.Heads()
			msg := wire.SyncMessage{Type: 0x42, Heads: [][32]byte{c.Hash}, Changes: [][]byte{bad}}
			err = r.ReceiveSyncMessage(ctx, "alice-dev", ha.ID(), msg.Encode())
			if tc.refused {
				if !errors.Is(err, ErrBadMessage) {
					t.Fatalf("relay took the change: %v", err)
				}
				if got := h.Heads(); !slices.Equal(got, was) {
					t.Fatalf("heads %v after a refused change, want %v", got, was)
				}
			} else {
				if err != nil {
					t.Fatalf("device refused the change: %v", err)
				}
				if !slices.Contains(h.Heads(), automerge.ChangeHash(c.Hash)) {
					t.Fatal("the change is not among the device's heads")
				}
				if err := h.Read(func(d *automerge.Doc) error {
					saved, err := automerge.Load(d.Save())
					if err == nil {
						saved.Close()
						return errors.New("the document's saved bytes load: the change is not the hazard this test is about")
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			want, wantEntries := h.Heads(), entries(t, h)
			if err := h.Compact(ctx); err != nil {
				t.Fatalf("compact: %v", err)
			}
			r.Close()
			if r, err = Open(ctx, st, tc.opts); err != nil {
				t.Fatal(err)
			}
			h = mustGet(t, r, ha.ID())
			if got := h.Heads(); !slices.Equal(got, want) {
				t.Fatalf("heads after a restart %v, want %v", got, want)
			}
			if got := entries(t, h); !slices.Equal(got, wantEntries) {
				t.Fatalf("entries after a restart %v, want %v", got, wantEntries)
			}
		})
	}
}

// deviceMix opens a device's repo (automerge's own sync), closed when
// the test ends, holding alice's playlist "Mix" of two entries.
func deviceMix(t *testing.T, seed byte) (*Repo, *Handle) {
	t.Helper()
	ctx := context.Background()
	alice, err := Open(ctx, store.NewMemory(), testOptions(seed).WithGoSync(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alice.Close() })
	ha, err := alice.CreatePlaylist(ctx, "alice", "Mix")
	if err != nil {
		t.Fatal(err)
	}
	if err := ha.Playlist(ctx, add("alice", 2)); err != nil {
		t.Fatal(err)
	}
	return alice, ha
}

// TestSnapshotClosing: the background compaction's snapshot frees the
// document before its check and loads it again only when the check
// fails: a document that saves well is never loaded again; one holding
// a change automerge saves to bytes it cannot load is stored as its
// changes, read from the document loaded again; a load that fails or
// reaches other heads is an errSnapshot.
func TestSnapshotClosing(t *testing.T) {
	ctx := context.Background()
	_, ha := deviceMix(t, 74)
	if err := ha.Playlist(ctx, add("alice", 1)); err != nil {
		t.Fatal(err)
	}
	var good, last []byte
	if err := ha.Read(func(d *automerge.Doc) error {
		chs, err := d.Changes()
		if err != nil {
			return err
		}
		defer automerge.CloseChanges(chs)
		for _, c := range chs[:len(chs)-1] {
			good = append(good, c.Save()...)
		}
		last = chs[len(chs)-1].Save()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	bad, err := amchunk.SplitRun(last)
	if err != nil {
		t.Fatal(err)
	}
	healthy := append(slices.Clone(good), last...)
	unsavable := append(slices.Clone(good), bad...)
	load := func(b []byte) func() (*automerge.Doc, error) {
		return func() (*automerge.Doc, error) { return automerge.Load(b) }
	}
	for _, tc := range []struct {
		name      string
		doc       []byte
		reload    func() (*automerge.Doc, error)
		asChanges bool
		reloads   int
		err       bool
	}{
		{"saves well", healthy, load(healthy), false, 0, false},
		{"unsavable change", unsavable, load(unsavable), true, 1, false},
		{"load again fails", unsavable, func() (*automerge.Doc, error) { return nil, errors.New("store gone") }, false, 1, true},
		{"loaded again elsewhere", unsavable, load(good), false, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := automerge.Load(tc.doc)
			if err != nil {
				t.Fatal(err)
			}
			heads := d.Heads()
			reloads := 0
			snap, asChanges, err := snapshotClosing(d, func() (*automerge.Doc, error) { reloads++; return tc.reload() })
			if reloads != tc.reloads {
				t.Errorf("loaded again %d times, want %d", reloads, tc.reloads)
			}
			if tc.err {
				if !errors.Is(err, errSnapshot) || snap != nil {
					t.Fatalf("snapshot %d bytes, err %v; want errSnapshot", len(snap), err)
				}
				return
			}
			if err != nil || asChanges != tc.asChanges {
				t.Fatalf("as changes %v, err %v; want %v", asChanges, err, tc.asChanges)
			}
			if err := loadsTo(snap, heads); err != nil {
				t.Fatalf("the snapshot does not load back: %v", err)
			}
		})
	}
}
