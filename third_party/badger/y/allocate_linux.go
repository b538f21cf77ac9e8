//go:build linux

/*
 * segue fork: blocks allocated before writes through a memory map (FORK.md).
 */

package y

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Allocate makes the file system allocate the blocks of f's bytes
// [off, off+n) without changing f's size (fallocate(2) with
// FALLOC_FL_KEEP_SIZE), so that a later write to them through a memory
// map cannot find the disk full: such a write gets no error, the kernel
// kills the process with SIGBUS. A full disk is reported here instead, as
// an error matching syscall.ENOSPC. A file system without fallocate is
// left as it is (nil).
func Allocate(f *os.File, off, n int64) error {
	if n <= 0 {
		return nil
	}
	for {
		err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, off, n)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
			return nil
		}
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: err}
	}
}
