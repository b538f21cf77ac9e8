package repo

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
)

// BenchmarkRelayReceiveEdit: the relay's side of one edit to a shared
// playlist of n entries — receive the editor's sync message, persist it
// (in-memory store, so CPU only) and generate the answer. "owner" edits
// are applied unchecked; "collaborator" edits go through the relay's
// access check the document keeps (Incoming.CheckACL, as the relay runs
// it), "collaborator-fresh" through a fresh check for every message
// (docs.CheckACLUntouched; until acl10h both applied the changes to
// forks of the document, the fresh one forking it for every message).
// "owner-history" edits a playlist whose n entries were added by n
// changes, one each (the others add them in one change): the cost of an
// edit as the document's history, not only its size, grows. Every edit
// adds one change, so run with a fixed -benchtime (e.g. 300x) to keep the
// history near n. ns/op is the relay work per edit; the editor's own
// work is outside the timer.
func BenchmarkRelayReceiveEdit(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		for _, who := range []string{"owner", "owner-history", "collaborator", "collaborator-fresh"} {
			b.Run(fmt.Sprintf("%s/%d", who, n), func(b *testing.B) {
				ctx := context.Background()
				r := openRepo(b, store.NewMemory(), 50)
				editor := openRepo(b, store.NewMemory(), 51)
				var h *Handle
				if who == "owner-history" {
					h = longPlaylist(b, editor, r, n)
				} else {
					h = bigPlaylist(b, editor, n)
				}
				if err := h.Playlist(ctx, func(p *docs.Playlist) error { return p.SetCollaborators("bob") }); err != nil {
					b.Fatal(err)
				}
				syncUntilQuiet(b, editor, r, "relay", "alice", h.ID())
				user, peer := model.UserID("alice"), PeerID("alice")
				var in Incoming
				switch who {
				case "collaborator":
					user, peer = "bob", "bob"
					in.CheckACL = true
				case "collaborator-fresh":
					user, peer = "bob", "bob"
					in.Check = docs.CheckACLUntouched
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					if err := h.Playlist(ctx, func(p *docs.Playlist) error {
						_, err := p.Add(docs.AtEnd(), user, model.TrackID(fmt.Sprintf("new%06d", i)))
						return err
					}); err != nil {
						b.Fatal(err)
					}
					for range 4 {
						msg, ok, err := editor.GenerateSyncMessage(ctx, "relay", h.ID())
						if err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
						if ok {
							if err := r.ReceiveSyncMessageWith(ctx, peer, h.ID(), msg, in); err != nil {
								b.Fatal(err)
							}
						}
						out, rok, err := r.GenerateSyncMessage(ctx, peer, h.ID())
						b.StopTimer()
						if err != nil {
							b.Fatal(err)
						}
						if rok {
							if err := editor.ReceiveSyncMessage(ctx, "relay", h.ID(), out); err != nil {
								b.Fatal(err)
							}
						}
						if !ok && !rok {
							break
						}
					}
					b.StartTimer()
				}
				b.StopTimer()
				var heads []automerge.ChangeHash
				rh, _ := r.Get(ctx, h.ID())
				heads = rh.Heads()
				if len(heads) != 1 || heads[0] != h.Heads()[0] {
					b.Fatal("relay did not converge with the editor")
				}
			})
		}
	}
}

// longPlaylist creates on editor a playlist of n entries added by n
// changes, one entry each, synced to relay as peer "relay" (editor is
// "alice" to it) every 50 changes: automerge 0.5 applying a thousand
// changes in one call allocates hundreds of megabytes. automerge-go frees
// the C results of list reads only in a finalizer, and an edit reads the
// playlist: the Go collector runs after each batch so that they do not
// pile up.
func longPlaylist(b *testing.B, editor, relay *Repo, n int) *Handle {
	b.Helper()
	ctx := context.Background()
	h, err := editor.CreatePlaylist(ctx, "alice", "Long")
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if err := h.Playlist(ctx, func(p *docs.Playlist) error {
			_, err := p.Add(docs.AtEnd(), "alice", model.TrackID(fmt.Sprintf("trk%06d", i)))
			return err
		}); err != nil {
			b.Fatal(err)
		}
		if i%50 == 49 || i == n-1 {
			syncUntilQuiet(b, editor, relay, "relay", "alice", h.ID())
			runtime.GC()
		}
	}
	return h
}

// BenchmarkRelayReloadEdit: the relay receives the owner's next edit to
// a playlist of n entries added by n changes, one each, right after
// loading it from the store (the first edit after a restart, or to a
// document unloaded past the loaded-document budget): the load, the
// change graph, the edit and its increment. ns/op is that receive;
// reopening the repository is not timed. Each edit adds one change, so
// run with a fixed -benchtime (e.g. 20x).
func BenchmarkRelayReloadEdit(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ctx := context.Background()
			st := store.NewMemory()
			opts := testOptions(50).WithCompaction(1<<30, 1<<30)
			r, err := Open(ctx, st, opts)
			if err != nil {
				b.Fatal(err)
			}
			defer func() { r.Close() }()
			editor := openRepo(b, store.NewMemory(), 51)
			h := longPlaylist(b, editor, r, n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				before := h.Heads()
				if err := h.Playlist(ctx, func(p *docs.Playlist) error {
					_, err := p.Add(docs.AtEnd(), "alice", model.TrackID(fmt.Sprintf("new%06d", i)))
					return err
				}); err != nil {
					b.Fatal(err)
				}
				raws := changesSince(b, h, before)
				msg := wire.SyncMessage{Type: 0x42, Heads: [][32]byte{h.Heads()[0]}, Changes: raws}.Encode()
				r.Close()
				if r, err = Open(ctx, st, opts); err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				b.StartTimer()
				if err := r.ReceiveSyncMessage(ctx, "alice", h.ID(), msg); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			rh, err := r.Get(ctx, h.ID())
			if err != nil {
				b.Fatal(err)
			}
			if heads := rh.Heads(); len(heads) != 1 || heads[0] != h.Heads()[0] {
				b.Fatal("relay did not converge with the editor")
			}
		})
	}
}

// changesSince returns the raw changes h's document has gained since
// heads before, in its order.
func changesSince(tb testing.TB, h *Handle, before []automerge.ChangeHash) [][]byte {
	tb.Helper()
	var raws [][]byte
	if err := h.Read(func(d *automerge.Doc) error {
		chs, err := d.Changes(before...)
		for _, c := range chs {
			raws = append(raws, c.Save())
		}
		automerge.CloseChanges(chs)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	return raws
}
