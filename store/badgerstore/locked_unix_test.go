//go:build unix

package badgerstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/segue-fm/segue/store/badgerstore"
)

// TestOpenLockedSays: a second Open of a store this process has open
// was refused as "in use by another process", which sent users looking
// for a process that does not exist. The message now says which, for
// the same path, another path to the directory (a symbolic link) and
// another process's lock (a flock taken here on its own descriptor, as
// another process's would be); after Close the store opens again.
func TestOpenLockedSays(t *testing.T) {
	for _, tc := range []struct {
		name  string
		other func(t *testing.T, dir string) (path string, done func())
		says  string
	}{
		{"same path", func(t *testing.T, dir string) (string, func()) {
			s := open(t, dir, quiet())
			return dir, func() { s.Close() }
		}, "open in this process"},
		{"symbolic link", func(t *testing.T, dir string) (string, func()) {
			s := open(t, dir, quiet())
			link := filepath.Join(t.TempDir(), "link")
			if err := os.Symlink(dir, link); err != nil {
				t.Fatal(err)
			}
			return link, func() { s.Close() }
		}, "open in this process"},
		{"another process", func(t *testing.T, dir string) (string, func()) {
			f, err := os.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
				t.Fatal(err)
			}
			return dir, func() { f.Close() }
		}, "open in another process"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, quiet())
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			path, done := tc.other(t, dir)
			_, err := badgerstore.Open(t.Context(), path, quiet())
			if !errors.Is(err, badgerstore.ErrLocked) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("second open: %v, want ErrLocked saying %q", err, tc.says)
			}
			done()
			s, err = badgerstore.Open(t.Context(), path, quiet())
			if err != nil {
				t.Fatalf("open after the first closed: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
