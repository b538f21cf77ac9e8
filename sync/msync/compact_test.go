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
		if !slices.Equal(g.Raw(h), []byte{byte(i)}) || !slices.Equal(g.RawAt(i), []byte{byte(i)}) {
			t.Fatalf("change %d: wrong chunk", i)
		}
	}
	for i := 5000; i < 6000; i++ {
		if h := testHash(i); g.Has(h) || g.Raw(h) != nil {
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
	if g.Len() != 5000 || !slices.Equal(g.Raw(all[7]), []byte{7}) {
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
		nd := &g.nodes[i]
		nd.epoch, nd.send, nd.seen, nd.flags = 1+rnd.Uint32N(6), 1+rnd.Uint32N(6), 1+rnd.Uint32N(6), uint8(1+rnd.IntN(3))
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
		g.removeAncestors(a, theirHeads)
		fresh.removeAncestors(b, theirHeads)
		if len(a) != len(b) {
			t.Fatalf("step %d (epoch %d): removeAncestors left %d, fresh %d", step, g.epoch, len(a), len(b))
		}
	}
	if g.epoch >= math.MaxUint32-1 {
		t.Fatalf("epoch %d: the counter never wrapped", g.epoch)
	}
	// The wrap itself: every mark cleared, the walks start over at 1.
	for i := range g.nodes {
		g.nodes[i].epoch, g.nodes[i].send, g.nodes[i].seen = 1, 2, 3
	}
	g.epoch = math.MaxUint32 - 2
	if e := g.epochs(3); e != 1 || g.epoch != 3 {
		t.Fatalf("after the wrap: first epoch %d, counter %d", e, g.epoch)
	}
	for i, nd := range g.nodes {
		if nd.epoch|nd.send|nd.seen != 0 {
			t.Fatalf("node %d keeps marks %d/%d/%d across the wrap", i, nd.epoch, nd.send, nd.seen)
		}
	}
}

// TestNodeLayout pins a change's fixed cost in the graph: a node of 80
// bytes (BenchmarkGraphBytes measures the whole).
func TestNodeLayout(t *testing.T) {
	if s := unsafe.Sizeof(node{}); s != 68 {
		t.Fatalf("node is %d bytes, want 68", s)
	}
	if s := unsafe.Sizeof(opRange{}); s != 16 {
		t.Fatalf("opRange is %d bytes, want 16", s)
	}
}
