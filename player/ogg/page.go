package ogg

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Header type flags of an Ogg page.
const (
	FlagContinued = 0x01 // the first packet on the page continues one from the previous page
	FlagBOS       = 0x02 // first page of a logical stream
	FlagEOS       = 0x04 // last page of a logical stream
)

// HeaderSize is the size of a page header without its segment table.
const HeaderSize = 27

// MaxPageSize is the largest possible Ogg page: header, 255 lacing values
// and 255×255 body bytes.
const MaxPageSize = HeaderSize + 255 + 255*255

// NoGranule is the granule position of a page on which no packet ends.
const NoGranule int64 = -1

// Errors of the page parser. ErrShort means more bytes are needed; every
// other error means the bytes are not a valid page.
var (
	ErrShort       = errors.New("ogg: short page")
	ErrCapture     = errors.New("ogg: missing capture pattern")
	ErrVersion     = errors.New("ogg: unsupported stream structure version")
	ErrCRC         = errors.New("ogg: page checksum mismatch")
	ErrPacketLarge = errors.New("ogg: packet exceeds size limit")
	ErrPacketSpan  = errors.New("ogg: packet too large for one page")
)

// Page is one parsed Ogg page. Segments (the lacing values) and Body alias
// the buffer the page was parsed from; copy them to keep them past the next
// change to that buffer.
type Page struct {
	Flags    byte
	Granule  int64
	Serial   uint32
	Sequence uint32
	Segments []byte
	Body     []byte
}

// Continued reports whether the first packet data on the page continues a
// packet begun on an earlier page.
func (p *Page) Continued() bool { return p.Flags&FlagContinued != 0 }

// BOS reports whether the page begins a logical stream.
func (p *Page) BOS() bool { return p.Flags&FlagBOS != 0 }

// EOS reports whether the page ends a logical stream.
func (p *Page) EOS() bool { return p.Flags&FlagEOS != 0 }

// Size returns the encoded size of the page in bytes.
func (p *Page) Size() int { return HeaderSize + len(p.Segments) + len(p.Body) }

// Complete reports whether the last packet data on the page ends a packet
// (the last lacing value is below 255), so the next page does not continue it.
func (p *Page) Complete() bool {
	return len(p.Segments) == 0 || p.Segments[len(p.Segments)-1] < 255
}

// Packets calls fn for each piece of packet data on the page, in order.
// first is true when the piece begins a packet (false only for the first
// piece of a continued page); last is true when the piece ends its packet.
func (p *Page) Packets(fn func(data []byte, first, last bool)) {
	off, start := 0, 0
	first := !p.Continued()
	for i, l := range p.Segments {
		off += int(l)
		if l < 255 {
			fn(p.Body[start:off], first, true)
			start, first = off, true
		} else if i == len(p.Segments)-1 {
			fn(p.Body[start:off], first, false)
		}
	}
}

// ParsePage parses the page at the start of b and returns it with its size
// in bytes. It returns ErrShort (wrapped) when b holds only part of a page,
// and ErrCapture, ErrVersion or ErrCRC when the bytes are not a valid page.
// The returned page aliases b.
func ParsePage(b []byte) (Page, int, error) {
	if len(b) < HeaderSize {
		return Page{}, 0, ErrShort
	}
	if string(b[:4]) != "OggS" {
		return Page{}, 0, ErrCapture
	}
	if b[4] != 0 {
		return Page{}, 0, fmt.Errorf("%w %d", ErrVersion, b[4])
	}
	nseg := int(b[26])
	if len(b) < HeaderSize+nseg {
		return Page{}, 0, ErrShort
	}
	segs := b[HeaderSize : HeaderSize+nseg]
	bodyLen := 0
	for _, l := range segs {
		bodyLen += int(l)
	}
	size := HeaderSize + nseg + bodyLen
	if len(b) < size {
		return Page{}, 0, ErrShort
	}
	want := binary.LittleEndian.Uint32(b[22:26])
	c := crcUpdate(0, b[:22])
	c = crcUpdate(c, []byte{0, 0, 0, 0})
	c = crcUpdate(c, b[26:size])
	if c != want {
		return Page{}, 0, ErrCRC
	}
	return Page{
		Flags:    b[5] & (FlagContinued | FlagBOS | FlagEOS),
		Granule:  int64(binary.LittleEndian.Uint64(b[6:14])),
		Serial:   binary.LittleEndian.Uint32(b[14:18]),
		Sequence: binary.LittleEndian.Uint32(b[18:22]),
		Segments: segs,
		Body:     b[HeaderSize+nseg : size],
	}, size, nil
}

// AppendPage encodes p, computing its checksum, and appends it to dst.
// It returns an error if the segment table is inconsistent with the body.
func AppendPage(dst []byte, p *Page) ([]byte, error) {
	if len(p.Segments) > 255 {
		return dst, fmt.Errorf("ogg: %d segments on one page", len(p.Segments))
	}
	n := 0
	for _, l := range p.Segments {
		n += int(l)
	}
	if n != len(p.Body) {
		return dst, fmt.Errorf("ogg: segment table covers %d bytes, body has %d", n, len(p.Body))
	}
	start := len(dst)
	dst = append(dst, 'O', 'g', 'g', 'S', 0, p.Flags)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(p.Granule))
	dst = binary.LittleEndian.AppendUint32(dst, p.Serial)
	dst = binary.LittleEndian.AppendUint32(dst, p.Sequence)
	dst = append(dst, 0, 0, 0, 0, byte(len(p.Segments)))
	dst = append(dst, p.Segments...)
	dst = append(dst, p.Body...)
	binary.LittleEndian.PutUint32(dst[start+22:], crcUpdate(0, dst[start:]))
	return dst, nil
}

// Lacing returns the lacing values for a whole packet of n bytes.
func Lacing(n int) []byte {
	segs := make([]byte, 0, n/255+1)
	for ; n >= 255; n -= 255 {
		segs = append(segs, 255)
	}
	return append(segs, byte(n))
}

// SinglePacketPage returns the encoded page holding exactly one whole
// packet. It fails with ErrPacketSpan when the packet needs more than one
// page (over 65,024 bytes).
func SinglePacketPage(serial, seq uint32, granule int64, flags byte, packet []byte) ([]byte, error) {
	segs := Lacing(len(packet))
	if len(segs) > 255 {
		return nil, ErrPacketSpan
	}
	p := Page{Flags: flags, Granule: granule, Serial: serial, Sequence: seq, Segments: segs, Body: packet}
	return AppendPage(make([]byte, 0, p.Size()), &p)
}
