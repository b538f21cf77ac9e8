package dirsync

import (
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
