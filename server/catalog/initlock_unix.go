//go:build unix

package catalog

import (
	"errors"
	"os"
	"syscall"
)

// lockInitMarker takes an exclusive, non-blocking flock on the open
// InitMarkerFile f, held until f is closed; ErrInitInProgress when
// another open file holds it.
func lockInitMarker(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return ErrInitInProgress
	}
	return err
}
