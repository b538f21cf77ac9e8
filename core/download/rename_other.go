//go:build !unix

package download

import "os"

// renameFile renames a file (os.Rename).
func renameFile(from, to string) error { return os.Rename(from, to) }
