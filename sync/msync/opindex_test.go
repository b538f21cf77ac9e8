package msync

import (
	"fmt"
	"reflect"
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
	if !checked.indexOps() || !decoded.indexOps() {
		t.Fatal("a change did not decode")
	}
	if !reflect.DeepEqual(checked.ops.max, decoded.ops.max) || !reflect.DeepEqual(checked.ops.ranges, decoded.ops.ranges) {
		t.Fatalf("remembered spans index differently:\n%v\n%v", checked.ops.ranges, decoded.ops.ranges)
	}
	if n := len(checked.ops.checked); n != 0 {
		t.Fatalf("%d remembered spans left after indexing", n)
	}
	if len(checked.ops.max) < 2 {
		t.Fatalf("%d actors indexed, want several", len(checked.ops.max))
	}
}
