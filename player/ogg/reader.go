package ogg

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Packet is one complete packet of a logical stream.
//
// Data is owned by the Reader and valid until the next call to Next; copy
// it to keep it.
type Packet struct {
	Data   []byte
	Serial uint32
	// Granule is the granule position of the page on which the packet
	// ends if it is the last packet ending there, else NoGranule.
	Granule int64
	// BOS is true for the first packet of a logical stream; a BOS packet
	// after the end of an earlier stream starts a new link of a chained
	// stream.
	BOS bool
	// EOS is true for the last packet of a logical stream.
	EOS bool
	// Hole is true when pages were lost (a gap in page sequence numbers)
	// since the previous packet of this stream.
	Hole bool
}

// span locates one packet in Reader.queueBuf.
type span struct{ off, n int }

// DefaultMaxPacket is the default limit on one packet's size.
const DefaultMaxPacket = 8 << 20

// Reader reassembles the packets of one logical stream at a time from a
// physical Ogg stream.
//
// It follows the first logical stream it meets and skips pages of other
// serial numbers (multiplexed streams). After that stream's EOS page, the
// next BOS page starts a new link (chained streams). Up to 64 KiB of
// garbage before or between pages is skipped while resynchronising.
// Memory is bounded by MaxPacket whatever the input claims.
type Reader struct {
	r         *bufio.Reader
	MaxPacket int

	serial   uint32
	locked   bool
	ended    bool // the locked stream saw its EOS page
	lastSeq  uint32
	haveSeq  bool
	hole     bool
	first    bool // the next packet completed is the stream's first (BOS)
	partial  []byte
	inPart   bool
	out      []byte
	queue    []Packet
	queueBuf []byte
	pageBuf  []byte
	spans    []span   // reused by fill
	metaBuf  []Packet // reused by fill; queue points into it
	err      error
	// Lost counts bytes skipped while searching for a capture pattern.
	Lost int64
}

// NewReader returns a Reader over r with DefaultMaxPacket.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), MaxPacket: DefaultMaxPacket}
}

// ErrResync is returned when no capture pattern is found within the
// resynchronisation window.
var ErrResync = errors.New("ogg: no page found")

const resyncWindow = 64 << 10

// readPage reads the next page with a valid CRC, skipping garbage. A
// capture pattern whose page fails its checksum, or runs past the end of
// the input, is skipped one byte at a time, so a false "OggS" in garbage
// never swallows the real pages after it.
func (r *Reader) readPage() (Page, error) {
	skipped := 0
	short := false // a candidate page ran past the end of the input
	for {
		if skipped >= resyncWindow {
			return Page{}, ErrResync
		}
		hdr, err := r.r.Peek(HeaderSize)
		if len(hdr) < 4 {
			if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
				if len(hdr) == 0 && !short {
					return Page{}, io.EOF
				}
				return Page{}, io.ErrUnexpectedEOF
			}
			return Page{}, err
		}
		if string(hdr[:4]) != "OggS" {
			r.r.Discard(1)
			skipped++
			r.Lost++
			continue
		}
		n := 0
		if len(hdr) == HeaderSize {
			n = HeaderSize + int(hdr[26])
			if seg, _ := r.r.Peek(n); len(seg) == n {
				for _, l := range seg[HeaderSize:] {
					n += int(l)
				}
			} else {
				n = 0
			}
		}
		var whole []byte
		if n > 0 {
			whole, err = r.r.Peek(n) // n ≤ MaxPageSize fits the 64 KiB buffer
		}
		if n == 0 || len(whole) < n {
			if err != nil && err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, bufio.ErrBufferFull) {
				return Page{}, err
			}
			short = true
			r.r.Discard(1)
			skipped++
			r.Lost++
			continue
		}
		p, _, perr := ParsePage(whole)
		if perr != nil {
			// Corrupt page or false capture: resync just after it.
			if r.locked && binary.LittleEndian.Uint32(whole[14:18]) == r.serial {
				r.hole = true
			}
			r.r.Discard(1)
			skipped++
			r.Lost++
			continue
		}
		if cap(r.pageBuf) < n {
			r.pageBuf = make([]byte, 0, MaxPageSize)
		}
		r.pageBuf = append(r.pageBuf[:0], whole...)
		r.r.Discard(n)
		nseg := len(p.Segments)
		p.Segments = r.pageBuf[HeaderSize : HeaderSize+nseg]
		p.Body = r.pageBuf[HeaderSize+nseg : n]
		return p, nil
	}
}

