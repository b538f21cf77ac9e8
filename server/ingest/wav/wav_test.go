package wav

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/internal/testtool"
)

// build returns a WAVE file with the given format tag and raw sample data.
func build(tag uint16, ch, rate, bits int, data []byte, extra ...[]byte) []byte {
	var fmtc []byte
	fmtc = binary.LittleEndian.AppendUint16(fmtc, tag)
	fmtc = binary.LittleEndian.AppendUint16(fmtc, uint16(ch))
	fmtc = binary.LittleEndian.AppendUint32(fmtc, uint32(rate))
	fmtc = binary.LittleEndian.AppendUint32(fmtc, uint32(rate*ch*bits/8))
	fmtc = binary.LittleEndian.AppendUint16(fmtc, uint16(ch*bits/8))
	fmtc = binary.LittleEndian.AppendUint16(fmtc, uint16(bits))
	for _, e := range extra {
		fmtc = append(fmtc, e...)
	}
	var b []byte
	b = append(b, "RIFF\x00\x00\x00\x00WAVE"...)
	b = append(b, "LIST\x03\x00\x00\x00abc\x00"...) // odd-sized chunk with pad byte
	b = append(b, "fmt "...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(fmtc)))
	b = append(b, fmtc...)
	b = append(b, "data"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

func extensible(sub uint16, bits int) []byte {
	e := []byte{22, 0}
	e = binary.LittleEndian.AppendUint16(e, uint16(bits))
	e = append(e, 3, 0, 0, 0)
	e = binary.LittleEndian.AppendUint16(e, sub)
	return append(e, guidTail...)
}

func readAll(t *testing.T, b []byte) (Format, []float32, error) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return Format{}, nil, err
	}
	var out []float32
	buf := make([]float32, 6)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return r.Format(), out, nil
		}
		if err != nil {
			return r.Format(), out, err
		}
	}
}

