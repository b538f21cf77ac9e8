package msync

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"sort"
	"sync"
)

// chunkLog holds a graph's encoded chunks, appended in history order,
// in slabs of about slabSize bytes. The newest two slabs (the tail,
// where what followers ask for lies) stay as they are; an older one is
// frozen: its owner rewrites its chunks (Graph.freeze leaves out what
// the graph itself knows of a change: its checksum and its dependencies'
// hashes) and the slab is deflated, a slab of playlist edits to about a
// fifth of its size (TestChunkLogCompresses), and inflated on a read
// into a one-slab cache. A chunk costs its compressed bytes and the
// 4 bytes of its length in its graph's node instead of its own
// allocation and a 24-byte slice header.
//
// Bytes handed out are never modified afterwards: a slab is appended
// to, never rewritten, and a slab replaced (frozen, or the cache
// refilled) leaves the old array to whoever still holds a slice of it.
// The log records where each slab's chunks start in the sequence of
// chunks added (slab.first); their offsets within it follow from their
// lengths, which its owner holds (Graph.ref). A chunkLog is not safe
// for concurrent use.
type chunkLog struct {
	slabs []slab
	// cache is the last deflated slab read, inflated.
	cacheAt int
	cache   []byte
}

// slab is a run of chunks, deflated or not: chunks first, first+1, …
// of the log, back to back; size is their length in all (data's length
// unless deflated).
type slab struct {
	data     []byte
	first    int32
	size     uint32
	deflated bool
}

// chunkRef places a chunk in a chunkLog: bytes off through
// off+len()-1 of slab s (uncompressed offsets). The top bit of n marks
// a chunk its graph stored stripped (Graph.freeze). A graph keeps only
// n of it for each change (Graph.ref rebuilds the rest).
type chunkRef struct {
	s, off, n uint32
}

// strippedBit is the bit of chunkRef.n that marks a stripped chunk.
const strippedBit = 1 << 31

// len returns the length of the chunk's bytes in its slab.
func (r chunkRef) len() uint32 { return r.n &^ strippedBit }

// stripped reports whether the chunk is stored stripped.
func (r chunkRef) stripped() bool { return r.n&strippedBit != 0 }

// slabSize is the size past which the open slab is closed: a slab is
// inflated whole to read one chunk of it (≈ 42 µs at 8 KiB, 76 µs at
// 16 KiB: BenchmarkChunkLogColdRead), and 8 KiB slabs hold a playlist's
// edits in as little memory as 16 KiB slabs do (the smaller tail makes
// up for the weaker compression; 4 KiB costs ≈ 9 B more per change).
const slabSize = 8 << 10

// add appends raw (copied; under 2 GiB), chunk at of the log (the
// count of chunks added before it), and returns where it lies, and the
// slab that left the tail as it was appended, to be frozen by the
// caller (freeze), or -1.
func (l *chunkLog) add(raw []byte, at int32) (ref chunkRef, closed int) {
	closed = -1
	n := len(l.slabs)
	if n == 0 || len(l.slabs[n-1].data) >= slabSize {
		var data []byte
		if n > 0 {
			// The slab closed stays in the tail as it is: trim the
			// slack its growth left (only a first slab grows).
			if s := &l.slabs[n-1]; cap(s.data)-len(s.data) > slabSize/8 {
				s.data = bytes.Clone(s.data)
			}
			// A document past one slab goes on growing: the next slab
			// is allocated at its size at once.
			data = make([]byte, 0, slabSize+slabSize/8)
		}
		if n >= 2 {
			closed = n - 2
		}
		l.slabs = append(l.slabs, slab{data: data, first: at})
		n++
	}
	s := &l.slabs[n-1]
	ref = chunkRef{s: uint32(n - 1), off: uint32(len(s.data)), n: uint32(len(raw))}
	s.data = append(s.data, raw...)
	s.size = uint32(len(s.data))
	return ref, closed
}

// slabOf returns the slab that holds chunk at, which the log holds.
func (l *chunkLog) slabOf(at int32) int {
	if n := len(l.slabs); l.slabs[n-1].first <= at {
		return n - 1
	}
	return sort.Search(len(l.slabs), func(i int) bool { return l.slabs[i].first > at }) - 1
}

// get returns the bytes at ref as stored (stripped when ref says so);
// they must not be modified.
func (l *chunkLog) get(ref chunkRef) []byte {
	s := &l.slabs[ref.s]
	data := s.data
	if s.deflated {
		if l.cache == nil || l.cacheAt != int(ref.s) {
			l.cache, l.cacheAt = inflate(s.data), int(ref.s)
		}
		data = l.cache
	}
	end := ref.off + ref.len()
	return data[ref.off:end:end]
}

// freeze replaces slab i, out of the tail, by data — its chunks as the
// caller rewrote them, their refs changed to match — deflated, or as it
// is when deflating would not make it smaller.
func (l *chunkLog) freeze(i int, data []byte) {
	s := &l.slabs[i]
	if s.deflated {
		return
	}
	s.size = uint32(len(data))
	z := &flateState
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.w == nil {
		z.w, _ = flate.NewWriter(nil, flate.BestSpeed)
	}
	z.buf.Reset()
	z.w.Reset(&z.buf)
	// Writes to a bytes.Buffer do not fail.
	_, _ = z.w.Write(data)
	_ = z.w.Close()
	if z.buf.Len() >= len(data) {
		// Keep it as it is, trimmed to its length.
		s.data = bytes.Clone(data)
		return
	}
	s.data, s.deflated = bytes.Clone(z.buf.Bytes()), true
}

// inflate returns the slab that deflate compressed into b. b is the
// graph's own output, held in its memory: it failing to inflate means
// the process's memory is corrupt, and inflate panics.
func inflate(b []byte) []byte {
	z := &flateState
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.r == nil {
		z.r = flate.NewReader(nil)
	}
	err := z.r.(flate.Resetter).Reset(bytes.NewReader(b), nil)
	var out bytes.Buffer
	out.Grow(slabSize + slabSize/4)
	if err == nil {
		_, err = out.ReadFrom(z.r)
	}
	if err != nil {
		panic(fmt.Sprintf("msync: inflate chunk slab: %v", err))
	}
	return out.Bytes()
}

// flateState is flate's state (hundreds of KiB for a writer), made once
// and shared by every graph: slabs are closed rarely (one per 8 KiB of
// changes) and read back more rarely still, so one of each, under a
// lock, serves a relay.
var flateState struct {
	mu  sync.Mutex
	w   *flate.Writer
	r   io.ReadCloser
	buf bytes.Buffer
}
