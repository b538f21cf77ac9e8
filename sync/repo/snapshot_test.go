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
			alice, err := Open(ctx, store.NewMemory(), testOptions(70).WithGoSync(false))
			if err != nil {
				t.Fatal(err)
			}
			defer alice.Close()
			ha, err := alice.CreatePlaylist(ctx, "alice", "Mix")
			if err != nil {
				t.Fatal(err)
			}
			if err := ha.Playlist(ctx, add("alice", 2)); err != nil {
				t.Fatal(err)
			}
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
