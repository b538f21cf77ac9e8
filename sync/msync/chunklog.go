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
// into a one-slab cache; a graph given a Spill (Graph.SpillTo) keeps
// its frozen slabs there instead of in memory. A chunk costs its compressed bytes and the
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
	// cache is the last deflated or spilled slab read, as stored before
	// deflating.
	cacheAt int
	cache   []byte
	// spill holds frozen slabs out of memory when set (Graph.SpillTo);
	// the slabs before unspilled went to it, or stayed when it failed.
	spill     Spill
	unspilled int
}

// slab is a run of chunks, deflated or not: chunks first, first+1, …
// of the log, back to back; size is their length in all (data's length
// unless deflated). A frozen slab the log spilled (out) has no data: its
// bytes, as data held them, are in the log's Spill.
type slab struct {
	data     []byte
	out      *spilled
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
// they must not be modified. Reading a spilled slab can fail (an error
// wrapping ErrSpillRead); nothing changes then.
func (l *chunkLog) get(ref chunkRef) ([]byte, error) {
	s := &l.slabs[ref.s]
	data := s.data
	if s.deflated || s.out != nil {
		if l.cache == nil || l.cacheAt != int(ref.s) {
			b, err := l.load(s)
			if err != nil {
				return nil, fmt.Errorf("slab %d: %w", ref.s, err)
			}
			l.cache, l.cacheAt = b, int(ref.s)
		}
		data = l.cache
	}
	end := ref.off + ref.len()
	return data[ref.off:end:end], nil
}

// load returns slab s's chunks as stored before deflating, read from
// the spill when s is there.
func (l *chunkLog) load(s *slab) ([]byte, error) {
	b := s.data
	if s.out != nil {
		var err error
		if b, err = l.spill.Get(s.out.ref, nil); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSpillRead, err)
		}
		if len(b) != int(s.out.ref.N) {
			return nil, fmt.Errorf("%w: %d bytes read back of %d", ErrSpillRead, len(b), s.out.ref.N)
		}
	}
	if !s.deflated {
		return b, nil
	}
	out, err := inflate(b, int(s.size))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSpillRead, err)
	}
	return out, nil
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
	} else {
		s.data, s.deflated = bytes.Clone(z.buf.Bytes()), true
	}
	if l.spill != nil {
		for ; l.unspilled <= i; l.unspilled++ {
			l.spillSlab(l.unspilled)
		}
	}
}

// spillSlab moves frozen slab i to the log's spill, unless the spill
// fails to store it (it then stays in memory).
func (l *chunkLog) spillSlab(i int) {
	s := &l.slabs[i]
	ref, err := l.spill.Put(s.data)
	if err != nil {
		return
	}
	s.out, s.data = newSpilled(l.spill, ref), nil
}

// inflate returns the slab of size bytes that deflate compressed into
// b, or an error when b does not inflate to exactly that.
func inflate(b []byte, size int) ([]byte, error) {
	z := &flateState
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.r == nil {
		z.r = flate.NewReader(nil)
	}
	if err := z.r.(flate.Resetter).Reset(bytes.NewReader(b), nil); err != nil {
		return nil, fmt.Errorf("inflate slab: %w", err)
	}
	out := make([]byte, size+1)
	n, err := io.ReadFull(z.r, out)
	switch {
	case n == size && (err == io.ErrUnexpectedEOF || err == io.EOF):
		return out[:size:size], nil
	case err == nil:
		return nil, fmt.Errorf("inflate slab: more than %d bytes", size)
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		return nil, fmt.Errorf("inflate slab: %d bytes, not %d", n, size)
	}
	return nil, fmt.Errorf("inflate slab: %w", err)
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
