//go:build !linux

package table

import "os"

// writeBack is a no-op where sync_file_range(2) does not exist: the
// caller's msync writes the whole table at once, as upstream does.
func writeBack(*os.File, int) error { return nil }
