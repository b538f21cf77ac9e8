package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/internal/testbed"
)

// TestMinimalAgainstRelay ingests the demo album into a real relay on
// 127.0.0.1, runs the example against it, and checks it played the whole
// track without writing decrypted audio anywhere: not in its working
// directory, its temporary directory or the engine's data directory.
func TestMinimalAgainstRelay(t *testing.T) {
	ctx := context.Background()
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	track := r.Tracks[0]

	work, tmp := t.TempDir(), t.TempDir()
	data := filepath.Join(t.TempDir(), "engine")
	t.Chdir(work)
	t.Setenv("TMPDIR", tmp)
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"-relay", r.URL, "-user", "ada", "-pass", testbed.Password, "-dir", data,
		"-signup", "-track", string(track), "-tier", string(model.TierNormal)}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	meta, err := demoalbum.Album()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("played %s/%s: %d frames", track, model.TierNormal, meta.Tracks[0].Samples)
	if !strings.Contains(stdout.String(), want) || !strings.Contains(stdout.String(), "LUFS") {
		t.Fatalf("summary %q, want %q and a loudness", stdout.String(), want)
	}

	// The clear Ogg stream of the track is the fixture: no file may hold
	// an Ogg page (capture pattern and version 0) or any 64-byte piece of
	// the clear stream.
	plain, err := demoalbum.FS.ReadFile("data/" + meta.Tracks[0].Tiers[model.TierNormal])
	if err != nil {
		t.Fatal(err)
	}
	var pieces [][]byte
	for off := 0; off+64 <= len(plain); off += len(plain) / 16 {
		pieces = append(pieces, plain[off:off+64])
	}
	files := 0
	for _, dir := range []string{work, tmp, data} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			files++
			if bytes.Contains(b, []byte("OggS\x00")) {
				t.Errorf("%s holds an Ogg page: decrypted audio was written", p)
			}
			for _, piece := range pieces {
				if bytes.Contains(b, piece) {
					t.Errorf("%s holds a piece of the clear stream", p)
					break
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if files == 0 {
		t.Fatal("no file in the data directory: the scan looked in the wrong place")
	}
}
