package wav

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/segue-fm/segue/internal/testtool"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		format   Format
		channels int
		tol      float32
	}{
		{"s16-mono", S16, 1, 1.0 / 32768},
		{"s16-stereo", S16, 2, 1.0 / 32768},
		{"f32-stereo", F32, 2, 0},
		{"s16-5.1", S16, 6, 1.0 / 32768},
		{"f32-5.1", F32, 6, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.wav")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			w, err := NewWriter(f, 48000, tc.channels, tc.format)
			if err != nil {
				t.Fatal(err)
			}
			var want []float32
			for i := range 1000 * tc.channels {
				v := float32(i%200-100) / 100 // includes -1 and values near +1
				want = append(want, v)
			}
			if err := w.WriteFloat32(want[:300*tc.channels]); err != nil {
				t.Fatal(err)
			}
			if err := w.WriteFloat32(want[300*tc.channels:]); err != nil {
				t.Fatal(err)
			}
			if got := w.Frames(); got != 1000 {
				t.Errorf("Frames() = %d, want 1000", got)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			f.Close()
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			a, err := Read(b)
			if err != nil {
				t.Fatal(err)
			}
			if a.Rate != 48000 || a.Channels != tc.channels || a.Format != tc.format || len(a.Samples) != len(want) {
				t.Fatalf("read %d Hz %d ch %v %d samples", a.Rate, a.Channels, a.Format, len(a.Samples))
			}
			if tc.channels > 2 && a.ChannelMask != ChannelMask(tc.channels) {
				t.Errorf("mask %#x, want %#x", a.ChannelMask, ChannelMask(tc.channels))
			}
			for i := range want {
				d := a.Samples[i] - want[i]
				if d < -tc.tol || d > tc.tol {
					t.Fatalf("sample %d: %v, want %v", i, a.Samples[i], want[i])
				}
			}
			if runtime.GOOS != "js" && runtime.GOOS != "wasip1" {
				soxi := testtool.Need(t, "soxi")
				out, err := exec.Command(soxi, "-s", path).Output()
				if err != nil || strings.TrimSpace(string(out)) != "1000" {
					t.Errorf("soxi -s: %q %v, want 1000", out, err)
				}
			}
		})
	}
}

func TestS16Clips(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, 8000, 1, S16)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFloat32([]float32{2, -2, 1, 0.5}); err != nil {
		t.Fatal(err)
	}
	a, err := Read(buf.Bytes()) // not seekable: streamed sizes
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{32767.0 / 32768, -1, 32767.0 / 32768, 0.5}
	for i, v := range want {
		if a.Samples[i] != v {
			t.Errorf("sample %d = %v, want %v", i, a.Samples[i], v)
		}
	}
}

func TestErrors(t *testing.T) {
	if _, err := NewWriter(&bytes.Buffer{}, 44100, 0, S16); !errors.Is(err, ErrFormat) {
		t.Errorf("0 channels: %v", err)
	}
	if _, err := ParseFormat("s24"); !errors.Is(err, ErrFormat) {
		t.Errorf("s24: %v", err)
	}
	w, _ := NewWriter(&bytes.Buffer{}, 44100, 2, F32)
	if err := w.WriteFloat32([]float32{1}); err == nil {
		t.Error("half frame accepted")
	}
	w.Close()
	if err := w.WriteFloat32([]float32{1, 1}); !errors.Is(err, ErrClosed) {
		t.Errorf("write after close: %v", err)
	}
	for _, b := range [][]byte{nil, []byte("RIFF\x00\x00\x00\x00WAVE"), []byte("RIFX")} {
		if _, err := Read(b); err == nil {
			t.Errorf("Read(%q) succeeded", b)
		}
	}
}

func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, 44100, 6, S16)
	w.WriteFloat32(make([]float32, 60))
	f.Add(buf.Bytes())
	buf.Reset()
	w, _ = NewWriter(&buf, 44100, 2, F32)
	w.WriteFloat32([]float32{0.5, -0.5})
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Read(b)
		if err == nil && len(a.Samples)%a.Channels != 0 {
			t.Fatalf("partial frame: %d samples, %d channels", len(a.Samples), a.Channels)
		}
	})
}

func ExampleNewWriter() {
	var buf bytes.Buffer // an *os.File gets its sizes patched by Close
	w, err := NewWriter(&buf, 44100, 2, S16)
	if err != nil {
		fmt.Println(err)
		return
	}
	w.WriteFloat32([]float32{0, 0, 0.5, -0.5})
	w.Close()
	a, err := Read(buf.Bytes())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(a.Rate, a.Channels, a.Frames(), a.Samples[2])
	// Output: 44100 2 2 0.5
}
