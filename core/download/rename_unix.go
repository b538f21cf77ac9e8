//go:build unix

package download

import (
	"os"
	"syscall"
)

// renameFile renames a file with one rename(2), without os.Rename's stat
// of the destination (a blob file is never renamed over a directory).
func renameFile(from, to string) error {
	if err := syscall.Rename(from, to); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}
