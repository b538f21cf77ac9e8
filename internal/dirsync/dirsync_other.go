//go:build !unix && !windows

// Package dirsync makes the names created, renamed or removed in a
// directory durable (fsync of the directory), for the writers that
// rename a finished temporary file into place.
package dirsync

import (
	"fmt"
	"os"
)

// Sync fsyncs dir where the platform supports it.
func Sync(dir string) error {
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
