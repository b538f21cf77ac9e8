package relaysync_test

import (
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/wire"
)

// TestCollaboratorCannotReplaceEntries: a collaborator edits inside a
// playlist's entries map but may not replace or delete the map itself.
// A put of a string or a list at the root key "entries" was taken (an
// operation on none of the owner's fields) and left a playlist no one
// could read or add to, the owner included; a delete or a new map
// dropped every entry at once, past what the owner's devices can undo.
func TestCollaboratorCannotReplaceEntries(t *testing.T) {
	commit := func(doc *automerge.Doc, err error) error {
		if err != nil {
			return err
		}
		_, err = doc.Commit("bob's edit")
		return err
	}
	tests := []struct {
		name    string
		edit    func(doc *automerge.Doc) error
		refused bool
	}{
		{"entry added", func(doc *automerge.Doc) error {
			p, err := docs.OpenPlaylist(doc, docs.DefaultOptions())
			if err != nil {
				return err
			}
			_, err = p.Add(docs.AtEnd(), "bob", "t2")
			return err
		}, false},
		{"entries replaced by a string", func(doc *automerge.Doc) error { return commit(doc, doc.RootMap().Set("entries", "x")) }, true},
		{"entries replaced by a list", func(doc *automerge.Doc) error { return commit(doc, doc.RootMap().Set("entries", automerge.NewList())) }, true},
		{"entries replaced by an empty map", func(doc *automerge.Doc) error { return commit(doc, doc.RootMap().Set("entries", automerge.NewMap())) }, true},
		{"entries deleted", func(doc *automerge.Doc) error { return commit(doc, doc.RootMap().Delete("entries")) }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url, repo := openRelay(t, relaysync.DefaultOptions())
			id, doc := playlist(t, false)
			p, err := docs.OpenPlaylist(doc, docs.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if err := p.SetCollaborators("bob"); err != nil {
				t.Fatal(err)
			}
			upload(t, url, id, doc)
			bob, err := doc.Fork()
			if err != nil {
				t.Fatal(err)
			}
			defer bob.Close()
			if err := tc.edit(bob); err != nil {
				t.Fatal(err)
			}
			m, err := syncUntilQuiet(t, dial(t, url, "bob"), id, bob, "bob-dev")
			if err != nil {
				t.Fatal(err)
			}
			if refused := m != nil && m.Type == wire.TypeError; refused != tc.refused || (m != nil && !refused) {
				t.Fatalf("bob's edit answered %+v, want refused %v", m, tc.refused)
			}
			want := []string{"t1", "t2"}
			if tc.refused {
				want = want[:1]
			}
			if got := relayTracks(t, repo, id); len(got) != len(want) || got[0] != "t1" {
				t.Fatalf("relay's entries %v, want %v", got, want)
			}
		})
	}
}
