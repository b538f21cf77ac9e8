package peer

import (
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
)

// TestPlaylistAccessMemo: the sharing of a playlist is read once per
// document content, whichever user asks, and read again after it changes.
func TestPlaylistAccessMemo(t *testing.T) {
	doc := automerge.New()
	p, err := docs.CreatePlaylist(doc, "alice", "mix", docs.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetCollaborators("bob", "carol"); err != nil {
		t.Fatal(err)
	}
	misses := func() uint64 {
		aclMemo.Lock()
		defer aclMemo.Unlock()
		return aclMemo.misses
	}
	check := func(user model.UserID, want Access) {
		t.Helper()
		got, err := PlaylistAccess(user, "alice", doc)
		if err != nil || got != want {
			t.Fatalf("%s: %+v, %v; want %+v", user, got, err, want)
		}
	}
	m0 := misses()
	check("alice", Access{Read: true, Write: true, Manage: true})
	check("bob", Access{Read: true, Write: true})
	check("dave", Access{})
	if n := misses() - m0; n != 1 {
		t.Fatalf("three users on one document content read its sharing %d times, want 1", n)
	}
	if err := p.SetCollaborators("carol"); err != nil {
		t.Fatal(err)
	}
	if err := p.SetPublic(true); err != nil {
		t.Fatal(err)
	}
	check("bob", Access{Read: true})
	check("carol", Access{Read: true, Write: true})
	if n := misses() - m0; n != 2 {
		t.Fatalf("after a change: %d reads, want 2", n)
	}
	check("bob", Access{Read: true})
	if _, err := PlaylistAccess("bob", "alice", automerge.New()); err != nil {
		t.Fatalf("empty document: %v", err)
	}
}
