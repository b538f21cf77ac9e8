package vorbis

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/segue-fm/segue/player/ogg"
)

// This file is a test-only Vorbis I stream builder. It writes the three
// headers from a structured description and audio packets that are either
// meaningful (every field in range, so the output is not silence),
// meaningful but cut short, or random bits after a valid mode number.
// It exists to produce what no available encoder emits: floor 0,
// residue 0 and codebook lookup type 2, which TestSyntheticMatchesLibvorbis
// checks against libvorbis. It shares no code with the decoder: codeword
// assignment, float packing and the packet layout are written from the
// specification (and libvorbis' reading of it) independently.

// bitWriter packs values LSB-first, as Vorbis does (Vorbis I §2.1.4).
type bitWriter struct {
	buf  []byte
	used uint // bits used in the last byte of buf, 0 when it is full
}

// write appends the low n bits of v.
func (w *bitWriter) write(v uint64, n uint) {
	for n > 0 {
		if w.used == 0 {
			w.buf = append(w.buf, 0)
		}
		take := min(n, 8-w.used)
		w.buf[len(w.buf)-1] |= byte(v&(1<<take-1)) << w.used
		v >>= take
		n -= take
		w.used = (w.used + take) % 8
	}
}

func (w *bitWriter) flag(b bool) {
	if b {
		w.write(1, 1)
	} else {
		w.write(0, 1)
	}
}

// ilogGen is ilog of Vorbis I §9.2.1, written separately from the
// decoder's.
func ilogGen(x int) uint {
	n := uint(0)
	for ; x > 0; x >>= 1 {
		n++
	}
	return n
}

// packFloat encodes x in the Vorbis float32 format (Vorbis I §9.2.2): a
// 21-bit mantissa m and exponent e with x = m·2^e, stored as e+788.
func packFloat(x float64) uint32 {
	var sign uint32
	if x < 0 {
		sign, x = 0x80000000, -x
	}
	for k := 60; k > -200; k-- {
		m := math.Round(math.Ldexp(x, k))
		if m < 1<<21 {
			return sign | uint32(-k+788)<<21 | uint32(m)
		}
	}
	panic("packFloat: value out of range")
}

// gBook describes one codebook.
type gBook struct {
	dims      int
	lengths   []uint8 // codeword length per entry, 0 when unused
	ordered   bool    // write lengths in the ordered encoding (needs all used, ascending)
	lookup    int     // 0, 1 or 2
	minV      float64 // exactly representable by packFloat
	deltaV    float64
	valueBits uint
	seq       bool
	mults     []uint32 // lookup1Values(entries, dims) or entries×dims values

	codes []uint32 // assigned codewords, MSB first
	used  []int    // entries with a codeword
}

// assign gives each used entry the numerically lowest codeword of its
// length that keeps the code prefix-free, in entry order (Vorbis I
// §3.2.1). It reports false for lengths that cannot be assigned.
func (b *gBook) assign() bool {
	type cw struct {
		code uint32
		n    uint8
	}
	var taken []cw
	b.codes = make([]uint32, len(b.lengths))
	b.used = b.used[:0]
	for e, l := range b.lengths {
		if l == 0 {
			continue
		}
		found := false
		for c := uint64(0); c < 1<<l; {
			clash := -1
			for i, t := range taken {
				m := min(l, t.n)
				if c>>(l-m) == uint64(t.code)>>(t.n-m) {
					clash = i
					break
				}
			}
			if clash < 0 {
				b.codes[e] = uint32(c)
				taken = append(taken, cw{uint32(c), l})
				found = true
				break
			}
			if t := taken[clash]; t.n <= l {
				c = (uint64(t.code) + 1) << (l - t.n) // skip the taken subtree
			} else {
				c++
			}
		}
		if !found {
			return false
		}
		b.used = append(b.used, e)
	}
	return true
}

