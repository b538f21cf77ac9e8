package msync

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
)

// TestChunkLog: every chunk reads back as added, whatever its size and
// however compressible, across slabs deflated, kept as they are (random
// bytes) and the tail; a chunk handed out stays the same as more are
// added and other slabs are read, and cannot be appended into its
// neighbour.
func TestChunkLog(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 1))
	sizes := []struct {
		name string
		size func() int
	}{
		{"small", func() int { return 1 + rnd.IntN(300) }},
		{"mixed", func() int {
			if rnd.IntN(50) == 0 {
				return slabSize + rnd.IntN(3*slabSize)
			}
			return rnd.IntN(500)
		}},
		{"one per slab", func() int { return slabSize }},
	}
	for _, sz := range sizes {
		for _, random := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/random=%v", sz.name, random), func(t *testing.T) {
				var l chunkLog
				var want [][]byte
				var refs []chunkRef
				type handed struct {
					i int
					b []byte
				}
				var held []handed
				for i := range 2000 {
					b := make([]byte, sz.size())
					if random {
						for j := range b {
							b[j] = byte(rnd.Uint32())
						}
					} else {
						copy(b, fmt.Sprintf("change %d of actor alice: add entry %d after %d; ", i, i, i-1))
					}
					refs = append(refs, l.add(b))
					want = append(want, bytes.Clone(b))
					if len(b) > 0 {
						b[0] ^= 0xff // the log holds a copy
					}
					if i%97 == 0 {
						j := rnd.IntN(len(refs))
						held = append(held, handed{j, l.get(refs[j])})
					}
				}
				deflated := 0
				for _, s := range l.slabs {
					if s.deflated {
						deflated++
					}
				}
				if random != (deflated == 0) {
					t.Errorf("%d of %d slabs deflated (random bytes: %v)", deflated, len(l.slabs), random)
				}
				for k, i := range rnd.Perm(len(refs)) {
					got := l.get(refs[i])
					if !bytes.Equal(got, want[i]) {
						t.Fatalf("chunk %d (read %d) differs: %d bytes, want %d", i, k, len(got), len(want[i]))
					}
					if cap(got) != len(got) {
						t.Fatalf("chunk %d has room past its end (cap %d, len %d)", i, cap(got), len(got))
					}
				}
				for _, h := range held {
					if !bytes.Equal(h.b, want[h.i]) {
						t.Fatalf("chunk %d handed out changed afterwards", h.i)
					}
				}
			})
		}
	}
}

// longPlaylist returns a playlist document of n entries, each added by
// a change of its own, the graph of its changes and the entries' ids.
func longPlaylist(t testing.TB, n int) (*automerge.Doc, *docs.Playlist, *Graph, []docs.EntryID) {
	t.Helper()
	d := automerge.New()
	t.Cleanup(func() { d.Close() })
	p, err := docs.CreatePlaylist(d, "alice", "Long", docs.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	g := NewGraph()
	if _, err := g.AddChunks(d.SaveIncremental()); err != nil {
		t.Fatal(err)
	}
	var ids []docs.EntryID
	for i := range n {
		e, err := p.Add(docs.AtEnd(), "alice", model.TrackID(fmt.Sprintf("track-%d", i*7919%100003)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e...)
		if _, err := g.AddChunks(d.SaveIncremental()); err != nil {
			t.Fatal(err)
		}
	}
	return d, p, g, ids
}

// TestChunkLogCompresses: a playlist's edits, as a relay holds them,
// cost at most half their chunks' size once out of the tail.
func TestChunkLogCompresses(t *testing.T) {
	_, _, g, _ := longPlaylist(t, 3000)
	held := 0
	for _, s := range g.chunks.slabs {
		held += len(s.data)
	}
	ratio := float64(held) / float64(g.Bytes())
	t.Logf("%d changes, %d bytes of chunks held in %d (%.2f)", g.Len(), g.Bytes(), held, ratio)
	if ratio > 0.5 {
		t.Errorf("chunks held in %.2f of their size, want ≤ 0.5", ratio)
	}
	var all []byte
	for i := range g.Len() {
		all = append(all, g.RawAt(i)...)
	}
	if cs, _, err := SplitChunks(all); err != nil || len(cs) != g.Len() {
		t.Fatalf("chunks read back: %d changes, %v; want %d", len(cs), err, g.Len())
	}
}

// TestGuardReadsDeflatedSlabs: removing and moving a playlist's first
// entries refers to operations whose chunks lie in deflated slabs; the
// guard reads them back (an operation it cannot read is refused) and
// admits the changes.
func TestGuardReadsDeflatedSlabs(t *testing.T) {
	d, p, g, ids := longPlaylist(t, 2000)
	if !g.chunks.slabs[0].deflated {
		t.Fatal("the first slab is not deflated")
	}
	if err := p.Remove(ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := p.Move(ids[1], docs.AtEnd()); err != nil {
		t.Fatal(err)
	}
	m := &Message{}
	cs, raws, err := SplitChunks(d.SaveIncremental())
	if err != nil || len(cs) != 2 {
		t.Fatalf("edits: %d changes, %v", len(cs), err)
	}
	m.Changes, m.Raw = cs, raws
	g.chunks.cache = nil
	if _, err := g.Guard(m); err != nil {
		t.Fatalf("guard refused a removal and a move of early entries: %v", err)
	}
	if g.chunks.cache == nil {
		t.Fatal("the guard read no deflated slab")
	}
}

// BenchmarkChunkLogColdRead reads one chunk from a deflated slab other
// than the cached one: the cost of a late follower's or the guard's read
// of an old change (one slab inflated).
func BenchmarkChunkLogColdRead(b *testing.B) {
	_, _, g, _ := longPlaylist(b, 3000)
	var cold []int
	for i := range g.Len() {
		if g.chunks.slabs[g.nodes[i].ref.s].deflated && (len(cold) == 0 || g.nodes[i].ref.s != g.nodes[cold[len(cold)-1]].ref.s) {
			cold = append(cold, i)
		}
	}
	if len(cold) < 2 {
		b.Fatalf("%d deflated slabs", len(cold))
	}
	k := 0
	for b.Loop() {
		k = (k + 1) % len(cold)
		if len(g.RawAt(cold[k])) == 0 {
			b.Fatal("empty chunk")
		}
	}
}
