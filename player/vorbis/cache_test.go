package vorbis

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/segue-fm/segue/internal/demoalbum"
)

func TestSetupCacheLRU(t *testing.T) {
	key := func(i byte) [sha256.Size]byte { return [sha256.Size]byte{i} }
	for _, tc := range []struct {
		name    string
		size    int
		add     []byte // keys added, in order
		touch   []byte // keys looked up after the adds, in order
		addMore []byte // keys added after the lookups
		want    []byte // keys held at the end
		gone    []byte // keys evicted
	}{
		{name: "fits", size: 3, add: []byte{1, 2, 3}, want: []byte{1, 2, 3}},
		{name: "n+1 evicts the oldest", size: 3, add: []byte{1, 2, 3, 4}, want: []byte{2, 3, 4}, gone: []byte{1}},
		{name: "a lookup makes an entry recent", size: 3, add: []byte{1, 2, 3}, touch: []byte{1}, addMore: []byte{4}, want: []byte{1, 3, 4}, gone: []byte{2}},
		{name: "re-adding makes an entry recent", size: 2, add: []byte{1, 2, 1, 3}, want: []byte{1, 3}, gone: []byte{2}},
		{name: "size below 1 holds one", size: 0, add: []byte{1, 2}, want: []byte{2}, gone: []byte{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewSetupCache(tc.size)
			for _, k := range tc.add {
				c.add(key(k), &setup{channels: int(k)})
			}
			for _, k := range tc.touch {
				if c.get(key(k)) == nil {
					t.Fatalf("key %d missing before the second adds", k)
				}
			}
			for _, k := range tc.addMore {
				c.add(key(k), &setup{channels: int(k)})
			}
			if got := c.Stats().Len; got != len(tc.want) {
				t.Errorf("Len = %d, want %d", got, len(tc.want))
			}
			for _, k := range tc.want {
				if s := c.get(key(k)); s == nil || s.channels != int(k) {
					t.Errorf("key %d: got %v, want its setup", k, s)
				}
			}
			for _, k := range tc.gone {
				if s := c.get(key(k)); s != nil {
					t.Errorf("key %d still cached", k)
				}
			}
		})
	}
}

func TestSetupCacheNil(t *testing.T) {
	var c *SetupCache
	c.add([sha256.Size]byte{1}, &setup{})
	if c.get([sha256.Size]byte{1}) != nil || c.Stats() != (SetupCacheStats{}) {
		t.Fatal("a nil cache holds something")
	}
}

