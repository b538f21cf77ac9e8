package docs

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/core/model"
)

func sameEntries(a, b []Entry) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d entries, want %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || x.Track != y.Track || x.Pos != y.Pos || x.AddedBy != y.AddedBy || !x.AddedAt.Equal(y.AddedAt) {
			return fmt.Errorf("entry %d: %+v, want %+v", i, x, y)
		}
	}
	return nil
}

// checkView asserts that p's view equals a fresh read of its document.
func checkView(t *testing.T, p *Playlist, step string) {
	t.Helper()
	got, err := p.Entries()
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	want, err := readEntries(p.Doc())
	if err != nil {
		t.Fatal(err)
	}
	if err := sameEntries(got, want); err != nil {
		t.Fatalf("%s: view differs from the document: %v", step, err)
	}
}

// randomEdit makes one random local edit on p through its API.
func randomEdit(t *testing.T, p *Playlist, rng *rand.Rand, step int) string {
	t.Helper()
	es, err := p.Entries()
	if err != nil {
		t.Fatal(err)
	}
	pick := func() EntryID { return es[rng.IntN(len(es))].ID }
	positions := func() Position {
		switch rng.IntN(5) {
		case 0:
			return AtStart()
		case 1:
			return AtEnd()
		case 2:
			return AtIndex(rng.IntN(len(es)))
		case 3:
			return Before(pick())
		default:
			return After(pick())
		}
	}
	op := rng.IntN(10)
	if len(es) < 3 {
		op = 0
	}
	switch {
	case op < 4:
		n := 1 + rng.IntN(3)
		tr := make([]model.TrackID, n)
		for i := range tr {
			tr[i] = model.TrackID(fmt.Sprintf("t%d-%d", step, i))
		}
		pos := AtEnd()
		if len(es) > 0 {
			pos = positions()
		}
		if _, err := p.Add(pos, "alice", tr...); err != nil {
			t.Fatalf("step %d add: %v", step, err)
		}
		return "add"
	case op < 7:
		id := pick()
		pos := positions()
		if pos.ref == id {
			pos = AtStart()
		}
		if pos.kind == posIndex && pos.index > len(es)-1 {
			pos = AtEnd()
		}
		if err := p.Move(id, pos); err != nil {
			t.Fatalf("step %d move: %v", step, err)
		}
		return "move"
	case op < 9:
		if err := p.Remove(pick()); err != nil {
			t.Fatalf("step %d remove: %v", step, err)
		}
		return "remove"
	default:
		if err := p.Rename(fmt.Sprintf("name %d", step)); err != nil {
			t.Fatal(err)
		}
		return "rename"
	}
}

// TestEntryViewLocalEdits: random local edits keep the view equal to a
// fresh read of the document without ever re-reading every entry, and
// failed edits leave it intact.
func TestEntryViewLocalEdits(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			p := newPlaylist(t, byte(seed))
			checkView(t, p, "new")
			built := p.view.Rebuilds()
			for step := range 300 {
				what := randomEdit(t, p, rng, step)
				checkView(t, p, fmt.Sprintf("step %d (%s)", step, what))
			}
			es := mustEntries(t, p)
			if err := p.Move(es[0].ID, AtIndex(len(es))); err == nil {
				t.Fatal("move past the end succeeded")
			}
			if err := p.Remove(es[1].ID, "nope"); err == nil {
				t.Fatal("remove of a missing entry succeeded")
			}
			checkView(t, p, "after failed edits")
			if got := p.view.Rebuilds(); got != built {
				t.Fatalf("local edits rebuilt the view %d times", got-built)
			}
		})
	}
}

// TestEntryViewMergesAndForeignWrites: concurrent edits on other
// replicas, merged in both directions, and writes that bypass the view
// (a foreign client's malformed entry, a raw pos write) make the view
// rebuild once and then equal a fresh read again.
func TestEntryViewMergesAndForeignWrites(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 11))
			a := newPlaylist(t, byte(10+seed))
			if _, err := a.Add(AtEnd(), "alice", "s1", "s2", "s3", "s4"); err != nil {
				t.Fatal(err)
			}
			b := fork(t, a, byte(20+seed))
			for round := range 20 {
				for range 1 + rng.IntN(5) {
					randomEdit(t, a, rng, round*100)
					randomEdit(t, b, rng, round*100+50)
				}
				checkView(t, a, "a before merge")
				checkView(t, b, "b before merge")
				before := a.view.Rebuilds()
				if _, err := a.Doc().Merge(b.Doc()); err != nil {
					t.Fatal(err)
				}
				if round%2 == 1 {
					// An edit outside entries right after the merge must
					// not pass the merged heads off as the view's.
					if err := a.Rename(fmt.Sprintf("round %d", round)); err != nil {
						t.Fatal(err)
					}
				}
				checkView(t, a, fmt.Sprintf("round %d: a after merge", round))
				if got := a.view.Rebuilds() - before; got != 1 {
					t.Fatalf("round %d: merge rebuilt the view %d times, want 1", round, got)
				}
				if _, err := b.Doc().Merge(a.Doc()); err != nil {
					t.Fatal(err)
				}
				checkView(t, b, "b after merge")
				if err := sameEntries(mustEntries(t, a), mustEntries(t, b)); err != nil {
					t.Fatalf("round %d: replicas differ: %v", round, err)
				}
			}
			// Writes that bypass the view.
			es := mustEntries(t, a)
			if err := a.Doc().Path("entries", "zz-malformed").Set(automerge.NewMap()); err != nil {
				t.Fatal(err)
			}
			if err := a.Doc().Path("entries", string(es[0].ID), "pos").Set("a0"); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Doc().Commit("foreign"); err != nil {
				t.Fatal(err)
			}
			checkView(t, a, "after foreign writes")
			if err := a.Remove("zz-malformed"); err != nil {
				t.Fatalf("remove malformed entry: %v", err)
			}
			checkView(t, a, "after removing the malformed entry")
		})
	}
}
