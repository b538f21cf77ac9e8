package diskfree

import (
	"path/filepath"
	"runtime"
	"testing"
)

// TestFree: a temp dir's file system has free space, and a directory not
// created yet is answered for its nearest existing ancestor.
func TestFree(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" {
		t.Skip("no statfs")
	}
	if free, ok := Free(t.TempDir()); !ok || free == 0 {
		t.Fatalf("Free of a temp dir: %d, %v", free, ok)
	}
	if _, ok := Free(filepath.Join(t.TempDir(), "absent", "db")); !ok {
		t.Fatal("Free of an absent directory under a temp dir: not ok")
	}
}
