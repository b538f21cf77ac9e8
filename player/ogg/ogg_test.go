package ogg

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"
)

// paginate lays packets out in pages of at most maxSegs lacing values,
// spanning pages where needed, like libogg. Each page's granule is the
// index+1 of the last packet ending on it (NoGranule if none).
func paginate(serial uint32, seq0 uint32, packets [][]byte, maxSegs int, eos bool) []byte {
	var out []byte
	seq := seq0
	var segs []byte
	var body []byte
	flags := byte(FlagBOS)
	continued := false
	granule := NoGranule
	flush := func(last bool) {
		f := flags
		if continued {
			f |= FlagContinued
		}
		if last && eos {
			f |= FlagEOS
		}
		p := Page{Flags: f, Granule: granule, Serial: serial, Sequence: seq, Segments: segs, Body: body}
		out, _ = AppendPage(out, &p)
		seq++
		flags = 0
		continued = false
		segs, body, granule = nil, nil, NoGranule
	}
	for i, pkt := range packets {
		lace := Lacing(len(pkt))
		rest := pkt
		for j, l := range lace {
			if len(segs) == maxSegs {
				flush(false)
				continued = j > 0 // the next page continues this packet
			}
			segs = append(segs, l)
			body = append(body, rest[:l]...)
			rest = rest[l:]
		}
		granule = int64(i + 1)
	}
	flush(true)
	return out
}

func testPackets(n int, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	ps := make([][]byte, n)
	for i := range ps {
		size := rng.IntN(600)
		if i%7 == 3 {
			size = 70000 + rng.IntN(30000) // spans several pages
		}
		if i%11 == 5 {
			size = 255 * (1 + rng.IntN(3)) // multiple of 255: needs a 0 lacing value
		}
		ps[i] = make([]byte, size)
		for j := range ps[i] {
			ps[i][j] = byte(rng.Uint32())
		}
	}
	return ps
}

type got struct {
	data    []byte
	serial  uint32
	granule int64
	bos     bool
	eos     bool
	hole    bool
}

func readAll(t *testing.T, b []byte) ([]got, error) {
	t.Helper()
	r := NewReader(bytes.NewReader(b))
	var out []got
	for {
		p, err := r.Next()
		if err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, err
		}
		out = append(out, got{append([]byte(nil), p.Data...), p.Serial, p.Granule, p.BOS, p.EOS, p.Hole})
	}
}

func checkPackets(t *testing.T, g []got, want [][]byte, serial uint32) {
	t.Helper()
	if len(g) != len(want) {
		t.Fatalf("%d packets, want %d", len(g), len(want))
	}
	for i := range want {
		if !bytes.Equal(g[i].data, want[i]) || g[i].serial != serial {
			t.Fatalf("packet %d: %d bytes serial %d, want %d bytes serial %d", i, len(g[i].data), g[i].serial, len(want[i]), serial)
		}
	}
	if !g[0].bos || !g[len(g)-1].eos {
		t.Errorf("BOS %v EOS %v", g[0].bos, g[len(g)-1].eos)
	}
	if g[len(g)-1].granule != int64(len(want)) {
		t.Errorf("last granule %d, want %d", g[len(g)-1].granule, len(want))
	}
}

func TestReaderSpanningPackets(t *testing.T) {
	for _, maxSegs := range []int{1, 2, 17, 255} {
		t.Run(fmt.Sprint(maxSegs), func(t *testing.T) {
			ps := testPackets(40, uint64(maxSegs))
			g, err := readAll(t, paginate(9, 0, ps, maxSegs, true))
			if err != nil {
				t.Fatal(err)
			}
			checkPackets(t, g, ps, 9)
			for i, p := range g {
				if p.hole {
					t.Errorf("packet %d marked as after a hole", i)
				}
			}
		})
	}
}

