//go:build unix

package download

import (
	"fmt"
	"os"
	"syscall"
)

// syncDir fsyncs a directory, so that the names created, renamed or
// removed in it are durable. It uses raw syscalls (open, fsync, close)
// rather than an *os.File, which would add a poller registration and
// flag calls to every directory of every group commit.
func syncDir(dir string) error {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = syscall.Fsync(fd)
	if cerr := syscall.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// renameFile renames a file with one rename(2), without os.Rename's stat
// of the destination (a blob file is never renamed over a directory).
func renameFile(from, to string) error {
	if err := syscall.Rename(from, to); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}
