package badgerstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/segue-fm/segue/internal/diskfree"
)

// TestOpenRefusesFullDisk: with less free space than one write-ahead-log
// file (2 × the memtable size) Open fails with ErrNoSpace, for a new
// store (creating nothing) and an existing one (which then opens again
// once there is room), instead of Badger dying of SIGBUS on its first
// write into the mapped file.
func TestOpenRefusesFullDisk(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no statfs")
	}
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "db")
	opts := DefaultOptions().WithLogger(nil)
	need := uint64(2 * opts.memTableSize)
	for _, tc := range []struct {
		name string
		free uint64
		ok   bool
	}{
		{"no space", 0, false},
		{"one byte short", need - 1, false},
		{"exactly enough", need, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			freeSpace = func(string) (uint64, bool) { return tc.free, true }
			t.Cleanup(func() { freeSpace = diskfree.Free })
			os.RemoveAll(dir)
			s, err := Open(ctx, dir, opts)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				return
			}
			if !errors.Is(err, ErrNoSpace) {
				t.Fatalf("open: %v, want ErrNoSpace", err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("refused open created %s: %v", dir, err)
			}
		})
	}
	s, err := Open(ctx, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	freeSpace = func(string) (uint64, bool) { return 1 << 20, true }
	_, err = Open(ctx, dir, opts)
	freeSpace = diskfree.Free
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("reopen on a full disk: %v, want ErrNoSpace", err)
	}
	s, err = Open(ctx, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Get(ctx, []byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("after the refused open: %q, %v", v, err)
	}
}
