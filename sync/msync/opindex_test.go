package msync

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
)

// TestRememberedSpansMatchDecoded: a graph whose changes went through
// Guard or Vouch before it added them (their operation ids remembered,
// not decoded again) indexes the same operation ids as one that decodes
// every change, with two actors, moves and removals among the edits, and
// holds nothing remembered once they are indexed.
func TestRememberedSpansMatchDecoded(t *testing.T) {
	d := automerge.New()
	defer d.Close()
	p, err := docs.CreatePlaylist(d, "alice", "Spans", docs.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	checked, decoded := NewGraph(), NewGraph()
	var ids []docs.EntryID
	for i := range 300 {
		switch {
		case i%7 == 3 && len(ids) > 2:
			err = p.Remove(ids[0])
			ids = ids[1:]
		case i%5 == 4 && len(ids) > 2:
			err = p.Move(ids[1], docs.AtEnd())
		default:
			var e []docs.EntryID
			e, err = p.Add(docs.AtEnd(), "alice", model.TrackID(fmt.Sprint("t", i)))
			ids = append(ids, e...)
		}
		if err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			if err := d.SetActorID(fmt.Sprintf("%032x", i)); err != nil {
				t.Fatal(err)
			}
		}
		inc := d.SaveIncremental()
		cs, raws, err := SplitChunks(inc)
		if err != nil {
			t.Fatal(err)
		}
		m := &Message{Changes: cs, Raw: raws}
		fresh := make([]int, len(cs))
		for k := range fresh {
			fresh[k] = k
		}
		if _, ok := checked.Vouch(m, fresh); !ok {
			if _, err := checked.Guard(m); err != nil {
				t.Fatalf("edit %d: guard: %v", i, err)
			}
		}
		checked.AddFresh(m, fresh)
		if _, err := decoded.AddChunks(inc); err != nil {
			t.Fatal(err)
		}
	}
	okChecked, err1 := checked.indexOps()
	okDecoded, err2 := decoded.indexOps()
	if !okChecked || !okDecoded || err1 != nil || err2 != nil {
		t.Fatal("a change did not decode", err1, err2)
	}
	unpacked := func(x *opIndex) map[string][]opRange {
		m := map[string][]opRange{}
		for a, rs := range x.ranges {
			m[a] = rs.all()
		}
		return m
	}
	if a, b := unpacked(&checked.ops), unpacked(&decoded.ops); !reflect.DeepEqual(checked.ops.max, decoded.ops.max) || !reflect.DeepEqual(a, b) {
		t.Fatalf("remembered spans index differently:\n%v\n%v", a, b)
	}
	if n := len(checked.ops.checked); n != 0 {
		t.Fatalf("%d remembered spans left after indexing", n)
	}
	if len(checked.ops.max) < 2 {
		t.Fatalf("%d actors indexed, want several", len(checked.ops.max))
	}
}

// TestOpRuns: one actor's ranges, added mostly in order of their first
// counters (some out of it, some sharing one), read back and found as in
// a plain sorted slice, through packed blocks, the tail and repacking.
func TestOpRuns(t *testing.T) {
	for _, disorder := range []int{0, 50, 3} {
		t.Run(fmt.Sprintf("one-in-%d-out-of-order", disorder), func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(uint64(disorder), 3))
			var o opRuns
			var want []opRange
			lo := uint64(1)
			for i := range 3000 {
				r := opRange{lo: lo, n: uint32(1 + rnd.IntN(9)), idx: int32(i*3 + rnd.IntN(3))}
				switch {
				case disorder > 0 && rnd.IntN(disorder) == 0:
					r.lo = 1 + rnd.Uint64N(lo)
				case rnd.IntN(40) == 0:
					r.lo = lo - 1 // sharing the previous range's first counter
				}
				lo = max(lo, r.lo+uint64(r.n)+uint64(rnd.IntN(3)))
				o.add(r)
				at := sort.Search(len(want), func(k int) bool { return want[k].lo > r.lo })
				want = slices.Insert(want, at, r)
			}
			if got := o.all(); !slices.Equal(got, want) {
				t.Fatalf("ranges read back differ (%d, want %d)", len(got), len(want))
			}
			for range 5000 {
				ctr := rnd.Uint64N(lo + 10)
				at := sort.Search(len(want), func(k int) bool { return want[k].lo > ctr }) - 1
				got, ok := o.find(ctr)
				if ok != (at >= 0) || ok && got != want[at] {
					t.Fatalf("find(%d) = %v, %v; want %v", ctr, got, ok, want[max(at, 0)])
				}
			}
		})
	}
}

// TestOpRunsPack: ranges added in order cost about 4 bytes each packed,
// not 16.
func TestOpRunsPack(t *testing.T) {
	var o opRuns
	const n = 64 * 100
	for i := range n {
		o.add(opRange{lo: uint64(1 + 3*i), n: 3, idx: int32(2 * i)})
	}
	held := len(o.tail) * 16
	for _, b := range o.blocks {
		held += 48 + len(b.data)
	}
	if per := float64(held) / n; per > 4 {
		t.Fatalf("%.1f bytes a range, want ≤ 4", per)
	}
}
