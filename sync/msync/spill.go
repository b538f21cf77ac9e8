package msync

import (
	"errors"
	"runtime"
)

// Spill holds the frozen slabs of graphs' chunk logs out of the Go heap
// (a relay's file, package filespill): a graph given one (SpillTo)
// keeps only the newest two slabs of chunks in memory, where what
// followers ask for lies, and reads an older one back when a peer far
// behind, a catch-up or Guard needs a chunk of it. One Spill serves
// every graph of a process: implementations are safe for concurrent
// use. What a Spill holds is derived state: the store holds every
// change, and a graph is rebuilt from it on load, so a Spill need not
// survive the process.
//
// Reads of a local file are not cancellable, so no method takes a
// context.
type Spill interface {
	// Put stores a copy of data and returns where it lies. On an error
	// nothing is stored and the caller keeps data.
	Put(data []byte) (SpillRef, error)
	// Get appends the bytes stored at ref to dst and returns the
	// extended slice, or an error (wrapping ErrSpillRead) when they
	// cannot be read back whole.
	Get(ref SpillRef, dst []byte) ([]byte, error)
	// Free releases the bytes at ref, which Put returned and which is
	// not used again.
	Free(ref SpillRef)
}

// SpillRef says where a Spill stored a slab: Off is the Spill's own
// (an offset in a file), N the slab's length.
type SpillRef struct {
	Off uint64
	N   uint32
}

// ErrSpillRead is wrapped by every error of a graph reading a chunk back
// from a frozen slab: Spill.Get failed, or the slab's bytes do not
// inflate to its size. The read fails and the graph stays as it was, so
// a later read may succeed.
var ErrSpillRead = errors.New("msync: read spilled chunks")

// spilled is a slab stored in a Spill. When the graph holding it is
// collected, a cleanup frees the bytes (runtime.AddCleanup): a graph
// dropped (a document unloaded, a graph rebuilt) needs no call.
type spilled struct {
	ref SpillRef
}

// spillFree is the cleanup of a spilled slab.
type spillFree struct {
	s   Spill
	ref SpillRef
}

func (f spillFree) free() { f.s.Free(f.ref) }

// newSpilled returns the record of data stored in s at ref, whose bytes
// s frees once the record is collected.
func newSpilled(s Spill, ref SpillRef) *spilled {
	o := &spilled{ref: ref}
	runtime.AddCleanup(o, spillFree.free, spillFree{s: s, ref: ref})
	return o
}

// SpillTo has g keep its frozen chunk slabs in s from now on, and one
// slab behind them the nodes of their changes (the cold prefix,
// coldnodes.go): each slab as it leaves the tail, and with the first of
// them every slab frozen before the call (a graph loaded from the store
// only to answer a first sync, and unloaded before it grows, costs no
// writes and no reads back). A slab s fails to store stays in memory (g
// then costs what it did without s for it); a page of nodes it refuses
// stops the cold prefix there (it is contiguous) until a later freeze
// stores it. A graph spills to one Spill only: a second call with
// another is ignored.
func (g *Graph) SpillTo(s Spill) {
	if s != nil && g.chunks.spill == nil {
		g.chunks.spill = s
	}
}

// SpillUse is what a graph holds in its Spill (Graph.Spilled).
type SpillUse struct {
	// Slabs counts the chunk slabs spilled.
	Slabs int
	// Pages counts the pages of cold nodes spilled, and Cold the changes
	// they hold (the graph's positions 0 through Cold-1).
	Pages, Cold int
	// Bytes counts the bytes of both, as stored (slabs deflated).
	Bytes int
}

// Spilled returns what g holds in its Spill.
func (g *Graph) Spilled() SpillUse {
	u := SpillUse{Pages: len(g.cold.pages), Cold: int(g.hot)}
	for i := range g.chunks.slabs {
		if o := g.chunks.slabs[i].out; o != nil {
			u.Slabs++
			u.Bytes += int(o.ref.N)
		}
	}
	for _, o := range g.cold.pages {
		u.Bytes += int(o.ref.N)
	}
	return u
}
