//go:build !unix

package catalog

import "os"

// lockInitMarker is a no-op where flock is unavailable: an initialisation
// in progress is then not told from an interrupted one.
func lockInitMarker(*os.File) error { return nil }