// put writes the codeword of entry e.
func (b *gBook) put(w *bitWriter, e int) {
	l := b.lengths[e]
	for i := int(l) - 1; i >= 0; i-- {
		w.write(uint64(b.codes[e]>>uint(i))&1, 1)
	}
}

// randEntry writes a random used entry below limit (0 for no limit) and
// returns it.
func (b *gBook) randEntry(w *bitWriter, rng *rand.Rand, limit int) int {
	for {
		e := b.used[rng.IntN(len(b.used))]
		if limit == 0 || e < limit {
			b.put(w, e)
			return e
		}
	}
}

// completeLengths returns n codeword lengths of a random complete prefix
// code (Kraft sum exactly 1), no longer than maxLen, in random order.
// n = 1 gives the single codeword of length 1 that libvorbis accepts.
func completeLengths(rng *rand.Rand, n int, maxLen uint8) []uint8 {
	if n == 1 {
		return []uint8{1}
	}
	ls := []uint8{1, 1}
	for len(ls) < n {
		i := rng.IntN(len(ls))
		if ls[i] >= maxLen {
			continue
		}
		ls[i]++
		ls = append(ls, ls[i])
	}
	rng.Shuffle(len(ls), func(i, j int) { ls[i], ls[j] = ls[j], ls[i] })
	return ls
}

// lookup1 is lookup1_values (Vorbis I §9.2.3), written by counting.
func lookup1(entries, dims int) int {
	r := 1
	for {
		p := 1
		for range dims {
			p *= r + 1
		}
		if p > entries {
			return r
		}
		r++
	}
}

// newBook returns a complete book of the given size. sparse adds unused
// entries; lookup 1 and 2 get values minV + k·delta for k drawn from
// [0, 2^valueBits), so every value lies in [minV, minV + (2^bits-1)·delta]
// (per dimension, before the sequence sum when seq is set).
func newBook(rng *rand.Rand, entries, dims int, maxLen uint8, sparse bool, lookup int, minV, delta float64, valueBits uint, seq bool) *gBook {
	for {
		b := &gBook{dims: dims, lookup: lookup, minV: minV, deltaV: delta, valueBits: valueBits, seq: seq}
		ls := completeLengths(rng, entries, maxLen)
		if sparse {
			for range 1 + entries/4 {
				i := rng.IntN(len(ls) + 1)
				ls = slices.Insert(ls, i, 0)
			}
		}
		b.lengths = ls
		if !sparse && rng.IntN(3) == 0 {
			slices.Sort(b.lengths)
			b.ordered = true
		}
		if !b.assign() {
			continue
		}
		var nv int
		switch lookup {
		case 1:
			nv = lookup1(len(ls), dims)
		case 2:
			nv = len(ls) * dims
		}
		for range nv {
			b.mults = append(b.mults, uint32(rng.IntN(1<<valueBits)))
		}
		return b
	}
}

func (b *gBook) writeSetup(w *bitWriter) {
	w.write(0x564342, 24)
	w.write(uint64(b.dims), 16)
	w.write(uint64(len(b.lengths)), 24)
	w.flag(b.ordered)
	if b.ordered {
		cur := 0
		length := b.lengths[0]
		w.write(uint64(length-1), 5)
		for cur < len(b.lengths) {
			n := 0
			for cur+n < len(b.lengths) && b.lengths[cur+n] == length {
				n++
			}
			w.write(uint64(n), ilogGen(len(b.lengths)-cur))
			cur += n
			length++
		}
	} else {
		sparse := slices.Contains(b.lengths, 0)
		w.flag(sparse)
		for _, l := range b.lengths {
			if sparse {
				w.flag(l != 0)
				if l == 0 {
					continue
				}
			}
			w.write(uint64(l-1), 5)
		}
	}
	w.write(uint64(b.lookup), 4)
	if b.lookup == 0 {
		return
	}
	w.write(uint64(packFloat(b.minV)), 32)
	w.write(uint64(packFloat(b.deltaV)), 32)
	w.write(uint64(b.valueBits-1), 4)
	w.flag(b.seq)
	for _, m := range b.mults {
		w.write(uint64(m), b.valueBits)
	}
}

