package vorbis

import (
	"fmt"
	"math"
	"math/bits"
	"sort"
)

// tableBits is the width of the direct Huffman lookup table.
const tableBits = 10

// codebook is one unpacked Vorbis codebook (Vorbis I §3).
type codebook struct {
	dims    int
	entries int
	// lengths of the codewords, 0 for unused entries.
	lengths []uint8
	// table maps the next tableBits bits to entry<<8 | length, or 0 when
	// the codeword is longer than tableBits (slow path).
	table []uint32
	// sorted holds every codeword, left-aligned to 32 bits (first bit in
	// the most significant position), ascending; sortedEntry and
	// sortedLen are parallel to it.
	sorted      []uint32
	sortedEntry []int32
	sortedLen   []uint8
	used        int  // number of entries with a codeword
	single      bool // one used entry: every read of its length decodes it
	singleEntry int32
	singleLen   uint
	// vq holds entries×dims unpacked values when the book has a lookup
	// table (lookup type 1 or 2), else nil.
	vq []float32
}

// float32Unpack decodes the Vorbis packed float format (Vorbis I §9.2.2),
// clamping the exponent as libvorbis does.
func float32Unpack(x uint32) float32 {
	mant := float64(x & 0x1fffff)
	if x&0x80000000 != 0 {
		mant = -mant
	}
	exp := int((x&0x7fe00000)>>21) - 788
	exp = max(-63, min(63, exp))
	return float32(math.Ldexp(mant, exp))
}

// lookup1Values returns the largest r with r^dims ≤ entries (Vorbis I §9.2.3).
func lookup1Values(entries, dims int) int {
	if dims <= 0 || entries <= 0 {
		return 0
	}
	r := int(math.Floor(math.Pow(float64(entries), 1/float64(dims))))
	pow := func(b int) int { // b^dims, saturating above entries
		p := 1
		for range dims {
			p *= b
			if p > entries {
				return entries + 1
			}
		}
		return p
	}
	for pow(r+1) <= entries {
		r++
	}
	for r > 0 && pow(r) > entries {
		r--
	}
	return r
}

// readCodebook unpacks one codebook from the setup header. budget is the
// remaining allocation allowance in bytes; it is decreased by what the
// book allocates.
func readCodebook(br *bitReader, budget *int) (*codebook, error) {
	if br.read(24) != 0x564342 {
		return nil, fmt.Errorf("%w: codebook sync pattern", ErrSetup)
	}
	c := &codebook{dims: int(br.read(16)), entries: int(br.read(24))}
	if br.eop {
		return nil, errEOP
	}
	if c.entries == 0 {
		return nil, fmt.Errorf("%w: codebook with no entries", ErrSetup)
	}
	if ilog(c.dims)+ilog(c.entries) > 24 {
		return nil, fmt.Errorf("%w: codebook of %d entries × %d dimensions", ErrSetup, c.entries, c.dims)
	}
	if err := spend(budget, c.entries); err != nil {
		return nil, err
	}
	c.lengths = make([]uint8, c.entries)
	ordered := br.readBool()
	if !ordered {
		sparse := br.readBool()
		minBits := 5
		if sparse {
			minBits = 1
		}
		if br.bitsLeft() < c.entries*minBits {
			return nil, errEOP
		}
		for i := range c.lengths {
			if !sparse || br.readBool() {
				c.lengths[i] = uint8(br.read(5) + 1)
			}
		}
	} else {
		cur := 0
		length := int(br.read(5)) + 1
		for cur < c.entries {
			if length > 32 {
				return nil, fmt.Errorf("%w: codeword length over 32", ErrSetup)
			}
			n := int(br.read(ilog(c.entries - cur)))
			if br.eop {
				return nil, errEOP
			}
			if cur+n > c.entries {
				return nil, fmt.Errorf("%w: ordered codebook overflows its entries", ErrSetup)
			}
			for i := cur; i < cur+n; i++ {
				c.lengths[i] = uint8(length)
			}
			cur += n
			length++
		}
	}
	if br.eop {
		return nil, errEOP
	}
	if err := c.buildHuffman(budget); err != nil {
		return nil, err
	}
	lookup := br.read(4)
	switch lookup {
	case 0:
	case 1, 2:
		if c.dims == 0 {
			return nil, fmt.Errorf("%w: vector codebook with zero dimensions", ErrSetup)
		}
		minV := float32Unpack(br.read(32))
		delta := float32Unpack(br.read(32))
		valueBits := uint(br.read(4)) + 1
		seq := br.readBool()
		var nvals int
		if lookup == 1 {
			nvals = lookup1Values(c.entries, c.dims)
		} else {
			nvals = c.entries * c.dims
		}
		if br.eop || br.bitsLeft() < nvals*int(valueBits) {
			return nil, errEOP
		}
		if err := spend(budget, 4*(nvals+c.entries*c.dims)); err != nil {
			return nil, err
		}
		mult := make([]float32, nvals)
		for i := range mult {
			mult[i] = float32(br.read(valueBits))
		}
		c.vq = make([]float32, c.entries*c.dims)
		for e := 0; e < c.entries; e++ {
			if c.lengths[e] == 0 {
				continue
			}
			last := float32(0)
			div := 1
			for k := 0; k < c.dims; k++ {
				idx := e*c.dims + k
				if lookup == 1 {
					idx = (e / div) % nvals
					div *= nvals
				}
				// libvorbis computes fabs(q)*delta+min+last in double
				// and rounds once.
				v := float32(float64(mult[idx])*float64(delta) + float64(minV) + float64(last))
				if seq {
					last = v
				}
				c.vq[e*c.dims+k] = v
			}
		}
	default:
		return nil, fmt.Errorf("%w: codebook lookup type %d", ErrSetup, lookup)
	}
	if br.eop {
		return nil, errEOP
	}
	return c, nil
}

