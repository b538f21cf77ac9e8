package wire

import (
	"encoding/binary"
	"fmt"
)

// Automerge sync message type bytes (automerge-rs sync.rs).
const (
	syncTypeV1 = 0x42
	syncTypeV2 = 0x43
)

// SyncSummary is what a relay needs to know about an Automerge sync
// message without applying it: the sender's heads and the raw chunks
// (changes, or in version-2 messages possibly a whole compressed
// document) it carries. Changes alias the input slice.
type SyncSummary struct {
	Heads   [][32]byte
	Changes [][]byte
}

// InspectSync parses the envelope of an Automerge sync message (the data
// of a sync or request message): type byte 0x42 or 0x43, heads, needs,
// haves (last-sync hashes and bloom filters), then the length-prefixed
// change chunks; trailing capability fields are ignored. Every count and
// length is checked against the bytes that remain, so hostile input
// fails with ErrMalformed and never allocates more than len(data).
func InspectSync(data []byte) (SyncSummary, error) {
	p := parser{b: data}
	if len(data) == 0 {
		return SyncSummary{}, fmt.Errorf("%w: empty sync message", ErrMalformed)
	}
	if t := p.byte(); t != syncTypeV1 && t != syncTypeV2 {
		return SyncSummary{}, fmt.Errorf("%w: sync message type 0x%02x", ErrMalformed, t)
	}
	var s SyncSummary
	s.Heads = p.hashes()
	p.hashes() // needs
	nHaves := p.count(1)
	for range nHaves {
		p.hashes() // last sync
		p.bytes()  // bloom filter
	}
	nChanges := p.count(1)
	for range nChanges {
		if c := p.bytes(); p.err == nil {
			s.Changes = append(s.Changes, c)
		}
	}
	if p.err != nil {
		return SyncSummary{}, fmt.Errorf("%w: sync message: %v", ErrMalformed, p.err)
	}
	return s, nil
}

// parser reads LEB128-framed fields; the first error sticks and makes
// every later read return zero values.
type parser struct {
	b   []byte
	err error
}

func (p *parser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf(format, args...)
	}
	p.b = nil
}

func (p *parser) byte() byte {
	if p.err != nil || len(p.b) < 1 {
		p.fail("truncated")
		return 0
	}
	c := p.b[0]
	p.b = p.b[1:]
	return c
}

func (p *parser) uleb() uint64 {
	if p.err != nil {
		return 0
	}
	v, n := binary.Uvarint(p.b)
	if n <= 0 {
		p.fail("bad LEB128 integer")
		return 0
	}
	p.b = p.b[n:]
	return v
}

// count reads an element count and checks that count*minSize bytes can
// still follow.
func (p *parser) count(minSize int) int {
	n := p.uleb()
	if p.err != nil {
		return 0
	}
	if n > uint64(len(p.b)/minSize) {
		p.fail("count %d exceeds remaining %d bytes", n, len(p.b))
		return 0
	}
	return int(n)
}

func (p *parser) hashes() [][32]byte {
	n := p.count(32)
	if p.err != nil || n == 0 {
		return nil
	}
	hs := make([][32]byte, n)
	for i := range hs {
		copy(hs[i][:], p.b[:32])
		p.b = p.b[32:]
	}
	return hs
}

func (p *parser) bytes() []byte {
	n := p.uleb()
	if p.err != nil {
		return nil
	}
	if n > uint64(len(p.b)) {
		p.fail("length %d exceeds remaining %d bytes", n, len(p.b))
		return nil
	}
	v := p.b[:n:n]
	p.b = p.b[n:]
	return v
}
