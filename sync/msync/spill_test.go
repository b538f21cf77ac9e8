package msync_test

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
	"github.com/segue-fm/segue/sync/msync/filespill"
	"github.com/segue-fm/segue/sync/msync/spilltest"
)

// playlistIncs returns a playlist's creation and n additions as stored
// increments (one change each) and the document, to index twice.
func playlistIncs(t testing.TB, n int) (*automerge.Doc, *docs.Playlist, [][]byte, []docs.EntryID) {
	t.Helper()
	d := automerge.New()
	t.Cleanup(func() { d.Close() })
	p, err := docs.CreatePlaylist(d, "alice", "Long", docs.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	incs := [][]byte{d.SaveIncremental()}
	var ids []docs.EntryID
	for i := range n {
		e, err := p.Add(docs.AtEnd(), "alice", model.TrackID(fmt.Sprintf("track-%d", i*7919%100003)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e...)
		incs = append(incs, d.SaveIncremental())
	}
	return d, p, incs, ids
}

func graphOf(t testing.TB, incs [][]byte) *msync.Graph {
	t.Helper()
	return spilledGraph(t, incs, nil)
}

// spilledGraph returns the graph of incs, spilling to sp (nil: none)
// from the start.
func spilledGraph(t testing.TB, incs [][]byte, sp msync.Spill) *msync.Graph {
	t.Helper()
	g := msync.NewGraph()
	g.SpillTo(sp)
	for _, inc := range incs {
		if _, err := g.AddChunks(inc); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// TestSpilledGraphReadsBack: a graph that spills its frozen slabs, given
// its spill before it grew (one built edit by edit) or after (a relay's
// graph loaded from the store, whose slabs frozen at load spill with the
// next one), answers every read as one that keeps them in memory: each
// chunk, the increments from any position, a new peer's first message.
func TestSpilledGraphReadsBack(t *testing.T) {
	_, _, incs, _ := playlistIncs(t, 3000)
	want := graphOf(t, incs)
	for _, tc := range []struct {
		name   string
		before bool
	}{{"after", false}, {"before", true}} {
		t.Run(tc.name, func(t *testing.T) {
			sp := spilltest.NewMem()
			g := msync.NewGraph()
			if tc.before {
				g.SpillTo(sp)
			}
			for i, inc := range incs {
				if i == 2500 && !tc.before {
					g.SpillTo(sp)
					if u := g.Spilled(); u != (msync.SpillUse{}) {
						t.Fatalf("%+v spilled before the graph grew", u)
					}
				}
				if _, err := g.AddChunks(inc); err != nil {
					t.Fatal(err)
				}
			}
			u := g.Spilled()
			if held, _ := sp.Held(); u.Slabs < 10 || u.Pages < u.Slabs-2 || held != u.Slabs+u.Pages || u.Bytes == 0 || u.Cold < g.Len()*9/10 {
				t.Fatalf("%+v spilled of %d changes, the spill holds %d", u, g.Len(), held)
			}
			for i := range want.Len() {
				if !bytes.Equal(rawAt(t, g, i), rawAt(t, want, i)) {
					t.Fatalf("change %d differs", i)
				}
			}
			for from := 0; from <= want.Len(); from += 97 {
				if !bytes.Equal(appendRaw(t, g, nil, from), appendRaw(t, want, nil, from)) {
					t.Fatalf("increment from %d differs", from)
				}
			}
			st := msync.State{HasTheirHeads: true, HasTheirNeed: true, HasTheirHave: true, TheirHave: []msync.Have{{}}}
			m := generate(t, g, &st)
			if m == nil || len(m.Raw) != want.Len() {
				t.Fatalf("message to a new peer: %v", m)
			}
			for i, raw := range m.Raw {
				if !bytes.Equal(raw, rawAt(t, want, i)) {
					t.Fatalf("change %d of the message differs", i)
				}
			}
		})
	}
}

// TestSpillFailures: a slab the spill fails to store stays in memory; a
// read the spill fails returns ErrSpillRead from every reader, leaves a
// peer's sync state as it was, and succeeds once the spill reads again.
func TestSpillFailures(t *testing.T) {
	_, _, incs, _ := playlistIncs(t, 3000)
	want := graphOf(t, incs)

	sp := spilltest.NewMem()
	sp.FailPuts(true)
	g := spilledGraph(t, incs, sp)
	if u := g.Spilled(); u != (msync.SpillUse{}) {
		t.Fatalf("%+v spilled by a spill refusing every put", u)
	}
	if !bytes.Equal(appendRaw(t, g, nil, 0), appendRaw(t, want, nil, 0)) {
		t.Fatal("the graph kept in memory reads differently")
	}

	sp = spilltest.NewMem()
	g = spilledGraph(t, incs, sp)
	sp.FailGets(true)
	if _, err := g.RawAt(0); !errors.Is(err, msync.ErrSpillRead) {
		t.Fatalf("RawAt with a failing spill: %v", err)
	}
	if _, err := g.Raw(want.Heads()[0]); err != nil {
		t.Fatalf("Raw of the newest change, in memory: %v", err)
	}
	if _, err := g.AppendRaw(nil, 0); !errors.Is(err, msync.ErrSpillRead) {
		t.Fatalf("AppendRaw with a failing spill: %v", err)
	}
	st := msync.State{HasTheirHeads: true, HasTheirNeed: true, HasTheirHave: true, TheirHave: []msync.Have{{}}}
	if m, err := msync.Generate(g, &st); !errors.Is(err, msync.ErrSpillRead) || m != nil {
		t.Fatalf("Generate with a failing spill: %v, %v", m, err)
	}
	if st.InFlight || st.SentHashes != nil || st.LastSentHeads != nil {
		t.Fatalf("a failed Generate changed the state: %+v", st)
	}
	sp.FailGets(false)
	if m := generate(t, g, &st); m == nil || len(m.Raw) != want.Len() {
		t.Fatalf("message once the spill reads again: %v", m)
	}
}

// TestGuardReadsSpilledSlabs: Guard checks edits of a playlist's first
// entries against their operations in spilled slabs, and fails (rather
// than refuse the edits) while the spill cannot read.
func TestGuardReadsSpilledSlabs(t *testing.T) {
	d, p, incs, ids := playlistIncs(t, 2000)
	sp := spilltest.NewMem()
	g := spilledGraph(t, incs, sp)
	if err := p.Remove(ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := p.Move(ids[1], docs.AtEnd()); err != nil {
		t.Fatal(err)
	}
	cs, raws, err := msync.SplitChunks(d.SaveIncremental())
	if err != nil || len(cs) != 2 {
		t.Fatalf("edits: %d changes, %v", len(cs), err)
	}
	sp.FailGets(true)
	if _, err := g.Guard(&msync.Message{Changes: cs, Raw: raws}); !errors.Is(err, msync.ErrSpillRead) {
		t.Fatalf("guard with a failing spill: %v", err)
	}
	sp.FailGets(false)
	if _, err := g.Guard(&msync.Message{Changes: cs, Raw: raws}); err != nil {
		t.Fatalf("guard refused a removal and a move of early entries: %v", err)
	}
}

// TestSpillFreedWithGraph: the slabs of a graph nobody holds any more
// are freed once the collector finds it.
func TestSpillFreedWithGraph(t *testing.T) {
	_, _, incs, _ := playlistIncs(t, 2000)
	sp := spilltest.NewMem()
	func() {
		g := spilledGraph(t, incs, sp)
		if g.Spilled().Pages == 0 {
			t.Fatal("nothing spilled")
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		held, freed := sp.Held()
		if held == 0 && freed > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d slabs still held, %d freed, after the graph was dropped", held, freed)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSpillTo: a second spill is ignored; a nil one changes nothing.
func TestSpillTo(t *testing.T) {
	_, _, incs, _ := playlistIncs(t, 2000)
	a, b := spilltest.NewMem(), spilltest.NewMem()
	g := msync.NewGraph()
	g.SpillTo(nil)
	g.SpillTo(a)
	g.SpillTo(b)
	for _, inc := range incs {
		if _, err := g.AddChunks(inc); err != nil {
			t.Fatal(err)
		}
	}
	ha, _ := a.Held()
	hb, _ := b.Held()
	if u := g.Spilled(); ha != u.Slabs+u.Pages || hb != 0 || u.Slabs == 0 {
		t.Fatalf("graph %+v spilled; first spill holds %d, second %d", u, ha, hb)
	}
	if !slices.Equal(g.Heads(), graphOf(t, incs).Heads()) {
		t.Fatal("heads changed")
	}
	if u := spilledGraph(t, incs, nil).Spilled(); u != (msync.SpillUse{}) {
		t.Fatalf("%+v spilled without a spill", u)
	}
}

// BenchmarkSpilledColdRead reads one chunk from a spilled slab other than
// the cached one, from a filespill file (the page cache holds it): the
// cost of a late follower's or the guard's read of an old change on the
// relay, against BenchmarkChunkLogColdRead's deflated slab in memory.
func BenchmarkSpilledColdRead(b *testing.B) {
	_, _, incs, _ := playlistIncs(b, 2000)
	f, err := filespill.Open(filespill.DefaultOptions(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	g := spilledGraph(b, incs, f)
	if u := g.Spilled(); u.Slabs < 2 {
		b.Fatalf("%+v spilled", u)
	}
	// One change from each of the first slabs' worth of history, far
	// enough apart to fall in different slabs (≈ 40 changes a slab).
	var cold []int
	for i := 0; i < g.Len()/2; i += 100 {
		cold = append(cold, i)
	}
	k := 0
	for b.Loop() {
		k = (k + 1) % len(cold)
		if raw, err := g.RawAt(cold[k]); err != nil || len(raw) == 0 {
			b.Fatal("read", err)
		}
	}
	if st := f.Stats(); st.Gets == 0 {
		b.Fatal("no read from the file")
	}
}