// readHeaders feeds the three header packets to a new decoder.
func readHeaders(opts Options, hdr [3][]byte) (*Decoder, error) {
	d := NewDecoder(opts)
	for _, p := range hdr {
		if err := d.ReadHeader(p); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func TestSetupCacheKey(t *testing.T) {
	ps := fixturePackets(t, "stereo22k.ogg")
	hdr := [3][]byte{ps[0], ps[1], ps[2]}
	flip := func(p []byte, i int) []byte { q := bytes.Clone(p); q[i] ^= 1; return q }
	for _, tc := range []struct {
		name string
		hdr  [3][]byte
		hit  bool
	}{
		{name: "same packets", hdr: hdr, hit: true},
		{name: "other comments", hdr: [3][]byte{ps[0], flip(ps[1], 12), ps[2]}, hit: true},
		{name: "setup differs in its last byte", hdr: [3][]byte{ps[0], ps[1], flip(ps[2], len(ps[2])-1)}},
		{name: "setup differs in one codebook byte", hdr: [3][]byte{ps[0], ps[1], flip(ps[2], 20)}},
		{name: "other block sizes", hdr: [3][]byte{flip(ps[0], 28), ps[1], ps[2]}},
		{name: "other channel count", hdr: [3][]byte{flip(ps[0], 11), ps[1], ps[2]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewSetupCache(4)
			opts := DefaultOptions().WithSetupCache(c)
			if _, err := readHeaders(opts, hdr); err != nil {
				t.Fatal(err)
			}
			_, err := readHeaders(opts, tc.hdr)
			st := c.Stats()
			if tc.hit != (st.Hits == 1) || st.Hits+st.Misses != 2 {
				t.Fatalf("stats %+v (err %v), want hit %t", st, err, tc.hit)
			}
			if tc.hit && err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSetupCacheLimit checks that a cached setup is charged to each
// decoder's setup-bytes limit as a parse would be.
func TestSetupCacheLimit(t *testing.T) {
	ps := fixturePackets(t, "stereo22k.ogg")
	hdr := [3][]byte{ps[0], ps[1], ps[2]}
	c := NewSetupCache(2)
	if _, err := readHeaders(DefaultOptions().WithSetupCache(c), hdr); err != nil {
		t.Fatal(err)
	}
	small := DefaultOptions().WithMaxSetupBytes(64 << 10)
	_, cold := readHeaders(small, hdr)
	_, cached := readHeaders(small.WithSetupCache(c), hdr)
	if !errors.Is(cold, ErrLimit) || !errors.Is(cached, ErrLimit) {
		t.Fatalf("64 KiB limit: parsed %v, cached %v; want ErrLimit for both", cold, cached)
	}
	if c.Stats().Hits != 1 {
		t.Fatalf("stats %+v, want the second decoder to hit", c.Stats())
	}
}

// decodeStream decodes an Ogg Vorbis stream to its samples' bits (all
// channels of each block in turn), stopping at the first error or after
// 5000 blocks, and returns them with the error's text.
func decodeStream(b []byte, opts Options) ([]uint32, string) {
	sr := NewStreamReader(bytes.NewReader(b), opts)
	var bits []uint32
	for range 5000 {
		pcm, err := sr.Next(context.Background())
		if err != nil {
			if errors.Is(err, io.EOF) {
				return bits, ""
			}
			return bits, err.Error()
		}
		for _, c := range pcm {
			for _, v := range c {
				bits = append(bits, math.Float32bits(v))
			}
		}
	}
	return bits, "5000 blocks"
}

// sameDecode decodes b without a cache and twice with one (a miss, then
// a hit when the stream's setup parses) and reports the first difference.
func sameDecode(b []byte, opts Options) error {
	want, wantErr := decodeStream(b, opts)
	c := NewSetupCache(4)
	for i := range 2 {
		got, gotErr := decodeStream(b, opts.WithSetupCache(c))
		if gotErr != wantErr {
			return fmt.Errorf("cached decode %d: error %q, without cache %q", i, gotErr, wantErr)
		}
		if len(got) != len(want) {
			return fmt.Errorf("cached decode %d: %d samples, without cache %d", i, len(got), len(want))
		}
		for j := range got {
			if got[j] != want[j] {
				return fmt.Errorf("cached decode %d: sample %d is %#x, without cache %#x", i, j, got[j], want[j])
			}
		}
	}
	return nil
}

func TestSetupCacheBitExactDemoAlbum(t *testing.T) {
	files, err := fs.Glob(demoalbum.FS, "data/*.ogg")
	if err != nil || len(files) == 0 {
		t.Fatalf("demo album files: %v %v", files, err)
	}
	// One cache for the whole album, as a player has: every track after
	// the first of a tier decodes with its tier's cached setup.
	album := NewSetupCache(8)
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			b, err := fs.ReadFile(demoalbum.FS, name)
			if err != nil {
				t.Fatal(err)
			}
			if err := sameDecode(b, DefaultOptions()); err != nil {
				t.Fatal(err)
			}
			want, _ := decodeStream(b, DefaultOptions())
			got, _ := decodeStream(b, DefaultOptions().WithSetupCache(album))
			if !bytes.Equal(u32Bytes(got), u32Bytes(want)) {
				t.Fatal("album-wide cache changes the decode")
			}
		})
	}
	// Four tiers, one setup each, shared by the four tracks.
	if st := album.Stats(); st.Len != 4 || st.Misses != 4 || st.Hits != uint64(len(files)-4) {
		t.Fatalf("album cache %+v, want 4 setups, 4 misses, %d hits", st, len(files)-4)
	}
}

// u32Bytes returns the bytes of v, for a fast comparison.
func u32Bytes(v []uint32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = append(b, byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
	}
	return b
}

// TestSetupCacheBitExactFuzzSeeds runs the seeds of FuzzHeaders and
// FuzzStream (the committed fixtures and the builder's streams) with and
// without the cache.
func TestSetupCacheBitExactFuzzSeeds(t *testing.T) {
	var streams [][]byte
	for _, name := range []string{"stereo22k.ogg", "surround.ogg", "ffmpeg.ogg"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, b)
	}
	hdrs, packets, built := builderSeeds(t)
	streams = append(streams, built...)
	for i, b := range streams {
		for _, opts := range []Options{DefaultOptions(), fuzzOptions} {
			if err := sameDecode(b, opts); err != nil {
				t.Errorf("stream %d: %v", i, err)
			}
		}
	}
	// The builder's header seeds, packet by packet (FuzzHeaders' path).
	for i, h := range hdrs {
		c := NewSetupCache(1)
		var runs [3][]uint32
		for r, opts := range []Options{fuzzOptions, fuzzOptions.WithSetupCache(c), fuzzOptions.WithSetupCache(c)} {
			d, err := readHeaders(opts, h)
			if err != nil {
				t.Fatalf("seed %d: %v", i, err)
			}
			for _, p := range packets[i] {
				pcm, err := d.Decode(p)
				if err != nil {
					t.Fatalf("seed %d: %v", i, err)
				}
				for _, ch := range pcm {
					for _, v := range ch {
						runs[r] = append(runs[r], math.Float32bits(v))
					}
				}
			}
		}
		if !bytes.Equal(u32Bytes(runs[0]), u32Bytes(runs[1])) || !bytes.Equal(u32Bytes(runs[0]), u32Bytes(runs[2])) {
			t.Errorf("seed %d: cached decode differs", i)
		}
		if st := c.Stats(); st.Hits != 1 {
			t.Errorf("seed %d: stats %+v, want one hit", i, st)
		}
	}
}

// TestSetupSharedConcurrently decodes one stream in several decoders at
// once, all using one cached setup; run with -race.
func TestSetupSharedConcurrently(t *testing.T) {
	b, err := fs.ReadFile(demoalbum.FS, "data/01.high.ogg")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := decodeStream(b, DefaultOptions())
	c := NewSetupCache(1)
	opts := DefaultOptions().WithSetupCache(c)
	decodeStream(b, opts) // parse once: every decoder below shares it
	const decoders = 4
	got := make([][]uint32, decoders)
	var wg sync.WaitGroup
	for i := range decoders {
		wg.Go(func() { got[i], _ = decodeStream(b, opts) })
	}
	wg.Wait()
	for i, g := range got {
		if !bytes.Equal(u32Bytes(g), u32Bytes(want)) {
			t.Errorf("decoder %d: differs from an uncached decode", i)
		}
	}
	if st := c.Stats(); st.Hits != decoders || st.Len != 1 {
		t.Fatalf("stats %+v, want %d hits on one setup", st, decoders)
	}
}

// FuzzStreamCached decodes a stream without a setup cache and twice with
// one: the samples and the error must be the same.
func FuzzStreamCached(f *testing.F) {
	addStreamSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := sameDecode(b, fuzzOptions); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkReadHeaders reads the three headers of the demo album's
// tracks (each tier's setup) into a new decoder: parsing the setup
// ("cold") or taking it from a cache holding it ("cached"). The cached
// figure includes the SHA-256 of the setup packet and the decoder's
// per-stream buffers.
//
//	go test -run '^$' -bench BenchmarkReadHeaders -benchmem -count 5 ./player/vorbis
func BenchmarkReadHeaders(b *testing.B) {
	for _, tier := range []string{"low", "high", "very_high"} {
		data, err := fs.ReadFile(demoalbum.FS, "data/01."+tier+".ogg")
		if err != nil {
			b.Fatal(err)
		}
		ps := fixturePacketsOf(b, data)
		hdr := [3][]byte{ps[0], ps[1], ps[2]}
		for _, mode := range []string{"cold", "cached"} {
			b.Run(tier+"/"+mode, func(b *testing.B) {
				opts := DefaultOptions()
				if mode == "cached" {
					opts = opts.WithSetupCache(NewSetupCache(1))
					if _, err := readHeaders(opts, hdr); err != nil {
						b.Fatal(err)
					}
				}
				for b.Loop() {
					if _, err := readHeaders(opts, hdr); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
