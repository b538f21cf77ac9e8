//go:build !unix

// Package diskfree tells how much of a file system an unprivileged
// writer may still use, for the stores that refuse to fill a disk.
package diskfree

// Free cannot tell the free space on this platform: ok is always false,
// and callers skip their checks.
func Free(string) (free uint64, ok bool) { return 0, false }
