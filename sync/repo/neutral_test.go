package repo

import (
	"context"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
)

// TestNeutralJudgesWholeBatch: a batch is judged by every change the
// document gains with it, not by the message's own: two dependent
// changes, a rename and an entry add, reach the relay in reverse order
// (the later one alone first), from the owner (unchecked: automerge
// queues the orphan and applies it with the next message) and from a
// collaborator (checked: the relay holds the orphan back and releases
// it with the next message). Whichever of the two is the rename, the
// batch that applies both is not neutral: the facts carry the new name
// and the ACL record is read again, so the next entry edit is neutral.
func TestNeutralJudgesWholeBatch(t *testing.T) {
	for _, c := range []struct {
		name         string
		collaborator bool
		renameFirst  bool
	}{
		{"owner, rename then entry", false, true},
		{"owner, entry then rename", false, false},
		{"collaborator, rename then entry", true, true},
		{"collaborator, entry then rename", true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			relay, err := Open(ctx, store.NewMemory(), testOptions(80).WithFacts(docs.EncodeFacts).WithFactsUpdate(docs.UpdateFacts))
			if err != nil {
				t.Fatal(err)
			}
			defer relay.Close()
			alice := openRepo(t, store.NewMemory(), 81)
			bob := openRepo(t, store.NewMemory(), 82)
			ha, hb := sharedWithBob(t, relay, alice, bob, "Mix")
			id := ha.ID()
			h, peer := ha, PeerID("alice-dev")
			if c.collaborator {
				h, peer = hb, "bob-dev"
			}
			syncUntilQuiet(t, relay, h.repo, "relay", peer, id)
			base := h.Heads()
			rename := func(p *docs.Playlist) error { return p.Rename("Renamed") }
			entry := func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "t1"); return err }
			edits := []func(p *docs.Playlist) error{entry, rename}
			if c.renameFirst {
				edits = []func(p *docs.Playlist) error{rename, entry}
			}
			for _, e := range edits {
				if err := h.Playlist(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			var raws [][]byte
			var hashes []automerge.ChangeHash
			if err := h.Read(func(d *automerge.Doc) error {
				chs, err := d.Changes(base...)
				for _, ch := range chs {
					raws, hashes = append(raws, ch.Save()), append(hashes, ch.Hash())
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if len(raws) != 2 {
				t.Fatalf("%d changes, want 2", len(raws))
			}
			in := Incoming{CheckACL: c.collaborator}
			neutral0 := relay.neutralBatches.Load()
			for _, i := range []int{1, 0} {
				m := wire.SyncMessage{Type: 0x42, Heads: [][32]byte{hashes[1]}, Changes: [][]byte{raws[i]}}
				if err := relay.ReceiveSyncMessageWith(ctx, peer, id, m.Encode(), in); err != nil {
					t.Fatalf("message with change %d: %v", i, err)
				}
			}
			hr, err := relay.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got := hr.Heads(); len(got) != 1 || got[0] != hashes[1] {
				t.Fatalf("relay heads %v, want the second change", got)
			}
			if n := relay.neutralBatches.Load() - neutral0; n != 0 {
				t.Fatalf("%d neutral batches, want 0", n)
			}
			if f := facts(t, relay, id); f.Name != "Renamed" {
				t.Fatalf("facts name %q after the rename", f.Name)
			}
			syncUntilQuiet(t, relay, h.repo, "relay", peer, id)
			if err := h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "t2"); return err }); err != nil {
				t.Fatal(err)
			}
			for range 4 {
				m, ok, err := h.repo.GenerateSyncMessage(ctx, "relay", id)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				if err := relay.ReceiveSyncMessageWith(ctx, peer, id, m, in); err != nil {
					t.Fatal(err)
				}
			}
			if n := relay.neutralBatches.Load() - neutral0; n != 1 {
				t.Fatalf("%d neutral batches after the next entry edit, want 1", n)
			}
		})
	}
}
