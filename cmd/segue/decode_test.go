package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/segue-fm/segue/player/wav"
)

func TestRunDecode(t *testing.T) {
	in := filepath.Join("..", "..", "player", "vorbis", "testdata", "stereo22k.ogg")
	for _, tc := range []struct {
		args   []string
		format wav.Format
	}{{nil, wav.S16}, {[]string{"--format", "f32"}, wav.F32}, {[]string{"--format", "s24"}, wav.S24}} {
		out := filepath.Join(t.TempDir(), "out.wav")
		var stderr bytes.Buffer
		if err := runDecode(context.Background(), append(tc.args, in, out), &bytes.Buffer{}, &stderr); err != nil {
			t.Fatalf("%v: %v\n%s", tc.args, err, stderr.String())
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		a, err := wav.Read(b)
		if err != nil {
			t.Fatal(err)
		}
		if a.Format != tc.format || a.Rate != 22050 || a.Channels != 2 || a.Frames() != 11025 {
			t.Errorf("%v: %v %d Hz × %d, %d frames", tc.args, a.Format, a.Rate, a.Channels, a.Frames())
		}
	}
	for _, args := range [][]string{nil, {"--format", "s32", in, filepath.Join(t.TempDir(), "x.wav")}, {in}} {
		if err := runDecode(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want errUsage", args, err)
		}
	}
}