// Next returns the next packet of the followed logical stream. It returns
// io.EOF at the clean end of input, io.ErrUnexpectedEOF when the input ends
// inside a page or packet, ErrPacketLarge when a packet exceeds MaxPacket,
// and other errors for unreadable input.
func (r *Reader) Next() (Packet, error) {
	for len(r.queue) == 0 {
		if r.err != nil {
			return Packet{}, r.err
		}
		if err := r.fill(); err != nil {
			r.err = err
			if err == io.EOF && r.inPart {
				r.err = io.ErrUnexpectedEOF
			}
		}
	}
	p := r.queue[0]
	r.queue = r.queue[1:]
	return p, nil
}

// fill reads pages until at least one packet is queued or an error occurs.
func (r *Reader) fill() error {
	r.queue = r.queue[:0]
	r.queueBuf = r.queueBuf[:0]
	spans := r.spans[:0]
	meta := r.metaBuf[:0]
	for len(meta) == 0 {
		pg, err := r.readPage()
		if err != nil {
			return err
		}
		switch {
		case !r.locked || (r.ended && pg.BOS()):
			if !pg.BOS() && r.locked {
				continue
			}
			r.serial, r.locked, r.ended, r.first = pg.Serial, true, false, true
			r.haveSeq, r.inPart, r.partial = false, false, r.partial[:0]
		case pg.Serial != r.serial:
			continue
		case r.ended:
			continue
		}
		hole := r.hole
		r.hole = false
		if r.haveSeq && pg.Sequence != r.lastSeq+1 {
			hole = true
		}
		r.lastSeq, r.haveSeq = pg.Sequence, true
		if hole {
			r.inPart, r.partial = false, r.partial[:0]
		}
		lastEnd := -1
		var pieceErr error
		pg.Packets(func(data []byte, first, last bool) {
			if pieceErr != nil {
				return
			}
			if !first && !r.inPart {
				// Continuation of a packet we never saw the start of.
				return
			}
			if first {
				r.partial = r.partial[:0]
			}
			if len(r.partial)+len(data) > r.MaxPacket {
				pieceErr = fmt.Errorf("%w (%d bytes)", ErrPacketLarge, r.MaxPacket)
				return
			}
			r.partial = append(r.partial, data...)
			r.inPart = !last
			if last {
				off := len(r.queueBuf)
				r.queueBuf = append(r.queueBuf, r.partial...)
				spans = append(spans, span{off, len(r.partial)})
				meta = append(meta, Packet{Serial: pg.Serial, Granule: NoGranule, BOS: r.first, Hole: hole})
				r.first = false
				hole = false
				lastEnd = len(meta) - 1
				r.partial = r.partial[:0]
			}
		})
		// A hole not yet reported on a packet carries to the next page.
		r.hole = hole
		if pieceErr != nil {
			if len(meta) > 0 {
				// Deliver the packets completed before the oversized one.
				r.err = pieceErr
				break
			}
			return pieceErr
		}
		if lastEnd >= 0 {
			meta[lastEnd].Granule = pg.Granule
			if pg.EOS() && !r.inPart {
				meta[lastEnd].EOS = true
			}
		}
		if pg.EOS() {
			r.ended = true
			r.inPart = false
		}
	}
	for i := range meta {
		meta[i].Data = r.queueBuf[spans[i].off : spans[i].off+spans[i].n : spans[i].off+spans[i].n]
	}
	r.spans, r.metaBuf = spans, meta
	r.queue = meta
	return nil
}