func TestDecode(t *testing.T) {
	f32 := func(vs ...float32) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		return b
	}
	tests := []struct {
		name string
		file []byte
		ch   int
		want []float32
	}{
		{"pcm16 stereo", build(1, 2, 44100, 16, []byte{0x00, 0x80, 0xff, 0x7f, 0, 0x40, 0, 0}), 2, []float32{-1, 32767.0 / 32768, 0.5, 0}},
		{"pcm24 mono", build(1, 1, 48000, 24, []byte{0, 0, 0x80, 0, 0, 0x40, 0xff, 0xff, 0xff}), 1, []float32{-1, 0.5, -1.0 / (1 << 23)}},
		{"pcm32 mono", build(1, 1, 96000, 32, []byte{0, 0, 0, 0xc0}), 1, []float32{-0.5}},
		{"float stereo", build(3, 2, 44100, 32, f32(0.25, -0.75)), 2, []float32{0.25, -0.75}},
		{"extensible pcm16", build(0xfffe, 1, 44100, 16, []byte{0, 0x40}, extensible(1, 16)), 1, []float32{0.5}},
		{"extensible float 6ch", build(0xfffe, 6, 48000, 32, f32(1, 2, 3, 4, 5, 6)[:24], extensible(3, 32)), 6, []float32{4.6006e-41, 0, 0, 0, 0, 0}},
	}
	// The 6-channel case holds raw bits; compute its expectation.
	tests[5].file = build(0xfffe, 6, 48000, 32, f32(0.1, 0.2, 0.3, 0.4, 0.5, 0.6), extensible(3, 32))
	tests[5].want = []float32{0.1, 0.2, 0.3, 0.4, 0.5, 0.6}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, got, err := readAll(t, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if f.Channels != tc.ch || f.Frames != int64(len(tc.want)/tc.ch) {
				t.Fatalf("format %+v", f)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("value %d: %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// TestStreamed: a WAV file written to a pipe (ffmpeg -f wav -), whose RIFF
// and data sizes are 0xFFFFFFFF, reads as the same file with its sizes
// filled in; a streamed file ending inside a frame is still refused.
// Before, every streamed file was refused as truncated.
func TestStreamed(t *testing.T) {
	pcm := make([]byte, 400)
	for i := range pcm {
		pcm[i] = byte(i * 7)
	}
	good := build(1, 2, 44100, 16, pcm)
	_, want, err := readAll(t, good)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		file []byte
		err  error
	}{
		{"riff and data sizes unknown", withSizes(good, 0xFFFFFFFF, 0xFFFFFFFF), nil},
		{"riff size unknown", withSizes(good, 0xFFFFFFFF, -1), nil},
		{"riff and data sizes unknown, half a frame more", append(withSizes(good, 0xFFFFFFFF, 0xFFFFFFFF), 1, 2), ErrMalformed},
		{"data size unknown, riff size known", withSizes(good, uint32(len(good)-8), 0xFFFFFFFF), ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) { checkRead(t, tc.file, want, tc.err, "") })
	}
}

// checkRead reads file and checks that it fails with wantErr naming msg,
// or, when wantErr is nil, that it holds 100 frames whose samples are
// want.
func checkRead(t *testing.T, file []byte, want []float32, wantErr error, msg string) {
	t.Helper()
	f, got, err := readAll(t, file)
	if !errors.Is(err, wantErr) {
		t.Fatalf("err %v, want %v", err, wantErr)
	}
	if err != nil {
		if !strings.Contains(err.Error(), msg) {
			t.Fatalf("err %q does not say %q", err, msg)
		}
		return
	}
	if f.Frames != 100 || len(got) != len(want) {
		t.Fatalf("%d frames, %d samples; want 100 frames, %d samples", f.Frames, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("sample %d: %v, want %v", i, got[i], want[i])
		}
	}
}

// withSizes returns file b with its RIFF size set to riff and, when data
// is not negative, its data chunk size set to data.
func withSizes(b []byte, riff uint32, data int64) []byte {
	b = bytes.Clone(b)
	binary.LittleEndian.PutUint32(b[4:], riff)
	if data >= 0 {
		i := bytes.Index(b, []byte("data"))
		binary.LittleEndian.PutUint32(b[i+4:], uint32(data))
	}
	return b
}

// TestUnfinishedHeader: a recorder that writes the header before the audio
// and never patches it leaves a RIFF size of 0 or too small (often 36, a
// bare header), and may leave the data size at 0. As ffmpeg and sox do,
// the chunks are read to the end of the file, and a data size of 0 under
// such a RIFF size means "to the end of the file". Before, all of these
// were refused with "no data chunk" though the data chunk was there.
func TestUnfinishedHeader(t *testing.T) {
	pcm := make([]byte, 400)
	for i := range pcm {
		pcm[i] = byte(i * 5)
	}
	good := build(1, 2, 44100, 16, pcm)
	_, want, err := readAll(t, good)
	if err != nil {
		t.Fatal(err)
	}
	dataAt := bytes.Index(good, []byte("data"))
	for _, tc := range []struct {
		name string
		file []byte
		err  error
		msg  string
	}{
		{"riff size 0", withSizes(good, 0, -1), nil, ""},
		{"riff size 4", withSizes(good, 4, -1), nil, ""},
		{"riff size ends at the data header", withSizes(good, uint32(dataAt), -1), nil, ""},
		{"riff and data sizes 0", withSizes(good, 0, 0), nil, ""},
		{"riff size a bare header, data size 0", withSizes(good, uint32(dataAt), 0), nil, ""},
		{"riff size 0, data size unknown", withSizes(good, 0, 0xFFFFFFFF), nil, ""},
		{"riff size 0, half a frame more", append(withSizes(good, 0, 0), 1), ErrMalformed, "not whole"},
		{"riff size 0, data size too large", withSizes(good, 0, 402), ErrTruncated, "data chunk says 402 bytes"},
		{"riff size right, data size 0", withSizes(good, uint32(len(good)-8), 0), ErrMalformed, "data chunk is empty"},
		{"riff size 0, no data chunk", withSizes(good[:dataAt], 0, -1), ErrMalformed, "no data chunk in 2 chunks (the last \"fmt \")"},
		{"riff size 0, stray bytes at the end", withSizes(good[:dataAt+3], 0, -1), ErrMalformed, "3 bytes after the last chunk"},
		{"riff size 0, cut after the data header", withSizes(good[:dataAt+8], 0, -1), ErrTruncated, "data chunk says 400 bytes, 0 remain"},
		{"riff size larger than the file", withSizes(good, uint32(len(good)), -1), ErrTruncated, "RIFF says"},
	} {
		t.Run(tc.name, func(t *testing.T) { checkRead(t, tc.file, want, tc.err, tc.msg) })
	}
}

func TestRejects(t *testing.T) {
	good := build(1, 2, 44100, 16, make([]byte, 400))
	noRIFF := append([]byte("RIFX"), good[4:]...)
	badAlign := build(1, 2, 44100, 16, make([]byte, 402))
	tests := []struct {
		name string
		file []byte
		size int64
		want error
	}{
		{"empty", nil, 0, ErrMalformed},
		{"not riff", noRIFF, int64(len(good)), ErrMalformed},
		{"rf64", append([]byte("RF64"), good[4:]...), int64(len(good)), ErrUnsupported},
		{"truncated data", good[:len(good)-10], int64(len(good) - 10), ErrTruncated},
		{"truncated header", good[:30], 30, ErrTruncated},
		{"size lies", good[:len(good)-10], int64(len(good)), ErrTruncated},
		{"8-bit", build(1, 1, 44100, 8, make([]byte, 4)), 0, ErrUnsupported},
		{"adpcm", build(2, 1, 44100, 16, make([]byte, 4)), 0, ErrUnsupported},
		{"9 channels", build(1, 9, 44100, 16, make([]byte, 18)), 0, ErrUnsupported},
		{"rate 4000", build(1, 1, 4000, 16, make([]byte, 4)), 0, ErrUnsupported},
		{"rate 384000", build(1, 1, 384000, 16, make([]byte, 4)), 0, ErrUnsupported},
		{"partial frame", badAlign, 0, ErrMalformed},
		{"no audio", build(1, 1, 44100, 16, nil), 0, ErrMalformed},
		{"too large", good, MaxSize + 1, ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			size := tc.size
			if size == 0 {
				size = int64(len(tc.file))
			}
			r, err := NewReader(bytes.NewReader(tc.file), size)
			if err == nil {
				buf := make([]float32, 1024)
				for err == nil {
					_, err = r.Read(buf)
				}
				if err == io.EOF {
					err = nil
				}
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestSoxOracle reads files written by sox in every supported encoding and
// checks them against sox's own raw float output.
func TestSoxOracle(t *testing.T) {
	sox := testtool.Need(t, "sox")
	dir := t.TempDir()
	for _, enc := range [][]string{{"-b", "16", "-e", "signed-integer"}, {"-b", "24", "-e", "signed-integer"}, {"-b", "32", "-e", "signed-integer"}, {"-b", "32", "-e", "floating-point"}} {
		t.Run(enc[1]+enc[3], func(t *testing.T) {
			w := filepath.Join(dir, "t.wav")
			raw := filepath.Join(dir, "t.f32")
			args := append([]string{"-n", "-r", "48000", "-c", "3"}, enc...)
			args = append(args, w, "synth", "0.05", "sine", "440", "gain", "-3")
			if b, err := exec.Command(sox, args...).CombinedOutput(); err != nil {
				t.Fatalf("sox: %v %s", err, b)
			}
			if b, err := exec.Command(sox, w, "-t", "f32", raw).CombinedOutput(); err != nil {
				t.Fatalf("sox: %v %s", err, b)
			}
			file, _ := os.ReadFile(w)
			want, _ := os.ReadFile(raw)
			f, got, err := readAll(t, file)
			if err != nil {
				t.Fatal(err)
			}
			if f.Channels != 3 || f.Rate != 48000 || len(got)*4 != len(want) {
				t.Fatalf("format %+v, %d values, sox has %d", f, len(got), len(want)/4)
			}
			for i := range got {
				w := math.Float32frombits(binary.LittleEndian.Uint32(want[4*i:]))
				if math.Abs(float64(got[i]-w)) > 1e-6 {
					t.Fatalf("value %d: %v, sox %v", i, got[i], w)
				}
			}
		})
	}
}

func FuzzReader(f *testing.F) {
	f.Add(build(1, 2, 44100, 16, make([]byte, 40)))
	f.Add(build(0xfffe, 1, 44100, 24, make([]byte, 9), extensible(1, 24)))
	f.Add(build(3, 1, 8000, 32, make([]byte, 8)))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		buf := make([]float32, 64*r.Format().Channels)
		var n int64
		for {
			k, err := r.Read(buf)
			n += int64(k)
			if err != nil {
				break
			}
		}
		if n > r.Format().Frames*int64(r.Format().Channels) {
			t.Fatalf("read %d values, header says %d frames", n, r.Format().Frames)
		}
	})
}

// TestFloatOutOfRange: a float sample beyond ±8 (+18 dBFS) is read as ±8,
// with its sign, an infinite one likewise, and a NaN as 0. A hot float
// master (samples of 9 and over) was read with silence in place of its
// peaks: dropouts in every tier and in the loudness measured.
func TestFloatOutOfRange(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, tc := range []struct {
		in, want float32
	}{
		{0.5, 0.5}, {8, 8}, {-8, -8}, {9, 8}, {-9, -8}, {1e30, 8}, {-1e30, -8}, {inf, 8}, {-inf, -8}, {float32(math.NaN()), 0},
	} {
		data := binary.LittleEndian.AppendUint32(nil, math.Float32bits(tc.in))
		_, got, err := readAll(t, build(3, 1, 44100, 32, data))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("%v read as %v, want %v", tc.in, got, tc.want)
		}
	}
}
