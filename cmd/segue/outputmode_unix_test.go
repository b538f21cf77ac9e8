//go:build unix

package main

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestOutputFileMode: `segue decode` (and `segue play --out`, through the
// same createPending) and the royalty statements wrote their files with
// mode 0600, os.CreateTemp's, where a user expects os.Create's: 0666 less
// the umask for a new file, the old file's mode for one replaced.
func TestOutputFileMode(t *testing.T) {
	in := filepath.Join("..", "..", "player", "vorbis", "testdata", "stereo22k.ogg")
	for _, tc := range []struct {
		name     string
		umask    int
		existing os.FileMode // 0: no file there before
		want     os.FileMode
	}{
		{"new, umask 022", 0o022, 0, 0o644},
		{"new, umask 002", 0o002, 0, 0o664},
		{"new, umask 077", 0o077, 0, 0o600},
		{"replaced, umask 022", 0o022, 0o640, 0o640},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := syscall.Umask(tc.umask)
			defer syscall.Umask(old)
			dir := t.TempDir()
			write := map[string]func(path string) error{
				"decode": func(path string) error {
					return runDecode(t.Context(), []string{in, path}, io.Discard, io.Discard)
				},
				"statement": func(path string) error { return writeFileAtomic(path, []byte("a,b\n")) },
			}
			for what, w := range write {
				path := filepath.Join(dir, what)
				if tc.existing != 0 {
					if err := os.WriteFile(path, nil, 0o600); err != nil {
						t.Fatal(err)
					}
					if err := os.Chmod(path, tc.existing); err != nil {
						t.Fatal(err)
					}
				}
				if err := w(path); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				st, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if got := st.Mode().Perm(); got != tc.want {
					t.Errorf("%s: mode %#o, want %#o", what, got, tc.want)
				}
			}
		})
	}
}
