package msync

import (
	"sort"

	"github.com/segue-fm/segue/sync/wire"
)

// A slab leaving the chunk log's tail is frozen (Graph.freeze): each of
// its chunks is stored without what the graph already holds of it, the
// 4-byte checksum (the first bytes of the change's hash) and the 32-byte
// hashes of its dependencies (the hashes of the nodes Graph.deps points
// at), then the slab is deflated. Those 36 bytes a change are random to
// DEFLATE; without them a slab of playlist edits deflates to about a
// third of what it did (TestChunkLogCompresses). A stripped chunk is
//
//	type byte, body length (LEB128), dependency count (LEB128),
//	the body after the dependency hashes
//
// that is the chunk's bytes 8 through the count, then its bytes after
// the hashes; the magic bytes are constant. A chunk is stripped only
// when it reads back exactly as it was added: its magic, type and
// checksum as automerge writes them and its dependency list the hashes
// of the node's recorded dependencies, in order. Any other is kept as
// it was.

// freeze rewrites slab i, which just left the chunk log's tail, with
// its chunks stripped where they can be, and has the log deflate it.
func (g *Graph) freeze(i int) {
	s := uint32(i)
	lo := sort.Search(len(g.nodes), func(p int) bool { return g.nodes[p].ref.s >= s })
	data := g.chunks.slabs[i].data
	out := make([]byte, 0, len(data))
	for p := lo; p < len(g.nodes) && g.nodes[p].ref.s == s; p++ {
		n := &g.nodes[p]
		raw := g.chunks.get(n.ref)
		off := len(out)
		var stripped bool
		out, stripped = g.strip(out, n, raw)
		n.ref.off, n.ref.n = uint32(off), uint32(len(out)-off)
		if stripped {
			n.ref.n |= strippedBit
		}
	}
	g.chunks.freeze(i, out)
}

// strip appends to out the chunk raw of node n, stripped when it can be
// (see freeze), and reports whether it was.
func (g *Graph) strip(out []byte, n *node, raw []byte) ([]byte, bool) {
	if len(raw) < 9 || [4]byte(raw[:4]) != magic || [4]byte(raw[4:8]) != [4]byte(n.hash[:4]) || raw[8] != chunkChange {
		return append(out, raw...), false
	}
	_, k := wire.ReadULEB(raw[9:])
	if k <= 0 {
		return append(out, raw...), false
	}
	nd, k2 := wire.ReadULEB(raw[9+k:])
	at := 9 + k + k2
	if k2 <= 0 || nd != uint64(n.ndep) || uint64(len(raw)-at) < 32*nd {
		return append(out, raw...), false
	}
	for j, d := range g.depsOf(n) {
		if [32]byte(raw[at+32*j:]) != g.nodes[d].hash {
			return append(out, raw...), false
		}
	}
	out = append(out, raw[8:at]...)
	return append(out, raw[at+32*int(nd):]...), true
}

// chunk returns the encoded chunk of n: the log's bytes when n's chunk
// is stored whole, else a new slice with the chunk rebuilt. It must not
// be modified.
func (g *Graph) chunk(n *node) []byte {
	if !n.ref.stripped() {
		return g.chunks.get(n.ref)
	}
	return g.appendChunk(make([]byte, 0, int(n.ref.len())+8+32*int(n.ndep)), n)
}

// appendChunk appends the encoded chunk of n to dst.
func (g *Graph) appendChunk(dst []byte, n *node) []byte {
	b := g.chunks.get(n.ref)
	if !n.ref.stripped() {
		return append(dst, b...)
	}
	return g.unstrip(dst, n, b)
}

// unstrip appends to dst the chunk that strip stored as b for n.
func (g *Graph) unstrip(dst []byte, n *node, b []byte) []byte {
	_, k := wire.ReadULEB(b[1:])
	_, k2 := wire.ReadULEB(b[1+k:])
	at := 1 + k + k2
	dst = append(dst, magic[:]...)
	dst = append(dst, n.hash[:4]...)
	dst = append(dst, b[:at]...)
	for _, d := range g.depsOf(n) {
		dst = append(dst, g.nodes[d].hash[:]...)
	}
	return append(dst, b[at:]...)
}
