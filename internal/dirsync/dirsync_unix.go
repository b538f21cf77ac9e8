//go:build unix

// Package dirsync makes the names created, renamed or removed in a
// directory durable (fsync of the directory), for the writers that
// rename a finished temporary file into place.
package dirsync

import (
	"fmt"
	"syscall"
)

// Sync fsyncs dir. It uses raw syscalls (open, fsync, close) rather than
// an *os.File, which would add a poller registration and flag calls to
// every directory of every group commit.
func Sync(dir string) error {
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
