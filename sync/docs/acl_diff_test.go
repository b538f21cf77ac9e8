package docs

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
)

// aclEdit is one random edit of the differential test; acl reports
// whether it may write an ACL field (it is then not required to pass).
type aclEdit struct {
	name string
	acl  bool
	do   func(rng *rand.Rand, p *Playlist) error
}

// collabKeys are the collaborators the random edits add, remove and nest.
var collabKeys = []string{"bob", "carol", "dave"}

// aclEdits are the edits a collaborator (or the owner, concurrently)
// makes in TestACLCheckDifferential: entries and name, and every kind of
// write to each ACL field (scalar and text owner, flat and nested
// collaborators, writing the value already there).
var aclEdits = []aclEdit{
	{"add entries", false, func(rng *rand.Rand, p *Playlist) error {
		_, err := p.Add(AtEnd(), "bob", model.TrackID(fmt.Sprint("t", rng.IntN(100))))
		return err
	}},
	{"add at start", false, func(rng *rand.Rand, p *Playlist) error {
		_, err := p.Add(AtStart(), "bob", "s")
		return err
	}},
	{"move", false, func(rng *rand.Rand, p *Playlist) error {
		es, err := p.Entries()
		if err != nil || len(es) == 0 {
			return err
		}
		return p.Move(es[rng.IntN(len(es))].ID, AtEnd())
	}},
	{"remove", false, func(rng *rand.Rand, p *Playlist) error {
		es, err := p.Entries()
		if err != nil || len(es) == 0 {
			return err
		}
		return p.Remove(es[rng.IntN(len(es))].ID)
	}},
	{"rename", false, func(rng *rand.Rand, p *Playlist) error { return p.Rename(fmt.Sprint("name ", rng.IntN(10))) }},
	{"describe", false, func(rng *rand.Rand, p *Playlist) error { return p.Describe(fmt.Sprint("about ", rng.IntN(10))) }},
	{"owner scalar", true, func(rng *rand.Rand, p *Playlist) error {
		return p.Doc().RootMap().Set("owner", []string{"alice", "bob"}[rng.IntN(2)])
	}},
	{"owner same value over a put", true, func(rng *rand.Rand, p *Playlist) error {
		return setTwice(p.Doc().RootMap(), "owner", "bob", "alice")
	}},
	{"owner to text", true, func(rng *rand.Rand, p *Playlist) error {
		return p.Doc().RootMap().Set("owner", automerge.NewText("alice"))
	}},
	{"owner text splice", true, func(rng *rand.Rand, p *Playlist) error { return spliceText(rng, p.Doc(), "owner") }},
	{"delete a field", true, func(rng *rand.Rand, p *Playlist) error {
		return p.Doc().RootMap().Delete(ACLFields[rng.IntN(len(ACLFields))])
	}},
	{"collaborator put", true, func(rng *rand.Rand, p *Playlist) error {
		return p.Doc().Path("collaborators").Map().Set(collabKeys[rng.IntN(len(collabKeys))], rng.IntN(2) == 0)
	}},
	{"collaborator same value over a put", true, func(rng *rand.Rand, p *Playlist) error {
		return setTwice(p.Doc().Path("collaborators").Map(), "bob", false, true)
	}},
	{"collaborator delete", true, func(rng *rand.Rand, p *Playlist) error {
		m := p.Doc().Path("collaborators").Map()
		keys, err := m.Keys()
		if err != nil || len(keys) == 0 {
			return err
		}
		return m.Delete(keys[rng.IntN(len(keys))])
	}},
	{"collaborator nested map", true, func(rng *rand.Rand, p *Playlist) error {
		if err := p.Doc().Path("collaborators").Map().Set("carol", automerge.NewMap()); err != nil {
			return err
		}
		return p.Doc().Path("collaborators", "carol").Map().Set("role", "writer")
	}},
	{"nested value edit", true, func(rng *rand.Rand, p *Playlist) error {
		v, err := p.Doc().Path("collaborators", "carol").Get()
		if err != nil || v.Kind() != automerge.KindMap {
			return err
		}
		return v.Map().Set("role", []string{"reader", "writer"}[rng.IntN(2)])
	}},
	{"nested list append", true, func(rng *rand.Rand, p *Playlist) error {
		v, err := p.Doc().Path("collaborators", "log").Get()
		if err != nil {
			return err
		}
		if v.Kind() != automerge.KindList {
			return p.Doc().Path("collaborators").Map().Set("log", automerge.NewList())
		}
		return v.List().Append("entry")
	}},
	{"collaborators replaced", true, func(rng *rand.Rand, p *Playlist) error {
		if err := p.Doc().RootMap().Set("collaborators", automerge.NewMap()); err != nil {
			return err
		}
		return p.Doc().Path("collaborators").Map().Set("bob", true)
	}},
	{"public", true, func(rng *rand.Rand, p *Playlist) error { return p.SetPublic(rng.IntN(2) == 0) }},
	{"public same value over a put", true, func(rng *rand.Rand, p *Playlist) error {
		v, err := p.Doc().RootMap().Get("public")
		if err != nil {
			return err
		}
		cur := v.Kind() == automerge.KindBool && v.Bool()
		return setTwice(p.Doc().RootMap(), "public", !cur, cur)
	}},
	{"type", true, func(rng *rand.Rand, p *Playlist) error {
		return p.Doc().RootMap().Set("type", []string{"playlist", "library"}[rng.IntN(2)])
	}},
}

