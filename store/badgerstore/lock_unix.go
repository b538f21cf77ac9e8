//go:build unix

package badgerstore

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// probeLock takes a shared, non-blocking flock on dir, the lock Badger
// takes exclusively while a read-write opener has the store, so that
// checkBeforeOpen never reads files another process is writing. release
// drops it; Open calls it before Badger takes its own lock.
func probeLock(dir string) (release func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("badgerstore: open %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is open in another process", ErrLocked, dir)
		}
		return nil, fmt.Errorf("badgerstore: lock %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}
