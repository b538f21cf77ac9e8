package access

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/segue-fm/segue/core/model"
)

// Errors of the package.
var (
	// ErrBadRecord: a record does not encode (a field too long, an
	// unknown kind) or bytes do not decode as a record.
	ErrBadRecord = errors.New("access: bad record")
	// ErrCorrupt: stored records fail their checksum or framing.
	ErrCorrupt = errors.New("access: corrupt log")
	// ErrFull: the writer's queue holds MaxPending records; the record was
	// dropped.
	ErrFull = errors.New("access: queue full, record dropped")
	// ErrPruned: a scan reaches before the first day retention kept
	// (Pruner.Prune): the records it needs are gone.
	ErrPruned = errors.New("access: records pruned by retention")
	// ErrClosed: the writer was closed.
	ErrClosed = errors.New("access: writer closed")
)

// Version is the encoding version Record.AppendBinary writes (the first
// byte of every encoded record). Decode refuses other versions.
const Version = 1

// MaxFieldLen is the longest Device, Track, Tier or License accepted (the
// encoding gives them a one-byte length).
const MaxFieldLen = 255

// MaxEncodedLen bounds an encoded record: the fixed fields, four strings
// of MaxFieldLen, the hash and five varints.
const MaxEncodedLen = 2 + 8 + 4*(1+MaxFieldLen) + 32 + 5*binary.MaxVarintLen64

// Kind says what a Record grants or serves.
type Kind uint8

// Record kinds.
const (
	// KindChunk: audio chunks First..Last of (Track, Tier) served by
	// position (/v1/audio/{track}/{tier}/chunks/{i}); Blob is the chunk's
	// blob.
	KindChunk Kind = 1
	// KindHeader: the header blob of (Track, Tier).
	KindHeader Kind = 2
	// KindBlob: a blob served by hash (/v1/blobs/{hash}) where the server
	// did not resolve it to a track; Track and Tier are empty and
	// reconciliation maps Blob to its (track, tier, chunk) through the
	// catalog's manifests.
	KindBlob Kind = 3
	// KindLicense: an offline license for (Track, Tier) issued to Device,
	// License its id, Expires its expiry. No bytes, no blob.
	KindLicense Kind = 4
)

func (k Kind) valid() bool { return k >= KindChunk && k <= KindLicense }

// String returns the kind's name ("chunk", "header", "blob", "license").
func (k Kind) String() string {
	switch k {
	case KindChunk:
		return "chunk"
	case KindHeader:
		return "header"
	case KindBlob:
		return "blob"
	case KindLicense:
		return "license"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Record is one access: what was served or licensed to which device and
// when. Served records (chunk, header, blob) carry the blob hash and the
// bytes sent; license records carry the license id and expiry.
type Record struct {
	Kind   Kind
	Time   int64 // Unix ms, the server's clock when the response was sent
	Device model.DeviceID
	Track  model.TrackID // empty for KindBlob
	Tier   model.Tier    // empty for KindBlob
	// First and Last are the inclusive chunk range (KindChunk; 0 otherwise).
	First, Last uint32
	// Blob is the served blob's SHA-256 (zero for KindLicense).
	Blob [32]byte
	// Offset is the first byte of the blob sent (a Range request), Bytes
	// the body bytes sent (for a multi-range answer, its multipart body).
	Offset, Bytes uint64
	// License is the license id and Expires its expiry, Unix ms
	// (KindLicense only).
	License string
	Expires int64
}

// served reports whether r's kind carries a blob and bytes.
func (r Record) served() bool { return r.Kind != KindLicense }

// AppendBinary appends r's encoding to b (encoding.BinaryAppender):
//
//	u8 version (1) ‖ u8 kind ‖ i64 time (big endian) ‖ str device ‖
//	str track ‖ str tier ‖ then for chunk/header/blob:
//	uvarint first ‖ uvarint last ‖ [32] blob ‖ uvarint offset ‖ uvarint bytes,
//	for license: str license ‖ varint expires
//
// where str is a u8 length and the bytes. It fails with ErrBadRecord for
// an unknown kind, a negative time, a string longer than MaxFieldLen or
// Last < First.
func (r Record) AppendBinary(b []byte) ([]byte, error) {
	if !r.Kind.valid() {
		return b, fmt.Errorf("%w: kind %d", ErrBadRecord, r.Kind)
	}
	if r.Time < 0 {
		return b, fmt.Errorf("%w: time %d before 1970", ErrBadRecord, r.Time)
	}
	if r.Last < r.First {
		return b, fmt.Errorf("%w: chunk range %d..%d", ErrBadRecord, r.First, r.Last)
	}
	for _, s := range [...]string{string(r.Device), string(r.Track), string(r.Tier), r.License} {
		if len(s) > MaxFieldLen {
			return b, fmt.Errorf("%w: field of %d bytes", ErrBadRecord, len(s))
		}
	}
	b = append(b, Version, byte(r.Kind))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time))
	b = appendStr(b, string(r.Device))
	b = appendStr(b, string(r.Track))
	b = appendStr(b, string(r.Tier))
	if r.served() {
		b = binary.AppendUvarint(b, uint64(r.First))
		b = binary.AppendUvarint(b, uint64(r.Last))
		b = append(b, r.Blob[:]...)
		b = binary.AppendUvarint(b, r.Offset)
		b = binary.AppendUvarint(b, r.Bytes)
		return b, nil
	}
	b = appendStr(b, r.License)
	return binary.AppendVarint(b, r.Expires), nil
}

