package cputime

import (
	"time"

	"golang.org/x/sys/unix"
)

// Process returns the CPU time this process has used so far, every
// thread and the garbage collector included.
func Process() (time.Duration, bool) { return usage(unix.RUSAGE_SELF) }

// Thread returns the CPU time the calling OS thread has used; a caller
// measuring one goroutine locks it to its thread first
// (runtime.LockOSThread).
func Thread() (time.Duration, bool) { return usage(unix.RUSAGE_THREAD) }

func usage(who int) (time.Duration, bool) {
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