// gFloor0 is a floor type 0 configuration (Vorbis I §6.2.1).
type gFloor0 struct {
	order, rate, barkMapSize int
	ampBits                  uint
	ampOffset                int
	books                    []int
}

// gF1Class is one floor 1 partition class.
type gF1Class struct {
	dims, subs int
	book       int   // master book when subs > 0
	subBooks   []int // 1<<subs books, -1 for none
}

// gFloor1 is a floor type 1 configuration (Vorbis I §7.2.2).
type gFloor1 struct {
	partClass []int
	classes   []gF1Class
	mult      int // 1 to 4
	rangeBits uint
	xs        []int // X values after the implicit 0 and 1<<rangeBits
}

type gFloor struct {
	f0 *gFloor0
	f1 *gFloor1
}

// gResidue is a residue configuration (Vorbis I §8.6.1).
type gResidue struct {
	typ, begin, end, partSize, classes, classBook int
	cascade                                       []int    // per class, 8 pass bits
	books                                         [][8]int // per class and pass, -1 for none
}

type gMapping struct {
	coupling [][2]int
	mux      []int // submap per channel
	floors   []int // per submap
	residues []int
}

type gMode struct {
	long    bool
	mapping int
}

// gSetup is a whole stream configuration.
type gSetup struct {
	channels, rate int
	bs             [2]int
	books          []*gBook
	floors         []gFloor
	residues       []gResidue
	maps           []gMapping
	modes          []gMode
}

func (s *gSetup) identHeader() []byte {
	p := append([]byte{1}, "vorbis"...)
	p = binary.LittleEndian.AppendUint32(p, 0)
	p = append(p, byte(s.channels))
	p = binary.LittleEndian.AppendUint32(p, uint32(s.rate))
	p = binary.LittleEndian.AppendUint32(p, 0)
	p = binary.LittleEndian.AppendUint32(p, 128000)
	p = binary.LittleEndian.AppendUint32(p, 0)
	return append(p, byte(ilogGen(s.bs[0]-1)|ilogGen(s.bs[1]-1)<<4), 1)
}

func commentHeader(vendor string, comments ...string) []byte {
	p := append([]byte{3}, "vorbis"...)
	p = binary.LittleEndian.AppendUint32(p, uint32(len(vendor)))
	p = append(p, vendor...)
	p = binary.LittleEndian.AppendUint32(p, uint32(len(comments)))
	for _, c := range comments {
		p = binary.LittleEndian.AppendUint32(p, uint32(len(c)))
		p = append(p, c...)
	}
	return append(p, 1)
}