func appendStr(b []byte, s string) []byte {
	return append(append(b, byte(len(s))), s...)
}

// Decode parses one encoded record; the whole of b must be the record.
// It never panics on any input and returns ErrBadRecord for anything but
// a well-formed version-1 record.
func Decode(b []byte) (Record, error) {
	d := decoder{b: b}
	var r Record
	if v := d.byte(); v != Version && d.err == nil {
		return r, fmt.Errorf("%w: version %d", ErrBadRecord, v)
	}
	r.Kind = Kind(d.byte())
	if d.err == nil && !r.Kind.valid() {
		return r, fmt.Errorf("%w: kind %d", ErrBadRecord, r.Kind)
	}
	r.Time = int64(d.u64())
	if d.err == nil && r.Time < 0 {
		return Record{}, fmt.Errorf("%w: time before 1970", ErrBadRecord)
	}
	r.Device = model.DeviceID(d.str())
	r.Track = model.TrackID(d.str())
	r.Tier = model.Tier(d.str())
	if r.served() {
		first, last := d.uvarint(), d.uvarint()
		if d.err == nil && (first > 1<<32-1 || last > 1<<32-1 || last < first) {
			return r, fmt.Errorf("%w: chunk range %d..%d", ErrBadRecord, first, last)
		}
		r.First, r.Last = uint32(first), uint32(last)
		copy(r.Blob[:], d.take(32))
		r.Offset = d.uvarint()
		r.Bytes = d.uvarint()
	} else {
		r.License = d.str()
		r.Expires = d.varint()
	}
	if d.err != nil {
		return Record{}, d.err
	}
	if len(d.b) != 0 {
		return Record{}, fmt.Errorf("%w: %d trailing bytes", ErrBadRecord, len(d.b))
	}
	return r, nil
}

// decoder reads fields from b, remembering the first error; after an
// error every read returns zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.err = fmt.Errorf("%w: truncated", ErrBadRecord)
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) byte() byte {
	p := d.take(1)
	if p == nil {
		return 0
	}
	return p[0]
}

func (d *decoder) u64() uint64 {
	p := d.take(8)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

func (d *decoder) str() string {
	n := int(d.byte())
	return string(d.take(n))
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad varint", ErrBadRecord)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad varint", ErrBadRecord)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// RangeStart returns the first byte of a single-range Content-Range
// header value ("bytes a-b/n"): the Offset of a record for a ranged
// answer. Anything else gives 0 (a multipart answer has no single start).
func RangeStart(contentRange string) uint64 {
	rest, ok := strings.CutPrefix(contentRange, "bytes ")
	if !ok {
		return 0
	}
	a, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0
	}
	n, err := strconv.ParseUint(a, 10, 64)
	if err != nil {
		return 0
	}
	return n
}
