//go:build unix

package main

import (
	"os"
	"syscall"
	"time"
)

// lockPending takes an exclusive flock on a temporary output file for as
// long as it is open, so that another command can tell a live writer's
// file from one a killed command left (the kernel drops the lock with
// the process); `segue demo` takes it on its working directory's marker
// file likewise. A lock held elsewhere fails with EWOULDBLOCK.
func lockPending(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

// pendingGrace spares a temporary output file younger than this: its
// writer may have created it and not locked it yet.
const pendingGrace = time.Minute

// abandoned reports whether no process holds the lock of the temporary
// output file at path, at least pendingGrace old (its writer was killed).
func abandoned(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || time.Since(st.ModTime()) < pendingGrace {
		return false
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}