func TestParsePageCRC(t *testing.T) {
	file, err := os.ReadFile("../vorbis/testdata/stereo22k.ogg")
	if err != nil {
		t.Fatal(err)
	}
	pg, n, err := ParsePage(file)
	if err != nil || !pg.BOS() || pg.Granule != 0 {
		t.Fatalf("first page: %+v %v", pg, err)
	}
	// Re-encoding a parsed page reproduces it byte for byte.
	enc, err := AppendPage(nil, &pg)
	if err != nil || !bytes.Equal(enc, file[:n]) {
		t.Fatalf("re-encoded page differs: %v", err)
	}
	for i := range n {
		if i >= 22 && i < 26 {
			continue // the checksum itself
		}
		bad := append([]byte(nil), file[:n]...)
		bad[i] ^= 0x10
		_, _, err := ParsePage(bad)
		if err == nil {
			t.Fatalf("flipping byte %d went undetected", i)
		}
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"header only", file[:HeaderSize], ErrShort},
		{"body cut", file[:n-1], ErrShort},
		{"capture", append([]byte("OggT"), file[4:n]...), ErrCapture},
		{"version", append([]byte("OggS\x01"), file[5:n]...), ErrVersion},
	}
	for _, tc := range tests {
		if _, _, err := ParsePage(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestReaderChained(t *testing.T) {
	a, b := testPackets(10, 1), testPackets(12, 2)
	stream := append(paginate(1, 0, a, 255, true), paginate(2, 0, b, 255, true)...)
	g, err := readAll(t, stream)
	if err != nil {
		t.Fatal(err)
	}
	if len(g) != len(a)+len(b) {
		t.Fatalf("%d packets, want %d", len(g), len(a)+len(b))
	}
	checkPackets(t, g[:len(a)], a, 1)
	checkPackets(t, g[len(a):], b, 2)
}

func TestReaderMultiplexed(t *testing.T) {
	a, b := testPackets(10, 3), testPackets(10, 4)
	pa, pb := splitPages(t, paginate(5, 0, a, 255, true)), splitPages(t, paginate(6, 0, b, 255, true))
	var stream []byte
	for i := range max(len(pa), len(pb)) {
		if i < len(pa) {
			stream = append(stream, pa[i]...)
		}
		if i < len(pb) {
			stream = append(stream, pb[i]...)
		}
	}
	g, err := readAll(t, stream)
	if err != nil {
		t.Fatal(err)
	}
	checkPackets(t, g, a, 5) // follows the first stream, skips the other
}

func splitPages(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		_, n, err := ParsePage(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

func TestReaderTruncated(t *testing.T) {
	ps := testPackets(20, 5)
	stream := paginate(3, 0, ps, 255, true)
	pages := splitPages(t, stream)
	// Cut inside the last page: every packet completed before it is
	// returned, then io.ErrUnexpectedEOF.
	cut := len(stream) - len(pages[len(pages)-1])/2
	g, err := readAll(t, stream[:cut])
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("error %v, want io.ErrUnexpectedEOF", err)
	}
	for i := range g {
		if !bytes.Equal(g[i].data, ps[i]) {
			t.Fatalf("packet %d differs", i)
		}
	}
	if len(g) == 0 || len(g) >= len(ps) {
		t.Errorf("%d packets before the cut", len(g))
	}
	// Cut between pages, inside a spanning packet.
	var off int
	for i, p := range pages {
		pg, _, _ := ParsePage(p)
		if i > 0 && pg.Continued() {
			break
		}
		off += len(p)
	}
	if _, err := readAll(t, stream[:off]); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut inside a spanning packet: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestReaderGarbage(t *testing.T) {
	ps := testPackets(15, 6)
	pages := splitPages(t, paginate(4, 0, ps, 255, true))
	rng := rand.New(rand.NewPCG(8, 9))
	junk := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	// A false capture whose claimed size covers the next real page.
	fake := append([]byte("OggS\x00\x00"), junk(20)...)
	fake = append(fake, 255)
	fake = append(fake, bytes.Repeat([]byte{255}, 255)...)
	var stream []byte
	stream = append(stream, junk(1000)...)
	for i, p := range pages {
		switch i % 3 {
		case 0:
			stream = append(stream, junk(rng.IntN(300))...)
		case 1:
			stream = append(stream, fake...)
		}
		stream = append(stream, p...)
	}
	stream = append(stream, junk(50)...)
	r := NewReader(bytes.NewReader(stream))
	var n int
	for {
		p, err := r.Next()
		if err != nil {
			if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatal(err)
			}
			break
		}
		if !bytes.Equal(p.Data, ps[n]) || p.Hole {
			t.Fatalf("packet %d differs (hole %v)", n, p.Hole)
		}
		n++
	}
	if n != len(ps) {
		t.Fatalf("%d packets through garbage, want %d", n, len(ps))
	}
	if r.Lost == 0 {
		t.Error("Lost = 0 after garbage")
	}
}

func TestReaderHole(t *testing.T) {
	ps := testPackets(30, 10)
	pages := splitPages(t, paginate(4, 0, ps, 17, true))
	var stream []byte
	for i, p := range pages {
		if i == 3 {
			continue // lost page
		}
		if i == 40 {
			p = append([]byte(nil), p...)
			p[len(p)-1] ^= 1 // corrupt: fails its CRC
		}
		stream = append(stream, p...)
	}
	g, err := readAll(t, stream)
	if err != nil {
		t.Fatal(err)
	}
	holes := 0
	for _, p := range g {
		if p.hole {
			holes++
		}
	}
	if holes != 2 {
		t.Errorf("%d packets flagged after a hole, want 2", holes)
	}
}

func TestReaderResyncLimit(t *testing.T) {
	_, err := NewReader(bytes.NewReader(make([]byte, 200<<10))).Next()
	if !errors.Is(err, ErrResync) {
		t.Errorf("200 KiB of zeros: %v, want ErrResync", err)
	}
}

func TestReaderPacketLimit(t *testing.T) {
	ps := [][]byte{make([]byte, 1000), make([]byte, 50000)}
	r := NewReader(bytes.NewReader(paginate(1, 0, ps, 255, true)))
	r.MaxPacket = 10000
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); !errors.Is(err, ErrPacketLarge) {
		t.Errorf("oversized packet: %v, want ErrPacketLarge", err)
	}
}

func TestReaderSteadyStateAllocs(t *testing.T) {
	ps := testPackets(400, 11)
	for i := range ps {
		ps[i] = ps[i][:min(len(ps[i]), 500)]
	}
	stream := paginate(1, 0, ps, 32, true)
	r := NewReader(bytes.NewReader(stream))
	for range 50 { // warm up buffers
		r.Next()
	}
	allocs := testing.AllocsPerRun(200, func() { r.Next() })
	if allocs > 0 {
		t.Errorf("%.2f allocations per packet in steady state", allocs)
	}
}

func TestSinglePacketPage(t *testing.T) {
	pkt := bytes.Repeat([]byte{7}, 510)
	b, err := SinglePacketPage(42, 9, 1234, 0, pkt)
	if err != nil {
		t.Fatal(err)
	}
	pg, n, err := ParsePage(b)
	if err != nil || n != len(b) || pg.Serial != 42 || pg.Sequence != 9 || pg.Granule != 1234 || !pg.Complete() {
		t.Fatalf("%+v %d %v", pg, n, err)
	}
	if len(pg.Segments) != 3 || pg.Segments[2] != 0 {
		t.Errorf("lacing %v, want [255 255 0]", pg.Segments)
	}
	if _, err := SinglePacketPage(1, 1, 0, 0, make([]byte, 255*255)); !errors.Is(err, ErrPacketSpan) {
		t.Errorf("oversized: %v", err)
	}
}

func FuzzParsePage(f *testing.F) {
	if file, err := os.ReadFile("../vorbis/testdata/stereo22k.ogg"); err == nil {
		f.Add(file[:min(len(file), 8000)])
	}
	f.Add(paginate(1, 0, testPackets(3, 1), 255, true))
	f.Fuzz(func(t *testing.T, b []byte) {
		pg, n, err := ParsePage(b)
		if err != nil {
			return
		}
		if n > len(b) || pg.Size() != n {
			t.Fatalf("size %d, page claims %d, input %d", n, pg.Size(), len(b))
		}
		enc, err := AppendPage(nil, &pg)
		if err != nil || !bytes.Equal(enc, b[:n]) {
			t.Fatalf("re-encoding differs: %v", err)
		}
	})
}

func FuzzReader(f *testing.F) {
	for _, name := range []string{"stereo22k.ogg", "surround.ogg", "ffmpeg.ogg"} {
		if file, err := os.ReadFile("../vorbis/testdata/" + name); err == nil {
			f.Add(file[:min(len(file), 6000)])
		}
	}
	f.Add(paginate(1, 0, testPackets(5, 2), 3, true))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(bytes.NewReader(b))
		r.MaxPacket = 1 << 16
		for range 10000 {
			p, err := r.Next()
			if err != nil {
				return
			}
			if len(p.Data) > r.MaxPacket {
				t.Fatalf("packet of %d bytes over the limit", len(p.Data))
			}
		}
	})
}
