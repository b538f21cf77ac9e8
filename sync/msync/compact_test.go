package msync

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/automerge/automerge-go"
)

// testHash is a change hash for tests: the SHA-256 of i.
func testHash(i int) automerge.ChangeHash {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(i))
	return sha256.Sum256(b[:])
}

// randomGraph returns a graph of n changes, each depending on one to
// three earlier ones (merges), and their hashes in history order.
func randomGraph(seed uint64, n int) (*Graph, []automerge.ChangeHash) {
	rnd := rand.New(rand.NewPCG(seed, 2))
	g, all := NewGraph(), []automerge.ChangeHash{}
	for i := range n {
		var deps []automerge.ChangeHash
		for k := 0; i > 0 && k < 1+rnd.IntN(3); k++ {
			if d := all[rnd.IntN(len(all))]; !slices.Contains(deps, d) {
				deps = append(deps, d)
			}
		}
		g.Add(Change{Hash: testHash(i), Deps: deps, Actor: []byte{byte(i % 3)}}, []byte{byte(i)})
		all = append(all, testHash(i))
	}
	return g, all
}

// TestHashIndex: every added change is found at its position, through
// the table's growths, and hashes never added are not.
func TestHashIndex(t *testing.T) {
	g, all := randomGraph(1, 5000)
	for i, h := range all {
		if p := g.pos(&h); p != int32(i) {
			t.Fatalf("change %d found at %d", i, p)
		}
		if !slices.Equal(mustRaw(t, g, h), []byte{byte(i)}) || !slices.Equal(mustRawAt(t, g, i), []byte{byte(i)}) {
			t.Fatalf("change %d: wrong chunk", i)
		}
	}
	for i := 5000; i < 6000; i++ {
		if h := testHash(i); g.Has(h) || mustRaw(t, g, h) != nil {
			t.Fatalf("hash %d never added is found", i)
		}
	}
	if g.index.n != 5000 || g.index.n*4 > len(g.index.slots)*3 {
		t.Fatalf("table holds %d in %d slots", g.index.n, len(g.index.slots))
	}
	if !g.Has(all[0]) || g.Len() != 5000 {
		t.Fatal("lost changes")
	}
	g.Add(Change{Hash: all[7]}, []byte("again"))
	if g.Len() != 5000 || !slices.Equal(mustRaw(t, g, all[7]), []byte{7}) {
		t.Fatal("a change added twice replaced the first")
	}
}

// TestEpochWrap: with the walk counter about to wrap, since,
// changesToSend and removeAncestors answer as on a fresh graph, call
// after call.
func TestEpochWrap(t *testing.T) {
	const n = 300
	g, all := randomGraph(7, n)
	fresh, _ := randomGraph(7, n)
	rnd := rand.New(rand.NewPCG(3, 4))
	// Marks left by walks of the counter's previous cycle: after the
	// wrap, a walk must not take them for its own.
	for i := range g.nodes {
		mk := g.marks.at(int32(i))
		mk.epoch, mk.send, mk.seen, mk.flags = 1+rnd.Uint32N(6), 1+rnd.Uint32N(6), 1+rnd.Uint32N(6), uint8(1+rnd.IntN(3))
	}
	g.epoch = math.MaxUint32 - 1
	for step := range 40 {
		have := []automerge.ChangeHash{all[rnd.IntN(n)], all[rnd.IntN(n)]}
		theirHeads := []automerge.ChangeHash{all[rnd.IntN(n)]}
		g.memo, fresh.memo = [memoSize]sinceMemo{}, [memoSize]sinceMemo{}
		if got, want := g.hashesAt(g.since(have)), fresh.hashesAt(fresh.since(have)); !slices.Equal(got, want) {
			t.Fatalf("step %d (epoch %d): since differs", step, g.epoch)
		}
		bloomOf := func(x *Graph) []Have {
			var hs []automerge.ChangeHash
			for i := range 20 {
				hs = append(hs, all[(step*7+i*13)%n])
			}
			return []Have{{LastSync: have[:1], Bloom: NewBloom(hs)}}
		}
		g.memo, fresh.memo = [memoSize]sinceMemo{}, [memoSize]sinceMemo{}
		got := g.hashesAt(g.changesToSend(bloomOf(g), nil, theirHeads))
		want := fresh.hashesAt(fresh.changesToSend(bloomOf(fresh), nil, theirHeads))
		if !slices.Equal(got, want) {
			t.Fatalf("step %d (epoch %d): changesToSend sent %d, fresh %d", step, g.epoch, len(got), len(want))
		}
		set := func() map[automerge.ChangeHash]struct{} {
			m := map[automerge.ChangeHash]struct{}{}
			for i := range 30 {
				m[all[(step*11+i*17)%n]] = struct{}{}
			}
			return m
		}
		a, b := set(), set()
		if err := g.removeAncestors(a, theirHeads); err != nil {
			t.Fatal(err)
		}
		if err := fresh.removeAncestors(b, theirHeads); err != nil {
			t.Fatal(err)
		}
		if len(a) != len(b) {
			t.Fatalf("step %d (epoch %d): removeAncestors left %d, fresh %d", step, g.epoch, len(a), len(b))
		}
	}
	if g.epoch >= math.MaxUint32-1 {
		t.Fatalf("epoch %d: the counter never wrapped", g.epoch)
	}
	// The wrap itself: every mark cleared, the walks start over at 1.
	for i := range g.nodes {
		mk := g.marks.at(int32(i))
		mk.epoch, mk.send, mk.seen = 1, 2, 3
	}
	g.epoch = math.MaxUint32 - 2
	if e := g.epochs(3); e != 1 || g.epoch != 3 {
		t.Fatalf("after the wrap: first epoch %d, counter %d", e, g.epoch)
	}
	for i := range g.nodes {
		if mk := g.marks.at(int32(i)); mk.epoch|mk.send|mk.seen != 0 {
			t.Fatalf("change %d keeps marks %d/%d/%d across the wrap", i, mk.epoch, mk.send, mk.seen)
		}
	}
}

