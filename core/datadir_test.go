package core_test

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/internal/dirhash"
	"github.com/segue-fm/segue/store/badgerstore"
)

// TestOpenRefusesStoreWithoutManifest opens a device data directory whose
// Badger MANIFEST was deleted: Open must fail naming it, not start an empty
// store, and leave the directory as it was.
func TestOpenRefusesStoreWithoutManifest(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	opts := core.DefaultOptions().WithOrigins("http://127.0.0.1:1").WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	e, err := core.Open(ctx, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(dir, "db", "MANIFEST")
	if err := os.Remove(manifest); err != nil {
		t.Fatal(err)
	}
	before, err := dirhash.Sum(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err = core.Open(ctx, dir, opts)
	if err == nil {
		e.Close()
		t.Fatal("device store without MANIFEST opened")
	}
	if !errors.Is(err, badgerstore.ErrDamaged) || !strings.Contains(err.Error(), manifest) {
		t.Fatalf("err = %v, want badgerstore.ErrDamaged naming %s", err, manifest)
	}
	if after, err := dirhash.Sum(dir); err != nil || after != before {
		t.Fatalf("the refused open changed the directory (%v)", err)
	}
}
