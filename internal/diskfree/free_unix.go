//go:build unix

// Package diskfree tells how much of a file system an unprivileged
// writer may still use, for the stores that refuse to fill a disk.
package diskfree

import (
	"errors"
	"io/fs"
	"path/filepath"
	"syscall"
)

// Free returns the bytes an unprivileged writer may still use on the
// file system holding dir, or holding its nearest existing ancestor when
// dir does not exist yet; ok is false when it cannot be told.
func Free(dir string) (free uint64, ok bool) {
	for {
		var st syscall.Statfs_t
		err := syscall.Statfs(dir, &st)
		if err == nil {
			return uint64(st.Bavail) * uint64(st.Bsize), true
		}
		parent := filepath.Dir(dir)
		if !errors.Is(err, fs.ErrNotExist) || parent == dir {
			return 0, false
		}
		dir = parent
	}
}
