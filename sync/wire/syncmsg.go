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
	m, err := ParseSync(data)
	if err != nil {
		return SyncSummary{}, err
	}
	return SyncSummary{Heads: m.Heads, Changes: m.Changes}, nil
}

// SyncChangeCount returns how many change chunks an Automerge sync
// message carries, reading past its heads, needs and haves without
// copying them (no allocation), with ParseSync's checks up to the count
// (ErrMalformed for a message that does not parse that far).
func SyncChangeCount(data []byte) (int, error) {
	p := parser{b: data}
	if t := p.byte(); p.err == nil && t != syncTypeV1 && t != syncTypeV2 {
		return 0, fmt.Errorf("%w: sync message type 0x%02x", ErrMalformed, t)
	}
	p.skipHashes()
	p.skipHashes()
	for range p.count(1) {
		p.skipHashes()
		p.bytes()
	}
	n := p.count(1)
	if p.err != nil {
		return 0, fmt.Errorf("%w: sync message: %v", ErrMalformed, p.err)
	}
	return n, nil
}

// SyncHave is one "have" of a sync message: the heads the sender last
// knew were shared and a Bloom filter (automerge's encoding, empty for
// none) of the changes it holds since.
type SyncHave struct {
	LastSync [][32]byte
	Bloom    []byte
}

// SyncMessage is an Automerge sync message split into its fields, so a
// relay can rewrite it (hold back changes, ask for more) without
// applying it. Byte slices alias the parsed input; Encode writes a new
// message.
type SyncMessage struct {
	// Type is the message type byte (0x42, or 0x43 with capabilities).
	Type    byte
	Heads   [][32]byte
	Need    [][32]byte
	Have    []SyncHave
	Changes [][]byte
	// Tail is whatever follows the changes (capabilities), kept verbatim.
	Tail []byte
}

// ParseSync splits an Automerge sync message into its fields with the
// checks of InspectSync (ErrMalformed for anything that does not parse;
// integers as automerge reads them, ReadULEB).
func ParseSync(data []byte) (SyncMessage, error) {
	p := parser{b: data}
	if len(data) == 0 {
		return SyncMessage{}, fmt.Errorf("%w: empty sync message", ErrMalformed)
	}
	var m SyncMessage
	if m.Type = p.byte(); m.Type != syncTypeV1 && m.Type != syncTypeV2 {
		return SyncMessage{}, fmt.Errorf("%w: sync message type 0x%02x", ErrMalformed, m.Type)
	}
	m.Heads = p.hashes()
	m.Need = p.hashes()
	nHaves := p.count(1)
	for range nHaves {
		h := SyncHave{LastSync: p.hashes(), Bloom: p.bytes()}
		if p.err == nil {
			m.Have = append(m.Have, h)
		}
	}
	nChanges := p.count(1)
	for range nChanges {
		if c := p.bytes(); p.err == nil {
			m.Changes = append(m.Changes, c)
		}
	}
	if p.err != nil {
		return SyncMessage{}, fmt.Errorf("%w: sync message: %v", ErrMalformed, p.err)
	}
	m.Tail = p.b
	return m, nil
}

// Encode returns the message in automerge's encoding (a new slice);
// ParseSync(m.Encode()) returns m's fields.
func (m SyncMessage) Encode() []byte {
	n := 1 + 3*binary.MaxVarintLen64 + 32*(len(m.Heads)+len(m.Need)) + len(m.Tail)
	for _, h := range m.Have {
		n += 2*binary.MaxVarintLen64 + 32*len(h.LastSync) + len(h.Bloom)
	}
	for _, c := range m.Changes {
		n += binary.MaxVarintLen64 + len(c)
	}
	b := make([]byte, 0, n)
	b = append(b, m.Type)
	b = appendHashes(b, m.Heads)
	b = appendHashes(b, m.Need)
	b = binary.AppendUvarint(b, uint64(len(m.Have)))
	for _, h := range m.Have {
		b = appendHashes(b, h.LastSync)
		b = binary.AppendUvarint(b, uint64(len(h.Bloom)))
		b = append(b, h.Bloom...)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Changes)))
	for _, c := range m.Changes {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return append(b, m.Tail...)
}

// Size returns len(m.Encode()) without encoding m.
func (m SyncMessage) Size() int {
	n := 1 + hashesSize(m.Heads) + hashesSize(m.Need) + ulebLen(uint64(len(m.Have))) + len(m.Tail)
	for _, h := range m.Have {
		n += hashesSize(h.LastSync) + ulebLen(uint64(len(h.Bloom))) + len(h.Bloom)
	}
	n += ulebLen(uint64(len(m.Changes)))
	for _, c := range m.Changes {
		n += ulebLen(uint64(len(c))) + len(c)
	}
	return n
}

func hashesSize(hs [][32]byte) int { return ulebLen(uint64(len(hs))) + 32*len(hs) }

// ulebLen is the length of v's LEB128 encoding.
func ulebLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// FitSync returns data, an Automerge sync message, within max bytes:
// as it is when it fits (not parsed then), else with only its first
// changes, as many as fit; left says how many it left out, for a later
// message. Automerge sends changes dependencies first, so the ones kept
// are ready to apply. Heads, needs, haves and trailing fields stay. A
// message whose fields besides its changes, or with its first change
// only, are over max cannot be cut to fit: ErrSyncTooLarge. A message
// over max that does not parse is ErrMalformed (ParseSync).
func FitSync(data []byte, max int) (out []byte, left int, err error) {
	if len(data) <= max {
		return data, 0, nil
	}
	m, err := ParseSync(data)
	if err != nil {
		return nil, 0, err
	}
	all := m.Changes
	m.Changes = nil
	size, kept := m.Size(), 0
	for _, c := range all {
		add := ulebLen(uint64(len(c))) + len(c) + ulebLen(uint64(kept+1)) - ulebLen(uint64(kept))
		if size+add > max {
			break
		}
		size += add
		kept++
	}
	if kept == 0 {
		if len(all) == 0 {
			return nil, 0, fmt.Errorf("%w: %d bytes without changes, limit %d", ErrSyncTooLarge, size, max)
		}
		return nil, 0, fmt.Errorf("%w: %d bytes with a first change of %d bytes, limit %d", ErrSyncTooLarge, size, len(all[0]), max)
	}
	m.Changes = all[:kept]
	return m.Encode(), len(all) - kept, nil
}

func appendHashes(b []byte, hs [][32]byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(hs)))
	for _, h := range hs {
		b = append(b, h[:]...)
	}
	return b
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

// ReadULEB reads an unsigned LEB128 integer as automerge does: at most
// 64 bits, and no overlong encoding (a last byte of 0 after the first).
// It returns the value and the bytes read, or n == 0 for bad input.
func ReadULEB(b []byte) (v uint64, n int) {
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

func (p *parser) uleb() uint64 {
	if p.err != nil {
		return 0
	}
	v, n := ReadULEB(p.b)
	if n == 0 {
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

// skipHashes reads past a hash list.
func (p *parser) skipHashes() {
	if n := p.count(32); p.err == nil {
		p.b = p.b[32*n:]
	}
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
