//go:build !linux

package table

import "os"

// writeBack is a no-op where sync_file_range(2) does not exist: the
// caller's msync writes the whole table at once, as upstream does.
func writeBack(*os.File, int) error { return nil }

// dropPages is a no-op where madvise(2) is not used: the pages of a
// table written stay mapped, as upstream leaves them.
func dropPages([]byte) error { return nil }
