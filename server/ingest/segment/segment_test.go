package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/internal/testtool"
)

// demoStreams returns every demo fixture as (name, bytes).
func demoStreams(tb testing.TB) (names []string, files [][]byte, meta demoalbum.Meta) {
	tb.Helper()
	meta, err := demoalbum.Album()
	if err != nil {
		tb.Fatal(err)
	}
	for _, tr := range meta.Tracks {
		for _, tier := range model.Tiers {
			b, err := demoalbum.FS.ReadFile("data/" + tr.Tiers[tier])
			if err != nil {
				tb.Fatal(err)
			}
			names = append(names, tr.Tiers[tier])
			files = append(files, b)
		}
	}
	return names, files, meta
}

// oggdec decodes an Ogg Vorbis byte stream with libvorbis and returns the
// interleaved 16-bit samples.
func oggdec(t *testing.T, tool string, data []byte) []int16 {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.ogg"), filepath.Join(dir, "out.raw")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(tool, "-Q", "-R", "-o", out, in).CombinedOutput(); err != nil {
		t.Fatalf("oggdec: %v: %s", err, b)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	s := make([]int16, len(raw)/2)
	for i := range s {
		s[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	return s
}

func TestSplitDemoLayout(t *testing.T) {
	names, files, meta := demoStreams(t)
	for i, data := range files {
		t.Run(names[i], func(t *testing.T) {
			st, err := Split(data, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			tr := meta.Tracks[i/len(model.Tiers)]
			want := tr.Samples
			if st.SampleRate != tr.SampleRate {
				_, want = model.ResampledSpan(tr.CutOffset, tr.Samples, tr.SampleRate, st.SampleRate)
			}
			if st.TotalSamples != want || st.Channels != 2 {
				t.Fatalf("total %d channels %d, want %d and 2", st.TotalSamples, st.Channels, want)
			}
			// header ‖ chunk0 ‖ chunk1[primer:] ‖ … is the file byte for byte.
			joined := append([]byte(nil), st.Header...)
			var next int64
			for ci, c := range st.Chunks {
				if c.FirstSample != next || c.Samples <= 0 {
					t.Fatalf("chunk %d: first %d samples %d, want first %d", ci, c.FirstSample, c.Samples, next)
				}
				if (ci == 0) != (c.PrimerSize == 0) {
					t.Fatalf("chunk %d primer size %d", ci, c.PrimerSize)
				}
				next += c.Samples
				joined = append(joined, c.Data[c.PrimerSize:]...)
			}
			if next != st.TotalSamples {
				t.Fatalf("chunks hold %d samples, total %d", next, st.TotalSamples)
			}
			if !bytes.Equal(joined, data) {
				t.Fatal("joined chunks differ from the original file")
			}
			// Ramp: the first chunks are ≈1 s, 2 s, 4 s, later ones ≈8 s.
			rate := int64(st.SampleRate)
			for ci, c := range st.Chunks[:len(st.Chunks)-1] {
				target := int64(DefaultOptions().target(ci)/time.Millisecond) * rate / 1000
				if c.Samples < target/2 || c.Samples > target+3*rate/2 {
					t.Errorf("chunk %d holds %d samples, target %d", ci, c.Samples, target)
				}
			}
		})
	}
}

// TestOracleOggdec checks with libvorbis that the header plus all chunks
// decode to exactly the source sample count, that every chunk decoded alone
// (header + primer + chunk) yields exactly its own samples, and that those
// per-chunk decodes joined equal the whole-file decode.
func TestOracleOggdec(t *testing.T) {
	tool := testtool.Need(t, "oggdec")
	names, files, meta := demoStreams(t)
	for i, data := range files {
		t.Run(names[i], func(t *testing.T) {
			t.Parallel()
			st, err := Split(data, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			tr := meta.Tracks[i/len(model.Tiers)]
			want := tr.Samples
			if st.SampleRate != tr.SampleRate {
				_, want = model.ResampledSpan(tr.CutOffset, tr.Samples, tr.SampleRate, st.SampleRate)
			}
			stream := append([]byte(nil), st.Header...)
			for _, c := range st.Chunks {
				stream = append(stream, c.Data[c.PrimerSize:]...)
			}
			whole := oggdec(t, tool, stream)
			if got := int64(len(whole) / st.Channels); got != want {
				t.Fatalf("header + chunks decode to %d samples, source has %d", got, want)
			}
			var joined []int16
			for ci, c := range st.Chunks {
				alone := oggdec(t, tool, append(append([]byte(nil), st.Header...), c.Data...))
				if got := int64(len(alone) / st.Channels); got != c.Samples {
					t.Fatalf("chunk %d alone decodes to %d samples, want %d", ci, got, c.Samples)
				}
				joined = append(joined, alone...)
			}
			if len(joined) != len(whole) {
				t.Fatalf("joined chunk decodes hold %d values, whole %d", len(joined), len(whole))
			}
			for k := range whole {
				if joined[k] != whole[k] {
					t.Fatalf("sample value %d (frame %d): chunk decode %d, whole decode %d", k, k/st.Channels, joined[k], whole[k])
				}
			}
		})
	}
}

func TestSplitRejects(t *testing.T) {
	_, files, _ := demoStreams(t)
	good := files[0]
	st, err := Split(good, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	hdr := len(st.Header)
	flip := append([]byte(nil), good...)
	flip[hdr+100] ^= 0xff
	twice := append(append([]byte(nil), good...), good...)
	tests := []struct {
		name string
		data []byte
		opts Options
		want error
	}{
		{"empty", nil, DefaultOptions(), ErrNotVorbis},
		{"garbage", []byte("RIFF....WAVEfmt this is not ogg at all, not at all"), DefaultOptions(), ErrNotVorbis},
		{"truncated mid-page", good[:len(good)-10], DefaultOptions(), ErrTruncated},
		{"truncated at page", good[:hdr+len(st.Chunks[0].Data)], DefaultOptions(), ErrTruncated},
		{"only headers", good[:hdr], DefaultOptions(), ErrTruncated},
		{"inside headers", good[:hdr/2], DefaultOptions(), ErrTruncated},
		{"bad crc", flip, DefaultOptions(), ErrDamaged},
		{"chained", twice, DefaultOptions(), ErrUnsupported},
		{"too large", good, DefaultOptions().WithMaxStreamBytes(1000), ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Split(tc.data, tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSplitOptions(t *testing.T) {
	_, files, _ := demoStreams(t)
	tests := []struct {
		name string
		opts Options
		min  int
		max  int
	}{
		{"default", DefaultOptions(), 3, 5},
		{"one second", DefaultOptions().WithRamp(time.Second), 9, 16},
		{"byte cap", DefaultOptions().WithMaxChunkBytes(16 << 10), 12, 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := Split(files[3], tc.opts) // 01.very_high.ogg
			if err != nil {
				t.Fatal(err)
			}
			if n := len(st.Chunks); n < tc.min || n > tc.max {
				t.Fatalf("%d chunks, want %d..%d", n, tc.min, tc.max)
			}
			for i, c := range st.Chunks {
				if tc.opts.maxChunkBytes > 0 && len(c.Data)-c.PrimerSize > tc.opts.maxChunkBytes+ogg64k {
					t.Fatalf("chunk %d has %d bytes", i, len(c.Data))
				}
			}
		})
	}
}

const ogg64k = 65307

func FuzzSplit(f *testing.F) {
	_, files, _ := demoStreams(f)
	f.Add(files[1])
	f.Add(files[1][:4000])
	f.Add([]byte("OggS"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := Split(data, DefaultOptions())
		if err != nil {
			return
		}
		var n int64
		for _, c := range st.Chunks {
			n += c.Samples
		}
		if n != st.TotalSamples {
			t.Fatalf("chunks hold %d samples, total %d", n, st.TotalSamples)
		}
	})
}

// BenchmarkSplit segments the demo's largest fixture (02.very_high.ogg,
// 15.5 s, 285 KB).
func BenchmarkSplit(b *testing.B) {
	data, err := demoalbum.FS.ReadFile("data/02.very_high.ogg")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Split(data, DefaultOptions()); err != nil {
			b.Fatal(err)
		}
	}
}
