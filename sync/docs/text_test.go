package docs

import (
	"slices"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/core/model"
)

// TestTextStrings reads a playlist whose string fields are collaborative
// Text, as Automerge 3 JS writes plain strings.
func TestTextStrings(t *testing.T) {
	doc := automerge.New()
	root := doc.RootMap()
	for k, v := range map[string]string{"type": string(KindPlaylist), "name": "road trip", "owner": "alice", "description": "js"} {
		if err := root.Set(k, automerge.NewText(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := root.Set("collaborators", automerge.NewMap()); err != nil {
		t.Fatal(err)
	}
	if err := root.Set("entries", automerge.NewMap()); err != nil {
		t.Fatal(err)
	}
	e := automerge.NewMap()
	if err := doc.Path("entries").Map().Set("e1", e); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"trackId": "t1", "pos": "a0", "addedBy": "alice"} {
		if err := doc.Path("entries", "e1").Map().Set(k, automerge.NewText(v)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := doc.Commit("js"); err != nil {
		t.Fatal(err)
	}
	k, err := KindOf(doc)
	if err != nil || k != KindPlaylist {
		t.Fatalf("KindOf = %q, %v", k, err)
	}
	p, err := OpenPlaylist(doc, testOpts(1))
	if err != nil {
		t.Fatal(err)
	}
	info, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "road trip" || info.Owner != "alice" || info.Description != "js" {
		t.Fatalf("info = %+v", info)
	}
	if ok, _ := p.CanWrite("alice"); !ok {
		t.Fatal("owner written as text cannot write")
	}
	if got := tracks(mustEntries(t, p)); !slices.Equal(got, []model.TrackID{"t1"}) {
		t.Fatalf("entries = %v", got)
	}
	// Renaming to the same text is a no-op, not an empty-commit error.
	if err := p.Rename("road trip"); err != nil {
		t.Fatal(err)
	}
}

// TestNoOpActions checks that actions that change nothing return nil
// without committing.
func TestNoOpActions(t *testing.T) {
	doc := automerge.New()
	p, err := CreatePlaylist(doc, "alice", "mix", testOpts(2))
	if err != nil {
		t.Fatal(err)
	}
	heads := doc.Heads()
	steps := []struct {
		name string
		fn   func() error
	}{
		{"private again", func() error { return p.SetPublic(false) }},
		{"same name", func() error { return p.Rename("mix") }},
		{"same description", func() error { return p.Describe("") }},
		{"no collaborators", func() error { return p.SetCollaborators() }},
	}
	for _, s := range steps {
		if err := s.fn(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !slices.Equal(heads, doc.Heads()) {
			t.Fatalf("%s committed", s.name)
		}
	}
	if err := p.SetPublic(true); err != nil {
		t.Fatal(err)
	}
	if err := p.SetPublic(true); err != nil {
		t.Fatal(err)
	}
	if _, _, pub, _ := p.Access(); !pub {
		t.Fatal("not public")
	}
}
