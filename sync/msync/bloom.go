package msync

import (
	"encoding/binary"
	"fmt"

	"github.com/segue-fm/segue/sync/wire"

	"github.com/automerge/automerge-go"
)

// Automerge's Bloom filter parameters (sync/bloom.rs).
const (
	bitsPerEntry = 10
	numProbes    = 7
)

// MaxProbes bounds the probes per lookup a decoded Bloom filter may ask
// for: automerge always writes 7; a filter asking for more is refused
// rather than costing its reader that many probes per change.
const MaxProbes = 64

// Bloom is automerge's Bloom filter of change hashes. The zero value is
// the empty filter, which contains nothing.
type Bloom struct {
	entries, bitsPer, probes uint32
	bits                     []byte
}

// bitsLen is automerge's bits_capacity: ceil(entries × bitsPer / 8).
func bitsLen(entries, bitsPer uint32) uint64 {
	return (uint64(entries)*uint64(bitsPer) + 7) / 8
}

// NewBloom returns the filter of hashes, as automerge builds it.
func NewBloom(hashes []automerge.ChangeHash) Bloom {
	b := Bloom{entries: uint32(len(hashes)), bitsPer: bitsPerEntry, probes: numProbes}
	b.bits = make([]byte, bitsLen(b.entries, b.bitsPer))
	if len(b.bits) == 0 {
		return b
	}
	for i := range hashes {
		b.probe(&hashes[i], func(p uint32) bool {
			b.bits[p>>3] |= 1 << (p & 7)
			return true
		})
	}
	return b
}

// DecodeBloom reads a filter in automerge's encoding: empty for the
// empty filter, else LEB128 entries, bits per entry and probes, then
// the bits. Bytes after the bits are ignored, as automerge does.
func DecodeBloom(raw []byte) (Bloom, error) {
	if len(raw) == 0 {
		return Bloom{}, nil
	}
	var v [3]uint32
	for i := range v {
		n, k := wire.ReadULEB(raw)
		if k <= 0 || n > 1<<32-1 {
			return Bloom{}, fmt.Errorf("%w: bloom filter header", ErrMalformed)
		}
		v[i], raw = uint32(n), raw[k:]
	}
	b := Bloom{entries: v[0], bitsPer: v[1], probes: v[2]}
	n := bitsLen(b.entries, b.bitsPer)
	if n > uint64(len(raw)) {
		return Bloom{}, fmt.Errorf("%w: bloom filter: %d bytes of bits, %d left", ErrMalformed, n, len(raw))
	}
	if b.entries > 0 && n == 0 {
		return Bloom{}, fmt.Errorf("%w: bloom filter: %d entries without bits", ErrMalformed, b.entries)
	}
	if b.probes > MaxProbes {
		return Bloom{}, fmt.Errorf("%w: bloom filter: %d probes, at most %d", ErrMalformed, b.probes, MaxProbes)
	}
	b.bits = raw[:n:n]
	return b, nil
}

// Bytes returns the filter in automerge's encoding (empty for a filter
// without entries).
func (b Bloom) Bytes() []byte {
	if b.entries == 0 {
		return nil
	}
	return b.appendEncoded(make([]byte, 0, 3*binary.MaxVarintLen32+len(b.bits)))
}

// encodedLen bounds the bytes appendTo adds.
func (b Bloom) encodedLen() int {
	return binary.MaxVarintLen64 + 3*binary.MaxVarintLen32 + len(b.bits)
}

// size is the exact length of what appendTo appends.
func (b Bloom) size() int {
	if b.entries == 0 {
		return 1
	}
	n := uvarintLen(uint64(b.entries)) + uvarintLen(uint64(b.bitsPer)) + uvarintLen(uint64(b.probes)) + len(b.bits)
	return uvarintLen(uint64(n)) + n
}

// appendTo appends the filter as a sync message's have holds it: the
// length of its encoding (Bytes), then the encoding.
func (b Bloom) appendTo(dst []byte) []byte {
	if b.entries == 0 {
		return append(dst, 0)
	}
	n := uvarintLen(uint64(b.entries)) + uvarintLen(uint64(b.bitsPer)) + uvarintLen(uint64(b.probes)) + len(b.bits)
	return b.appendEncoded(binary.AppendUvarint(dst, uint64(n)))
}

func (b Bloom) appendEncoded(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(b.entries))
	dst = binary.AppendUvarint(dst, uint64(b.bitsPer))
	dst = binary.AppendUvarint(dst, uint64(b.probes))
	return append(dst, b.bits...)
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// Contains reports whether the filter may contain hash (false for
// certain when it does not).
func (b Bloom) Contains(hash *automerge.ChangeHash) bool {
	if b.entries == 0 || len(b.bits) == 0 {
		return false
	}
	return b.probe(hash, func(p uint32) bool { return b.bits[p>>3]&(1<<(p&7)) != 0 })
}

// probe calls fn with each of hash's probe positions (automerge's
// get_probes: three little-endian words of the hash, double hashing
// modulo the number of bits) until fn returns false; it reports whether
// fn never did. len(b.bits) must not be 0. Positions are computed in
// 64 bits; automerge's 32-bit arithmetic gives the same values for any
// filter shorter than 512 MiB.
func (b Bloom) probe(hash *automerge.ChangeHash, fn func(p uint32) bool) bool {
	modulo := uint64(len(b.bits)) * 8
	x := uint64(binary.LittleEndian.Uint32(hash[0:4])) % modulo
	y := uint64(binary.LittleEndian.Uint32(hash[4:8])) % modulo
	z := uint64(binary.LittleEndian.Uint32(hash[8:12])) % modulo
	// automerge takes the first probe even when asked for none.
	if !fn(uint32(x)) {
		return false
	}
	for i := uint32(1); i < b.probes; i++ {
		x = (x + y) % modulo
		y = (y + z) % modulo
		if !fn(uint32(x)) {
			return false
		}
	}
	return true
}
