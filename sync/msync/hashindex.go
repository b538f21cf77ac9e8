package msync

import (
	"hash/maphash"

	"github.com/automerge/automerge-go"
)

// hashIndex finds a change's position in Graph.nodes from its hash: an
// open-addressing table of positions + 1 (0 marks an empty slot), probed
// linearly from a seeded hash of the change hash. The seed is random per
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

// find returns the position of hash in nodes, or -1.
func (x *hashIndex) find(nodes []node, hash *automerge.ChangeHash) int32 {
	if len(x.slots) == 0 {
		return -1
	}
	mask := len(x.slots) - 1
	for i := x.start(hash) & mask; ; i = (i + 1) & mask {
		p := x.slots[i]
		if p == 0 {
			return -1
		}
		if nodes[p-1].hash == *hash {
			return p - 1
		}
	}
}

// insert records that nodes[p] is at position p; its hash must not be
// in the table yet.
func (x *hashIndex) insert(nodes []node, p int32) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.grow(nodes)
	}
	x.place(&nodes[p].hash, p)
	x.n++
}

func (x *hashIndex) place(hash *automerge.ChangeHash, p int32) {
	mask := len(x.slots) - 1
	i := x.start(hash) & mask
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = p + 1
}

// grow doubles the table and places every recorded position again.
func (x *hashIndex) grow(nodes []node) {
	old := x.slots
	x.slots = make([]int32, max(minSlots, 2*len(old)))
	for _, p := range old {
		if p != 0 {
			x.place(&nodes[p-1].hash, p-1)
		}
	}
}

func (x *hashIndex) start(hash *automerge.ChangeHash) int {
	return int(maphash.Bytes(x.seed, hash[:]))
}
