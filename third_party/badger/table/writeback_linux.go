//go:build linux

package table

import (
	"os"

	"golang.org/x/sys/unix"
)

// writeBack writes the first size bytes of f's dirty pages (a new table,
// copied into its mmap) back to the device writeBackChunk bytes at a time,
// waiting for each chunk before starting the next (segue fork, FORK.md).
// It makes nothing durable (no device cache flush, no metadata): the
// caller's msync still does; it only keeps the table from reaching the
// device queue as one burst, so that a concurrent sync of the memtable's
// WAL — every durable commit — waits behind at most one chunk.
func writeBack(f *os.File, size int) error {
	const flags = unix.SYNC_FILE_RANGE_WAIT_BEFORE | unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER
	fd := int(f.Fd())
	for off := 0; off < size; off += writeBackChunk {
		n := min(writeBackChunk, size-off)
		if err := unix.SyncFileRange(fd, int64(off), int64(n), flags); err != nil {
			return err
		}
	}
	return nil
}

// dropPages removes data's pages — a table just written through its
// mapping and synced — from the process's page tables (madvise
// MADV_DONTNEED on the shared file mapping; segue fork, FORK.md). The
// data stays in the file and in the kernel's page cache: a later read of
// the mapping maps the page again (a minor fault) without reading the
// device. Without it every table the process wrote stays resident in
// its mapping, counted in its RSS, for as long as the table lives.
func dropPages(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	return unix.Madvise(data, unix.MADV_DONTNEED)
}