// buildHuffman assigns codewords to the lengths (Vorbis I §3.2.1) and
// builds the decode tables. Over- and underpopulated trees are rejected,
// except a single codeword of length 1, as libvorbis does.
func (c *codebook) buildHuffman(budget *int) error {
	var marker [33]uint32
	if err := spend(budget, 4*c.entries); err != nil {
		return err
	}
	codes := make([]uint32, c.entries)
	maxLen := uint8(0)
	for i, l := range c.lengths {
		if l == 0 {
			continue
		}
		c.used++
		maxLen = max(maxLen, l)
		entry := marker[l]
		if l < 32 && entry>>l != 0 {
			return fmt.Errorf("%w: overpopulated Huffman tree", ErrSetup)
		}
		codes[i] = entry
		for j := l; j > 0; j-- {
			if marker[j]&1 != 0 {
				if j == 1 {
					marker[1]++
				} else {
					marker[j] = marker[j-1] << 1
				}
				break
			}
			marker[j]++
		}
		for j := int(l) + 1; j < 33; j++ {
			if marker[j]>>1 != entry {
				break
			}
			entry = marker[j]
			marker[j] = marker[j-1] << 1
		}
	}
	if c.used == 0 {
		return nil
	}
	if c.used == 1 {
		for i, l := range c.lengths {
			if l != 0 {
				c.single, c.singleEntry, c.singleLen = true, int32(i), uint(l)
			}
		}
		if c.singleLen != 1 {
			return fmt.Errorf("%w: underpopulated Huffman tree", ErrSetup)
		}
		return nil
	}
	for i := 1; i < 33; i++ {
		if marker[i]&(0xffffffff>>(32-i)) != 0 {
			return fmt.Errorf("%w: underpopulated Huffman tree", ErrSetup)
		}
	}
	tb := min(uint(maxLen), tableBits)
	if err := spend(budget, 4<<tb+9*c.used); err != nil {
		return err
	}
	c.table = make([]uint32, 1<<tb)
	c.sorted = make([]uint32, 0, c.used)
	idx := make([]int32, 0, c.used)
	for i, l := range c.lengths {
		if l == 0 {
			continue
		}
		left := codes[i] << (32 - uint(l))
		c.sorted = append(c.sorted, left)
		idx = append(idx, int32(i))
		if uint(l) <= tb {
			rev := bits.Reverse32(left)
			v := uint32(i)<<8 | uint32(l)
			for k := rev; k < 1<<tb; k += 1 << l {
				c.table[k] = v
			}
		}
	}
	sort.Sort(byCode{c.sorted, idx})
	c.sortedEntry = idx
	c.sortedLen = make([]uint8, len(idx))
	for i, e := range idx {
		c.sortedLen[i] = c.lengths[e]
	}
	return nil
}

type byCode struct {
	code  []uint32
	entry []int32
}

func (s byCode) Len() int           { return len(s.code) }
func (s byCode) Less(i, j int) bool { return s.code[i] < s.code[j] }
func (s byCode) Swap(i, j int) {
	s.code[i], s.code[j] = s.code[j], s.code[i]
	s.entry[i], s.entry[j] = s.entry[j], s.entry[i]
}

// decode reads one codeword and returns its entry number, or -1 at the end
// of the packet or for a book with no codewords. Like libvorbis, a book
// with no codewords reads nothing and does not mark the end of the
// packet.
func (c *codebook) decode(br *bitReader) int {
	if br.n < 32 {
		br.fill()
	}
	if c.table != nil {
		v := c.table[br.acc&uint64(len(c.table)-1)]
		if l := uint(v & 0xff); l != 0 {
			if l > br.n {
				br.eop = true
				br.n, br.acc = 0, 0
				return -1
			}
			br.acc >>= l
			br.n -= l
			return int(v >> 8)
		}
		return c.decodeSlow(br)
	}
	if c.single {
		if c.singleLen > br.n {
			br.eop = true
			br.n, br.acc = 0, 0
			return -1
		}
		br.acc >>= c.singleLen
		br.n -= c.singleLen
		return int(c.singleEntry)
	}
	return -1
}

// decodeSlow finds a codeword longer than the direct table by binary
// search over the left-aligned sorted codewords.
func (c *codebook) decodeSlow(br *bitReader) int {
	key := bits.Reverse32(uint32(br.acc))
	lo, hi := 0, len(c.sorted) // find the last codeword ≤ key
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if c.sorted[m] <= key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	i := lo - 1
	if i < 0 {
		br.eop = true
		return -1
	}
	l := uint(c.sortedLen[i])
	if l > br.n {
		br.eop = true
		br.n, br.acc = 0, 0
		return -1
	}
	br.acc >>= l
	br.n -= l
	return int(c.sortedEntry[i])
}

// spend deducts n bytes from the setup allocation budget.
func spend(budget *int, n int) error {
	if n < 0 || n > *budget {
		return ErrLimit
	}
	*budget -= n
	return nil
}
