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
					ref, closed := l.add(b, int32(i))
					if closed >= 0 {
						l.freeze(closed, l.slabs[closed].data)
					}
					refs = append(refs, ref)
					want = append(want, bytes.Clone(b))
					if len(b) > 0 {
						b[0] ^= 0xff // the log holds a copy
					}
					if i%97 == 0 {
						j := rnd.IntN(len(refs))
						held = append(held, handed{j, mustGet(t, &l, refs[j])})
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
					got := mustGet(t, &l, refs[i])
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
// cost at most 0.3 of their chunks' size once out of the tail (0.40
// when deflated with their checksums and dependency hashes: strip.go).
func TestChunkLogCompresses(t *testing.T) {
	_, _, g, _ := longPlaylist(t, 3000)
	held := 0
	for _, s := range g.chunks.slabs {
		held += len(s.data)
	}
	ratio := float64(held) / float64(g.Bytes())
	t.Logf("%d changes, %d bytes of chunks held in %d (%.2f)", g.Len(), g.Bytes(), held, ratio)
	if ratio > 0.3 {
		t.Errorf("chunks held in %.2f of their size, want ≤ 0.3", ratio)
	}
	var all []byte
	for i := range g.Len() {
		all = append(all, mustRawAt(t, g, i)...)
	}
	if cs, _, err := SplitChunks(all); err != nil || len(cs) != g.Len() {
		t.Fatalf("chunks read back: %d changes, %v; want %d", len(cs), err, g.Len())
	}
}

// TestFrozenChunksReadBack: a document edited on two forks merged
// time and again (changes of one, two and three dependencies), with a
// few changes whose dependencies the graph lacks and chunks that are
// not automerge's among them, reads back byte for byte from frozen slabs:
// RawAt, Raw, AppendRaw and a message to a new peer. Automerge's chunks
// are stored stripped, the others whole.
func TestFrozenChunksReadBack(t *testing.T) {
	a := automerge.New()
	defer a.Close()
	if err := a.RootMap().Set("start", true); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit("start"); err != nil {
		t.Fatal(err)
	}
	forks := []*automerge.Doc{a}
	for range 2 {
		f, err := a.Fork()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		forks = append(forks, f)
	}
	rnd := rand.New(rand.NewPCG(11, 5))
	for i := range 1500 {
		d := forks[rnd.IntN(len(forks))]
		if err := d.RootMap().Set(fmt.Sprintf("k%d", rnd.IntN(40)), int64(i)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Commit(""); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			if _, err := a.Merge(forks[1+rnd.IntN(2)]); err != nil {
				t.Fatal(err)
			}
			if _, err := forks[1+rnd.IntN(2)].Merge(a); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, f := range forks[1:] {
		if _, err := a.Merge(f); err != nil {
			t.Fatal(err)
		}
	}
	cs, raws, err := SplitChunks(a.SaveIncremental())
	if err != nil {
		t.Fatal(err)
	}
	// Changes the graph never holds: the last dependency of a few
	// merges (which then record their first dependency only).
	skip := map[automerge.ChangeHash]bool{}
	for _, c := range cs[200:] {
		if len(c.Deps) == 2 && len(skip) < 4 {
			skip[c.Deps[1]] = true
		}
	}
	g := NewGraph()
	var want [][]byte
	var hashes []automerge.ChangeHash
	foreign := map[int]bool{}
	for i, c := range cs {
		if skip[c.Hash] {
			continue
		}
		g.Add(c, raws[i])
		want, hashes = append(want, raws[i]), append(hashes, c.Hash)
		if i%250 == 100 {
			// A chunk the graph cannot strip: not automerge's, and
			// a change whose dependency the graph never held.
			junk := Change{Hash: testHash(i), Deps: []automerge.ChangeHash{c.Hash}}
			g.Add(junk, []byte(fmt.Sprintf("junk %d", i)))
			orphan := Change{Hash: testHash(-i), Deps: []automerge.ChangeHash{c.Hash, testHash(1 << 40)}}
			g.Add(orphan, raws[i])
			foreign[len(want)], foreign[len(want)+1] = true, true
			want = append(want, []byte(fmt.Sprintf("junk %d", i)), raws[i])
			hashes = append(hashes, junk.Hash, orphan.Hash)
		}
	}
	multi, stripped, frozen := 0, 0, 0
	for i := range g.Len() {
		ref := mustRef(t, g, int32(i))
		if g.chunks.slabs[ref.s].deflated {
			frozen++
		}
		if ref.stripped() {
			stripped++
			if len(g.depsOf(int32(i))) > 1 {
				multi++
			}
			if foreign[i] {
				t.Fatalf("chunk %d (not strippable) stored stripped", i)
			}
		}
		if !bytes.Equal(mustRawAt(t, g, i), want[i]) || !bytes.Equal(mustRaw(t, g, hashes[i]), want[i]) {
			t.Fatalf("chunk %d of %d (stripped %v) reads back wrong", i, g.Len(), ref.stripped())
		}
	}
	if frozen < g.Len()/2 || multi == 0 || stripped < frozen-2*len(foreign) {
		t.Fatalf("%d changes: %d in frozen slabs, %d stored stripped (%d merges)", g.Len(), frozen, stripped, multi)
	}
	if got := mustAppendRaw(t, g, []byte("x"), 0); !bytes.Equal(got, append([]byte("x"), bytes.Join(want, nil)...)) {
		t.Fatal("AppendRaw differs from the chunks added")
	}
	// From a slab's first change, its last, and the ones around them.
	for _, sl := range g.chunks.slabs {
		for _, from := range []int{int(sl.first) - 1, int(sl.first), int(sl.first) + 1, g.Len()} {
			if from < 0 || from > g.Len() {
				continue
			}
			if got := mustAppendRaw(t, g, nil, from); !bytes.Equal(got, bytes.Join(want[from:], nil)) {
				t.Fatalf("AppendRaw from %d (a slab starts at %d) differs from the chunks added", from, sl.first)
			}
		}
	}
	// A slab's changes fill it exactly: their lengths add up to its size.
	for i, sl := range g.chunks.slabs {
		end := int32(g.Len())
		if i+1 < len(g.chunks.slabs) {
			end = g.chunks.slabs[i+1].first
		}
		sum := uint32(0)
		for p := sl.first; p < end; p++ {
			sum += g.nodes[p].n &^ strippedBit
		}
		if sum != sl.size || !sl.deflated && int(sl.size) != len(sl.data) {
			t.Fatalf("slab %d of %d: its changes hold %d bytes, its size is %d (%d stored, deflated %v)", i, len(g.chunks.slabs), sum, sl.size, len(sl.data), sl.deflated)
		}
	}
	// A new peer's first message: no heads, nothing needed, an empty have.
	st := State{HasTheirHeads: true, HasTheirNeed: true, HasTheirHave: true, TheirHave: []Have{{}}}
	m := mustGenerate(t, g, &st)
	if m == nil || len(m.Raw) != g.Len() {
		t.Fatalf("message to a new peer: %v", m)
	}
	for i, raw := range m.Raw {
		if !bytes.Equal(raw, want[i]) {
			t.Fatalf("message chunk %d differs", i)
		}
	}
	t.Logf("%d changes, %d frozen, %d stripped (%d merges)", g.Len(), frozen, stripped, multi)
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
		if s := mustRef(b, g, int32(i)).s; g.chunks.slabs[s].deflated && (len(cold) == 0 || s != mustRef(b, g, int32(cold[len(cold)-1])).s) {
			cold = append(cold, i)
		}
	}
	if len(cold) < 2 {
		b.Fatalf("%d deflated slabs", len(cold))
	}
	k := 0
	for b.Loop() {
		k = (k + 1) % len(cold)
		if len(mustRawAt(b, g, cold[k])) == 0 {
			b.Fatal("empty chunk")
		}
	}
}

// The must helpers call the graph's readers and fail tb on an error:
// the graphs of these tests hold every chunk in memory.

func mustRef(tb testing.TB, g *Graph, p int32) chunkRef {
	tb.Helper()
	ref, err := g.ref(p)
	if err != nil {
		tb.Fatal(err)
	}
	return ref
}

func mustGet(tb testing.TB, l *chunkLog, ref chunkRef) []byte {
	tb.Helper()
	b, err := l.get(ref)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustRawAt(tb testing.TB, g *Graph, i int) []byte {
	tb.Helper()
	b, err := g.RawAt(i)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustRaw(tb testing.TB, g *Graph, h automerge.ChangeHash) []byte {
	tb.Helper()
	b, err := g.Raw(h)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustAppendRaw(tb testing.TB, g *Graph, dst []byte, from int) []byte {
	tb.Helper()
	b, err := g.AppendRaw(dst, from)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustGenerate(tb testing.TB, g *Graph, s *State) *Message {
	tb.Helper()
	m, err := Generate(g, s)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}