// TestACLCheckDifferential: with seeded randomness, many documents
// (scalar or text owner, flat or nested collaborators) and rounds of
// collaborator batches (one to three dependent changes, sometimes a
// concurrent branch from another device, sometimes after the owner's own
// concurrent edits, ACL ones included) are checked by the check from
// operations and by the fork-based oracle: the new check refuses every
// batch the oracle refuses, accepts every batch that writes no ACL
// field, and a reused ACLCheck decides as a fresh one. Accepted batches
// are applied, so the documents evolve.
func TestACLCheckDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 0xac1))
	docs, rounds := 30, 15
	if testing.Short() {
		docs = 8
	}
	var bothRefused, onlyNewRefused, accepted, missedTouch int
	for di := range docs {
		alice := newPlaylist(t, 1)
		if err := alice.SetCollaborators("bob"); err != nil {
			t.Fatal(err)
		}
		if rng.IntN(2) == 0 {
			must(t, alice.Doc().RootMap().Set("owner", automerge.NewText("alice")))
		}
		if rng.IntN(2) == 0 {
			must(t, alice.Doc().Path("collaborators").Map().Set("carol", automerge.NewMap()))
			must(t, alice.Doc().Path("collaborators", "carol").Map().Set("role", "writer"))
		}
		if _, err := alice.Add(AtEnd(), "alice", "a1", "a2"); err != nil {
			t.Fatal(err)
		}
		commitPending(t, alice.Doc())
		var reused ACLCheck
		for r := range rounds {
			seed := byte(2 + (di*rounds+r)%200)
			bob := fork(t, alice, seed)
			base := bob.Doc().Heads()
			var names []string
			touched := false
			if rng.IntN(3) == 0 {
				e := aclEdits[rng.IntN(len(aclEdits))]
				for e.name == "type" || e.name == "delete a field" {
					// The owner keeps the document a playlist (each round
					// opens a replica of it as one).
					e = aclEdits[rng.IntN(len(aclEdits))]
				}
				if err := e.do(rng, alice); err != nil {
					t.Fatalf("alice %s: %v", e.name, err)
				}
				commitPending(t, alice.Doc())
				names = append(names, "alice: "+e.name)
			}
			edit := func(p *Playlist, who string) {
				for range 1 + rng.IntN(3) {
					for range 1 + rng.IntN(2) {
						e := aclEdits[rng.IntN(len(aclEdits))]
						if rng.IntN(3) > 0 {
							e = aclEdits[rng.IntN(6)] // mostly harmless edits
						}
						touched = touched || e.acl
						if err := e.do(rng, p); err != nil {
							t.Fatalf("%s %s: %v", who, e.name, err)
						}
						names = append(names, who+": "+e.name)
					}
					commitPending(t, p.Doc())
				}
			}
			edit(bob, "bob")
			changes, err := bob.Doc().Changes(base...)
			must(t, err)
			if rng.IntN(4) == 0 {
				// A second device of bob's, concurrent with the first.
				d, err := bob.Doc().Fork(base...)
				must(t, err)
				branch, err := OpenPlaylist(d, testOpts(seed+100))
				must(t, err)
				edit(branch, "bob's other device")
				more, err := branch.Doc().Changes(base...)
				must(t, err)
				changes = append(more, changes...)
			}
			rng.Shuffle(len(changes), func(i, j int) { changes[i], changes[j] = changes[j], changes[i] })
			oracle := forkCheckACLUntouched(alice.Doc(), changes)
			got := CheckACLUntouched(alice.Doc(), changes)
			again := reused.Check(alice.Doc(), changes)
			where := fmt.Sprintf("doc %d round %d %q", di, r, names)
			if oracle != nil && !errors.Is(oracle, ErrACLChange) {
				t.Fatalf("%s: oracle: %v", where, oracle)
			}
			if got != nil && !errors.Is(got, ErrACLChange) {
				t.Fatalf("%s: check: %v", where, got)
			}
			if (got == nil) != (again == nil) {
				t.Fatalf("%s: reused check %v, fresh check %v", where, again, got)
			}
			switch {
			case oracle != nil && got == nil:
				t.Fatalf("%s: the oracle refuses (%v), the check from operations accepts", where, oracle)
			case !touched && got != nil:
				t.Fatalf("%s: no ACL edit, refused: %v", where, got)
			case oracle != nil:
				bothRefused++
			case got != nil:
				onlyNewRefused++
			default:
				accepted++
				if touched {
					missedTouch++
				}
			}
			if got == nil {
				if err := alice.Doc().Apply(changes...); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	t.Logf("batches: %d refused by both, %d only by the check from operations, %d accepted (%d of them with an ACL edit that wrote no operation or one into an invisible object)",
		bothRefused, onlyNewRefused, accepted, missedTouch)
	if bothRefused == 0 || onlyNewRefused == 0 || accepted == 0 {
		t.Fatal("the random batches did not reach every outcome")
	}
}