func (s *gSetup) setupHeader() []byte {
	w := &bitWriter{buf: append([]byte{5}, "vorbis"...)}
	w.write(uint64(len(s.books)-1), 8)
	for _, b := range s.books {
		b.writeSetup(w)
	}
	w.write(0, 6)
	w.write(0, 16)
	w.write(uint64(len(s.floors)-1), 6)
	for _, f := range s.floors {
		if f0 := f.f0; f0 != nil {
			w.write(0, 16)
			w.write(uint64(f0.order), 8)
			w.write(uint64(f0.rate), 16)
			w.write(uint64(f0.barkMapSize), 16)
			w.write(uint64(f0.ampBits), 6)
			w.write(uint64(f0.ampOffset), 8)
			w.write(uint64(len(f0.books)-1), 4)
			for _, b := range f0.books {
				w.write(uint64(b), 8)
			}
			continue
		}
		f1 := f.f1
		w.write(1, 16)
		w.write(uint64(len(f1.partClass)), 5)
		for _, c := range f1.partClass {
			w.write(uint64(c), 4)
		}
		maxClass := -1
		for _, c := range f1.partClass {
			maxClass = max(maxClass, c)
		}
		for _, c := range f1.classes[:maxClass+1] {
			w.write(uint64(c.dims-1), 3)
			w.write(uint64(c.subs), 2)
			if c.subs > 0 {
				w.write(uint64(c.book), 8)
			}
			for _, sb := range c.subBooks {
				w.write(uint64(sb+1), 8)
			}
		}
		w.write(uint64(f1.mult-1), 2)
		w.write(uint64(f1.rangeBits), 4)
		for _, x := range f1.xs {
			w.write(uint64(x), f1.rangeBits)
		}
	}
	w.write(uint64(len(s.residues)-1), 6)
	for _, r := range s.residues {
		w.write(uint64(r.typ), 16)
		w.write(uint64(r.begin), 24)
		w.write(uint64(r.end), 24)
		w.write(uint64(r.partSize-1), 24)
		w.write(uint64(r.classes-1), 6)
		w.write(uint64(r.classBook), 8)
		for _, c := range r.cascade {
			w.write(uint64(c&7), 3)
			w.flag(c > 7)
			if c > 7 {
				w.write(uint64(c>>3), 5)
			}
		}
		for i, c := range r.cascade {
			for pass := range 8 {
				if c&(1<<pass) != 0 {
					w.write(uint64(r.books[i][pass]), 8)
				}
			}
		}
	}
	w.write(uint64(len(s.maps)-1), 6)
	for _, m := range s.maps {
		w.write(0, 16)
		w.flag(len(m.floors) > 1)
		if len(m.floors) > 1 {
			w.write(uint64(len(m.floors)-1), 4)
		}
		w.flag(len(m.coupling) > 0)
		if len(m.coupling) > 0 {
			w.write(uint64(len(m.coupling)-1), 8)
			for _, c := range m.coupling {
				w.write(uint64(c[0]), ilogGen(s.channels-1))
				w.write(uint64(c[1]), ilogGen(s.channels-1))
			}
		}
		w.write(0, 2)
		if len(m.floors) > 1 {
			for _, x := range m.mux {
				w.write(uint64(x), 4)
			}
		}
		for i := range m.floors {
			w.write(0, 8)
			w.write(uint64(m.floors[i]), 8)
			w.write(uint64(m.residues[i]), 8)
		}
	}
	w.write(uint64(len(s.modes)-1), 6)
	for _, m := range s.modes {
		w.flag(m.long)
		w.write(0, 16)
		w.write(0, 16)
		w.write(uint64(m.mapping), 8)
	}
	w.write(1, 1)
	return w.buf
}

// headers returns the identification, comment and setup headers.
func (s *gSetup) headers() [3][]byte {
	return [3][]byte{s.identHeader(), commentHeader("segue vorbis test builder", "TITLE=synthetic"), s.setupHeader()}
}

// packetKind selects what an audio packet carries after its mode.
type packetKind int

const (
	meaningful packetKind = iota // every field valid and in range
	truncated                    // meaningful, cut at a random byte
	randomBits                   // random bits after the mode number
)

