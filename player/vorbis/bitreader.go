package vorbis

import "encoding/binary"

// bitReader reads a Vorbis packet LSB-first (Vorbis I §2.1.4). Reading
// past the end of the packet yields zero bits and sets eop; callers check
// eop where the specification gives end-of-packet a meaning.
type bitReader struct {
	buf []byte
	off int    // next byte of buf to load into acc
	acc uint64 // pending bits, next bit in bit 0
	n   uint   // number of valid bits in acc
	eop bool   // a read went past the end of the packet
}

func (b *bitReader) reset(p []byte) {
	*b = bitReader{buf: p}
}

// fill loads whole bytes into acc until it holds at least 57 bits or the
// packet is exhausted.
func (b *bitReader) fill() {
	if b.off+8 <= len(b.buf) {
		v := binary.LittleEndian.Uint64(b.buf[b.off:])
		b.acc |= v << b.n
		k := (63 - b.n) >> 3
		b.off += int(k)
		b.n += k << 3
		return
	}
	for b.n <= 56 && b.off < len(b.buf) {
		b.acc |= uint64(b.buf[b.off]) << b.n
		b.off++
		b.n += 8
	}
}

// read returns the next k bits (k ≤ 32) as an unsigned integer. Past the
// end of the packet it returns 0 and sets eop.
func (b *bitReader) read(k uint) uint32 {
	if k == 0 {
		return 0
	}
	if b.n < k {
		b.fill()
		if b.n < k {
			b.eop = true
			b.acc, b.n = 0, 0
			b.off = len(b.buf)
			return 0
		}
	}
	v := uint32(b.acc & (1<<k - 1))
	b.acc >>= k
	b.n -= k
	return v
}

// readBool reads one bit.
func (b *bitReader) readBool() bool { return b.read(1) == 1 }

// bitsLeft returns the number of unread bits in the packet.
func (b *bitReader) bitsLeft() int { return int(b.n) + 8*(len(b.buf)-b.off) }

// ilog returns the position of the highest set bit of x, counting from 1
// (Vorbis I §9.2.1); ilog(0) = 0.
func ilog(x int) uint {
	n := uint(0)
	for x > 0 {
		n++
		x >>= 1
	}
	return n
}

// checkEOP returns errEOP if a read went past the end of the packet.
func (b *bitReader) checkEOP() error {
	if b.eop {
		return errEOP
	}
	return nil
}
