package msync

import (
	"encoding/binary"
	"fmt"

	"github.com/automerge/automerge-go"
)

// A graph given a Spill moves out of memory not only its frozen chunk
// slabs but, one slab behind them, the nodes and dependency lists of
// their changes: the cold prefix of its history, positions 0 through
// Graph.hot-1. What followers in step ask about lies in the newest
// changes; a walk, a chunk or a hash that reaches the cold prefix (a
// peer far behind, a catch-up, the guard's check of an edit to an old
// entry) reads the page back. A cold change keeps in memory only its
// hash index slot and a 32-bit fingerprint (coldNodes.fps), about 10–15
// bytes against ≈ 55 for a hot one.
//
// A cold page holds the changes of one spilled slab (slab j's page
// covers the positions slab j's chunks do), each as
//
//	hash (32 bytes), n (uint32, little-endian: the node's chunk length
//	and stripped bit), dependency count (uvarint), each dependency as
//	the distance back from the change's position (uvarint, ≥ 1)
//
// so a read of a cold change's chunk needs its slab and its page.

// coldNodes holds the cold prefix of a graph (see above).
type coldNodes struct {
	// pages[j] holds the nodes of slab j's changes, for every slab
	// before the first hot one (Graph.hot is its first change).
	pages []*spilled
	// fps holds, by position, the low 32 bits of the hash index's hash
	// of each cold change's hash (hashIndex.start): the index compares
	// it before reading the page, and grows without reading any.
	fps []uint32
	// cache holds the last two pages read (a walk crossing a page
	// boundary, a chunk rebuilt with the hashes of dependencies in the
	// page before it), newest first.
	cache [2]*coldPage
}

// coldPage is a cold page read back: the nodes of slab's changes from
// position first on, with dep indexing deps, whose entries are
// positions.
type coldPage struct {
	slab  int
	first int32
	nodes []node
	deps  []int32
}

// depsOf returns the dependencies of the page's change at p.
func (c *coldPage) depsOf(p int32) []int32 { return depsIn(c.nodes, c.deps, p-c.first, 0) }

// maxPageDeps bounds the dependencies a page read back may declare for
// one change, against a corrupt page's claims.
const maxPageDeps = 1 << 20

// encodePage returns the page of the changes at positions lo up to hi,
// which are hot.
func (g *Graph) encodePage(lo, hi int32) []byte {
	b := make([]byte, 0, int(hi-lo)*40)
	for p := lo; p < hi; p++ {
		n := &g.nodes[p-g.hot]
		b = append(b, n.hash[:]...)
		b = binary.LittleEndian.AppendUint32(b, n.n)
		deps := g.depsOf(p)
		b = binary.AppendUvarint(b, uint64(len(deps)))
		for _, d := range deps {
			b = binary.AppendUvarint(b, uint64(p-d))
		}
	}
	return b
}

// decodePage returns the page of slab s's changes, positions lo up to
// hi, from b; a page that does not decode to exactly those changes
// fails (ErrSpillRead).
func decodePage(b []byte, s int, lo, hi int32) (*coldPage, error) {
	c := &coldPage{slab: s, first: lo, nodes: make([]node, 0, hi-lo)}
	for p := lo; p < hi; p++ {
		if len(b) < 36 {
			return nil, fmt.Errorf("%w: page of slab %d ends at change %d", ErrSpillRead, s, p)
		}
		n := node{hash: automerge.ChangeHash(b[:32]), n: binary.LittleEndian.Uint32(b[32:36]), dep: uint32(len(c.deps))}
		b = b[36:]
		nd, k := binary.Uvarint(b)
		if k <= 0 || nd > maxPageDeps {
			return nil, fmt.Errorf("%w: page of slab %d: change %d's dependency count", ErrSpillRead, s, p)
		}
		b = b[k:]
		for range nd {
			back, k := binary.Uvarint(b)
			if k <= 0 || back == 0 || back > uint64(p) {
				return nil, fmt.Errorf("%w: page of slab %d: a dependency of change %d", ErrSpillRead, s, p)
			}
			b = b[k:]
			c.deps = append(c.deps, p-int32(back))
		}
		c.nodes = append(c.nodes, n)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: page of slab %d: %d bytes past its changes", ErrSpillRead, s, len(b))
	}
	return c, nil
}

