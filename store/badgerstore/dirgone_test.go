package badgerstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segue-fm/segue/store/badgerstore"
)

// TestCloseDirGone: a write to a store whose directory was removed, or
// moved away, while it was open fails with ErrDirGone (it was
// acknowledged, and lost: a relay went on answering 201 to sign-ups and
// acknowledging sync edits), reads go on, and Close returns ErrDirGone at
// once. Before, Badger
// retried flushing its memtable into the missing directory every second
// for ever: segue download on a device whose data directory was removed
// mid-download downloaded everything, then never exited.
func TestCloseDirGone(t *testing.T) {
	cases := []struct {
		name string
		gone func(dir string) error
	}{
		{"removed", os.RemoveAll},
		{"moved", func(dir string) error { return os.Rename(dir, dir+".old") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "db")
			s := open(t, dir, quiet())
			if err := s.Set(t.Context(), []byte("k"), []byte("v")); err != nil {
				t.Fatal(err)
			}
			if err := tc.gone(dir); err != nil {
				t.Fatal(err)
			}
			// A write is refused: its commit would go to files no
			// later open finds, so acknowledging it would lose it.
			if err := s.Set(t.Context(), []byte("k2"), []byte("v")); !errors.Is(err, badgerstore.ErrDirGone) {
				t.Fatalf("set after the directory went: %v, want ErrDirGone", err)
			}
			if v, err := s.Get(t.Context(), []byte("k")); err != nil || string(v) != "v" {
				t.Fatalf("get after the directory went: %q %v, want the value", v, err)
			}
			done := make(chan error, 1)
			go func() { done <- s.Close() }()
			select {
			case err := <-done:
				if !errors.Is(err, badgerstore.ErrDirGone) {
					t.Fatalf("close: %v, want ErrDirGone", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("close still running after 20 s (flushing into the missing directory)")
			}
		})
	}
}
