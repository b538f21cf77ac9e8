//go:build !js && !wasip1

package vorbis

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/segue-fm/segue/player/ogg"
)

// chunk is one segment built per docs/ARCHITECTURE.md §3.
type chunk struct {
	data        []byte // primer page (for chunks after the first) ‖ original pages
	firstSample int64
}

// segment splits an Ogg Vorbis file into its header pages and chunks cut
// before pages that start a packet, about every step samples, each chunk
// after the first beginning with a primer page.
func segment(tb testing.TB, file []byte, step int64) ([]byte, []chunk) {
	tb.Helper()
	type page struct {
		raw []byte
		pg  ogg.Page
	}
	var pages []page
	for off := 0; off < len(file); {
		pg, n, err := ogg.ParsePage(file[off:])
		if err != nil {
			tb.Fatalf("page at %d: %v", off, err)
		}
		pages = append(pages, page{file[off : off+n], pg})
		off += n
	}
	// Header pages: up to the page on which the third packet ends.
	packets, hdrEnd := 0, 0
	for i, p := range pages {
		p.pg.Packets(func(_ []byte, _, last bool) {
			if last {
				packets++
			}
		})
		if packets >= 3 {
			hdrEnd = i + 1
			break
		}
	}
	var header []byte
	for _, p := range pages[:hdrEnd] {
		header = append(header, p.raw...)
	}
	// lastPacket returns the last whole packet ending on page i.
	lastPacket := func(i int) []byte {
		j := i
		for j > hdrEnd && pages[j].pg.Continued() {
			j--
		}
		var cur, last []byte
		for k := j; k <= i; k++ {
			pages[k].pg.Packets(func(d []byte, first, end bool) {
				if first {
					cur = nil
				}
				cur = append(cur, d...)
				if end {
					last = append([]byte(nil), cur...)
				}
			})
		}
		return last
	}
	chunks := []chunk{{firstSample: 0}}
	next := step
	for i := hdrEnd; i < len(pages); i++ {
		p := pages[i]
		if i > hdrEnd && !p.pg.Continued() && pages[i-1].pg.Granule >= next && i < len(pages)-1 {
			prev := pages[i-1].pg
			primer, err := ogg.SinglePacketPage(p.pg.Serial, p.pg.Sequence-1, prev.Granule, 0, lastPacket(i-1))
			if err != nil {
				tb.Fatal(err)
			}
			chunks = append(chunks, chunk{data: primer, firstSample: prev.Granule})
			next = prev.Granule + step
		}
		c := &chunks[len(chunks)-1]
		c.data = append(c.data, p.raw...)
	}
	return header, chunks
}

// TestChunksDecodeExactly checks the segmentation contract: header ‖
// chunk_i decodes alone to exactly the samples [FirstSample, next
// FirstSample) of the whole file, bit for bit, with this decoder, and to
// the same count with libvorbisfile.
func TestChunksDecodeExactly(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		q    string
		rate int
		ch   int
	}{{"q5-stereo", "5", 44100, 2}, {"q2-mono", "2", 22050, 1}, {"q9-5.1", "9", 48000, 6}} {
		t.Run(tc.name, func(t *testing.T) {
			wav := source(t, dir, tc.name, tc.rate, tc.ch, "synth", "7.3", "sine", "300-2000", "pinknoise", "vol", "0.5")
			path := oggenc(t, wav, filepath.Join(dir, tc.name+".ogg"), "-q", tc.q)
			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			whole, info := decodeAll(t, bytes.NewReader(file))
			ch := info.Channels
			header, chunks := segment(t, file, int64(tc.rate)/2)
			if len(chunks) < 5 {
				t.Fatalf("only %d chunks", len(chunks))
			}
			total := int64(len(whole) / ch)
			for i, c := range chunks {
				end := total
				if i+1 < len(chunks) {
					end = chunks[i+1].firstSample
				}
				stream := append(append([]byte(nil), header...), c.data...)
				got, _ := decodeAll(t, bytes.NewReader(stream))
				want := whole[c.firstSample*int64(ch) : end*int64(ch)]
				if len(got) != len(want) {
					t.Fatalf("chunk %d [%d,%d): %d frames, want %d", i, c.firstSample, end, len(got)/ch, len(want)/ch)
				}
				for j := range got {
					if got[j] != want[j] {
						t.Fatalf("chunk %d: frame %d channel %d = %v, whole-file decode has %v", i, j/ch, j%ch, got[j], want[j])
					}
				}
				cp := filepath.Join(dir, tc.name+"-chunk.ogg")
				if err := os.WriteFile(cp, stream, 0o644); err != nil {
					t.Fatal(err)
				}
				ref, _ := reference(t, cp)
				compare(t, "libvorbis chunk", got, ref, 1e-5, 1e-6)
			}
		})
	}
}
