//go:build unix

package catalog

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestOpenDataDirInitInProgress: a directory whose marker another open
// file has locked (a process initialising it now) is not an interrupted
// initialisation: every mode refuses it with ErrInitInProgress and
// removes nothing (before, InitNew would have deleted the live
// process's keys and store); once the lock is released it is one.
func TestOpenDataDirInitInProgress(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	mark(t, dir)
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys", SigningKeyName+".key"), []byte("live"), 0o600); err != nil {
		t.Fatal(err)
	}
	live, err := os.Open(filepath.Join(dir, InitMarkerFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := lockInitMarker(live); err != nil {
		t.Fatal(err)
	}
	before := dirSum(t, dir)
	for _, m := range []InitMode{OpenExisting, InitIfEmpty, InitNew} {
		if _, err := OpenDataDirWith(ctx, dir, quietDD().WithInit(m)); !errors.Is(err, ErrInitInProgress) {
			t.Fatalf("mode %d while another process initialises: %v, want ErrInitInProgress", m, err)
		}
		if dirSum(t, dir) != before {
			t.Fatalf("mode %d changed the directory another process initialises", m)
		}
	}
	live.Close()
	d, err := OpenDataDirWith(ctx, dir, quietDD().WithInit(InitNew))
	if err != nil {
		t.Fatalf("InitNew once the lock is released: %v", err)
	}
	d.Close()
}
