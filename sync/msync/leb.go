package msync

import (
	"fmt"

	"github.com/automerge/automerge-go"
)

// uleb reads an unsigned LEB128 integer as automerge does: at most 64
// bits, and no overlong encoding (a last byte of 0 after the first).
// It returns the value and the bytes read, or n == 0 for bad input.
func uleb(b []byte) (v uint64, n int) {
	var shift uint
	for i, c := range b {
		if shift == 63 && c > 1 {
			return 0, 0 // beyond 64 bits
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			if i > 0 && c == 0 {
				return 0, 0 // overlong
			}
			return v, i + 1
		}
		shift += 7
		if shift > 63 {
			return 0, 0
		}
	}
	return 0, 0 // truncated
}

// reader reads automerge's framing; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
	r.b = nil
}

func (r *reader) uleb() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := uleb(r.b)
	if n == 0 {
		r.fail("bad LEB128 integer")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads an element count and checks that count*minSize bytes can
// still follow.
func (r *reader) count(minSize int) int {
	n := r.uleb()
	if r.err == nil && n > uint64(len(r.b)/minSize) {
		r.fail("count %d exceeds remaining %d bytes", n, len(r.b))
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

func (r *reader) hashes() []automerge.ChangeHash {
	n := r.count(32)
	if r.err != nil || n == 0 {
		return nil
	}
	hs := make([]automerge.ChangeHash, n)
	for i := range hs {
		hs[i] = automerge.ChangeHash(r.b[32*i : 32*i+32])
	}
	r.b = r.b[32*n:]
	return hs
}

func (r *reader) bytes() []byte {
	n := r.uleb()
	if r.err == nil && n > uint64(len(r.b)) {
		r.fail("length %d exceeds remaining %d bytes", n, len(r.b))
	}
	if r.err != nil {
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}
