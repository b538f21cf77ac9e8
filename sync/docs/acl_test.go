package docs

import (
	"errors"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"
)

// TestCheckACLUntouched: bob, a collaborator, edits his replica of
// alice's playlist; the changes he would send are checked against
// alice's copy. Entry and name edits pass; every write to owner,
// collaborators, public or type is caught, including ones that write
// the value already there and ones made concurrently with alice's later
// edits, and so is a put or delete of the entries map itself.
func TestCheckACLUntouched(t *testing.T) {
	cases := []struct {
		name string
		edit func(p *Playlist) error
		want error
	}{
		{"add entries", func(p *Playlist) error { _, err := p.Add(AtEnd(), "bob", "t1", "t2"); return err }, nil},
		{"rename", func(p *Playlist) error { return p.Rename("bob's trip") }, nil},
		{"move", func(p *Playlist) error {
			es, err := p.Entries()
			if err != nil {
				return err
			}
			return p.Move(es[0].ID, AtEnd())
		}, nil},
		{"owner to bob", func(p *Playlist) error { return p.Doc().RootMap().Set("owner", "bob") }, ErrACLChange},
		// automerge-go writes no operation for a put of the value already
		// there, so "the same value" is written as a put over a put: the
		// change's operations end on the value the field had.
		{"owner set and restored", func(p *Playlist) error { return setTwice(p.Doc().RootMap(), "owner", "bob", "alice") }, ErrACLChange},
		{"owner deleted", func(p *Playlist) error { return p.Doc().RootMap().Delete("owner") }, ErrACLChange},
		{"clear collaborators", func(p *Playlist) error { return p.SetCollaborators() }, ErrACLChange},
		{"add collaborator", func(p *Playlist) error { return p.SetCollaborators("bob", "carol") }, ErrACLChange},
		{"collaborator set and restored", func(p *Playlist) error {
			return setTwice(p.Doc().Path("collaborators").Map(), "bob", false, true)
		}, ErrACLChange},
		{"collaborators replaced", func(p *Playlist) error {
			return p.Doc().RootMap().Set("collaborators", automerge.NewMap())
		}, ErrACLChange},
		{"make public", func(p *Playlist) error { return p.SetPublic(true) }, ErrACLChange},
		{"public set and restored", func(p *Playlist) error { return setTwice(p.Doc().RootMap(), "public", true, false) }, ErrACLChange},
		{"type changed", func(p *Playlist) error { return p.Doc().RootMap().Set("type", "library") }, ErrACLChange},
		{"entries replaced by a string", func(p *Playlist) error { return p.Doc().RootMap().Set("entries", "x") }, ErrACLChange},
		{"entries replaced by a map", func(p *Playlist) error { return p.Doc().RootMap().Set("entries", automerge.NewMap()) }, ErrACLChange},
		{"entries deleted", func(p *Playlist) error { return p.Doc().RootMap().Delete("entries") }, ErrACLChange},
		{"remove entries", func(p *Playlist) error {
			es, err := p.Entries()
			if err != nil {
				return err
			}
			return p.Remove(es[0].ID, es[1].ID)
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			alice := newPlaylist(t, 1)
			if err := alice.SetCollaborators("bob"); err != nil {
				t.Fatal(err)
			}
			if _, err := alice.Add(AtEnd(), "alice", "a1", "a2"); err != nil {
				t.Fatal(err)
			}
			bob := fork(t, alice, 2)
			base := bob.Doc().Heads()
			// Alice edits concurrently: bob's changes do not build on these.
			if _, err := alice.Add(AtStart(), "alice", "a0"); err != nil {
				t.Fatal(err)
			}
			if err := c.edit(bob); err != nil {
				t.Fatal(err)
			}
			commitPending(t, bob.Doc())
			changes, err := bob.Doc().Changes(base...)
			if err != nil {
				t.Fatal(err)
			}
			heads := alice.Doc().Heads()
			err = CheckACLUntouched(alice.Doc(), changes)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("CheckACLUntouched = %v, want %v", err, c.want)
			}
			if got := alice.Doc().Heads(); len(got) != len(heads) || got[0] != heads[0] {
				t.Fatalf("the check changed the document: heads %v, want %v", got, heads)
			}
		})
	}
}

// TestCheckACLUntouchedMissingDeps: a change sent without the change it
// depends on cannot be checked and is refused.
func TestCheckACLUntouchedMissingDeps(t *testing.T) {
	alice := newPlaylist(t, 1)
	bob := fork(t, alice, 2)
	base := bob.Doc().Heads()
	if err := bob.SetPublic(true); err != nil {
		t.Fatal(err)
	}
	mid := bob.Doc().Heads()
	if err := bob.Rename("x"); err != nil {
		t.Fatal(err)
	}
	all, err := bob.Doc().Changes(base...)
	if err != nil {
		t.Fatal(err)
	}
	last, err := bob.Doc().Changes(mid...)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckACLUntouched(alice.Doc(), last); !errors.Is(err, ErrMissingDeps) {
		t.Fatalf("only the dependent change: %v, want ErrMissingDeps", err)
	}
	if err := CheckACLUntouched(alice.Doc(), all); !errors.Is(err, ErrACLChange) {
		t.Fatalf("both changes: %v, want ErrACLChange", err)
	}
}