// TestNodeLayout pins a change's fixed cost in the graph: a node of 40
// bytes, its walk marks (16 bytes) held apart and only for the newest
// changes (BenchmarkGraphBytes measures the whole).
func TestNodeLayout(t *testing.T) {
	if s := unsafe.Sizeof(node{}); s != 40 {
		t.Fatalf("node is %d bytes, want 40", s)
	}
	if s := unsafe.Sizeof(mark{}); s != 16 {
		t.Fatalf("mark is %d bytes, want 16", s)
	}
	if s := unsafe.Sizeof(opRange{}); s != 16 {
		t.Fatalf("opRange is %d bytes, want 16", s)
	}
}

// TestMarksWindow: walks deep into the history and near its end, more
// than a sweep apart, answer as a plain search of the ancestors does;
// the marks held shrink to the newest changes once walks stay near the
// end, and grow back for a deep one.
func TestMarksWindow(t *testing.T) {
	const n = 3000
	rnd := rand.New(rand.NewPCG(9, 9))
	// Each change depends on the one before it and up to two more of the
	// eight before it (forks merged soon), as a document's history does.
	g, all := NewGraph(), []automerge.ChangeHash{}
	for i := range n {
		var deps []automerge.ChangeHash
		if i > 0 {
			deps = append(deps, all[i-1])
		}
		for k := 0; i > 0 && k < rnd.IntN(3); k++ {
			if d := all[max(0, i-1-rnd.IntN(8))]; !slices.Contains(deps, d) {
				deps = append(deps, d)
			}
		}
		g.Add(Change{Hash: testHash(i), Deps: deps}, []byte{byte(i)})
		all = append(all, testHash(i))
	}
	// naiveSince is since by a plain search: every change that is not
	// one of have or an ancestor of one.
	naiveSince := func(have []automerge.ChangeHash) []automerge.ChangeHash {
		anc := map[int32]bool{}
		var stack []int32
		for _, h := range have {
			stack = append(stack, g.pos(&h))
		}
		for len(stack) > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if anc[p] {
				continue
			}
			anc[p] = true
			stack = append(stack, g.depsOf(p)...)
		}
		var out []automerge.ChangeHash
		for i := range n {
			if !anc[int32(i)] {
				out = append(out, all[i])
			}
		}
		return out
	}
	check := func(step int, have []automerge.ChangeHash) {
		g.memo = [memoSize]sinceMemo{}
		got := g.hashesAt(g.since(have))
		if want := naiveSince(have); !slices.Equal(got, want) {
			t.Fatalf("step %d: since gave %d changes, want %d", step, len(got), len(want))
		}
	}
	for step := range 3 * sweepEvery {
		depth := 1 + rnd.IntN(20)
		if step%97 == 0 {
			depth = n - rnd.IntN(n/10) // deep: near the first change
		}
		check(step, []automerge.ChangeHash{all[n-depth]})
	}
	for step := range 2 * sweepEvery {
		check(step, []automerge.ChangeHash{all[n-1-rnd.IntN(20)]})
	}
	if len(g.marks.win) > markTail+64 {
		t.Fatalf("after shallow walks the marks of %d changes are held, want ≤ %d", len(g.marks.win), markTail+64)
	}
	check(-1, []automerge.ChangeHash{all[3]})
	if g.marks.base > 3 {
		t.Fatalf("a deep walk left the window at %d", g.marks.base)
	}
}
