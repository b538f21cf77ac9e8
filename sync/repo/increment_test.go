package repo

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
)

// TestIncrementsHoldEachChangeOnce: whichever way a change reached the
// document (a sync message, read from the change graph; a local edit;
// the first message after a reload, which builds a new graph and falls
// back to SaveIncremental; automerge's own sync states, which keep no
// graph), the store's increments hold every change of the document
// exactly once — their bytes add up to the changes' own — and a reload
// from them gives the same heads.
func TestIncrementsHoldEachChangeOnce(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		goSync bool
		// steps: 'e' the editor edits and syncs to the relay, 'l' the
		// relay edits locally and syncs back, 'r' the relay's repo is
		// closed and reopened.
		steps string
	}{
		{"received changes", true, "eeeee"},
		{"received and local changes", true, "eelleel"},
		{"reopened between messages", true, "eereerle"},
		{"automerge sync states", false, "eeleree"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.NewMemory()
			opts := testOptions(30).WithCompaction(1000, 0).WithGoSync(tc.goSync)
			open := func() *Repo {
				r, err := Open(ctx, st, opts)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			r := open()
			defer func() { r.Close() }()
			editor := openRepo(t, store.NewMemory(), 31)
			h, err := editor.CreatePlaylist(ctx, "alice", "Mix")
			if err != nil {
				t.Fatal(err)
			}
			id := h.ID()
			syncUntilQuiet(t, editor, r, "relay", "alice", id)
			add := func(rp *Repo, i int) {
				t.Helper()
				hh, err := rp.Get(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if err := hh.Playlist(ctx, func(p *docs.Playlist) error {
					_, err := p.Add(docs.AtEnd(), "alice", model.TrackID(fmt.Sprintf("t%03d", i)))
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
			for i, s := range tc.steps {
				switch s {
				case 'e':
					add(editor, i)
				case 'l':
					add(r, i)
				case 'r':
					r.Close()
					r = open()
				}
				syncUntilQuiet(t, editor, r, "relay", "alice", id)
			}
			rh, err := r.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			want := rh.Heads()
			if !slices.Equal(want, h.Heads()) {
				t.Fatal("relay and editor did not converge")
			}
			changeBytes := 0
			if err := rh.Read(func(d *automerge.Doc) error {
				chs, err := d.Changes()
				if err != nil {
					return err
				}
				defer automerge.CloseChanges(chs)
				for _, c := range chs {
					changeBytes += len(c.Save())
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			incBytes := 0
			if err := st.Iterate(ctx, incPrefix(id), false, func(k, v []byte) error {
				inc, err := openRecord(k, v)
				incBytes += len(inc)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Get(ctx, snapKey(id)); err == nil {
				t.Fatal("the relay stored a snapshot: the comparison below assumes increments only")
			}
			if incBytes != changeBytes {
				t.Errorf("increments hold %d bytes, the document's changes %d", incBytes, changeBytes)
			}
			r.Close()
			r = open()
			rh, err = r.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got := rh.Heads(); !slices.Equal(got, want) {
				t.Errorf("reloaded heads %v, want %v", got, want)
			}
		})
	}
}
