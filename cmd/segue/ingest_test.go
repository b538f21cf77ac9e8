package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/internal/demoalbum"
)

func TestIngestCommand(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	sub, err := fs.Sub(demoalbum.FS, "data")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(src, sub); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "relay")
	album := filepath.Join(src, "album.json")
	for i, want := range []string{"ingested", "already present"} {
		var out, errOut bytes.Buffer
		if err := runIngest(ctx, []string{"--data", data, "--quiet", "--album", album}, &out, &errOut); err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, errOut.String())
		}
		if n := strings.Count(out.String(), "\t"+want+"\t"); n != 4 {
			t.Fatalf("run %d: %d tracks %s:\n%s", i, n, want, out.String())
		}
		if !strings.Contains(out.String(), "album\tal") || !strings.Contains(out.String(), `"Segue Demo"`) {
			t.Fatalf("run %d: no album id line:\n%s", i, out.String())
		}
	}
	usage := [][]string{
		{},
		{"--album", album},
		{"--data", data},
		{"--data", data, "--album", album, "x.wav"},
		{"--bogus"},
	}
	for _, args := range usage {
		if err := runIngest(ctx, args, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, errUsage) {
			t.Errorf("args %q: err = %v, want a usage error", args, err)
		}
	}
	var out bytes.Buffer
	err = runIngest(ctx, []string{"--data", data, "--quiet", filepath.Join(src, "missing.wav")}, &out, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "missing.wav") {
		t.Fatalf("missing master: err = %v, want one naming the file", err)
	}
}
