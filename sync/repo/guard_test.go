package repo

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/internal/amchunk"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
)

// TestDeviceGuardsLANPeer: a device keeps automerge's sync states
// (WithGoSync(false)), so automerge itself applies what a peer sends. A
// LAN peer's messages (Incoming.Guard) go through msync's guard first:
// a change automerge aborts the process on (amchunk.AbortingChange, which
// depends on nothing and would apply at once; without the guard this
// test binary dies of SIGABRT) is refused with nothing applied, in a
// creation and in an existing document, while a correct change is
// applied and the document still saves and loads.
func TestDeviceGuardsLANPeer(t *testing.T) {
	ctx := context.Background()
	aborting, err := amchunk.AbortingChange()
	if err != nil {
		t.Fatal(err)
	}
	bad := (&msync.Message{Raw: [][]byte{aborting}}).Encode()
	lan := Incoming{Guard: true, Writer: "bob", CheckACL: true}
	for _, tc := range []struct {
		name   string
		create bool
	}{{"existing document", false}, {"creation", true}} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Open(ctx, store.NewMemory(), testOptions(43).WithGoSync(false))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			id, err := docs.NewDocumentID(r.rand)
			if err != nil {
				t.Fatal(err)
			}
			in := lan
			if tc.create {
				in = Incoming{Guard: true, Create: func(store.Txn) error { return nil }}
			} else {
				alice := newDevice(t, sharedPlaylist(t), "alice", true)
				alice.in = Incoming{}
				if err := alice.sync(t, r, id); err != nil {
					t.Fatal(err)
				}
			}
			h, err := r.Ensure(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			before := h.Heads()
			err = r.ReceiveSyncMessageWith(ctx, "bob-phone", id, bad, in)
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("aborting change: %v, want ErrBadMessage", err)
			}
			if !slices.Equal(h.Heads(), before) {
				t.Fatal("the refused message changed the document")
			}
			if tc.create {
				return
			}
			var saved []byte
			if err := h.Read(func(d *automerge.Doc) error { saved = d.Save(); return nil }); err != nil {
				t.Fatal(err)
			}
			fork, err := automerge.Load(saved)
			if err != nil {
				t.Fatal(err)
			}
			bob := newDevice(t, fork, "bob", false)
			bob.in = lan
			edit := bob.commit(t, "name", "bob's")
			if err := bob.sync(t, r, id); err != nil {
				t.Fatalf("bob's correct change: %v", err)
			}
			if !hasChange(t, r, id, edit) {
				t.Fatal("bob's correct change was not applied")
			}
			if err := h.Read(func(d *automerge.Doc) error { saved = d.Save(); return nil }); err != nil {
				t.Fatal(err)
			}
			loaded, err := automerge.Load(saved)
			if err != nil {
				t.Fatalf("the document no longer loads: %v", err)
			}
			loaded.Close()
		})
	}
}
