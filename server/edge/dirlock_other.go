//go:build !unix

package edge

import "os"

// lockFile is a no-op where flock is unavailable: a second edge on one
// disk directory is then not refused.
func lockFile(*os.File) error { return nil }
