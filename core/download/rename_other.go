//go:build !unix

package download

import (
	"fmt"
	"os"
)

// syncDir fsyncs a directory where the platform supports it, so that the
// names created, renamed or removed in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

// renameFile renames a file (os.Rename).
func renameFile(from, to string) error { return os.Rename(from, to) }
