package dirsync

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestSync: a directory syncs; a missing one is an error (except on
// Windows, where Sync does nothing).
func TestSync(t *testing.T) {
	if err := Sync(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "windows" {
		return
	}
	if err := Sync(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Fatal("sync of a missing directory: no error")
	}
}

// TestWriteFile: the file holds the new content with the given mode, an
// existing one is replaced whole, no temporary file is left, and a
// missing directory is an error that creates nothing.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	for _, content := range []string{"first", "second, longer"} {
		if err := WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read back %q, %v; want %q", got, err, content)
		}
	}
	if fi, err := os.Stat(path); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Fatalf("%d entries in the directory, want only the file", len(es))
	}
	if err := WriteFile(filepath.Join(dir, "absent", "f"), []byte("x"), 0o600); err == nil {
		t.Fatal("a file in a missing directory: no error")
	}
}
