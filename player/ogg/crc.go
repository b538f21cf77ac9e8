package ogg

// crcTable is the lookup table of the Ogg CRC-32: polynomial 0x04c11db7,
// no reflection, initial value 0, no final xor (RFC 3533 §6).
var crcTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

// crcUpdate extends the Ogg CRC c over b.
func crcUpdate(c uint32, b []byte) uint32 {
	for _, x := range b {
		c = c<<8 ^ crcTable[byte(c>>24)^x]
	}
	return c
}
