package vorbis

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// Regression tests for the places where the decoder follows libvorbis
// 1.3.7 rather than a literal reading of the specification. They need no
// external tools; TestSyntheticMatchesLibvorbis checks the same paths
// against libvorbis itself.

// bookFrom writes b with the test builder and reads it back as the
// decoder's codebook.
func bookFrom(t *testing.T, b *gBook) *codebook {
	t.Helper()
	w := &bitWriter{}
	b.writeSetup(w)
	var br bitReader
	br.reset(w.buf)
	budget := 1 << 20
	c, err := readCodebook(&br, &budget)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// scalarBook is a 4-entry book of dimension dims, every codeword 2 bits,
// lookup type 2 with entry e holding values 10e+1, 10e+2, ….
func scalarBook(t *testing.T, dims int) (*gBook, *codebook) {
	t.Helper()
	g := &gBook{dims: dims, lengths: []uint8{2, 2, 2, 2}, lookup: 2, minV: 0, deltaV: 1, valueBits: 8}
	if !g.assign() {
		t.Fatal("assign")
	}
	for e := range 4 {
		for k := range dims {
			g.mults = append(g.mults, uint32(10*e+k+1))
		}
	}
	return g, bookFrom(t, g)
}

func TestBarkMapMatchesLibvorbis(t *testing.T) {
	// Values of libvorbis' floor0_map_lazy_init (gcc -O3 -ffast-math on
	// x86-64, as Debian builds it). The lines at 41 and 795 are the ones
	// that float64 arithmetic put in the neighbouring bin.
	tests := []struct {
		rate, barkMap, blocksize, line int
		want                           int32
	}{
		{44100, 1000, 2048, 40, 299},
		{44100, 1000, 2048, 41, 305},
		{44100, 1000, 2048, 42, 310},
		{44100, 1000, 2048, 795, 965},
		{44100, 1000, 4096, 82, 305},
		{44100, 1000, 4096, 1590, 965},
		{44100, 1000, 8192, 164, 305},
		{44100, 1000, 8192, 3180, 965},
		{8000, 64, 256, 0, 0},
		{8000, 64, 256, 1, 1},
		{8000, 64, 256, 127, 63},
		{48000, 333, 512, 100, 285},
		{48000, 333, 512, 255, 332},
	}
	for _, tc := range tests {
		f := &floor0{rate: tc.rate, barkMapSize: tc.barkMap}
		f.prepare([2]int{tc.blocksize, tc.blocksize})
		if got := f.barkMap[0][tc.line]; got != tc.want {
			t.Errorf("rate %d bark map %d block %d line %d: bin %d, libvorbis %d", tc.rate, tc.barkMap, tc.blocksize, tc.line, got, tc.want)
		}
	}
}

func TestResidueCutPartition(t *testing.T) {
	// A partition of 10 values from a 2-dimensional book needs 5
	// codewords of 2 bits; the one-byte packet holds 4 (the last from
	// its zero padding). Residue 0 adds nothing, as libvorbis decodes the
	// whole partition first; residue 1 keeps the 4 vectors it read.
	g, c := scalarBook(t, 2)
	w := &bitWriter{}
	for _, e := range []int{1, 2, 3} {
		g.put(w, e)
	}
	tests := []struct {
		name   string
		decode func(*bitReader, *codebook, []float32) bool
		want   []float32
	}{
		{"residue0", decodePart0, []float32{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"residue1", decodePart1, []float32{11, 12, 21, 22, 31, 32, 1, 2, 0, 0}},
	}
	for _, tc := range tests {
		var br bitReader
		br.reset(w.buf)
		v := make([]float32, 10)
		if tc.decode(&br, c, v) {
			t.Errorf("%s: partition cut by the end of the packet decoded", tc.name)
		}
		for i := range v {
			if v[i] != tc.want[i] {
				t.Errorf("%s: got %v, want %v", tc.name, v, tc.want)
				break
			}
		}
	}
	// Complete, residue 0 interleaves: vector i holds values i and i+5.
	g.put(w, 0)
	g.put(w, 1)
	var br bitReader
	br.reset(w.buf)
	v := make([]float32, 10)
	if !decodePart0(&br, c, v) {
		t.Fatal("complete partition failed")
	}
	want := []float32{11, 21, 31, 1, 11, 12, 22, 32, 2, 12}
	for i := range v {
		if v[i] != want[i] {
			t.Fatalf("residue 0 layout %v, want %v", v, want)
		}
	}
}

func TestResidue2WholeFrames(t *testing.T) {
	// libvorbis' vorbis_book_decodevv_add: a partition at interleaved
	// offset off of size values covers frames off/ch to (off+size)/ch,
	// starting at channel 0.
	tests := []struct {
		ch, off, size int
		want          [][]float32 // per channel, 4 frames
	}{
		{2, 4, 4, [][]float32{{0, 0, 1, 3}, {0, 0, 2, 4}}},
		{2, 3, 3, [][]float32{{0, 1, 3, 0}, {0, 2, 4, 0}}}, // the specification would start at channel 1 of frame 1
		{3, 2, 5, [][]float32{{1, 4, 0, 0}, {2, 5, 0, 0}, {3, 6, 0, 0}}},
	}
	g := &gBook{dims: 1, lengths: []uint8{3, 3, 3, 3, 3, 3, 3, 3}, lookup: 1, minV: 0, deltaV: 1, valueBits: 4}
	g.assign()
	for e := range 8 {
		g.mults = append(g.mults, uint32(e))
	}
	c := bookFrom(t, g)
	for _, tc := range tests {
		w := &bitWriter{}
		for e := 1; e < 8; e++ {
			g.put(w, e)
		}
		var br bitReader
		br.reset(w.buf)
		vecs := make([][]float32, tc.ch)
		for i := range vecs {
			vecs[i] = make([]float32, 4)
		}
		decodePart2(&br, c, vecs, tc.off, tc.size)
		for i := range vecs {
			for j := range vecs[i] {
				if vecs[i][j] != tc.want[i][j] {
					t.Errorf("ch %d off %d size %d: got %v, want %v", tc.ch, tc.off, tc.size, vecs, tc.want)
				}
			}
		}
	}
}

func TestEmptyBookReadsNothing(t *testing.T) {
	g := &gBook{dims: 1, lengths: []uint8{0, 0, 0}}
	g.assign()
	c := bookFrom(t, g)
	var br bitReader
	br.reset([]byte{0xff})
	if e := c.decode(&br); e != -1 {
		t.Fatalf("decoded entry %d from a book without codewords", e)
	}
	if br.eop || br.bitsLeft() != 8 {
		t.Fatalf("eop %v, %d bits left: a book without codewords must read nothing", br.eop, br.bitsLeft())
	}
}

func TestFloor1WithoutPartitionsAtEndOfPacket(t *testing.T) {
	// The packet ends after the nonzero flag: libvorbis stores -1 as both
	// Y values and renders a flat floor at the clamped value 0.
	w := &bitWriter{}
	w.write(0, 5) // no partitions
	w.write(1, 2) // multiplier 2
	w.write(7, 4) // range bits
	var br bitReader
	br.reset(w.buf)
	f, err := readFloor1(&br, nil)
	if err != nil {
		t.Fatal(err)
	}
	br.reset([]byte{1})
	ys := make([]int, maxFloor1Values)
	if !f.decode(&br, nil, ys) {
		t.Fatal("floor unused; libvorbis uses it")
	}
	out := []float32{1, 1, 1, 1}
	f.apply(ys, out)
	for _, v := range out {
		if v != floorInvDB[0] {
			t.Fatalf("floor %v, want %v everywhere", out, floorInvDB[0])
		}
	}
}

// newTestDecoder returns a decoder that has read the headers of s.
func newTestDecoder(t *testing.T, s *gSetup) *Decoder {
	t.Helper()
	d := NewDecoder(DefaultOptions())
	for _, h := range s.headers() {
		if err := d.ReadHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func TestLongPacketEndingInWindowFlags(t *testing.T) {
	// 64 modes take 6 bits: a one-byte packet of a long mode ends inside
	// its window flags, which libvorbis rejects as OV_EBADPACKET.
	s := newSetup(rand.New(rand.NewPCG(1, 1)), genConfig{floor: 1, residue: 1, lookup: 2, channels: 1, bs: [2]int{256, 2048}})
	for len(s.modes) < 64 {
		s.modes = append(s.modes, s.modes[len(s.modes)%2])
	}
	d := newTestDecoder(t, s)
	if _, err := d.Decode([]byte{1 << 1}); !errors.Is(err, ErrNotAudio) {
		t.Fatalf("long packet ending in its window flags: %v, want ErrNotAudio", err)
	}
	if _, err := d.Decode([]byte{0}); err != nil {
		t.Fatalf("short packet of one byte: %v", err)
	}
}

func TestResidueClassBookTooSmall(t *testing.T) {
	// libvorbis requires classes^dims ≤ entries of the class book.
	s := newSetup(rand.New(rand.NewPCG(2, 2)), genConfig{floor: 1, residue: 0, lookup: 2, channels: 1, bs: [2]int{256, 2048}})
	r := &s.residues[0]
	small := newBook(rand.New(rand.NewPCG(3, 3)), r.classes*r.classes-1, 2, 12, false, 0, 0, 0, 0, false)
	s.books = append(s.books, small)
	r.classBook = len(s.books) - 1
	d := NewDecoder(DefaultOptions())
	hdr := s.headers()
	for _, h := range hdr[:2] {
		if err := d.ReadHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.ReadHeader(hdr[2]); !errors.Is(err, ErrSetup) {
		t.Fatalf("class book of %d entries for %d classes in 2 dimensions: %v, want ErrSetup", r.classes*r.classes-1, r.classes, err)
	}
}
