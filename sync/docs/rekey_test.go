package docs

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core/model"
)

// longNeighbours returns a playlist of ten entries t0…t9 whose t4 and t5
// have adjacent pos keys of about a thousand bytes (as thousands of
// inserts at one spot leave them), and their ids.
func longNeighbours(t *testing.T, seed byte) (*Playlist, []EntryID) {
	t.Helper()
	p := newPlaylist(t, seed)
	ids, err := p.Add(AtEnd(), "alice", "t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9")
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		pos := fmt.Sprintf("a%d", i)
		if i == 4 || i == 5 {
			pos = "a4" + strings.Repeat("0", 1000) + fmt.Sprint(i-3)
		}
		if err := p.Doc().Path("entries", string(id), "pos").Set(pos); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Doc().Commit("long"); err != nil {
		t.Fatal(err)
	}
	return p, ids
}

// checkOrder fails unless p's order is want and every pos is at most
// rekeyBytes long.
func checkOrder(t *testing.T, p *Playlist, want []model.TrackID) {
	t.Helper()
	es := mustEntries(t, p)
	if got := tracks(es); !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	for _, e := range es {
		if len(e.Pos) > rekeyBytes {
			t.Fatalf("entry %s has a pos of %d bytes, want at most %d", e.Track, len(e.Pos), rekeyBytes)
		}
	}
	// The view kept current by the edits agrees with the document.
	q, err := OpenPlaylist(p.Doc(), testOpts(99))
	if err != nil {
		t.Fatal(err)
	}
	if fresh := mustEntries(t, q); !slices.Equal(fresh, es) {
		t.Fatalf("the view's entries differ from the document's")
	}
}

// TestRekey: Add and Move at a spot whose neighbours' pos keys are long
// re-key the entries around it in the same change, so keys stay short
// and the order is kept; before, the key grew by a byte per about five
// inserts there and Add refused (ErrBadPosition) past MaxPosBytes, after
// about 5,000 inserts at one spot.
func TestRekey(t *testing.T) {
	for _, tc := range []struct {
		name  string
		short bool // t0…t9 with short keys
		edit  func(t *testing.T, p *Playlist, ids []EntryID) []model.TrackID
	}{
		{"add between long neighbours", false, func(t *testing.T, p *Playlist, ids []EntryID) []model.TrackID {
			for i := range 20 {
				if _, err := p.Add(After(ids[4]), "alice", model.TrackID(fmt.Sprint("x", i))); err != nil {
					t.Fatal(err)
				}
			}
			want := []model.TrackID{"t0", "t1", "t2", "t3", "t4"}
			for i := 19; i >= 0; i-- {
				want = append(want, model.TrackID(fmt.Sprint("x", i)))
			}
			return append(want, "t5", "t6", "t7", "t8", "t9")
		}},
		{"bulk add between long neighbours", false, func(t *testing.T, p *Playlist, ids []EntryID) []model.TrackID {
			if _, err := p.Add(Before(ids[5]), "alice", "x0", "x1", "x2"); err != nil {
				t.Fatal(err)
			}
			return []model.TrackID{"t0", "t1", "t2", "t3", "t4", "x0", "x1", "x2", "t5", "t6", "t7", "t8", "t9"}
		}},
		{"move between long neighbours", false, func(t *testing.T, p *Playlist, ids []EntryID) []model.TrackID {
			for _, i := range []int{0, 9, 1, 8, 2} {
				if err := p.Move(ids[i], After(ids[4])); err != nil {
					t.Fatal(err)
				}
			}
			return []model.TrackID{"t3", "t4", "t2", "t8", "t1", "t9", "t0", "t5", "t6", "t7"}
		}},
		{"6,000 inserts at one spot", true, func(t *testing.T, p *Playlist, ids []EntryID) []model.TrackID {
			first, err := p.Add(AtStart(), "alice", "first")
			if err != nil {
				t.Fatal(err)
			}
			var want []model.TrackID
			for i := range 6000 {
				tr := model.TrackID(fmt.Sprint("x", i))
				if _, err := p.Add(After(first[0]), "alice", tr); err != nil {
					t.Fatalf("insert %d: %v", i, err)
				}
				want = append(want, tr)
			}
			slices.Reverse(want)
			want = append([]model.TrackID{"first"}, want...)
			return append(want, "t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, ids := longNeighbours(t, 1)
			if tc.short {
				p = newPlaylist(t, 1)
				var err error
				if ids, err = p.Add(AtEnd(), "alice", "t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"); err != nil {
					t.Fatal(err)
				}
			}
			checkOrder(t, p, tc.edit(t, p, ids))
		})
	}
}

// TestConcurrentRekeysMerge: three offline devices each insert at the
// same spot between long neighbours (each re-keying the entries there),
// one also moves an entry the others re-key and another removes one;
// merged in every order, every replica holds the same order, every
// entry exactly once (a removed one nowhere), each device's inserts in
// the order it made them, and every pos short (before, the inserts took
// keys of 1,000 bytes, a few inserts from refusal).
func TestConcurrentRekeysMerge(t *testing.T) {
	base, ids := longNeighbours(t, 1)
	devs := []*Playlist{fork(t, base, 2), fork(t, base, 3), fork(t, base, 4)}
	mine := make([][]model.TrackID, len(devs))
	for d, p := range devs {
		for i := range 8 {
			tr := model.TrackID(fmt.Sprintf("d%d-%d", d, i))
			if _, err := p.Add(Before(ids[5]), "alice", tr); err != nil {
				t.Fatal(err)
			}
			mine[d] = append(mine[d], tr)
		}
	}
	if err := devs[0].Move(ids[5], After(ids[8])); err != nil {
		t.Fatal(err)
	}
	if err := devs[1].Move(ids[5], AtStart()); err != nil {
		t.Fatal(err)
	}
	if err := devs[2].Remove(ids[4]); err != nil {
		t.Fatal(err)
	}
	var first []Entry
	for _, perm := range [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}} {
		r := fork(t, base, 5)
		for _, d := range perm {
			if _, err := r.Doc().Merge(devs[d].Doc()); err != nil {
				t.Fatal(err)
			}
		}
		es := mustEntries(t, r)
		got := tracks(es)
		if first == nil {
			first = es
		} else if !slices.Equal(es, first) {
			t.Fatalf("merged in order %v: %v, want %v", perm, got, tracks(first))
		}
		want := 10 - 1 + 3*8
		if len(es) != want {
			t.Fatalf("merged in order %v: %d entries, want %d: %v", perm, len(es), want, got)
		}
		seen := map[model.TrackID]bool{}
		for _, e := range es {
			if seen[e.Track] || e.Track == "t4" {
				t.Fatalf("merged in order %v: %s twice or removed: %v", perm, e.Track, got)
			}
			seen[e.Track] = true
			if len(e.Pos) > rekeyBytes {
				t.Fatalf("merged in order %v: %s has a pos of %d bytes, want at most %d", perm, e.Track, len(e.Pos), rekeyBytes)
			}
		}
		for d := range devs {
			own := slices.DeleteFunc(slices.Clone(got), func(tr model.TrackID) bool { return !slices.Contains(mine[d], tr) })
			if !slices.Equal(own, mine[d]) {
				t.Fatalf("merged in order %v: device %d's inserts in order %v, made %v", perm, d, own, mine[d])
			}
		}
	}
	t.Logf("merged: %v", tracks(first))
}
