package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/metadata"
)

// TestCatalogImportCommand generates a catalog file, imports it into a
// relay data directory, and checks a file with a bad line is refused
// with its line number and nothing else imported.
func TestCatalogImportCommand(t *testing.T) {
	tmp := t.TempDir()
	data, file := filepath.Join(tmp, "relay"), filepath.Join(tmp, "cat.jsonl")
	dd, err := catalog.OpenDataDirWith(context.Background(), data, catalog.DefaultDataDirOptions().WithInit(catalog.InitNew))
	if err != nil {
		t.Fatal(err)
	}
	dd.Close()
	if r := segue(t, "catalog", "generate", "--tracks", "2000", "--seed", "3", file); r.code != 0 || !strings.Contains(r.stdout, "2000 tracks") {
		t.Fatalf("generate: %+v", r)
	}
	if r := segue(t, "catalog", "import", "--data", data, file); r.code != 0 || !strings.Contains(r.stdout, "imported 200 artists") {
		t.Fatalf("import: %+v", r)
	}
	bad := filepath.Join(tmp, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"type":"artist","id":"new","name":"New"}`+"\n"+`{"type":"album","id":"x","title":"X","artist_ids":["missing"]}`+"\n"), 0o600)
	r := segue(t, "catalog", "import", "--data", data, bad)
	if r.code != 1 || !strings.Contains(r.stderr, "bad.jsonl:2: ") || !strings.Contains(r.stderr, `"missing"`) {
		t.Fatalf("bad file: %+v", r)
	}
	dd, err = catalog.OpenDataDir(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	im := metadata.New(dd.Store, nil, metadata.DefaultOptions())
	if _, err := im.Artist(context.Background(), "new"); err == nil {
		t.Error("the refused file's first line was imported")
	}
	if a, err := im.Artist(context.Background(), "ar0000000"); err != nil || a.Name != "AC/DC" {
		t.Errorf("generated artist: %+v %v", a, err)
	}
	for _, args := range [][]string{{"catalog"}, {"catalog", "import", file}, {"catalog", "import", "--data", data}, {"catalog", "nope"}} {
		if r := segue(t, args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2", args, r.code)
		}
	}
}

// TestInterruptedSaysSo: Ctrl-C during `segue catalog import` (or `segue
// demo`, `segue download`) ended with the cause deep in a chain ("segue
// catalog: metadata: read isrc: context canceled"); a command cut short by
// the signal now says "interrupted" first, and the import run again
// succeeds.
func TestInterruptedSaysSo(t *testing.T) {
	tmp := t.TempDir()
	data, file := filepath.Join(tmp, "relay"), filepath.Join(tmp, "cat.jsonl")
	if r := segue(t, "catalog", "generate", "--tracks", "2000", file); r.code != 0 {
		t.Fatalf("generate: %+v", r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb strings.Builder
	if code := run(ctx, []string{"catalog", "import", "--data", data, file}, &out, &errb); code != 1 || !strings.HasPrefix(errb.String(), "segue catalog: interrupted: ") {
		t.Fatalf("interrupted import: exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	if r := segue(t, "catalog", "import", "--data", data, file); r.code != 0 || !strings.Contains(r.stdout, "imported 200 artists") {
		t.Fatalf("import again: %+v", r)
	}
}