// packet returns an audio packet of mode mode.
func (s *gSetup) packet(rng *rand.Rand, mode int, kind packetKind) []byte {
	w := &bitWriter{}
	w.write(0, 1)
	w.write(uint64(mode), ilogGen(len(s.modes)-1))
	md := s.modes[mode]
	if md.long {
		w.write(uint64(rng.IntN(4)), 2)
	}
	if kind == randomBits {
		if w.used != 0 {
			w.buf[len(w.buf)-1] |= byte(rng.Uint32()) << w.used
		}
		for range 1 + rng.IntN(400) {
			w.buf = append(w.buf, byte(rng.Uint32()))
		}
		return w.buf
	}
	mp := s.maps[md.mapping]
	half := s.bs[0] / 2
	if md.long {
		half = s.bs[1] / 2
	}
	used := make([]bool, s.channels)
	for c := range s.channels {
		used[c] = rng.IntN(8) != 0
		f := s.floors[mp.floors[mp.mux[c]]]
		if f.f0 != nil {
			s.floor0Packet(w, rng, f.f0, used[c])
		} else {
			s.floor1Packet(w, rng, f.f1, used[c])
		}
	}
	skip := make([]bool, s.channels)
	for c := range skip {
		skip[c] = !used[c]
	}
	for _, cp := range mp.coupling {
		if used[cp[0]] || used[cp[1]] {
			skip[cp[0]], skip[cp[1]] = false, false
		}
	}
	for sm := range mp.floors {
		var bundle []bool
		for c := range s.channels {
			if mp.mux[c] == sm {
				bundle = append(bundle, skip[c])
			}
		}
		if len(bundle) > 0 {
			s.residuePacket(w, rng, s.residues[mp.residues[sm]], bundle, half)
		}
	}
	if kind == truncated && len(w.buf) > 1 {
		return w.buf[:1+rng.IntN(len(w.buf)-1)]
	}
	return w.buf
}

func (s *gSetup) floor0Packet(w *bitWriter, rng *rand.Rand, f *gFloor0, used bool) {
	if !used {
		w.write(0, f.ampBits)
		return
	}
	w.write(uint64(1+rng.IntN(1<<f.ampBits-1)), f.ampBits)
	bn := rng.IntN(len(f.books))
	w.write(uint64(bn), ilogGen(len(f.books)))
	b := s.books[f.books[bn]]
	for i := 0; i < f.order; i += b.dims {
		b.randEntry(w, rng, 0)
	}
}

func (s *gSetup) floor1Packet(w *bitWriter, rng *rand.Rand, f *gFloor1, used bool) {
	w.flag(used)
	if !used {
		return
	}
	quant := [4]int{256, 128, 86, 64}[f.mult-1]
	yb := ilogGen(quant - 1)
	w.write(uint64(rng.IntN(quant)), yb)
	w.write(uint64(rng.IntN(quant)), yb)
	for _, ci := range f.partClass {
		c := f.classes[ci]
		cval := 0
		if c.subs > 0 {
			cval = s.books[c.book].randEntry(w, rng, 0)
		}
		for range c.dims {
			sb := c.subBooks[cval&(1<<c.subs-1)]
			cval >>= c.subs
			if sb >= 0 {
				s.books[sb].randEntry(w, rng, 0)
			}
		}
	}
}

// residuePacket writes a residue for the channels of one submap; skip
// marks the channels without residue. It mirrors libvorbis' reading:
// passes up to the highest cascade bit, class codewords below
// classes^dims, and for residue 2 the whole frames of each partition.
func (s *gSetup) residuePacket(w *bitWriter, rng *rand.Rand, r gResidue, skip []bool, half int) {
	ch := len(skip)
	n := half
	rows := ch
	if r.typ == 2 {
		if !slices.Contains(skip, false) {
			return
		}
		n *= ch
		rows = 1
	}
	end := min(r.end, n)
	if end <= r.begin {
		return
	}
	parts := (end - r.begin) / r.partSize
	stages := 0
	for _, c := range r.cascade {
		stages = max(stages, int(ilogGen(c)))
	}
	cb := s.books[r.classBook]
	per := cb.dims
	partVals := 1
	for range per {
		partVals *= r.classes
	}
	cls := make([][]int, rows)
	for j := range cls {
		cls[j] = make([]int, parts+per)
	}
	for pass := range stages {
		for p := 0; p < parts; {
			if pass == 0 {
				for j := range rows {
					if r.typ != 2 && skip[j] {
						continue
					}
					t := cb.randEntry(w, rng, partVals)
					for i := per - 1; i >= 0; i-- {
						cls[j][p+i] = t % r.classes
						t /= r.classes
					}
				}
			}
			for i := 0; i < per && p < parts; i++ {
				off := r.begin + p*r.partSize
				for j := range rows {
					if r.typ != 2 && skip[j] {
						continue
					}
					bi := r.books[cls[j][p]][pass]
					if bi < 0 {
						continue
					}
					b := s.books[bi]
					if len(b.used) == 0 {
						continue
					}
					var k int
					switch r.typ {
					case 0:
						k = r.partSize / b.dims
					case 1:
						k = (r.partSize + b.dims - 1) / b.dims
					default:
						vals := ((off+r.partSize)/ch - off/ch) * ch
						k = (vals + b.dims - 1) / b.dims
					}
					for range k {
						b.randEntry(w, rng, 0)
					}
				}
				p++
			}
		}
	}
}

