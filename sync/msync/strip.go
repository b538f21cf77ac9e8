package msync

import (
	"fmt"

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
// Slab i is not the last one: its changes end where slab i+1's start,
// they are hot, and its chunks are still stored whole. Once the log
// spilled it, the nodes of the spilled slabs before it go cold (cool):
// slab i's stay hot while slab i+1 freezes, whose first changes' chunks
// name them as dependencies.
func (g *Graph) freeze(i int) {
	sl := &g.chunks.slabs[i]
	data, hi := sl.data, g.chunks.slabs[i+1].first
	out := make([]byte, 0, len(data))
	off := 0
	for p := sl.first; p < hi; p++ {
		n := &g.nodes[p-g.hot]
		raw := data[off : off+int(n.n)]
		off += len(raw)
		start := len(out)
		var stripped bool
		out, stripped = g.strip(out, p, raw)
		n.n = uint32(len(out) - start)
		if stripped {
			n.n |= strippedBit
		}
	}
	g.chunks.freeze(i, out)
	if g.chunks.spill != nil {
		g.cool(i)
	}
}

// strip appends to out the chunk raw of the change at p, which is hot,
// stripped when it can be (see freeze), and reports whether it was; a
// chunk naming a cold dependency whose page cannot be read back is kept
// whole.
func (g *Graph) strip(out []byte, p int32, raw []byte) ([]byte, bool) {
	h := &g.nodes[p-g.hot].hash
	if len(raw) < 9 || [4]byte(raw[:4]) != magic || [4]byte(raw[4:8]) != [4]byte(h[:4]) || raw[8] != chunkChange {
		return append(out, raw...), false
	}
	_, k := wire.ReadULEB(raw[9:])
	if k <= 0 {
		return append(out, raw...), false
	}
	deps := g.depsOf(p)
	nd, k2 := wire.ReadULEB(raw[9+k:])
	at := 9 + k + k2
	if k2 <= 0 || nd != uint64(len(deps)) || uint64(len(raw)-at) < 32*nd {
		return append(out, raw...), false
	}
	for j, d := range deps {
		if dh, err := g.hashAt(d); err != nil || [32]byte(raw[at+32*j:]) != dh {
			return append(out, raw...), false
		}
	}
	out = append(out, raw[8:at]...)
	return append(out, raw[at+32*int(nd):]...), true
}

// ref returns where the chunk of the change at p lies in g.chunks: it
// follows the chunks of the changes before it in its slab, counted from
// the slab's start or back from its end, whichever is nearer. It fails
// only when p is cold and its page cannot be read back (ErrSpillRead).
func (g *Graph) ref(p int32) (chunkRef, error) {
	s := g.chunks.slabOf(p)
	sl := &g.chunks.slabs[s]
	nodes, err := g.slabNodes(s)
	if err != nil {
		return chunkRef{}, err
	}
	i := p - sl.first
	r := chunkRef{s: uint32(s), n: nodes[i].n}
	if int(i) <= len(nodes)-int(i) {
		for _, n := range nodes[:i] {
			r.off += n.n &^ strippedBit
		}
		return r, nil
	}
	r.off = sl.size
	for _, n := range nodes[i:] {
		r.off -= n.n &^ strippedBit
	}
	return r, nil
}

// chunk returns the encoded chunk of the change at p: the log's bytes
// when its chunk is stored whole, else a new slice with the chunk
// rebuilt. It must not be modified. It fails only for a chunk of a
// spilled slab that cannot be read back (ErrSpillRead).
func (g *Graph) chunk(p int32) ([]byte, error) {
	ref, err := g.ref(p)
	if err != nil {
		return nil, fmt.Errorf("change %d: %w", p, err)
	}
	if !ref.stripped() {
		return g.chunks.get(ref)
	}
	return g.appendChunk(make([]byte, 0, int(ref.len())+8+32*2), p, ref)
}

// appendChunk appends the encoded chunk of the change at p, which lies
// at ref, to dst; on an error (chunk) dst is returned as it was.
func (g *Graph) appendChunk(dst []byte, p int32, ref chunkRef) ([]byte, error) {
	b, err := g.chunks.get(ref)
	if err != nil {
		return dst, fmt.Errorf("change %d: %w", p, err)
	}
	if !ref.stripped() {
		return append(dst, b...), nil
	}
	out, err := g.unstrip(dst, p, b)
	if err != nil {
		return dst, fmt.Errorf("change %d: %w", p, err)
	}
	return out, nil
}

// unstrip appends to dst the chunk that strip stored as b for the change
// at p. It fails, dst as it was, only when p or a dependency is cold and
// its page cannot be read back (ErrSpillRead).
func (g *Graph) unstrip(dst []byte, p int32, b []byte) ([]byte, error) {
	h, err := g.hashAt(p)
	if err != nil {
		return dst, err
	}
	deps, err := g.depsAt(p)
	if err != nil {
		return dst, err
	}
	_, k := wire.ReadULEB(b[1:])
	_, k2 := wire.ReadULEB(b[1+k:])
	at := 1 + k + k2
	out := append(dst, magic[:]...)
	out = append(out, h[:4]...)
	out = append(out, b[:at]...)
	for _, d := range deps {
		dh, err := g.hashAt(d)
		if err != nil {
			return dst, err
		}
		out = append(out, dh[:]...)
	}
	return append(out, b[at:]...), nil
}
