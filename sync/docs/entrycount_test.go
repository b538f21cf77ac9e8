package docs

import (
	"errors"
	"fmt"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/core/model"
)

// countOf returns the EntryCount of every change of doc, fed in the
// order doc holds them (dependencies first).
func countOf(t *testing.T, doc *automerge.Doc) *EntryCount {
	t.Helper()
	cs, err := doc.Changes()
	if err != nil {
		t.Fatal(err)
	}
	var c EntryCount
	for _, ch := range cs {
		ops, err := DecodeChangeOps(ch.Save())
		if err != nil {
			t.Fatal(err)
		}
		c.Apply(ops)
	}
	return &c
}

// TestEntryCount: EntryCount, reading changes alone, counts the entries
// automerge holds after adds, removals, moves and re-keys, concurrent
// removals of one entry, a removal concurrent with a move, an entry
// id set concurrently on two replicas, and an entries map made anew; and
// CheckEntries refuses changes past MaxEntries but not a shrinking one.
func TestEntryCount(t *testing.T) {
	p, ids := longNeighbours(t, 1)
	a, b := fork(t, p, 2), fork(t, p, 3)
	for _, step := range []func() error{
		func() error { _, err := a.Add(After(ids[4]), "alice", "x1", "x2"); return err },
		func() error { return a.Remove(ids[0], ids[1]) },
		func() error { return b.Remove(ids[1], ids[2]) },
		func() error { return a.Move(ids[3], AtEnd()) },
		func() error { return b.Remove(ids[3]) },
		func() error { return a.Doc().Path("entries", "0000000000000042").Set(automerge.NewMap()) },
		func() error { _, err := a.Doc().Commit("raw"); return err },
		func() error { return b.Doc().Path("entries", "0000000000000042").Set(automerge.NewMap()) },
		func() error { _, err := b.Doc().Commit("raw"); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	merge(t, a, b)
	for _, doc := range []*automerge.Doc{p.Doc(), a.Doc(), b.Doc()} {
		if got, want := countOf(t, doc).Len(), doc.Path("entries").Map().Len(); got != want {
			t.Fatalf("counted %d entries, automerge holds %d", got, want)
		}
	}
	// An entries map made anew replaces the old one.
	if err := b.Doc().RootMap().Set("entries", automerge.NewMap()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Doc().Commit("reset"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Add(AtEnd(), "alice", "y"); err != nil {
		t.Fatal(err)
	}
	if got := countOf(t, b.Doc()).Len(); got < b.Doc().Path("entries").Map().Len() {
		t.Fatalf("counted %d entries, fewer than automerge's %d", got, b.Doc().Path("entries").Map().Len())
	}

	// CheckEntries: the changes after heads, applied on the count of
	// the document before them.
	full := newPlaylist(t, 4)
	ts := make([]model.TrackID, MaxEntries)
	for i := range ts {
		ts[i] = model.TrackID(fmt.Sprint("t", i))
	}
	if _, err := full.Add(AtEnd(), "alice", ts[:MaxEntries-1]...); err != nil {
		t.Fatal(err)
	}
	raw := func(p *Playlist, del []EntryID, keys ...string) error {
		for _, id := range del {
			if err := p.Doc().Path("entries").Map().Delete(string(id)); err != nil {
				return err
			}
		}
		for _, k := range keys {
			if err := p.Doc().Path("entries", k).Set(automerge.NewMap()); err != nil {
				return err
			}
		}
		_, err := p.Doc().Commit("raw")
		return err
	}
	for _, tc := range []struct {
		name string
		edit func(p *Playlist) error
		ok   bool
	}{
		{"the last entry", func(p *Playlist) error { _, err := p.Add(AtStart(), "alice", "z1"); return err }, true},
		{"two, one past the limit", func(p *Playlist) error {
			return raw(p, nil, "ffffffffffffff01", "ffffffffffffff02")
		}, false},
		{"one removed, two added", func(p *Playlist) error {
			es, err := p.Entries()
			if err != nil {
				return err
			}
			return raw(p, []EntryID{es[0].ID}, "ffffffffffffff01", "ffffffffffffff02")
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := fork(t, full, 5)
			before := countOf(t, q.Doc())
			heads := q.Doc().Heads()
			if err := tc.edit(q); err != nil {
				t.Fatal(err)
			}
			cs, err := q.Doc().Changes(heads...)
			if err != nil || len(cs) != 1 {
				t.Fatalf("%d changes, %v", len(cs), err)
			}
			ops, err := DecodeChangeOps(cs[0].Save())
			if err != nil {
				t.Fatal(err)
			}
			err = before.CheckEntries(ops)
			if tc.ok != (err == nil) || err != nil && !errors.Is(err, ErrBadContent) {
				t.Fatalf("CheckEntries = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