// page returns the page of cold slab s, read back from the spill unless
// cached.
func (g *Graph) page(s int) (*coldPage, error) {
	x := &g.cold
	if c := x.cache[0]; c != nil && c.slab == s {
		return c, nil
	}
	if c := x.cache[1]; c != nil && c.slab == s {
		x.cache[0], x.cache[1] = c, x.cache[0]
		return c, nil
	}
	ref := x.pages[s].ref
	b, err := g.chunks.spill.Get(ref, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: page of slab %d: %w", ErrSpillRead, s, err)
	}
	if len(b) != int(ref.N) {
		return nil, fmt.Errorf("%w: page of slab %d: %d bytes read back of %d", ErrSpillRead, s, len(b), ref.N)
	}
	c, err := decodePage(b, s, g.chunks.slabs[s].first, g.chunks.slabs[s+1].first)
	if err != nil {
		return nil, err
	}
	x.cache[0], x.cache[1] = c, x.cache[0]
	return c, nil
}

// coldPageOf returns the page holding cold position p.
func (g *Graph) coldPageOf(p int32) (*coldPage, error) {
	return g.page(g.chunks.slabOf(p))
}

// nodeAt returns the node of the change at p (0 ≤ p < Len()); its dep
// means nothing outside g's own depsAt. It is read only, valid until
// the graph's next Add. It fails only when p is cold and its page cannot
// be read back (ErrSpillRead).
func (g *Graph) nodeAt(p int32) (*node, error) {
	if p >= g.hot {
		return &g.nodes[p-g.hot], nil
	}
	c, err := g.coldPageOf(p)
	if err != nil {
		return nil, err
	}
	return &c.nodes[p-c.first], nil
}

// hashAt returns the hash of the change at p, failing as nodeAt does.
func (g *Graph) hashAt(p int32) (automerge.ChangeHash, error) {
	n, err := g.nodeAt(p)
	if err != nil {
		return automerge.ChangeHash{}, err
	}
	return n.hash, nil
}

// depsAt returns the dependencies of the change at p as positions,
// failing as nodeAt does; the slice is g's.
func (g *Graph) depsAt(p int32) ([]int32, error) {
	if p >= g.hot {
		return g.depsOf(p), nil
	}
	c, err := g.coldPageOf(p)
	if err != nil {
		return nil, err
	}
	return c.depsOf(p), nil
}

// slabNodes returns the nodes of slab s's changes, failing as nodeAt
// does. Every slab is hot or cold whole.
func (g *Graph) slabNodes(s int) ([]node, error) {
	if s < len(g.cold.pages) {
		c, err := g.page(s)
		if err != nil {
			return nil, err
		}
		return c.nodes, nil
	}
	lo := g.chunks.slabs[s].first
	hi := int32(g.Len())
	if s+1 < len(g.chunks.slabs) {
		hi = g.chunks.slabs[s+1].first
	}
	return g.nodes[lo-g.hot : hi-g.hot], nil
}

// coldHashIs reports whether cold change p has hash, whose fingerprint
// matched p's: it reads p's page back, and when that fails answers yes
// on the fingerprint alone. Only a hash whose probe reached p is
// compared, and the low b bits of a table of 2^b slots place it, so a
// stranger from p's home slot matches one in 2^(32−b) (one in 2¹² at a
// million changes), and a failed read must coincide with it.
func (g *Graph) coldHashIs(p int32, hash *automerge.ChangeHash) bool {
	h, err := g.hashAt(p)
	return err != nil || h == *hash
}

// cool moves the nodes of the changes of slabs before slab upTo, which
// are frozen, out of memory (see above), in order, up to the first
// whose page the spill refuses (it and those after it stay in memory
// until a later call). A slab the spill refused stays in memory, but
// its nodes may go cold.
func (g *Graph) cool(upTo int) {
	x := &g.cold
	hot := g.hot
	for j := len(x.pages); j < upTo; j++ {
		lo, hi := g.chunks.slabs[j].first, g.chunks.slabs[j+1].first
		ref, err := g.chunks.spill.Put(g.encodePage(lo, hi))
		if err != nil {
			break
		}
		x.pages = append(x.pages, newSpilled(g.chunks.spill, ref))
		for p := lo; p < hi; p++ {
			x.fps = appendGrown(x.fps, uint32(g.index.start(&g.nodes[p-g.hot].hash)))
		}
		hot = hi
	}
	if hot == g.hot {
		return
	}
	cut := hot - g.hot
	depCut := g.nodes[cut].dep - g.depBase
	g.nodes = trimFront(g.nodes, int(cut))
	g.deps = trimFront(g.deps, int(depCut))
	g.hot, g.depBase = hot, g.depBase+depCut
}

// trimFront returns s without its first k elements, in a new array
// when s's array would be at least half unused, else moved down in
// place.
func trimFront[E any](s []E, k int) []E {
	n := len(s) - k
	if cap(s) > 2*n+16 {
		t := make([]E, n, n+max(16, n/8))
		copy(t, s[k:])
		return t
	}
	copy(s, s[k:])
	return s[:n]
}
