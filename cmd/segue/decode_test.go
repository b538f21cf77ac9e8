package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
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

// TestRunDecodeLeavesOutputOnFailure: a failed decode leaves the output
// path as it was and no temporary file beside it; the input cannot be
// its own output; a damaged input (pages failing their CRC, or a file
// cut short) decodes what is intact with a warning, or fails under
// --strict without writing anything.
func TestRunDecodeLeavesOutputOnFailure(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("..", "..", "player", "vorbis", "testdata", "stereo22k.ogg"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	in := write("good.ogg", good)
	// Two links, cut inside the second one's audio page.
	trunc := write("trunc.ogg", append(bytes.Clone(good), good[:len(good)-100]...))
	noAudio := write("headers.ogg", good[:200]) // cut inside the headers
	// Two links of the same stream, a byte of the first one's only audio
	// page flipped: that page fails its CRC, the second link is intact.
	flipped := append(bytes.Clone(good), good...)
	flipped[len(good)-100] ^= 0xff
	damaged := write("damaged.ogg", flipped)
	out := filepath.Join(dir, "out.wav")
	run := func(args ...string) (string, error) {
		var stderr bytes.Buffer
		err := runDecode(context.Background(), args, &bytes.Buffer{}, &stderr)
		return stderr.String(), err
	}
	if _, err := run(in, out); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	unchanged := func(what string) {
		t.Helper()
		after, err := os.ReadFile(out)
		if err != nil || !bytes.Equal(after, before) {
			t.Errorf("%s: output changed (%d bytes, was %d; %v)", what, len(after), len(before), err)
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 5 {
			t.Errorf("%s: %d files in the directory, want 5 (no temporary file left)", what, len(ents))
		}
	}
	if _, err := run(noAudio, out); err == nil || !strings.Contains(err.Error(), "stream ends before its headers") {
		t.Errorf("input cut inside its headers: %v, want a bad header", err)
	}
	unchanged("input cut inside its headers")
	if _, err := run("--strict", trunc, out); !errors.Is(err, errDamaged) || !strings.Contains(err.Error(), "cut short") {
		t.Errorf("--strict, truncated input: %v, want errDamaged, cut short", err)
	}
	unchanged("--strict, truncated input")
	if _, err := run(in, dir); !errors.Is(err, errIsDir) {
		t.Errorf("a directory as the output: %v, want errIsDir", err)
	}
	unchanged("a directory as the output")
	if _, err := run(in, in); !errors.Is(err, errUsage) {
		t.Errorf("input as its own output: %v, want errUsage", err)
	}
	if b, _ := os.ReadFile(in); !bytes.Equal(b, good) {
		t.Error("input as its own output: input changed")
	}
	if _, err := run("--strict", damaged, out); !errors.Is(err, errDamaged) {
		t.Errorf("--strict, damaged input: %v, want errDamaged", err)
	}
	unchanged("--strict, damaged input")
	msg, err := run(damaged, out)
	if err != nil {
		t.Fatalf("damaged input: %v", err)
	}
	if !strings.Contains(msg, "warning: "+damaged+" is damaged") {
		t.Errorf("damaged input: no warning in %q", msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	a, err := wav.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	if a.Frames() >= 2*11025 || a.Frames() == 0 {
		t.Errorf("damaged input: %d frames, want some but fewer than %d", a.Frames(), 2*11025)
	}
	msg, err = run(trunc, out)
	if err != nil {
		t.Fatalf("truncated input: %v", err)
	}
	if !strings.Contains(msg, "warning: "+trunc+" is damaged") || !strings.Contains(msg, "cut short") {
		t.Errorf("truncated input: no warning in %q", msg)
	}
	if b, err = os.ReadFile(out); err != nil {
		t.Fatal(err)
	}
	if a, err = wav.Read(b); err != nil {
		t.Fatal(err)
	}
	if a.Frames() != 11025 {
		t.Errorf("truncated input: %d frames, want the first link's %d", a.Frames(), 11025)
	}
}

// TestFlagsAfterArguments: decode and catalog import/generate parsed
// flags only before their arguments, so `segue decode IN OUT --strict`
// failed with "want IN.ogg OUT.wav" and `segue catalog generate FILE
// --tracks 10` with "give one output FILE.jsonl", though two and one were
// given; the device commands accept flags anywhere. These now do too.
func TestFlagsAfterArguments(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join("..", "..", "player", "vorbis", "testdata", "stereo22k.ogg")
	small := filepath.Join(dir, "small.jsonl")
	for _, tc := range []struct {
		name    string
		args    []string
		written string
	}{
		{"decode --strict", []string{"decode", in, filepath.Join(dir, "a.wav"), "--strict"}, filepath.Join(dir, "a.wav")},
		{"decode --format between", []string{"decode", in, "--format", "f32", filepath.Join(dir, "b.wav")}, filepath.Join(dir, "b.wav")},
		{"catalog generate", []string{"catalog", "generate", small, "--tracks", "10"}, small},
		{"catalog import", []string{"catalog", "import", small, "--data", filepath.Join(dir, "relay")}, filepath.Join(dir, "relay")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), tc.args, &out, &errb); code != 0 {
				t.Fatalf("%q: exit %d\n%s", tc.args, code, errb.String())
			}
			if _, err := os.Stat(tc.written); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRunDecodeCrafted: a stream whose samples decode to NaN or beyond
// ±16 (a crafted setup header) is decoded with a warning counting them,
// and refused under --strict without writing anything. It was written
// without a word.
func TestRunDecodeCrafted(t *testing.T) {
	in := filepath.Join("..", "..", "player", "vorbis", "testdata", "crafted.ogg")
	const says = "12672 samples decode to NaN or beyond ±16"
	out := filepath.Join(t.TempDir(), "out.wav")
	var stderr bytes.Buffer
	if err := runDecode(context.Background(), []string{in, out}, &bytes.Buffer{}, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "warning: ") || !strings.Contains(stderr.String(), says) {
		t.Errorf("stderr %q, want a warning saying %q", stderr.String(), says)
	}
	strictOut := filepath.Join(t.TempDir(), "strict.wav")
	err := runDecode(context.Background(), []string{"--strict", in, strictOut}, &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.Is(err, errDamaged) || !strings.Contains(err.Error(), says) {
		t.Errorf("--strict: %v, want errDamaged saying %q", err, says)
	}
	if _, err := os.Stat(strictOut); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--strict wrote %s: %v", strictOut, err)
	}
}
