package msync

import (
	"hash/maphash"

	"github.com/automerge/automerge-go"
)

// hashIndex finds a change's position in a Graph from its hash: an
// open-addressing table of positions + 1 (0 marks an empty slot), probed
// linearly from a seeded hash of the change hash (start), whose low 32
// bits are a cold change's fingerprint (coldNodes.fps). The low b bits
// of a table of 2^b slots also place it, so two hashes from one home
// slot share them and their fingerprints tell them apart by 32−b bits:
// a probe reads a cold page for a stranger about once in 2^(32−b).
// The seed is random per
// index, so a peer that chooses its changes cannot make their hashes
// share a probe sequence. The table is at most three-quarters full, so a
// change costs it 5–11 bytes; it never shrinks (a graph only grows).
type hashIndex struct {
	slots []int32
	n     int
	seed  maphash.Seed
}

func newHashIndex() hashIndex { return hashIndex{seed: maphash.MakeSeed()} }

// minSlots is the size of a table's first allocation.
const minSlots = 8

// find returns the position of hash in g, or -1. A hot change's hash
// is compared whole; a cold one's fingerprint first, and its page read
// back only when that matches (Graph.coldHashIs).
func (x *hashIndex) find(g *Graph, hash *automerge.ChangeHash) int32 {
	if len(x.slots) == 0 {
		return -1
	}
	slots, mask := x.slots, len(x.slots)-1
	nodes, hot := g.nodes, g.hot
	h := x.start(hash)
	for i := h & mask; ; i = (i + 1) & mask {
		p := slots[i] - 1
		switch {
		case p < 0:
			return -1
		case p >= hot:
			if nodes[p-hot].hash == *hash {
				return p
			}
		case g.cold.fps[p] == uint32(h) && g.coldHashIs(p, hash):
			return p
		}
	}
}

// insert records that the change at p, which is hot, is there; its hash
// must not be in the table yet.
func (x *hashIndex) insert(g *Graph, p int32) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.grow(g)
	}
	x.place(x.start(&g.nodes[p-g.hot].hash), p)
	x.n++
}

// place records position p in the slot its hash h (start) leads to.
func (x *hashIndex) place(h int, p int32) {
	mask := len(x.slots) - 1
	i := h & mask
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = p + 1
}

// grow doubles the table and places every recorded position again, a
// cold one by its fingerprint (the low bits of start, which are all a
// table of up to 2³² slots uses).
func (x *hashIndex) grow(g *Graph) {
	old := x.slots
	x.slots = make([]int32, max(minSlots, 2*len(old)))
	for _, p := range old {
		if p--; p < 0 {
			continue
		}
		if p >= g.hot {
			x.place(x.start(&g.nodes[p-g.hot].hash), p)
		} else {
			x.place(int(g.cold.fps[p]), p)
		}
	}
}

func (x *hashIndex) start(hash *automerge.ChangeHash) int {
	return int(maphash.Bytes(x.seed, hash[:]))
}