// oggStream wraps the headers and audio packets in Ogg pages: the
// identification header alone on the first (BOS) page, the other two
// headers on the second, then one to three audio packets per page with
// the granule position of the last sample of the page's last packet. The
// last page is EOS and its granule position is cut by trimEnd samples.
func oggStream(rng *rand.Rand, s *gSetup, hdr [3][]byte, packets [][]byte, trimEnd int) ([]byte, error) {
	serial := rng.Uint32()
	var out []byte
	seq := uint32(0)
	page := func(flags byte, granule int64, ps ...[]byte) error {
		p := ogg.Page{Flags: flags, Granule: granule, Serial: serial, Sequence: seq}
		for _, pk := range ps {
			p.Segments = append(p.Segments, ogg.Lacing(len(pk))...)
			p.Body = append(p.Body, pk...)
		}
		seq++
		var err error
		out, err = ogg.AppendPage(out, &p)
		return err
	}
	if err := page(ogg.FlagBOS, 0, hdr[0]); err != nil {
		return nil, err
	}
	if err := page(0, 0, hdr[1], hdr[2]); err != nil {
		return nil, err
	}
	var granule int64
	prev := 0
	for i := 0; i < len(packets); {
		k := min(1+rng.IntN(3), len(packets)-i)
		for _, p := range packets[i : i+k] {
			bs := s.blockSize(p)
			if prev != 0 {
				granule += int64(prev/4 + bs/4)
			}
			prev = bs
		}
		var flags byte
		g := granule
		if i+k == len(packets) {
			flags = ogg.FlagEOS
			g -= int64(trimEnd)
		}
		if err := page(flags, g, packets[i:i+k]...); err != nil {
			return nil, err
		}
		i += k
	}
	return out, nil
}

// blockSize returns the block size of an audio packet of s.
func (s *gSetup) blockSize(p []byte) int {
	mode := int(p[0]>>1) & (1<<ilogGen(len(s.modes)-1) - 1)
	if s.modes[mode].long {
		return s.bs[1]
	}
	return s.bs[0]
}

// genConfig selects what a generated stream exercises.
type genConfig struct {
	floor    int // 0 or 1
	residue  int // 0, 1 or 2
	lookup   int // lookup type of the residue (and floor 0) vector books
	channels int
	bs       [2]int
}

func (c genConfig) String() string {
	return fmt.Sprintf("floor%d-res%d-lookup%d-%dch-%d-%d", c.floor, c.residue, c.lookup, c.channels, c.bs[0], c.bs[1])
}