// setTwice puts a then b at key in one change.
func setTwice(m *automerge.Map, key string, a, b any) error {
	if err := m.Set(key, a); err != nil {
		return err
	}
	return m.Set(key, b)
}

// commitPending commits raw edits made through the automerge API (the
// views commit their own).
func commitPending(t *testing.T, d *automerge.Doc) {
	t.Helper()
	if _, err := d.Commit("raw edit", automerge.CommitOptions{AllowEmpty: true}); err != nil {
		t.Fatal(err)
	}
}

// TestACLCheckReused: one ACLCheck serves a document across many
// messages — bob's accepted edits (applied to alice's copy, as the
// relay does), refused ones, alice's own concurrent edits, and alice
// changing the ACL herself (adding carol, replacing the collaborators
// map, making it public and private) — and always decides as a fresh
// CheckACLUntouched does, without touching the document.
func TestACLCheckReused(t *testing.T) {
	type step struct {
		name  string
		alice func(p *Playlist) error // alice's edit before bob's, nil for none
		bob   func(p *Playlist) error
	}
	add := func(p *Playlist) error { _, err := p.Add(AtEnd(), "bob", "b"); return err }
	steps := []step{
		{"add", nil, add},
		{"add again", nil, add},
		{"owner to bob", nil, func(p *Playlist) error { return p.Doc().RootMap().Set("owner", "bob") }},
		{"add after refusal", nil, add},
		{"alice adds carol, bob adds", func(p *Playlist) error { return p.SetCollaborators("bob", "carol") }, add},
		{"bob re-puts carol", nil, func(p *Playlist) error {
			return setTwice(p.Doc().Path("collaborators").Map(), "carol", false, true)
		}},
		{"alice edits concurrently", func(p *Playlist) error { _, err := p.Add(AtStart(), "alice", "a"); return err }, add},
		{"alice replaces the map", func(p *Playlist) error {
			if err := p.Doc().RootMap().Set("collaborators", automerge.NewMap()); err != nil {
				return err
			}
			return p.Doc().Path("collaborators").Map().Set("bob", true)
		}, add},
		{"bob adds to the new map", nil, func(p *Playlist) error { return p.Doc().Path("collaborators").Map().Set("mallory", true) }},
		{"alice makes it public", func(p *Playlist) error { return p.SetPublic(true) }, add},
		{"bob re-puts public", nil, func(p *Playlist) error { return setTwice(p.Doc().RootMap(), "public", false, true) }},
		{"alice makes it private", func(p *Playlist) error { return p.SetPublic(false) }, add},
		{"bob deletes public", nil, func(p *Playlist) error { return p.Doc().RootMap().Delete("public") }},
		{"bob renames", nil, func(p *Playlist) error { return p.Rename("trip") }},
	}
	alice := newPlaylist(t, 1)
	if err := alice.SetCollaborators("bob"); err != nil {
		t.Fatal(err)
	}
	var c ACLCheck
	for i, s := range steps {
		bob := fork(t, alice, byte(10+i))
		base := bob.Doc().Heads()
		if s.alice != nil {
			if err := s.alice(alice); err != nil {
				t.Fatal(err)
			}
			commitPending(t, alice.Doc())
		}
		if err := s.bob(bob); err != nil {
			t.Fatal(err)
		}
		commitPending(t, bob.Doc())
		changes, err := bob.Doc().Changes(base...)
		if err != nil {
			t.Fatal(err)
		}
		heads := alice.Doc().Heads()
		want := CheckACLUntouched(alice.Doc(), changes)
		got := c.Check(alice.Doc(), changes)
		if (want == nil) != (got == nil) || want != nil && want.Error() != got.Error() {
			t.Fatalf("%s: reused check = %v, fresh check = %v", s.name, got, want)
		}
		if !slices.Equal(alice.Doc().Heads(), heads) {
			t.Fatalf("%s: the check changed the document", s.name)
		}
		t.Logf("%s: %v (ACL objects read %d times so far)", s.name, got, c.reads)
		if got == nil {
			if err := alice.Doc().Apply(changes...); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The ACL objects are read at the start and after each of alice's 5
	// edits (the heads moved); bob's accepted and refused changes keep
	// them (the heads are those the check expected).
	if c.reads != 6 {
		t.Fatalf("read the ACL objects %d times, want 6", c.reads)
	}
}
