package counting

import (
	"encoding/binary"
	"math"
	"unicode/utf8"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
)

// decodeWireFast decodes a compact upload (api.PlaysRequestWire) without
// reflection, for the common form only: definite lengths, the two- and
// ten-element arrays, unsigned or negative integers in range, valid UTF-8
// text and a byte-string signature, nothing after it. On anything else
// it reports false and the caller decodes with wireDec, so the accepted
// uploads and the errors are wireDec's; whatever it accepts, wireDec
// decodes to the same value (FuzzWireFastMatches).
func decodeWireFast(b []byte) (api.PlaysRequestWire, bool) {
	d := wireReader{b: b, seen: map[string]string{}}
	var w api.PlaysRequestWire
	if n, ok := d.head(4); !ok || n != 2 {
		return w, false
	}
	sig, ok := d.bytes(2)
	if !ok {
		return w, false
	}
	n, ok := d.head(4)
	if !ok || n > maxWireEvents || n > uint64(len(d.b)) {
		return w, false
	}
	w.Sig = append(make([]byte, 0, len(sig)), sig...)
	w.Events = make([]api.PlayWire, n)
	for i := range w.Events {
		e := &w.Events[i]
		if m, ok := d.head(4); !ok || m != 10 {
			return w, false
		}
		var strs [6]string
		var ints [2]int64
		var ok [10]bool
		e.Seq, ok[0] = d.head(0)
		strs[0], ok[1] = d.text()
		strs[1], ok[2] = d.text()
		strs[2], ok[3] = d.text()
		strs[3], ok[4] = d.text()
		ints[0], ok[5] = d.int()
		ints[1], ok[6] = d.int()
		strs[4], ok[7] = d.text()
		strs[5], ok[8] = d.text()
		var flags uint64
		flags, ok[9] = d.head(0)
		if ok != [10]bool{true, true, true, true, true, true, true, true, true, true} || flags > math.MaxUint8 {
			return w, false
		}
		e.Track, e.Tier, e.CtxKind, e.CtxID = model.TrackID(strs[0]), model.Tier(strs[1]), strs[2], strs[3]
		e.StartedAt, e.PlayedMs = ints[0], ints[1]
		e.EndReason, e.Source, e.Flags = model.EndReason(strs[4]), model.PlaySource(strs[5]), uint8(flags)
	}
	return w, len(d.b) == 0
}

// maxWireEvents is wireDec's array limit.
const maxWireEvents = 1 << 16

// wireReader reads CBOR data items from the front of b.
type wireReader struct {
	b []byte
	// seen interns short texts: an upload repeats its tracks, tiers,
	// end reasons and sources, so most events allocate no string.
	seen map[string]string
}

// maxInterned bounds the texts wireReader interns (longer ones, and any
// beyond 4,096 distinct, are allocated each time).
const maxInterned = 64

// head reads the head of a data item of major type major and returns its
// argument; false for another type, an indefinite length or a truncation.
func (r *wireReader) head(major byte) (uint64, bool) {
	if len(r.b) == 0 || r.b[0]>>5 != major {
		return 0, false
	}
	ai := r.b[0] & 0x1f
	var v uint64
	var n int
	switch {
	case ai < 24:
		v, n = uint64(ai), 1
	case ai == 24 && len(r.b) >= 2:
		v, n = uint64(r.b[1]), 2
	case ai == 25 && len(r.b) >= 3:
		v, n = uint64(binary.BigEndian.Uint16(r.b[1:])), 3
	case ai == 26 && len(r.b) >= 5:
		v, n = uint64(binary.BigEndian.Uint32(r.b[1:])), 5
	case ai == 27 && len(r.b) >= 9:
		v, n = binary.BigEndian.Uint64(r.b[1:]), 9
	default:
		return 0, false
	}
	r.b = r.b[n:]
	return v, true
}

// bytes reads a string of major type major (2 bytes, 3 text) and returns
// its content (a subslice of the input).
func (r *wireReader) bytes(major byte) ([]byte, bool) {
	n, ok := r.head(major)
	if !ok || n > uint64(len(r.b)) {
		return nil, false
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s, true
}

// text reads a text string holding valid UTF-8.
func (r *wireReader) text() (string, bool) {
	s, ok := r.bytes(3)
	if !ok || !utf8.Valid(s) {
		return "", false
	}
	if len(s) > maxInterned {
		return string(s), true
	}
	if v, ok := r.seen[string(s)]; ok {
		return v, true
	}
	v := string(s)
	if len(r.seen) < 4096 {
		r.seen[v] = v
	}
	return v, true
}

// int reads an integer (major type 0 or 1) that fits an int64.
func (r *wireReader) int() (int64, bool) {
	if len(r.b) == 0 {
		return 0, false
	}
	neg := r.b[0]>>5 == 1
	major := byte(0)
	if neg {
		major = 1
	}
	v, ok := r.head(major)
	if !ok || v > math.MaxInt64 {
		return 0, false
	}
	if neg {
		return -1 - int64(v), true
	}
	return int64(v), true
}