// newSetup builds a random stream configuration for cfg: two modes (short
// and long) on two mappings, each mapping with its own floor and residue
// of the configured types, stereo coupled, value ranges chosen so the
// decoded signal stays within about ±10, where float32 rounding stays
// well below the 1e-5 bound of the comparison.
func newSetup(rng *rand.Rand, cfg genConfig) *gSetup {
	s := &gSetup{channels: cfg.channels, rate: []int{8000, 22050, 44100, 48000}[rng.IntN(4)], bs: cfg.bs}
	addBook := func(b *gBook) int {
		s.books = append(s.books, b)
		return len(s.books) - 1
	}
	for blk := range 2 {
		n := cfg.bs[blk] / 2
		if cfg.floor == 0 {
			f := &gFloor0{
				order:       2 + rng.IntN(11),
				rate:        s.rate,
				barkMapSize: []int{64, 128, 256, 333}[rng.IntN(4)],
				ampBits:     uint(4 + rng.IntN(5)),
				ampOffset:   6 + rng.IntN(10),
			}
			for range 1 + rng.IntN(3) {
				dims := 1 + rng.IntN(4)
				// LSP coefficients near (i+1)·π/(order+1), the roots of a
				// flat envelope (√(p+q) = 1): sequence books whose steps
				// lie within ±5% of that spacing, so that every
				// coefficient vector, even from random bits, keeps
				// √(p+q) above about 0.35 and the curve within ±30 dB.
				sp := math.Pi / float64(f.order+1)
				bits := uint(2 + rng.IntN(4))
				delta := exact(0.1 * sp / float64(uint(1)<<bits-1))
				b := newBook(rng, 4+rng.IntN(60), dims, 12, rng.IntN(3) == 0, cfg.lookup, exact(0.95*sp), delta, bits, true)
				f.books = append(f.books, addBook(b))
			}
			s.floors = append(s.floors, gFloor{f0: f})
		} else {
			f := &gFloor1{mult: 1 + rng.IntN(4), rangeBits: ilogGen(n - 1)}
			nclass := 1 + rng.IntN(3)
			for range nclass {
				c := gF1Class{dims: 1 + rng.IntN(3), subs: rng.IntN(3), book: -1}
				if c.subs > 0 {
					c.book = addBook(newBook(rng, 1<<(c.subs*c.dims), 1, 10, false, 0, 0, 0, 0, false))
				}
				for range 1 << c.subs {
					if rng.IntN(4) == 0 {
						c.subBooks = append(c.subBooks, -1)
						continue
					}
					c.subBooks = append(c.subBooks, addBook(newBook(rng, 2+rng.IntN(40), 1, 10, rng.IntN(3) == 0, 0, 0, 0, 0, false)))
				}
				f.classes = append(f.classes, c)
			}
			posts := 0
			nparts := 1 + rng.IntN(6)
			if rng.IntN(6) == 0 {
				nparts = 0 // a straight line from Y0 to Y1
			}
			for range nparts {
				c := rng.IntN(nclass)
				if posts+f.classes[c].dims > 40 {
					break
				}
				f.partClass = append(f.partClass, c)
				posts += f.classes[c].dims
			}
			xs := rng.Perm(1<<f.rangeBits - 1)[:posts]
			for _, x := range xs {
				f.xs = append(f.xs, x+1)
			}
			s.floors = append(s.floors, gFloor{f1: f})
		}
		// Residue.
		r := gResidue{typ: cfg.residue, classes: 2 + rng.IntN(4)}
		size := n
		if r.typ == 2 {
			size *= cfg.channels
		}
		r.partSize = []int{4, 8, 16, 32}[rng.IntN(4)]
		if r.typ == 2 && rng.IntN(3) == 0 {
			r.partSize = []int{3, 5, 7, 9}[rng.IntN(4)] // odd: libvorbis' whole-frame layout
		}
		r.begin = rng.IntN(2) * r.partSize
		r.end = size - rng.IntN(2)*r.partSize
		if rng.IntN(4) == 0 {
			r.end = size + 100 // past the spectrum: clamped
		}
		cdims := 1 + rng.IntN(2)
		pv := 1
		for range cdims {
			pv *= r.classes
		}
		r.classBook = addBook(newBook(rng, pv+rng.IntN(3), cdims, 12, false, 0, 0, 0, 0, false))
		var vq []int
		for range 2 + rng.IntN(3) {
			dims := []int{1, 2, 4}[rng.IntN(3)]
			bits := uint(3 + rng.IntN(5))
			amp := 0.03 + rng.Float64()*0.12
			if cfg.floor == 0 {
				amp /= 25 // floor 0 curves reach about +30 dB
			}
			seq := rng.IntN(4) == 0
			if seq {
				amp /= float64(dims)
			}
			delta := exact(2 * amp / float64(uint(1)<<bits-1))
			entries := 2 + rng.IntN(100)
			if rng.IntN(8) == 0 {
				// One codeword of length 1. Its one vector repeats over
				// every partition and adds up coherently: keep it small.
				entries = 1
				amp /= 20
				delta = exact(2 * amp / float64(uint(1)<<bits-1))
			}
			b := newBook(rng, entries, dims, 12, rng.IntN(3) == 0, cfg.lookup, exact(-amp), delta, bits, seq)
			vq = append(vq, addBook(b))
		}
		if rng.IntN(4) == 0 {
			// A book without codewords: libvorbis decodes nothing for it.
			b := newBook(rng, 3, 2, 4, false, cfg.lookup, exact(-0.1), exact(0.01), 4, false)
			clear(b.lengths)
			b.ordered = false
			b.assign()
			vq = append(vq, addBook(b))
		}
		// Rarely a short-block residue without books: libvorbis then
		// reads no class codewords at all.
		silent := blk == 0 && rng.IntN(8) == 0
		for c := range r.classes {
			casc := rng.IntN(8)
			if c == 0 {
				casc = 0 // class 0 codes silence
			} else if casc == 0 {
				casc = 1
			}
			if rng.IntN(6) == 0 {
				casc |= 1 << (3 + rng.IntN(2)) // a pass past the third
			}
			var bk [8]int
			for p := range 8 {
				bk[p] = -1
				if casc&(1<<p) != 0 {
					bk[p] = vq[rng.IntN(len(vq))]
				}
			}
			if silent {
				casc = 0
			}
			r.cascade = append(r.cascade, casc)
			r.books = append(r.books, bk)
		}
		s.residues = append(s.residues, r)
		m := gMapping{mux: make([]int, cfg.channels), floors: []int{blk}, residues: []int{blk}}
		if cfg.channels == 2 && r.typ != 2 && rng.IntN(3) == 0 {
			// One submap per channel, sharing the floor and residue.
			m = gMapping{mux: []int{0, 1}, floors: []int{blk, blk}, residues: []int{blk, blk}}
		}
		if cfg.channels == 2 {
			if rng.IntN(2) == 0 {
				m.coupling = [][2]int{{0, 1}}
			} else {
				m.coupling = [][2]int{{1, 0}}
			}
		}
		s.maps = append(s.maps, m)
		s.modes = append(s.modes, gMode{long: blk == 1, mapping: blk})
	}
	return s
}

// exact rounds x to a value packFloat represents exactly, with few
// mantissa bits so that multiples of it stay exact in float32.
func exact(x float64) float64 {
	if x == 0 {
		return 0
	}
	e := math.Floor(math.Log2(math.Abs(x)))
	return math.Ldexp(math.Round(math.Ldexp(x, int(10-e))), int(e-10))
}

// genStream returns a configuration, its headers and an Ogg stream of
// npackets audio packets (a mix of meaningful, truncated and random-bit
// packets) with the last page's granule position cut by trimEnd.
func genStream(seed uint64, cfg genConfig, npackets, trimEnd int) (*gSetup, [3][]byte, [][]byte, []byte, error) {
	rng := rand.New(rand.NewPCG(seed, 0x5e9e))
	s := newSetup(rng, cfg)
	hdr := s.headers()
	var packets [][]byte
	for range npackets {
		kind := meaningful
		switch r := rng.IntN(10); {
		case r < 2:
			kind = truncated
		case r < 4:
			kind = randomBits
		}
		packets = append(packets, s.packet(rng, rng.IntN(len(s.modes)), kind))
	}
	b, err := oggStream(rng, s, hdr, packets, trimEnd)
	return s, hdr, packets, b, err
}
